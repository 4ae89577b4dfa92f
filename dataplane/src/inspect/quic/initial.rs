//! IETF-style Initial packets: the long header (RFC 9000 §17.2, §17.2.2), the Initial keys
//! derived from the client's Destination Connection ID (RFC 9001 §5.2, RFC 9369 §3.3), header
//! protection removal (RFC 9001 §5.4) and AEAD_AES_128_GCM decryption (RFC 9001 §5.3).
//! All cryptography is `ring`'s; this module only arranges the bytes.

use hkdf::{Hkdf, HkdfExtract};
use ring::aead::{self, quic::HeaderProtectionKey, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::Sha256;

use super::reader::Reader;
use super::version::Labels;
use super::QuicError;

/// Longest connection ID of QUIC v1 and the versions read here (RFC 9000 §17.2).
pub const MAX_CID_LEN: usize = 20;
/// Header protection samples 16 bytes starting 4 bytes after the packet number offset.
const SAMPLE_OFFSET: usize = 4;
const SAMPLE_LEN: usize = 16;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 16;
const IV_LEN: usize = 12;
/// First-byte bits protected by header protection in a long header.
const LONG_HEADER_PROTECTED_BITS: u8 = 0x0f;
const PN_LEN_BITS: u8 = 0x03;

pub mod first_byte {
    pub const LONG_FORM: u8 = 0x80;
    pub const TYPE_MASK: u8 = 0x30;
    pub const TYPE_SHIFT: u8 = 4;
}

/// One long-header packet at the start of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader<'a> {
    pub version: u32,
    /// The long packet type bits, as on the wire.
    pub packet_type: u8,
    pub dcid: &'a [u8],
    /// Offset of the (protected) packet number; 0 for Retry.
    pub pn_offset: usize,
    /// Offset just past this packet: where a coalesced next packet starts.
    pub end: usize,
}

impl<'a> LongHeader<'a> {
    /// Parses the long header at the start of `datagram`. `initial_type` is the version's type
    /// value for Initial; Retry is the type before it (RFC 9369 §3.2 rotates v1's types by one),
    /// and has no Length field, so it runs to the end of the datagram.
    pub fn parse(datagram: &'a [u8], initial_type: u8) -> Result<LongHeader<'a>, QuicError> {
        const SHORT: QuicError = QuicError::Malformed("long header truncated");
        let mut r = Reader::new(datagram);
        let first = r.u8().map_err(|_| SHORT)?;
        if first & first_byte::LONG_FORM == 0 {
            return Err(QuicError::NotQuic);
        }
        let version = r.u32_be().map_err(|_| SHORT)?;
        let dcid_len = usize::from(r.u8().map_err(|_| SHORT)?);
        if dcid_len > MAX_CID_LEN {
            return Err(QuicError::Malformed(
                "destination connection ID longer than 20 bytes",
            ));
        }
        let dcid = r.take(dcid_len).map_err(|_| SHORT)?;
        let scid_len = usize::from(r.u8().map_err(|_| SHORT)?);
        if scid_len > MAX_CID_LEN {
            return Err(QuicError::Malformed(
                "source connection ID longer than 20 bytes",
            ));
        }
        r.take(scid_len).map_err(|_| SHORT)?;
        let packet_type = (first & first_byte::TYPE_MASK) >> first_byte::TYPE_SHIFT;
        let retry_type = (initial_type + 3) & 3;
        if packet_type == retry_type {
            return Ok(LongHeader {
                version,
                packet_type,
                dcid,
                pn_offset: 0,
                end: datagram.len(),
            });
        }
        if packet_type == initial_type {
            let token_len = r.varint().map_err(|_| SHORT)?;
            r.take_u64(token_len)
                .map_err(|_| QuicError::Malformed("token beyond datagram"))?;
        }
        let length = r.varint().map_err(|_| SHORT)?;
        let pn_offset = r.pos();
        r.take_u64(length)
            .map_err(|_| QuicError::Malformed("packet length beyond datagram"))?;
        Ok(LongHeader {
            version,
            packet_type,
            dcid,
            pn_offset,
            end: r.pos(),
        })
    }
}

/// Raw Initial key material of one direction (RFC 9001 §5.1, §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    pub key: [u8; KEY_LEN],
    pub iv: [u8; IV_LEN],
    pub hp: [u8; KEY_LEN],
}

