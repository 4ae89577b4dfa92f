//! `pcgate policy check`: the embedded policy is valid; a bad file gets every error at once,
//! each with file, line and field, and exit status 2.

use std::process::Command;

fn pcgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pcgate"))
        .args(args)
        .output()
        .expect("run pcgate")
}

#[test]
fn embedded_policy_checks_ok() {
    let out = pcgate(&["policy", "check", "default"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: 4 subscribers"));
}

#[test]
fn bad_policy_reports_every_error_with_line_and_field() {
    let dir = std::env::temp_dir().join(format!("pcgate-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "default_profile = \"x\"\n[profile.y]\nblocked_apps = [\"nope\"]\nblocked_categories = [\"gamblin\"]\n",
    )
    .unwrap();
    let out = pcgate(&["policy", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "bad.toml:1:19: field `default_profile`: unknown profile `x`",
        "bad.toml:3:17: field `profile.y.blocked_apps[0]`: unknown app `nope`",
        "bad.toml:4:23: field `profile.y.blocked_categories[0]`: unknown category `gamblin`",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn evasion_option_takes_block_or_allow_and_nothing_else() {
    let dir = std::env::temp_dir().join(format!("pcgate-policy-evasion-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "default_profile = \"y\"\n[profile.y]\nevasion = \"allow\"\n[profile.z]\nevasion = \"block\"\n",
    )
    .unwrap();
    let out = pcgate(&["policy", "check", good.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = dir.join("evasion.toml");
    std::fs::write(
        &bad,
        "default_profile = \"y\"\n[profile.y]\nblocked_categories = [\"adult\"]\nevasion = \"sometimes\"\n",
    )
    .unwrap();
    let out = pcgate(&["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in ["evasion.toml:4:", "profile.y.evasion", "`sometimes`"] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
