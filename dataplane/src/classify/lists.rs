//! Category lists: large public blocklists (adult, gambling, ads, ...) that map plain domain
//! names to one category, without naming an application.
//!
//! Accepted line forms, one entry per line:
//! - a bare domain: `example.com`
//! - a hosts-file line: `0.0.0.0 example.com` or `127.0.0.1 a.example b.example` (any IP
//!   address first, then one or more names); the usual local names (`localhost`,
//!   `broadcasthost`, `ip6-*`, ...) are skipped
//! - an AdBlock-style domain rule: `||example.com^` (rules with options, paths or exceptions are
//!   not domain lists and are counted as unsupported)
//! - comments: `#` anywhere (to the end of the line), `!` at the start (AdBlock), and `[...]`
//!   header lines; blank lines.
//!
//! Every listed domain covers the name and all its subdomains. A bad line is never fatal: it is
//! counted by reason in the [`LoadReport`], with the first few line numbers kept for the
//! operator. The names are stored in a compact [`DomainSet`] (one arena, one table).

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use super::domains::{Cover, DomainSet, InsertError, MAX_NAME_LEN};
use super::Category;

/// How many bad lines the report keeps with their line numbers.
pub const MAX_EXAMPLES: usize = 20;

/// Why a list line was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineProblem {
    /// A byte other than letters, digits, `-`, `_` and `.` (non-ASCII included).
    BadCharacter,
    /// Two dots in a row, or a dot at the start.
    EmptyLabel,
    /// A label longer than 63 bytes.
    LabelTooLong,
    /// A name longer than 253 bytes.
    NameTooLong,
    /// One label only (`com`, `intranet`): it would cover far too much.
    SingleLabel,
    /// An IP address where a name was expected (also a hosts line with no name).
    AddressNotName,
    /// `*.example.com` and other wildcard forms.
    Wildcard,
    /// An AdBlock rule that is not a plain `||domain^` (options, paths, exceptions, ...).
    UnsupportedAdblock,
    /// The set reached its size limit (4 GiB of names).
    ListFull,
}

impl LineProblem {
    pub const ALL: [LineProblem; 9] = [
        LineProblem::BadCharacter,
        LineProblem::EmptyLabel,
        LineProblem::LabelTooLong,
        LineProblem::NameTooLong,
        LineProblem::SingleLabel,
        LineProblem::AddressNotName,
        LineProblem::Wildcard,
        LineProblem::UnsupportedAdblock,
        LineProblem::ListFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LineProblem::BadCharacter => "bad_character",
            LineProblem::EmptyLabel => "empty_label",
            LineProblem::LabelTooLong => "label_too_long",
            LineProblem::NameTooLong => "name_too_long",
            LineProblem::SingleLabel => "single_label",
            LineProblem::AddressNotName => "address_not_name",
            LineProblem::Wildcard => "wildcard",
            LineProblem::UnsupportedAdblock => "unsupported_adblock",
            LineProblem::ListFull => "list_full",
        }
    }

    /// What is wrong, in words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            LineProblem::BadCharacter => {
                "not a domain (only letters, digits, `-`, `_` and dots; one name per line, or an \
                 address and names)"
            }
            LineProblem::EmptyLabel => "empty label (two dots in a row, or a dot at the start)",
            LineProblem::LabelTooLong => "label longer than 63 characters",
            LineProblem::NameTooLong => "name longer than 253 characters",
            LineProblem::SingleLabel => "a single label would cover a whole top-level domain",
            LineProblem::AddressNotName => "an address, not a name",
            LineProblem::Wildcard => "wildcards are not supported (a domain covers its subdomains)",
            LineProblem::UnsupportedAdblock => {
                "AdBlock rule other than `||domain^` (options, paths, exceptions)"
            }
            LineProblem::ListFull => "the list is full (4 GiB of names)",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Longest part of a bad line kept in [`BadLine::text`], in characters.
pub const EXAMPLE_TEXT_MAX: usize = 100;

/// One bad line, as shown to the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u64,
    pub why: LineProblem,
    /// The line (lossy UTF-8, at most [`EXAMPLE_TEXT_MAX`] characters, then `...`).
    pub text: String,
}