impl KeyMaterial {
    /// The client's Initial keys for a connection whose client chose `dcid`; `salt` is
    /// HKDF-Extract keyed with the version's salt ([`super::version::Salt::extract`]).
    pub fn client_initial(salt: &HkdfExtract<Sha256>, labels: Labels, dcid: &[u8]) -> KeyMaterial {
        let mut extract = salt.clone();
        extract.input_ikm(dcid);
        let (_, initial) = extract.finalize();
        let mut client_secret = [0u8; 32];
        expand_label(&initial, b"client in", &mut client_secret);
        let mut out = KeyMaterial {
            key: [0; KEY_LEN],
            iv: [0; IV_LEN],
            hp: [0; KEY_LEN],
        };
        // A 32-byte secret is always a valid PRK for SHA-256.
        if let Ok(secret) = Hkdf::<Sha256>::from_prk(&client_secret) {
            expand_label(&secret, labels.key, &mut out.key);
            expand_label(&secret, labels.iv, &mut out.iv);
            expand_label(&secret, labels.hp, &mut out.hp);
        }
        out
    }
}

/// TLS 1.3 HKDF-Expand-Label with an empty context (RFC 8446 §7.1).
fn expand_label(secret: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) {
    // The HkdfLabel structure in one piece (one HMAC update instead of five): length, label
    // length, "tls13 " + label, and an empty context. A label is at most 255 bytes with its
    // prefix; this module's are under 12. Outputs here are at most 32 bytes, far inside HKDF's
    // limit of 255 hash lengths, so `expand` cannot fail.
    const PREFIX: &[u8] = b"tls13 ";
    let label = &label[..label.len().min(255 - PREFIX.len())];
    let full_label = PREFIX.len() + label.len();
    let mut info = [0u8; 2 + 1 + 255 + 1];
    info[..2].copy_from_slice(&(out.len() as u16).to_be_bytes());
    info[2] = full_label as u8;
    info[3..3 + PREFIX.len()].copy_from_slice(PREFIX);
    info[3 + PREFIX.len()..3 + full_label].copy_from_slice(label);
    let _ = secret.expand(&info[..3 + full_label + 1], out);
}

/// Ready-to-use Initial keys: AEAD, IV and header protection.
pub struct InitialKeys {
    packet: LessSafeKey,
    iv: [u8; IV_LEN],
    hp: HeaderProtectionKey,
}

impl std::fmt::Debug for InitialKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InitialKeys { .. }")
    }
}

impl InitialKeys {
    pub fn new(material: &KeyMaterial) -> Result<InitialKeys, QuicError> {
        let unbound = UnboundKey::new(&aead::AES_128_GCM, &material.key)
            .map_err(|_| QuicError::DecryptFailed)?;
        let hp = HeaderProtectionKey::new(&aead::quic::AES_128, &material.hp)
            .map_err(|_| QuicError::DecryptFailed)?;
        Ok(InitialKeys {
            packet: LessSafeKey::new(unbound),
            iv: material.iv,
            hp,
        })
    }

    /// Removes header protection from `packet` (one whole long-header packet whose packet number
    /// starts at `pn_offset`) and decrypts it into `scratch`. Returns the plaintext payload's
    /// range within `scratch`.
    pub fn open(
        &self,
        packet: &[u8],
        pn_offset: usize,
        scratch: &mut Vec<u8>,
    ) -> Result<std::ops::Range<usize>, QuicError> {
        let sample_start = pn_offset + SAMPLE_OFFSET;
        let sample =
            packet
                .get(sample_start..sample_start + SAMPLE_LEN)
                .ok_or(QuicError::Malformed(
                    "Initial too short for a header protection sample",
                ))?;
        let mask = self
            .hp
            .new_mask(sample)
            .map_err(|_| QuicError::DecryptFailed)?;
        scratch.clear();
        scratch.extend_from_slice(packet);
        let first = scratch
            .first_mut()
            .ok_or(QuicError::Malformed("empty packet"))?;
        *first ^= mask[0] & LONG_HEADER_PROTECTED_BITS;
        let pn_len = usize::from(*first & PN_LEN_BITS) + 1;
        let header_len = pn_offset + pn_len;
        if header_len + TAG_LEN > scratch.len() {
            return Err(QuicError::Malformed(
                "Initial shorter than its packet number and tag",
            ));
        }
        let mut pn: u64 = 0;
        for (byte, m) in scratch[pn_offset..header_len].iter_mut().zip(&mask[1..]) {
            *byte ^= m;
            pn = pn << 8 | u64::from(*byte);
        }
        // Initial packet numbers are small; the truncated number is the full one for the first
        // packets of a connection, which is all that is read here (RFC 9000 §17.1).
        let mut nonce = self.iv;
        for (n, p) in nonce[IV_LEN - 8..].iter_mut().zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        let (header, body) = scratch.split_at_mut(header_len);
        let plain = self
            .packet
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&*header),
                body,
            )
            .map_err(|_| QuicError::DecryptFailed)?;
        Ok(header_len..header_len + plain.len())
    }
}

