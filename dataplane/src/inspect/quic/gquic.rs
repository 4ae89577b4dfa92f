//! Google QUIC: the legacy public header (Q024-Q043), the IETF-like long header of Q044-Q046
//! with packed connection ID lengths, their plaintext payload (12-byte FNV-1a message hash, then
//! frames), Google QUIC frames (STREAM on stream 1 carries the handshake before Q050; CRYPTO
//! frames carry it in Q050/T05x), and the CHLO tag-value handshake message whose `SNI\0` tag
//! names the server.
//!
//! References: Chromium's QUIC wire format notes ("QUIC Wire Layout Specification") and the
//! crypto handshake message layout (tag, u16 entry count, u16 padding, (tag, u32 end offset)
//! pairs, values); Wireshark's and nDPI's dissectors for version quirks. The message hash is
//! not verified.

use super::reader::Reader;
use super::version::{self, Kind};
use super::QuicError;
use crate::inspect::hostname::{host_name, BadName};
use crate::inspect::stream::StreamBuf;
use crate::inspect::tls::{Alpn, ClientHello};

/// Legacy public header flag bits.
pub mod public_flags {
    pub const VERSION: u8 = 0x01;
    pub const CID_8: u8 = 0x08;
    pub const PN_LEN_MASK: u8 = 0x30;
    pub const PN_LEN_SHIFT: u8 = 4;
    /// Multipath (reserved); set by no client, and set in every IETF short header.
    pub const MULTIPATH: u8 = 0x40;
    /// Must be clear in the legacy header (it marks an IETF long header).
    pub const UNUSED: u8 = 0x80;
}

const LEGACY_CID_LEN: usize = 8;
const MESSAGE_HASH_LEN: usize = 12;
/// The handshake runs on stream 1 in Google QUIC before CRYPTO frames.
const CRYPTO_STREAM_ID: u64 = 1;
const CHLO_TAG: &[u8; 4] = b"CHLO";
const SNI_TAG: &[u8; 4] = b"SNI\0";
/// CHLO: tag (4), entry count (2), padding (2).
const CHLO_HEADER_LEN: usize = 8;
/// Each entry: tag (4), end offset (4).
const CHLO_ENTRY_LEN: usize = 8;

const TRUNCATED: QuicError = QuicError::Malformed("gQUIC packet truncated");

/// The plaintext frames of a Google QUIC packet and how to read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plain<'a> {
    pub frames: &'a [u8],
    pub big_endian: bool,
    pub pn_len: usize,
}

/// Whether `datagram` starts with a legacy public header that carries a known version.
pub fn is_legacy_with_version(datagram: &[u8]) -> bool {
    let Some(&flags) = datagram.first() else {
        return false;
    };
    if flags & (public_flags::UNUSED | public_flags::MULTIPATH) != 0
        || flags & public_flags::VERSION == 0
        || flags & public_flags::CID_8 == 0
    {
        return false;
    }
    let mut r = Reader::new(datagram);
    let _ = r.take(1 + LEGACY_CID_LEN);
    r.u32_be()
        .ok()
        .and_then(version::google_legacy_kind)
        .is_some()
}

fn legacy_pn_len(flags: u8) -> usize {
    match (flags & public_flags::PN_LEN_MASK) >> public_flags::PN_LEN_SHIFT {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => 6,
    }
}

/// Parses a legacy public header with a version (the client's first packets, Q024-Q043).
pub fn parse_legacy(datagram: &[u8]) -> Result<Plain<'_>, QuicError> {
    let mut r = Reader::new(datagram);
    let flags = r.u8().map_err(|_| TRUNCATED)?;
    if flags & public_flags::VERSION == 0 {
        return Err(QuicError::NotQuic);
    }
    if flags & public_flags::CID_8 != 0 {
        r.take(LEGACY_CID_LEN).map_err(|_| TRUNCATED)?;
    }
    let version = r.u32_be().map_err(|_| TRUNCATED)?;
    let Some(Kind::GoogleLegacy {
        big_endian,
        private_flags,
    }) = version::google_legacy_kind(version)
    else {
        return Err(QuicError::UnsupportedVersion(version));
    };
    let pn_len = legacy_pn_len(flags);
    r.take(pn_len + MESSAGE_HASH_LEN).map_err(|_| TRUNCATED)?;
    if private_flags {
        r.u8().map_err(|_| TRUNCATED)?;
    }
    Ok(Plain {
        frames: r.rest(),
        big_endian,
        pn_len,
    })
}

