//! Tests of the synthesizer as a whole: determinism, the expected file against the capture, the
//! traffic's shape, and pcgate's engine naming every flow as expected.

use std::collections::HashMap;

use dataplane::capture::Capture;
use dataplane::engine::replay::{replay_files, ReplayConfig, ReplaySink};

use super::*;
use crate::flow::ExpectedFlow;

fn small(seed: u64, flows: u64) -> Config {
    Config {
        seed,
        subscribers: 50,
        flows: Some(flows),
        ..Config::default()
    }
}

fn run(cfg: &Config) -> (Vec<u8>, Vec<ExpectedFlow>, Summary) {
    let mut cap = Vec::new();
    let mut exp = Vec::new();
    let s = generate(cfg, &mut cap, &mut exp).unwrap();
    let exp = String::from_utf8(exp)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (cap, exp, s)
}

/// (timestamp, wire length) of every record, read back by pcgate's capture reader.
fn records(bytes: Vec<u8>) -> Vec<(u64, usize)> {
    let cap = Capture::from_bytes("synth", bytes).unwrap();
    cap.packets()
        .map(|p| {
            let p = p.expect("no damaged record");
            (p.ts_ns, p.data.len())
        })
        .collect()
}

#[test]
fn the_same_seed_writes_the_same_bytes_and_another_seed_does_not() {
    let (a, ea, _) = run(&small(7, 300));
    let (b, eb, _) = run(&small(7, 300));
    let (c, _, _) = run(&small(8, 300));
    assert_eq!(a, b);
    assert_eq!(ea, eb);
    assert_ne!(a, c);
}

#[test]
fn the_expected_file_lists_every_flow_written_once_with_its_packets() {
    let (cap, exp, s) = run(&small(3, 1_000));
    assert_eq!(exp.len() as u64, s.flows);
    assert_eq!(s.flows, 1_000);
    let mut keys = std::collections::HashSet::new();
    for e in &exp {
        assert!(
            keys.insert((
                e.l4 == crate::flow::L4::Tcp,
                e.client.clone(),
                e.server.clone()
            )),
            "{e:?}"
        );
    }
    let recs = records(cap);
    assert_eq!(recs.len() as u64, s.packets);
    let expected_packets: u64 = exp.iter().map(|e| e.packets.c2s + e.packets.s2c).sum();
    let expected_bytes: u64 = exp.iter().map(|e| e.bytes.c2s + e.bytes.s2c).sum();
    assert_eq!(expected_packets, s.packets);
    assert_eq!(expected_bytes, recs.iter().map(|r| r.1 as u64).sum::<u64>());
    assert!(
        recs.windows(2).all(|w| w[0].0 <= w[1].0),
        "records out of time order"
    );
}

#[test]
fn packets_average_a_realistic_size_and_flows_a_heavy_tail() {
    let (_, exp, s) = run(&small(11, 4_000));
    let mean = s.mean_packet_len();
    assert!(
        (550.0..950.0).contains(&mean),
        "mean packet {mean:.0} bytes"
    );
    let mut lens: Vec<u64> = exp.iter().map(|e| e.packets.c2s + e.packets.s2c).collect();
    lens.sort_unstable();
    let non_dns: Vec<u64> = exp
        .iter()
        .filter(|e| e.proto != Some(crate::flow::Proto::Dns))
        .map(|e| e.packets.c2s + e.packets.s2c)
        .collect();
    let in_10_30 = non_dns.iter().filter(|&&n| (10..=30).contains(&n)).count();
    assert!(
        in_10_30 * 2 > non_dns.len(),
        "{in_10_30} of {}",
        non_dns.len()
    );
    assert!(lens.last().copied().unwrap_or(0) >= 200, "longest {lens:?}");
    let per_flow = s.packets as f64 / s.flows as f64;
    assert!(
        (18.0..40.0).contains(&per_flow),
        "{per_flow} packets per flow"
    );
}

#[test]
fn flows_overlap_and_start_over_the_span() {
    let cfg = Config {
        span_s: 600,
        ..small(5, 2_000)
    };
    let (_, _, s) = run(&cfg);
    let span = (s.last_ts_ns - s.first_ts_ns) as f64 / 1e9;
    assert!((500.0..1_000.0).contains(&span), "{span} s");
}

