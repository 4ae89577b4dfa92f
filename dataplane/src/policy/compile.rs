//! Compiling a policy file into a [`Policy`]: every name resolved (profiles, apps against the
//! catalog, categories, time zones), every time and address parsed, every duplicate found.
//! Errors are collected, not returned at the first, so that one pass fixes the whole file; a
//! policy is only built when there are none.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::ops::Range;

use chrono_tz::Tz;
use toml::Spanned;

use crate::classify::{AppId, AppNames, Category};

use super::decide::DOH_HOSTS;
use super::error::{PolicyError, PolicyErrorKind as K, PolicyErrors};
use super::lookup::{addr_bits, mask, SessionTableBuilder};
use super::model::{PolicyFile, ProfileModel, QuotaModel, ScheduleModel, SubscriberModel};
use super::quota::{Quota, QuotaTarget};
use super::schedule::{parse_hhmm, Days, Window, WindowRules};
use super::sets::{normalize_domain, AppSet, CategorySet, DomainSet};
use super::{next_uid, EvasionMode, Policy, Profile, Subscriber, UnknownMode};
use crate::lines::LineIndex;

/// Compiles `text`; see [`Policy::from_toml_str`].
pub(crate) fn compile(
    text: &str,
    source: &str,
    apps: &dyn AppNames,
) -> Result<Policy, PolicyErrors> {
    let lines = LineIndex::new(text);
    let file: PolicyFile = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            let (line, column) = e.span().map_or((1, 1), |s| lines.line_col(s.start));
            let field = e
                .span()
                .and_then(|s| crate::lines::toml_key_path(text, s.start))
                .unwrap_or_default();
            let message = crate::lines::toml_message(text, at, e.message().trim());
            return Err(PolicyErrors(vec![PolicyError {
                source: source.to_string(),
                line,
                column,
                field,
                kind: K::Syntax(message),
            }]));
        }
    };
    let mut cx = Ctx {
        source,
        lines,
        apps,
        errors: Vec::new(),
        app_labels: BTreeMap::new(),
    };
    let policy = cx.policy(file);
    if cx.errors.is_empty() {
        Ok(policy)
    } else {
        cx.errors.sort_by_key(|e| (e.line, e.column));
        Err(PolicyErrors(cx.errors))
    }
}

/// An identifier in a form that finds duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IdentKey {
    Teid(u32),
    Prefix { width: u8, bits: u128, len: u8 },
}

struct Ctx<'a> {
    source: &'a str,
    lines: LineIndex<'a>,
    apps: &'a dyn AppNames,
    errors: Vec<PolicyError>,
    app_labels: BTreeMap<AppId, Box<str>>,
}

