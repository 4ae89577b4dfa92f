//! Writers of capture files, in memory: classic pcap (libpcap format, microsecond or
//! nanosecond timestamps, either byte order) and pcapng (one Section Header Block, several
//! Interface Description Blocks with their own link type and `if_tsresol`, Enhanced Packet
//! Blocks). Formats follow draft-ietf-opsawg-pcap and draft-ietf-opsawg-pcapng.
//!
//! The writers build a `Vec<u8>` so that a caller can damage the bytes on purpose (cut the
//! last record, say) before it saves them. They do not read captures.

use thiserror::Error;

/// Link types (LINKTYPE_* values from the tcpdump.org registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u16);

impl LinkType {
    /// IEEE 802.3 Ethernet (with optional 802.1Q tags).
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IPv4 or IPv6, no link header.
    pub const RAW: LinkType = LinkType(101);
    /// Linux "cooked" capture v1 (16-byte SLL header).
    pub const LINUX_SLL: LinkType = LinkType(113);
}

/// Timestamp resolution of a file (pcap) or of an interface (pcapng).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsResolution {
    /// Microseconds (pcap magic 0xa1b2c3d4, pcapng if_tsresol 6).
    Micro,
    /// Nanoseconds (pcap magic 0xa1b23c4d, pcapng if_tsresol 9).
    Nano,
}

impl TsResolution {
    fn units_per_second(self) -> u64 {
        match self {
            TsResolution::Micro => 1_000_000,
            TsResolution::Nano => 1_000_000_000,
        }
    }

    /// Converts nanoseconds since the epoch to this resolution's units.
    fn units_of(self, ts_ns: u64) -> u64 {
        match self {
            TsResolution::Micro => ts_ns / 1_000,
            TsResolution::Nano => ts_ns,
        }
    }
}

/// Byte order of a classic pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// Little-endian header and record headers.
    Little,
    /// Big-endian header and record headers.
    Big,
}

/// Errors of the writers.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WriteError {
    /// A frame longer than the 32-bit length fields can hold.
    #[error("frame of {0} bytes is too long for a capture record")]
    FrameTooLong(usize),
    /// `orig_len` smaller than the bytes captured.
    #[error("original length {orig_len} is smaller than the {captured} captured bytes")]
    OrigLenTooSmall {
        /// Bytes given.
        captured: usize,
        /// Original length claimed.
        orig_len: u32,
    },
    /// A timestamp whose seconds do not fit the classic pcap 32-bit field.
    #[error("timestamp {0} ns does not fit a 32-bit seconds field")]
    TimestampOutOfRange(u64),
    /// A pcapng packet for an interface that was never described.
    #[error("interface {0} was not added to the pcapng section")]
    UnknownInterface(u32),
    /// Too many pcapng interfaces.
    #[error("too many pcapng interfaces")]
    TooManyInterfaces,
}

/// Classic pcap file header fields.
mod pcap_field {
    pub const MAGIC_MICRO: u32 = 0xa1b2_c3d4;
    pub const MAGIC_NANO: u32 = 0xa1b2_3c4d;
    pub const VERSION_MAJOR: u16 = 2;
    pub const VERSION_MINOR: u16 = 4;
    pub const FILE_HEADER_LEN: usize = 24;
    pub const RECORD_HEADER_LEN: usize = 16;
}

/// Length in bytes of the classic pcap file header.
pub const PCAP_FILE_HEADER_LEN: usize = pcap_field::FILE_HEADER_LEN;
/// Length in bytes of a classic pcap record header.
pub const PCAP_RECORD_HEADER_LEN: usize = pcap_field::RECORD_HEADER_LEN;

/// A classic pcap file being written in memory.
#[derive(Debug, Clone)]
pub struct PcapWriter {
    buf: Vec<u8>,
    resolution: TsResolution,
    endian: Endian,
    records: usize,
}

