//! The matcher: a flow's name (or its server address) to an application and category.
//!
//! Built once from a [`Catalog`] and any number of [`CategoryList`]s, off the hot path, then
//! shared read-only by the workers. A name is looked up in this order, and the first step that
//! finds something decides:
//!
//! 1. the exact name (`=name` and plain catalog domains, and list domains);
//! 2. the longest stored suffix on a label boundary (`ws.amazon.com` covers `a.ws.amazon.com`,
//!    never `aws.amazon.com`), from plain and `*.` catalog domains and list domains;
//! 3. substring signatures (Aho-Corasick over the whole name): of all signatures that occur
//!    anywhere in the name the longest wins, ties going to the earlier one in the catalog. Every
//!    occurrence is considered (overlapping search), so a long signature is never hidden behind
//!    a shorter one that starts further left, as a leftmost-longest scan would hide it;
//! 4. (addresses only) the longest IP prefix whose app's ports, if any, include the server
//!    port; then apps that are known by server port alone.
//!
//! A catalog signature beats a category list for the same name (the catalog is inserted first
//! and the first value for a name stays); a longer list suffix still beats a shorter catalog one.
//! Lookups are case-insensitive and allocate nothing.

use std::net::IpAddr;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::catalog::{mask_v4, mask_v6, Catalog};
use super::domains::{Cover, DomainSet, NONE};
use super::lists::CategoryList;
use super::{AppId, Category, Match};

/// Set in a stored value that stands for a category list, not an app.
const LIST_FLAG: u32 = 1 << 31;

/// What building the matcher stored (and dropped), for logs and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatcherStats {
    /// Distinct names in the domain set (catalog and lists together).
    pub names: usize,
    /// Catalog domain signatures stored.
    pub catalog_domains: usize,
    /// List names stored (names also in the catalog or an earlier list count once).
    pub list_names: usize,
    pub substrings: usize,
    pub prefixes: usize,
    /// Signatures that could not be stored (the set was full, or the substring automaton
    /// could not be built).
    pub dropped: usize,
    /// Heap bytes held by the domain set.
    pub domain_set_bytes: usize,
    /// Heap bytes held by the substring automaton.
    pub substring_bytes: usize,
}

/// Prefixes of one address family, grouped by length (longest first), each group sorted.
#[derive(Clone, Debug, Default)]
struct PrefixTable<K> {
    by_len: Vec<(u8, Vec<(K, AppId)>)>,
}

impl<K: Ord + Copy> PrefixTable<K> {
    fn from_entries(mut entries: Vec<(u8, K, AppId)>) -> PrefixTable<K> {
        // Longest length first; within a length by key; catalog order among equal keys
        // (the catalog rejects duplicate prefixes, so that does not arise from a catalog).
        entries.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut by_len: Vec<(u8, Vec<(K, AppId)>)> = Vec::new();
        for (len, key, app) in entries {
            match by_len.last_mut() {
                Some((l, v)) if *l == len => v.push((key, app)),
                _ => by_len.push((len, vec![(key, app)])),
            }
        }
        PrefixTable { by_len }
    }

    fn len(&self) -> usize {
        self.by_len.iter().map(|(_, v)| v.len()).sum()
    }

    /// The app of the longest prefix that contains `addr` and accepts `port`.
    fn lookup(
        &self,
        addr: K,
        mask: impl Fn(K, u8) -> K,
        port_ok: impl Fn(AppId) -> bool,
    ) -> Option<AppId> {
        for (len, group) in &self.by_len {
            let key = mask(addr, *len);
            let Ok(mut i) = group.binary_search_by(|(k, _)| k.cmp(&key)) else {
                continue;
            };
            // Step back to the first entry with this key, then try each in order.
            while i > 0 && group.get(i - 1).is_some_and(|(k, _)| *k == key) {
                i -= 1;
            }
            while let Some(&(k, app)) = group.get(i) {
                if k != key {
                    break;
                }
                if port_ok(app) {
                    return Some(app);
                }
                i += 1;
            }
        }
        None
    }
}

/// Names and addresses to applications and categories. See the module comment for the order.
#[derive(Clone, Debug)]
pub struct Matcher {
    names: DomainSet,
    substrings: Option<AhoCorasick>,
    /// The app of each substring pattern, by pattern id (catalog order).
    substring_apps: Vec<AppId>,
    v4: PrefixTable<u32>,
    v6: PrefixTable<u128>,
    /// Apps known by server port alone, sorted by port.
    port_only: Vec<(u16, AppId)>,
    /// Per app: the ports its prefixes are limited to (empty: any port).
    app_ports: Vec<Vec<u16>>,
    app_categories: Vec<Category>,
    stats: MatcherStats,
}

