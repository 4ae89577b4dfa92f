//! Bounded reassembly of the first bytes of a stream: TCP payload by sequence number
//! ([`TcpStream`]) and QUIC CRYPTO data by offset ([`StreamBuf`]). Pieces may arrive out of
//! order, repeat or overlap; only the first `limit` bytes of the stream are kept, which is all
//! that naming needs (a ClientHello, a request head). What lies beyond the limit is dropped and
//! remembered as [`StreamBuf::overflowed`].
//!
//! Where a piece overlaps bytes already held, the first copy stays and the two are compared
//! (only there: a piece that lands in a gap costs no comparison). A receiver may keep either
//! copy, so overlaps that differ are how a client shows a middlebox one name and the server
//! another; they are remembered as [`StreamBuf::mismatched`]. Each insert says how many bytes
//! it added, so that a caller can tell a retransmission (nothing new) from progress.

/// Bytes reserved at a buffer's first piece: a ClientHello (also a post-quantum one) fits.
const FIRST_RESERVE: u32 = 2048;

/// A stream's first bytes, filled from pieces at arbitrary offsets.
#[derive(Debug, Clone)]
pub struct StreamBuf {
    data: Vec<u8>,
    /// Filled ranges `[start, end)`, sorted, disjoint and not touching.
    filled: Vec<(u32, u32)>,
    limit: u32,
    overflowed: bool,
    /// Bytes held (the filled ranges' total length).
    held: u32,
    /// Whether a piece overlapped held bytes with different bytes.
    mismatched: bool,
}

impl StreamBuf {
    /// A buffer that keeps at most the first `limit` bytes of the stream.
    pub fn new(limit: u32) -> StreamBuf {
        StreamBuf {
            data: Vec::new(),
            filled: Vec::new(),
            limit,
            overflowed: false,
            held: 0,
            mismatched: false,
        }
    }

    /// Stores `bytes` found at stream offset `offset` and returns how many of them were new
    /// (not held before). Bytes beyond the limit are dropped (and
    /// [`overflowed`](Self::overflowed) is set). Where pieces overlap, the first one stays, and
    /// a difference sets [`mismatched`](Self::mismatched).
    pub fn insert(&mut self, offset: u64, bytes: &[u8]) -> u32 {
        if bytes.is_empty() {
            return 0;
        }
        let limit = u64::from(self.limit);
        let end = offset.saturating_add(bytes.len() as u64);
        if end > limit {
            self.overflowed = true;
        }
        if offset >= limit {
            return 0;
        }
        let start = offset as u32;
        let end = end.min(limit) as u32;
        let bytes = &bytes[..(end - start) as usize];
        if self.data.len() < end as usize {
            if self.data.capacity() == 0 {
                // Most first flights fit in this: one allocation instead of a growing series.
                self.data
                    .reserve(end.max(FIRST_RESERVE.min(self.limit)) as usize);
            }
            self.data.resize(end as usize, 0);
        }
        // Copy only into the gaps, so the first copy of every byte wins; compare where held.
        let mut cursor = start;
        let mut added = 0u32;
        let piece = |a: u32, b: u32| &bytes[(a - start) as usize..(b - start) as usize];
        for &(s, e) in &self.filled {
            if e <= cursor {
                continue;
            }
            if s >= end {
                break;
            }
            if s > cursor {
                self.data[cursor as usize..s as usize].copy_from_slice(piece(cursor, s));
                added += s - cursor;
            }
            let (a, b) = (s.max(cursor), e.min(end));
            if self.data[a as usize..b as usize] != *piece(a, b) {
                self.mismatched = true;
            }
            cursor = cursor.max(e);
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            self.data[cursor as usize..end as usize].copy_from_slice(piece(cursor, end));
            added += end - cursor;
        }
        self.mark_filled(start, end);
        self.held += added;
        added
    }

    /// Records `[start, end)` as filled, merging it with the ranges it overlaps or touches (in
    /// place: no allocation once the list has room).
    fn mark_filled(&mut self, start: u32, end: u32) {
        // Ranges wholly before (ending before `start`) and wholly after (starting after `end`)
        // stay; the ones between merge with the new range.
        let first = self.filled.partition_point(|&(_, b)| b < start);
        let past = self.filled.partition_point(|&(a, _)| a <= end);
        let merged = match (
            self.filled.get(first),
            self.filled.get(past.wrapping_sub(1)),
        ) {
            (Some(head), Some(tail)) if first < past => (start.min(head.0), end.max(tail.1)),
            _ => (start, end),
        };
        self.filled.splice(first..past, std::iter::once(merged));
    }

