//! The decision for one flow of one subscriber at one instant.
//!
//! A flow that naming marked as evasive (segments that overlap with different bytes, a hello
//! begun and never completed, one too large to read) is blocked first of all, under the rule
//! `evasion`, when its profile says `evasion = "block"` (the default for a profile that blocks
//! anything): what name it carries cannot be trusted. Then rules are tried in this order; the
//! first that applies decides:
//!
//! 1. allow overrides: the profile's `allowed_apps`, then `allowed_domains` (the flow's name is
//!    the domain or a subdomain of it). They beat everything below, schedules included.
//! 2. schedule windows active at the packet's local time: a `block_all` window blocks what it
//!    does not allow (its `allowed_*` lists); any window blocks its own `blocked_*` lists.
//! 3. the profile's `blocked_apps`, then `blocked_categories`.
//! 4. quotas: a quota whose minutes are used up blocks its app or category until local midnight.
//!    Its minutes are real minutes of the local day (a fall-back day has 1500).
//! 5. `block_quic` (QUIC, or any UDP to port 443), `block_doh` (the doh category, known DoH
//!    resolvers by name or address on 443/853, and any port 853: DoT/DoQ), `block_vpn` (the vpn
//!    category, and flows that are no catalog app to the IKE/IPsec NAT-T, OpenVPN, L2TP, PPTP
//!    and WireGuard ports, `VPN_PORTS`).
//! 6. `unknown = "block"`: a flow with neither a name nor a match is blocked.
//! 7. otherwise allow.
//!
//! A verdict holds until `valid_until_ns`: the next start or end of any window of the profile,
//! or the next minute when a quota counts the flow (its usage grows while it runs). The engine
//! decides again at the first packet at or after that instant, and whenever the epoch changes.
//! Deciding does not allocate.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::classify::{AppId, Category, Match};

use super::quota::QuotaLedger;
use super::schedule::{next_boundary, next_minute, LocalTime, QuotaClock};
use super::{EvasionMode, Policy, SubscriberRef, UnknownMode};

/// Ports of DNS over TLS (RFC 7858) and DNS over QUIC (RFC 9250).
const DOT_PORT: u16 = 853;
const HTTPS_PORT: u16 = 443;
/// Server ports of VPN protocols, TCP or UDP, blocked by `block_vpn` when the flow is not a
/// catalog app: IKE (500) and IPsec NAT traversal (4500, also IKE and ESP over TCP, RFC 9329)
/// of IKEv2/IPsec VPNs, OpenVPN (1194), L2TP (1701), PPTP's control connection (1723) and
/// WireGuard (51820). ESP and GRE themselves are neither TCP nor UDP: they never become flows
/// (counted as `not_tcp_udp`), and without IKE or PPTP's control connection they carry nothing.
pub(crate) const VPN_PORTS: [u16; 6] = [500, 1194, 1701, 1723, 4500, 51820];

/// Host names of public DoH resolvers (each covers its subdomains).
pub(crate) const DOH_HOSTS: [&str; 18] = [
    "dns.google",
    "dns.google.com",
    "cloudflare-dns.com",
    "one.one.one.one",
    "1dot1dot1dot1.cloudflare-dns.com",
    "dns.quad9.net",
    "dns9.quad9.net",
    "dns10.quad9.net",
    "dns11.quad9.net",
    "doh.opendns.com",
    "dns.nextdns.io",
    "doh.cleanbrowsing.org",
    "dns.adguard.com",
    "dns.adguard-dns.com",
    "doh.mullvad.net",
    "dns.controld.com",
    "doh.dns.sb",
    "doh.libredns.gr",
];

