//! Block events as records: the JSON object written for each block (`pcgate replay --events`,
//! and the contract of the `blocked-requests` topic, `schemas/blocked-requests.schema.json`),
//! and tallies of blocks by application, category and subscriber for summaries.
//!
//! Every record carries a flow id and an idempotency key (`flow_id:epoch:decision time in ns`)
//! so that a consumer can drop the copies a redelivery makes. In flow mode the flow id is the
//! gateway's; from packets it is [`packet_flow_id`] (a hash of the flow's endpoints).

use dataplane::classify::Catalog;
use dataplane::engine::record::Rfc3339;
use dataplane::policy::BlockEvent;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

/// One block, as written; borrows what it shows, so writing one allocates nothing but its JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockRecord<'a> {
    /// RFC 3339 UTC with nanoseconds: the packet (or record) time of the decision.
    pub ts: Rfc3339,
    /// `flow_id:epoch:ts_ns`: the same block delivered twice has the same key.
    pub idempotency_key: IdempotencyKey<'a>,
    /// The gateway's flow id (flow mode), or [`packet_flow_id`] (packets).
    pub flow_id: &'a str,
    /// MSISDN or IMSI; from packets, `default` for subscribers the policy does not list; in flow
    /// mode the id the gateway gave for them (else the UE address).
    pub subscriber: &'a str,
    /// `ip:port`, IPv6 as `[addr]:port`.
    #[serde(serialize_with = "serialize_endpoint")]
    pub client: SocketAddr,
    #[serde(serialize_with = "serialize_endpoint")]
    pub server: SocketAddr,
    pub name: Option<&'a str>,
    /// Catalog id of the application (`tiktok`), when known.
    pub app: Option<&'a str>,
    pub category: Option<&'static str>,
    /// The rule that decided, e.g. `category:gambling`, `schedule:school-nights`.
    pub rule: &'a str,
    pub verdict: &'static str,
    /// Epoch of the rules that decided; with the flow it makes an idempotency key.
    pub epoch: u64,
}

/// The idempotency key of a flow's decision, `flow_id:epoch:ts_ns`, shown (and serialised as
/// a string) without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdempotencyKey<'a> {
    pub flow_id: &'a str,
    pub epoch: u64,
    pub ts_ns: u64,
}

impl fmt::Display for IdempotencyKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The numbers by itoa: written for every output, and `write!` of integers is slow.
        f.write_str(self.flow_id)?;
        f.write_str(":")?;
        f.write_str(itoa::Buffer::new().format(self.epoch))?;
        f.write_str(":")?;
        f.write_str(itoa::Buffer::new().format(self.ts_ns))
    }
}

/// Serialises an endpoint as its `Display` text (`ip:port`, IPv6 as `[addr]:port`); an IPv4
/// one without the formatting machinery (two of them in every output record).
pub fn serialize_endpoint<S: serde::Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    let SocketAddr::V4(v4) = a else {
        return s.collect_str(a);
    };
    // "255.255.255.255:65535"
    let mut text = [0u8; 21];
    let mut n = 0;
    let mut put = |part: &[u8]| {
        text[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    };
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            put(b".");
        }
        put(itoa::Buffer::new().format(octet).as_bytes());
    }
    put(b":");
    put(itoa::Buffer::new().format(v4.port()).as_bytes());
    match std::str::from_utf8(&text[..n]) {
        Ok(t) => s.serialize_str(t),
        Err(_) => s.collect_str(a),
    }
}