    /// The bytes from offset 0 up to the first gap.
    pub fn contiguous(&self) -> &[u8] {
        match self.filled.first() {
            Some(&(0, end)) => &self.data[..end as usize],
            _ => &[],
        }
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.filled.is_empty()
    }

    /// Whether bytes beyond the limit were offered and dropped.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Whether a piece overlapped bytes already held with different bytes.
    pub fn mismatched(&self) -> bool {
        self.mismatched
    }

    /// Bytes held, in all ranges.
    pub fn held(&self) -> u32 {
        self.held
    }

    /// Whether the contiguous prefix has reached the limit: no more can ever be added to it.
    pub fn is_full(&self) -> bool {
        self.contiguous().len() as u32 >= self.limit
    }

    /// Moves everything `by` bytes later in the stream (a piece turned up before what was
    /// thought to be the start). Bytes pushed past the limit are dropped.
    fn shift(&mut self, by: u32) {
        let old = std::mem::take(&mut self.data);
        let filled = std::mem::take(&mut self.filled);
        self.held = 0;
        for (s, e) in filled {
            self.insert(u64::from(s) + u64::from(by), &old[s as usize..e as usize]);
        }
    }

    /// Drops everything held; the limit stays.
    pub fn clear(&mut self) {
        self.data.clear();
        self.filled.clear();
        self.overflowed = false;
        self.held = 0;
    }
}

/// One direction of a TCP connection's first bytes, placed by sequence number.
///
/// The stream starts after the SYN when the SYN was seen; otherwise at the lowest sequence number
/// seen so far (a segment that turns up earlier, within the limit, moves the start back).
#[derive(Debug, Clone)]
pub struct TcpStream {
    base: Option<u32>,
    syn_seen: bool,
    buf: StreamBuf,
}

impl TcpStream {
    pub fn new(limit: u32) -> TcpStream {
        TcpStream {
            base: None,
            syn_seen: false,
            buf: StreamBuf::new(limit),
        }
    }

    /// A stream whose SYN carried sequence number `isn`: its first byte is `isn + 1`.
    pub fn after_syn(isn: u32, limit: u32) -> TcpStream {
        TcpStream {
            base: Some(isn.wrapping_add(1)),
            syn_seen: true,
            buf: StreamBuf::new(limit),
        }
    }

    /// Takes one segment of this direction: its sequence number, flags and payload. Returns how
    /// many bytes it added to the stream (0 for a retransmission, or bytes beyond the limit).
    pub fn segment(&mut self, seq: u32, flags: u8, payload: &[u8]) -> u32 {
        use crate::decode::tcp_flags::SYN;
        if flags & SYN != 0 {
            let start = seq.wrapping_add(1);
            if !self.syn_seen {
                self.syn_seen = true;
                // Data seen before the SYN: re-place it relative to the true start.
                if let Some(base) = self.base {
                    let delta = base.wrapping_sub(start);
                    if delta as i32 >= 0 {
                        self.buf.shift(delta);
                    } else {
                        self.buf.clear();
                    }
                }
                self.base = Some(start);
            }
            // Data on a SYN (TCP Fast Open) starts right after it.
            return self.buf.insert(0, payload);
        }
        if payload.is_empty() {
            return 0;
        }
        let base = match self.base {
            Some(base) => base,
            None => {
                self.base = Some(seq);
                seq
            }
        };
        let rel = seq.wrapping_sub(base) as i32;
        if rel >= 0 {
            return self.buf.insert(rel as u64, payload);
        }
        // Before the start. Retransmission of SYN-relative data cannot be, so if the SYN was
        // seen this is old junk; otherwise the start moves back.
        if self.syn_seen {
            let back = rel.unsigned_abs() as usize;
            return match payload.get(back..) {
                Some(rest) => self.buf.insert(0, rest),
                None => 0,
            };
        }
        let by = rel.unsigned_abs();
        if by >= self.buf.limit {
            return 0;
        }
        self.buf.shift(by);
        self.base = Some(seq);
        self.buf.insert(0, payload)
    }

    /// The stream's bytes from its start up to the first gap.
    pub fn contiguous(&self) -> &[u8] {
        self.buf.contiguous()
    }

    /// Whether the stream holds nothing yet and a segment (no SYN) at `seq` would be its first
    /// bytes, placed at its start.
    pub fn would_start_with(&self, seq: u32, flags: u8) -> bool {
        use crate::decode::tcp_flags::SYN;
        flags & SYN == 0 && self.buf.is_empty() && self.base.is_none_or(|base| base == seq)
    }

    pub fn is_full(&self) -> bool {
        self.buf.is_full()
    }

