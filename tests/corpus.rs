//! Replays every capture of the real-capture corpus (`../shared/corpus/`, nDPI's test captures)
//! and compares each flow's name with `expected.jsonl`, where nDPI and tshark agree.
//!
//! Pass: at least 99% of the named flows get exactly the expected name, at most 0.5% of the
//! unnamed flows get a name of their own, and no capture panics. Names inferred from earlier DNS
//! answers (`dns_answer`) are not in the flow's bytes, so they are reported apart and not counted
//! as the flow's own name. Prints the figures and every disagreement.

use dataplane::engine::{replay_files, FlowRecord, ReplayConfig, ReplaySink};
use dataplane::flow::{EndReason, Flow};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Deserialize)]
struct Expected {
    pcap: String,
    l4: String,
    a: String,
    b: String,
    proto: Option<String>,
    name: Option<String>,
}

type FlowKey = (String, String, String); // l4, lower endpoint, higher endpoint

fn key(l4: &str, a: &str, b: &str) -> FlowKey {
    // One spelling per address: nDPI writes `a:b::1` where Rust (RFC 5952) writes `a:b:0:1`.
    let canon = |s: &str| {
        s.parse::<SocketAddr>()
            .map_or_else(|_| s.to_owned(), |a| a.to_string())
    };
    let (a, b) = (canon(a), canon(b));
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    (l4.to_owned(), lo, hi)
}

/// Flow records by key.
#[derive(Default)]
struct Flows(Mutex<HashMap<FlowKey, Vec<FlowRecord>>>);

impl ReplaySink for Flows {
    fn flow_ended(&self, flow: Flow, _: EndReason) {
        let r = FlowRecord::of(&flow, None);
        self.0
            .lock()
            .unwrap()
            .entry(key(r.l4, &r.client, &r.server))
            .or_default()
            .push(r);
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

#[test]
fn corpus_flows_get_the_names_ndpi_and_tshark_agree_on() {
    let dir = corpus_dir();
    let text = std::fs::read_to_string(dir.join("expected.jsonl"))
        .expect("the corpus (../shared/corpus/expected.jsonl) must be present");
    let mut expected: BTreeMap<String, HashMap<FlowKey, Vec<Option<String>>>> = BTreeMap::new();
    let mut expected_proto: HashMap<(String, FlowKey), String> = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let e: Expected = serde_json::from_str(line).expect("expected.jsonl line");
        let k = key(&e.l4, &e.a, &e.b);
        if let Some(p) = &e.proto {
            expected_proto.insert((e.pcap.clone(), k.clone()), p.clone());
        }
        expected
            .entry(e.pcap)
            .or_default()
            .entry(k)
            .or_default()
            .push(e.name);
    }
    let mut pcaps: Vec<PathBuf> = std::fs::read_dir(dir.join("pcaps"))
        .expect("corpus pcaps")
        .map(|e| e.expect("dir entry").path())
        .collect();
    pcaps.sort();
    assert!(pcaps.len() >= 200, "corpus has {} captures", pcaps.len());

    let (mut named_total, mut named_ok, mut unnamed_total, mut unnamed_fp) = (0, 0, 0, 0);
    let (mut inferred_named, mut inferred_unnamed) = (0, 0);
    let mut per_proto: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut panics = Vec::new();
    let mut failures = Vec::new();
    for path in &pcaps {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let result = std::panic::catch_unwind(|| {
            let flows = Flows::default();
            replay_files(&[path.as_path()], &ReplayConfig::default(), &flows)
                .map(|_| flows.0.into_inner().unwrap())
        });
        let flows = match result {
            Ok(Ok(flows)) => flows,
            Ok(Err(e)) => {
                failures.push(format!("{file}: {e}"));
                continue;
            }
            Err(_) => {
                panics.push(file);
                continue;
            }
        };
        let Some(exp) = expected.get(&file) else {
            continue;
        };
        for (k, names) in exp {
            let ours = flows.get(k).map(Vec::as_slice).unwrap_or_default();
            // Own names (in the flow's bytes) as a multiset; inferred ones apart.
            let mut own: Vec<&str> = ours
                .iter()
                .filter(|r| r.name_source != Some("dns_answer"))
                .filter_map(|r| r.name.as_deref())
                .collect();
            let inferred = ours
                .iter()
                .filter(|r| r.name_source == Some("dns_answer"))
                .count();
            let proto = expected_proto.get(&(file.clone(), k.clone()));
            for name in names.iter().flatten() {
                named_total += 1;
                let entry = per_proto
                    .entry(proto.cloned().unwrap_or_default())
                    .or_default();
                entry.0 += 1;
                if let Some(i) = own.iter().position(|o| o == name) {
                    own.swap_remove(i);
                    named_ok += 1;
                    entry.1 += 1;
                } else {
                    if inferred > 0 {
                        inferred_named += 1;
                    }
                    println!(
                        "MISS   {file} {} {} <-> {}: expected {name:?} ({}), got {:?}",
                        k.0,
                        k.1,
                        k.2,
                        proto.map_or("?", String::as_str),
                        ours.iter()
                            .map(|r| (r.name.as_deref(), r.name_source))
                            .collect::<Vec<_>>()
                    );
                }
            }
            let nulls = names.iter().filter(|n| n.is_none()).count();
            unnamed_total += nulls;
            let extra = own.len().min(nulls);
            unnamed_fp += extra;
            inferred_unnamed += inferred.min(nulls);
            if extra > 0 {
                println!(
                    "EXTRA  {file} {} {} <-> {}: expected no name, got {:?}",
                    k.0,
                    k.1,
                    k.2,
                    &own[..extra]
                );
            }
        }
    }
    let named_pct = 100.0 * named_ok as f64 / named_total.max(1) as f64;
    let fp_pct = 100.0 * unnamed_fp as f64 / unnamed_total.max(1) as f64;
    println!(
        "captures replayed: {} (errors {}, panics {})",
        pcaps.len(),
        failures.len(),
        panics.len()
    );
    println!("named flows:   {named_ok}/{named_total} exactly right ({named_pct:.2}%)");
    for (p, (total, ok)) in &per_proto {
        println!("  {p:<5} {ok}/{total}");
    }
    println!(
        "unnamed flows: {unnamed_fp}/{unnamed_total} given a name of their own ({fp_pct:.2}%)"
    );
    println!(
        "inferred from DNS answers (dns_answer, not counted above): {inferred_unnamed} of the \
         unnamed flows, {inferred_named} of the missed named flows"
    );
    for f in &failures {
        println!("ERROR  {f}");
    }
    assert!(panics.is_empty(), "captures that panicked: {panics:?}");
    assert!(
        failures.is_empty(),
        "captures that failed to open: {failures:?}"
    );
    assert!(
        named_pct >= 99.0,
        "only {named_pct:.2}% of named flows right (need 99%)"
    );
    assert!(
        fp_pct <= 0.5,
        "{fp_pct:.2}% of unnamed flows named (at most 0.5%)"
    );
}
