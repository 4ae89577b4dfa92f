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

/// Runs `pcgate policy check` on `text` written to a file of this test's own; returns the
/// file's path as shown and standard error, after checking the exit status is 2.
fn check_bad(name: &str, text: &[u8]) -> (String, String) {
    let dir = std::env::temp_dir().join(format!("pcgate-policy-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.toml");
    std::fs::write(&file, text).unwrap();
    let out = pcgate(&["policy", "check", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    (
        file.display().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const KID: &str = "default_profile = \"kid\"\n\n[[subscriber]]\nid = \"447700900123\"\n\
                   identifiers = [\"10.45.0.7\"]\nprofile = \"kid\"\n\n[profile.kid]\n\
                   blocked_categories = [\"adult\"]\n\n[[profile.kid.schedules]]\n\
                   name = \"night\"\ndays = \"daily\"\nstart = \"21:00\"\nend = \"07:00\"\n\
                   block_all = true\n";

#[test]
fn kid_policy_used_below_is_valid() {
    let dir = std::env::temp_dir().join(format!("pcgate-policy-kid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.toml");
    std::fs::write(&file, KID).unwrap();
    let out = pcgate(&["policy", "check", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn empty_id_says_it_is_empty_not_missing() {
    let (file, err) = check_bad("id", KID.replace("\"447700900123\"", "\"\"").as_bytes());
    let want = format!(
        "{file}:4:6: field `subscriber[0].id`: empty; give the subscriber's MSISDN or IMSI"
    );
    assert!(err.contains(&want), "{want:?} not in:\n{err}");
    assert!(!err.contains("missing"), "{err}");
}

#[test]
fn toml_time_names_the_field_and_says_to_quote_it() {
    let (file, err) = check_bad("time", KID.replace("\"21:00\"", "21:00:00").as_bytes());
    let want = format!(
        "{file}:14:9: field `profile.kid.schedules[0].start`: `21:00:00` is a TOML time, not \
         text: write it in quotes, as \"21:00\""
    );
    assert!(err.contains(&want), "{want:?} not in:\n{err}");
}

#[test]
fn non_utf8_policy_names_line_and_column_once() {
    let mut text = KID.as_bytes().to_vec();
    text.extend_from_slice(b"# caf\xe9\n");
    let (file, err) = check_bad("utf8", &text);
    let want = format!("{file}:17:6: not UTF-8 text (byte 0xe9); save the file as UTF-8");
    assert!(err.contains(&want), "{want:?} not in:\n{err}");
    assert_eq!(err.matches("UTF-8 text").count(), 1, "{err}");
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
