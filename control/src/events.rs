//! Block events as records: the JSON object written for each block (`pcgate replay --events`,
//! and the contract of the `blocked-requests` topic), and tallies of blocks by application,
//! category and subscriber for summaries.

use dataplane::classify::Catalog;
use dataplane::engine::record::rfc3339;
use dataplane::policy::BlockEvent;
use serde::Serialize;
use std::collections::BTreeMap;

/// One block, as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockRecord {
    /// RFC 3339 UTC with nanoseconds: the packet time of the decision.
    pub ts: String,
    /// MSISDN or IMSI; `default` for subscribers the policy does not list.
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

impl BlockRecord {
    pub fn of(ev: &BlockEvent, catalog: &Catalog) -> BlockRecord {
        BlockRecord {
            ts: rfc3339(ev.ts_ns),
            subscriber: ev.subscriber_id.as_str().to_owned(),
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

        let mut tally = BlockTally::default();
        tally.add(&r);
        tally.add(&r);
        assert_eq!(tally.total, 2);
        assert_eq!(tally.by_app.get("bet365"), Some(&2));
        assert_eq!(tally.by_category.get("gambling"), Some(&2));
        assert_eq!(tally.by_subscriber.get("default"), Some(&2));
    }
}
