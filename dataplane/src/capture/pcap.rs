//! Legacy pcap files, as draft-ietf-opsawg-pcap describes them: a 24-byte file header (§4),
//! parsed by pcap-parser, then packet records (§5) of a 16-byte header and the captured bytes.
//!
//! Records are framed here by hand with named offsets: this loop runs once per packet, and
//! reading four fixed fields straight from the mapped slice is cheaper than a parser call. A
//! legacy file has no record marker to resynchronise on, so a damaged record ends the reading.

use pcap_parser::pcap::{parse_pcap_header, PcapHeader};

use super::{read_u32, LinkType, RawPacket, SkipReason, MAX_CAPLEN, NANOS_PER_SEC};

/// Length of the file header (§4).
pub(super) const FILE_HEADER_LEN: usize = 24;

/// The record header (§5). Offsets from the start of a record.
mod record {
    pub const TS_SEC: usize = 0;
    /// Microseconds or nanoseconds, as the file header's magic number says.
    pub const TS_FRAC: usize = 4;
    pub const CAPLEN: usize = 8;
    pub const ORIG_LEN: usize = 12;
    /// Length of the standard record header.
    pub const HEADER_LEN: usize = 16;
    /// Length of the record header of Alexey Kuznetzov's "modified" format (magic 0xa1b2cd34),
    /// which appends an interface index, a protocol and a packet type to the standard one.
    pub const MODIFIED_HEADER_LEN: usize = 24;
}

/// The link type field keeps the LINKTYPE_ value in its low 16 bits; the high bits may carry
/// an FCS length (§4), which pcgate does not use.
const LINKTYPE_MASK: u32 = 0xffff;

/// What the file header says about the records that follow.
#[derive(Clone, Copy, Debug)]
pub(super) struct FileHeader {
    big_endian: bool,
    /// Nanoseconds per unit of the fractional timestamp field (1000 or 1).
    frac_ns: u64,
    record_header_len: usize,
    pub(super) link: LinkType,
}

/// Why a file header could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HeaderError {
    /// The file ends inside the 24-byte header.
    Short,
    /// The magic number is not a pcap one.
    NotPcap,
}

/// Reads the file header at the start of `bytes`.
pub(super) fn parse_file_header(bytes: &[u8]) -> Result<FileHeader, HeaderError> {
    let header: PcapHeader = match parse_pcap_header(bytes) {
        Ok((_, header)) => header,
        Err(pcap_parser::nom::Err::Incomplete(_)) => return Err(HeaderError::Short),
        Err(_) => return Err(HeaderError::NotPcap),
    };
    let record_header_len = if header.is_modified_format() {
        record::MODIFIED_HEADER_LEN
    } else {
        record::HEADER_LEN
    };
    Ok(FileHeader {
        big_endian: header.is_bigendian(),
        frac_ns: if header.is_nanosecond_precision() {
            1
        } else {
            1_000
        },
        record_header_len,
        // The field is unsigned in the format; pcap-parser reads it as i32. Reinterpret the bits.
        link: LinkType(header.network.0 as u32 & LINKTYPE_MASK),
    })
}

/// The records of a pcap file, in file order.
pub(super) struct Records<'a> {
    data: &'a [u8],
    /// Offset of the next record; `data.len()` once reading has ended.
    pos: usize,
    /// Bytes up to here were prefetched.
    prefetched: usize,
    header: FileHeader,
}

impl<'a> Records<'a> {
    /// Records of `data`, a whole file whose header is `header`.
    pub(super) fn new(data: &'a [u8], header: FileHeader) -> Records<'a> {
        Records {
            data,
            pos: FILE_HEADER_LEN.min(data.len()),
            prefetched: 0,
            header,
        }
    }

    pub(super) fn offset(&self) -> usize {
        self.pos
    }

    /// Ends the reading with `reason`.
    #[cold]
    fn stop(&mut self, reason: SkipReason) -> Option<Result<RawPacket<'a>, SkipReason>> {
        self.pos = self.data.len();
        Some(Err(reason))
    }