/// Addresses of public DoH/DoT resolvers.
const DOH_V4: [Ipv4Addr; 10] = [
    Ipv4Addr::new(8, 8, 8, 8),
    Ipv4Addr::new(8, 8, 4, 4),
    Ipv4Addr::new(1, 1, 1, 1),
    Ipv4Addr::new(1, 0, 0, 1),
    Ipv4Addr::new(9, 9, 9, 9),
    Ipv4Addr::new(149, 112, 112, 112),
    Ipv4Addr::new(208, 67, 222, 222),
    Ipv4Addr::new(208, 67, 220, 220),
    Ipv4Addr::new(94, 140, 14, 14),
    Ipv4Addr::new(94, 140, 15, 15),
];
const DOH_V6: [Ipv6Addr; 6] = [
    Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888),
    Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8844),
    Ipv6Addr::new(0x2606, 0x4700, 0x4700, 0, 0, 0, 0, 0x1111),
    Ipv6Addr::new(0x2606, 0x4700, 0x4700, 0, 0, 0, 0, 0x1001),
    Ipv6Addr::new(0x2620, 0xfe, 0, 0, 0, 0, 0, 0xfe),
    Ipv6Addr::new(0x2620, 0xfe, 0, 0, 0, 0, 0, 0x9),
];

/// What the engine knows about a flow when it asks for a decision.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub subscriber: SubscriberRef,
    /// The packet's Unix timestamp in nanoseconds.
    pub ts_ns: u64,
    pub l4_is_udp: bool,
    /// The flow carries QUIC (a QUIC Initial was seen).
    pub is_quic: bool,
    /// The flow's name (SNI, Host or DNS name), if known.
    pub name: Option<&'a str>,
    pub matched: Option<Match>,
    pub server: SocketAddr,
    /// Naming saw the flow try to get around it (see the module comment).
    pub evasive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
        }
    }
}

/// Which rule decided. Names are resolved with [`Policy::rule_label`]; the `Display` of a
/// bare `Rule` gives the kind (and the category, which needs no policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// No rule applied: allowed.
    Default,
    /// The profile's `allowed_apps`.
    AllowedApp(AppId),
    /// The profile's `allowed_domains`; `index` into that profile's sorted list.
    AllowedDomain {
        profile: u16,
        index: u16,
    },
    /// A schedule window of a profile.
    Schedule {
        profile: u16,
        window: u16,
    },
    BlockedApp(AppId),
    BlockedCategory(Category),
    /// A quota of a profile that is used up.
    Quota {
        profile: u16,
        quota: u16,
    },
    Quic,
    Doh,
    Vpn,
    /// `unknown = "block"`.
    Unknown,
    /// `evasion = "block"`: the flow tried to get around naming.
    Evasion,
}

impl Rule {
    /// The kind of rule, as used before the `:` of a label.
    pub fn kind(self) -> &'static str {
        match self {
            Rule::Default => "default",
            Rule::AllowedApp(_) => "allowed_app",
            Rule::AllowedDomain { .. } => "allowed_domain",
            Rule::Schedule { .. } => "schedule",
            Rule::BlockedApp(_) => "app",
            Rule::BlockedCategory(_) => "category",
            Rule::Quota { .. } => "quota",
            Rule::Quic => "quic",
            Rule::Doh => "doh",
            Rule::Vpn => "vpn",
            Rule::Unknown => "unknown",
            Rule::Evasion => "evasion",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())?;
        if let Rule::BlockedCategory(c) = self {
            f.write_str(":")?;
            f.write_str(c.as_str())?;
        }
        Ok(())
    }
}

/// A rule with its names, e.g. `category:gambling`, `schedule:school-nights`, `quota:tiktok`,
/// `app:tiktok`, `allowed_domain:bbc.co.uk`. From [`Policy::rule_label`].
pub struct RuleLabel<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) rule: Rule,
}

