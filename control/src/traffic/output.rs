//! The JSON written to the output topics in flow mode: a decision (`policy-decisions`,
//! `schemas/policy-decisions.schema.json`) and a refused record (`network-traffic.dlq`,
//! `schemas/network-traffic-dlq.schema.json`). Blocks (`blocked-requests`) are
//! [`crate::events::BlockRecord`], the same format as packet replay's `--events`.
//!
//! Nothing here decides anything; the writers take what [`super::decider`] and
//! [`super::pipeline`] already know.

use super::record::{Invalid, TEXT_MAX};
use super::Origin;
use crate::events::{serialize_endpoint, IdempotencyKey};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use dataplane::engine::record::Rfc3339;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::net::SocketAddr;

/// Dead-letter key of a record whose flow id cannot be read.
pub const INVALID_KEY: &str = "invalid";

/// One decision of a flow, as written on `policy-decisions`; borrows what it shows, so writing
/// one allocates nothing but its JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionRecord<'a> {
    /// RFC 3339 UTC with nanoseconds: the record time the decision was made at.
    pub ts: Rfc3339,
    /// `flow_id:epoch:ts_ns`, the same as the block's on `blocked-requests`.
    pub idempotency_key: IdempotencyKey<'a>,
    pub flow_id: &'a str,
    /// The event of the record that led to the decision (`start`, `update`, `end`).
    pub event: &'static str,
    /// The id the policy lists, else the gateway's MSISDN or IMSI, else the UE address.
    pub subscriber: &'a str,
    /// `ip:port`, IPv6 as `[addr]:port`.
    #[serde(serialize_with = "serialize_endpoint")]
    pub client: SocketAddr,
    #[serde(serialize_with = "serialize_endpoint")]
    pub server: SocketAddr,
    pub name: Option<&'a str>,
    /// Where the name came from: `sni`, `quic_sni`, `host`, `dns_query` (the payload), or
    /// `gateway` (the record's `name`).
    pub name_source: Option<&'static str>,
    /// Catalog id of the application, when known.
    pub app: Option<&'a str>,
    pub category: Option<&'static str>,
    /// `allow` or `block`.
    pub verdict: &'static str,
    /// The rule that decided, e.g. `default`, `category:gambling`, `quota:youtube`.
    pub rule: &'a str,
    /// Epoch of the rules that decided.
    pub epoch: u64,
}

impl DecisionRecord<'_> {
    /// The record's JSON: the bytes `serde_json::to_vec` writes (fields in order, `null` for
    /// what is missing), written field by field, one for every decision published.
    pub fn to_json(&self) -> Vec<u8> {
        let mut j = Vec::with_capacity(512);
        j.extend_from_slice(b"{\"ts\":\"");
        j.extend_from_slice(&self.ts.bytes());
        j.extend_from_slice(b"\",\"idempotency_key\":");
        let key = &self.idempotency_key;
        if plain(key.flow_id) {
            j.push(b'"');
            j.extend_from_slice(key.flow_id.as_bytes());
            for n in [key.epoch, key.ts_ns] {
                j.push(b':');
                j.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            }
            j.push(b'"');
        } else {
            json_value(&mut j, key);
        }
        field(&mut j, "flow_id", self.flow_id);
        field(&mut j, "event", self.event);
        field(&mut j, "subscriber", self.subscriber);
        j.extend_from_slice(b",\"client\":");
        endpoint(&mut j, &self.client);
        j.extend_from_slice(b",\"server\":");
        endpoint(&mut j, &self.server);
        optional(&mut j, "name", self.name);
        optional(&mut j, "name_source", self.name_source);
        optional(&mut j, "app", self.app);
        optional(&mut j, "category", self.category);
        field(&mut j, "verdict", self.verdict);
        field(&mut j, "rule", self.rule);
        j.extend_from_slice(b",\"epoch\":");
        j.extend_from_slice(itoa::Buffer::new().format(self.epoch).as_bytes());
        j.push(b'}');
        j
    }
}

/// Whether serde_json writes `s` as it is between quotes (nothing to escape).
fn plain(s: &str) -> bool {
    s.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\')
}

/// Appends `value` as serde_json writes it (strings, addresses and keys always serialise).
fn json_value(j: &mut Vec<u8>, value: &impl Serialize) {
    let _ = serde_json::to_writer(j, value);
}

/// Appends `,"name":"value"`.
fn field(j: &mut Vec<u8>, name: &str, value: &str) {
    j.extend_from_slice(b",\"");
    j.extend_from_slice(name.as_bytes());
    j.extend_from_slice(b"\":");
    if plain(value) {
        j.push(b'"');
        j.extend_from_slice(value.as_bytes());
        j.push(b'"');
    } else {
        json_value(j, &value);
    }
}

