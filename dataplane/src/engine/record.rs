//! The flow record: what `pcgate replay --flows` prints, one JSON object per line, for every flow
//! when it ends.

use super::enforce::Rules;
use crate::flow::Flow;
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
    /// With a policy: the subscriber id (`default` for unlisted ones), the last verdict
    /// (`allow`/`block`, null when the flow was never decided) and the rule that gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriber: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Option<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Option<String>>,
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
            let verdict = d.and_then(|d| d.verdict);
            r.verdict = Some(verdict.map(|v| v.action.as_str()));
            r.rule = Some(verdict.map(|v| state.policy.rule_label(v.rule).to_string()));
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
        }
    }
}

/// Nanoseconds since the epoch as RFC 3339 UTC with nanoseconds.
pub fn rfc3339(ts_ns: u64) -> String {
    let secs = (ts_ns / 1_000_000_000) as i64;
    let nanos = (ts_ns % 1_000_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        None => ts_ns.to_string(),
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
    }
}
