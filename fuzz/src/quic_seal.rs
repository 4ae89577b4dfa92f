//! Client Initial packets protected as RFC 9001 §5 (v1, draft-29) and RFC 9369 §3 (v2) say, so
//! that a fuzz target can put any frames it likes inside a packet that decrypts: the decryptor,
//! header protection and everything behind them (frames, CRYPTO reassembly, the ClientHello
//! parser) are then reached with fuzzed bytes. Written from the RFCs with `ring` and `hkdf`;
//! it shares no code with the parser it feeds.

use hkdf::Hkdf;
use ring::aead::{self, quic, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::Sha256;

/// The versions sealed here: (version, Initial salt, label prefix of key/iv/hp, Initial type).
pub const VERSIONS: [(u32, [u8; 20], &str, u8); 3] = [
    (
        0x0000_0001,
        hex20("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
        "quic",
        0,
    ),
    (
        0x6b33_43cf,
        hex20("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
        "quicv2",
        1,
    ),
    (
        0xff00_001d,
        hex20("afbfec289993d24c9e9786f19c6111e04390a899"),
        "quic",
        0,
    ),
];

const fn hex20(s: &str) -> [u8; 20] {
    let s = s.as_bytes();
    let mut out = [0u8; 20];
    let mut i = 0;
    while i < 20 {
        out[i] = nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'a' + 10,
    }
}

/// HKDF-Expand-Label of TLS 1.3 (RFC 8446 §7.1) with an empty context.
fn expand_label(secret: &Hkdf<Sha256>, label: &str, out: &mut [u8]) {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&(out.len() as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    secret.expand(&info, out).expect("label output fits");
}

/// The client's Initial key, IV and header-protection key for `dcid`.
pub struct ClientKeys {
    key: [u8; 16],
    iv: [u8; 12],
    hp: [u8; 16],
}

impl ClientKeys {
    pub fn new(salt: &[u8; 20], prefix: &str, dcid: &[u8]) -> ClientKeys {
        let (initial, _) = Hkdf::<Sha256>::extract(Some(salt), dcid);
        let initial = Hkdf::<Sha256>::from_prk(&initial).expect("PRK of SHA-256 size");
        let mut client = [0u8; 32];
        expand_label(&initial, "client in", &mut client);
        let client = Hkdf::<Sha256>::from_prk(&client).expect("PRK of SHA-256 size");
        let mut keys = ClientKeys {
            key: [0; 16],
            iv: [0; 12],
            hp: [0; 16],
        };
        expand_label(&client, &format!("{prefix} key"), &mut keys.key);
        expand_label(&client, &format!("{prefix} iv"), &mut keys.iv);
        expand_label(&client, &format!("{prefix} hp"), &mut keys.hp);
        keys
    }

    /// One protected long-header Initial carrying `payload` (frames), with a 4-byte packet
    /// number. The payload is padded with PADDING frames to the 20 bytes that the header
    /// protection sample needs.
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        &self,
        version: u32,
        initial_type: u8,
        dcid: &[u8],
        scid: &[u8],
        token: &[u8],
        pn: u32,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut body = payload.to_vec();
        if body.len() < 20 {
            body.resize(20, 0);
        }
        let mut pkt = vec![0xc0 | initial_type << 4 | 0x03];
        pkt.extend_from_slice(&version.to_be_bytes());
        pkt.push(dcid.len() as u8);
        pkt.extend_from_slice(dcid);
        pkt.push(scid.len() as u8);
        pkt.extend_from_slice(scid);
        put_varint(&mut pkt, token.len() as u64);
        pkt.extend_from_slice(token);
        put_varint(&mut pkt, (4 + body.len() + 16) as u64);
        let pn_offset = pkt.len();
        pkt.extend_from_slice(&pn.to_be_bytes());
        let mut nonce = self.iv;
        for (n, p) in nonce[4..].iter_mut().zip(u64::from(pn).to_be_bytes()) {
            *n ^= p;
        }
        let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &self.key).expect("key"));
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&pkt[..]),
            &mut body,
        )
        .expect("seal");
        pkt.extend_from_slice(&body);
        let hp = quic::HeaderProtectionKey::new(&quic::AES_128, &self.hp).expect("hp key");
        let sample = pn_offset + 4;
        let mask = hp.new_mask(&pkt[sample..sample + 16]).expect("mask");
        pkt[0] ^= mask[0] & 0x0f;
        for (b, m) in pkt[pn_offset..pn_offset + 4].iter_mut().zip(&mask[1..]) {
            *b ^= m;
        }
        pkt
    }
}

/// A QUIC variable-length integer (RFC 9000 §16), in the shortest form.
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=0x3f => out.push(v as u8),
        0x40..=0x3fff => out.extend_from_slice(&(0x4000 | v as u16).to_be_bytes()),
        0x4000..=0x3fff_ffff => out.extend_from_slice(&(0x8000_0000 | v as u32).to_be_bytes()),
        _ => out.extend_from_slice(&(0xc000_0000_0000_0000 | v).to_be_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9001 Appendix A.1: the client keys of DCID 0x8394c8f03e515708.
    #[test]
    fn rfc9001_a1_client_keys() {
        let k = ClientKeys::new(
            &VERSIONS[0].1,
            "quic",
            &[0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08],
        );
        assert_eq!(k.key, hex::<16>("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(k.iv, hex::<12>("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(k.hp, hex::<16>("9f50449e04a0e810283a1e9933adedd2"));
    }

    /// RFC 9369 Appendix A.1: the same DCID under QUIC v2.
    #[test]
    fn rfc9369_a1_client_keys() {
        let k = ClientKeys::new(
            &VERSIONS[1].1,
            "quicv2",
            &[0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08],
        );
        assert_eq!(k.key, hex::<16>("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(k.iv, hex::<12>("91f73e2351d8fa91660e909f"));
        assert_eq!(k.hp, hex::<16>("45b95e15235d6f45a6b19cbcb0294ba9"));
    }

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}
