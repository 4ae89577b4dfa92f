//! The policy file as serde reads it: plain structs that mirror the TOML, with every value the
//! compiler checks kept as a [`Spanned`] so that an error can point at its line. Nothing here is
//! validated beyond TOML types; [`super::compile`] turns this into a [`super::Policy`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFile {
    /// Profile for subscribers that are not listed.
    pub default_profile: Option<Spanned<String>>,
    /// Time zone of subscribers that are not listed (default UTC).
    pub default_timezone: Option<Spanned<String>>,
    #[serde(default)]
    pub subscriber: Vec<SubscriberModel>,
    #[serde(default)]
    pub profile: BTreeMap<String, ProfileModel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriberModel {
    pub id: Spanned<String>,
    /// Strings (addresses or prefixes) and integers (TEIDs), mixed.
    #[serde(default)]
    pub identifiers: Vec<Spanned<toml::Value>>,
    pub profile: Spanned<String>,
    pub timezone: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileModel {
    #[serde(default)]
    pub blocked_categories: Vec<Spanned<String>>,
    #[serde(default)]
    pub blocked_apps: Vec<Spanned<String>>,
    #[serde(default)]
    pub allowed_apps: Vec<Spanned<String>>,
    #[serde(default)]
    pub allowed_domains: Vec<Spanned<String>>,
    #[serde(default)]
    pub schedules: Vec<ScheduleModel>,
    #[serde(default)]
    pub quotas: Vec<Spanned<QuotaModel>>,
    #[serde(default)]
    pub block_quic: bool,
    #[serde(default)]
    pub block_doh: bool,
    #[serde(default)]
    pub block_vpn: bool,
    pub unknown: Option<Spanned<String>>,
    /// `"allow"` or `"block"`; default: block when the profile blocks anything.
    pub evasion: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleModel {
    pub name: Option<Spanned<String>>,
    /// A string (`"weekdays"`, `"mon"`) or a list of strings.
    pub days: Spanned<toml::Value>,
    pub start: Spanned<String>,
    pub end: Spanned<String>,
    #[serde(default)]
    pub block_all: bool,
    #[serde(default)]
    pub allowed_categories: Vec<Spanned<String>>,
    #[serde(default)]
    pub allowed_apps: Vec<Spanned<String>>,
    #[serde(default)]
    pub allowed_domains: Vec<Spanned<String>>,
    #[serde(default)]
    pub blocked_categories: Vec<Spanned<String>>,
    #[serde(default)]
    pub blocked_apps: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuotaModel {
    pub app: Option<Spanned<String>>,
    pub category: Option<Spanned<String>>,
    pub minutes: Spanned<i64>,
}
