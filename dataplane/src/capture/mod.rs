//! Capture files: pcap (micro- and nanosecond timestamps, both byte orders) and pcapng (several
//! interfaces, each with its own link type and timestamp resolution), detected by magic number,
//! never by file suffix. Files are memory-mapped ([`mmap`]) and read in place: a [`RawPacket`]
//! borrows its bytes from the mapping. pcap-parser reads the file headers, section headers and
//! interface descriptions; per-packet records and blocks are framed in `pcap` and `pcapng` with
//! named offsets, without an allocation per packet.
//!
//! Damage inside a capture (a truncated last record, a corrupt block, a packet on an unknown
//! interface) is yielded as a [`SkipReason`] and reading goes on where it can; a file that is not
//! a capture at all is a [`CaptureError`] naming the file.
//!
//! Not done here: live capture, writing captures, and anything above the link layer.

// The one exception, the mapping itself, is allowed in `mmap` alone.
#![deny(unsafe_code)]

#[cfg(test)]
mod build;
mod mmap;
mod pcap;
mod pcapng;

use std::fs::File;
use std::path::{Path, PathBuf};

/// A link-layer type as pcap and pcapng number them (LINKTYPE_* values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const PPP: LinkType = LinkType(9);
    /// DLT_RAW on most BSDs.
    pub const RAW_BSD12: LinkType = LinkType(12);
    /// DLT_RAW on OpenBSD.
    pub const RAW_BSD14: LinkType = LinkType(14);
    pub const PPP_HDLC: LinkType = LinkType(50);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// One captured frame, borrowed from the mapped file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawPacket<'a> {
    /// Capture timestamp in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub link: LinkType,
    /// The captured bytes (possibly cut short by the snap length).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
}

/// Why a record of a capture was skipped. Counted by the caller; reading goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The file ends in the middle of a record or block.
    TruncatedFile,
    /// A record or block whose header is inconsistent (bad length, bad block type framing).
    CorruptRecord,
    /// A pcapng packet referring to an interface that no Interface Description Block declared.
    UnknownInterface,
}

impl SkipReason {
    /// A stable snake_case name for counters and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::TruncatedFile => "truncated_file",
            SkipReason::CorruptRecord => "corrupt_record",
            SkipReason::UnknownInterface => "unknown_interface",
        }
    }
}

/// A capture that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or mapped. The I/O error is in the message, not chained
    /// as a source, so that a caller printing the chain does not say it twice.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A directory, device, pipe or socket: captures are files, memory-mapped.
    #[error("{path}: is {what}, not a capture file")]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("{path}: not a pcap or pcapng capture (magic number {magic})")]
    NotACapture { path: PathBuf, magic: String },
}

/// The format detected from the magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pcap,
    Pcapng,
}

/// The first four bytes of a capture, read as a little-endian u32.
mod magic {
    /// pcap with microsecond timestamps, written little-endian (swapped when big-endian).
    pub const PCAP_MICROS: u32 = 0xa1b2_c3d4;
    /// pcap with nanosecond timestamps.
    pub const PCAP_NANOS: u32 = 0xa1b2_3c4d;
    /// Kuznetzov's "modified" pcap (little-endian only, as pcap-parser reads it).
    pub const PCAP_MODIFIED: u32 = 0xa1b2_cd34;
    /// pcapng Section Header Block type, the same in both byte orders.
    pub const PCAPNG: u32 = 0x0a0d_0d0a;
    /// Bytes shown in an error about an unknown magic number.
    pub const SHOWN: usize = 4;
}

/// Longest `caplen` accepted (libpcap's largest snap length); longer is a corrupt record.
const MAX_CAPLEN: u32 = 256 * 1024;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// The u32 at `at` in `bytes`, in the given byte order; `None` past the end.
#[inline]
fn read_u32(bytes: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// The u16 at `at` in `bytes`, in the given byte order; `None` past the end.
#[inline]
fn read_u16(bytes: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

/// Where a capture's bytes live.
enum Bytes {
    Mapped(mmap::Mapping),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m.bytes(),
            Bytes::Owned(v) => v,
        }
    }
}

/// The format, with what its file header said.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Pcap(pcap::FileHeader),
    Pcapng,
}

/// An open, memory-mapped capture file.
pub struct Capture {
    bytes: Bytes,
    kind: Kind,
    /// Bytes before this are unmapped ([`Capture::release_before`]).
    released: std::sync::atomic::AtomicUsize,
}

