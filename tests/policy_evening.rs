//! An evening of five subscribers (`fixtures/pcaps/evening.pcap`, made by `tools/`'s fixture
//! generator, see `tools/src/evening.rs`) decided by `fixtures/policy-evening.toml`: the set of
//! block events must be exactly the one derived below by hand from the scenario and the policy,
//! with one worker and with two; a few allowed flows are checked too.
//!
//! Tuesday 2024-03-12: London is on GMT (UTC+0), New York on EDT (UTC-4).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Runs the replay with `workers` workers; returns (block events, flows) as JSON values.
fn replay(workers: &str) -> (Vec<Value>, Vec<Value>) {
    static RUN: AtomicU32 = AtomicU32::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("pcgate-evening-{}-{run}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (events, flows) = (dir.join("events.jsonl"), dir.join("flows.jsonl"));
    let out = Command::new(env!("CARGO_BIN_EXE_pcgate"))
        .args(["replay", "--workers", workers, "--policy"])
        .arg(root().join("fixtures/policy-evening.toml"))
        .arg("--events")
        .arg(&events)
        .arg("--flows")
        .arg(&flows)
        .arg(root().join("fixtures/pcaps/evening.pcap"))
        .output()
        .expect("run pcgate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |p: &Path| -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    };
    let result = (read(&events), read(&flows));
    std::fs::remove_dir_all(&dir).ok();
    result
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// (subscriber, client, rule, time to the second) of every block the evening must produce.
const EXPECTED_BLOCKS: [(&str, &str, &str, &str); 11] = [
    // Amy (child, London). 18:30: gambling is a blocked category.
    (
        "447700900001",
        "10.45.1.1:50002",
        "category:gambling",
        "2024-03-12T18:30:00",
    ),
    // 19:00: TikTok is a blocked app.
    (
        "447700900001",
        "10.45.1.1:50003",
        "app:tiktok",
        "2024-03-12T19:00:00",
    ),
    // 19:05: Roblox is gaming, blocked (Minecraft at 19:10 is allowed by allowed_apps).
    (
        "447700900001",
        "10.45.1.1:50004",
        "category:gaming",
        "2024-03-12T19:05:00",
    ),
    // 19:20: YouTube is allowed, but over QUIC and the profile blocks QUIC.
    (
        "447700900001",
        "10.45.1.1:50006",
        "quic",
        "2024-03-12T19:20:00",
    ),
    // 19:30: dns.google over HTTPS is a DoH resolver; the profile blocks DoH.
    (
        "447700900001",
        "10.45.1.1:50007",
        "doh",
        "2024-03-12T19:30:00",
    ),
    // The YouTube connection opened at 20:59:30 sends every 20 s: allowed at 20:59:30 and
    // 20:59:50, blocked from its first packet after 21:00 (21:00:10), when school-nights starts.
    (
        "447700900001",
        "10.45.1.1:50008",
        "schedule:school-nights",
        "2024-03-12T21:00:10",
    ),
    // Ben (teen, 30 minutes of YouTube): one connection sends a packet a minute from 19:00, so
    // minutes 19:00 to 19:29 use the 30 minutes and its packet of 19:30 is blocked...
    (
        "447700900002",
        "10.45.1.2:51001",
        "quota:youtube",
        "2024-03-12T19:30:00",
    ),
    // ...and a second one, from 19:10:30 at :30 past each minute, counts no minute of its own
    // (the first counted them already); at 19:29:30 minute 19:29 is counted: 30 used, blocked.
    (
        "447700900002",
        "10.45.1.2:51003",
        "quota:youtube",
        "2024-03-12T19:29:30",
    ),
    // Cleo (child, New York): 21:35 UTC is 17:35 there, outside school-nights, but a DNS query
    // for an adult site is blocked by category.
    (
        "12125550003",
        "10.45.1.3:52002",
        "category:adult",
        "2024-03-12T21:35:00",
    ),
    // Dan (strict): an opaque TCP flow has no name; unknown = "block".
    (
        "447700900004",
        "10.45.1.4:53001",
        "unknown",
        "2024-03-12T20:00:00",
    ),
    // An unlisted line: the default profile blocks adult content.
    (
        "default",
        "10.45.9.9:54001",
        "category:adult",
        "2024-03-12T20:10:00",
    ),
];

/// Two workers run twice: quota minutes are shared by a subscriber's flows, so this also
/// checks that the result does not depend on how the workers' threads interleave. Three
/// workers put every flow on a thread other than the dispatching one.
#[test]
fn evening_blocks_are_exactly_the_expected_ones_with_one_two_and_three_workers() {
    for workers in ["1", "2", "2", "3"] {
        let (events, _) = replay(workers);
        let mut got: Vec<(String, String, String, String)> = events
            .iter()
            .map(|e| {
                assert_eq!(text(e, "verdict"), "block");
                (
                    text(e, "subscriber").to_owned(),
                    text(e, "client").to_owned(),
                    text(e, "rule").to_owned(),
                    text(e, "ts").get(..19).unwrap_or("").to_owned(),
                )
            })
            .collect();
        let mut want: Vec<(String, String, String, String)> = EXPECTED_BLOCKS
            .iter()
            .map(|&(s, c, r, t)| (s.into(), c.into(), r.into(), t.into()))
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "with {workers} workers");
    }
}

#[test]
fn evening_overrides_and_time_zones_allow_what_they_should() {
    let (_, flows) = replay("1");
    let verdict = |client: &str| -> (String, String) {
        let f = flows
            .iter()
            .find(|f| text(f, "client") == client)
            .unwrap_or_else(|| panic!("no flow from {client}"));
        (text(f, "verdict").to_owned(), text(f, "rule").to_owned())
    };
    let allow = |rule: &str| ("allow".to_owned(), rule.to_owned());
    // Minecraft is gaming, allowed by allowed_apps.
    assert_eq!(verdict("10.45.1.1:50005"), allow("allowed_app:minecraft"));
    // Khan Academy at 21:30, inside school-nights: allowed_apps beat schedules.
    assert_eq!(
        verdict("10.45.1.1:50009"),
        allow("allowed_app:khan_academy")
    );
    // Cleo's YouTube at 21:30 UTC is 17:30 in New York: before her school-nights window.
    assert_eq!(verdict("10.45.1.3:52001"), allow("default"));
    // The unlisted line may gamble (the default profile blocks adult content only).
    assert_eq!(verdict("10.45.9.9:54002"), allow("default"));
}

/// Every flow's record says what was finally done to it: the flows with a block event are
/// `block`, by the rule and at the time of their (first) block; three were allowed first and
/// blocked part-way (bedtime began, the quota ran out); every other flow is `allow`.
#[test]
fn evening_flow_records_carry_the_final_verdict_its_rule_and_when() {
    let part_way = ["10.45.1.1:50008", "10.45.1.2:51001", "10.45.1.2:51003"];
    for workers in ["1", "2"] {
        let (events, flows) = replay(workers);
        for f in &flows {
            let client = text(f, "client");
            let got = (
                text(f, "verdict"),
                text(f, "rule"),
                text(f, "verdict_at"),
                text(f, "first_verdict"),
            );
            match events.iter().find(|e| text(e, "client") == client) {
                Some(e) => {
                    let first = if part_way.contains(&client) {
                        "allow"
                    } else {
                        "block"
                    };
                    let want = ("block", text(e, "rule"), text(e, "ts"), first);
                    assert_eq!(got, want, "{client} with {workers} workers");
                }
                None => {
                    assert_eq!(
                        (got.0, got.3),
                        ("allow", "allow"),
                        "{client} with {workers} workers"
                    );
                    assert!(
                        got.2 >= text(f, "first_ts") && got.2 <= text(f, "last_ts"),
                        "{client}: allowed at {} outside the flow",
                        got.2
                    );
                }
            }
        }
        let mut blocked_part_way: Vec<&str> = flows
            .iter()
            .filter(|f| text(f, "first_verdict") == "allow" && text(f, "verdict") == "block")
            .map(|f| text(f, "client"))
            .collect();
        blocked_part_way.sort_unstable();
        assert_eq!(blocked_part_way, part_way, "with {workers} workers");
    }
}
