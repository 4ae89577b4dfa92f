//! The flow record: what `pcgate replay --flows` prints, one JSON object per line, for every flow
//! when it ends.

use super::enforce::Rules;
use crate::flow::Flow;
use crate::policy::Action;
use serde::Serialize;

/// A value per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PerDirection {
    pub c2s: u64,
    pub s2c: u64,
}

/// One flow, as printed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowRecord {
    pub l4: &'static str,
    /// `ip:port`, IPv6 as `[addr]:port`.
    pub client: String,
    pub server: String,
    /// `tls`, `quic`, `http`, `dns`, or null.
    pub proto: Option<&'static str>,
    pub name: Option<String>,
    /// `sni`, `quic_sni`, `host`, `dns_query`, `dns_answer`, or null.
    pub name_source: Option<&'static str>,
    pub alpn: Vec<String>,
    pub packets: PerDirection,
    pub bytes: PerDirection,
    /// RFC 3339 with nanoseconds, UTC.
    pub first_ts: String,
    pub last_ts: String,
    pub teid: Option<u32>,
    /// With rules: the application and category (null when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Option<&'static str>>,
    /// With a policy: the subscriber id (`default` for unlisted ones), and what was finally
    /// done to the flow: `block` when any of its packets was blocked (a block resets a TCP
    /// connection and drops UDP, so a flow blocked part-way is a blocked flow, even if a later
    /// packet would have been allowed), else `allow`; null when the flow was never decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriber: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Option<&'static str>>,
    /// The rule of `verdict`: the flow's first block, or the rule that allowed it last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Option<String>>,
    /// When `verdict` took effect (RFC 3339, UTC, ns, packet time): the first blocked packet,
    /// or the packet at which the last allow rule was first decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict_at: Option<Option<String>>,
    /// The flow's first verdict: `allow` here with `verdict` `block` is a flow blocked
    /// part-way (a schedule started, a quota ran out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_verdict: Option<Option<&'static str>>,
}

impl FlowRecord {
    /// The record of `flow`; with `rules`, also its application, and with a policy its
    /// subscriber and verdict.
    pub fn of(flow: &Flow, rules: Option<&Rules>) -> FlowRecord {
        let mut r = FlowRecord::named(flow);
        let Some(rules) = rules else { return r };
        let d = flow.decision.as_deref();
        let matched = d.and_then(|d| d.matched);
        r.app = Some(
            matched
                .and_then(|m| m.app)
                .and_then(|a| rules.catalog.app(a))
                .map(|a| a.id.clone()),
        );
        r.category = Some(matched.map(|m| m.category.as_str()));
        if let Some(state) = &rules.policy {
            let sub = d.map_or(crate::policy::SubscriberRef::Default, |d| d.subscriber);
            r.subscriber = Some(state.policy.subscriber_id(sub).to_owned());
            let (verdict, rule, at) = match (d.and_then(|d| d.first_block), d) {
                (Some(b), _) => (
                    Some(Action::Block),
                    Some(b.rule_label.as_str().to_owned()),
                    Some(b.ts_ns),
                ),
                (None, Some(d)) => match (d.verdict, d.current_since) {
                    (Some(v), since) => (
                        Some(v.action),
                        Some(state.policy.rule_label(v.rule).to_string()),
                        since.map(|(_, _, ts)| ts),
                    ),
                    (None, _) => (None, None, None),
                },
                (None, None) => (None, None, None),
            };
            r.verdict = Some(verdict.map(Action::as_str));
            r.rule = Some(rule);
            r.verdict_at = Some(at.map(rfc3339));
            r.first_verdict = Some(d.and_then(|d| d.first_action).map(Action::as_str));
        }
        r
    }

    fn named(flow: &Flow) -> FlowRecord {
        let name = flow.name.as_deref();
        FlowRecord {
            l4: flow.key.l4.as_str(),
            client: flow.client().to_string(),
            server: flow.server().to_string(),
            proto: name.and_then(|n| n.proto).map(|p| p.as_str()),
            name: name.and_then(|n| n.name.as_deref()).map(str::to_owned),
            name_source: name.and_then(|n| n.source).map(|s| s.as_str()),
            alpn: name.map_or_else(Vec::new, |n| n.alpn.iter().map(str::to_owned).collect()),
            packets: PerDirection {
                c2s: u64::from(flow.packets[0]),
                s2c: u64::from(flow.packets[1]),
            },
            bytes: PerDirection {
                c2s: flow.bytes[0],
                s2c: flow.bytes[1],
            },
            first_ts: rfc3339(flow.first_ts),
            last_ts: rfc3339(flow.last_ts),
            teid: flow.teid,
            app: None,
            category: None,
            subscriber: None,
            verdict: None,
            rule: None,
            verdict_at: None,
            first_verdict: None,
        }
    }
}

/// Nanoseconds since the epoch as RFC 3339 UTC with nanoseconds.
pub fn rfc3339(ts_ns: u64) -> String {
    Rfc3339(ts_ns).to_string()
}

/// Nanoseconds since the epoch, shown (and serialised) as RFC 3339 UTC with nanoseconds
/// (`2023-11-14T22:13:20.123456789Z`, as chrono's `to_rfc3339_opts(Nanos, true)`), without
/// allocating: output writers format it straight into their buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rfc3339(pub u64);

impl Rfc3339 {
    /// Length of the text: every `u64` of nanoseconds falls in years 1970..=2554.
    pub const LEN: usize = 30;

    /// The text, in a fixed buffer.
    pub fn bytes(self) -> [u8; Self::LEN] {
        const NS_PER_S: u64 = 1_000_000_000;
        let secs = self.0 / NS_PER_S;
        let nanos = self.0 % NS_PER_S;
        let (days, sod) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        let mut b = *b"0000-00-00T00:00:00.000000000Z";
        let mut put = |at: usize, width: usize, mut v: u64| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, sod / 3600);
        put(14, 2, sod / 60 % 60);
        put(17, 2, sod % 60);
        put(20, 9, nanos);
        b
    }
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`, for days >= 0).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.bytes();
        // Digits and ASCII punctuation only.
        f.write_str(std::str::from_utf8(&b).map_err(|_| std::fmt::Error)?)
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.bytes();
        s.serialize_str(std::str::from_utf8(&b).map_err(serde::ser::Error::custom)?)
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_are_rfc3339_utc_with_nanoseconds() {
        assert_eq!(
            rfc3339(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709551615Z");
    }

    /// The same text as chrono's, over leap years, century years and the whole `u64` range.
    #[test]
    fn rfc3339_agrees_with_chrono() {
        let chrono = |ts_ns: u64| {
            let t = chrono::DateTime::from_timestamp(
                (ts_ns / 1_000_000_000) as i64,
                (ts_ns % 1_000_000_000) as u32,
            )
            .expect("in chrono's range");
            t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        };
        let mut ts: u64 = 0;
        let mut checked = 0;
        while let Some(next) = ts.checked_add(86_399_999_999_937 + checked) {
            assert_eq!(rfc3339(ts), chrono(ts), "at {ts}");
            ts = next;
            checked += 1;
        }
        assert!(checked > 200_000, "{checked} days checked");
        for ts in [u64::MAX, 951_782_400_000_000_000, 4_107_542_399_999_999_999] {
            assert_eq!(rfc3339(ts), chrono(ts), "at {ts}");
        }
    }
}
