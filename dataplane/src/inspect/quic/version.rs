//! QUIC version numbers and what each one means for reading a client's first flight: where the
//! Initial's keys come from (salt and HKDF labels, RFC 9001 §5.2, RFC 9369 §3.3), which long-header
//! type bits mean Initial (RFC 9369 §3.2), which frame syntax the payload uses and whether the
//! CRYPTO stream holds a TLS ClientHello or a Google QUIC CHLO.
//!
//! Salts were checked against Wireshark's `packet-quic.c` and nDPI's `protocols/quic.c`.

use hkdf::HkdfExtract;
use sha2::Sha256;
use std::sync::OnceLock;

/// QUIC version 1 (RFC 9000).
pub const V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const V2: u32 = 0x6b33_43cf;
/// QUIC version 2 as deployed from draft-ietf-quic-v2-01 to -10.
pub const V2_DRAFT: u32 = 0x709a_50c4;
/// Meta's mvfst, draft-22 and draft-27 based, and its experimental version.
pub const MVFST_22: u32 = 0xface_b001;
pub const MVFST_27: u32 = 0xface_b002;
pub const MVFST_EXP: u32 = 0xface_b00e;
/// Google QUIC versions with IETF long headers and encrypted Initials.
pub const Q050: u32 = u32::from_be_bytes(*b"Q050");
pub const T050: u32 = u32::from_be_bytes(*b"T050");
pub const T051: u32 = u32::from_be_bytes(*b"T051");

static SALT_DRAFT_22: Salt = Salt::new(hex20(b"7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a"));
static SALT_DRAFT_23: Salt = Salt::new(hex20(b"c3eef712c72ebb5a11a7d2432bb46365bef9f502"));
static SALT_DRAFT_29: Salt = Salt::new(hex20(b"afbfec289993d24c9e9786f19c6111e04390a899"));
static SALT_V1: Salt = Salt::new(hex20(b"38762cf7f55934b34d179ae6a4c80cadccbb7f0a"));
static SALT_V2: Salt = Salt::new(hex20(b"0dede3def700a6db819381be6e269dcbf9bd2ed9"));
static SALT_V2_DRAFT: Salt = Salt::new(hex20(b"a707c203a59b47184a1d62ca570406ea7ae3e5d3"));
static SALT_Q050: Salt = Salt::new(hex20(b"504574efd066fe2f9d945cfcdbd3a7f0d3b56b45"));
static SALT_T050: Salt = Salt::new(hex20(b"7ff579e5acd072915580304c43a2367c60488310"));
static SALT_T051: Salt = Salt::new(hex20(b"7a4edef4e7ccee5fa4506c19124fc8ccda6e033d"));

/// A version's Initial salt, with the HKDF-Extract state keyed by it, made at first use and
/// shared: every connection's key derivation starts from a copy (two SHA-256 blocks fewer).
pub struct Salt {
    bytes: [u8; 20],
    extract: OnceLock<HkdfExtract<Sha256>>,
}

impl Salt {
    const fn new(bytes: [u8; 20]) -> Salt {
        Salt {
            bytes,
            extract: OnceLock::new(),
        }
    }

    /// HKDF-Extract keyed with this salt, before any input key material.
    pub fn extract(&self) -> &HkdfExtract<Sha256> {
        self.extract
            .get_or_init(|| HkdfExtract::new(Some(&self.bytes)))
    }
}

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Salt({:02x?})", self.bytes)
    }
}

impl PartialEq for Salt {
    fn eq(&self, other: &Salt) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Salt {}

/// HKDF labels for the Initial packet keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels {
    pub key: &'static [u8],
    pub iv: &'static [u8],
    pub hp: &'static [u8],
}

pub const LABELS_V1: Labels = Labels {
    key: b"quic key",
    iv: b"quic iv",
    hp: b"quic hp",
};
pub const LABELS_V2: Labels = Labels {
    key: b"quicv2 key",
    iv: b"quicv2 iv",
    hp: b"quicv2 hp",
};

/// Frame syntax inside an Initial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frames {
    /// RFC 9000 §19 frames, CRYPTO = 0x06.
    Ietf,
    /// Google QUIC frames; the handshake rides on CRYPTO frames (type 0x08) for Q050/T05x.
    Google,
}

/// What the reassembled handshake stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// A TLS 1.3 ClientHello handshake message (no record layer).
    Tls,
    /// A Google QUIC CHLO tag-value message.
    Chlo,
}

/// How Initials of one version are protected and framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protected {
    pub salt: &'static Salt,
    pub labels: Labels,
    /// Value of the long-header type bits (0x30 of the first byte) for Initial.
    pub initial_type: u8,
    pub frames: Frames,
    pub handshake: Handshake,
}

/// How a version's client Initials are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// IETF long header, Initial encrypted with keys from the client's DCID.
    Protected(Protected),
    /// Google QUIC Q044-Q046: IETF-like long header with packed CID lengths, plaintext CHLO.
    GoogleLong,
    /// Google QUIC up to Q043: legacy public header, plaintext CHLO. `big_endian` is false
    /// before Q039; `private_flags` is true before Q034.
    GoogleLegacy {
        big_endian: bool,
        private_flags: bool,
    },
}

