//! QUIC v1 Initial packets (RFC 9000 section 17.2.2) protected as RFC 9001 section 5 says:
//! initial secrets from the client's Destination Connection ID (section 5.2, HKDF with
//! ring::hkdf), AES-128-GCM payload protection (section 5.3, ring::aead) and AES header
//! protection (section 5.4, ring::aead::quic::HeaderProtectionKey). No cryptography is
//! written here by hand; this module only lays out bytes and calls ring.
//!
//! It also builds the client's CRYPTO stream carried over one or more Initial packets (a
//! post-quantum ClientHello needs two), optionally sent in reverse order, and filler 1-RTT
//! (short header) packets.

use ring::aead::{self, quic::HeaderProtectionKey, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{self, KeyType, Prk, Salt};
use thiserror::Error;

use crate::rng::Rng;

/// QUIC version 1.
pub const VERSION_1: u32 = 0x0000_0001;
/// Initial salt of QUIC v1 (RFC 9001 section 5.2).
pub const INITIAL_SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// Smallest UDP payload of a datagram carrying a client Initial (RFC 9000 section 14.1).
pub const MIN_INITIAL_DATAGRAM: usize = 1200;

/// Layout constants of long-header Initial packets.
mod field {
    /// Header form (long) and fixed bit, packet type Initial (0).
    pub const LONG_INITIAL: u8 = 0xc0;
    /// Short header: fixed bit set, header form 0.
    pub const SHORT_FIXED: u8 = 0x40;
    /// The packet number is always written on 4 bytes here.
    pub const PN_LEN: usize = 4;
    /// AEAD tag length of AES-128-GCM.
    pub const TAG_LEN: usize = 16;
    /// Header protection sample length.
    pub const SAMPLE_LEN: usize = 16;
    /// Frame types.
    pub const FRAME_CRYPTO: u8 = 0x06;
    /// Largest value of a 2-byte varint (the Length field is always written on 2 bytes).
    pub const MAX_VARINT2: usize = 0x3fff;
    /// Most bytes of a connection id (RFC 9000 section 17.2).
    pub const MAX_CID: usize = 20;
}

/// Errors of the QUIC builders.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum QuicError {
    /// ring refused an operation (key length, sample length).
    #[error("crypto operation failed: {0}")]
    Crypto(&'static str),
    /// A connection id longer than 20 bytes.
    #[error("connection id of {0} bytes is longer than 20")]
    CidTooLong(usize),
    /// The packet does not fit the 2-byte Length field.
    #[error("packet payload of {0} bytes is too long")]
    TooLong(usize),
    /// A CRYPTO split offset outside the data.
    #[error("split offset {0} is not inside the CRYPTO data")]
    BadSplit(usize),
}

/// Which side's Initial keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// "client in".
    Client,
    /// "server in".
    Server,
}

/// Raw Initial key material of one side (RFC 9001 section 5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialSecrets {
    /// AEAD key.
    pub key: [u8; 16],
    /// AEAD IV.
    pub iv: [u8; 12],
    /// Header protection key.
    pub hp: [u8; 16],
}

/// An output length for ring's HKDF-Expand.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label (RFC 8446 section 7.1) with an empty context.
fn expand_label(prk: &Prk, label: &[u8], out: &mut [u8]) -> Result<(), QuicError> {
    let len = u16::try_from(out.len()).map_err(|_| QuicError::Crypto("label output too long"))?;
    let len_bytes = len.to_be_bytes();
    let full_len = [(6 + label.len()) as u8]; // labels here are short constants
    let info: [&[u8]; 5] = [&len_bytes, &full_len, b"tls13 ", label, &[0u8]];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| QuicError::Crypto("HKDF-Expand-Label"))
}

/// Derives the Initial secrets of `side` from the client's Destination Connection ID.
pub fn initial_secrets(dcid: &[u8], side: Side) -> Result<InitialSecrets, QuicError> {
    let initial = Salt::new(hkdf::HKDF_SHA256, &INITIAL_SALT_V1).extract(dcid);
    let label: &[u8] = match side {
        Side::Client => b"client in",
        Side::Server => b"server in",
    };
    let mut secret = [0u8; 32];
    expand_label(&initial, label, &mut secret)?;
    let prk = Prk::new_less_safe(hkdf::HKDF_SHA256, &secret);
    let mut s = InitialSecrets {
        key: [0; 16],
        iv: [0; 12],
        hp: [0; 16],
    };
    expand_label(&prk, b"quic key", &mut s.key)?;
    expand_label(&prk, b"quic iv", &mut s.iv)?;
    expand_label(&prk, b"quic hp", &mut s.hp)?;
    Ok(s)
}

