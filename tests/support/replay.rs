//! `pcgate replay` run from an end-to-end test, its flow records read back as JSON.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The flow records of `pcgate replay <capture> --flows - <args>`; fails the test, with
/// pcgate's standard error, if the replay does not succeed.
pub fn flows(capture: &Path, args: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_pcgate"))
        .arg("replay")
        .arg(capture)
        .args(["--flows", "-"])
        .args(args)
        .output()
        .expect("run pcgate");
    assert!(
        out.status.success(),
        "pcgate replay {} {args:?}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}
