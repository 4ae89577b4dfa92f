//! The one place that maps files into memory and unmaps parts of them (with [`crate::prefetch`],
//! the only `unsafe` of the crate), and that streams a mapping into cache ahead of its reader.
//!
//! A capture is mapped read-only and read in place, so a replay of a multi-gigabyte file costs
//! no copy and no read buffer, and every [`super::RawPacket`] borrows its bytes from the
//! mapping.
//!
//! # Why this is sound, and the one caveat
//!
//! `memmap2::Mmap::map` is `unsafe` because Rust cannot promise that the bytes behind the
//! returned `&[u8]` stay unchanged: another process may write to or truncate the file while it
//! is mapped.
//!
//! - pcgate itself never opens a capture for writing, and the mapping is read-only
//!   (`PROT_READ`), so nothing in this process can change the bytes.
//! - Everything reading the slice treats it as hostile input: every length is checked before use,
//!   so even bytes that changed between two reads cannot make pcgate index out of bounds; at
//!   worst a packet is parsed from a mix of old and new bytes.
//! - **Caveat:** if another process *truncates* the file while it is mapped, touching a page
//!   past the new end raises `SIGBUS` and the process dies. Do not replay a capture that is still
//!   being written or rotated (for example by `tcpdump -w` with `-C`); copy it first, or read
//!   the traffic from a live source instead.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;

/// A read-only mapping of a whole file.
pub(super) struct Mapping {
    map: memmap2::Mmap,
}

impl Mapping {
    /// Maps `file` (opened for reading) read-only, and tells the kernel it will be read in order.
    pub(super) fn of(file: &File) -> io::Result<Mapping> {
        // SAFETY: the mapping is read-only and pcgate never writes capture files; every reader
        // of the bytes checks lengths, so content changed underneath cannot cause an out-of-bounds
        // access. Truncation by another process (SIGBUS) is the documented caveat above.
        let map = unsafe { memmap2::Mmap::map(file)? };
        #[cfg(unix)]
        {
            // Only a hint for read-ahead; a kernel that refuses it reads the file just as well.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        Ok(Mapping { map })
    }

    /// The file's bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Where unmapping everything before `offset` stops: the start of the [`RELEASE_ALIGN`] block
    /// holding it, or the end of the file.
    pub(super) fn release_boundary(&self, offset: usize) -> usize {
        let len = self.map.len();
        if offset >= len {
            len
        } else {
            offset - offset % RELEASE_ALIGN
        }
    }

    /// Unmaps the pages of `range`, which starts on a [`RELEASE_ALIGN`] boundary, from this
    /// process; see [`super::Capture::release_before`]. Only a request: a kernel that refuses it
    /// keeps the pages.
    pub(super) fn release(&self, range: std::ops::Range<usize>) {
        let end = range.end.min(self.map.len());
        if !range.start.is_multiple_of(RELEASE_ALIGN) || range.start >= end {
            return;
        }
        #[cfg(unix)]
        {
            // SAFETY: the mapping is shared (`MAP_SHARED`) and read-only. `MADV_DONTNEED` on such
            // a mapping only removes this process's page table entries: the next read of a byte
            // in the range maps its page in again from the page cache, with the file's contents.
            // So a slice that still borrows those bytes reads what it read before, and nothing
            // it points to is freed (a file changed by another process is the caveat above, as
            // for every read of the mapping).
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    range.start,
                    end - range.start,
                )
            };
        }
    }
}

/// Alignment of what [`Mapping::release`] unmaps: a multiple of every page size in use (4, 16
/// and 64 KiB), since `madvise` wants a page-aligned start.
const RELEASE_ALIGN: usize = 64 << 10;

/// Bytes around a faulting address of a file mapping that Linux maps in at once, of the pages
/// in the page cache: the aligned block holding it (`fault_around_bytes`, 64 KiB by default),
/// or a whole large folio.
const FAULT_AROUND: usize = 64 << 10;

/// Makes the kernel map in the pages of `bytes` that are in the page cache, with the page
/// faults taken by the calling thread: reads a byte every [`FAULT_AROUND`] bytes, one in each
/// block. Reading one of every page instead only added a cache and TLB miss for each page a
/// fault had already mapped in: with a worker mapping ahead of the dispatcher (the one caller),
/// two workers took 3 % longer on a fresh capture; one byte every 256 KiB left blocks for the
/// reader to fault in and was slower still (benches/README.md). A page no fault mapped in (not
/// in the page cache, or a kernel that maps less around a fault) is mapped in by the reader
/// when it gets there, as without this.
pub(super) fn fault_in(bytes: &[u8]) {
    for b in bytes.iter().step_by(FAULT_AROUND) {
        std::hint::black_box(*b);
    }
}

/// Bytes ahead of the reader that [`prefetch_ahead`] keeps asking the CPU to bring into cache.
pub(super) const PREFETCH_AHEAD: usize = 4096;

/// Asks the CPU to bring the cache lines of `bytes[*done..to]` into cache and moves `*done` to
/// `to` (at most the end). A capture is read front to back, but a reader only touches each
/// record's header, and each header gives the next one's offset: a chain of dependent reads,
/// each waiting for memory. Streaming the lines a few KB ahead of the reader turns that wait
/// into bandwidth. Only a hint.
#[inline(always)]
pub(super) fn prefetch_ahead(bytes: &[u8], done: &mut usize, to: usize) {
    const LINE: usize = 64;
    let to = to.min(bytes.len());
    while *done < to {
        if let Some(b) = bytes.get(*done) {
            crate::prefetch::prefetch(b);
        }
        *done += LINE;
    }
}