impl Matcher {
    /// Build the matcher. Catalog signatures first (they win for the same name), then the
    /// lists in the order given (the first list that names a domain gives its category).
    pub fn build(catalog: &Catalog, lists: &[CategoryList]) -> Matcher {
        let list_names: usize = lists.iter().map(|l| l.len()).sum();
        let catalog_names: usize = catalog.apps().iter().map(|a| a.domains.len()).sum();
        let mut names = DomainSet::with_capacity(list_names + catalog_names);
        let mut stats = MatcherStats::default();
        let mut patterns: Vec<&str> = Vec::new();
        let mut substring_apps = Vec::new();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut port_only = Vec::new();
        let mut app_ports = Vec::with_capacity(catalog.len());
        let mut app_categories = Vec::with_capacity(catalog.len());

        for (id, app) in catalog.iter() {
            app_categories.push(app.category);
            for rule in &app.domains {
                match names.insert(rule.name(), rule.cover(), u32::from(id.0)) {
                    Ok(true) => stats.catalog_domains += 1,
                    Ok(false) => {}
                    Err(_) => stats.dropped += 1,
                }
            }
            for s in &app.substrings {
                patterns.push(s);
                substring_apps.push(id);
            }
            for p in &app.ip_prefixes {
                match p.addr {
                    IpAddr::V4(a) => v4.push((p.len, u32::from(a), id)),
                    IpAddr::V6(a) => v6.push((p.len, u128::from(a), id)),
                }
            }
            if app.ip_prefixes.is_empty() {
                port_only.extend(app.ports.iter().map(|&port| (port, id)));
                app_ports.push(Vec::new());
            } else {
                app_ports.push(app.ports.clone());
            }
        }
        for list in lists {
            let value = LIST_FLAG | category_index(list.category());
            for name in list.domains() {
                match names.insert(name, Cover::Both, value) {
                    Ok(true) => stats.list_names += 1,
                    Ok(false) => {}
                    Err(_) => stats.dropped += 1,
                }
            }
        }
        names.shrink_to_fit();

        let substrings = if patterns.is_empty() {
            None
        } else {
            match AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(true)
                .build(&patterns)
            {
                Ok(ac) => Some(ac),
                Err(_) => {
                    stats.dropped += patterns.len();
                    None
                }
            }
        };
        // Stable sort: catalog order among apps on the same port.
        port_only.sort_by_key(|&(port, _)| port);

        stats.names = names.len();
        stats.substrings = if substrings.is_some() {
            patterns.len()
        } else {
            0
        };
        let v4 = PrefixTable::from_entries(v4);
        let v6 = PrefixTable::from_entries(v6);
        stats.prefixes = v4.len() + v6.len();
        stats.domain_set_bytes = names.heap_bytes();
        stats.substring_bytes = substrings.as_ref().map_or(0, |ac| ac.memory_usage());

        Matcher {
            names,
            substrings,
            substring_apps,
            v4,
            v6,
            port_only,
            app_ports,
            app_categories,
            stats,
        }
    }

    /// What the build stored.
    pub fn stats(&self) -> &MatcherStats {
        &self.stats
    }

    fn decode(&self, value: u32) -> Option<Match> {
        if value == NONE {
            return None;
        }
        if value & LIST_FLAG != 0 {
            let category = *Category::ALL.get((value & !LIST_FLAG) as usize)?;
            return Some(Match {
                app: None,
                category,
            });
        }
        let app = AppId(u16::try_from(value).ok()?);
        self.app_match(app)
    }

    fn app_match(&self, app: AppId) -> Option<Match> {
        let category = *self.app_categories.get(usize::from(app.0))?;
        Some(Match {
            app: Some(app),
            category,
        })
    }

    /// The application and category of a name (a TLS SNI, an HTTP Host, a DNS name).
    pub fn lookup_name(&self, name: &str) -> Option<Match> {
        if let Some(v) = self.names.lookup(name) {
            return self.decode(v);
        }
        let ac = self.substrings.as_ref()?;
        let mut best: Option<(usize, usize)> = None; // (pattern length, pattern id)
        for m in ac.find_overlapping_iter(name) {
            let cand = (m.len(), m.pattern().as_usize());
            best = match best {
                Some(b) if b.0 > cand.0 || (b.0 == cand.0 && b.1 <= cand.1) => Some(b),
                _ => Some(cand),
            };
        }
        let (_, pattern) = best?;
        let app = *self.substring_apps.get(pattern)?;
        self.app_match(app)
    }