/// What loading a list found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Lines read.
    pub lines: u64,
    /// Names added (distinct).
    pub domains: u64,
    /// Names seen again after their first line.
    pub duplicates: u64,
    /// Local names of hosts files (`localhost`, ...) that were skipped.
    pub local_names: u64,
    /// Comment and blank lines.
    pub comments: u64,
    /// Bad entries by reason, indexed like [`LineProblem::ALL`].
    invalid: [u64; LineProblem::ALL.len()],
    /// The first [`MAX_EXAMPLES`] bad entries.
    pub examples: Vec<BadLine>,
}

impl LoadReport {
    /// Bad entries for one reason.
    pub fn invalid(&self, why: LineProblem) -> u64 {
        self.invalid.get(why.index()).copied().unwrap_or(0)
    }

    /// All bad entries.
    pub fn invalid_total(&self) -> u64 {
        self.invalid.iter().sum()
    }

    /// `(reason, count)` for every reason with a count above zero.
    pub fn invalid_by_reason(&self) -> impl Iterator<Item = (LineProblem, u64)> + '_ {
        LineProblem::ALL
            .into_iter()
            .map(|p| (p, self.invalid(p)))
            .filter(|&(_, n)| n > 0)
    }

    fn bad(&mut self, line: u64, why: LineProblem) {
        if let Some(n) = self.invalid.get_mut(why.index()) {
            *n += 1;
        }
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(BadLine {
                line,
                why,
                text: String::new(),
            });
        }
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} lines, {} domains, {} duplicates, {} local names, {} invalid",
            self.lines,
            self.domains,
            self.duplicates,
            self.local_names,
            self.invalid_total()
        )?;
        let mut first = true;
        for (why, n) in self.invalid_by_reason() {
            write!(f, "{}{}={n}", if first { " (" } else { ", " }, why.as_str())?;
            first = false;
        }
        if !first {
            write!(f, ")")?;
        }
        Ok(())
    }
}

/// A line as shown in a message: lossy UTF-8, without its CR, cut at [`EXAMPLE_TEXT_MAX`].
fn shown_line(raw: &[u8]) -> String {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let text = String::from_utf8_lossy(raw);
    match text.char_indices().nth(EXAMPLE_TEXT_MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
}

/// Why a list file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The error is in the message, not chained as a source, so that it is said once.
    #[error("{path}: cannot read the category list: {error}")]
    Io {
        path: String,
        error: crate::input::InputError,
    },
}

/// A category list: domains that each cover the name and its subdomains, all of one category.
#[derive(Clone, Debug)]
pub struct CategoryList {
    category: Category,
    source: String,
    domains: DomainSet,
    report: LoadReport,
}

/// Names of hosts files that are about the machine itself, not blocked sites.
const LOCAL_NAMES: [&[u8]; 12] = [
    b"localhost",
    b"localhost.localdomain",
    b"local",
    b"broadcasthost",
    b"ip6-localhost",
    b"ip6-loopback",
    b"ip6-localnet",
    b"ip6-mcastprefix",
    b"ip6-allnodes",
    b"ip6-allrouters",
    b"ip6-allhosts",
    b"0.0.0.0",
];

fn is_local_name(name: &[u8]) -> bool {
    LOCAL_NAMES.iter().any(|l| l.eq_ignore_ascii_case(name))
}

fn parse_ip(token: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(token).ok()?.parse().ok()
}

/// Checks one name (RFC 1035 section 2.3.4 lengths; `_` allowed).
fn check_name(name: &[u8]) -> Result<(), LineProblem> {
    if name.len() > MAX_NAME_LEN {
        return Err(LineProblem::NameTooLong);
    }
    if name.contains(&b'*') {
        return Err(LineProblem::Wildcard);
    }
    if parse_ip(name).is_some() {
        return Err(LineProblem::AddressNotName);
    }
    let mut labels = 0usize;
    for label in name.split(|&b| b == b'.') {
        if label.is_empty() {
            return Err(LineProblem::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(LineProblem::LabelTooLong);
        }
        if !label
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(LineProblem::BadCharacter);
        }
        labels += 1;
    }
    if labels < 2 {
        return Err(LineProblem::SingleLabel);
    }
    Ok(())
}

impl CategoryList {
    /// Parse list text. `source` names the list in reports.
    pub fn parse(text: &str, category: Category, source: &str) -> CategoryList {
        CategoryList::parse_bytes(text.as_bytes(), category, source)
    }

