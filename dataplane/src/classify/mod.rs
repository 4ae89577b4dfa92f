//! Turning a flow's name (or, failing that, its server address) into an application and a
//! category: the app catalog, large category domain lists, and the matcher that looks names up
//! (exact name, longest suffix on label boundaries, Aho-Corasick substrings, IP prefixes).
//!
//! - [`catalog`]: the application catalog, loaded from TOML (the default one is embedded).
//! - [`lists`]: large category lists (one domain per line, hosts files, `||domain^`).
//! - [`domains`]: the compact domain-name set behind both.
//! - [`matcher`]: built from a catalog and lists; looks names and addresses up without
//!   allocating.

pub mod catalog;
pub mod domains;
pub mod lists;
pub mod matcher;

pub use catalog::{App, Catalog, CatalogError, DomainRule, IpPrefix, ValidationError};
pub use lists::{CategoryList, LineProblem, ListError, LoadReport};
pub use matcher::{Matcher, MatcherStats};

use serde::{Deserialize, Serialize};

/// Index of an application in the loaded catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(pub u16);

/// Content categories that parents and operators block or limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Social,
    Video,
    Streaming,
    Gaming,
    Messaging,
    Adult,
    Gambling,
    Dating,
    /// VPNs and proxies (a way around the policy).
    Vpn,
    /// DNS-over-HTTPS and DNS-over-TLS resolvers (a way around DNS-based control).
    Doh,
    Search,
    Education,
    Shopping,
    News,
    Productivity,
    /// Advertising and tracking.
    Ads,
    /// Operating-system and infrastructure services (updates, connectivity checks, CDNs).
    System,
}

impl Category {
    pub const ALL: [Category; 17] = [
        Category::Social,
        Category::Video,
        Category::Streaming,
        Category::Gaming,
        Category::Messaging,
        Category::Adult,
        Category::Gambling,
        Category::Dating,
        Category::Vpn,
        Category::Doh,
        Category::Search,
        Category::Education,
        Category::Shopping,
        Category::News,
        Category::Productivity,
        Category::Ads,
        Category::System,
    ];

    /// The snake_case name used in files, JSON and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Social => "social",
            Category::Video => "video",
            Category::Streaming => "streaming",
            Category::Gaming => "gaming",
            Category::Messaging => "messaging",
            Category::Adult => "adult",
            Category::Gambling => "gambling",
            Category::Dating => "dating",
            Category::Vpn => "vpn",
            Category::Doh => "doh",
            Category::Search => "search",
            Category::Education => "education",
            Category::Shopping => "shopping",
            Category::News => "news",
            Category::Productivity => "productivity",
            Category::Ads => "ads",
            Category::System => "system",
        }
    }

    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// Looks up application ids by their catalog id (`"tiktok"`). The catalog implements it; the
/// policy compiler takes it, so that policies can be validated against any catalog.
pub trait AppNames {
    fn app_id(&self, id: &str) -> Option<AppId>;
    fn app_name(&self, app: AppId) -> Option<&str>;
    fn app_category(&self, app: AppId) -> Option<Category>;
}

/// What the matcher found for a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// The application, when a catalog signature matched; `None` when only a category list did.
    pub app: Option<AppId>,
    pub category: Category,
}
