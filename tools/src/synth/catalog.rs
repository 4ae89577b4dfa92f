//! The host names a synthesized capture names its flows after, and how popular each is.
//!
//! Domains come from the app catalog (`fixtures/catalog/apps.toml`) when one is given: every
//! string under a key whose name mentions `domain`, `host`, `suffix` or `sni` that is a plain
//! host name (a leading `*.` or `.` is dropped) counts, in the order of the file's arrays (the
//! keys of one table are taken in sorted order). Without a catalog a
//! built-in list of real app domains is used. Popularity follows a Zipf law over the list's
//! order (rank 1 the most popular). Not done here: reading the catalog's apps or categories;
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

/// The built-in domain list.
pub fn builtin() -> Vec<String> {
    BUILTIN_DOMAINS.iter().map(|s| (*s).to_owned()).collect()
}

/// Reads the domains of a catalog file.
pub fn load(path: &Path) -> Result<Vec<String>, CatalogError> {
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

/// The domains of a catalog's TOML text, in array order, without duplicates.
pub fn from_toml(text: &str) -> Result<Vec<String>, toml::de::Error> {
    let value: toml::Value = toml::from_str(text)?;
    let mut out = Vec::new();
    collect(&value, false, &mut out);
    Ok(out)
}

fn is_domain_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["domain", "host", "suffix", "sni"]
        .iter()
        .any(|w| k.contains(w))
}

fn collect(v: &toml::Value, under_domain_key: bool, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) if under_domain_key => {
            let name = s
                .trim()
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if is_hostname(&name) && !out.contains(&name) {
                out.push(name);
            }
        }
        toml::Value::Array(items) => {
            for i in items {
                collect(i, under_domain_key, out);
            }
        }
        toml::Value::Table(t) => {
            for (k, v) in t {
                collect(v, under_domain_key || is_domain_key(k), out);
            }
        }
        _ => {}
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
        let b = builtin();
        assert!(b.len() >= 60);
        assert!(b.iter().all(|d| is_hostname(d)), "{b:?}");
        let mut sorted = b.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), b.len());
    }

    #[test]
    fn catalog_domains_are_read_under_domain_keys_only() {
        let text = r#"
            [[app]]
            id = "tiktok"
            name = "TikTok"
            domains = ["tiktok.com", "*.tiktokcdn.com", "TikTokv.com."]
            [[app]]
            id = "wikipedia"
            category = "education"
            [app.match]
            suffixes = [".wikipedia.org", "tiktok.com", "not a name"]
            sni = "wikimedia.org"
        "#;
        assert_eq!(
            from_toml(text).unwrap(),
            vec![
                "tiktok.com",
                "tiktokcdn.com",
                "tiktokv.com",
                "wikimedia.org",
                "wikipedia.org"
            ]
        );
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