    /// Parse list bytes (a file need not be valid UTF-8: bad lines are just counted).
    pub fn parse_bytes(bytes: &[u8], category: Category, source: &str) -> CategoryList {
        // A rough guess at the entry count keeps the table from growing many times.
        let guess = bytes.len() / 24;
        let mut list = CategoryList {
            category,
            source: source.to_string(),
            domains: DomainSet::with_capacity(guess),
            report: LoadReport::default(),
        };
        // A final newline ends the last line; it does not start another one.
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        if !bytes.is_empty() {
            for (n, raw) in body.split(|&b| b == b'\n').enumerate() {
                list.report.lines += 1;
                let examples = list.report.examples.len();
                list.parse_line(raw, n as u64 + 1);
                if let Some(new) = list.report.examples.get_mut(examples..) {
                    for ex in new {
                        ex.text = shown_line(raw);
                    }
                }
            }
        }
        list.domains.shrink_to_fit();
        list
    }

    fn parse_line(&mut self, raw: &[u8], line_no: u64) {
        let line = match raw.iter().position(|&b| b == b'#') {
            Some(i) => raw.get(..i).unwrap_or_default(),
            None => raw,
        };
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"!") || line.starts_with(b"[") {
            self.report.comments += 1;
            return;
        }
        if let Some(rule) = line.strip_prefix(b"||") {
            match rule.strip_suffix(b"^") {
                Some(name) if !name.iter().any(|b| b"^$/|*".contains(b)) => self.add(name, line_no),
                _ => self.report.bad(line_no, LineProblem::UnsupportedAdblock),
            }
            return;
        }
        if line.starts_with(b"@@") || line.starts_with(b"|") || line.contains(&b'$') {
            self.report.bad(line_no, LineProblem::UnsupportedAdblock);
            return;
        }
        let mut tokens = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|t| !t.is_empty());
        let first = tokens.next().unwrap_or_default();
        if parse_ip(first).is_some() {
            let mut any = false;
            for name in tokens {
                any = true;
                if is_local_name(name) {
                    self.report.local_names += 1;
                } else {
                    self.add(name, line_no);
                }
            }
            if !any {
                self.report.bad(line_no, LineProblem::AddressNotName);
            }
            return;
        }
        if tokens.next().is_some() {
            // Two words and the first is no address: not a form we know.
            self.report.bad(line_no, LineProblem::BadCharacter);
            return;
        }
        if is_local_name(first) {
            self.report.local_names += 1;
            return;
        }
        self.add(first, line_no);
    }

    fn add(&mut self, name: &[u8], line_no: u64) {
        let name = name.strip_suffix(b".").unwrap_or(name);
        if let Err(why) = check_name(name) {
            self.report.bad(line_no, why);
            return;
        }
        // check_name allowed ASCII only, so this cannot fail.
        let Ok(text) = std::str::from_utf8(name) else {
            self.report.bad(line_no, LineProblem::BadCharacter);
            return;
        };
        match self.domains.insert(text, Cover::Both, 0) {
            Ok(true) => self.report.domains += 1,
            Ok(false) => self.report.duplicates += 1,
            Err(InsertError::Full) => self.report.bad(line_no, LineProblem::ListFull),
            Err(InsertError::TooLong) => self.report.bad(line_no, LineProblem::NameTooLong),
            Err(InsertError::Empty) => self.report.bad(line_no, LineProblem::EmptyLabel),
        }
    }

    /// Read a list file.
    pub fn load(path: impl AsRef<Path>, category: Category) -> Result<CategoryList, ListError> {
        let path = path.as_ref();
        let bytes = crate::input::read(path).map_err(|error| ListError::Io {
            path: path.display().to_string(),
            error,
        })?;
        Ok(CategoryList::parse_bytes(
            &bytes,
            category,
            &path.display().to_string(),
        ))
    }

    pub fn category(&self) -> Category {
        self.category
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn report(&self) -> &LoadReport {
        &self.report
    }

    /// Number of distinct domains.
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// The domains, lower-case, in file order.
    pub fn domains(&self) -> impl Iterator<Item = &str> + '_ {
        self.domains.iter().map(|(n, _, _)| n)
    }

    /// Whether the list covers `name` (the name or one of its parent domains is listed).
    pub fn covers(&self, name: &str) -> bool {
        self.domains.lookup(name).is_some()
    }

    /// Bytes of heap memory the list holds.
    pub fn heap_bytes(&self) -> usize {
        self.domains.heap_bytes() + self.source.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# A test list
! AdBlock comment
[Adblock Plus 2.0]

example.com
Sub.Example.org.   # trailing comment
0.0.0.0 ads.tracker.net
127.0.0.1 localhost
127.0.0.1\tone.test two.test
::1 ip6-localhost
||adblock.test^
||path.test^/ads
@@||allowed.test^
||opt.test^$third-party
*.wild.test
com
bad..name
under_score.test
caf\u{e9}.test
10.0.0.1
0.0.0.0
example.com
two words
";

    #[test]
    fn parses_every_line_form_and_counts_bad_lines() {
        let l = CategoryList::parse(SAMPLE, Category::Ads, "sample.txt");
        let names: Vec<&str> = l.domains().collect();
        assert_eq!(
            names,
            vec![
                "example.com",
                "sub.example.org",
                "ads.tracker.net",
                "one.test",
                "two.test",
                "adblock.test",
                "under_score.test",
            ]
        );
        let r = l.report();
        assert_eq!(r.lines, 23);
        assert_eq!(r.domains, 7);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.local_names, 2);
        assert_eq!(r.comments, 4);
        assert_eq!(r.invalid(LineProblem::UnsupportedAdblock), 3);
        assert_eq!(r.invalid(LineProblem::Wildcard), 1);
        assert_eq!(r.invalid(LineProblem::SingleLabel), 1);
        assert_eq!(r.invalid(LineProblem::EmptyLabel), 1);
        assert_eq!(r.invalid(LineProblem::BadCharacter), 2);
        assert_eq!(r.invalid(LineProblem::AddressNotName), 2);
        assert_eq!(r.invalid_total(), 10);
        let first = r.examples.first().unwrap();
        assert_eq!(
            (first.line, first.why),
            (12, LineProblem::UnsupportedAdblock)
        );
        assert_eq!(first.text, "||path.test^/ads");
        let shown = r.to_string();
        assert!(shown.contains("10 invalid"), "{shown}");
        assert!(shown.contains("unsupported_adblock=3"), "{shown}");
    }

    #[test]
    fn listed_domain_covers_its_subdomains_only_on_label_boundaries() {
        let l = CategoryList::parse("casino.test\n", Category::Gambling, "t");
        assert!(l.covers("casino.test"));
        assert!(l.covers("www.CASINO.test"));
        assert!(!l.covers("bigcasino.test"));
        assert!(!l.covers("test"));
        assert_eq!(l.category(), Category::Gambling);
    }

    #[test]
    fn non_utf8_and_crlf_lines_are_handled() {
        let l =
            CategoryList::parse_bytes(b"a.test\r\n\xff\xfe.test\r\nb.test", Category::Adult, "t");
        assert_eq!(l.len(), 2);
        assert_eq!(l.report().lines, 3);
        assert_eq!(l.report().invalid(LineProblem::BadCharacter), 1);
    }

    #[test]
    fn examples_are_capped() {
        let text = "bad..x\n".repeat(100);
        let l = CategoryList::parse(&text, Category::Adult, "t");
        assert_eq!(l.report().invalid(LineProblem::EmptyLabel), 100);
        assert_eq!(l.report().examples.len(), MAX_EXAMPLES);
        assert_eq!(l.report().lines, 100);
    }

    #[test]
    fn examples_keep_the_line_cut_to_a_readable_length() {
        let long = format!("{}..x\r\n", "y".repeat(150));
        let l = CategoryList::parse_bytes(long.as_bytes(), Category::Adult, "t");
        let ex = &l.report().examples[0];
        assert_eq!(ex.line, 1);
        assert_eq!(ex.text, format!("{}...", "y".repeat(EXAMPLE_TEXT_MAX)));
        let l = CategoryList::parse_bytes(b"ok.test\nbad \xff name\r\n", Category::Adult, "t");
        let ex = &l.report().examples[0];
        assert_eq!((ex.line, ex.why), (2, LineProblem::BadCharacter));
        assert_eq!(ex.text, "bad \u{fffd} name");
    }

    #[test]
    fn large_list_stays_compact() {
        let mut text = String::new();
        for i in 0..100_000 {
            text.push_str(&format!("host{i}.example{}.com\n", i % 97));
        }
        let l = CategoryList::parse(&text, Category::Adult, "t");
        assert_eq!(l.len(), 100_000);
        let per_domain = l.heap_bytes() / l.len();
        // ~20 bytes of name, 16 of entry, 8-16 of table slots.
        assert!(per_domain < 64, "{per_domain} bytes per domain");
        assert!(l.covers("www.host99999.example89.com"));
    }
}