impl RuleLabel<'_> {
    /// Writes the label piece by piece (no formatting machinery, no allocation).
    pub fn write_to<W: fmt::Write>(&self, w: &mut W) -> fmt::Result {
        let p = self.policy;
        w.write_str(self.rule.kind())?;
        let detail = match self.rule {
            Rule::AllowedApp(app) | Rule::BlockedApp(app) => p.app_label(app),
            Rule::BlockedCategory(c) => Some(c.as_str()),
            Rule::AllowedDomain { profile, index } => p
                .profile(profile)
                .and_then(|pr| pr.allowed_domains.get(usize::from(index))),
            Rule::Schedule { profile, window } => p
                .profile(profile)
                .and_then(|pr| pr.windows.get(usize::from(window)))
                .map(|w| &*w.name),
            Rule::Quota { profile, quota } => p
                .profile(profile)
                .and_then(|pr| pr.quotas.get(usize::from(quota)))
                .map(|q| &*q.label),
            Rule::Default | Rule::Quic | Rule::Doh | Rule::Vpn | Rule::Unknown | Rule::Evasion => {
                None
            }
        };
        if let Some(d) = detail {
            w.write_str(":")?;
            w.write_str(d)?;
        }
        Ok(())
    }
}

impl fmt::Display for RuleLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub action: Action,
    pub rule: Rule,
    /// Decide again at the first packet at or after this instant (Unix ns; `u64::MAX`: never,
    /// unless the policy epoch changes).
    pub valid_until_ns: u64,
}

fn is_doh_server(server: SocketAddr) -> bool {
    if server.port() == DOT_PORT {
        return true;
    }
    if server.port() != HTTPS_PORT {
        return false;
    }
    match server.ip() {
        IpAddr::V4(a) => DOH_V4.contains(&a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => DOH_V4.contains(&v4),
            None => DOH_V6.contains(&a),
        },
    }
}

impl Policy {
    /// Decides a flow; see the module comment for the order of rules.
    pub fn decide(&self, q: &Query<'_>, quotas: &QuotaLedger) -> Verdict {
        let (profile_ix, tz, listed) = self.resolve(q.subscriber);
        let Some(profile) = self.profile(profile_ix) else {
            // Unreachable for a compiled policy (the default profile always exists).
            return Verdict {
                action: Action::Allow,
                rule: Rule::Default,
                valid_until_ns: u64::MAX,
            };
        };
        let local = LocalTime::at(q.ts_ns, tz);
        let mut valid_until = if profile.boundaries.is_empty() {
            u64::MAX
        } else {
            next_boundary(&profile.boundaries, &local, q.ts_ns, tz)
        };
        let name = q.name.filter(|n| !n.is_empty());
        let app = q.matched.and_then(|m| m.app);
        let category = q.matched.map(|m| m.category);
        let verdict = |action, rule, until| Verdict {
            action,
            rule,
            valid_until_ns: until,
        };

        // Before every rule: a flow that tried to get around naming.
        if q.evasive && profile.evasion == EvasionMode::Block {
            return verdict(Action::Block, Rule::Evasion, valid_until);
        }

        // 1. Allow overrides.
        if profile.allowed_apps.contains(app) {
            if let Some(app) = app {
                return verdict(Action::Allow, Rule::AllowedApp(app), valid_until);
            }
        }
        if let Some(index) = name.and_then(|n| profile.allowed_domains.find(n)) {
            let rule = Rule::AllowedDomain {
                profile: profile_ix,
                index: u16::try_from(index).unwrap_or(u16::MAX),
            };
            return verdict(Action::Allow, rule, valid_until);
        }

        // 2. Schedule windows.
        for (wi, w) in profile.windows.iter().enumerate() {
            if !w.active(&local) {
                continue;
            }
            let r = &w.rules;
            let allowed_here = r.allowed_apps.contains(app)
                || r.allowed_categories.contains(category)
                || name.is_some_and(|n| r.allowed_domains.find(n).is_some());
            let blocked_here = (r.block_all && !allowed_here)
                || r.blocked_apps.contains(app)
                || r.blocked_categories.contains(category);
            if blocked_here {
                let rule = Rule::Schedule {
                    profile: profile_ix,
                    window: u16::try_from(wi).unwrap_or(u16::MAX),
                };
                return verdict(Action::Block, rule, valid_until);
            }
        }

        // 3. Blocked apps and categories.
        if let Some(app) = app.filter(|&a| profile.blocked_apps.contains(Some(a))) {
            return verdict(Action::Block, Rule::BlockedApp(app), valid_until);
        }
        if let Some(c) = category.filter(|&c| profile.blocked_categories.contains(Some(c))) {
            return verdict(Action::Block, Rule::BlockedCategory(c), valid_until);
        }

        // 4. Quotas (listed subscribers only, with this policy's ledger).
        if let Some(sub) = listed.filter(|_| quotas.belongs_to(self)) {
            for (qi, quota) in profile.quotas.iter().enumerate() {
                if !quota.counts(q.matched) {
                    continue;
                }
                valid_until = valid_until.min(next_minute(q.ts_ns));
                if quotas.used(sub.quota_base, qi, local.day_stamp) >= u32::from(quota.minutes) {
                    let rule = Rule::Quota {
                        profile: profile_ix,
                        quota: u16::try_from(qi).unwrap_or(u16::MAX),
                    };
                    return verdict(Action::Block, rule, valid_until);
                }
            }
        }

        // 5. Ways around the policy.
        if profile.block_quic && (q.is_quic || (q.l4_is_udp && q.server.port() == HTTPS_PORT)) {
            return verdict(Action::Block, Rule::Quic, valid_until);
        }
        let unnamed = name.is_none() && q.matched.is_none();
        if profile.block_doh
            && (category == Some(Category::Doh)
                || name.is_some_and(|n| self.doh_hosts.find(n).is_some())
                || is_doh_server(q.server))
        {
            return verdict(Action::Block, Rule::Doh, valid_until);
        }
        // A name alone (a DNS answer for the VPN server's address) does not make a flow to a VPN
        // port anything but a VPN: only a catalog app does.
        if profile.block_vpn
            && (category == Some(Category::Vpn)
                || (q.matched.is_none() && VPN_PORTS.contains(&q.server.port())))
        {
            return verdict(Action::Block, Rule::Vpn, valid_until);
        }

        // 6. Unknown flows.
        if unnamed && profile.unknown == UnknownMode::Block {
            return verdict(Action::Block, Rule::Unknown, valid_until);
        }

        verdict(Action::Allow, Rule::Default, valid_until)
    }

