//! The host names a synthesized capture names its flows after, and how popular each is.
//!
//! Apps come from the app catalog (`fixtures/catalog/apps.toml`) when one is given: each table
//! of an array of tables (`[[app]]`) is an app, and its domains are the strings under keys
//! whose name mentions `domain`, `host`, `suffix` or `sni` (in the table or its sub-tables)
//! that are host names, with the catalog's rule marks kept (`=name`: only that name;
//! `*.name`: only its subdomains; see [`Rule`]). Apps are taken in array order (the keys of one
//! table in sorted order); apps without a domain are left out. Without a catalog a
//! built-in list of real app domains is used, each its own app. Popularity follows a Zipf law
//! over the apps' order (rank 1 the most popular); an app's domains are equally likely. Not done here: reading the catalog's apps or categories;
//! the synthesizer only needs names that a classifier would recognise.

use std::path::Path;

use thiserror::Error;

use crate::rng::Rng;

/// Errors of catalog loading.
#[derive(Debug, Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The catalog file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{path}: {source}")]
    Toml {
        /// The catalog file.
        path: String,
        /// Cause.
        source: toml::de::Error,
    },
    /// The file holds no usable domain.
    #[error(
        "{0}: no domain found (looked for strings under keys naming domain, host, suffix or sni)"
    )]
    Empty(String),
}

/// Real app domains, roughly in order of popularity among young mobile users in an evening.
pub const BUILTIN_DOMAINS: &[&str] = &[
    "tiktok.com",
    "googlevideo.com",
    "instagram.com",
    "youtube.com",
    "whatsapp.net",
    "snapchat.com",
    "google.com",
    "fbcdn.net",
    "tiktokcdn.com",
    "cdninstagram.com",
    "gstatic.com",
    "googleapis.com",
    "roblox.com",
    "spotify.com",
    "netflix.com",
    "nflxvideo.net",
    "discord.com",
    "facebook.com",
    "twitch.tv",
    "apple.com",
    "icloud.com",
    "reddit.com",
    "x.com",
    "twimg.com",
    "pinterest.com",
    "epicgames.com",
    "fortnite.com",
    "minecraft.net",
    "supercell.com",
    "amazon.com",
    "primevideo.com",
    "disneyplus.com",
    "wikipedia.org",
    "duolingo.com",
    "khanacademy.org",
    "quizlet.com",
    "bbc.co.uk",
    "telegram.org",
    "signal.org",
    "steampowered.com",
    "ea.com",
    "doubleclick.net",
    "googlesyndication.com",
    "app-measurement.com",
    "microsoft.com",
    "office.com",
    "zoom.us",
    "linkedin.com",
    "soundcloud.com",
    "deezer.com",
    "shein.com",
    "temu.com",
    "aliexpress.com",
    "ebay.com",
    "chess.com",
    "coolmathgames.com",
    "github.com",
    "stackoverflow.com",
    "bing.com",
    "duckduckgo.com",
    "yahoo.com",
    "cnn.com",
    "nytimes.com",
    "tinder.com",
    "bumble.com",
    "bet365.com",
    "pornhub.com",
    "nordvpn.com",
    "cloudflare-dns.com",
    "dns.google",
];

/// The built-in domain list, one app per domain.
pub fn builtin() -> Vec<Vec<String>> {
    BUILTIN_DOMAINS
        .iter()
        .map(|s| vec![(*s).to_owned()])
        .collect()
}

/// Reads the apps (each a list of domains) of a catalog file.
pub fn load(path: &Path) -> Result<Vec<Vec<String>>, CatalogError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
        path: shown.clone(),
        source,
    })?;
    let domains = from_toml(&text).map_err(|source| CatalogError::Toml {
        path: shown.clone(),
        source,
    })?;
    if domains.is_empty() {
        return Err(CatalogError::Empty(shown));
    }
    Ok(domains)
}

/// The apps of a catalog's TOML text (each the list of its domains), in array order; a domain
/// listed twice is kept the first time only.
pub fn from_toml(text: &str) -> Result<Vec<Vec<String>>, toml::de::Error> {
    let value: toml::Value = toml::from_str(text)?;
    let mut apps = Vec::new();
    let mut seen = std::collections::HashSet::new();
    walk(&value, &mut apps, &mut seen);
    Ok(apps)
}

fn is_domain_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["domain", "host", "suffix", "sni"]
        .iter()
        .any(|w| k.contains(w))
}

/// A table is an app (when it has domains); an array holds apps.
fn walk(
    v: &toml::Value,
    apps: &mut Vec<Vec<String>>,
    seen: &mut std::collections::HashSet<String>,
) {
    match v {
        toml::Value::Table(t) => {
            let mut app = Vec::new();
            gather(t, apps, &mut app, seen);
            if !app.is_empty() {
                apps.push(app);
            }
        }
        toml::Value::Array(items) => {
            for i in items {
                walk(i, apps, seen);
            }
        }
        _ => {}
    }
}