    /// Whether a segment overlapped bytes already held with different bytes.
    pub fn mismatched(&self) -> bool {
        self.buf.mismatched()
    }

    /// Whether any byte is held (perhaps after a gap).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tcp_flags::{ACK, SYN};

    #[test]
    fn stream_buf_joins_out_of_order_pieces() {
        let mut b = StreamBuf::new(100);
        b.insert(5, b"world");
        assert_eq!(b.contiguous(), b"");
        b.insert(0, b"hello");
        assert_eq!(b.contiguous(), b"helloworld");
    }

    #[test]
    fn stream_buf_first_copy_wins_on_overlap() {
        let mut b = StreamBuf::new(100);
        b.insert(2, b"CDE");
        b.insert(0, b"abcdefg");
        assert_eq!(b.contiguous(), b"abCDEfg");
    }

    #[test]
    fn stream_buf_is_bounded() {
        let mut b = StreamBuf::new(4);
        b.insert(0, b"abcdef");
        assert_eq!(b.contiguous(), b"abcd");
        assert!(b.overflowed());
        assert!(b.is_full());
        b.insert(1000, b"x");
        assert_eq!(b.contiguous(), b"abcd");
    }

    #[test]
    fn stream_buf_leaves_gap_open() {
        let mut b = StreamBuf::new(100);
        b.insert(0, b"ab");
        b.insert(3, b"de");
        assert_eq!(b.contiguous(), b"ab");
        b.insert(2, b"c");
        assert_eq!(b.contiguous(), b"abcde");
    }

    #[test]
    fn tcp_stream_uses_syn_for_start() {
        let mut t = TcpStream::new(100);
        t.segment(1000, SYN, b"");
        t.segment(1004, ACK, b"def");
        assert_eq!(t.contiguous(), b"");
        t.segment(1001, ACK, b"abc");
        assert_eq!(t.contiguous(), b"abcdef");
    }

    #[test]
    fn tcp_stream_without_syn_moves_start_back() {
        let mut t = TcpStream::new(100);
        t.segment(5004, ACK, b"ghi");
        t.segment(5001, ACK, b"def");
        t.segment(4998, ACK, b"abc");
        assert_eq!(t.contiguous(), b"abcdefghi");
    }

    #[test]
    fn tcp_stream_ignores_retransmission_and_wraps_sequence() {
        let mut t = TcpStream::new(100);
        t.segment(u32::MAX - 1, SYN, b"");
        t.segment(u32::MAX, ACK, b"ab");
        t.segment(u32::MAX, ACK, b"XY");
        t.segment(1, ACK, b"cd");
        assert_eq!(t.contiguous(), b"abcd");
    }

    #[test]
    fn tcp_stream_data_before_syn_is_replaced() {
        let mut t = TcpStream::new(100);
        t.segment(104, ACK, b"def");
        t.segment(100, SYN, b"");
        t.segment(101, ACK, b"abc");
        assert_eq!(t.contiguous(), b"abcdef");
    }

    #[test]
    fn stream_buf_counts_new_bytes_and_a_repeat_adds_none() {
        let mut b = StreamBuf::new(100);
        assert_eq!(b.insert(0, b"hello"), 5);
        assert_eq!(b.insert(0, b"hello"), 0);
        assert_eq!(b.insert(3, b"lo wor"), 4);
        assert_eq!(b.insert(20, b"x"), 1);
        assert_eq!(b.held(), 10);
        assert_eq!(b.insert(98, b"abcd"), 2, "bytes past the limit are not new");
        assert!(!b.mismatched());
    }

    #[test]
    fn stream_buf_overlap_with_different_bytes_is_a_mismatch() {
        let mut b = StreamBuf::new(100);
        b.insert(2, b"CDE");
        b.insert(0, b"abCDEfg");
        assert!(!b.mismatched(), "the same bytes again");
        assert_eq!(b.insert(4, b"Xf"), 0);
        assert!(b.mismatched());
        assert_eq!(b.contiguous(), b"abCDEfg", "the first copy stays");
    }

    #[test]
    fn tcp_stream_segment_says_what_it_added() {
        let mut t = TcpStream::new(100);
        assert_eq!(t.segment(1000, SYN, b""), 0);
        assert_eq!(t.segment(1001, ACK, b"abc"), 3);
        assert_eq!(t.segment(1001, ACK, b"abc"), 0);
        assert_eq!(
            t.segment(999, ACK, b"zzabcd"),
            1,
            "old bytes before the start are cut"
        );
        assert!(!t.mismatched());
        assert_eq!(t.segment(1002, ACK, b"Q"), 0);
        assert!(t.mismatched());
    }
}
