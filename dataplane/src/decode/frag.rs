//! IP fragment reassembly (RFC 791 section 3.2 for IPv4, RFC 8200 section 4.5 for IPv6), enough
//! for DNS answers and QUIC Initials that do not fit one packet.
//!
//! Datagrams are keyed by (source, destination, identification, protocol). The table is bounded:
//! [`MAX_PENDING`] datagrams at once (when full, the one waiting longest gives way), each at most
//! [`MAX_DATAGRAM`] bytes, each waiting at most [`EXPIRY_NS`] of capture time. Overlapping
//! fragments drop the datagram (RFC 5722); an exact duplicate of a held fragment is ignored. A
//! fragment cut by the snap length drops its datagram, since the hole can never be filled.
//!
//! Coverage is a bitmap of 8-byte blocks, the unit of fragment offsets. Buffers are allocated
//! once and reused: a completed datagram's buffer is swapped with the caller's output buffer, so
//! steady-state reassembly does not allocate.

use super::ip::Fragment;
use super::DecodeError;
use std::net::IpAddr;

/// Datagrams held at once.
pub const MAX_PENDING: usize = 64;
/// Largest reassembled datagram payload (the IP length fields cannot say more).
pub const MAX_DATAGRAM: usize = 65_535;
/// How long (capture time) a datagram may wait for its missing fragments.
pub const EXPIRY_NS: u64 = 30_000_000_000;

/// Fragment offsets count in blocks of this many bytes (a power of two).
const BLOCK: usize = 8;
const BLOCKS: usize = MAX_DATAGRAM.div_ceil(BLOCK);
const BITMAP_WORDS: usize = BLOCKS.div_ceil(64);

/// What identifies the fragments of one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub proto: u8,
}

/// One datagram being reassembled.
struct Pending {
    /// `None` when the slot is free.
    key: Option<FragKey>,
    /// Capture time of its first fragment.
    first_ns: u64,
    /// Length of the whole datagram, known once the last fragment came.
    total: Option<usize>,
    /// Bytes received (fragments never overlap, so this is the coverage).
    received: usize,
    /// End of the furthest fragment received.
    max_end: usize,
    /// One bit per 8-byte block received.
    blocks: [u64; BITMAP_WORDS],
    buf: Vec<u8>,
}

impl Pending {
    fn new() -> Pending {
        Pending {
            key: None,
            first_ns: 0,
            total: None,
            received: 0,
            max_end: 0,
            blocks: [0; BITMAP_WORDS],
            buf: Vec::new(),
        }
    }

    fn reset(&mut self, key: FragKey, now: u64) {
        self.key = Some(key);
        self.first_ns = now;
        self.total = None;
        self.received = 0;
        self.max_end = 0;
        self.blocks = [0; BITMAP_WORDS];
        self.buf.clear();
    }

    fn block_set(&self, b: usize) -> bool {
        self.blocks
            .get(b / 64)
            .is_some_and(|w| w & (1u64 << (b % 64)) != 0)
    }

    fn set_block(&mut self, b: usize) {
        if let Some(w) = self.blocks.get_mut(b / 64) {
            *w |= 1u64 << (b % 64);
        }
    }

    /// Adds the bytes `data` at `start`; `more` is the fragment's more-fragments flag.
    fn add(&mut self, start: usize, data: &[u8], more: bool) -> Added {
        let end = start + data.len();
        if let Some(total) = self.total {
            if end > total || (!more && end != total) {
                return Added::Bad;
            }
        } else if !more {
            if self.max_end > end {
                return Added::Bad;
            }
            self.total = Some(end);
        }
        let blocks = start / BLOCK..end.div_ceil(BLOCK);
        let already = blocks.clone().filter(|&b| self.block_set(b)).count();
        if already > 0 {
            return if already == blocks.len() {
                Added::Held
            } else {
                Added::Bad
            };
        }
        for b in blocks {
            self.set_block(b);
        }
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        match self.buf.get_mut(start..end) {
            Some(dst) => dst.copy_from_slice(data),
            None => return Added::Bad,
        }
        self.received += data.len();
        self.max_end = self.max_end.max(end);
        match self.total {
            Some(total) if self.received == total => Added::Complete,
            _ => Added::Held,
        }
    }
}

