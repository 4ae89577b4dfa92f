//! The `network-traffic` record (JSON, one Kafka message), read by the quick reader for its
//! common form and by serde_json for the rest. Checks: a record read back from what it writes is
//! the same record; the same JSON laid out differently (pretty-printed, so the quick reader
//! passes it to serde_json) gives the same record too.
#![no_main]

use control::traffic::record::TrafficRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(rec) = TrafficRecord::parse(data) else {
        return;
    };
    let json = rec.to_json();
    let again = TrafficRecord::parse(&json);
    assert_eq!(
        again.as_ref(),
        Ok(&rec),
        "round trip through {}",
        String::from_utf8_lossy(&json)
    );
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let pretty = serde_json::to_vec_pretty(&value).expect("a Value serialises");
        let other = TrafficRecord::parse(&pretty);
        assert_eq!(
            other.as_ref(),
            Ok(&rec),
            "laid out as {}",
            String::from_utf8_lossy(&pretty)
        );
    }
});