impl Ctx<'_> {
    fn err(&mut self, span: Range<usize>, field: String, kind: K) {
        let (line, column) = self.lines.line_col(span.start);
        self.errors.push(PolicyError {
            source: self.source.to_string(),
            line,
            column,
            field,
            kind,
        });
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.lines.line(span)
    }

    fn app(&mut self, s: &Spanned<String>, field: String) -> Option<AppId> {
        let name = s.get_ref().trim();
        match self.apps.app_id(name) {
            Some(id) => {
                self.app_labels.entry(id).or_insert_with(|| name.into());
                Some(id)
            }
            None => {
                self.err(s.span(), field, K::UnknownApp(name.to_string()));
                None
            }
        }
    }

    fn category(&mut self, s: &Spanned<String>, field: String) -> Option<Category> {
        let name = s.get_ref().trim();
        let c = Category::from_name(name);
        if c.is_none() {
            self.err(s.span(), field, K::UnknownCategory(name.to_string()));
        }
        c
    }

    fn apps(&mut self, list: &[Spanned<String>], field: &str) -> AppSet {
        let mut ids = Vec::with_capacity(list.len());
        for (i, s) in list.iter().enumerate() {
            ids.extend(self.app(s, format!("{field}[{i}]")));
        }
        AppSet::new(ids)
    }

    fn categories(&mut self, list: &[Spanned<String>], field: &str) -> CategorySet {
        let mut set = CategorySet::default();
        for (i, s) in list.iter().enumerate() {
            if let Some(c) = self.category(s, format!("{field}[{i}]")) {
                set.insert(c);
            }
        }
        set
    }

    fn domains(&mut self, list: &[Spanned<String>], field: &str) -> DomainSet {
        let mut out = Vec::with_capacity(list.len());
        for (i, s) in list.iter().enumerate() {
            match normalize_domain(s.get_ref()) {
                Some(d) => out.push(d),
                None => self.err(
                    s.span(),
                    format!("{field}[{i}]"),
                    K::BadDomain(s.get_ref().clone()),
                ),
            }
        }
        DomainSet::new(out)
    }

    fn timezone(&mut self, s: &Spanned<String>, field: String) -> Option<Tz> {
        let tz = s.get_ref().trim().parse::<Tz>().ok();
        if tz.is_none() {
            self.err(s.span(), field, K::BadTimezone(s.get_ref().clone()));
        }
        tz
    }

    fn policy(&mut self, file: PolicyFile) -> Policy {
        // Profiles first: subscribers refer to them by name.
        if file.profile.len() > usize::from(u16::MAX) {
            self.err(0..0, "profile".into(), K::TooMany("profiles"));
        }
        let profile_index: HashMap<&str, u16> = file
            .profile
            .keys()
            .enumerate()
            .map(|(i, name)| (name.as_str(), u16::try_from(i).unwrap_or(u16::MAX)))
            .collect();
        let profiles: Vec<Profile> = file
            .profile
            .iter()
            .map(|(name, p)| self.profile(name, p))
            .collect();

        let default_profile = match &file.default_profile {
            Some(name) => match profile_index.get(name.get_ref().trim()) {
                Some(&i) => i,
                None => {
                    self.err(
                        name.span(),
                        "default_profile".into(),
                        K::UnknownProfile(name.get_ref().clone()),
                    );
                    0
                }
            },
            None => {
                self.err(
                    0..0,
                    "default_profile".into(),
                    K::Missing("default_profile"),
                );
                0
            }
        };
        let default_tz = match &file.default_timezone {
            Some(tz) => self.timezone(tz, "default_timezone".into()),
            None => Some(Tz::UTC),
        }
        .unwrap_or(Tz::UTC);

        let mut subscribers = Vec::with_capacity(file.subscriber.len());
        let mut sessions = SessionTableBuilder::default();
        let mut seen_ids: HashMap<&str, usize> = HashMap::new();
        let mut seen_idents: HashMap<IdentKey, usize> = HashMap::new();
        let mut quota_slots: u32 = 0;
        for (i, s) in file.subscriber.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            let sub = self.subscriber(
                i,
                s,
                &profile_index,
                &profiles,
                default_tz,
                &mut seen_ids,
                &mut seen_idents,
                &mut sessions,
                index,
            );
            if let Some(mut sub) = sub {
                let n = profiles
                    .get(usize::from(sub.profile))
                    .map_or(0, |p| p.quotas.len());
                sub.quota_base = quota_slots;
                quota_slots = quota_slots.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
                subscribers.push(sub);
            }
        }

        let mut by_id: Vec<(Box<str>, u32)> = subscribers
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        by_id.sort_unstable();

        let doh_hosts = DomainSet::new(
            DOH_HOSTS
                .iter()
                .filter_map(|h| normalize_domain(h))
                .collect(),
        );
        Policy {
            uid: next_uid(),
            epoch: 0,
            source: self.source.into(),
            default_profile,
            default_tz,
            profiles: profiles.into_boxed_slice(),
            subscribers: subscribers.into_boxed_slice(),
            by_id: by_id.into_boxed_slice(),
            sessions: sessions.build(),
            app_labels: std::mem::take(&mut self.app_labels).into_iter().collect(),
            doh_hosts,
            quota_slots,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn subscriber<'f>(
        &mut self,
        i: usize,
        s: &'f SubscriberModel,
        profile_index: &HashMap<&str, u16>,
        profiles: &[Profile],
        default_tz: Tz,
        seen_ids: &mut HashMap<&'f str, usize>,
        seen_idents: &mut HashMap<IdentKey, usize>,
        sessions: &mut SessionTableBuilder,
        index: u32,
    ) -> Option<Subscriber> {
        let field = |f: &str| format!("subscriber[{i}].{f}");
        let mut ok = true;

        let id = s.id.get_ref().trim();
        let id_line = self.line(&s.id.span());
        if id.is_empty() {
            self.err(
                s.id.span(),
                field("id"),
                K::Empty("the subscriber's MSISDN or IMSI"),
            );
            ok = false;
        } else if let Some(&first_line) = seen_ids.get(id) {
            self.err(
                s.id.span(),
                field("id"),
                K::DuplicateSubscriber {
                    id: id.to_string(),
                    first_line,
                },
            );
            ok = false;
        } else {
            seen_ids.insert(id, id_line);
        }

        let profile = match profile_index.get(s.profile.get_ref().trim()) {
            Some(&p) if profiles.get(usize::from(p)).is_some() => Some(p),
            _ => {
                self.err(
                    s.profile.span(),
                    field("profile"),
                    K::UnknownProfile(s.profile.get_ref().clone()),
                );
                None
            }
        };
        let tz = match &s.timezone {
            Some(tz) => self.timezone(tz, field("timezone")),
            None => Some(default_tz),
        };

        for (j, ident) in s.identifiers.iter().enumerate() {
            let f = field(&format!("identifiers[{j}]"));
            let Some(key) = self.identifier(ident, f.clone()) else {
                ok = false;
                continue;
            };
            let line = self.line(&ident.span());
            if let Some(&first_line) = seen_idents.get(&key) {
                self.err(
                    ident.span(),
                    f,
                    K::DuplicateIdentifier {
                        ident: value_text(ident.get_ref()),
                        first_line,
                    },
                );
                ok = false;
                continue;
            }
            seen_idents.insert(key, line);
            match key {
                IdentKey::Teid(t) => sessions.teid(t, index),
                IdentKey::Prefix { width, bits, len } => sessions.prefix(width, bits, len, index),
            }
        }

        let (Some(profile), Some(tz), true) = (profile, tz, ok) else {
            return None;
        };
        Some(Subscriber {
            id: id.into(),
            profile,
            tz,
            quota_base: 0,
        })
    }

    fn identifier(&mut self, v: &Spanned<toml::Value>, field: String) -> Option<IdentKey> {
        let bad = |cx: &mut Self, kind| {
            cx.err(v.span(), field.clone(), kind);
            None
        };
        match v.get_ref() {
            toml::Value::Integer(n) => match u32::try_from(*n) {
                Ok(t) if t != 0 => Some(IdentKey::Teid(t)),
                _ => bad(self, K::BadIdentifier(n.to_string())),
            },
            toml::Value::String(s) => {
                let s = s.trim();
                let (addr, len) = match s.split_once('/') {
                    Some((a, l)) => (a, Some(l)),
                    None => (s, None),
                };
                let Ok(ip) = addr.parse::<IpAddr>() else {
                    return bad(self, K::BadIdentifier(s.to_string()));
                };
                // An IPv4-mapped IPv6 address or prefix is stored as IPv4.
                let (width, bits) = addr_bits(ip);
                let offset: u8 = if width == 32 && ip.is_ipv6() { 96 } else { 0 };
                let len = match len {
                    None => width,
                    Some(l) => {
                        let parsed = (!l.is_empty()
                            && l.len() <= 3
                            && l.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| l.parse::<u8>().ok())
                        .flatten()
                        .and_then(|l| l.checked_sub(offset))
                        .filter(|&l| l <= width);
                        match parsed {
                            Some(l) => l,
                            None => return bad(self, K::BadCidr(s.to_string())),
                        }
                    }
                };
                if bits & !mask(width, len) != 0 {
                    return bad(self, K::BadCidr(s.to_string()));
                }
                Some(IdentKey::Prefix { width, bits, len })
            }
            other => bad(self, K::BadIdentifier(value_text(other))),
        }
    }

    fn profile(&mut self, name: &str, p: &ProfileModel) -> Profile {
        let f = |x: &str| format!("profile.{name}.{x}");
        let blocked_categories = self.categories(&p.blocked_categories, &f("blocked_categories"));
        let blocked_apps = self.apps(&p.blocked_apps, &f("blocked_apps"));
        let allowed_apps = self.apps(&p.allowed_apps, &f("allowed_apps"));
        let allowed_domains = self.domains(&p.allowed_domains, &f("allowed_domains"));

        if p.schedules.len() > usize::from(u16::MAX) {
            self.err(0..0, f("schedules"), K::TooMany("schedules"));
        }
        let windows: Vec<Window> = p
            .schedules
            .iter()
            .enumerate()
            .filter_map(|(i, w)| self.window(name, i, w))
            .collect();
        let mut boundaries = Vec::new();
        for w in &windows {
            w.push_boundaries(&mut boundaries);
        }
        boundaries.sort_unstable();
        boundaries.dedup();

        if p.quotas.len() > usize::from(u16::MAX) {
            self.err(0..0, f("quotas"), K::TooMany("quotas"));
        }
        let mut quotas: Vec<Quota> = Vec::new();
        for (i, q) in p.quotas.iter().enumerate() {
            let field = f(&format!("quotas[{i}]"));
            if let Some(quota) = self.quota(q, field.clone()) {
                if quotas.iter().any(|o| o.target == quota.target) {
                    self.err(q.span(), field, K::DuplicateQuota(quota.label.to_string()));
                } else {
                    quotas.push(quota);
                }
            }
        }

        let unknown = match &p.unknown {
            None => UnknownMode::Allow,
            Some(s) => match s.get_ref().trim() {
                "allow" => UnknownMode::Allow,
                "block" => UnknownMode::Block,
                other => {
                    self.err(s.span(), f("unknown"), K::BadUnknownMode(other.to_string()));
                    UnknownMode::Allow
                }
            },
        };

        // A profile that blocks nothing has nothing to get around.
        let blocks_anything = !p.blocked_categories.is_empty()
            || !p.blocked_apps.is_empty()
            || !p.schedules.is_empty()
            || !p.quotas.is_empty()
            || p.block_quic
            || p.block_doh
            || p.block_vpn
            || unknown == UnknownMode::Block;
        let evasion = match &p.evasion {
            None if blocks_anything => EvasionMode::Block,
            None => EvasionMode::Allow,
            Some(s) => match s.get_ref().trim() {
                "allow" => EvasionMode::Allow,
                "block" => EvasionMode::Block,
                other => {
                    self.err(s.span(), f("evasion"), K::BadUnknownMode(other.to_string()));
                    EvasionMode::Block
                }
            },
        };

        Profile {
            name: name.into(),
            blocked_categories,
            blocked_apps,
            allowed_apps,
            allowed_domains,
            windows: windows.into_boxed_slice(),
            boundaries: boundaries.into_boxed_slice(),
            quotas: quotas.into_boxed_slice(),
            block_quic: p.block_quic,
            block_doh: p.block_doh,
            block_vpn: p.block_vpn,
            unknown,
            evasion,
        }
    }

    fn window(&mut self, profile: &str, i: usize, w: &ScheduleModel) -> Option<Window> {
        let f = |x: &str| format!("profile.{profile}.schedules[{i}].{x}");
        let days = self.days(&w.days, f("days"));
        let start = parse_hhmm(w.start.get_ref(), false);
        if start.is_none() {
            self.err(
                w.start.span(),
                f("start"),
                K::BadTime(w.start.get_ref().clone()),
            );
        }
        let end = parse_hhmm(w.end.get_ref(), true);
        if end.is_none() {
            self.err(w.end.span(), f("end"), K::BadTime(w.end.get_ref().clone()));
        }
        let rules = WindowRules {
            block_all: w.block_all,
            allowed_categories: self.categories(&w.allowed_categories, &f("allowed_categories")),
            allowed_apps: self.apps(&w.allowed_apps, &f("allowed_apps")),
            allowed_domains: self.domains(&w.allowed_domains, &f("allowed_domains")),
            blocked_categories: self.categories(&w.blocked_categories, &f("blocked_categories")),
            blocked_apps: self.apps(&w.blocked_apps, &f("blocked_apps")),
        };
        let (days, start, end) = (days?, start?, end?);
        if start == end {
            let text = format!("{}-{}", w.start.get_ref(), w.end.get_ref());
            self.err(w.end.span(), f("end"), K::EmptyWindow(text));
            return None;
        }
        let name = match &w.name {
            Some(n) if !n.get_ref().trim().is_empty() => n.get_ref().trim().into(),
            _ => format!("{profile}#{}", i + 1).into_boxed_str(),
        };
        Some(Window {
            name,
            days,
            start,
            end,
            rules,
        })
    }

    fn days(&mut self, v: &Spanned<toml::Value>, field: String) -> Option<Days> {
        let mut days = Days::default();
        let mut bad: Option<String> = None;
        match v.get_ref() {
            toml::Value::String(s) => match Days::parse_one(s) {
                Some(d) => days = d,
                None => bad = Some(s.clone()),
            },
            toml::Value::Array(list) => {
                for item in list {
                    match item.as_str().and_then(Days::parse_one) {
                        Some(d) => days = days.union(d),
                        None => {
                            bad = Some(value_text(item));
                            break;
                        }
                    }
                }
                if list.is_empty() {
                    bad = Some("[]".into());
                }
            }
            other => bad = Some(value_text(other)),
        }
        if let Some(b) = bad {
            self.err(v.span(), field, K::BadDay(b));
            return None;
        }
        (!days.is_empty()).then_some(days)
    }

    fn quota(&mut self, q: &Spanned<QuotaModel>, field: String) -> Option<Quota> {
        let m = q.get_ref();
        let target = match (&m.app, &m.category) {
            (Some(app), None) => self
                .app(app, format!("{field}.app"))
                .map(|id| (QuotaTarget::App(id), app.get_ref().trim())),
            (None, Some(cat)) => self
                .category(cat, format!("{field}.category"))
                .map(|c| (QuotaTarget::Category(c), c.as_str())),
            _ => {
                self.err(q.span(), field.clone(), K::QuotaTarget);
                None
            }
        };
        let minutes = *m.minutes.get_ref();
        let minutes = match u16::try_from(minutes) {
            Ok(n) if (1..=1440).contains(&n) => Some(n),
            _ => {
                self.err(
                    m.minutes.span(),
                    format!("{field}.minutes"),
                    K::QuotaMinutes(minutes),
                );
                None
            }
        };
        let ((target, label), minutes) = (target?, minutes?);
        Some(Quota {
            target,
            label: label.into(),
            minutes,
        })
    }
}

/// A TOML value as it would be written, for error messages.
fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