impl PcapWriter {
    /// Starts a file with its 24-byte header.
    pub fn new(
        link_type: LinkType,
        resolution: TsResolution,
        endian: Endian,
        snaplen: u32,
    ) -> Self {
        let mut w = PcapWriter {
            buf: Vec::with_capacity(4096),
            resolution,
            endian,
            records: 0,
        };
        let magic = match resolution {
            TsResolution::Micro => pcap_field::MAGIC_MICRO,
            TsResolution::Nano => pcap_field::MAGIC_NANO,
        };
        w.put_u32(magic);
        w.put_u16(pcap_field::VERSION_MAJOR);
        w.put_u16(pcap_field::VERSION_MINOR);
        w.put_u32(0); // thiszone
        w.put_u32(0); // sigfigs
        w.put_u32(snaplen);
        w.put_u32(u32::from(link_type.0));
        w
    }

    /// Appends a record holding the whole frame.
    pub fn write_packet(&mut self, ts_ns: u64, frame: &[u8]) -> Result<(), WriteError> {
        let len = u32::try_from(frame.len()).map_err(|_| WriteError::FrameTooLong(frame.len()))?;
        self.write_packet_with_orig_len(ts_ns, frame, len)
    }

    /// Appends a record of `captured` bytes of a frame that was `orig_len` long on the wire
    /// (a snapped record).
    pub fn write_packet_with_orig_len(
        &mut self,
        ts_ns: u64,
        captured: &[u8],
        orig_len: u32,
    ) -> Result<(), WriteError> {
        let incl =
            u32::try_from(captured.len()).map_err(|_| WriteError::FrameTooLong(captured.len()))?;
        if orig_len < incl {
            return Err(WriteError::OrigLenTooSmall {
                captured: captured.len(),
                orig_len,
            });
        }
        let units = self.resolution.units_of(ts_ns);
        let per = self.resolution.units_per_second();
        let secs =
            u32::try_from(units / per).map_err(|_| WriteError::TimestampOutOfRange(ts_ns))?;
        let frac = (units % per) as u32; // < 10^9, fits
        self.put_u32(secs);
        self.put_u32(frac);
        self.put_u32(incl);
        self.put_u32(orig_len);
        self.buf.extend_from_slice(captured);
        self.records += 1;
        Ok(())
    }

    /// Number of records written.
    pub fn records(&self) -> usize {
        self.records
    }

    /// The file's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn put_u16(&mut self, v: u16) {
        let b = match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        self.buf.extend_from_slice(&b);
    }

    fn put_u32(&mut self, v: u32) {
        let b = match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        self.buf.extend_from_slice(&b);
    }
}

/// pcapng block types and option codes used here.
mod pcapng_field {
    pub const BLOCK_SHB: u32 = 0x0a0d_0d0a;
    pub const BLOCK_IDB: u32 = 0x0000_0001;
    pub const BLOCK_EPB: u32 = 0x0000_0006;
    pub const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
    pub const VERSION_MAJOR: u16 = 1;
    pub const VERSION_MINOR: u16 = 0;
    pub const OPT_ENDOFOPT: u16 = 0;
    pub const OPT_IF_NAME: u16 = 2;
    pub const OPT_IF_TSRESOL: u16 = 9;
    pub const TSRESOL_MICRO: u8 = 6;
    pub const TSRESOL_NANO: u8 = 9;
}

/// A pcapng file (one little-endian section) being written in memory.
#[derive(Debug, Clone)]
pub struct PcapngWriter {
    buf: Vec<u8>,
    interfaces: Vec<TsResolution>,
    packets: usize,
}

