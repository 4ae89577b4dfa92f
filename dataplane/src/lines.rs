//! Line and column numbers of byte offsets in a text: where the errors of a policy, catalog or
//! config file point; and the field path and a plainer message for an error the TOML crate
//! reports by position only.

use std::ops::Range;

/// Turns byte offsets of one text into 1-based line and column numbers (the line by a binary
/// search of the line starts: a policy of many subscribers or a catalog of many domains asks once per entry).
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the start of every line after the first.
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let line_starts = text
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        LineIndex { text, line_starts }
    }

    /// Line and column of a byte offset (clamped to the text; a column counts characters).
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        // Lines starting at or before the offset (a newline at `offset` itself is after it).
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = line
            .checked_sub(1)
            .and_then(|i| self.line_starts.get(i).copied())
            .unwrap_or(0);
        let column = self
            .text
            .get(line_start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        (line + 1, column)
    }

    pub(crate) fn line(&self, span: &Range<usize>) -> usize {
        self.line_col(span.start).0
    }
}

/// The dotted path of the TOML key whose value starts at byte `offset` (`profile.kid.
/// schedules[0].start`), read from the text around it: the key before the last `=` of its line,
/// under the last table header above it (an array of tables counted from 0). For errors the
/// TOML parser reports by position only; `None` when no key is found.
pub fn toml_key_path(text: &str, offset: usize) -> Option<String> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.get(line_start..)?;
    let key = match line.rfind('=') {
        // The error is in a value: its key is before the `=`.
        Some(eq) => line
            .get(..eq)?
            .trim_end()
            .rsplit(|c: char| c == '{' || c == ',' || c.is_whitespace())
            .next()?,
        // The error is at a key (an unknown field): the key is here.
        None => {
            let rest = text.get(offset..)?;
            let end = rest.find(['=', '\n'])?;
            if !rest.get(end..)?.starts_with('=') {
                return None;
            }
            rest.get(..end)?.trim_end()
        }
    };
    let key = key.trim_matches('"');
    if key.is_empty() {
        return None;
    }
    let mut header = String::new();
    let mut arrays: Vec<(String, usize)> = Vec::new();
    for l in text.get(..line_start)?.lines() {
        let t = l.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = match arrays.iter_mut().find(|(a, _)| *a == name) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    arrays.push((name.clone(), 0));
                    0
                }
            };
            header = format!("{name}[{n}]");
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            header = name.trim().to_string();
        }
    }
    Some(if header.is_empty() {
        key.to_string()
    } else {
        format!("{header}.{key}")
    })
}

/// A TOML error message made plainer where the TOML crate's is cryptic: a value written as a
/// TOML time or date where text is expected (`start = 21:00`, which the crate reports as
/// "invalid type: map, expected a string") says to write it in quotes.
pub fn toml_message(text: &str, offset: usize, message: &str) -> String {
    let value = text.get(offset..).unwrap_or_default();
    let value = value
        .split(['\n', ',', '}', ']', '#'])
        .next()
        .unwrap_or_default()
        .trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let is_time = value.len() >= 5
        && value.get(..2).is_some_and(digits)
        && value.get(2..3) == Some(":")
        && value.get(3..5).is_some_and(digits);
    let is_date =
        value.len() >= 10 && value.get(..4).is_some_and(digits) && value.get(4..5) == Some("-");
    if message.starts_with("invalid type: map") && (is_time || is_date) {
        let kind = if is_time { "time" } else { "date" };
        let quoted = if is_time {
            value.get(..5).unwrap_or(value)
        } else {
            value
        };
        return format!(
            "`{value}` is a TOML {kind}, not text: write it in quotes, as \"{quoted}\""
        );
    }
    message.to_string()
}

/// Where a text file stops being UTF-8: the first bad byte, its line and column (the column
/// counts the characters before it, plus one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotUtf8 {
    pub line: usize,
    pub column: usize,
    pub byte: u8,
}

/// `bytes` as text, or where it is not UTF-8.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, NotUtf8> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let valid = bytes
            .get(..at)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("");
        let (line, column) = LineIndex::new(valid).line_col(at);
        NotUtf8 {
            line,
            column,
            byte: bytes.get(at).copied().unwrap_or(0),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_key_path_names_the_key_under_its_table() {
        let text = "a = 1\n[profile.kid]\nx = 2\n[[profile.kid.schedules]]\nname = \"n\"\n\
                    [[profile.kid.schedules]]\nstart = 21:00:00\nq = [{ app = 5 }]\n";
        let at = |needle: &str| text.find(needle).unwrap();
        assert_eq!(toml_key_path(text, at("1")).as_deref(), Some("a"));
        assert_eq!(
            toml_key_path(text, at("2")).as_deref(),
            Some("profile.kid.x")
        );
        assert_eq!(
            toml_key_path(text, at("21:")).as_deref(),
            Some("profile.kid.schedules[1].start")
        );
        assert_eq!(
            toml_key_path(text, at("5 }")).as_deref(),
            Some("profile.kid.schedules[1].app")
        );
        assert_eq!(
            toml_key_path(text, 0).as_deref(),
            Some("a"),
            "an unknown key"
        );
        assert_eq!(
            toml_key_path(text, at("name")).as_deref(),
            Some("profile.kid.schedules[0].name")
        );
        assert_eq!(toml_key_path(text, at("[profile.kid]")), None);
    }

    #[test]
    fn toml_time_where_text_is_expected_says_to_quote_it() {
        let text = "start = 21:00:00\nday = 2025-11-02\nn = 5";
        let m = toml_message(text, 8, "invalid type: map, expected a string");
        assert_eq!(
            m,
            "`21:00:00` is a TOML time, not text: write it in quotes, as \"21:00\""
        );
        let m = toml_message(text, 23, "invalid type: map, expected a string");
        assert!(m.starts_with("`2025-11-02` is a TOML date"), "{m}");
        let m = toml_message(text, 32, "invalid type: integer, expected a string");
        assert_eq!(m, "invalid type: integer, expected a string");
    }

    #[test]
    fn utf8_error_points_at_the_first_bad_byte() {
        assert_eq!(utf8(b"ab\ncd"), Ok("ab\ncd"));
        assert_eq!(
            utf8(b"ab\nc\xc3\xa9d\xff"),
            Err(NotUtf8 {
                line: 2,
                column: 4,
                byte: 0xff
            })
        );
        assert_eq!(
            utf8(b"\x80"),
            Err(NotUtf8 {
                line: 1,
                column: 1,
                byte: 0x80
            })
        );
    }

    #[test]
    fn line_col_counts_lines_and_characters() {
        let idx = LineIndex::new("ab\ncdé\nf");
        assert_eq!(idx.line_col(0), (1, 1));
        assert_eq!(idx.line_col(3), (2, 1));
        assert_eq!(idx.line_col(5), (2, 3));
        assert_eq!(idx.line_col(8), (3, 1));
        assert_eq!(idx.line_col(1000), (3, 2));
        assert_eq!(idx.line_col(2), (1, 3), "the newline ends its line");
        assert_eq!(idx.line_col(6), (2, 3), "inside é: its start");
        assert_eq!(idx.line_col(7), (2, 4));
        let empty = LineIndex::new("");
        assert_eq!(empty.line_col(0), (1, 1));
    }
}
