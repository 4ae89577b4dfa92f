//! The app catalog (TOML): parsing, validation and the matcher built from it. Checks: the same
//! text gives the same catalog or the same errors twice; syntax errors name a line and column
//! inside the text; every domain of a loaded app is a valid host name (without its `=` or `*.`
//! marker), and the matcher built from the catalog finds an app for each of them.
#![no_main]

use dataplane::classify::{Catalog, CatalogError, DomainRule, Matcher};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = Catalog::from_toml_str(text, "fuzz.toml");
    let second = Catalog::from_toml_str(text, "fuzz.toml");
    let catalog = match (first, second) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.apps(), b.apps(), "two loads of one text differ");
            a
        }
        (Err(a), Err(b)) => {
            assert_eq!(
                a.to_string(),
                b.to_string(),
                "two loads give different errors"
            );
            if let CatalogError::Syntax { line, column, .. } = a {
                let lines = text.lines().count().max(1);
                assert!((1..=lines + 1).contains(&line), "line {line} of {lines}");
                assert!(column >= 1, "column {column}");
            }
            return;
        }
        (a, b) => panic!("one load gave {:?}, the other {:?}", a.is_ok(), b.is_ok()),
    };
    let matcher = Matcher::build(&catalog, &[]);
    for app in catalog.apps() {
        assert!(!app.id.is_empty(), "an app without id");
        for rule in &app.domains {
            let name = rule.name();
            fuzzcheck::check_host_name("catalog domain", name);
            let probe = match rule {
                DomainRule::Subdomains(_) if name.len() + 2 <= 253 => format!("x.{name}"),
                DomainRule::Subdomains(_) => continue,
                _ => name.to_string(),
            };
            assert!(
                matcher.lookup_name(&probe).is_some(),
                "{probe:?} of app {} not matched",
                app.id
            );
        }
    }
});
