//! The `pgw-sim` command line: its files (records, capture, policy) are written, the same
//! options write the same bytes, and the records parse with pcgate's parser. No broker needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use control::traffic::record::TrafficRecord;
use dataplane::classify::catalog::Catalog;
use dataplane::policy::Policy;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pgw-sim-test-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(out: &Path, extra: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_pgw-sim"))
        .args(["--flows", "150", "--subscribers", "30", "--seed", "4"])
        .arg("--out")
        .arg(out.join("r.jsonl"))
        .arg("--pcap")
        .arg(out.join("t.pcap"))
        .arg("--policy-out")
        .arg(out.join("p.toml"))
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn pgw_sim_writes_the_same_records_capture_and_policy_for_the_same_options() {
    let (a, b) = (dir("a"), dir("b"));
    run(&a, &["--invalid-every", "20", "--with-names"]);
    run(&b, &["--invalid-every", "20", "--with-names"]);
    for f in ["r.jsonl", "t.pcap", "p.toml"] {
        let x = std::fs::read(a.join(f)).unwrap();
        assert!(!x.is_empty(), "{f}");
        assert_eq!(x, std::fs::read(b.join(f)).unwrap(), "{f}");
    }
    let text = std::fs::read_to_string(a.join("r.jsonl")).unwrap();
    let (mut ok, mut bad) = (0, 0);
    for line in text.lines() {
        match TrafficRecord::parse(line.as_bytes()) {
            Ok(_) => ok += 1,
            Err(_) => bad += 1,
        }
    }
    assert_eq!(bad, ok / 20, "one invalid line after every 20 valid ones");
    let catalog = Catalog::embedded_default().unwrap();
    let policy = Policy::load(&a.join("p.toml"), &catalog).unwrap();
    assert_eq!(policy.subscriber_count(), 30);
    let _ = std::fs::remove_dir_all(a);
    let _ = std::fs::remove_dir_all(b);
}

#[test]
fn pgw_sim_refuses_to_run_without_an_output() {
    let out = Command::new(env!("CARGO_BIN_EXE_pgw-sim"))
        .args(["--flows", "10"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to do"));
}
