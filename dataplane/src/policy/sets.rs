//! Small immutable sets that a compiled profile holds: apps (sorted ids), categories (a bit
//! mask) and domains (sorted names, matched on label boundaries). Lookups do not allocate.

use std::cmp::Ordering;

use crate::classify::{AppId, Category};

/// Longest domain name we accept (RFC 1035 section 2.3.4: 255 octets on the wire, 253 as text).
pub(crate) const MAX_DOMAIN_LEN: usize = 253;

/// A set of applications.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppSet(Box<[AppId]>);

impl AppSet {
    pub(crate) fn new(mut apps: Vec<AppId>) -> Self {
        apps.sort_unstable();
        apps.dedup();
        AppSet(apps.into_boxed_slice())
    }

    pub(crate) fn contains(&self, app: Option<AppId>) -> bool {
        app.is_some_and(|a| self.0.binary_search(&a).is_ok())
    }
}

/// A set of categories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CategorySet(u32);

impl CategorySet {
    fn bit(c: Category) -> u32 {
        1u32 << (c as u32)
    }

    pub(crate) fn insert(&mut self, c: Category) {
        self.0 |= Self::bit(c);
    }

    pub(crate) fn contains(self, c: Option<Category>) -> bool {
        c.is_some_and(|c| self.0 & Self::bit(c) != 0)
    }
}

/// A set of domains; each one also covers its subdomains.
#[derive(Debug, Clone, Default)]
pub(crate) struct DomainSet(Box<[Box<str>]>);

impl DomainSet {
    /// Builds the set from names already normalized by [`normalize_domain`].
    pub(crate) fn new(mut domains: Vec<Box<str>>) -> Self {
        domains.sort_unstable();
        domains.dedup();
        DomainSet(domains.into_boxed_slice())
    }

    /// The listed domain that `name` is, or is a subdomain of (case-insensitive; a trailing dot
    /// is ignored). Tries the name and then each parent, so the cost is labels x log(entries).
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        if self.0.is_empty() {
            return None;
        }
        let name = name.strip_suffix('.').unwrap_or(name);
        let mut suffix = name;
        loop {
            if !suffix.is_empty() {
                if let Ok(i) = self
                    .0
                    .binary_search_by(|d| cmp_lowercase(d.as_bytes(), suffix.as_bytes()))
                {
                    return Some(i);
                }
            }
            match suffix.find('.') {
                Some(dot) => suffix = suffix.get(dot + 1..).unwrap_or(""),
                None => return None,
            }
        }
    }

    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i).map(|d| &**d)
    }
}

/// Compares an already-lowercase name with another name, ignoring ASCII case in the second.
fn cmp_lowercase(lower: &[u8], other: &[u8]) -> Ordering {
    let common = lower.len().min(other.len());
    for (a, b) in lower.iter().zip(other.iter()).take(common) {
        match a.cmp(&b.to_ascii_lowercase()) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    lower.len().cmp(&other.len())
}

/// Lowercases a domain from a policy file, drops a trailing dot and a leading `*.`, and checks
/// that it is a plausible host name (letters, digits, `-`, `_`, non-empty labels).
pub(crate) fn normalize_domain(raw: &str) -> Option<Box<str>> {
    let d = raw.trim();
    let d = d.strip_prefix("*.").unwrap_or(d);
    let d = d.strip_suffix('.').unwrap_or(d);
    if d.is_empty() || d.len() > MAX_DOMAIN_LEN {
        return None;
    }
    let ok = d.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    ok.then(|| d.to_ascii_lowercase().into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> DomainSet {
        DomainSet::new(
            names
                .iter()
                .map(|n| normalize_domain(n).expect("valid"))
                .collect(),
        )
    }

    #[test]
    fn domain_set_matches_itself_and_subdomains_only() {
        let s = set(&["bbc.co.uk", "School.Example.org."]);
        let cases = [
            ("bbc.co.uk", true),
            ("www.bbc.co.uk", true),
            ("WWW.BBC.CO.UK.", true),
            ("notbbc.co.uk", false),
            ("co.uk", false),
            ("school.example.org", true),
            ("a.b.school.example.org", true),
            ("example.org", false),
            ("", false),
            (".", false),
            ("..bbc.co.uk", true),
        ];
        for (name, want) in cases {
            assert_eq!(s.find(name).is_some(), want, "{name}");
        }
    }

    #[test]
    fn normalize_domain_rejects_junk() {
        for bad in ["", ".", "a..b", "exa mple.com", "*.", "a/b.com"] {
            assert!(normalize_domain(bad).is_none(), "{bad:?}");
        }
        assert_eq!(normalize_domain("*.Foo.COM").as_deref(), Some("foo.com"));
    }

    #[test]
    fn category_and_app_sets() {
        let mut c = CategorySet::default();
        c.insert(Category::Gambling);
        c.insert(Category::System);
        assert!(c.contains(Some(Category::Gambling)));
        assert!(c.contains(Some(Category::System)));
        assert!(!c.contains(Some(Category::Social)));
        assert!(!c.contains(None));
        let a = AppSet::new(vec![AppId(5), AppId(1), AppId(5)]);
        assert!(a.contains(Some(AppId(5))));
        assert!(!a.contains(Some(AppId(2))));
        assert!(!a.contains(None));
    }
}
