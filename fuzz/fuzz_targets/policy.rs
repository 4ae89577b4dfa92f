//! The policy file (TOML) against the embedded app catalog. Checks: the same text compiles to
//! the same policy (all but its unique id), or fails with the same errors, twice; a refused policy has at least one
//! error, and each names the file and, when it has a place, a line and column inside the text.
#![no_main]

use dataplane::classify::Catalog;
use dataplane::policy::Policy;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static CATALOG: OnceLock<Catalog> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let apps = CATALOG.get_or_init(|| Catalog::embedded_default().expect("embedded catalog"));
    let first = Policy::from_toml_str(text, "fuzz.toml", apps);
    let second = Policy::from_toml_str(text, "fuzz.toml", apps);
    match (first, second) {
        (Ok(a), Ok(b)) => {
            assert_eq!(shown(&a), shown(&b), "two compiles differ");
            assert!(a.profile_names().count() >= 1, "a policy without profiles");
        }
        (Err(a), Err(b)) => {
            assert_eq!(
                a.to_string(),
                b.to_string(),
                "two compiles give different errors"
            );
            assert!(!a.0.is_empty(), "refused with no error");
            let lines = text.lines().count().max(1);
            for e in &a.0 {
                assert_eq!(e.source, "fuzz.toml");
                if e.line > 0 {
                    assert!(e.line <= lines + 1, "line {} of {lines}: {e}", e.line);
                    assert!(e.column >= 1, "column 0: {e}");
                }
                assert!(e.to_string().starts_with("fuzz.toml"), "{e}");
            }
        }
        (a, b) => panic!(
            "one compile gave {:?}, the other {:?}",
            a.is_ok(),
            b.is_ok()
        ),
    }
});

/// The policy as its Debug form, without the `uid` that each compile gets anew.
fn shown(p: &Policy) -> String {
    let s = format!("{p:?}");
    match s.find("uid: ") {
        Some(at) => {
            let end = s[at..].find(", ").map_or(s.len(), |n| at + n + 2);
            format!("{}{}", &s[..at], &s[end..])
        }
        None => s,
    }
}
