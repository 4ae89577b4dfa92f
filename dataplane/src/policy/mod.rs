//! Per-subscriber policy: profiles, schedules, quotas, verdicts, block events.
//!
//! A policy is one TOML file, compiled off the hot path into an immutable [`Policy`] and
//! published to the workers by the engine (`engine::enforce`, an atomic pointer swap of the
//! policy together with its quota ledger and the matcher, under a new epoch).
//! A file with any error is rejected as a whole, with every error located by file, line,
//! column and field ([`PolicyErrors`]); the policy in force stays in force.
//!
//! # The file
//!
//! ```toml
//! default_profile = "standard"        # profile of subscribers not listed (required)
//! default_timezone = "Europe/London"  # their time zone (default "UTC")
//!
//! [[subscriber]]
//! id = "447700900123"                 # MSISDN or IMSI, unique
//! identifiers = ["10.45.0.7", "2001:db8:45::/64", 305419896]  # UE addresses or prefixes,
//!                                     # and GTP-U TEIDs (integers); each unique in the file
//! profile = "child"
//! timezone = "Europe/London"          # IANA name; default: default_timezone
//!
//! [profile.child]
//! blocked_categories = ["adult", "gambling"]
//! blocked_apps = ["tiktok"]
//! allowed_apps = ["khan_academy"]     # beat every block, schedules included
//! allowed_domains = ["bbc.co.uk"]     # the domain and its subdomains
//! quotas = [{ app = "youtube", minutes = 60 }, { category = "gaming", minutes = 90 }]
//! block_quic = true                   # UDP QUIC, so clients fall back to TCP
//! block_doh = true                    # doh category, known DoH/DoT resolvers, port 853
//! block_vpn = true                    # vpn category; flows that are no app to VPN ports
//! unknown = "block"                   # flows whose name stays unknown: "allow" (default)
//! evasion = "block"                   # flows that evade naming; default "block" when the
//!                                     # profile blocks anything, else "allow"
//!
//! [[profile.child.schedules]]
//! name = "school-nights"              # used in rule labels (default "<profile>#<n>")
//! days = ["sun", "mon", "tue", "wed", "thu"]  # or "weekdays", "weekends", "daily", "mon"
//! start = "21:00"                     # local time; end < start crosses midnight and the
//! end = "07:00"                       # window belongs to the day it starts on
//! block_all = true                    # block all but the allowed_* below
//! allowed_categories = ["education"]  # also allowed_apps, allowed_domains
//! blocked_categories = []             # blocked in addition while the window is active
//! blocked_apps = []
//! ```
//!
//! Category names are those of [`crate::classify::Category`]; app ids are the catalog's
//! (`tiktok`, `khan_academy`), checked against an [`AppNames`] when the policy compiles.
//!
//! # Deciding
//!
//! [`Policy::subscriber_of_flow`] maps a flow to a [`SubscriberRef`]: the end that is a listed
//! line's (by TEID, then the client's address, then the server's), else the default profile;
//! [`Policy::subscriber_for`] does the same for one known UE address;
//! [`Policy::decide`] applies the rules in the order its module documents
//! ([`decide`]): allow overrides, schedule windows, blocked apps and categories, quotas,
//! QUIC/DoH/VPN, unknown handling, allow. Time is the packet's timestamp on the subscriber's
//! wall clock. A [`SubscriberRef`] belongs to the policy that made it: after a new epoch, look
//! the subscriber up again.
//!
//! Quotas are counted in a [`QuotaLedger`] by [`Policy::account`]; unlisted subscribers have
//! no quota accounting (their quotas never run out).
//!
//! Not here: naming flows (`inspect`, `classify`), flow state and caching verdicts (`engine`).

mod compile;
pub mod decide;
mod error;
pub mod events;
mod lookup;
mod model;
pub mod quota;
mod schedule;
mod sets;

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono_tz::Tz;

use crate::classify::{AppId, AppNames};