/// Initial packet protection keys, ready for ring.
pub struct InitialKeys {
    key: LessSafeKey,
    iv: [u8; 12],
    hp: HeaderProtectionKey,
}

impl InitialKeys {
    /// Keys of `side` for the connection whose client chose `dcid`.
    pub fn new(dcid: &[u8], side: Side) -> Result<Self, QuicError> {
        let s = initial_secrets(dcid, side)?;
        let key = UnboundKey::new(&aead::AES_128_GCM, &s.key)
            .map_err(|_| QuicError::Crypto("AEAD key"))?;
        let hp = HeaderProtectionKey::new(&aead::quic::AES_128, &s.hp)
            .map_err(|_| QuicError::Crypto("HP key"))?;
        Ok(InitialKeys {
            key: LessSafeKey::new(key),
            iv: s.iv,
            hp,
        })
    }
}

/// The fields of one Initial packet to protect.
#[derive(Debug, Clone, Copy)]
pub struct InitialPacket<'a> {
    /// Destination Connection ID.
    pub dcid: &'a [u8],
    /// Source Connection ID.
    pub scid: &'a [u8],
    /// Token (empty for a first Initial).
    pub token: &'a [u8],
    /// Packet number (written on 4 bytes).
    pub pn: u32,
    /// Frames (plaintext payload); PADDING is appended to reach `datagram_len`.
    pub frames: &'a [u8],
    /// Size the protected packet is padded to (0: no padding).
    pub datagram_len: usize,
}

/// Appends a QUIC variable-length integer (RFC 9000 section 16).
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v < 1 << 6 {
        out.push(v as u8);
    } else if v < 1 << 14 {
        out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes());
    } else if v < 1 << 30 {
        out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes());
    } else {
        out.extend_from_slice(&((v & 0x3fff_ffff_ffff_ffff) | 0xc000_0000_0000_0000).to_be_bytes());
    }
}

/// A CRYPTO frame (RFC 9000 section 19.6).
pub fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.push(field::FRAME_CRYPTO);
    put_varint(&mut out, offset);
    put_varint(&mut out, data.len() as u64);
    out.extend_from_slice(data);
    out
}

/// Length of an Initial header up to and including the packet number.
fn initial_header_len(dcid: &[u8], scid: &[u8], token: &[u8]) -> usize {
    let mut t = Vec::new();
    put_varint(&mut t, token.len() as u64);
    1 + 4 + 1 + dcid.len() + 1 + scid.len() + t.len() + token.len() + 2 + field::PN_LEN
}

/// Builds and protects an Initial packet (RFC 9001 section 5.3 and 5.4).
pub fn seal_initial(keys: &InitialKeys, p: &InitialPacket<'_>) -> Result<Vec<u8>, QuicError> {
    for cid in [p.dcid, p.scid] {
        if cid.len() > field::MAX_CID {
            return Err(QuicError::CidTooLong(cid.len()));
        }
    }
    let header_len = initial_header_len(p.dcid, p.scid, p.token);
    let min_payload = p.datagram_len.saturating_sub(header_len + field::TAG_LEN);
    // The sample needs 16 bytes after a 4-byte packet number offset; the tag guarantees it.
    let payload_len = p.frames.len().max(min_payload);
    let length = field::PN_LEN + payload_len + field::TAG_LEN;
    if length > field::MAX_VARINT2 {
        return Err(QuicError::TooLong(payload_len));
    }
    let mut pkt = Vec::with_capacity(header_len + payload_len + field::TAG_LEN);
    pkt.push(field::LONG_INITIAL | (field::PN_LEN as u8 - 1));
    pkt.extend_from_slice(&VERSION_1.to_be_bytes());
    pkt.push(p.dcid.len() as u8);
    pkt.extend_from_slice(p.dcid);
    pkt.push(p.scid.len() as u8);
    pkt.extend_from_slice(p.scid);
    put_varint(&mut pkt, p.token.len() as u64);
    pkt.extend_from_slice(p.token);
    pkt.extend_from_slice(&(length as u16 | 0x4000).to_be_bytes());
    let pn_offset = pkt.len();
    pkt.extend_from_slice(&p.pn.to_be_bytes());

    let mut payload = Vec::with_capacity(payload_len + field::TAG_LEN);
    payload.extend_from_slice(p.frames);
    payload.resize(payload_len, 0); // PADDING frames
    let mut nonce = keys.iv;
    for (n, b) in nonce.iter_mut().rev().zip(u64::from(p.pn).to_le_bytes()) {
        *n ^= b;
    }
    let tag = keys
        .key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&pkt[..]),
            &mut payload,
        )
        .map_err(|_| QuicError::Crypto("AEAD seal"))?;
    pkt.extend_from_slice(&payload);
    pkt.extend_from_slice(tag.as_ref());

    let sample_at = pn_offset + field::PN_LEN;
    let sample = pkt
        .get(sample_at..sample_at + field::SAMPLE_LEN)
        .ok_or(QuicError::Crypto("sample out of packet"))?;
    let mask = keys
        .hp
        .new_mask(sample)
        .map_err(|_| QuicError::Crypto("HP mask"))?;
    pkt[0] ^= mask[0] & 0x0f;
    for (b, m) in pkt[pn_offset..pn_offset + field::PN_LEN]
        .iter_mut()
        .zip(&mask[1..])
    {
        *b ^= m;
    }
    Ok(pkt)
}