impl Default for PcapngWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl PcapngWriter {
    /// Starts a file with its Section Header Block (section length unspecified).
    pub fn new() -> Self {
        let mut body = Vec::with_capacity(16);
        body.extend_from_slice(&pcapng_field::BYTE_ORDER_MAGIC.to_le_bytes());
        body.extend_from_slice(&pcapng_field::VERSION_MAJOR.to_le_bytes());
        body.extend_from_slice(&pcapng_field::VERSION_MINOR.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        let mut w = PcapngWriter {
            buf: Vec::with_capacity(4096),
            interfaces: Vec::new(),
            packets: 0,
        };
        w.put_block(pcapng_field::BLOCK_SHB, &body);
        w
    }

    /// Adds an Interface Description Block and returns the interface id to write packets on.
    pub fn add_interface(
        &mut self,
        link_type: LinkType,
        resolution: TsResolution,
        name: &str,
        snaplen: u32,
    ) -> Result<u32, WriteError> {
        let id = u32::try_from(self.interfaces.len()).map_err(|_| WriteError::TooManyInterfaces)?;
        let mut body = Vec::with_capacity(32);
        body.extend_from_slice(&link_type.0.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes()); // reserved
        body.extend_from_slice(&snaplen.to_le_bytes());
        if !name.is_empty() {
            put_option(&mut body, pcapng_field::OPT_IF_NAME, name.as_bytes())?;
        }
        let tsresol = match resolution {
            TsResolution::Micro => pcapng_field::TSRESOL_MICRO,
            TsResolution::Nano => pcapng_field::TSRESOL_NANO,
        };
        put_option(&mut body, pcapng_field::OPT_IF_TSRESOL, &[tsresol])?;
        put_option(&mut body, pcapng_field::OPT_ENDOFOPT, &[])?;
        self.put_block(pcapng_field::BLOCK_IDB, &body);
        self.interfaces.push(resolution);
        Ok(id)
    }

    /// Appends an Enhanced Packet Block with the whole frame on interface `interface`.
    pub fn write_packet(
        &mut self,
        interface: u32,
        ts_ns: u64,
        frame: &[u8],
    ) -> Result<(), WriteError> {
        let resolution = *self
            .interfaces
            .get(interface as usize)
            .ok_or(WriteError::UnknownInterface(interface))?;
        let len = u32::try_from(frame.len()).map_err(|_| WriteError::FrameTooLong(frame.len()))?;
        let ts = resolution.units_of(ts_ns);
        let mut body = Vec::with_capacity(20 + frame.len() + 3);
        body.extend_from_slice(&interface.to_le_bytes());
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes()); // captured length
        body.extend_from_slice(&len.to_le_bytes()); // original length
        body.extend_from_slice(frame);
        pad4(&mut body);
        self.put_block(pcapng_field::BLOCK_EPB, &body);
        self.packets += 1;
        Ok(())
    }

    /// Number of packets written.
    pub fn packets(&self) -> usize {
        self.packets
    }

    /// The file's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Writes `type | total length | body | total length`; `body` is already 4-byte aligned.
    fn put_block(&mut self, block_type: u32, body: &[u8]) {
        let total = (body.len() + 12) as u32;
        self.buf.extend_from_slice(&block_type.to_le_bytes());
        self.buf.extend_from_slice(&total.to_le_bytes());
        self.buf.extend_from_slice(body);
        self.buf.extend_from_slice(&total.to_le_bytes());
    }
}

fn put_option(body: &mut Vec<u8>, code: u16, value: &[u8]) -> Result<(), WriteError> {
    let len = u16::try_from(value.len()).map_err(|_| WriteError::FrameTooLong(value.len()))?;
    body.extend_from_slice(&code.to_le_bytes());
    body.extend_from_slice(&len.to_le_bytes());
    body.extend_from_slice(value);
    pad4(body);
    Ok(())
}

