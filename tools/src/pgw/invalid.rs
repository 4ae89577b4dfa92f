//! Deliberately invalid records, for dead-letter tests: each made from a valid record by one
//! change that `TrafficRecord::parse` must refuse with a known [`Reason`]. The kinds come in a
//! fixed cycle, so a run's invalid records follow from its seed like everything else.

use control::traffic::record::{Reason, TrafficRecord};
use serde_json::{json, Value};

/// The kinds of damage, in the order they are applied.
pub const KINDS: [Reason; 8] = [
    Reason::NotJson,
    Reason::BadAddress,
    Reason::BadBase64,
    Reason::BadField,
    Reason::BadTime,
    Reason::BadL4,
    Reason::Inconsistent,
    Reason::TooLong,
];

/// Invalid record number `k` (0, 1, ...), made from `valid`: the JSON and the reason the
/// parser gives for it.
pub fn damaged(valid: &TrafficRecord, k: u64) -> (Vec<u8>, Reason) {
    let reason = KINDS
        .get((k % KINDS.len() as u64) as usize)
        .copied()
        .unwrap_or(Reason::NotJson);
    let json = valid.to_json();
    if reason == Reason::NotJson {
        // Cut in the middle: the object never closes.
        let cut = json.len() / 2;
        return (json.get(..cut).unwrap_or(&[]).to_vec(), reason);
    }
    let Ok(Value::Object(mut v)) = serde_json::from_slice::<Value>(&json) else {
        return (json, reason); // never: to_json writes an object
    };
    match reason {
        Reason::BadAddress => {
            v.insert("client".into(), json!("10.45.0.999:40000"));
        }
        Reason::BadBase64 => {
            v.insert("payload".into(), json!({"c2s": "not base64!", "s2c": null}));
        }
        Reason::BadField => {
            v.remove("flow_id");
        }
        Reason::BadTime => {
            v.insert("ts".into(), json!("2024-06-01 18:00:00"));
        }
        Reason::BadL4 => {
            v.insert("l4".into(), json!("sctp"));
        }
        Reason::Inconsistent => {
            v.insert("ue_ip".into(), json!("192.0.2.254"));
        }
        Reason::TooLong => {
            v.insert("name".into(), json!("a".repeat(300)));
        }
        Reason::NotJson => {}
    }
    (Value::Object(v).to_string().into_bytes(), reason)
}