/// Parses a Q044-Q046 long header (connection ID lengths packed in one byte, each nibble
/// `len - 3` or 0; no token, no Length field).
pub fn parse_long(datagram: &[u8]) -> Result<Plain<'_>, QuicError> {
    let mut r = Reader::new(datagram);
    let first = r.u8().map_err(|_| TRUNCATED)?;
    r.u32_be().map_err(|_| TRUNCATED)?;
    let lens = r.u8().map_err(|_| TRUNCATED)?;
    let nibble = |n: u8| if n == 0 { 0 } else { usize::from(n) + 3 };
    r.take(nibble(lens >> 4) + nibble(lens & 0x0f))
        .map_err(|_| TRUNCATED)?;
    let pn_len = usize::from(first & 0x03) + 1;
    r.take(pn_len + MESSAGE_HASH_LEN).map_err(|_| TRUNCATED)?;
    Ok(Plain {
        frames: r.rest(),
        big_endian: true,
        pn_len,
    })
}

mod frame_type {
    pub const PADDING: u8 = 0x00;
    pub const RST_STREAM: u8 = 0x01;
    pub const CONNECTION_CLOSE: u8 = 0x02;
    pub const GOAWAY: u8 = 0x03;
    pub const WINDOW_UPDATE: u8 = 0x04;
    pub const BLOCKED: u8 = 0x05;
    pub const STOP_WAITING: u8 = 0x06;
    pub const PING: u8 = 0x07;
    pub const CRYPTO: u8 = 0x08;
    /// `1fdooo ss`: fin, data length present, offset length, stream ID length.
    pub const STREAM_BIT: u8 = 0x80;
    /// `01n0 llmm`: multiple blocks, largest-acked length, block length.
    pub const ACK_MASK: u8 = 0xc0;
    pub const ACK_BITS: u8 = 0x40;
}

/// The 1/2/4/6-byte field length of a 2-bit code in an ACK frame type.
fn ack_len(code: u8) -> usize {
    match code & 0x03 {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => 6,
    }
}

/// The handshake stream of Google QUIC. A client whose first CHLO was rejected sends its next
/// CHLO further along stream 1, and a capture may start there: the stream is read from where a
/// CHLO starts, which is offset 0 unless the first CHLO seen starts elsewhere.
#[derive(Debug)]
pub struct ChloStream {
    /// Stream offset of the buffer's first byte.
    base: u64,
    pub buf: StreamBuf,
}

impl ChloStream {
    pub fn new(limit: u32) -> ChloStream {
        ChloStream {
            base: 0,
            buf: StreamBuf::new(limit),
        }
    }

    fn insert(&mut self, offset: u64, data: &[u8]) {
        if offset != self.base && data.starts_with(CHLO_TAG) && self.buf.contiguous().is_empty() {
            self.buf.clear();
            self.base = offset;
        }
        if let Some(rel) = offset.checked_sub(self.base) {
            self.buf.insert(rel, data);
        }
    }
}