/// Collects the domains of the app in table `t` (sub-tables included) into `app`; arrays of
/// tables inside it are apps of their own.
fn gather(
    t: &toml::Table,
    apps: &mut Vec<Vec<String>>,
    app: &mut Vec<String>,
    seen: &mut std::collections::HashSet<String>,
) {
    for (k, v) in t {
        match v {
            toml::Value::Table(sub) => gather(sub, apps, app, seen),
            toml::Value::Array(items) if items.iter().all(|i| i.is_table()) => {
                for i in items {
                    walk(i, apps, seen);
                }
            }
            _ if is_domain_key(k) => strings(v, app, seen),
            _ => {}
        }
    }
}

/// Adds the host-name strings of `v` (a string or an array of them) to `app`.
fn strings(v: &toml::Value, app: &mut Vec<String>, seen: &mut std::collections::HashSet<String>) {
    match v {
        toml::Value::String(s) => {
            let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
            let entry = match split_rule(&s) {
                (name, Rule::Exact) => format!("={name}"),
                (name, Rule::SubdomainsOnly) => format!("*.{name}"),
                (name, Rule::NameAndSubdomains) => name.trim_start_matches('.').to_owned(),
            };
            if is_hostname(split_rule(&entry).0) && seen.insert(entry.clone()) {
                app.push(entry);
            }
        }
        toml::Value::Array(items) => {
            for i in items {
                strings(i, app, seen);
            }
        }
        _ => {}
    }
}

/// What a domain entry covers, written as in the app catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `example.com`: the name and its subdomains.
    NameAndSubdomains,
    /// `=example.com`: only that name.
    Exact,
    /// `*.example.com`: only its subdomains.
    SubdomainsOnly,
}

/// The host name of a domain entry and what the entry covers.
pub fn split_rule(entry: &str) -> (&str, Rule) {
    if let Some(name) = entry.strip_prefix('=') {
        (name, Rule::Exact)
    } else if let Some(name) = entry.strip_prefix("*.") {
        (name, Rule::SubdomainsOnly)
    } else {
        (entry, Rule::NameAndSubdomains)
    }
}

/// A plain DNS host name: dotted labels of letters, digits and hyphens.
pub fn is_hostname(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Samples ranks `0..n` with probability proportional to `1 / (rank + 1)^s`.
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// A Zipf law of exponent `s` over `n` ranks (at least one).
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..n.max(1))
            .map(|r| {
                total += 1.0 / ((r + 1) as f64).powf(s);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    /// Number of ranks.
    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    /// Always false: a law has at least one rank.
    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// A rank drawn from the law.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let u = unit(rng) * total;
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.cumulative.len() - 1)
    }
}

/// A uniform value in `[0, 1)`.
pub fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_list_is_long_valid_and_unique() {
        let b: Vec<String> = builtin().into_iter().flatten().collect();
        assert!(b.len() >= 60);
        assert!(b.iter().all(|d| is_hostname(d)), "{b:?}");
        let mut sorted = b.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), b.len());
    }

    #[test]
    fn catalog_apps_are_tables_and_their_domains_the_strings_under_domain_keys() {
        let text = r#"
            version = 1
            [[app]]
            id = "tiktok"
            name = "TikTok"
            domains = ["tiktok.com", "*.tiktokcdn.com", "TikTokv.com.", "=t.tiktok.com"]
            [[app]]
            id = "wikipedia"
            category = "education"
            [app.match]
            suffixes = [".wikipedia.org", "tiktok.com", "not a name"]
            sni = "wikimedia.org"
            [[app]]
            id = "by_address"
            ip_prefixes = ["192.0.2.0/24"]
        "#;
        assert_eq!(
            from_toml(text).unwrap(),
            vec![
                vec![
                    "tiktok.com",
                    "*.tiktokcdn.com",
                    "tiktokv.com",
                    "=t.tiktok.com"
                ],
                vec!["wikimedia.org", "wikipedia.org"],
            ]
        );
    }

    #[test]
    fn the_default_catalog_gives_many_apps() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/catalog/apps.toml");
        if let Ok(apps) = load(&path) {
            assert!(apps.len() >= 50, "{} apps", apps.len());
            assert!(apps.iter().flatten().all(|d| is_hostname(split_rule(d).0)));
        }
    }

    #[test]
    fn zipf_favours_low_ranks_like_one_over_rank() {
        let z = Zipf::new(50, 1.0);
        let mut rng = Rng::new(3);
        let mut counts = [0u32; 50];
        for _ in 0..100_000 {
            counts[z.sample(&mut rng)] += 1;
        }
        // P(0) / P(1) = 2 and P(0) / P(9) = 10 for s = 1.
        let r01 = f64::from(counts[0]) / f64::from(counts[1]);
        let r09 = f64::from(counts[0]) / f64::from(counts[9]);
        assert!((1.8..2.2).contains(&r01), "{r01}");
        assert!((8.0..12.5).contains(&r09), "{r09}");
        assert!(counts.iter().all(|&c| c > 0));
    }
}
