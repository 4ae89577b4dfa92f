//! pcapng files, as draft-ietf-opsawg-pcapng describes them: a sequence of blocks (§3.1). A
//! Section Header Block (§4.1) opens each section, sets its byte order and forgets the
//! interfaces of the section before; Interface Description Blocks (§4.2) give each interface its
//! link type and timestamp clock (`if_tsresol`, `if_tsoffset`, §4.2 options); packets come in
//! Enhanced Packet Blocks (§4.3), Simple Packet Blocks (§4.4) and the obsolete Packet Block
//! (Appendix A). Every other block is skipped.
//!
//! The generic framing (type, total length, trailing copy of the length) is checked here before
//! any block is looked at, so a block parser only ever sees a complete, length-consistent block,
//! and a damaged block whose framing holds is skipped without losing the rest of the file.
//! Section headers and interface descriptions go through pcap-parser: they are rare and carry
//! options. Packet blocks are read here with named offsets: pcap-parser's packet block parser
//! collects the block's options into a `Vec`, an allocation per packet whenever packets carry
//! options (Wireshark writes `epb_flags` and comments), and only five fixed fields are needed.

use pcap_parser::pcapng::{
    parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le,
    parse_sectionheaderblock, InterfaceDescriptionBlock, OptionCode, BOM_MAGIC, EPB_MAGIC,
    IDB_MAGIC, SHB_MAGIC, SPB_MAGIC,
};

use super::{read_u16, read_u32, LinkType, RawPacket, SkipReason, MAX_CAPLEN, NANOS_PER_SEC};

/// Block type of the obsolete Packet Block (Appendix A); pcap-parser has no parser for it.
const PB_MAGIC: u32 = 0x0000_0002;

/// Generic block framing (§3.1). Offsets from the start of a block.
mod block {
    pub const TYPE: usize = 0;
    pub const TOTAL_LEN: usize = 4;
    /// Every block ends with a copy of its total length.
    pub const TRAILER_LEN: usize = 4;
    /// Type, total length and trailer, with an empty body.
    pub const MIN_LEN: usize = 12;
}

/// Section Header Block (§4.1).
mod shb {
    /// 0x1A2B3C4D in the section's byte order.
    pub const BYTE_ORDER_MAGIC: usize = 8;
}

/// Enhanced Packet Block (§4.3). The obsolete Packet Block (Appendix A) has the same layout
/// except that its interface id is 16 bits, followed by a 16-bit drop count.
mod epb {
    pub const INTERFACE_ID: usize = 8;
    pub const TS_HIGH: usize = 12;
    pub const TS_LOW: usize = 16;
    pub const CAPLEN: usize = 20;
    pub const ORIG_LEN: usize = 24;
    pub const DATA: usize = 28;
}

/// Simple Packet Block (§4.4): always interface 0, no timestamp, no captured length.
mod spb {
    pub const ORIG_LEN: usize = 8;
    pub const DATA: usize = 12;
}

/// `if_tsresol`: the high bit selects a power of 2 instead of a power of 10 (§4.2).
const TSRESOL_POWER_OF_TWO: u8 = 0x80;

/// A block longer than the rest of the file and longer than this is called corrupt rather than
/// truncated: no writer produces blocks of this size.
const MAX_BLOCK_LEN: usize = 16 << 20;

/// At most this many interfaces per section (the obsolete Packet Block can only name 2^16).
/// Interface Description Blocks beyond it are reported corrupt.
const MAX_INTERFACES: usize = 1 << 16;

/// Checks that `bytes` starts with a readable Section Header Block.
pub(super) fn check_first_section(bytes: &[u8]) -> Result<(), &'static str> {
    match parse_sectionheaderblock(bytes) {
        Ok(_) => Ok(()),
        Err(pcap_parser::nom::Err::Incomplete(_)) => {
            Err("the file ends inside the first section header block")
        }
        Err(_) => Err("the section header block is malformed"),
    }
}

/// How an interface's timestamps become nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scale {
    /// 10^n units per second with n <= 9: multiply by 10^(9 - n).
    Mul(u64),
    /// 10^n units per second with 9 < n <= 19: divide by 10^(n - 9) (never 0).
    Div(u64),
    /// 2^n units per second: multiply by 10^9, shift right by n.
    Shift(u32),
}