impl Capture {
    /// Opens and maps `path`, detecting the format by magic number.
    pub fn open(path: &Path) -> Result<Capture, CaptureError> {
        let io = |error| CaptureError::Io {
            path: path.to_path_buf(),
            error,
        };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(CaptureError::NotAFile {
                path: path.to_path_buf(),
                what: if meta.is_dir() {
                    "a directory"
                } else {
                    "a device, pipe or socket"
                },
            });
        }
        let len = meta.len();
        // An empty file cannot be mapped on every platform, and has nothing to map.
        let bytes = if len == 0 {
            Bytes::Owned(Vec::new())
        } else {
            Bytes::Mapped(mmap::Mapping::of(&file).map_err(io)?)
        };
        Capture::new(path, bytes)
    }

    /// A capture held in memory (tests, fuzzing). `name` is used in errors.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Capture, CaptureError> {
        Capture::new(Path::new(name), Bytes::Owned(bytes))
    }

    /// Detects the format of `bytes` and checks its file header.
    fn new(path: &Path, bytes: Bytes) -> Result<Capture, CaptureError> {
        let data = bytes.as_slice();
        let not_a_capture = |why: &str| {
            let shown = data.get(..magic::SHOWN).unwrap_or(data);
            let hex: String = shown.iter().map(|b| format!("{b:02x}")).collect();
            let magic = match (hex.is_empty(), why.is_empty()) {
                (true, _) => "none: the file is empty".to_string(),
                (false, true) => hex,
                (false, false) => format!("{hex}, but {why}"),
            };
            CaptureError::NotACapture {
                path: path.to_path_buf(),
                magic,
            }
        };
        let Some(first) = read_u32(data, 0, false) else {
            return Err(not_a_capture("the file is shorter than any capture header"));
        };
        let swapped = first.swap_bytes();
        let kind = if first == magic::PCAPNG {
            pcapng::check_first_section(data).map_err(not_a_capture)?;
            Kind::Pcapng
        } else if matches!(
            first,
            magic::PCAP_MICROS | magic::PCAP_NANOS | magic::PCAP_MODIFIED
        ) || matches!(swapped, magic::PCAP_MICROS | magic::PCAP_NANOS)
        {
            match pcap::parse_file_header(data) {
                Ok(header) => Kind::Pcap(header),
                Err(pcap::HeaderError::Short) => {
                    return Err(not_a_capture(
                        "the file ends inside the 24-byte pcap header",
                    ))
                }
                Err(pcap::HeaderError::NotPcap) => return Err(not_a_capture("")),
            }
        } else {
            return Err(not_a_capture(""));
        };
        Ok(Capture {
            bytes,
            kind,
            released: Default::default(),
        })
    }

    pub fn format(&self) -> Format {
        match self.kind {
            Kind::Pcap(_) => Format::Pcap,
            Kind::Pcapng => Format::Pcapng,
        }
    }

    /// The whole file as read or mapped; every packet's bytes lie in it (what the fuzz targets
    /// check). Released pages are mapped in again when read.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// Size of the capture in bytes (for progress reporting).
    pub fn len(&self) -> usize {
        self.bytes.as_slice().len()
    }

    /// Maps in the pages of `range` (byte offsets, clamped to the capture) by taking the page
    /// faults that map them in, so that the reader finds them mapped. A mapped capture's page
    /// faults otherwise fall on its reader, a packet at a time; another thread with time to
    /// spare can take them.
    pub fn fault_in(&self, range: std::ops::Range<usize>) {
        if let Bytes::Mapped(m) = &self.bytes {
            let bytes = m.bytes();
            let end = range.end.min(bytes.len());
            mmap::fault_in(bytes.get(range.start..end).unwrap_or(&[]));
        }
    }

    /// Says that the reader is done with every byte before `offset`, and gives back the pages
    /// they lie on that this process has mapped in (whole 64 KiB blocks: the block holding
    /// `offset` stays until a later call), so that a reader keeps its resident memory small
    /// whatever the file's size, and the work of unmapping is spread over the replay instead of
    /// all falling on its end. Reading those bytes again maps them in again, with the same
    /// contents. Nothing for a capture read into memory.
    pub fn release_before(&self, offset: usize) {
        if let Bytes::Mapped(m) = &self.bytes {
            let end = m.release_boundary(offset);
            let start = self
                .released
                .fetch_max(end, std::sync::atomic::Ordering::Relaxed);
            if start < end {
                m.release(start..end);
            }
        }
    }

    /// Whether the capture has no bytes (never true of an open capture: it has a header).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records in file order. Each item is a packet or the reason a record was skipped.
    pub fn packets(&self) -> Packets<'_> {
        let data = self.bytes.as_slice();
        let inner = match self.kind {
            Kind::Pcap(header) => Inner::Pcap(pcap::Records::new(data, header)),
            Kind::Pcapng => Inner::Pcapng(pcapng::Blocks::new(data)),
        };
        Packets { inner }
    }
}

