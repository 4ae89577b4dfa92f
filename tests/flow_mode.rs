//! Flow mode against packet mode on identical traffic: `pgw-sim`'s generator writes a gateway's
//! `network-traffic` records, the same traffic as a GTP-U capture and a policy for its
//! subscribers; `pcgate replay --events` of the capture and `pcgate consume --input` of the
//! records must block the same flows of the same subscribers by the same rules.
//!
//! Times are not compared: a packet is decided when its ClientHello arrives, a record at its own
//! time (the flow's first packet), a few milliseconds earlier.

use pcgate_tools::pgw::{self, Config, Generator};
use pcgate_tools::synth;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

const SUBSCRIBERS: u32 = 40;
const FLOWS: u64 = 2_000;

/// (subscriber, client, server) -> (name, app, rule) of every block.
type Blocks = BTreeMap<(String, String, String), (String, String, String)>;

fn text(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn blocks<'a>(lines: impl Iterator<Item = &'a Value>) -> Blocks {
    let mut out = Blocks::new();
    for b in lines {
        let key = (text(b, "subscriber"), text(b, "client"), text(b, "server"));
        let val = (text(b, "name"), text(b, "app"), text(b, "rule"));
        assert!(
            out.insert(key.clone(), val).is_none(),
            "two blocks of {key:?}"
        );
    }
    out
}

fn pcgate(args: &[&str], dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pcgate"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run pcgate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pcgate {args:?}: {stderr}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Writes records, capture and policy of one simulated gateway into `dir`.
fn simulate(dir: &Path, no_msisdn: f64, invalid_every: Option<u64>) {
    let cfg = Config {
        synth: synth::Config {
            subscribers: SUBSCRIBERS,
            flows: Some(FLOWS),
            seed: 7,
            ..Config::default().synth
        },
        no_msisdn_fraction: no_msisdn,
        invalid_every,
        ..Config::default()
    };
    std::fs::write(dir.join("policy.toml"), pgw::policy_toml(SUBSCRIBERS)).unwrap();
    let pcap = BufWriter::new(File::create(dir.join("traffic.pcap")).unwrap());
    let mut records = BufWriter::new(File::create(dir.join("records.jsonl")).unwrap());
    let mut gen = Generator::with_capture(&cfg, pcap).unwrap();
    while let Some(e) = gen.next_record().unwrap() {
        records.write_all(&e.json).unwrap();
        records.write_all(b"\n").unwrap();
    }
    records.flush().unwrap();
    let summary = gen.finish().unwrap();
    assert_eq!(summary.flows, FLOWS);
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn compare(dir: &Path) -> (Blocks, Vec<Value>) {
    pcgate(
        &[
            "replay",
            "traffic.pcap",
            "--policy",
            "policy.toml",
            "--events",
            "packet-blocks.jsonl",
        ],
        dir,
    );
    let packet = json_lines(&std::fs::read_to_string(dir.join("packet-blocks.jsonl")).unwrap());
    let flow_out = json_lines(&pcgate(
        &[
            "consume",
            "--input",
            "records.jsonl",
            "--policy",
            "policy.toml",
        ],
        dir,
    ));
    let on = |topic: &str| -> Vec<Value> {
        flow_out
            .iter()
            .filter(|l| l["topic"] == topic)
            .map(|l| l["value"].clone())
            .collect()
    };
    let flow_blocks = on("blocked-requests");
    let decided_blocks: Vec<Value> = on("policy-decisions")
        .into_iter()
        .filter(|d| d["verdict"] == "block")
        .collect();
    let flow = blocks(flow_blocks.iter());
    assert_eq!(
        flow,
        blocks(decided_blocks.iter()),
        "every block is also a decision"
    );
    let packet = blocks(packet.iter());
    let only_packet: Vec<_> = packet
        .iter()
        .filter(|(k, _)| !flow.contains_key(*k))
        .collect();
    let only_flow: Vec<_> = flow
        .iter()
        .filter(|(k, _)| !packet.contains_key(*k))
        .collect();
    assert!(
        only_packet.is_empty() && only_flow.is_empty(),
        "blocked only in packet mode: {only_packet:?}\nblocked only in flow mode: {only_flow:?}"
    );
    assert_eq!(packet, flow, "same names, apps and rules");
    (flow, on("network-traffic.dlq"))
}

#[test]
fn flow_mode_blocks_what_packet_mode_blocks_on_the_same_traffic() {
    let dir = scratch("flow-mode-same-traffic");
    simulate(&dir, 0.0, None);
    let (blocks, dlq) = compare(&dir);
    let rules: std::collections::BTreeSet<&str> = blocks.values().map(|v| v.2.as_str()).collect();
    println!("{} blocks in both modes, by rules {rules:?}", blocks.len());
    assert!(blocks.len() > 200, "a policy with teeth: {}", blocks.len());
    assert!(rules.len() >= 3, "several kinds of rule: {rules:?}");
    assert!(dlq.is_empty());
}

/// Records without MSISDN find their subscriber by UE address and TEID, as packets do; invalid
/// records go to the dead-letter topic with their reason and change nothing else.
#[test]
fn subscribers_come_from_the_session_table_and_bad_records_go_to_the_dead_letter_topic() {
    let dir = scratch("flow-mode-sessions-dlq");
    simulate(&dir, 0.5, Some(50));
    let (blocks, dlq) = compare(&dir);
    assert!(blocks.len() > 200);
    assert!(
        dlq.len() >= 50,
        "one bad record after every 50: {}",
        dlq.len()
    );
    let reasons: std::collections::BTreeSet<String> =
        dlq.iter().map(|d| text(d, "reason")).collect();
    assert_eq!(reasons.len(), 8, "every kind of damage: {reasons:?}");
    assert!(dlq
        .iter()
        .all(|d| d["offset"].as_i64().is_some_and(|o| o > 0)));
}