    /// The application and category of a server address and port, for flows without a name.
    pub fn lookup_addr(&self, ip: IpAddr, port: u16) -> Option<Match> {
        let port_ok = |app: AppId| {
            self.app_ports
                .get(usize::from(app.0))
                .is_none_or(|ports| ports.is_empty() || ports.contains(&port))
        };
        let found = match ip {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a), mask_v4, port_ok),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => self.v4.lookup(u32::from(v4), mask_v4, port_ok),
                None => self.v6.lookup(u128::from(a), mask_v6, port_ok),
            },
        };
        if let Some(app) = found {
            return self.app_match(app);
        }
        let i = self.port_only.partition_point(|&(p, _)| p < port);
        match self.port_only.get(i) {
            Some(&(p, app)) if p == port => self.app_match(app),
            _ => None,
        }
    }

    /// The name if there is one and it matches, else the address.
    pub fn classify(&self, name: Option<&str>, ip: IpAddr, port: u16) -> Option<Match> {
        name.and_then(|n| self.lookup_name(n))
            .or_else(|| self.lookup_addr(ip, port))
    }
}

fn category_index(c: Category) -> u32 {
    Category::ALL.iter().position(|&x| x == c).unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::AppNames;

    const CATALOG: &str = r#"
[[app]]
id = "amazon"
name = "Amazon"
category = "shopping"
domains = ["amazon.com"]

[[app]]
id = "aws"
name = "AWS"
category = "productivity"
domains = ["ws.amazon.com", "=aws.amazon.com"]

[[app]]
id = "sub_only"
name = "Sub only"
category = "news"
domains = ["*.cdn.test"]

[[app]]
id = "tiktok"
name = "TikTok"
category = "social"
domains = ["tiktok.com"]
substrings = ["tiktokcdn", "bytecdn"]

[[app]]
id = "facebook"
name = "Facebook"
category = "social"
substrings = ["fbcdn"]

[[app]]
id = "longer"
name = "Longer"
category = "video"
substrings = ["cdnvideo-long"]

[[app]]
id = "telegram"
name = "Telegram"
category = "messaging"
domains = ["telegram.org"]
ip_prefixes = ["149.154.160.0/20", "91.108.4.0/22", "2001:67c:4e8::/48"]

[[app]]
id = "telegram_dc"
name = "Telegram DC"
category = "messaging"
ip_prefixes = ["149.154.167.0/24"]
ports = [8443]

[[app]]
id = "cf_dns"
name = "Cloudflare DNS"
category = "doh"
ip_prefixes = ["1.1.1.1/32", "2606:4700:4700::1111"]

[[app]]
id = "dot"
name = "DNS over TLS"
category = "doh"
ports = [853]

[[app]]
id = "listed_too"
name = "Listed too"
category = "gaming"
domains = ["game.test"]
"#;

    fn matcher() -> (Catalog, Matcher) {
        let catalog = Catalog::from_toml_str(CATALOG, "t").unwrap_or_else(|e| panic!("{e}"));
        let adult = CategoryList::parse(
            "game.test\nadult.test\nx.amazon.com\nfbcdn-adult.test\n",
            Category::Adult,
            "adult",
        );
        let gambling = CategoryList::parse("adult.test\nbet.test\n", Category::Gambling, "g");
        let m = Matcher::build(&catalog, &[adult, gambling]);
        (catalog, m)
    }

    fn app_of(c: &Catalog, m: &Matcher, name: &str) -> Option<String> {
        m.lookup_name(name)
            .and_then(|x| x.app)
            .and_then(|a| c.app(a))
            .map(|a| a.id.clone())
    }

    #[test]
    fn matching_order_table() {
        let (c, m) = matcher();
        let table: &[(&str, Option<&str>)] = &[
            ("amazon.com", Some("amazon")),
            ("www.amazon.com", Some("amazon")),
            ("ws.amazon.com", Some("aws")),
            ("a.ws.amazon.com", Some("aws")),
            // label boundary: `aws.amazon.com` is not under `ws.amazon.com`
            ("aws.amazon.com", Some("aws")), // its own exact rule
            ("s3.aws.amazon.com", Some("amazon")), // `=aws...` covers no subdomain
            ("cdn.test", None),
            ("img.cdn.test", Some("sub_only")),
            ("tiktok.com", Some("tiktok")),
            ("v16.tiktokcdn.com", Some("tiktok")),
            ("scontent.xx.fbcdn.net", Some("facebook")),
            ("nottiktok.org", None),
            ("example.org", None),
        ];
        for &(name, want) in table {
            assert_eq!(app_of(&c, &m, name).as_deref(), want, "name {name}");
        }
    }

    #[test]
    fn catalog_beats_lists_and_first_list_wins() {
        let (c, m) = matcher();
        let game = m.lookup_name("play.game.test").unwrap();
        assert_eq!(game.app, c.app_id("listed_too"));
        assert_eq!(game.category, Category::Gaming);
        // adult.test is in both lists: the first list's category.
        assert_eq!(
            m.lookup_name("www.adult.test"),
            Some(Match {
                app: None,
                category: Category::Adult
            })
        );
        assert_eq!(
            m.lookup_name("bet.test").map(|x| x.category),
            Some(Category::Gambling)
        );
        // A longer list suffix beats a shorter catalog suffix.
        assert_eq!(
            m.lookup_name("y.x.amazon.com"),
            Some(Match {
                app: None,
                category: Category::Adult
            })
        );
        // Domain steps come before substrings: the list name wins over `fbcdn`.
        assert_eq!(m.lookup_name("fbcdn-adult.test").map(|x| x.app), Some(None));
    }

    #[test]
    fn lookups_ignore_case_and_a_trailing_dot() {
        let (c, m) = matcher();
        assert_eq!(app_of(&c, &m, "WWW.Amazon.COM").as_deref(), Some("amazon"));
        assert_eq!(app_of(&c, &m, "www.amazon.com.").as_deref(), Some("amazon"));
        assert_eq!(
            app_of(&c, &m, "P16.TIKTOKCDN.com").as_deref(),
            Some("tiktok")
        );
    }

    #[test]
    fn longest_substring_wins_even_when_it_starts_later() {
        let (c, m) = matcher();
        // `bytecdn` starts first, `cdnvideo-long` is longer and overlaps it.
        assert_eq!(
            app_of(&c, &m, "bytecdnvideo-long.example").as_deref(),
            Some("longer")
        );
        assert_eq!(
            app_of(&c, &m, "a.bytecdn.example").as_deref(),
            Some("tiktok")
        );
    }

    #[test]
    fn equal_length_substrings_go_to_the_earlier_app() {
        let catalog = Catalog::from_toml_str(
            r#"
[[app]]
id = "first"
name = "First"
category = "video"
substrings = ["aaaaa1"]
[[app]]
id = "second"
name = "Second"
category = "news"
substrings = ["bbbbb2"]
"#,
            "t",
        )
        .unwrap();
        let m = Matcher::build(&catalog, &[]);
        assert_eq!(
            m.lookup_name("bbbbb2.aaaaa1.test").and_then(|x| x.app),
            Some(AppId(0))
        );
    }

    #[test]
    fn ip_prefixes_longest_first_with_ports_v4_and_v6() {
        let (c, m) = matcher();
        let id = |s: &str| c.app_id(s);
        let at = |ip: &str, port| m.lookup_addr(ip.parse().unwrap(), port).and_then(|x| x.app);
        assert_eq!(at("149.154.167.51", 443), id("telegram"));
        assert_eq!(at("149.154.167.51", 8443), id("telegram_dc"));
        assert_eq!(at("149.154.175.1", 443), id("telegram"));
        assert_eq!(at("91.108.7.255", 443), id("telegram"));
        assert_eq!(at("91.108.8.0", 443), None);
        assert_eq!(at("2001:67c:4e8:f004::a", 443), id("telegram"));
        assert_eq!(at("2001:67c:4e9::1", 443), None);
        assert_eq!(at("1.1.1.1", 443), id("cf_dns"));
        assert_eq!(at("1.1.1.2", 443), None);
        assert_eq!(at("::ffff:1.1.1.1", 443), id("cf_dns"));
        assert_eq!(at("2606:4700:4700::1111", 443), id("cf_dns"));
        // Port-only signatures come after prefixes.
        assert_eq!(at("9.9.9.9", 853), id("dot"));
        assert_eq!(at("1.1.1.1", 853), id("cf_dns"));
        assert_eq!(
            m.lookup_addr("149.154.167.51".parse().unwrap(), 443)
                .map(|x| x.category),
            Some(Category::Messaging)
        );
    }

    #[test]
    fn classify_prefers_the_name_then_the_address() {
        let (c, m) = matcher();
        let ip = "1.1.1.1".parse().unwrap();
        assert_eq!(
            m.classify(Some("tiktok.com"), ip, 443).and_then(|x| x.app),
            c.app_id("tiktok")
        );
        assert_eq!(
            m.classify(Some("unknown.example"), ip, 443)
                .and_then(|x| x.app),
            c.app_id("cf_dns")
        );
        assert_eq!(
            m.classify(None, ip, 443).and_then(|x| x.app),
            c.app_id("cf_dns")
        );
    }

    #[test]
    fn stats_count_what_was_stored() {
        let (_, m) = matcher();
        let s = m.stats();
        assert_eq!(s.substrings, 4);
        assert_eq!(s.prefixes, 6);
        assert_eq!(s.dropped, 0);
        // catalog: 7 domain rules; lists: 6 distinct new names (game.test is the catalog's).
        assert_eq!(s.catalog_domains, 7);
        assert_eq!(s.list_names, 4);
        assert!(s.domain_set_bytes > 0);
    }

    #[test]
    fn embedded_catalog_names_real_flows() {
        let c = Catalog::embedded_default().unwrap_or_else(|e| panic!("{e}"));
        let m = Matcher::build(&c, &[]);
        let id = |n: &str| {
            m.lookup_name(n)
                .and_then(|x| x.app)
                .and_then(|a| c.app(a))
                .map(|a| a.id.as_str())
        };
        assert_eq!(id("v16-webapp.tiktok.com"), Some("tiktok"));
        assert_eq!(id("p16-sign-va.tiktokcdn.com"), Some("tiktok"));
        assert_eq!(id("gateway.discord.gg"), Some("discord"));
        assert_eq!(id("rr3---sn-4g5e6nsz.googlevideo.com"), Some("youtube"));
        assert_eq!(id("clientsettingscdn.roblox.com"), Some("roblox"));
        assert_eq!(id("scontent-ams4-1.cdninstagram.com"), Some("instagram"));
        assert_eq!(id("cloudflare-dns.com"), Some("cloudflare_dns"));
        assert_eq!(id("dns.google"), Some("google_dns"));
        assert!(m
            .lookup_addr("149.154.167.51".parse().unwrap(), 443)
            .is_some_and(|x| x.category == Category::Messaging));
        assert_eq!(
            m.lookup_addr("8.8.8.8".parse().unwrap(), 443)
                .map(|x| x.category),
            Some(Category::Doh)
        );
    }

    mod reference {
        //! `lookup_name` against a naive reference: a linear scan over every signature that
        //! applies the documented rules literally.

        use super::*;
        use proptest::prelude::*;
        use std::collections::HashSet;

        const LABELS: [&str; 9] = ["a", "b", "ab", "ws", "aws", "amazon", "com", "cdn-x", "xy"];

        fn name_of(labels: &[usize]) -> String {
            labels
                .iter()
                .map(|&i| LABELS[i % LABELS.len()])
                .collect::<Vec<_>>()
                .join(".")
        }

        /// One generated app: domain rules (form, name) and substrings.
        #[derive(Debug, Clone)]
        struct GenApp {
            domains: Vec<(Cover, String)>,
            substrings: Vec<String>,
        }

        fn labels(min: usize, max: usize) -> impl Strategy<Value = Vec<usize>> {
            proptest::collection::vec(0..LABELS.len(), min..=max)
        }

        fn gen_apps() -> impl Strategy<Value = Vec<GenApp>> {
            let cover = prop_oneof![
                Just(Cover::Both),
                Just(Cover::Exact),
                Just(Cover::Subdomains)
            ];
            let domain = (cover, labels(1, 3)).prop_map(|(c, l)| (c, name_of(&l)));
            let sub = labels(1, 3).prop_map(|l| name_of(&l));
            let app = (
                proptest::collection::vec(domain, 0..4),
                proptest::collection::vec(sub, 0..3),
            );
            proptest::collection::vec(app, 1..6).prop_map(|apps| {
                // Drop what the catalog would reject as a conflict, like the loader's claims.
                let (mut exact, mut subs, mut strings) =
                    (HashSet::new(), HashSet::new(), HashSet::new());
                apps.into_iter()
                    .map(|(domains, substrings)| GenApp {
                        domains: domains
                            .into_iter()
                            .filter(|(c, d)| {
                                let e = matches!(c, Cover::Exact | Cover::Both);
                                let s = matches!(c, Cover::Subdomains | Cover::Both);
                                if (e && exact.contains(d)) || (s && subs.contains(d)) {
                                    return false;
                                }
                                if e {
                                    exact.insert(d.clone());
                                }
                                if s {
                                    subs.insert(d.clone());
                                }
                                true
                            })
                            .collect(),
                        substrings: substrings
                            .into_iter()
                            .filter(|s| s.len() >= 5 && strings.insert(s.clone()))
                            .collect(),
                    })
                    .collect()
            })
        }

        fn toml_of(apps: &[GenApp]) -> String {
            let mut t = String::new();
            for (i, a) in apps.iter().enumerate() {
                let domains: Vec<String> = a
                    .domains
                    .iter()
                    .map(|(c, d)| match c {
                        Cover::Both => format!("\"{d}\""),
                        Cover::Exact => format!("\"={d}\""),
                        Cover::Subdomains => format!("\"*.{d}\""),
                    })
                    .collect();
                let subs: Vec<String> = a.substrings.iter().map(|s| format!("\"{s}\"")).collect();
                t += &format!(
                    "[[app]]\nid = \"app{i}\"\nname = \"App {i}\"\ncategory = \"video\"\n\
                     domains = [{}]\nsubstrings = [{}]\nports = [1]\n",
                    domains.join(", "),
                    subs.join(", ")
                );
            }
            t
        }

        /// `Some(Some(app))`, `Some(None)` for the list, `None` for no match.
        fn naive(apps: &[GenApp], list: &[String], name: &str) -> Option<Option<usize>> {
            let lower = name.to_ascii_lowercase();
            let n = lower.strip_suffix('.').unwrap_or(&lower);
            if !n.is_empty() {
                for (i, a) in apps.iter().enumerate() {
                    for (c, d) in &a.domains {
                        if matches!(c, Cover::Exact | Cover::Both) && d == n {
                            return Some(Some(i));
                        }
                    }
                }
                if list.iter().any(|d| d == n) {
                    return Some(None);
                }
                let under = |d: &str| n.len() > d.len() && n.ends_with(&format!(".{d}"));
                let mut best: Option<(usize, Option<usize>)> = None;
                for (i, a) in apps.iter().enumerate() {
                    for (c, d) in &a.domains {
                        if matches!(c, Cover::Subdomains | Cover::Both)
                            && under(d)
                            && best.is_none_or(|b| d.len() > b.0)
                        {
                            best = Some((d.len(), Some(i)));
                        }
                    }
                }
                for d in list {
                    if under(d) && best.is_none_or(|b| d.len() > b.0) {
                        best = Some((d.len(), None));
                    }
                }
                if let Some((_, who)) = best {
                    return Some(who);
                }
            }
            let mut best: Option<(usize, usize)> = None;
            for (i, a) in apps.iter().enumerate() {
                for s in &a.substrings {
                    if lower.contains(s.as_str()) && best.is_none_or(|b| s.len() > b.0) {
                        best = Some((s.len(), i));
                    }
                }
            }
            best.map(|(_, i)| Some(i))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            #[test]
            fn lookup_name_agrees_with_a_linear_scan(
                apps in gen_apps(),
                list in proptest::collection::vec(labels(2, 3).prop_map(|l| name_of(&l)), 0..5),
                queries in proptest::collection::vec((labels(1, 5), any::<bool>(), any::<bool>()), 1..30),
            ) {
                let text = toml_of(&apps);
                let catalog = Catalog::from_toml_str(&text, "gen")
                    .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
                let list_text = list.join("\n");
                let lists = [CategoryList::parse(&list_text, Category::Adult, "gen")];
                let m = Matcher::build(&catalog, &lists);
                for (q, upper, dot) in queries {
                    let mut name = name_of(&q);
                    if upper {
                        name = name.to_ascii_uppercase();
                    }
                    if dot {
                        name.push('.');
                    }
                    let got = m.lookup_name(&name).map(|x| x.app.map(|a| usize::from(a.0)));
                    prop_assert_eq!(got, naive(&apps, &list, &name), "name {} in\n{}\nlist {:?}", name, text, list);
                }
            }
        }
    }
}
