//! The stretch of a replay's mapped captures in use, kept by worker threads ([`Window`]): pages
//! are mapped in ahead of the thread that reads the captures and unmapped behind every worker.

use crate::capture::Capture;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of capture a waiting worker maps in at a time, and how far ahead of the dispatcher
/// workers map in pages at most.
const FAULT_CHUNK: usize = 256 << 10;
const FAULT_AHEAD: usize = 8 << 20;
/// Bytes of capture between two marked batches, and the most a worker unmaps at a time. Each
/// unmapping flushes the TLB of every CPU the process runs on (an interrupt to the dispatcher's)
/// and takes the lock of the address space: every 32 MB, two workers replayed the benchmark
/// capture 2-6 % faster than every 8 MB, for 50 MB of resident memory at peak instead of 27
/// (benches/README.md).
pub(super) const RELEASE_EVERY: usize = 32 << 20;

/// The stretch of the mapped captures in use, kept by worker threads: waiting ones map pages in
/// ahead of the dispatcher, and pages every worker is done with are unmapped. Walking a capture
/// is the dispatcher's work, the one part of a replay that does not spread over workers, and
/// the kernel's share of it (a page fault for each page first touched, and unmapping every page
/// at the end) is much of it. The captures count as one run of bytes, laid end to end.
pub(super) struct Window<'a> {
    captures: &'a [Capture],
    total: usize,
    /// Where the dispatcher is.
    reader: AtomicUsize,
    /// Where the pages not yet claimed by a worker for mapping in start.
    claimed: AtomicUsize,
    /// Per worker, the mark of the last marked batch it has worked: it is done with every byte
    /// before it.
    passed: Vec<AtomicUsize>,
    /// Where the pages not yet claimed for unmapping start.
    released: AtomicUsize,
}

impl<'a> Window<'a> {
    pub(super) fn new(captures: &'a [Capture], workers: usize) -> Window<'a> {
        Window {
            captures,
            total: captures.iter().map(Capture::len).sum(),
            reader: AtomicUsize::new(0),
            claimed: AtomicUsize::new(0),
            passed: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            released: AtomicUsize::new(0),
        }
    }

    /// The dispatcher has read up to `position`.
    pub(super) fn reached(&self, position: usize) {
        self.reader.store(position, Ordering::Relaxed);
    }

    /// Worker `index` has worked a batch marked `position`: it reads nothing before it again.
    pub(super) fn passed(&self, index: usize, position: usize) {
        if let Some(p) = self.passed.get(index) {
            // Release: its reads of the bytes come before any unmapping of them.
            p.store(position, Ordering::Release);
        }
    }

    /// Maps in the next chunk ahead of the dispatcher or else unmaps the next one behind the
    /// workers, if one is within reach; returns whether there was one.
    pub(super) fn step(&self) -> bool {
        self.fault_ahead() || self.release_behind()
    }

    fn fault_ahead(&self) -> bool {
        let reader = self.reader.load(Ordering::Relaxed);
        // Pages the dispatcher has passed are mapped already.
        let start = self
            .claimed
            .fetch_max(reader, Ordering::Relaxed)
            .max(reader);
        if start >= self.total || start >= reader.saturating_add(FAULT_AHEAD) {
            return false;
        }
        let end = start.saturating_add(FAULT_CHUNK).min(self.total);
        self.claim(&self.claimed, start..end, Capture::fault_in)
    }

    pub(super) fn release_behind(&self) -> bool {
        // Acquire: every worker's reads before its mark come before the unmapping.
        let done = self
            .passed
            .iter()
            .map(|p| p.load(Ordering::Acquire))
            .min()
            .unwrap_or(0);
        let start = self.released.load(Ordering::Relaxed);
        let end = done.min(start.saturating_add(RELEASE_EVERY));
        if end <= start {
            return false;
        }
        self.claim(&self.released, start..end, |c, r| c.release_before(r.end))
    }

    /// Claims `range` by moving `cursor` from its start to its end, and applies `f` to the part
    /// of each capture it covers (in that capture's own offsets). A cursor another worker moved
    /// first leaves the range to that worker. Returns true: there may be more.
    fn claim(
        &self,
        cursor: &AtomicUsize,
        range: std::ops::Range<usize>,
        f: impl Fn(&Capture, std::ops::Range<usize>),
    ) -> bool {
        if cursor
            .compare_exchange(range.start, range.end, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return true;
        }
        let mut base = 0;
        for c in self.captures {
            let len = c.len();
            if range.start < base + len && range.end > base {
                f(c, range.start.saturating_sub(base)..range.end - base);
            }
            base += len;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pcap file header (little-endian, Ethernet) followed by zeros up to `len` bytes.
    fn capture(len: usize) -> Capture {
        let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&262_144u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.resize(len, 0);
        Capture::from_bytes("test", bytes).expect("a pcap header")
    }

    /// Calls `step` until it says there is nothing more; returns how many times it did work.
    fn steps(step: impl Fn() -> bool) -> usize {
        let mut n = 0;
        while step() {
            n += 1;
            assert!(n < 10_000, "step never stops");
        }
        n
    }

    #[test]
    fn waiting_workers_map_in_chunks_ahead_of_the_dispatcher_and_no_further() {
        let captures = [capture(3 * FAULT_CHUNK), capture(FAULT_AHEAD)];
        let total = 3 * FAULT_CHUNK + FAULT_AHEAD;
        let w = Window::new(&captures, 1);
        assert_eq!(
            steps(|| w.fault_ahead()),
            FAULT_AHEAD / FAULT_CHUNK,
            "up to the reach"
        );
        w.reached(2 * FAULT_CHUNK);
        assert_eq!(steps(|| w.fault_ahead()), 2, "the reach moved two chunks");
        // A dispatcher that got ahead of the claims: nothing behind it is mapped again.
        w.reached(total - FAULT_CHUNK / 2);
        assert_eq!(
            steps(|| w.fault_ahead()),
            1,
            "only what is left of the last chunk"
        );
        assert_eq!(w.claimed.load(Ordering::Relaxed), total);
        assert!(!w.fault_ahead());
    }

    #[test]
    fn waiting_workers_unmap_only_what_every_worker_has_passed() {
        let captures = [capture(RELEASE_EVERY + 4096), capture(2 * RELEASE_EVERY)];
        let total = 3 * RELEASE_EVERY + 4096;
        let w = Window::new(&captures, 2);
        assert!(!w.release_behind(), "no worker has passed a mark");
        w.passed(0, 2 * RELEASE_EVERY);
        assert!(!w.release_behind(), "worker 1 has not");
        w.passed(1, RELEASE_EVERY + RELEASE_EVERY / 2);
        assert_eq!(
            steps(|| w.release_behind()),
            2,
            "a whole chunk, then the rest"
        );
        assert_eq!(
            w.released.load(Ordering::Relaxed),
            RELEASE_EVERY + RELEASE_EVERY / 2
        );
        w.passed(1, total);
        assert_eq!(steps(|| w.release_behind()), 1, "up to worker 0's mark");
        w.passed(0, total);
        assert_eq!(steps(|| w.release_behind()), 2, "a chunk, then the rest");
        assert_eq!(w.released.load(Ordering::Relaxed), total);
    }
}