/// An interface's clock: resolution and offset in seconds (`if_tsoffset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Clock {
    scale: Scale,
    offset_ns: i128,
}

impl Clock {
    /// The clock for `if_tsresol` and `if_tsoffset`, or `None` if the resolution is beyond what
    /// 64-bit timestamps can hold.
    fn new(tsresol: u8, tsoffset_s: i64) -> Option<Clock> {
        let exp = u32::from(tsresol & !TSRESOL_POWER_OF_TWO);
        let scale = if tsresol & TSRESOL_POWER_OF_TWO != 0 {
            if exp > 63 {
                return None;
            }
            Scale::Shift(exp)
        } else if exp <= 9 {
            Scale::Mul(10u64.pow(9 - exp))
        } else if exp <= 19 {
            Scale::Div(10u64.pow(exp - 9))
        } else {
            return None;
        };
        Some(Clock {
            scale,
            offset_ns: i128::from(tsoffset_s) * i128::from(NANOS_PER_SEC),
        })
    }

    /// Nanoseconds since the epoch of a timestamp in this clock's units (saturating).
    #[inline]
    fn ns(self, ts: u64) -> u64 {
        let ns = match self.scale {
            Scale::Mul(m) => ts.saturating_mul(m),
            Scale::Div(d) => ts / d,
            Scale::Shift(s) => {
                // ts * 10^9 < 2^94: no overflow in u128.
                let v = (u128::from(ts) * u128::from(NANOS_PER_SEC)) >> s;
                u64::try_from(v).unwrap_or(u64::MAX)
            }
        };
        if self.offset_ns == 0 {
            ns
        } else {
            u64::try_from((i128::from(ns) + self.offset_ns).max(0)).unwrap_or(u64::MAX)
        }
    }
}

/// What an Interface Description Block declared.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    /// 0: no limit.
    snaplen: u32,
    clock: Clock,
}

impl Interface {
    /// The interface an IDB declares, or `None` if its timestamp resolution is unusable.
    fn from_idb(idb: &InterfaceDescriptionBlock<'_>, big_endian: bool) -> Option<Interface> {
        let tsoffset = idb
            .options
            .iter()
            .find(|opt| opt.code == OptionCode::IfTsoffset)
            .and_then(|opt| opt.as_bytes().ok())
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            // pcap-parser reads this option as little-endian whatever the section's byte order.
            .map_or(0, |b| {
                if big_endian {
                    i64::from_be_bytes(b)
                } else {
                    i64::from_le_bytes(b)
                }
            });
        Some(Interface {
            // A 16-bit field, widened to i32 by pcap-parser: never negative.
            link: LinkType(u32::try_from(idb.linktype.0).ok()?),
            snaplen: idb.snaplen,
            // pcap-parser defaults if_tsresol to 6 (microseconds) when the option is absent.
            clock: Clock::new(idb.if_tsresol, tsoffset)?,
        })
    }
}

/// The packets of a pcapng file, in file order.
pub(super) struct Blocks<'a> {
    data: &'a [u8],
    /// Offset of the next block; `data.len()` once reading has ended.
    pos: usize,
    /// Bytes up to here were prefetched.
    prefetched: usize,
    /// Byte order of the current section.
    big_endian: bool,
    /// The current section's interfaces by id; `None` for an IDB that could not be used.
    interfaces: Vec<Option<Interface>>,
    /// Timestamp of the last timed packet, given to Simple Packet Blocks (which have none).
    last_ts_ns: u64,
}