    #[inline]
    pub(super) fn next_record(&mut self) -> Option<Result<RawPacket<'a>, SkipReason>> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return None;
        }
        let be = self.header.big_endian;
        let hdr_len = self.header.record_header_len;
        let (Some(ts_sec), Some(ts_frac), Some(caplen), Some(orig_len)) = (
            read_u32(rest, record::TS_SEC, be),
            read_u32(rest, record::TS_FRAC, be),
            read_u32(rest, record::CAPLEN, be),
            read_u32(rest, record::ORIG_LEN, be),
        ) else {
            return self.stop(SkipReason::TruncatedFile);
        };
        if caplen > MAX_CAPLEN {
            return self.stop(SkipReason::CorruptRecord);
        }
        // caplen <= MAX_CAPLEN, so this cannot overflow.
        let end = hdr_len + caplen as usize;
        let Some(data) = rest.get(hdr_len..end) else {
            return self.stop(SkipReason::TruncatedFile);
        };
        self.pos += end;
        let ahead = self.pos.saturating_add(super::mmap::PREFETCH_AHEAD);
        super::mmap::prefetch_ahead(self.data, &mut self.prefetched, ahead);
        // At most (2^32 - 1) * (10^9 + 1000) < 2^63: no overflow.
        let ts_ns = u64::from(ts_sec) * NANOS_PER_SEC + u64::from(ts_frac) * self.header.frac_ns;
        Some(Ok(RawPacket {
            ts_ns,
            link: self.header.link,
            data,
            orig_len,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::build::{pcap_file, PcapRecord};
    use super::super::{Capture, Format, LinkType, SkipReason};

    const SEC: u32 = 1_700_000_000;

    fn records() -> Vec<PcapRecord<'static>> {
        vec![
            PcapRecord {
                sec: SEC,
                frac: 250,
                data: b"first packet",
                orig_len: 60,
            },
            PcapRecord {
                sec: SEC + 1,
                frac: 999_999,
                data: b"second",
                orig_len: 6,
            },
        ]
    }

    fn check_two_records(bytes: Vec<u8>, frac_ns: u64) {
        let capture = Capture::from_bytes("test.pcap", bytes).expect("valid pcap");
        assert_eq!(capture.format(), Format::Pcap);
        let packets: Vec<_> = capture.packets().collect();
        assert_eq!(packets.len(), 2);
        let first = packets[0].expect("first is a packet");
        assert_eq!(first.ts_ns, u64::from(SEC) * 1_000_000_000 + 250 * frac_ns);
        assert_eq!(first.link, LinkType::ETHERNET);
        assert_eq!(first.data, b"first packet");
        assert_eq!(first.orig_len, 60);
        let second = packets[1].expect("second is a packet");
        assert_eq!(
            second.ts_ns,
            u64::from(SEC + 1) * 1_000_000_000 + 999_999 * frac_ns
        );
        assert_eq!(second.data, b"second");
        assert_eq!(second.orig_len, 6);
    }

    #[test]
    fn reads_little_endian_microsecond_records() {
        check_two_records(pcap_file(false, false, 1, &records()), 1_000);
    }

    #[test]
    fn reads_big_endian_microsecond_records() {
        check_two_records(pcap_file(true, false, 1, &records()), 1_000);
    }

    #[test]
    fn reads_little_endian_nanosecond_records() {
        check_two_records(pcap_file(false, true, 1, &records()), 1);
    }

    #[test]
    fn reads_big_endian_nanosecond_records() {
        check_two_records(pcap_file(true, true, 1, &records()), 1);
    }

    #[test]
    fn link_type_comes_from_file_header_without_fcs_bits() {
        // LINKTYPE_RAW with an FCS length of 4 in the top bits.
        let bytes = pcap_file(false, false, 101 | (0x4 << 28), &records());
        let capture = Capture::from_bytes("raw.pcap", bytes).unwrap();
        let first = capture.packets().next().unwrap().unwrap();
        assert_eq!(first.link, LinkType::RAW);
    }

    #[test]
    fn reads_modified_format_with_24_byte_record_headers() {
        let mut bytes = pcap_file(false, false, 1, &[]);
        bytes[..4].copy_from_slice(&0xa1b2_cd34_u32.to_le_bytes());
        for (sec, data) in [(1u32, &b"abc"[..]), (2, &b"defg"[..])] {
            bytes.extend_from_slice(&sec.to_le_bytes());
            bytes.extend_from_slice(&7u32.to_le_bytes());
            bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&[0xee; 8]); // ifindex, protocol, pkt_type, pad
            bytes.extend_from_slice(data);
        }
        let capture = Capture::from_bytes("modified.pcap", bytes).unwrap();
        let got: Vec<_> = capture.packets().map(|p| p.unwrap().data).collect();
        assert_eq!(got, vec![&b"abc"[..], &b"defg"[..]]);
    }

    #[test]
    fn truncated_last_record_yields_packets_then_truncated_file_once() {
        let mut bytes = pcap_file(false, false, 1, &records());
        bytes.truncate(bytes.len() - 3);
        let capture = Capture::from_bytes("cut.pcap", bytes).unwrap();
        let items: Vec<_> = capture.packets().collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(items[1].unwrap_err(), SkipReason::TruncatedFile);
    }

    #[test]
    fn truncated_record_header_yields_truncated_file() {
        let mut bytes = pcap_file(false, false, 1, &records());
        let full = bytes.len();
        bytes.extend_from_slice(&[1, 2, 3, 4, 5]); // 5 bytes of a 16-byte record header
        let capture = Capture::from_bytes("cut.pcap", bytes).unwrap();
        let mut packets = capture.packets();
        assert!(packets.next().unwrap().is_ok());
        assert!(packets.next().unwrap().is_ok());
        assert_eq!(packets.offset(), full);
        assert_eq!(packets.next(), Some(Err(SkipReason::TruncatedFile)));
        assert_eq!(packets.next(), None);
    }

    #[test]
    fn absurd_caplen_is_corrupt_and_ends_reading() {
        let mut bytes = pcap_file(false, false, 1, &records());
        // Corrupt the first record's caplen (file header 24 + offset 8).
        bytes[32..36].copy_from_slice(&0x0100_0000u32.to_le_bytes());
        let capture = Capture::from_bytes("corrupt.pcap", bytes).unwrap();
        let items: Vec<_> = capture.packets().collect();
        assert_eq!(items, vec![Err(SkipReason::CorruptRecord)]);
    }

    #[test]
    fn caplen_of_256_kib_is_accepted() {
        let big = vec![0x5a; 256 * 1024];
        let rec = PcapRecord {
            sec: 1,
            frac: 0,
            data: &big,
            orig_len: 300_000,
        };
        let capture = Capture::from_bytes("big.pcap", pcap_file(false, false, 1, &[rec])).unwrap();
        let packet = capture.packets().next().unwrap().unwrap();
        assert_eq!(packet.data.len(), 256 * 1024);
        assert_eq!(packet.orig_len, 300_000);
    }

    #[test]
    fn offset_walks_records_and_ends_at_file_length() {
        let bytes = pcap_file(false, false, 1, &records());
        let len = bytes.len();
        let capture = Capture::from_bytes("t.pcap", bytes).unwrap();
        let mut packets = capture.packets();
        assert_eq!(packets.offset(), 24);
        packets.next();
        assert_eq!(packets.offset(), 24 + 16 + 12);
        packets.next();
        assert_eq!(packets.offset(), len);
        assert!(packets.next().is_none());
        assert_eq!(packets.offset(), len);
    }

    #[test]
    fn header_only_file_has_no_packets() {
        let capture = Capture::from_bytes("empty.pcap", pcap_file(false, true, 1, &[])).unwrap();
        assert_eq!(capture.packets().count(), 0);
    }
}