pub use decide::{Action, Query, Rule, RuleLabel, Verdict};
pub use error::{PolicyError, PolicyErrorKind, PolicyErrors};
pub use events::{BlockEvent, EventQueue, InlineStr};
pub use quota::QuotaLedger;

use lookup::SessionTable;
use quota::Quota;
use schedule::Window;
use sets::{AppSet, CategorySet, DomainSet};

/// The policy compiled into pcgate, used when no other is configured.
pub const EMBEDDED_POLICY: &str = include_str!("../../../fixtures/policy.toml");

/// Id returned by [`Policy::subscriber_id`] for subscribers that are not listed.
pub const DEFAULT_SUBSCRIBER_ID: &str = "default";

/// Source of unique policy ids (ties a [`QuotaLedger`] to its policy).
static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// Which subscriber a flow belongs to, in one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberRef {
    /// Index of a listed subscriber.
    Listed(u32),
    /// Not listed: the default profile.
    Default,
}

/// What to do with a flow whose name stays unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum UnknownMode {
    #[default]
    Allow,
    Block,
}

/// What to do with a flow that naming marked as evasive (overlapping segments that differ, a
/// hello begun and never completed, one too large to read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EvasionMode {
    Allow,
    Block,
}

/// One compiled profile.
#[derive(Debug)]
pub(crate) struct Profile {
    pub name: Box<str>,
    pub blocked_categories: CategorySet,
    pub blocked_apps: AppSet,
    pub allowed_apps: AppSet,
    pub allowed_domains: DomainSet,
    pub windows: Box<[Window]>,
    /// Sorted, unique minutes-of-week at which any window starts or ends.
    pub boundaries: Box<[u32]>,
    pub quotas: Box<[Quota]>,
    pub block_quic: bool,
    pub block_doh: bool,
    pub block_vpn: bool,
    pub unknown: UnknownMode,
    pub evasion: EvasionMode,
}

/// One listed subscriber.
#[derive(Debug)]
pub(crate) struct Subscriber {
    pub id: Box<str>,
    pub profile: u16,
    pub tz: Tz,
    /// First quota slot of this subscriber in a [`QuotaLedger`].
    pub quota_base: u32,
}

/// A compiled, immutable policy.
#[derive(Debug)]
pub struct Policy {
    uid: u64,
    epoch: u64,
    source: Box<str>,
    default_profile: u16,
    default_tz: Tz,
    profiles: Box<[Profile]>,
    subscribers: Box<[Subscriber]>,
    /// (subscriber id, index), sorted by id.
    by_id: Box<[(Box<str>, u32)]>,
    sessions: SessionTable,
    /// Names of the apps the file mentions, sorted by id (for rule labels).
    app_labels: Box<[(AppId, Box<str>)]>,
    doh_hosts: DomainSet,
    quota_slots: u32,
}

impl Policy {
    /// Compiles a policy from TOML text; `source_name` names it in errors.
    pub fn from_toml_str(
        text: &str,
        source_name: &str,
        apps: &dyn AppNames,
    ) -> Result<Policy, PolicyErrors> {
        compile::compile(text, source_name, apps)
    }

    /// Reads (with the input size cap, [`crate::input`]) and compiles a policy file.
    pub fn load(path: &Path, apps: &dyn AppNames) -> Result<Policy, PolicyErrors> {
        let source = path.display().to_string();
        let one = |line, column, kind| {
            Err(PolicyErrors(vec![PolicyError {
                source: source.clone(),
                line,
                column,
                field: String::new(),
                kind,
            }]))
        };
        let bytes = match crate::input::read_toml(path) {
            Ok(bytes) => bytes,
            Err(e) => return one(0, 0, PolicyErrorKind::Io(e.to_string())),
        };
        match crate::lines::utf8(&bytes) {
            Ok(text) => Self::from_toml_str(text, &source, apps),
            Err(bad) => one(bad.line, bad.column, PolicyErrorKind::NotUtf8(bad.byte)),
        }
    }

    /// The demo policy in `fixtures/policy.toml`, compiled into the binary.
    pub fn embedded_default(apps: &dyn AppNames) -> Result<Policy, PolicyErrors> {
        Self::from_toml_str(EMBEDDED_POLICY, "fixtures/policy.toml", apps)
    }