impl<'a> Blocks<'a> {
    /// Blocks of `data`, a whole file that starts with a Section Header Block.
    pub(super) fn new(data: &'a [u8]) -> Blocks<'a> {
        Blocks {
            data,
            pos: 0,
            prefetched: 0,
            big_endian: false,
            interfaces: Vec::new(),
            last_ts_ns: 0,
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

    /// The next packet, or the reason a block was skipped; non-packet blocks are consumed on the
    /// way.
    #[inline]
    pub(super) fn next_packet(&mut self) -> Option<Result<RawPacket<'a>, SkipReason>> {
        loop {
            let rest = self.data.get(self.pos..).unwrap_or_default();
            if rest.is_empty() {
                return None;
            }
            let Some(raw_type) = read_u32(rest, block::TYPE, false) else {
                return self.stop(SkipReason::TruncatedFile);
            };
            if raw_type == SHB_MAGIC {
                // The section's byte order decides how even its own length is read.
                match read_u32(rest, shb::BYTE_ORDER_MAGIC, false) {
                    Some(BOM_MAGIC) => self.big_endian = false,
                    Some(m) if m == BOM_MAGIC.swap_bytes() => self.big_endian = true,
                    Some(_) => return self.stop(SkipReason::CorruptRecord),
                    None => return self.stop(SkipReason::TruncatedFile),
                }
            }
            let be = self.big_endian;
            let block_type = if be { raw_type.swap_bytes() } else { raw_type };
            let Some(total_len_raw) = read_u32(rest, block::TOTAL_LEN, be) else {
                return self.stop(SkipReason::TruncatedFile);
            };
            let total_len = usize::try_from(total_len_raw).unwrap_or(usize::MAX);
            if total_len < block::MIN_LEN {
                return self.stop(SkipReason::CorruptRecord);
            }
            let Some(whole) = rest.get(..total_len) else {
                return self.stop(if total_len > MAX_BLOCK_LEN {
                    SkipReason::CorruptRecord
                } else {
                    SkipReason::TruncatedFile
                });
            };
            let body_len = total_len - block::TRAILER_LEN;
            if read_u32(whole, body_len, be) != Some(total_len_raw) {
                // Which of the two lengths is wrong is unknown: no safe place to go on from.
                return self.stop(SkipReason::CorruptRecord);
            }
            self.pos += total_len;
            let ahead = self.pos.saturating_add(super::mmap::PREFETCH_AHEAD);
            super::mmap::prefetch_ahead(self.data, &mut self.prefetched, ahead);
            // The block without its trailer: field reads past the body fail instead of reading
            // the trailing length.
            let body = whole.get(..body_len).unwrap_or_default();
            let item = match block_type {
                EPB_MAGIC => self.enhanced_packet(body),
                SPB_MAGIC => self.simple_packet(body),
                PB_MAGIC => self.obsolete_packet(body),
                IDB_MAGIC => match self.interface_description(whole) {
                    Ok(()) => continue,
                    Err(reason) => Err(reason),
                },
                SHB_MAGIC => {
                    self.interfaces.clear();
                    match parse_sectionheaderblock(whole) {
                        Ok(_) => continue,
                        Err(_) => Err(SkipReason::CorruptRecord),
                    }
                }
                _ => continue,
            };
            return Some(item);
        }
    }

    /// The interface `id` of the current section.
    #[inline]
    fn interface(&self, id: u32) -> Result<Interface, SkipReason> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.interfaces.get(i))
            .copied()
            .flatten()
            .ok_or(SkipReason::UnknownInterface)
    }