    /// Counts the minute of `ts_ns` toward every quota of the subscriber's profile that a flow
    /// with `matched` counts toward. Call it for packets of allowed flows. No allocation.
    pub fn account(
        &self,
        ledger: &QuotaLedger,
        subscriber: SubscriberRef,
        matched: Option<Match>,
        ts_ns: u64,
    ) {
        if matched.is_none() || !ledger.belongs_to(self) {
            return;
        }
        let (profile_ix, tz, listed) = self.resolve(subscriber);
        let (Some(sub), Some(profile)) = (listed, self.profile(profile_ix)) else {
            return;
        };
        let mut clock: Option<QuotaClock> = None;
        for (qi, quota) in profile.quotas.iter().enumerate() {
            if !quota.counts(matched) {
                continue;
            }
            let t = *clock.get_or_insert_with(|| QuotaClock::at(ts_ns, tz));
            ledger.mark(sub.quota_base, qi, t.day_stamp, t.minute);
        }
    }

    /// Minutes used today (local day of `ts_ns`) of the subscriber's quota for an app or
    /// category id as written in the file; `None` when the profile has no such quota.
    pub fn quota_used(
        &self,
        ledger: &QuotaLedger,
        subscriber: SubscriberRef,
        target: &str,
        ts_ns: u64,
    ) -> Option<u32> {
        let (profile_ix, tz, listed) = self.resolve(subscriber);
        let profile = self.profile(profile_ix)?;
        let qi = profile.quotas.iter().position(|q| &*q.label == target)?;
        let Some(sub) = listed.filter(|_| ledger.belongs_to(self)) else {
            return Some(0);
        };
        let t = QuotaClock::at(ts_ns, tz);
        Some(ledger.used(sub.quota_base, qi, t.day_stamp))
    }

    /// The rule with its names, for output (`Display`, or [`RuleLabel::write_to`]).
    pub fn rule_label(&self, rule: Rule) -> RuleLabel<'_> {
        RuleLabel { policy: self, rule }
    }
}