enum Added {
    Held,
    Complete,
    Bad,
}

/// The datagrams being reassembled by one decoder.
pub struct FragTable {
    slots: Vec<Pending>,
}

impl Default for FragTable {
    fn default() -> Self {
        FragTable {
            slots: (0..MAX_PENDING).map(|_| Pending::new()).collect(),
        }
    }
}

impl FragTable {
    /// Datagrams held now.
    pub fn pending(&self) -> usize {
        self.slots.iter().filter(|p| p.key.is_some()).count()
    }

    /// Adds one fragment (`data` is its part of the fragmentable payload). When it completes its
    /// datagram, the datagram is moved into `out` and returned; otherwise the answer is
    /// `FragmentHeld`, or `FragmentDropped` when the fragment or its datagram is unusable.
    pub fn insert<'o>(
        &mut self,
        now: u64,
        key: FragKey,
        frag: Fragment,
        data: &[u8],
        out: &'o mut Vec<u8>,
    ) -> Result<&'o [u8], DecodeError> {
        let found = self.find(now, &key);
        let end = frag.offset.saturating_add(data.len());
        let unusable = !frag.whole
            || end > MAX_DATAGRAM
            || (frag.more && (data.is_empty() || data.len() & (BLOCK - 1) != 0));
        if unusable {
            if let Some(i) = found {
                self.free(i);
            }
            return Err(DecodeError::FragmentDropped);
        }
        let i = match found {
            Some(i) => i,
            None => self.allocate(now, key),
        };
        let Some(p) = self.slots.get_mut(i) else {
            return Err(DecodeError::FragmentDropped);
        };
        match p.add(frag.offset, data, frag.more) {
            Added::Held => Err(DecodeError::FragmentHeld),
            Added::Bad => {
                self.free(i);
                Err(DecodeError::FragmentDropped)
            }
            Added::Complete => {
                std::mem::swap(&mut p.buf, out);
                p.key = None;
                let out: &'o Vec<u8> = out;
                Ok(out.as_slice())
            }
        }
    }

    /// The slot holding `key`, expiring stale datagrams on the way.
    fn find(&mut self, now: u64, key: &FragKey) -> Option<usize> {
        let mut found = None;
        for (i, p) in self.slots.iter_mut().enumerate() {
            let Some(k) = &p.key else { continue };
            if now.saturating_sub(p.first_ns) > EXPIRY_NS {
                p.key = None;
            } else if k == key {
                found = Some(i);
            }
        }
        found
    }

    /// A slot for a new datagram: a free one, else the one waiting longest.
    fn allocate(&mut self, now: u64, key: FragKey) -> usize {
        let i = self
            .slots
            .iter()
            .position(|p| p.key.is_none())
            .or_else(|| {
                self.slots
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, p)| p.first_ns)
                    .map(|(i, _)| i)
            })
            .unwrap_or(0);
        if let Some(p) = self.slots.get_mut(i) {
            p.reset(key, now);
        }
        i
    }

    fn free(&mut self, i: usize) {
        if let Some(p) = self.slots.get_mut(i) {
            p.key = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const SEC: u64 = 1_000_000_000;

    fn key(id: u32) -> FragKey {
        FragKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            id,
            proto: 17,
        }
    }

    fn frag(offset: usize, more: bool) -> Fragment {
        Fragment {
            id: 0,
            offset,
            more,
            whole: true,
        }
    }

    #[test]
    fn in_order_fragments_complete() {
        let mut t = FragTable::default();
        let mut out = Vec::new();
        assert_eq!(
            t.insert(0, key(1), frag(0, true), &[1; 16], &mut out),
            Err(DecodeError::FragmentHeld)
        );
        let got = t
            .insert(0, key(1), frag(16, false), &[2; 3], &mut out)
            .unwrap();
        assert_eq!(
            got,
            [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2]
        );
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn out_of_order_fragments_complete() {
        let mut t = FragTable::default();
        let mut out = Vec::new();
        assert!(t
            .insert(0, key(1), frag(16, false), &[3; 2], &mut out)
            .is_err());
        assert!(t
            .insert(0, key(1), frag(8, true), &[2; 8], &mut out)
            .is_err());
        let got = t
            .insert(0, key(1), frag(0, true), &[1; 8], &mut out)
            .unwrap();
        assert_eq!(got.len(), 18);
        assert_eq!((got[0], got[8], got[17]), (1, 2, 3));
    }

    #[test]
    fn duplicate_fragment_is_ignored() {
        let mut t = FragTable::default();
        let mut out = Vec::new();
        let _ = t.insert(0, key(1), frag(0, true), &[1; 8], &mut out);
        assert_eq!(
            t.insert(0, key(1), frag(0, true), &[9; 8], &mut out),
            Err(DecodeError::FragmentHeld)
        );
        let got = t
            .insert(0, key(1), frag(8, false), &[2; 1], &mut out)
            .unwrap();
        assert_eq!(got, [1, 1, 1, 1, 1, 1, 1, 1, 2]);
    }

    #[test]
    fn partial_overlap_drops_the_datagram() {
        let mut t = FragTable::default();
        let mut out = Vec::new();
        let _ = t.insert(0, key(1), frag(0, true), &[1; 16], &mut out);
        assert_eq!(
            t.insert(0, key(1), frag(8, true), &[2; 16], &mut out),
            Err(DecodeError::FragmentDropped)
        );
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn expired_datagram_does_not_complete() {
        let mut t = FragTable::default();
        let mut out = Vec::new();
        let _ = t.insert(0, key(1), frag(0, true), &[1; 8], &mut out);
        let late = t.insert(EXPIRY_NS + SEC, key(1), frag(8, false), &[2; 4], &mut out);
        assert_eq!(late, Err(DecodeError::FragmentHeld));
        assert_eq!(
            t.pending(),
            1,
            "the late fragment starts a new datagram alone"
        );
    }

    #[test]
    fn table_is_bounded_and_evicts_the_oldest() {
        let mut t = FragTable::default();
        let mut out = Vec::new();
        for id in 0..(MAX_PENDING as u32 + 10) {
            let _ = t.insert(u64::from(id), key(id), frag(0, true), &[1; 8], &mut out);
        }
        assert_eq!(t.pending(), MAX_PENDING);
        // id 0 was evicted: its last fragment does not complete it.
        assert!(t
            .insert(100, key(0), frag(8, false), &[1], &mut out)
            .is_err());
        // the newest is still there.
        let id = MAX_PENDING as u32 + 9;
        assert!(t
            .insert(100, key(id), frag(8, false), &[1], &mut out)
            .is_ok());
    }

    #[test]
    fn oversized_and_misaligned_fragments_are_dropped() {
        let mut t = FragTable::default();
        let mut out = Vec::new();
        let big = t.insert(0, key(1), frag(65_528, false), &[0; 16], &mut out);
        assert_eq!(big, Err(DecodeError::FragmentDropped));
        let odd = t.insert(0, key(2), frag(0, true), &[0; 7], &mut out);
        assert_eq!(odd, Err(DecodeError::FragmentDropped));
        let cut = Fragment {
            id: 0,
            offset: 0,
            more: true,
            whole: false,
        };
        assert_eq!(
            t.insert(0, key(3), cut, &[0; 8], &mut out),
            Err(DecodeError::FragmentDropped)
        );
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn last_fragment_disagreeing_with_data_beyond_it_is_dropped() {
        let mut t = FragTable::default();
        let mut out = Vec::new();
        let _ = t.insert(0, key(1), frag(16, true), &[0; 8], &mut out);
        let last = t.insert(0, key(1), frag(0, false), &[0; 8], &mut out);
        assert_eq!(last, Err(DecodeError::FragmentDropped));
    }

    #[test]
    fn buffers_are_reused_across_datagrams() {
        let mut t = FragTable::default();
        let mut out = Vec::new();
        for round in 0..4u32 {
            let _ = t.insert(0, key(round), frag(0, true), &[1; 1024], &mut out);
            let got = t
                .insert(0, key(round), frag(1024, false), &[2; 8], &mut out)
                .unwrap();
            assert_eq!(got.len(), 1032);
        }
        let capacity_total: usize = t.slots.iter().map(|p| p.buf.capacity()).sum();
        assert!(
            capacity_total <= 2048,
            "no new buffer per datagram: {capacity_total}"
        );
    }
}
