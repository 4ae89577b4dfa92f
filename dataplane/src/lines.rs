//! Line and column numbers of byte offsets in a text: where the errors of a policy or a
//! catalog file point.

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