impl Serialize for IdempotencyKey<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The idempotency key of a flow's decision: `flow_id:epoch:ts_ns`.
pub fn idempotency_key(flow_id: &str, epoch: u64, ts_ns: u64) -> String {
    IdempotencyKey {
        flow_id,
        epoch,
        ts_ns,
    }
    .to_string()
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

impl<'a> BlockRecord<'a> {
    /// The record of a block decided from packets, under its [`packet_flow_id`].
    pub fn of(ev: &'a BlockEvent, catalog: &'a Catalog, flow_id: &'a str) -> BlockRecord<'a> {
        BlockRecord::of_flow(ev, catalog, flow_id, ev.subscriber_id.as_str())
    }

    /// The record of a block of the flow `flow_id`, for `subscriber`.
    pub fn of_flow(
        ev: &'a BlockEvent,
        catalog: &'a Catalog,
        flow_id: &'a str,
        subscriber: &'a str,
    ) -> BlockRecord<'a> {
        BlockRecord {
            ts: Rfc3339(ev.ts_ns),
            idempotency_key: IdempotencyKey {
                flow_id,
                epoch: ev.epoch,
                ts_ns: ev.ts_ns,
            },
            flow_id,
            subscriber,
            client: ev.client,
            server: ev.server,
            name: ev.name(),
            app: ev.app.and_then(|a| catalog.app(a)).map(|a| a.id.as_str()),
            category: ev.category.map(|c| c.as_str()),
            rule: ev.rule_label.as_str(),
            verdict: ev.action.as_str(),
            epoch: ev.epoch,
        }
    }

    /// The record as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = Vec::with_capacity(512);
        // Strings, addresses and integers always serialise.
        let _ = serde_json::to_writer(&mut json, self);
        json
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
        let app = r.app.unwrap_or("(unknown)").to_owned();
        *self.by_app.entry(app).or_default() += 1;
        let category = r.category.unwrap_or("(unknown)").to_owned();
        *self.by_category.entry(category).or_default() += 1;
        *self
            .by_subscriber
            .entry(r.subscriber.to_owned())
            .or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::classify::{AppNames, Category, Match};
    use dataplane::policy::{Policy, Query, QuotaLedger};

    /// Endpoints and idempotency keys are written as `Display` (and serde's own `SocketAddr`)
    /// would write them.
    #[test]
    fn endpoints_and_keys_are_written_as_display_writes_them() {
        #[derive(Serialize)]
        struct E(#[serde(serialize_with = "serialize_endpoint")] SocketAddr);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut addrs: Vec<SocketAddr> = [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.45.1.1:40001",
            "1.20.255.9:80",
            "[::1]:443",
            "[2001:db8::8a2e:370:7334]:0",
            "[::ffff:1.2.3.4]:53",
            "[fe80::1%7]:9",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        for _ in 0..2_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let ip = std::net::Ipv4Addr::from((seed >> 16) as u32);
            addrs.push(SocketAddr::new(ip.into(), seed as u16));
        }
        for a in addrs {
            let ours = serde_json::to_string(&E(a)).unwrap();
            assert_eq!(ours, serde_json::to_string(&a).unwrap());
            assert_eq!(ours, format!("\"{a}\""));
        }
        for (flow_id, epoch, ts) in [("f", 0, 0), ("pgw1-9", 7, u64::MAX), ("a\"b", 12, 1_700)] {
            let key = IdempotencyKey {
                flow_id,
                epoch,
                ts_ns: ts,
            };
            assert_eq!(key.to_string(), format!("{flow_id}:{epoch}:{ts}"));
        }
    }

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
            evasive: false,
        };
        let v = policy.decide(&q, &QuotaLedger::for_policy(&policy));
        let ev = BlockEvent::new(&policy, &q, "10.0.0.1:50000".parse().unwrap(), &v);
        let flow_id = packet_flow_id(&ev);
        let r = BlockRecord::of(&ev, &catalog, &flow_id);
        assert_eq!(r.verdict, "block");
        assert_eq!(r.app, Some("bet365"));
        assert_eq!(r.category, Some("gambling"));
        assert_eq!(r.rule, "category:gambling");
        assert_eq!(r.subscriber, "default");
        assert_eq!(r.name, Some("www.bet365.com"));
        assert_eq!(r.ts.to_string(), "2023-11-14T22:13:20.000000000Z");
        assert!(
            r.flow_id.starts_with('p') && r.flow_id.len() == 17,
            "{}",
            r.flow_id
        );
        assert_eq!(
            r.idempotency_key.to_string(),
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
            ts: Rfc3339(1_710_277_200_000_000_000),
            idempotency_key: IdempotencyKey {
                flow_id: "f",
                epoch: 1,
                ts_ns: 1_710_277_200_000_000_000,
            },
            flow_id: "f",
            subscriber: "447700900001",
            client: "10.45.1.1:40001".parse().unwrap(),
            server: "198.51.100.7:443".parse().unwrap(),
            name: None,
            app: None,
            category: None,
            rule: "schedule:school-nights",
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