    /// The epoch this policy was published with (0 until published).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Sets the epoch the policy is published with (by the engine's publisher only).
    pub(crate) fn set_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
    }

    /// Where the policy came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The subscriber a packet belongs to: by TEID first when given, then by exact UE address,
    /// then longest prefix; [`SubscriberRef::Default`] when none matches. No allocation.
    pub fn subscriber_for(&self, ue: IpAddr, teid: Option<u32>) -> SubscriberRef {
        match self.sessions.lookup(ue, teid) {
            Some(i) => SubscriberRef::Listed(i),
            None => SubscriberRef::Default,
        }
    }

    /// The subscriber a flow belongs to: the end that is a listed subscriber's, whichever end
    /// that is (a connection to a child's phone is the child's): by TEID first when given, then
    /// the client's address, then the server's; [`SubscriberRef::Default`] when neither end is
    /// listed. When both ends are listed lines, the client's. No allocation.
    pub fn subscriber_of_flow(
        &self,
        client: IpAddr,
        server: IpAddr,
        teid: Option<u32>,
    ) -> SubscriberRef {
        match self
            .sessions
            .lookup(client, teid)
            .or_else(|| self.sessions.lookup(server, None))
        {
            Some(i) => SubscriberRef::Listed(i),
            None => SubscriberRef::Default,
        }
    }

    /// The subscriber's id, or [`DEFAULT_SUBSCRIBER_ID`] for unlisted ones.
    pub fn subscriber_id(&self, s: SubscriberRef) -> &str {
        match s {
            SubscriberRef::Listed(i) => self.listed(i).map_or(DEFAULT_SUBSCRIBER_ID, |s| &s.id),
            SubscriberRef::Default => DEFAULT_SUBSCRIBER_ID,
        }
    }

    /// A listed subscriber by id.
    pub fn subscriber_by_id(&self, id: &str) -> Option<SubscriberRef> {
        self.subscriber_index(id).map(SubscriberRef::Listed)
    }

    /// The name of the profile that applies to a subscriber.
    pub fn profile_name(&self, s: SubscriberRef) -> &str {
        self.profile(self.resolve(s).0).map_or("", |p| &p.name)
    }

    /// Whether any listed subscriber has a quota (quota usage is then shared by all flows of a
    /// subscriber).
    pub fn tracks_quotas(&self) -> bool {
        self.quota_slots > 0
    }

    /// Number of listed subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len()
    }

    /// Names of all profiles.
    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.profiles.iter().map(|p| &*p.name)
    }

    pub(crate) fn listed(&self, i: u32) -> Option<&Subscriber> {
        self.subscribers.get(usize::try_from(i).ok()?)
    }

    pub(crate) fn subscriber_index(&self, id: &str) -> Option<u32> {
        let i = self.by_id.binary_search_by(|e| (*e.0).cmp(id)).ok()?;
        self.by_id.get(i).map(|e| e.1)
    }

    pub(crate) fn profile(&self, ix: u16) -> Option<&Profile> {
        self.profiles.get(usize::from(ix))
    }

    /// Profile index, time zone and (when listed) the subscriber record. A reference that is
    /// out of range (from another policy) counts as unlisted.
    pub(crate) fn resolve(&self, s: SubscriberRef) -> (u16, Tz, Option<&Subscriber>) {
        match s {
            SubscriberRef::Listed(i) => match self.listed(i) {
                Some(sub) => (sub.profile, sub.tz, Some(sub)),
                None => (self.default_profile, self.default_tz, None),
            },
            SubscriberRef::Default => (self.default_profile, self.default_tz, None),
        }
    }

    pub(crate) fn app_label(&self, app: AppId) -> Option<&str> {
        let i = self.app_labels.binary_search_by_key(&app, |e| e.0).ok()?;
        self.app_labels.get(i).map(|e| &*e.1)
    }
}

fn next_uid() -> u64 {
    NEXT_UID.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests;