/// Transport parameters a client sends (RFC 9000 section 18.2), for the QUIC hello.
pub fn client_transport_parameters(scid: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut param = |id: u64, value: &[u8]| {
        put_varint(&mut out, id);
        put_varint(&mut out, value.len() as u64);
        out.extend_from_slice(value);
    };
    let varint = |v: u64| {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        b
    };
    param(0x01, &varint(30_000)); // max_idle_timeout
    param(0x03, &varint(1472)); // max_udp_payload_size
    param(0x04, &varint(15_728_640)); // initial_max_data
    param(0x05, &varint(6_291_456)); // initial_max_stream_data_bidi_local
    param(0x06, &varint(6_291_456)); // initial_max_stream_data_bidi_remote
    param(0x07, &varint(6_291_456)); // initial_max_stream_data_uni
    param(0x08, &varint(100)); // initial_max_streams_bidi
    param(0x09, &varint(103)); // initial_max_streams_uni
    param(0x0f, scid); // initial_source_connection_id
    out
}

/// The client's first flight: its CRYPTO stream (the ClientHello handshake message) over
/// Initial packets, one per 1200-byte datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInitials {
    /// Destination Connection ID the client chose (keys derive from it).
    pub dcid: Vec<u8>,
    /// Source Connection ID.
    pub scid: Vec<u8>,
    /// The CRYPTO stream bytes (a ClientHello handshake message).
    pub crypto: Vec<u8>,
    /// Offsets where the CRYPTO data is cut into separate packets (more cuts are added where
    /// a piece does not fit one datagram).
    pub cuts: Vec<usize>,
    /// Whether the packets are sent last first.
    pub reverse: bool,
    /// Packet number of the first piece.
    pub first_pn: u32,
    /// Datagram size.
    pub datagram_len: usize,
}

impl ClientInitials {
    /// A flight for `crypto`, in order, one packet unless it does not fit.
    pub fn new(dcid: Vec<u8>, scid: Vec<u8>, crypto: Vec<u8>) -> Self {
        ClientInitials {
            dcid,
            scid,
            crypto,
            cuts: Vec::new(),
            reverse: false,
            first_pn: 0,
            datagram_len: MIN_INITIAL_DATAGRAM,
        }
    }

    /// Cuts the CRYPTO data at `offset` into two packets and sends them in reverse order.
    pub fn split_reversed(mut self, offset: usize) -> Self {
        self.cuts = vec![offset];
        self.reverse = true;
        self
    }

