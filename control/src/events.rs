//! Block events as records: the JSON object written for each block (`pcgate replay --events`,
//! and the contract of the `blocked-requests` topic, `schemas/blocked-requests.schema.json`),
//! and tallies of blocks by application, category and subscriber for summaries.
//!
//! Every record carries a flow id and an idempotency key (`flow_id:epoch:decision time in ns`)
//! so that a consumer can drop the copies a redelivery makes. In flow mode the flow id is the
//! gateway's; from packets it is [`packet_flow_id`] (a hash of the flow's endpoints).

use dataplane::classify::Catalog;
use dataplane::engine::record::rfc3339;
use dataplane::policy::BlockEvent;
use serde::Serialize;
use std::collections::BTreeMap;

/// One block, as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockRecord {
    /// RFC 3339 UTC with nanoseconds: the packet (or record) time of the decision.
    pub ts: String,
    /// `flow_id:epoch:ts_ns`: the same block delivered twice has the same key.
    pub idempotency_key: String,
    /// The gateway's flow id (flow mode), or [`packet_flow_id`] (packets).
    pub flow_id: String,
    /// MSISDN or IMSI; from packets, `default` for subscribers the policy does not list; in flow
    /// mode the id the gateway gave for them (else the UE address).
    pub subscriber: String,
    pub client: String,
    pub server: String,
    pub name: Option<String>,
    /// Catalog id of the application (`tiktok`), when known.
    pub app: Option<String>,
    pub category: Option<&'static str>,
    /// The rule that decided, e.g. `category:gambling`, `schedule:school-nights`.
    pub rule: String,
    pub verdict: &'static str,
    /// Epoch of the rules that decided; with the flow it makes an idempotency key.
    pub epoch: u64,
}

/// The idempotency key of a flow's decision: `flow_id:epoch:ts_ns`.
pub fn idempotency_key(flow_id: &str, epoch: u64, ts_ns: u64) -> String {
    use std::fmt::Write as _;
    let mut key = String::with_capacity(flow_id.len() + 32);
    // Writing into a String cannot fail.
    let _ = write!(key, "{flow_id}:{epoch}:{ts_ns}");
    key
}

/// FNV-1a, 64 bits: a hash that is the same on every run, host and version.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The flow id of a block decided from packets: `p` and 16 hex digits of a stable hash of the
/// client and server. A block event does not carry the flow's first packet time; the
/// idempotency key adds the decision time, so blocks of successive flows on one 5-tuple differ.
pub fn packet_flow_id(ev: &BlockEvent) -> String {
    let mut text = String::with_capacity(96);
    use std::fmt::Write as _;
    // Writing into a String cannot fail.
    let _ = write!(text, "{}>{}", ev.client, ev.server);
    format!("p{:016x}", stable_hash(text.as_bytes()))
}

impl BlockRecord {
    /// The record of a block decided from packets.
    pub fn of(ev: &BlockEvent, catalog: &Catalog) -> BlockRecord {
        let flow_id = packet_flow_id(ev);
        let subscriber = ev.subscriber_id.as_str().to_owned();
        BlockRecord::of_flow(ev, catalog, flow_id, subscriber)
    }

    /// The record of a block of the flow `flow_id`, for `subscriber`.
    pub fn of_flow(
        ev: &BlockEvent,
        catalog: &Catalog,
        flow_id: String,
        subscriber: String,
    ) -> BlockRecord {
        BlockRecord {
            ts: rfc3339(ev.ts_ns),
            idempotency_key: idempotency_key(&flow_id, ev.epoch, ev.ts_ns),
            flow_id,
            subscriber,
            client: ev.client.to_string(),
            server: ev.server.to_string(),
            name: ev.name().map(str::to_owned),
            app: ev.app.and_then(|a| catalog.app(a)).map(|a| a.id.clone()),
            category: ev.category.map(|c| c.as_str()),
            rule: ev.rule_label.as_str().to_owned(),
            verdict: ev.action.as_str(),
            epoch: ev.epoch,
        }
    }
}

