//! Category list files (one domain a line, hosts-file lines, `||domain^` AdBlock rules), as
//! bytes that need not be UTF-8. Checks: every domain kept is a valid host name and the list
//! covers it and its subdomains; the report counts every line at least once, its domain count
//! is the list's size, and its examples are real lines, at most `MAX_EXAMPLES` of them.
#![no_main]

use dataplane::classify::lists::MAX_EXAMPLES;
use dataplane::classify::{Category, CategoryList};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let list = CategoryList::parse_bytes(data, Category::Adult, "fuzz.txt");
    let r = list.report();
    assert_eq!(r.domains, list.len() as u64, "report's domain count");
    let outcomes = r.domains + r.duplicates + r.local_names + r.comments + r.invalid_total();
    assert!(
        outcomes >= r.lines,
        "{} lines, {outcomes} outcomes",
        r.lines
    );
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let lines = if data.is_empty() {
        0
    } else {
        body.split(|&b| b == b'\n').count()
    };
    assert_eq!(r.lines, lines as u64, "lines counted");
    assert!(r.examples.len() <= MAX_EXAMPLES);
    assert!(r.examples.len() as u64 <= r.invalid_total());
    for ex in &r.examples {
        let (line, why) = (ex.line, ex.why);
        assert!(
            (1..=r.lines).contains(&line),
            "example at line {line} ({why:?})"
        );
        assert!(r.invalid(why) > 0, "example of a reason never counted");
        let shown = body
            .split(|&b| b == b'\n')
            .nth((line - 1) as usize)
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let text = ex.text.strip_suffix("...").unwrap_or(&ex.text);
        assert!(
            shown.trim().starts_with(text.trim()),
            "example {text:?} is not line {line} ({shown:?})"
        );
    }
    for d in list.domains() {
        fuzzcheck::check_host_name("list domain", d);
        assert!(list.covers(d), "{d:?} not covered");
        if d.len() + 2 <= 253 {
            assert!(
                list.covers(&format!("x.{d}")),
                "subdomain of {d:?} not covered"
            );
        }
    }
});