/// Iterator over a capture's records.
pub struct Packets<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Pcap(pcap::Records<'a>),
    Pcapng(pcapng::Blocks<'a>),
}

impl<'a> Packets<'a> {
    /// Byte offset in the file of the next record (for progress reporting); the file's length
    /// once reading has ended on damage.
    pub fn offset(&self) -> usize {
        match &self.inner {
            Inner::Pcap(r) => r.offset(),
            Inner::Pcapng(b) => b.offset(),
        }
    }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<RawPacket<'a>, SkipReason>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Pcap(r) => r.next_record(),
            Inner::Pcapng(b) => b.next_packet(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use proptest::prelude::*;

    use super::build::{pcap_file, Ng, PcapRecord};
    use super::{Capture, CaptureError, Format};

    /// A file in the temporary directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn with(name: &str, bytes: &[u8]) -> TempFile {
            let path =
                std::env::temp_dir().join(format!("pcgate-capture-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).expect("write temp file");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn small_pcapng() -> Vec<u8> {
        let mut ng = Ng::new(false);
        ng.idb(1, &[(9, &[9])]);
        ng.idb(101, &[]);
        ng.epb(0, 10, b"first", 5);
        ng.block(4, &[0, 0, 0, 0]);
        ng.spb(b"simple", 6);
        ng.epb(1, 20, b"second", 6);
        ng.finish()
    }

    fn small_pcap() -> Vec<u8> {
        let records = [
            PcapRecord {
                sec: 1,
                frac: 2,
                data: b"abc",
                orig_len: 3,
            },
            PcapRecord {
                sec: 3,
                frac: 4,
                data: b"defgh",
                orig_len: 9,
            },
        ];
        pcap_file(false, false, 1, &records)
    }

    /// Reads every item of `bytes` (if it opens), and checks the reading ends within bounds.
    fn read_all(bytes: Vec<u8>) {
        let len = bytes.len();
        if let Ok(capture) = Capture::from_bytes("fuzz", bytes) {
            let mut packets = capture.packets();
            let mut n = 0usize;
            while let Some(item) = packets.next() {
                n += 1;
                assert!(n <= len, "more items than bytes");
                if let Ok(p) = item {
                    assert!(p.data.len() <= len);
                }
                assert!(packets.offset() <= len);
            }
        }
    }

    #[test]
    fn opens_mapped_file_and_reads_in_place() {
        let file = TempFile::with("mapped.pcapng", &small_pcapng());
        let capture = Capture::open(&file.0).expect("valid pcapng");
        assert_eq!(capture.format(), Format::Pcapng);
        assert_eq!(capture.len(), small_pcapng().len());
        let ok: Vec<_> = capture.packets().filter_map(Result::ok).collect();
        assert_eq!(ok.len(), 3);
        assert_eq!(ok[2].data, b"second");
        let file = TempFile::with("mapped.pcap", &small_pcap());
        let capture = Capture::open(&file.0).expect("valid pcap");
        assert_eq!(capture.format(), Format::Pcap);
        assert_eq!(capture.packets().count(), 2);
        // Mapping pages in ahead of the reader changes nothing it reads; ranges past the end
        // are clamped.
        capture.fault_in(0..usize::MAX);
        capture.fault_in(usize::MAX - 1..usize::MAX);
        assert_eq!(capture.packets().count(), 2);
    }

    /// A little-endian microsecond pcap of Ethernet frames, one record per payload.
    fn ethernet_pcap(payloads: &[Vec<u8>]) -> Vec<u8> {
        let records: Vec<PcapRecord<'_>> = payloads
            .iter()
            .map(|data| PcapRecord {
                sec: 1,
                frac: 0,
                data,
                orig_len: data.len() as u32,
            })
            .collect();
        pcap_file(false, false, 1, &records)
    }

    #[test]
    fn released_pages_read_the_same_when_touched_again() {
        // 300 KB: several whole 64 KiB blocks to unmap, and a partial one at the end.
        let payloads: Vec<Vec<u8>> = (0..300u32)
            .map(|i| (0..1000u32).map(|j| (i * 7 + j) as u8).collect())
            .collect();
        let file = TempFile::with("released.pcap", &ethernet_pcap(&payloads));
        let capture = Capture::open(&file.0).expect("valid pcap");
        let first = capture
            .packets()
            .next()
            .and_then(Result::ok)
            .expect("a packet");
        let read = |c: &Capture| -> Vec<Vec<u8>> {
            c.packets()
                .filter_map(Result::ok)
                .map(|p| p.data.to_vec())
                .collect()
        };
        assert_eq!(read(&capture), payloads);
        capture.release_before(200_000);
        assert_eq!(read(&capture), payloads, "after a part");
        capture.release_before(100_000);
        capture.release_before(usize::MAX);
        assert_eq!(
            first.data,
            &payloads[0][..],
            "a slice held across the release"
        );
        assert_eq!(read(&capture), payloads, "after all of it");
        capture.release_before(usize::MAX);
    }

    /// Bytes of the mapping holding `addr` that this process has mapped in (its `Rss` in
    /// /proc/self/smaps).
    #[cfg(target_os = "linux")]
    fn mapped_in(addr: usize) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = range.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = (lo..hi).contains(&addr);
                    continue;
                }
            }
            if let Some(kb) = line.strip_prefix("Rss:").filter(|_| inside) {
                let kb = kb.trim().trim_end_matches("kB").trim();
                return kb.parse::<usize>().expect("Rss in kB") * 1024;
            }
        }
        panic!("no mapping holds {addr:#x}")
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn fault_in_maps_in_at_least_a_page_of_every_block_and_release_unmaps_them() {
        // 8 MB of packets, just written, so in the page cache.
        let payloads: Vec<Vec<u8>> = (0..8000u32).map(|i| vec![i as u8; 1000]).collect();
        let file = TempFile::with("fault-in.pcap", &ethernet_pcap(&payloads));
        let capture = Capture::open(&file.0).expect("valid pcap");
        let super::Bytes::Mapped(m) = &capture.bytes else {
            panic!("a file is mapped")
        };
        let (addr, len) = (m.bytes().as_ptr() as usize, m.bytes().len());
        // Opening read the header, which mapped in a page or a large folio (2 MB at most) at
        // the start; the second half is not mapped in yet.
        let before = mapped_in(addr);
        let half = len / 2;
        assert!(before <= 2 << 20, "{before} bytes mapped in after opening");
        capture.fault_in(half..len);
        let blocks = (len - half).div_ceil(64 << 10);
        let added = mapped_in(addr).saturating_sub(before);
        assert!(
            added >= blocks * 4096,
            "{added} bytes mapped in for {blocks} blocks"
        );
        capture.release_before(usize::MAX);
        assert_eq!(mapped_in(addr), 0, "released");
        assert_eq!(capture.packets().count(), 8000);
    }

    #[test]
    fn text_file_is_not_a_capture_and_error_names_file_and_magic() {
        let file = TempFile::with("notes.pcap", b"# just some notes\n");
        let err = Capture::open(&file.0)
            .err()
            .expect("a text file is not a capture");
        assert!(matches!(err, CaptureError::NotACapture { .. }));
        let message = err.to_string();
        assert!(message.contains("notes.pcap"), "{message}");
        assert!(message.contains("23206a75"), "{message}");
    }

    #[test]
    fn empty_file_is_not_a_capture() {
        let file = TempFile::with("empty.pcap", b"");
        let err = Capture::open(&file.0)
            .err()
            .expect("empty is not a capture");
        let message = err.to_string();
        assert!(matches!(err, CaptureError::NotACapture { .. }));
        assert!(
            message.contains("empty.pcap") && message.contains("empty"),
            "{message}"
        );
    }

    #[test]
    fn file_cut_inside_header_is_not_a_capture() {
        let mut pcap = small_pcap();
        pcap.truncate(20);
        let err = Capture::from_bytes("short.pcap", pcap).err().unwrap();
        assert!(err.to_string().contains("d4c3b2a1, but"), "{err}");
        let mut ng = small_pcapng();
        ng.truncate(20);
        let err = Capture::from_bytes("short.pcapng", ng).err().unwrap();
        assert!(err.to_string().contains("0a0d0d0a, but"), "{err}");
        let err = Capture::from_bytes("tiny", vec![0xd4, 0xc3]).err().unwrap();
        assert!(matches!(err, CaptureError::NotACapture { .. }), "{err}");
    }

    #[test]
    fn pcapng_with_unknown_byte_order_magic_is_not_a_capture() {
        let mut ng = small_pcapng();
        ng[8..12].copy_from_slice(&[1, 2, 3, 4]);
        let err = Capture::from_bytes("bom.pcapng", ng).err().unwrap();
        assert!(matches!(err, CaptureError::NotACapture { .. }), "{err}");
    }

    #[test]
    fn format_comes_from_magic_not_suffix() {
        let capture = Capture::from_bytes("looks-like.pcap", small_pcapng()).unwrap();
        assert_eq!(capture.format(), Format::Pcapng);
        let capture = Capture::from_bytes("looks-like.pcapng", small_pcap()).unwrap();
        assert_eq!(capture.format(), Format::Pcap);
    }

    #[test]
    fn missing_file_is_io_error_naming_file() {
        let err = Capture::open(Path::new("/nonexistent/dir/x.pcap"))
            .err()
            .unwrap();
        assert!(matches!(err, CaptureError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/dir/x.pcap"));
        assert!(
            std::error::Error::source(&err).is_none(),
            "said once, not chained"
        );
    }

    #[test]
    fn a_directory_or_device_is_refused_by_name() {
        let dir = std::env::temp_dir();
        let err = Capture::open(&dir).err().unwrap();
        assert_eq!(
            err.to_string(),
            format!("{}: is a directory, not a capture file", dir.display())
        );
        let err = Capture::open(Path::new("/dev/zero")).err().unwrap();
        assert_eq!(
            err.to_string(),
            "/dev/zero: is a device, pipe or socket, not a capture file"
        );
    }

    #[test]
    fn every_prefix_of_a_valid_capture_reads_without_panic() {
        for full in [small_pcapng(), small_pcap()] {
            for cut in 0..=full.len() {
                read_all(full[..cut].to_vec());
            }
        }
    }

    #[test]
    fn every_single_byte_mutation_reads_without_panic() {
        for full in [small_pcapng(), small_pcap()] {
            for at in 0..full.len() {
                for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                    let mut bytes = full.clone();
                    bytes[at] = value;
                    read_all(bytes);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_after_a_magic_read_without_panic(
            magic in prop::sample::select(vec![
                [0x0a, 0x0d, 0x0d, 0x0a, 0x4d, 0x3c, 0x2b, 0x1a],
                [0x0a, 0x0d, 0x0d, 0x0a, 0x1a, 0x2b, 0x3c, 0x4d],
                [0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00],
                [0xa1, 0xb2, 0x3c, 0x4d, 0x00, 0x02, 0x00, 0x04],
            ]),
            tail in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            // The byte-order magic of pcapng sits at offset 8: put the magic bytes where they
            // belong for each format.
            let mut bytes = magic[..4].to_vec();
            if magic[0] == 0x0a {
                bytes.extend_from_slice(tail.get(..4).unwrap_or(&[0; 4]));
            }
            bytes.extend_from_slice(&magic[4..]);
            bytes.extend_from_slice(&tail);
            read_all(bytes);
        }

        #[test]
        fn random_splices_into_a_valid_pcapng_read_without_panic(
            at in 0usize..200,
            patch in prop::collection::vec(any::<u8>(), 1..16),
        ) {
            let mut bytes = small_pcapng();
            let at = at.min(bytes.len());
            let end = (at + patch.len()).min(bytes.len());
            bytes.splice(at..end, patch);
            read_all(bytes);
        }
    }

    #[test]
    fn every_corpus_capture_opens_and_yields_packets() {
        // The corpus sits beside the main checkout; a worktree is one level deeper.
        let candidates = [
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/pcaps"),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/pcaps"),
        ];
        let Some(entries) = candidates
            .iter()
            .find_map(|dir| std::fs::read_dir(dir).ok())
        else {
            println!("corpus missing at {candidates:?}: test skipped");
            return;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        let (mut files, mut packets) = (0usize, 0u64);
        let mut skipped: BTreeMap<&str, u64> = BTreeMap::new();
        let mut links: BTreeMap<u32, u64> = BTreeMap::new();
        let mut formats: BTreeMap<String, u64> = BTreeMap::new();
        let mut failures = Vec::new();
        for path in &paths {
            let capture = match Capture::open(path) {
                Ok(c) => c,
                Err(e) => {
                    failures.push(e.to_string());
                    continue;
                }
            };
            files += 1;
            *formats
                .entry(format!("{:?}", capture.format()))
                .or_default() += 1;
            let mut here = 0u64;
            for item in capture.packets() {
                match item {
                    Ok(p) => {
                        here += 1;
                        *links.entry(p.link.0).or_default() += 1;
                        assert!(p.data.len() <= capture.len());
                    }
                    Err(reason) => *skipped.entry(reason.as_str()).or_default() += 1,
                }
            }
            if here == 0 {
                failures.push(format!("{}: no packets", path.display()));
            }
            packets += here;
        }
        println!(
            "corpus: {files} files {formats:?}, {packets} packets, skipped {skipped:?}, \
             packets by link type {links:?}"
        );
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