    /// The protected datagrams, in the order they are sent.
    pub fn datagrams(&self) -> Result<Vec<Vec<u8>>, QuicError> {
        let keys = InitialKeys::new(&self.dcid, Side::Client)?;
        // Room for CRYPTO data in one packet: header, tag, frame type + 4-byte offset and
        // 2-byte length varints at most.
        let room = self
            .datagram_len
            .saturating_sub(
                initial_header_len(&self.dcid, &self.scid, &[]) + field::TAG_LEN + 1 + 4 + 2,
            )
            .max(1);
        let mut bounds = Vec::new();
        let mut start = 0usize;
        let mut cuts = self.cuts.clone();
        cuts.push(self.crypto.len());
        for cut in cuts {
            if cut <= start || cut > self.crypto.len() {
                return Err(QuicError::BadSplit(cut));
            }
            while cut - start > room {
                bounds.push((start, start + room));
                start += room;
            }
            bounds.push((start, cut));
            start = cut;
        }
        let mut out = Vec::with_capacity(bounds.len());
        for (i, (s, e)) in bounds.into_iter().enumerate() {
            let frames = crypto_frame(s as u64, self.crypto.get(s..e).unwrap_or(&[]));
            let pn = self.first_pn.wrapping_add(i as u32);
            out.push(seal_initial(
                &keys,
                &InitialPacket {
                    dcid: &self.dcid,
                    scid: &self.scid,
                    token: &[],
                    pn,
                    frames: &frames,
                    datagram_len: self.datagram_len,
                },
            )?);
        }
        if self.reverse {
            out.reverse();
        }
        Ok(out)
    }
}

/// The server's Initial answer: a ServerHello in a CRYPTO frame, protected with the server
/// Initial keys of the client's original `client_dcid`.
pub fn server_initial(
    client_dcid: &[u8],
    client_scid: &[u8],
    server_scid: &[u8],
    server_hello: &[u8],
) -> Result<Vec<u8>, QuicError> {
    let keys = InitialKeys::new(client_dcid, Side::Server)?;
    // ACK frame for the client's packet 0 (type, largest, delay, range count, first range).
    let mut frames = vec![0x02, 0x00, 0x00, 0x00, 0x00];
    frames.extend_from_slice(&crypto_frame(0, server_hello));
    seal_initial(
        &keys,
        &InitialPacket {
            dcid: client_scid,
            scid: server_scid,
            token: &[],
            pn: 0,
            frames: &frames,
            datagram_len: MIN_INITIAL_DATAGRAM,
        },
    )
}

