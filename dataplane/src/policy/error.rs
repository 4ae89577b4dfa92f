//! Errors of loading and compiling a policy file. Each names the file, the line and column (from
//! the byte span that the toml crate keeps for every value) and the field, so that an operator can
//! go straight to it. The compiler collects every error it finds before it returns
//! ([`PolicyErrors`]), so that one pass over the file fixes all of them.

use std::fmt;

/// What is wrong with one value of a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyErrorKind {
    #[error("cannot read the policy file: {0}")]
    Io(String),
    #[error("not UTF-8 text (byte {0:#04x}); save the file as UTF-8")]
    NotUtf8(u8),
    #[error("{0}")]
    Syntax(String),
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("empty; give {0}")]
    Empty(&'static str),
    #[error("unknown profile `{0}`")]
    UnknownProfile(String),
    #[error("unknown app `{0}` (not in the app catalog)")]
    UnknownApp(String),
    #[error("unknown category `{0}`")]
    UnknownCategory(String),
    #[error("bad time `{0}` (expected HH:MM, 00:00 to 23:59, or 24:00 as an end)")]
    BadTime(String),
    #[error("a window must not start and end at the same time ({0})")]
    EmptyWindow(String),
    #[error("bad day `{0}` (expected mon..sun, weekdays, weekends or daily)")]
    BadDay(String),
    #[error("unknown time zone `{0}` (expected an IANA name such as Europe/London)")]
    BadTimezone(String),
    #[error(
        "bad identifier `{0}` (expected an IPv4/IPv6 address or prefix, or a TEID 1..=4294967295)"
    )]
    BadIdentifier(String),
    #[error("bad prefix `{0}` (host bits set or prefix length out of range)")]
    BadCidr(String),
    #[error("bad domain `{0}`")]
    BadDomain(String),
    #[error("duplicate subscriber id `{id}` (first at line {first_line})")]
    DuplicateSubscriber { id: String, first_line: usize },
    #[error("duplicate identifier `{ident}` (first at line {first_line})")]
    DuplicateIdentifier { ident: String, first_line: usize },
    #[error("a quota names exactly one of `app` or `category`")]
    QuotaTarget,
    #[error("quota minutes {0} out of range (1..=1440)")]
    QuotaMinutes(i64),
    #[error("duplicate quota for `{0}` in one profile")]
    DuplicateQuota(String),
    #[error("bad value `{0}` (expected \"allow\" or \"block\")")]
    BadUnknownMode(String),
    #[error("too many {0}")]
    TooMany(&'static str),
}

/// One error, located in the policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file (or other source) the policy came from.
    pub source: String,
    /// 1-based line; 0 when the error has no place in the file (an I/O error).
    pub line: usize,
    /// 1-based column (in characters); 0 when `line` is 0.
    pub column: usize,
    /// The field, e.g. `subscriber[1].timezone` or `profile.teen.schedules[0].start`; empty for
    /// syntax errors (the toml message names the key).
    pub field: String,
    pub kind: PolicyErrorKind,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for PolicyError {}

/// Every error found in one policy file (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl PolicyErrors {
    pub fn iter(&self) -> impl Iterator<Item = &PolicyError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid policy ({} error", self.0.len())?;
        if self.0.len() != 1 {
            write!(f, "s")?;
        }
        write!(f, ")")?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_and_field() {
        let e = PolicyError {
            source: "p.toml".into(),
            line: 4,
            column: 7,
            field: "subscriber[0].timezone".into(),
            kind: PolicyErrorKind::BadTimezone("Mars/Base".into()),
        };
        let s = e.to_string();
        assert!(s.starts_with("p.toml:4:7: field `subscriber[0].timezone`: unknown time zone"));
    }
}