/// Appends `,"name":"value"`, or `,"name":null`.
fn optional(j: &mut Vec<u8>, name: &str, value: Option<&str>) {
    match value {
        Some(v) => field(j, name, v),
        None => {
            j.extend_from_slice(b",\"");
            j.extend_from_slice(name.as_bytes());
            j.extend_from_slice(b"\":null");
        }
    }
}

/// Appends an endpoint as [`serialize_endpoint`] writes it.
fn endpoint(j: &mut Vec<u8>, a: &SocketAddr) {
    let _ = serialize_endpoint(a, &mut serde_json::Serializer::new(j));
}

/// A refused record, as written on `network-traffic.dlq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeadLetter<'a> {
    /// The reason code ([`super::record::Reason::as_str`]).
    pub reason: &'static str,
    /// Where and why, in words.
    pub detail: &'a str,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// The record as consumed, when it is UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<&'a str>,
    /// The record as consumed, base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_base64: Option<String>,
}

impl<'a> DeadLetter<'a> {
    pub fn new(payload: &'a [u8], invalid: &'a Invalid, origin: &Origin<'a>) -> DeadLetter<'a> {
        let text = std::str::from_utf8(payload).ok();
        DeadLetter {
            reason: invalid.reason.as_str(),
            detail: &invalid.detail,
            topic: origin.topic,
            partition: origin.partition,
            offset: origin.offset,
            record: text,
            record_base64: text.is_none().then(|| BASE64.encode(payload)),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The `flow_id` of a refused record, when it can still be read (a JSON object with a
/// non-empty string `flow_id` of at most [`TEXT_MAX`] bytes); the dead-letter key.
pub fn recover_flow_id(payload: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct JustTheId<'a> {
        #[serde(borrow)]
        flow_id: Cow<'a, str>,
    }
    let id = serde_json::from_slice::<JustTheId<'_>>(payload)
        .ok()?
        .flow_id;
    (!id.is_empty() && id.len() <= TEXT_MAX).then(|| id.into_owned())
}

/// Whether a flow's allows are published when one allow in `allow_sample` is (1: all, 0: none):
/// chosen by a stable hash of the flow id, so a redelivery or another instance chooses alike.
pub fn allow_sampled(flow_id: &str, allow_sample: u32) -> bool {
    match allow_sample {
        0 => false,
        1 => true,
        n => crate::events::stable_hash(flow_id.as_bytes()).is_multiple_of(u64::from(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::Reason;
    use super::*;
    use std::collections::BTreeSet;

    fn schema_fields(schema: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
        let set = |v: &serde_json::Value| -> BTreeSet<String> {
            match v {
                serde_json::Value::Array(a) => {
                    a.iter().map(|s| s.as_str().unwrap().to_owned()).collect()
                }
                serde_json::Value::Object(o) => o.keys().cloned().collect(),
                _ => panic!("not a list: {v}"),
            }
        };
        (set(&schema["required"]), set(&schema["properties"]))
    }

    fn keys(json: &[u8]) -> BTreeSet<String> {
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        v.as_object().unwrap().keys().cloned().collect()
    }

    fn decision() -> DecisionRecord<'static> {
        DecisionRecord {
            ts: Rfc3339(1_710_273_600_000_000_000),
            idempotency_key: IdempotencyKey {
                flow_id: "f1",
                epoch: 1,
                ts_ns: 1_710_273_600_000_000_000,
            },
            flow_id: "f1",
            event: "start",
            subscriber: "447700900001",
            client: "10.45.1.1:40001".parse().unwrap(),
            server: "198.51.100.7:443".parse().unwrap(),
            name: Some("www.bet365.com"),
            name_source: Some("gateway"),
            app: Some("bet365"),
            category: Some("gambling"),
            verdict: "block",
            rule: "category:gambling",
            epoch: 1,
        }
    }

    /// `to_json` writes what serde_json writes of the record: names with escapes or not, fields
    /// missing or not, IPv4 and IPv6.
    #[test]
    fn decisions_are_written_as_serde_json_writes_them() {
        let odd = [
            "",
            "plain",
            "a\"b",
            "back\\slash",
            "tab\there",
            "\u{1}\u{1f}",
            "é ☃ \u{7f}",
        ];
        let mut n = 0;
        for (i, s) in odd.iter().enumerate() {
            for v6 in [false, true] {
                for sparse in [false, true] {
                    let mut d = decision();
                    d.flow_id = s;
                    d.idempotency_key.flow_id = s;
                    d.subscriber = odd[(i + 1) % odd.len()];
                    d.rule = odd[(i + 2) % odd.len()];
                    d.epoch = u64::MAX - i as u64;
                    d.idempotency_key.ts_ns = i as u64;
                    if v6 {
                        d.client = "[2001:db8::1]:0".parse().unwrap();
                        d.server = "[::ffff:10.0.0.1]:65535".parse().unwrap();
                    }
                    if sparse {
                        d.name = None;
                        d.name_source = None;
                        d.app = None;
                        d.category = None;
                    } else {
                        d.name = Some(odd[(i + 3) % odd.len()]);
                    }
                    assert_eq!(
                        String::from_utf8(d.to_json()).unwrap(),
                        serde_json::to_string(&d).unwrap()
                    );
                    n += 1;
                }
            }
        }
        assert_eq!(n, odd.len() * 4);
    }

    /// The schema lists exactly the fields written; those it requires are always written.
    #[test]
    fn the_decision_schema_and_the_writer_agree_on_the_fields() {
        let (required, known) = schema_fields(include_str!(
            "../../../schemas/policy-decisions.schema.json"
        ));
        assert_eq!(keys(&decision().to_json()), known);
        let mut sparse = decision();
        sparse.name = None;
        sparse.name_source = None;
        sparse.app = None;
        sparse.category = None;
        let sparse: serde_json::Value = serde_json::from_slice(&sparse.to_json()).unwrap();
        for field in &required {
            assert!(
                !sparse[field.as_str()].is_null(),
                "{field} is required and written"
            );
        }
        assert!(required.is_subset(&known));
    }

    #[test]
    fn the_dead_letter_schema_and_the_writer_agree_on_the_fields() {
        let (required, known) = schema_fields(include_str!(
            "../../../schemas/network-traffic-dlq.schema.json"
        ));
        let invalid = Invalid {
            reason: Reason::BadL4,
            detail: "l4 \"sctp\" is not \"tcp\" or \"udp\"".into(),
        };
        let origin = Origin {
            topic: "network-traffic",
            partition: 3,
            offset: 42,
        };
        let text = DeadLetter::new(b"{\"l4\":\"sctp\"}", &invalid, &origin).to_json();
        let binary = DeadLetter::new(&[0xff, 0x00, 0x7b], &invalid, &origin).to_json();
        let (text_keys, binary_keys) = (keys(&text), keys(&binary));
        assert!(text_keys.contains("record") && !text_keys.contains("record_base64"));
        assert!(binary_keys.contains("record_base64") && !binary_keys.contains("record"));
        assert_eq!(
            text_keys
                .union(&binary_keys)
                .cloned()
                .collect::<BTreeSet<_>>(),
            known
        );
        assert!(required.is_subset(&text_keys) && required.is_subset(&binary_keys));
        let v: serde_json::Value = serde_json::from_slice(&binary).unwrap();
        assert_eq!(v["record_base64"], "/wB7");
        assert_eq!(v["reason"], "bad_l4");
    }

    #[test]
    fn the_flow_id_of_a_refused_record_is_recovered_when_readable() {
        assert_eq!(
            recover_flow_id(br#"{"flow_id":"pgw-9","l4":"sctp"}"#).as_deref(),
            Some("pgw-9")
        );
        assert_eq!(
            recover_flow_id(br#"{"flow_id":"a\"b"}"#).as_deref(),
            Some("a\"b")
        );
        assert_eq!(recover_flow_id(br#"{"flow_id":""}"#), None);
        assert_eq!(recover_flow_id(br#"{"flow_id":7}"#), None);
        assert_eq!(recover_flow_id(b"{\"flow_id\":\"x"), None);
        assert_eq!(recover_flow_id(&[0xff]), None);
    }

    #[test]
    fn allow_sampling_is_a_stable_function_of_the_flow_id() {
        assert!(allow_sampled("any", 1));
        assert!(!allow_sampled("any", 0));
        let ids: Vec<String> = (0..1000).map(|i| format!("pgw1-{i}")).collect();
        let picked: Vec<bool> = ids.iter().map(|id| allow_sampled(id, 10)).collect();
        let again: Vec<bool> = ids.iter().map(|id| allow_sampled(id, 10)).collect();
        assert_eq!(picked, again);
        let n = picked.iter().filter(|p| **p).count();
        assert!((50..=150).contains(&n), "about one in ten: {n}");
    }
}