/// Test helper: builds a protected client Initial with `ring` (seal, then header protection),
/// the inverse of [`InitialKeys::open`].
#[cfg(test)]
pub fn seal_initial(
    material: &KeyMaterial,
    first_type_bits: u8,
    version: u32,
    dcid: &[u8],
    pn: u32,
    payload: &[u8],
) -> Vec<u8> {
    let pn_bytes = pn.to_be_bytes();
    let mut pkt = vec![0xc0 | first_type_bits << 4 | 0x03];
    pkt.extend_from_slice(&version.to_be_bytes());
    pkt.push(dcid.len() as u8);
    pkt.extend_from_slice(dcid);
    pkt.push(0); // SCID length
    pkt.push(0); // token length
    let length = (4 + payload.len() + TAG_LEN) as u16;
    pkt.extend_from_slice(&(0x4000 | length).to_be_bytes());
    let pn_offset = pkt.len();
    pkt.extend_from_slice(&pn_bytes);
    let mut nonce = material.iv;
    for (n, p) in nonce[IV_LEN - 8..]
        .iter_mut()
        .zip(u64::from(pn).to_be_bytes())
    {
        *n ^= p;
    }
    let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &material.key).unwrap());
    let mut body = payload.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(&pkt[..]),
        &mut body,
    )
    .unwrap();
    pkt.extend_from_slice(&body);
    let hp = HeaderProtectionKey::new(&aead::quic::AES_128, &material.hp).unwrap();
    let sample_start = pn_offset + SAMPLE_OFFSET;
    let mask = hp
        .new_mask(&pkt[sample_start..sample_start + SAMPLE_LEN])
        .unwrap();
    pkt[0] ^= mask[0] & LONG_HEADER_PROTECTED_BITS;
    for (b, m) in pkt[pn_offset..pn_offset + 4].iter_mut().zip(&mask[1..]) {
        *b ^= m;
    }
    pkt
}

#[cfg(test)]
mod tests {
    use super::super::tests::unhex;
    use super::super::version::{LABELS_V1, LABELS_V2};
    use super::*;

    const RFC_DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

    #[test]
    fn rfc9001_a1_client_keys() {
        let salt = unhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
        let m = KeyMaterial::client_initial(&HkdfExtract::new(Some(&salt)), LABELS_V1, &RFC_DCID);
        assert_eq!(m.key.to_vec(), unhex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(m.iv.to_vec(), unhex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(m.hp.to_vec(), unhex("9f50449e04a0e810283a1e9933adedd2"));
    }

    #[test]
    fn rfc9369_a1_client_keys() {
        let salt = unhex("0dede3def700a6db819381be6e269dcbf9bd2ed9");
        let m = KeyMaterial::client_initial(&HkdfExtract::new(Some(&salt)), LABELS_V2, &RFC_DCID);
        assert_eq!(m.key.to_vec(), unhex("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(m.iv.to_vec(), unhex("91f73e2351d8fa91660e909f"));
        assert_eq!(m.hp.to_vec(), unhex("45b95e15235d6f45a6b19cbcb0294ba9"));
    }

    #[test]
    fn long_header_of_rfc9001_a2_packet() {
        let pkt = unhex(include_str!("testdata/rfc9001_a2_client_initial.hex"));
        let h = LongHeader::parse(&pkt, 0).unwrap();
        assert_eq!(h.version, 1);
        assert_eq!(h.packet_type, 0);
        assert_eq!(h.dcid, RFC_DCID);
        assert_eq!(h.pn_offset, 18);
        assert_eq!(h.end, 1200);
    }

    #[test]
    fn seal_then_open_round_trips() {
        let m =
            KeyMaterial::client_initial(&HkdfExtract::new(Some(&[7; 20])), LABELS_V1, b"abcdefgh");
        let payload = [0x01u8; 64];
        let pkt = seal_initial(&m, 0, 1, b"abcdefgh", 5, &payload);
        let h = LongHeader::parse(&pkt, 0).unwrap();
        let mut scratch = Vec::new();
        let range = InitialKeys::new(&m)
            .unwrap()
            .open(&pkt, h.pn_offset, &mut scratch)
            .unwrap();
        assert_eq!(&scratch[range], &payload[..]);
    }
}
