//! End-to-end tests of `pcgate replay` on the fixture captures made by `tools/` (see
//! `fixtures/pcaps/README.md`): every flow the generator wrote into a capture comes out with the
//! expected name, protocol, counters and tunnel id, with one worker and with several; damaged
//! input is counted and the replay goes on; a file that is not a capture is a clear error; with
//! a thread for every CPU each is pinned to one, as the summary says, and the flows are the same.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps")
}

fn pcgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcgate"))
        .args(args)
        .output()
        .expect("run pcgate")
}

/// The fields a fixture's expectations pin down, as a canonical string per flow, sorted.
fn canonical(lines: &str) -> Vec<String> {
    const FIELDS: [&str; 10] = [
        "l4",
        "client",
        "server",
        "proto",
        "name",
        "name_source",
        "alpn",
        "packets",
        "bytes",
        "teid",
    ];
    let mut out: Vec<String> = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("flow line is JSON");
            let picked: serde_json::Map<String, Value> = FIELDS
                .iter()
                .map(|f| (f.to_string(), v.get(*f).cloned().unwrap_or(Value::Null)))
                .collect();
            Value::Object(picked).to_string()
        })
        .collect();
    out.sort();
    out
}

fn captures() -> Vec<(PathBuf, PathBuf)> {
    let mut v: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(fixtures())
        .expect("fixtures/pcaps")
        .filter_map(|e| {
            let p = e.expect("dir entry").path();
            let name = p.file_name()?.to_str()?.to_owned();
            let stem = name.strip_suffix(".expected.jsonl")?;
            let capture = ["pcap", "pcapng"]
                .iter()
                .map(|ext| p.with_file_name(format!("{stem}.{ext}")))
                .find(|c| c.exists())?;
            Some((capture, p))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_fixture_replays_to_its_expected_flows_with_one_two_and_three_workers() {
    let all = captures();
    assert!(all.len() >= 4, "fixture captures found: {all:?}");
    for (capture, expected) in all {
        let want = canonical(&std::fs::read_to_string(&expected).expect("expected flows"));
        // Two workers: one on the dispatching thread and one on a thread of its own; three: the
        // dispatching thread works no flows itself and two threads share them.
        for workers in ["1", "2", "3"] {
            let out = pcgate(&[
                "replay",
                capture.to_str().unwrap(),
                "--flows",
                "-",
                "--workers",
                workers,
            ]);
            assert!(
                out.status.success(),
                "{capture:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got = canonical(&String::from_utf8_lossy(&out.stdout));
            assert_eq!(got, want, "{capture:?} with {workers} workers");
        }
    }
}

#[test]
fn damaged_capture_is_counted_with_a_warning_and_exit_zero() {
    let capture = fixtures().join("damaged.pcap");
    let skips: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("damaged.expected-skips.json"))
            .expect("expected skips"),
    )
    .expect("JSON");
    let out = pcgate(&["replay", capture.to_str().unwrap()]);
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stdout);
    for (reason, n) in skips.as_object().expect("object") {
        let line = summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(reason.as_str()))
            .unwrap_or_else(|| panic!("no {reason} line in summary:\n{summary}"));
        assert_eq!(
            line.split_whitespace().nth(1),
            Some(n.to_string().as_str()),
            "{line}"
        );
    }
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning"),
        "a warning line"
    );
}

#[test]
fn a_file_that_is_not_a_capture_is_an_error_naming_it() {
    let dir = std::env::temp_dir().join(format!("pcgate-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bogus = dir.join("notes.pcap");
    std::fs::write(&bogus, "this is not a capture\n").unwrap();
    let out = pcgate(&["replay", bogus.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("notes.pcap") && err.contains("not a pcap"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The summary's `threads` line.
fn threads_line(summary: &str) -> &str {
    summary
        .lines()
        .find(|l| l.starts_with("threads "))
        .unwrap_or_else(|| panic!("no threads line in summary:\n{summary}"))
}

#[test]
fn with_a_thread_for_every_cpu_each_is_pinned_unless_told_not_to_and_flows_are_the_same() {
    let cpus = rustix::thread::sched_getaffinity(None)
        .expect("CPUs this test may use")
        .count() as usize;
    let capture = fixtures().join("evening.pcap");
    let capture = capture.to_str().unwrap();
    let run = |extra: &[&str]| {
        let out = pcgate(&[&["replay", capture, "--flows", "-"], extra].concat());
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = String::from_utf8_lossy(&out.stderr).into_owned();
        (canonical(&String::from_utf8_lossy(&out.stdout)), summary)
    };
    let all = cpus.to_string();
    let (pinned, summary) = run(&["--workers", &all]);
    if cpus == 1 {
        assert_eq!(threads_line(&summary).trim_end(), "threads     1");
        return;
    }
    assert_eq!(
        threads_line(&summary),
        format!("threads     {cpus}, each on a CPU of its own")
    );
    let (free, summary) = run(&["--workers", &all, "--no-pin"]);
    assert_eq!(
        threads_line(&summary),
        format!("threads     {cpus}, placed by the scheduler")
    );
    assert_eq!(free, pinned);
    // More threads than CPUs: none is pinned, and the flows are still the same.
    let more = (cpus + 1).to_string();
    let (crowded, summary) = run(&["--workers", &more]);
    assert_eq!(
        threads_line(&summary),
        format!("threads     {}, placed by the scheduler", cpus + 1)
    );
    assert_eq!(crowded, pinned);
}

/// Counts flows as they end.
struct CountFlows(std::sync::atomic::AtomicU64);

impl dataplane::engine::ReplaySink for CountFlows {
    fn flow_ended(&self, _: dataplane::flow::Flow, _: dataplane::flow::EndReason) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_replay_that_pins_its_threads_gives_the_calling_thread_its_cpus_back() {
    // On a thread of its own, so that a failure leaves the harness's threads where they were.
    std::thread::spawn(|| {
        let before = rustix::thread::sched_getaffinity(None).expect("CPUs");
        let cpus = before.count() as usize;
        let config = dataplane::engine::ReplayConfig {
            workers: cpus,
            ..Default::default()
        };
        let sink = CountFlows(Default::default());
        let capture = fixtures().join("evening.pcap");
        let counters =
            dataplane::engine::replay_files(&[capture.as_path()], &config, &sink).expect("replay");
        assert!(sink.0.into_inner() > 0);
        assert_eq!(counters.threads, cpus as u64);
        if cpus > 1 {
            assert_eq!(counters.pinned_threads, cpus as u64);
        }
        assert_eq!(
            rustix::thread::sched_getaffinity(None).expect("CPUs"),
            before
        );
    })
    .join()
    .expect("the replaying thread ran to the end");
}