    /// An Enhanced Packet Block's body (§4.3).
    #[inline]
    fn enhanced_packet(&mut self, body: &'a [u8]) -> Result<RawPacket<'a>, SkipReason> {
        let id = read_u32(body, epb::INTERFACE_ID, self.big_endian);
        self.timed_packet(body, id)
    }

    /// An obsolete Packet Block's body (Appendix A).
    fn obsolete_packet(&mut self, body: &'a [u8]) -> Result<RawPacket<'a>, SkipReason> {
        let id = read_u16(body, epb::INTERFACE_ID, self.big_endian).map(u32::from);
        self.timed_packet(body, id)
    }

    /// The fields Enhanced and obsolete Packet Blocks share.
    #[inline]
    fn timed_packet(
        &mut self,
        body: &'a [u8],
        id: Option<u32>,
    ) -> Result<RawPacket<'a>, SkipReason> {
        let be = self.big_endian;
        let (Some(id), Some(ts_high), Some(ts_low), Some(caplen), Some(orig_len)) = (
            id,
            read_u32(body, epb::TS_HIGH, be),
            read_u32(body, epb::TS_LOW, be),
            read_u32(body, epb::CAPLEN, be),
            read_u32(body, epb::ORIG_LEN, be),
        ) else {
            return Err(SkipReason::CorruptRecord);
        };
        if caplen > MAX_CAPLEN {
            return Err(SkipReason::CorruptRecord);
        }
        // caplen <= MAX_CAPLEN: no overflow. The data must fit in the block's body.
        let data = body
            .get(epb::DATA..epb::DATA + caplen as usize)
            .ok_or(SkipReason::CorruptRecord)?;
        let interface = self.interface(id)?;
        let ts_ns = interface
            .clock
            .ns((u64::from(ts_high) << 32) | u64::from(ts_low));
        self.last_ts_ns = ts_ns;
        Ok(RawPacket {
            ts_ns,
            link: interface.link,
            data,
            orig_len,
        })
    }

    /// A Simple Packet Block's body (§4.4): interface 0, the last timestamp seen, and as many
    /// bytes as the original length, the interface's snap length and the block allow.
    fn simple_packet(&mut self, body: &'a [u8]) -> Result<RawPacket<'a>, SkipReason> {
        let orig_len =
            read_u32(body, spb::ORIG_LEN, self.big_endian).ok_or(SkipReason::CorruptRecord)?;
        let padded = body.get(spb::DATA..).unwrap_or_default();
        let interface = self.interface(0)?;
        let mut caplen = usize::try_from(orig_len).unwrap_or(usize::MAX);
        if interface.snaplen != 0 {
            caplen = caplen.min(usize::try_from(interface.snaplen).unwrap_or(usize::MAX));
        }
        let data = padded.get(..caplen).unwrap_or(padded);
        Ok(RawPacket {
            ts_ns: self.last_ts_ns,
            link: interface.link,
            data,
            orig_len,
        })
    }

    /// Declares the next interface of the section from an Interface Description Block (§4.2).
    /// An IDB that cannot be used still takes its id, so later ids keep their meaning; packets
    /// on it are then reported as on an unknown interface.
    fn interface_description(&mut self, whole: &'a [u8]) -> Result<(), SkipReason> {
        if self.interfaces.len() >= MAX_INTERFACES {
            return Err(SkipReason::CorruptRecord);
        }
        let parsed = if self.big_endian {
            parse_interfacedescriptionblock_be(whole)
        } else {
            parse_interfacedescriptionblock_le(whole)
        };
        let interface = parsed
            .ok()
            .and_then(|(_, idb)| Interface::from_idb(&idb, self.big_endian));
        self.interfaces.push(interface);
        match interface {
            Some(_) => Ok(()),
            None => Err(SkipReason::CorruptRecord),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::build::Ng;
    use super::super::{Capture, Format, LinkType, SkipReason};
    use super::{Clock, Scale};

    const TS_SEC: u64 = 1_700_000_000;

    /// A packet as (ts_ns, link type, data, orig_len).
    type Owned = (u64, u32, Vec<u8>, u32);

    fn packets(bytes: Vec<u8>) -> Vec<Result<Owned, SkipReason>> {
        let capture = Capture::from_bytes("test.pcapng", bytes).expect("valid pcapng");
        assert_eq!(capture.format(), Format::Pcapng);
        capture
            .packets()
            .map(|item| item.map(|p| (p.ts_ns, p.link.0, p.data.to_vec(), p.orig_len)))
            .collect()
    }

    fn two_interfaces(big_endian: bool) -> Vec<u8> {
        let mut ng = Ng::new(big_endian);
        // Interface 0: Ethernet, default microseconds. Interface 1: raw IP, nanoseconds.
        ng.idb(1, &[]);
        ng.idb(101, &[(9, &[9])]);
        ng.epb(0, TS_SEC * 1_000_000 + 5, b"eth frame", 60);
        ng.epb(1, TS_SEC * 1_000_000_000 + 7, b"ip packet", 9);
        ng.finish()
    }

    #[test]
    fn two_interfaces_with_own_link_type_and_resolution_little_endian() {
        let got = packets(two_interfaces(false));
        assert_eq!(
            got,
            vec![
                Ok((TS_SEC * 1_000_000_000 + 5_000, 1, b"eth frame".to_vec(), 60)),
                Ok((TS_SEC * 1_000_000_000 + 7, 101, b"ip packet".to_vec(), 9)),
            ]
        );
    }

    #[test]
    fn two_interfaces_with_own_link_type_and_resolution_big_endian() {
        assert_eq!(
            packets(two_interfaces(true)),
            packets(two_interfaces(false))
        );
    }

    #[test]
    fn power_of_two_resolution_and_offset_apply() {
        for be in [false, true] {
            let mut ng = Ng::new(be);
            let offset = ng.i64_bytes(100);
            // 2^10 units per second, 100 s offset.
            ng.idb(1, &[(9, &[0x80 | 10]), (14, &offset)]);
            ng.epb(0, 5 * 1024 + 512, b"x", 1);
            let got = packets(ng.finish());
            assert_eq!(
                got[0].as_ref().unwrap().0,
                105_500_000_000,
                "big endian {be}"
            );
        }
    }

    #[test]
    fn coarse_and_fine_resolutions_convert_to_nanoseconds() {
        assert_eq!(Clock::new(0, 0).unwrap().ns(3), 3_000_000_000);
        assert_eq!(Clock::new(6, 0).unwrap().ns(3), 3_000);
        assert_eq!(Clock::new(12, 0).unwrap().ns(3_000_000), 3_000);
        assert_eq!(Clock::new(19, 0).unwrap().scale, Scale::Div(10_000_000_000));
        assert_eq!(
            Clock::new(0x80 | 63, 0).unwrap().ns(u64::MAX),
            1_999_999_999
        );
        assert_eq!(
            Clock::new(6, -10).unwrap().ns(1_000_000),
            0,
            "clamped at epoch"
        );
        assert_eq!(
            Clock::new(0, 0).unwrap().ns(u64::MAX),
            u64::MAX,
            "saturates"
        );
        assert!(Clock::new(20, 0).is_none());
        assert!(Clock::new(0x80 | 64, 0).is_none());
    }

    #[test]
    fn unusable_resolution_makes_its_packets_unknown_interface() {
        let mut ng = Ng::new(false);
        ng.idb(1, &[(9, &[25])]);
        ng.idb(1, &[]);
        ng.epb(0, 1, b"a", 1);
        ng.epb(1, 1, b"b", 1);
        let got = packets(ng.finish());
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Err(SkipReason::CorruptRecord));
        assert_eq!(got[1], Err(SkipReason::UnknownInterface));
        assert_eq!(got[2].as_ref().unwrap().2, b"b");
    }

    #[test]
    fn packet_on_undeclared_interface_is_unknown_interface() {
        let mut ng = Ng::new(false);
        ng.idb(1, &[]);
        ng.epb(5, 1, b"lost", 4);
        ng.epb(0, 1, b"kept", 4);
        let got = packets(ng.finish());
        assert_eq!(got[0], Err(SkipReason::UnknownInterface));
        assert_eq!(got[1].as_ref().unwrap().2, b"kept");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn new_section_forgets_interfaces_and_may_change_byte_order() {
        let mut first = Ng::new(false);
        first.idb(1, &[]);
        first.idb(101, &[]);
        first.epb(1, 1, b"one", 3);
        let mut bytes = first.finish();
        let mut second = Ng::new(true);
        second.idb(113, &[]);
        second.epb(1, 2, b"two", 3);
        second.epb(0, 3, b"three", 5);
        bytes.extend_from_slice(&second.finish());
        let got = packets(bytes);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap().1, 101);
        assert_eq!(got[1], Err(SkipReason::UnknownInterface));
        assert_eq!(got[2].as_ref().unwrap().1, 113);
        assert_eq!(got[2].as_ref().unwrap().2, b"three");
    }

    #[test]
    fn simple_packet_uses_interface_zero_last_timestamp_and_snaplen() {
        let mut ng = Ng::new(false);
        ng.idb_snaplen(1, 4, &[]);
        ng.spb(b"ab", 2);
        ng.epb(0, 42, b"abc", 3);
        ng.spb(b"abcdefg", 7);
        let got = packets(ng.finish());
        assert_eq!(got[0], Ok((0, 1, b"ab".to_vec(), 2)));
        assert_eq!(got[2], Ok((42_000, 1, b"abcd".to_vec(), 7)));
    }

    #[test]
    fn simple_packet_without_interface_is_unknown_interface() {
        let mut ng = Ng::new(false);
        ng.spb(b"ab", 2);
        assert_eq!(
            packets(ng.finish()),
            vec![Err(SkipReason::UnknownInterface)]
        );
    }

    #[test]
    fn obsolete_packet_block_is_read() {
        let mut ng = Ng::new(true);
        ng.idb(1, &[]);
        ng.idb(9, &[]);
        ng.pb(1, 77, b"ppp", 10);
        assert_eq!(
            packets(ng.finish()),
            vec![Ok((77_000, 9, b"ppp".to_vec(), 10))]
        );
    }

    #[test]
    fn other_blocks_are_skipped() {
        let mut ng = Ng::new(false);
        ng.idb(1, &[]);
        ng.block(4, &[0, 0, 0, 0]); // Name Resolution Block with only opt_endofopt
        ng.block(0x0BAD, &[1, 2, 3, 4, 5]); // Custom Block
        ng.block(5, &[0; 12]); // Interface Statistics Block
        ng.epb(0, 1, b"after", 5);
        let got = packets(ng.finish());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().unwrap().2, b"after");
    }

    #[test]
    fn truncated_last_block_yields_packets_then_truncated_file_once() {
        let mut bytes = two_interfaces(false);
        bytes.truncate(bytes.len() - 5);
        let got = packets(bytes);
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        assert_eq!(got[1], Err(SkipReason::TruncatedFile));
    }

    #[test]
    fn caplen_beyond_block_is_corrupt_and_next_block_is_read() {
        let mut ng = Ng::new(false);
        ng.idb(1, &[]);
        let at = ng.len();
        ng.epb(0, 1, b"short", 5);
        ng.epb(0, 2, b"next", 4);
        let mut bytes = ng.finish();
        // caplen of the first EPB: 1000, beyond the end of its block.
        bytes[at + 20..at + 24].copy_from_slice(&1000u32.to_le_bytes());
        let got = packets(bytes);
        assert_eq!(got[0], Err(SkipReason::CorruptRecord));
        assert_eq!(got[1].as_ref().unwrap().2, b"next");
    }

    #[test]
    fn absurd_caplen_is_corrupt() {
        let mut ng = Ng::new(false);
        ng.idb(1, &[]);
        let at = ng.len();
        ng.epb(0, 1, b"x", 1);
        let mut bytes = ng.finish();
        bytes[at + 20..at + 24].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        assert_eq!(packets(bytes), vec![Err(SkipReason::CorruptRecord)]);
    }

    #[test]
    fn inconsistent_block_length_is_corrupt_and_ends_reading() {
        let mut ng = Ng::new(false);
        ng.idb(1, &[]);
        ng.epb(0, 1, b"good", 4);
        let at = ng.len();
        ng.epb(0, 2, b"bad", 3);
        ng.epb(0, 3, b"unreached", 9);
        let mut bytes = ng.finish();
        // Grow the second EPB's leading length by 4: its trailer no longer matches.
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        bytes[at + 4..at + 8].copy_from_slice(&(len + 4).to_le_bytes());
        let got = packets(bytes);
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        assert_eq!(got[1], Err(SkipReason::CorruptRecord));
    }

    #[test]
    fn block_length_below_minimum_is_corrupt() {
        let mut ng = Ng::new(false);
        ng.idb(1, &[]);
        let mut bytes = ng.finish();
        bytes.extend_from_slice(&6u32.to_le_bytes());
        bytes.extend_from_slice(&8u32.to_le_bytes());
        bytes.extend_from_slice(&8u32.to_le_bytes());
        assert_eq!(packets(bytes), vec![Err(SkipReason::CorruptRecord)]);
    }

    #[test]
    fn offset_reaches_file_length() {
        let bytes = two_interfaces(false);
        let len = bytes.len();
        let capture = Capture::from_bytes("t.pcapng", bytes).unwrap();
        let mut packets = capture.packets();
        assert_eq!(packets.offset(), 0);
        packets.next();
        assert!(packets.offset() > 0 && packets.offset() < len);
        packets.next();
        assert_eq!(packets.offset(), len);
        assert!(packets.next().is_none());
    }

    #[test]
    fn link_type_constants_match_idb_values() {
        let mut ng = Ng::new(false);
        ng.idb(276, &[]);
        ng.epb(0, 0, b"", 0);
        let capture = Capture::from_bytes("sll2.pcapng", ng.finish()).unwrap();
        let packet = capture.packets().next().unwrap().unwrap();
        assert_eq!(packet.link, LinkType::LINUX_SLL2);
        assert!(packet.data.is_empty());
    }
}