#[test]
fn packet_and_byte_targets_are_met() {
    let cfg = Config {
        flows: None,
        packets: Some(20_000),
        ..small(2, 0)
    };
    let (_, _, s) = run(&cfg);
    assert!(s.packets >= 20_000);
    let cfg = Config {
        flows: None,
        bytes: Some(5_000_000),
        format: Format::Pcapng,
        ..small(2, 0)
    };
    let (cap, _, s) = run(&cfg);
    assert!(cap.len() >= 5_000_000);
    assert_eq!(cap.len() as u64, s.file_bytes);
    assert_eq!(records(cap).len() as u64, s.packets);
}

#[test]
fn catalog_rule_marks_decide_the_host_names() {
    let cfg = Config {
        apps: vec![vec!["=exact.example".into(), "*.subs.example".into()]],
        ..small(4, 400)
    };
    let (_, exp, _) = run(&cfg);
    let names: std::collections::HashSet<String> = exp.into_iter().filter_map(|e| e.name).collect();
    assert!(names.contains("exact.example"));
    assert!(
        names
            .iter()
            .all(|n| n == "exact.example" || (n.ends_with(".subs.example"))),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.ends_with(".subs.example")));
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let cfg = Config {
        apps: vec![vec!["not a host".into()]],
        ..small(1, 1)
    };
    let err = generate(&cfg, std::io::sink(), std::io::sink()).unwrap_err();
    assert!(err.to_string().contains("not a host"), "{err}");
    let cfg = Config {
        subscribers: 0,
        ..small(1, 1)
    };
    assert!(generate(&cfg, std::io::sink(), std::io::sink()).is_err());
}

/// (l4, client, server) of a flow.
type FlowId = (String, String, String);

/// (name, protocol) of every flow pcgate reports.
#[derive(Default)]
struct Names(std::sync::Mutex<HashMap<FlowId, NameProto>>);

/// (name, protocol) of a flow.
type NameProto = (Option<String>, Option<&'static str>);

impl ReplaySink for Names {
    fn flow_ended(&self, flow: dataplane::flow::Flow, _: dataplane::flow::EndReason) {
        let r = dataplane::engine::FlowRecord::of(&flow, None);
        let key = (r.l4.to_owned(), r.client, r.server);
        self.0.lock().unwrap().insert(key, (r.name, r.proto));
    }
}

/// Replays a synthesized capture through pcgate's engine and compares every flow's name.
fn engine_names_match(cfg: &Config, tag: &str) {
    let dir = std::env::temp_dir().join(format!("pcgate-synth-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{tag}.pcap"));
    let s = write_files(cfg, &path).unwrap();
    let expected = read_expected(&expected_path(&path)).unwrap();
    assert_eq!(expected.len() as u64, s.flows);
    let names = Names::default();
    let counters = replay_files(&[path.as_path()], &ReplayConfig::default(), &names).unwrap();
    let got = names.0.into_inner().unwrap();
    assert_eq!(counters.packets, s.packets);
    let mut wrong = Vec::new();
    for e in &expected {
        let l4 = serde_json::to_value(e.l4).unwrap();
        let key = (
            l4.as_str().unwrap().to_owned(),
            e.client.clone(),
            e.server.clone(),
        );
        let proto = e.proto.map(|p| serde_json::to_value(p).unwrap());
        let want = (e.name.clone(), proto.as_ref().and_then(|p| p.as_str()));
        if got.get(&key).map(|(n, p)| (n.clone(), *p)) != Some(want.clone()) {
            wrong.push(format!("{key:?}: want {want:?}, got {:?}", got.get(&key)));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        wrong.is_empty(),
        "{} flows misnamed: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert_eq!(got.len(), expected.len());
}

#[test]
fn pcgate_names_every_flow_as_expected() {
    engine_names_match(&small(21, 1_500), "plain");
}

#[test]
fn pcgate_names_every_tunneled_flow_as_expected() {
    let cfg = Config {
        gtpu: true,
        format: Format::Pcapng,
        ..small(22, 800)
    };
    engine_names_match(&cfg, "gtpu");
}