/// A short-header (1-RTT) packet of `len` bytes to `dcid` with random protected content.
pub fn short_header_filler(rng: &mut Rng, dcid: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len.max(1 + dcid.len() + 20));
    out.push(field::SHORT_FIXED | (rng.next_u32() as u8 & 0x1f));
    out.extend_from_slice(dcid);
    let rest = len.saturating_sub(out.len()).max(20);
    out.extend_from_slice(&rng.bytes(rest));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const RFC9001_DCID: &str = "8394c8f03e515708";

    #[test]
    fn client_initial_secrets_match_rfc9001_appendix_a1() {
        let s = initial_secrets(&hex(RFC9001_DCID), Side::Client).unwrap();
        assert_eq!(s.key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(s.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(s.hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
        let s = initial_secrets(&hex(RFC9001_DCID), Side::Server).unwrap();
        assert_eq!(s.key.to_vec(), hex("cf3a5331653c364c88f0f379b6067e37"));
        assert_eq!(s.iv.to_vec(), hex("0ac1493ca1905853b0bba03e"));
        assert_eq!(s.hp.to_vec(), hex("c206b8d9b9f0f37644430b490eeaa314"));
    }

    #[test]
    fn sealed_client_initial_matches_rfc9001_appendix_a2() {
        let frames = hex(include_str!(
            "../tests/data/rfc9001-a2-client-initial-crypto-frame.hex"
        ));
        let expected = hex(include_str!(
            "../tests/data/rfc9001-a2-client-initial-protected.hex"
        ));
        assert_eq!(frames.len(), 245);
        assert_eq!(expected.len(), 1200);
        let keys = InitialKeys::new(&hex(RFC9001_DCID), Side::Client).unwrap();
        let dcid = hex(RFC9001_DCID);
        let pkt = seal_initial(
            &keys,
            &InitialPacket {
                dcid: &dcid,
                scid: &[],
                token: &[],
                pn: 2,
                frames: &frames,
                datagram_len: 1200,
            },
        )
        .unwrap();
        assert_eq!(pkt.len(), expected.len());
        assert_eq!(pkt, expected);
    }

    #[test]
    fn varints_use_the_shortest_encoding() {
        let enc = |v| {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            b
        };
        assert_eq!(enc(37), vec![0x25]);
        assert_eq!(enc(15293), vec![0x7b, 0xbd]);
        assert_eq!(enc(494_878_333), vec![0x9d, 0x7f, 0x3e, 0x7d]);
        assert_eq!(enc(151_288_809_941_952_652), hex("c2197c5eff14e88c"));
    }

    #[test]
    fn long_crypto_data_is_split_and_reversed() {
        let crypto: Vec<u8> = (0..1800u32).map(|i| i as u8).collect();
        let flight = ClientInitials::new(vec![1; 8], vec![2; 8], crypto).split_reversed(900);
        let d = flight.datagrams().unwrap();
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|p| p.len() == 1200 && p[0] & 0xf0 == 0xc0));
        // A flight too long for one packet is cut even without an explicit split.
        let big = ClientInitials::new(vec![1; 8], vec![], vec![0; 1800])
            .datagrams()
            .unwrap();
        assert_eq!(big.len(), 2);
        let bad = ClientInitials::new(vec![1; 8], vec![], vec![0; 10]).split_reversed(10);
        assert_eq!(bad.datagrams(), Err(QuicError::BadSplit(10)));
    }

    /// Removes header protection and decrypts a client Initial made here; returns
    /// (packet number, plaintext).
    fn open_client_initial(dcid: &[u8], mut pkt: Vec<u8>) -> (u32, Vec<u8>) {
        let s = initial_secrets(dcid, Side::Client).unwrap();
        let hp = HeaderProtectionKey::new(&aead::quic::AES_128, &s.hp).unwrap();
        let dcid_len = usize::from(pkt[5]);
        let scid_len = usize::from(pkt[6 + dcid_len]);
        let pn_offset = 6 + dcid_len + 1 + scid_len + 1 + 2; // empty token, 2-byte length
        let mask = hp.new_mask(&pkt[pn_offset + 4..pn_offset + 20]).unwrap();
        pkt[0] ^= mask[0] & 0x0f;
        assert_eq!(pkt[0], 0xc3);
        for i in 0..4 {
            pkt[pn_offset + i] ^= mask[1 + i];
        }
        let pn = u32::from_be_bytes(pkt[pn_offset..pn_offset + 4].try_into().unwrap());
        let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &s.key).unwrap());
        let mut nonce = s.iv;
        for (n, b) in nonce.iter_mut().rev().zip(u64::from(pn).to_le_bytes()) {
            *n ^= b;
        }
        let (header, body) = pkt.split_at_mut(pn_offset + 4);
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&header[..]),
                body,
            )
            .unwrap();
        (pn, plain.to_vec())
    }

    #[test]
    fn reversed_split_initials_open_to_the_crypto_stream_in_pieces() {
        let crypto: Vec<u8> = (0..700u32).map(|i| (i * 7) as u8).collect();
        let dcid = vec![0x11; 8];
        let flight =
            ClientInitials::new(dcid.clone(), vec![0x22; 8], crypto.clone()).split_reversed(300);
        let d = flight.datagrams().unwrap();
        let (pn_a, a) = open_client_initial(&dcid, d[0].clone());
        let (pn_b, b) = open_client_initial(&dcid, d[1].clone());
        // Sent second piece first.
        assert_eq!((pn_a, pn_b), (1, 0));
        // CRYPTO frame: type, offset varint, length varint (2 bytes), data.
        assert_eq!(&b[..4], &[0x06, 0x00, 0x41, 0x2c]); // offset 0, length 300
        assert_eq!(&b[4..304], &crypto[..300]);
        assert_eq!(&a[..5], &[0x06, 0x41, 0x2c, 0x41, 0x90]); // offset 300, length 400
        assert_eq!(&a[5..405], &crypto[300..]);
        assert!(a[405..].iter().all(|&x| x == 0));
    }

    #[test]
    fn long_connection_ids_are_refused() {
        let keys = InitialKeys::new(&[0; 8], Side::Client).unwrap();
        let cid = [0u8; 21];
        let r = seal_initial(
            &keys,
            &InitialPacket {
                dcid: &cid,
                scid: &[],
                token: &[],
                pn: 0,
                frames: &[0],
                datagram_len: 0,
            },
        );
        assert!(matches!(r, Err(QuicError::CidTooLong(21))));
    }
}