/// Walks Google QUIC frames, storing handshake bytes (stream 1 STREAM data, or CRYPTO frames)
/// into `crypto`.
pub fn collect_handshake(plain: &Plain<'_>, crypto: &mut ChloStream) -> Result<(), QuicError> {
    let be = plain.big_endian;
    let mut r = Reader::new(plain.frames);
    let t_err = |_| TRUNCATED;
    while let Ok(t) = r.u8() {
        if t & frame_type::STREAM_BIT != 0 {
            let id_len = usize::from(t & 0x03) + 1;
            let off_code = (t >> 2) & 0x07;
            let off_len = if off_code == 0 {
                0
            } else {
                usize::from(off_code) + 1
            };
            let stream_id = r.uint(id_len, be).map_err(t_err)?;
            let offset = r.uint(off_len, be).map_err(t_err)?;
            let data = if t & 0x20 != 0 {
                let len = r.uint(2, be).map_err(t_err)?;
                r.take_u64(len).map_err(t_err)?
            } else {
                let rest = r.rest();
                r.take(rest.len()).map_err(t_err)?
            };
            if stream_id == CRYPTO_STREAM_ID {
                crypto.insert(offset, data);
            }
            continue;
        }
        if t & frame_type::ACK_MASK == frame_type::ACK_BITS {
            let largest_len = ack_len(t >> 2);
            let block_len = ack_len(t);
            r.take(largest_len + 2).map_err(t_err)?; // largest acked, ack delay
            let blocks = if t & 0x20 != 0 {
                r.u8().map_err(t_err)?
            } else {
                0
            };
            r.take(block_len).map_err(t_err)?; // first block
            for _ in 0..blocks {
                r.take(1 + block_len).map_err(t_err)?; // gap, block
            }
            let timestamps = r.u8().map_err(t_err)?;
            if timestamps > 0 {
                r.take(1 + 4).map_err(t_err)?;
                for _ in 1..timestamps {
                    r.take(1 + 2).map_err(t_err)?;
                }
            }
            continue;
        }
        match t {
            frame_type::PADDING | frame_type::PING => {}
            frame_type::STOP_WAITING => {
                r.take(plain.pn_len).map_err(t_err)?;
            }
            frame_type::WINDOW_UPDATE => {
                r.take(4 + 8).map_err(t_err)?;
            }
            frame_type::BLOCKED => {
                r.take(4).map_err(t_err)?;
            }
            frame_type::RST_STREAM => {
                r.take(4 + 8 + 4).map_err(t_err)?;
            }
            frame_type::CONNECTION_CLOSE => {
                r.take(4).map_err(t_err)?;
                let len = r.uint(2, be).map_err(t_err)?;
                r.take_u64(len).map_err(t_err)?;
            }
            frame_type::GOAWAY => {
                r.take(4 + 4).map_err(t_err)?;
                let len = r.uint(2, be).map_err(t_err)?;
                r.take_u64(len).map_err(t_err)?;
            }
            frame_type::CRYPTO => {
                let offset = r.varint().map_err(t_err)?;
                let len = r.varint().map_err(t_err)?;
                crypto.insert(offset, r.take_u64(len).map_err(t_err)?);
            }
            _ => return Err(QuicError::Malformed("unknown gQUIC frame type")),
        }
    }
    Ok(())
}

/// Why a CHLO could not be read yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChloError {
    /// A valid beginning; more bytes are needed.
    Incomplete,
    /// The stream does not start with a CHLO.
    NotChlo,
    Malformed(&'static str),
    /// An SNI tag that is not a host name.
    BadName(BadName),
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    for (d, s) in a.iter_mut().zip(b) {
        *d = *s;
    }
    u32::from_le_bytes(a)
}