fn pad4(v: &mut Vec<u8>) {
    v.resize(v.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    fn le16(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    #[test]
    fn pcap_micro_little_endian_header_and_record() {
        let mut w = PcapWriter::new(
            LinkType::ETHERNET,
            TsResolution::Micro,
            Endian::Little,
            65535,
        );
        w.write_packet(1_700_000_000_123_456_789, &[1, 2, 3])
            .unwrap();
        let b = w.into_bytes();
        assert_eq!(&b[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(le16(&b, 4), 2);
        assert_eq!(le16(&b, 6), 4);
        assert_eq!(le32(&b, 16), 65535);
        assert_eq!(le32(&b, 20), 1);
        assert_eq!(le32(&b, 24), 1_700_000_000);
        assert_eq!(le32(&b, 28), 123_456);
        assert_eq!(le32(&b, 32), 3);
        assert_eq!(le32(&b, 36), 3);
        assert_eq!(&b[40..], &[1, 2, 3]);
    }

    #[test]
    fn pcap_nano_big_endian_header_and_record() {
        let mut w = PcapWriter::new(LinkType::RAW, TsResolution::Nano, Endian::Big, 262144);
        w.write_packet(1_700_000_000_123_456_789, &[9; 5]).unwrap();
        w.write_packet_with_orig_len(1_700_000_001_000_000_000, &[7; 2], 60)
            .unwrap();
        assert_eq!(w.records(), 2);
        let b = w.into_bytes();
        assert_eq!(&b[0..4], &[0xa1, 0xb2, 0x3c, 0x4d]);
        assert_eq!(be32(&b, 16), 262144);
        assert_eq!(be32(&b, 20), 101);
        assert_eq!(be32(&b, 24), 1_700_000_000);
        assert_eq!(be32(&b, 28), 123_456_789);
        assert_eq!(be32(&b, 32), 5);
        let second = 24 + 16 + 5;
        assert_eq!(be32(&b, second + 8), 2);
        assert_eq!(be32(&b, second + 12), 60);
        assert_eq!(b.len(), second + 16 + 2);
    }

    #[test]
    fn pcap_rejects_orig_len_below_captured() {
        let mut w = PcapWriter::new(LinkType::RAW, TsResolution::Micro, Endian::Little, 100);
        assert_eq!(
            w.write_packet_with_orig_len(0, &[0; 10], 5),
            Err(WriteError::OrigLenTooSmall {
                captured: 10,
                orig_len: 5
            })
        );
    }

    #[test]
    fn pcapng_blocks_are_aligned_and_carry_tsresol() {
        let mut w = PcapngWriter::new();
        let eth = w
            .add_interface(LinkType::ETHERNET, TsResolution::Micro, "eth0", 65535)
            .unwrap();
        let raw = w
            .add_interface(LinkType::RAW, TsResolution::Nano, "raw0", 65535)
            .unwrap();
        assert_eq!((eth, raw), (0, 1));
        w.write_packet(raw, 1_000_000_001, &[0x45, 0, 0]).unwrap();
        assert_eq!(
            w.write_packet(5, 0, &[]),
            Err(WriteError::UnknownInterface(5))
        );
        let b = w.into_bytes();
        // SHB
        assert_eq!(le32(&b, 0), 0x0a0d0d0a);
        let shb_len = le32(&b, 4) as usize;
        assert_eq!(shb_len, 28);
        assert_eq!(le32(&b, 8), 0x1a2b3c4d);
        assert_eq!(le32(&b, shb_len - 4), 28);
        // first IDB: link type 1, options if_name "eth0", if_tsresol 6
        let idb = shb_len;
        assert_eq!(le32(&b, idb), 1);
        let idb_len = le32(&b, idb + 4) as usize;
        assert_eq!(idb_len % 4, 0);
        assert_eq!(le16(&b, idb + 8), 1);
        assert_eq!(le16(&b, idb + 16), 2); // if_name
        assert_eq!(&b[idb + 20..idb + 24], b"eth0");
        assert_eq!(le16(&b, idb + 24), 9); // if_tsresol
        assert_eq!(b[idb + 28], 6);
        // second IDB: link type 101, tsresol 9
        let idb2 = idb + idb_len;
        assert_eq!(le16(&b, idb2 + 8), 101);
        assert_eq!(b[idb2 + 28], 9);
        let epb = idb2 + le32(&b, idb2 + 4) as usize;
        assert_eq!(le32(&b, epb), 6);
        let epb_len = le32(&b, epb + 4) as usize;
        assert_eq!(epb_len, 32 + 4); // 3 data bytes padded to 4
        assert_eq!(le32(&b, epb + 8), 1); // interface id
        let ts = (u64::from(le32(&b, epb + 12)) << 32) | u64::from(le32(&b, epb + 16));
        assert_eq!(ts, 1_000_000_001);
        assert_eq!(le32(&b, epb + 20), 3);
        assert_eq!(le32(&b, epb + 24), 3);
        assert_eq!(&b[epb + 28..epb + 31], &[0x45, 0, 0]);
        assert_eq!(le32(&b, epb + epb_len - 4) as usize, epb_len);
        assert_eq!(b.len(), epb + epb_len);
    }
}