const fn ietf(salt: &'static Salt, labels: Labels, initial_type: u8) -> Kind {
    Kind::Protected(Protected {
        salt,
        labels,
        initial_type,
        frames: Frames::Ietf,
        handshake: Handshake::Tls,
    })
}

const fn google(salt: &'static Salt, handshake: Handshake) -> Kind {
    Kind::Protected(Protected {
        salt,
        labels: LABELS_V1,
        initial_type: 0,
        frames: Frames::Google,
        handshake,
    })
}

/// The number of a Google version `Qnnn`/`Tnnn`, if `version` is one of the given letter.
fn google_number(version: u32, letter: u8) -> Option<u16> {
    let [l, a, b, c] = version.to_be_bytes();
    if l != letter || ![a, b, c].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
}

/// How `version` is read, or `None` for a version this module does not know.
pub fn classify(version: u32) -> Option<Kind> {
    match version {
        V1 => return Some(ietf(&SALT_V1, LABELS_V1, 0)),
        V2 => return Some(ietf(&SALT_V2, LABELS_V2, 1)),
        V2_DRAFT => return Some(ietf(&SALT_V2_DRAFT, LABELS_V2, 1)),
        MVFST_22 => return Some(ietf(&SALT_DRAFT_22, LABELS_V1, 0)),
        MVFST_27 | MVFST_EXP => return Some(ietf(&SALT_DRAFT_23, LABELS_V1, 0)),
        Q050 => return Some(google(&SALT_Q050, Handshake::Chlo)),
        T050 => return Some(google(&SALT_T050, Handshake::Tls)),
        T051 => return Some(google(&SALT_T051, Handshake::Tls)),
        _ => {}
    }
    if version >> 8 == 0x00ff_0000 {
        return match version & 0xff {
            22 => Some(ietf(&SALT_DRAFT_22, LABELS_V1, 0)),
            23..=28 => Some(ietf(&SALT_DRAFT_23, LABELS_V1, 0)),
            29..=32 => Some(ietf(&SALT_DRAFT_29, LABELS_V1, 0)),
            33..=34 => Some(ietf(&SALT_V1, LABELS_V1, 0)),
            _ => None,
        };
    }
    match google_number(version, b'Q')? {
        44..=46 => Some(Kind::GoogleLong),
        24..=43 => Some(google_legacy(version)),
        _ => None,
    }
}

/// The legacy-header reading of a Google version Q024-Q043, if it is one.
pub fn google_legacy_kind(version: u32) -> Option<Kind> {
    match google_number(version, b'Q')? {
        24..=43 => Some(google_legacy(version)),
        _ => None,
    }
}

fn google_legacy(version: u32) -> Kind {
    let n = google_number(version, b'Q').unwrap_or(0);
    Kind::GoogleLegacy {
        big_endian: n >= 39,
        private_flags: n < 34,
    }
}

/// Decodes 40 hex digits at compile time (a malformed literal fails the build).
const fn hex20(s: &[u8]) -> [u8; 20] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("bad hex digit in salt"),
        }
    }
    assert!(s.len() == 40, "salt must be 40 hex digits");
    let mut out = [0u8; 20];
    let mut i = 0;
    while i < 20 {
        out[i] = digit(s[2 * i]) << 4 | digit(s[2 * i + 1]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_versions_classify() {
        assert!(matches!(classify(V1), Some(Kind::Protected(p)) if p.salt == &SALT_V1));
        assert!(matches!(classify(V2), Some(Kind::Protected(p)) if p.initial_type == 1));
        assert!(
            matches!(classify(0xff00_001d), Some(Kind::Protected(p)) if p.salt == &SALT_DRAFT_29)
        );
        assert!(
            matches!(classify(0xff00_001b), Some(Kind::Protected(p)) if p.salt == &SALT_DRAFT_23)
        );
        assert!(matches!(
            classify(Q050),
            Some(Kind::Protected(p)) if p.handshake == Handshake::Chlo && p.frames == Frames::Google
        ));
        assert_eq!(
            classify(u32::from_be_bytes(*b"Q046")),
            Some(Kind::GoogleLong)
        );
        assert_eq!(
            classify(u32::from_be_bytes(*b"Q043")),
            Some(Kind::GoogleLegacy {
                big_endian: true,
                private_flags: false
            })
        );
        assert_eq!(
            classify(u32::from_be_bytes(*b"Q035")),
            Some(Kind::GoogleLegacy {
                big_endian: false,
                private_flags: false
            })
        );
    }

    #[test]
    fn unknown_versions_are_none() {
        assert_eq!(classify(0), None);
        assert_eq!(classify(0x1a2a_3a4a), None);
        assert_eq!(classify(0xff00_0010), None);
        assert_eq!(classify(u32::from_be_bytes(*b"Q0a1")), None);
        assert_eq!(classify(u32::from_be_bytes(*b"Q099")), None);
    }

    #[test]
    fn salts_decode() {
        assert_eq!(SALT_Q050.bytes[..4], [0x50, 0x45, 0x74, 0xef]);
        assert_eq!(SALT_T050.bytes[19], 0x10);
    }
}