/// Reads the server name from a CHLO handshake message at the start of `msg`.
pub fn parse_chlo(msg: &[u8]) -> Result<ClientHello, ChloError> {
    let tag_seen = msg.len().min(CHLO_TAG.len());
    if msg[..tag_seen] != CHLO_TAG[..tag_seen] {
        return Err(ChloError::NotChlo);
    }
    let Some(header) = msg.get(..CHLO_HEADER_LEN) else {
        return Err(ChloError::Incomplete);
    };
    let entries = usize::from(u16::from_le_bytes([header[4], header[5]]));
    let values_start = CHLO_HEADER_LEN + entries * CHLO_ENTRY_LEN;
    let Some(table) = msg.get(CHLO_HEADER_LEN..values_start) else {
        return Err(ChloError::Incomplete);
    };
    let mut prev_end = 0usize;
    let mut sni = None;
    for entry in table.chunks_exact(CHLO_ENTRY_LEN) {
        let end = le_u32(&entry[4..]) as usize;
        if end < prev_end {
            return Err(ChloError::Malformed("CHLO value offsets go backwards"));
        }
        if &entry[..4] == SNI_TAG {
            sni = Some((prev_end, end));
        }
        prev_end = end;
    }
    let total = values_start
        .checked_add(prev_end)
        .ok_or(ChloError::Malformed("CHLO too long"))?;
    if msg.len() < total {
        return Err(ChloError::Incomplete);
    }
    let sni = sni
        .and_then(|(s, e)| msg.get(values_start + s..values_start + e))
        .map(host_name)
        .transpose()
        .map_err(ChloError::BadName)?;
    Ok(ClientHello {
        sni,
        alpn: Alpn::default(),
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A CHLO with the given (tag, value) entries (tags in order).
    pub fn chlo(entries: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut out = CHLO_TAG.to_vec();
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        let mut end = 0u32;
        for (tag, value) in entries {
            end += value.len() as u32;
            out.extend_from_slice(*tag);
            out.extend_from_slice(&end.to_le_bytes());
        }
        for (_, value) in entries {
            out.extend_from_slice(value);
        }
        out
    }

    #[test]
    fn chlo_yields_sni_and_every_prefix_is_incomplete() {
        let msg = chlo(&[
            (b"PAD\0", &[0; 20]),
            (b"SNI\0", b"www.Google.com"),
            (b"UAID", b"Chrome/80"),
        ]);
        let hello = parse_chlo(&msg).unwrap();
        assert_eq!(hello.sni.as_deref(), Some("www.google.com"));
        for n in 0..msg.len() {
            assert_eq!(
                parse_chlo(&msg[..n]),
                Err(ChloError::Incomplete),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn chlo_without_sni_is_a_hello_without_name() {
        let msg = chlo(&[(b"VER\0", b"Q043")]);
        assert_eq!(parse_chlo(&msg).unwrap().sni, None);
    }

    #[test]
    fn not_chlo_and_backwards_offsets() {
        assert_eq!(parse_chlo(b"SHLO\0\0\0\0"), Err(ChloError::NotChlo));
        let mut msg = chlo(&[(b"AAAA", b"xx"), (b"SNI\0", b"a.b")]);
        msg[CHLO_HEADER_LEN + 12..CHLO_HEADER_LEN + 16].copy_from_slice(&1u32.to_le_bytes());
        assert!(matches!(parse_chlo(&msg), Err(ChloError::Malformed(_))));
    }

    #[test]
    fn chlo_found_at_a_later_stream_offset() {
        let msg = chlo(&[(b"SNI\0", b"play.google.com")]);
        let mut frames = vec![0xa4, 0x01, 0x04, 0x00];
        frames.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        frames.extend_from_slice(&msg);
        let mut s = ChloStream::new(100);
        collect_handshake(
            &Plain {
                frames: &frames,
                big_endian: true,
                pn_len: 4,
            },
            &mut s,
        )
        .unwrap();
        assert_eq!(s.buf.contiguous(), &msg[..]);
        assert_eq!(
            parse_chlo(s.buf.contiguous()).unwrap().sni.as_deref(),
            Some("play.google.com")
        );
    }

    #[test]
    fn legacy_stream_frame_little_and_big_endian() {
        let mut buf = ChloStream::new(100);
        // STREAM, data length present, 2-byte offset, 1-byte stream ID (0xa4)
        let be = [
            0xa4, 0x01, 0x00, 0x02, 0x00, 0x02, b'c', b'd', 0xa0, 0x01, 0x00, 0x02, b'a', b'b',
        ];
        collect_handshake(
            &Plain {
                frames: &be,
                big_endian: true,
                pn_len: 1,
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(buf.buf.contiguous(), b"abcd");
        let mut buf = ChloStream::new(100);
        let le = [0xa0, 0x01, 0x02, 0x00, b'a', b'b'];
        collect_handshake(
            &Plain {
                frames: &le,
                big_endian: false,
                pn_len: 1,
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(buf.buf.contiguous(), b"ab");
    }

    #[test]
    fn ack_and_stop_waiting_are_skipped_and_other_streams_ignored() {
        let mut buf = ChloStream::new(100);
        let frames = [
            0x40, 0x05, 0x00, 0x00, 0x05, 0x00, // ACK, one block, no timestamps
            0x06, 0x01, // STOP_WAITING with 1-byte packet numbers
            0xa0, 0x03, 0x00, 0x01, b'z', // stream 3: ignored
            0xa0, 0x01, 0x00, 0x01, b'y', // stream 1
        ];
        collect_handshake(
            &Plain {
                frames: &frames,
                big_endian: true,
                pn_len: 1,
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(buf.buf.contiguous(), b"y");
    }
}