/// Blocks counted by application, category and subscriber.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockTally {
    pub total: u64,
    pub by_app: BTreeMap<String, u64>,
    pub by_category: BTreeMap<String, u64>,
    pub by_subscriber: BTreeMap<String, u64>,
}

impl BlockTally {
    pub fn add(&mut self, r: &BlockRecord) {
        self.total += 1;
        let app = r.app.clone().unwrap_or_else(|| "(unknown)".into());
        *self.by_app.entry(app).or_default() += 1;
        let category = r.category.unwrap_or("(unknown)").to_owned();
        *self.by_category.entry(category).or_default() += 1;
        *self.by_subscriber.entry(r.subscriber.clone()).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::classify::{AppNames, Category, Match};
    use dataplane::policy::{Policy, Query, QuotaLedger};

    const POLICY: &str = r#"default_profile = "kid"
[profile.kid]
blocked_categories = ["gambling"]
"#;

    #[test]
    fn block_record_names_app_category_rule_and_subscriber() {
        let catalog = Catalog::embedded_default().expect("embedded catalog");
        let policy = Policy::from_toml_str(POLICY, "test.toml", &catalog).expect("policy");
        let bet365 = catalog.app_id("bet365").expect("bet365 in the catalog");
        let q = Query {
            subscriber: policy.subscriber_for("10.0.0.1".parse().unwrap(), None),
            ts_ns: 1_700_000_000_000_000_000,
            l4_is_udp: false,
            is_quic: false,
            name: Some("www.bet365.com"),
            matched: Some(Match {
                app: Some(bet365),
                category: Category::Gambling,
            }),
            server: "198.51.100.1:443".parse().unwrap(),
        };
        let v = policy.decide(&q, &QuotaLedger::for_policy(&policy));
        let ev = BlockEvent::new(&policy, &q, "10.0.0.1:50000".parse().unwrap(), &v);
        let r = BlockRecord::of(&ev, &catalog);
        assert_eq!(r.verdict, "block");
        assert_eq!(r.app.as_deref(), Some("bet365"));
        assert_eq!(r.category, Some("gambling"));
        assert_eq!(r.rule, "category:gambling");
        assert_eq!(r.subscriber, "default");
        assert_eq!(r.name.as_deref(), Some("www.bet365.com"));
        assert_eq!(r.ts, "2023-11-14T22:13:20.000000000Z");
        assert_eq!(r.flow_id, packet_flow_id(&ev));
        assert!(
            r.flow_id.starts_with('p') && r.flow_id.len() == 17,
            "{}",
            r.flow_id
        );
        assert_eq!(
            r.idempotency_key,
            format!("{}:0:1700000000000000000", r.flow_id),
            "flow id, epoch (an unpublished policy: 0), decision time"
        );

        let mut tally = BlockTally::default();
        tally.add(&r);
        tally.add(&r);
        assert_eq!(tally.total, 2);
        assert_eq!(tally.by_app.get("bet365"), Some(&2));
        assert_eq!(tally.by_category.get("gambling"), Some(&2));
        assert_eq!(tally.by_subscriber.get("default"), Some(&2));
    }

    /// The schema lists exactly the fields written; those it requires are never null.
    #[test]
    fn the_blocked_requests_schema_and_the_writer_agree_on_the_fields() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schemas/blocked-requests.schema.json"))
                .unwrap();
        let r = BlockRecord {
            ts: "2024-03-12T21:00:00.000000000Z".into(),
            idempotency_key: "f:1:1710277200000000000".into(),
            flow_id: "f".into(),
            subscriber: "447700900001".into(),
            client: "10.45.1.1:40001".into(),
            server: "198.51.100.7:443".into(),
            name: None,
            app: None,
            category: None,
            rule: "schedule:school-nights".into(),
            verdict: "block",
            epoch: 1,
        };
        let written: serde_json::Value = serde_json::to_value(&r).unwrap();
        let written = written.as_object().unwrap();
        let known: std::collections::BTreeSet<&String> =
            schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(
            written.keys().collect::<std::collections::BTreeSet<_>>(),
            known
        );
        for field in schema["required"].as_array().unwrap() {
            let field = field.as_str().unwrap();
            assert!(!written[field].is_null(), "{field} is required");
        }
    }
}
