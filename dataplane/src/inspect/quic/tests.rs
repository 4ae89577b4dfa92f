//! Tests of the whole QUIC path: RFC 9001 / RFC 9369 Appendix A packets, packets sealed here with
//! `ring`, Google QUIC packets, and hostile input.
//!
//! Tests named `e2e_*` go through `tls::parse_client_hello_handshake` and so need the real TLS
//! parser (they are meant to run after the `tls` branch is merged); the others stop at the
//! reassembled handshake stream.

use super::gquic::tests::chlo;
use super::initial::{seal_initial, KeyMaterial};
use super::version::{self, Kind, LABELS_V1};
use super::*;

pub fn unhex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    s.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn rfc9001_packet() -> Vec<u8> {
    unhex(include_str!("testdata/rfc9001_a2_client_initial.hex"))
}

fn rfc9369_packet() -> Vec<u8> {
    unhex(include_str!("testdata/rfc9369_a2_client_initial.hex"))
}

/// The ClientHello carried by both Appendix A client Initials (the CRYPTO frame minus its
/// 4-byte frame header `06 00 40f1`).
fn rfc_client_hello() -> Vec<u8> {
    unhex(include_str!("testdata/rfc9001_a2_crypto_frame.hex"))[4..].to_vec()
}

fn protected(version: u32) -> version::Protected {
    match version::classify(version) {
        Some(Kind::Protected(p)) => p,
        other => panic!("{version:#x} is {other:?}"),
    }
}

fn keys_for(version: u32, dcid: &[u8]) -> KeyMaterial {
    let p = protected(version);
    KeyMaterial::client_initial(p.salt.extract(), p.labels, dcid)
}

/// An IETF Initial payload: one CRYPTO frame, then padding to `pad_to` bytes.
fn crypto_payload(offset: u16, data: &[u8], pad_to: usize) -> Vec<u8> {
    let mut out = vec![0x06, 0x40 | (offset >> 8) as u8, offset as u8];
    out.extend_from_slice(&[0x40 | (data.len() >> 8) as u8, data.len() as u8]);
    out.extend_from_slice(data);
    out.resize(pad_to.max(out.len()), 0);
    out
}

#[test]
fn rfc9001_a2_client_initial_yields_its_client_hello() {
    let mut s = QuicState::default();
    s.absorb(&rfc9001_packet()).unwrap();
    assert_eq!(s.handshake.buf.contiguous(), &rfc_client_hello()[..]);
    assert_eq!(s.kind, Some(Handshake::Tls));
}

#[test]
fn rfc9369_a2_v2_client_initial_yields_the_same_client_hello() {
    let mut s = QuicState::default();
    s.absorb(&rfc9369_packet()).unwrap();
    assert_eq!(s.handshake.buf.contiguous(), &rfc_client_hello()[..]);
}

#[test]
fn e2e_rfc9001_a2_sni_is_example_com() {
    let mut s = QuicState::default();
    match s.feed(&rfc9001_packet()) {
        Ok(QuicProgress::Hello(h)) => {
            assert_eq!(h.sni.as_deref(), Some("example.com"));
            assert_eq!(h.alpn.iter().collect::<Vec<_>>(), ["alpn"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_hello_split_over_two_initials_in_reverse_order() {
    let ch = rfc_client_hello();
    let dcid = [0x11u8; 8];
    let m = keys_for(version::V1, &dcid);
    let first = seal_initial(
        &m,
        0,
        version::V1,
        &dcid,
        0,
        &crypto_payload(0, &ch[..100], 1162),
    );
    let second = seal_initial(
        &m,
        0,
        version::V1,
        &dcid,
        1,
        &crypto_payload(100, &ch[100..], 1162),
    );
    let mut s = QuicState::default();
    s.absorb(&second).unwrap();
    assert_eq!(s.handshake.buf.contiguous(), b"");
    s.absorb(&first).unwrap();
    assert_eq!(s.handshake.buf.contiguous(), &ch[..]);
}

#[test]
fn e2e_split_client_hello_needs_more_then_hello() {
    let ch = rfc_client_hello();
    let dcid = [0x12u8; 8];
    let m = keys_for(version::V1, &dcid);
    let first = seal_initial(
        &m,
        0,
        version::V1,
        &dcid,
        0,
        &crypto_payload(0, &ch[..100], 1162),
    );
    let second = seal_initial(
        &m,
        0,
        version::V1,
        &dcid,
        1,
        &crypto_payload(100, &ch[100..], 1162),
    );
    let mut s = QuicState::default();
    assert_eq!(s.feed(&second), Ok(QuicProgress::NeedMore));
    match s.feed(&first) {
        Ok(QuicProgress::Hello(h)) => assert_eq!(h.sni.as_deref(), Some("example.com")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn coalesced_initials_handshake_and_padding_in_one_datagram() {
    let ch = rfc_client_hello();
    let dcid = [0x13u8; 8];
    let m = keys_for(version::V1, &dcid);
    let mut datagram = seal_initial(
        &m,
        0,
        version::V1,
        &dcid,
        1,
        &crypto_payload(100, &ch[100..], 0),
    );
    // A Handshake packet (type 2) that must be skipped by its Length.
    datagram.extend_from_slice(&[0xe0, 0, 0, 0, 1, 8]);
    datagram.extend_from_slice(&dcid);
    datagram.extend_from_slice(&[0, 0x05, 1, 2, 3, 4, 5]);
    datagram.extend(seal_initial(
        &m,
        0,
        version::V1,
        &dcid,
        0,
        &crypto_payload(0, &ch[..100], 0),
    ));
    datagram.resize(1200, 0);
    let mut s = QuicState::default();
    s.absorb(&datagram).unwrap();
    assert_eq!(s.handshake.buf.contiguous(), &ch[..]);
}

#[test]
fn later_initial_with_server_chosen_dcid_uses_first_keys() {
    let ch = rfc_client_hello();
    let original = [0x21u8; 8];
    let m = keys_for(version::V1, &original);
    let first = seal_initial(
        &m,
        0,
        version::V1,
        &original,
        0,
        &crypto_payload(0, &ch[..50], 0),
    );
    let later = seal_initial(
        &m,
        0,
        version::V1,
        &[0x99; 5],
        1,
        &crypto_payload(50, &ch[50..], 0),
    );
    let mut s = QuicState::default();
    s.absorb(&first).unwrap();
    s.absorb(&later).unwrap();
    assert_eq!(s.handshake.buf.contiguous(), &ch[..]);
}

#[test]
fn initial_after_retry_uses_keys_of_its_new_dcid() {
    let ch = rfc_client_hello();
    let (a, b) = ([0x31u8; 8], [0x32u8; 12]);
    let first = seal_initial(
        &keys_for(version::V1, &a),
        0,
        version::V1,
        &a,
        0,
        &crypto_payload(0, &ch[..50], 0),
    );
    let retried = seal_initial(
        &keys_for(version::V1, &b),
        0,
        version::V1,
        &b,
        1,
        &crypto_payload(50, &ch[50..], 0),
    );
    let mut s = QuicState::default();
    s.absorb(&first).unwrap();
    s.absorb(&retried).unwrap();
    assert_eq!(s.handshake.buf.contiguous(), &ch[..]);
}

#[test]
fn draft29_and_v2_sealed_initials_decrypt() {
    let ch = rfc_client_hello();
    for (version, type_bits) in [
        (0xff00_001d, 0),
        (0xff00_001b, 0),
        (version::V2, 1),
        (version::MVFST_27, 0),
    ] {
        let dcid = [0x41u8; 8];
        let pkt = seal_initial(
            &keys_for(version, &dcid),
            type_bits,
            version,
            &dcid,
            0,
            &crypto_payload(0, &ch, 1000),
        );
        assert!(looks_like_initial(&pkt), "{version:#x}");
        let mut s = QuicState::default();
        s.absorb(&pkt).unwrap();
        assert_eq!(s.handshake.buf.contiguous(), &ch[..], "{version:#x}");
    }
}

#[test]
fn q050_chlo_in_gquic_crypto_frame() {
    let msg = chlo(&[
        (b"PAD\0", &[0x2d; 30]),
        (b"SNI\0", b"www.youtube.com"),
        (b"VER\0", b"Q050"),
    ]);
    let mut payload = vec![0x08, 0x00, 0x40 | (msg.len() >> 8) as u8, msg.len() as u8];
    payload.extend_from_slice(&msg);
    payload.resize(1100, 0);
    let dcid = [0x51u8; 8];
    let pkt = seal_initial(
        &keys_for(version::Q050, &dcid),
        0,
        version::Q050,
        &dcid,
        1,
        &payload,
    );
    assert!(looks_like_initial(&pkt));
    let mut s = QuicState::default();
    match s.feed(&pkt) {
        Ok(QuicProgress::Hello(h)) => assert_eq!(h.sni.as_deref(), Some("www.youtube.com")),
        other => panic!("{other:?}"),
    }
}

/// A Q046 client Initial: long header with packed CID lengths, 4-byte packet number, message
/// hash, then a STREAM frame on stream 1 carrying `msg`.
fn q046_packet(msg: &[u8]) -> Vec<u8> {
    let mut pkt = vec![0xc3];
    pkt.extend_from_slice(b"Q046");
    pkt.push(0x50);
    pkt.extend_from_slice(&[0xab; 8]);
    pkt.extend_from_slice(&1u32.to_be_bytes());
    pkt.extend_from_slice(&[0x5a; 12]);
    pkt.extend_from_slice(&[0xa0, 0x01]);
    pkt.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    pkt.extend_from_slice(msg);
    pkt.resize(1350, 0);
    pkt
}

/// A Q043 client packet: legacy public header (version, 8-byte CID, 1-byte packet number),
/// message hash, a STREAM frame on stream 1.
fn q043_packet(msg: &[u8]) -> Vec<u8> {
    let mut pkt = vec![0x09];
    pkt.extend_from_slice(&[0xcd; 8]);
    pkt.extend_from_slice(b"Q043");
    pkt.push(1);
    pkt.extend_from_slice(&[0x5a; 12]);
    pkt.extend_from_slice(&[0xa0, 0x01]);
    pkt.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    pkt.extend_from_slice(msg);
    pkt.resize(1350, 0);
    pkt
}

#[test]
fn q046_chlo_sni() {
    let msg = chlo(&[
        (b"PAD\0", &[0x2d; 40]),
        (b"SNI\0", b"www.google.com"),
        (b"UAID", b"Chrome"),
    ]);
    let pkt = q046_packet(&msg);
    assert!(looks_like_initial(&pkt));
    match QuicState::default().feed(&pkt) {
        Ok(QuicProgress::Hello(h)) => assert_eq!(h.sni.as_deref(), Some("www.google.com")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn q043_chlo_sni_and_later_packets_without_version() {
    let msg = chlo(&[(b"SNI\0", b"Mail.Google.com"), (b"VER\0", b"Q043")]);
    let pkt = q043_packet(&msg);
    assert!(looks_like_initial(&pkt));
    let mut s = QuicState::default();
    match s.feed(&pkt) {
        Ok(QuicProgress::Hello(h)) => assert_eq!(h.sni.as_deref(), Some("mail.google.com")),
        other => panic!("{other:?}"),
    }
    // A later packet without the version flag is part of the flow, not an error.
    assert!(s.feed(&[0x08, 1, 2, 3, 4, 5, 6, 7, 8, 2, 0, 0]).is_ok());
}

#[test]
fn chlo_split_over_two_q043_packets() {
    let msg = chlo(&[(b"PAD\0", &[0x2d; 600]), (b"SNI\0", b"example.org")]);
    let mut s = QuicState::default();
    let mut second = vec![0x09];
    second.extend_from_slice(&[0xcd; 8]);
    second.extend_from_slice(b"Q043");
    second.push(2);
    second.extend_from_slice(&[0x5a; 12]);
    // STREAM, 2-byte offset, data length present: offset 300
    second.extend_from_slice(&[0xa4, 0x01, 0x01, 0x2c]);
    second.extend_from_slice(&((msg.len() - 300) as u16).to_be_bytes());
    second.extend_from_slice(&msg[300..]);
    assert_eq!(
        s.feed(&q043_packet(&msg[..300])),
        Ok(QuicProgress::NeedMore)
    );
    match s.feed(&second) {
        Ok(QuicProgress::Hello(h)) => assert_eq!(h.sni.as_deref(), Some("example.org")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrupted_initial_fails_to_decrypt() {
    for index in [30, 600, 1199] {
        let mut pkt = rfc9001_packet();
        pkt[index] ^= 0x01;
        assert_eq!(
            QuicState::default().absorb(&pkt),
            Err(QuicError::DecryptFailed),
            "byte {index}"
        );
    }
    // A wrong DCID derives wrong keys.
    let mut pkt = rfc9001_packet();
    pkt[6] ^= 0x80;
    assert_eq!(
        QuicState::default().absorb(&pkt),
        Err(QuicError::DecryptFailed)
    );
}

#[test]
fn truncated_datagrams_never_panic() {
    // `absorb` only: CHLO parsing is local, TLS parsing is the tls module's.
    for pkt in [rfc9001_packet(), rfc9369_packet()] {
        for n in 0..pkt.len() {
            let _ = looks_like_initial(&pkt[..n]);
            // A truncated Initial's Length runs past the datagram: it never decrypts.
            assert!(
                QuicState::default().absorb(&pkt[..n]).is_err(),
                "prefix {n} accepted"
            );
        }
    }
    let msg = chlo(&[(b"SNI\0", b"a.example")]);
    for pkt in [q046_packet(&msg), q043_packet(&msg)] {
        for n in 0..pkt.len() {
            let _ = looks_like_initial(&pkt[..n]);
            let mut s = QuicState::default();
            if let Ok(QuicProgress::Hello(h)) = s.feed(&pkt[..n]) {
                assert_eq!(h.sni.as_deref(), Some("a.example"));
            }
        }
    }
}

#[test]
fn hostile_bytes_never_panic() {
    // Long headers of every known version with garbage after them, and flipped bytes in the
    // RFC packet's header.
    let versions = [
        version::V1,
        version::V2,
        version::Q050,
        0xff00_001d,
        u32::from_be_bytes(*b"Q046"),
    ];
    let mut seed = 0x1234_5678u32;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for v in versions {
        for _ in 0..500 {
            let len = (next() % 1300) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if d.len() >= 5 {
                d[0] |= 0x80;
                d[1..5].copy_from_slice(&v.to_be_bytes());
            }
            let mut s = QuicState::default();
            let _ = looks_like_initial(&d);
            let _ = s.absorb(&d);
        }
    }
    let pkt = rfc9001_packet();
    for i in 0..60 {
        for bit in 0..8 {
            let mut p = pkt.clone();
            p[i] ^= 1 << bit;
            let _ = QuicState::default().absorb(&p);
        }
    }
}

#[test]
fn looks_like_initial_accepts_initials_only() {
    assert!(looks_like_initial(&rfc9001_packet()));
    assert!(looks_like_initial(&rfc9369_packet()));
    // v1 Handshake type, and a v2 packet with v1's Initial type bits.
    let mut hs = rfc9001_packet();
    hs[0] = 0xe0;
    assert!(!looks_like_initial(&hs));
    let mut v2 = rfc9369_packet();
    v2[0] = 0xc0;
    assert!(!looks_like_initial(&v2));
    // Short header, unknown version, empty, DNS-looking.
    assert!(!looks_like_initial(&[0x40, 1, 2, 3, 4, 5, 6, 7]));
    assert!(!looks_like_initial(&[0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8]));
    assert!(!looks_like_initial(&[]));
    assert!(!looks_like_initial(&[
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0
    ]));
}

#[test]
fn errors_for_non_quic_and_unknown_versions() {
    let mut s = QuicState::default();
    assert_eq!(s.feed(&[]), Err(QuicError::NotQuic));
    assert_eq!(s.feed(&[0x40, 1, 2, 3]), Err(QuicError::NotQuic));
    assert_eq!(s.feed(&[0xc0, 0, 0, 0, 0, 8]), Err(QuicError::NotQuic));
    assert_eq!(
        s.feed(&[0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8]),
        Err(QuicError::UnsupportedVersion(0x1a2a_3a4a))
    );
}

#[test]
fn handshake_stream_is_bounded() {
    let dcid = [0x61u8; 8];
    let m = keys_for(version::V1, &dcid);
    let mut s = QuicState::default();
    let pkt = seal_initial(
        &m,
        0,
        version::V1,
        &dcid,
        0,
        &crypto_payload(0, &[0x01; 200], 0),
    );
    // A CRYPTO frame at a huge offset is dropped, not stored.
    let mut far = vec![0x06, 0xbf, 0xff, 0xff, 0xff, 0x40, 0x05];
    far.extend_from_slice(&[0x02; 5]);
    far.resize(100, 0);
    let far = seal_initial(&m, 0, version::V1, &dcid, 1, &far);
    s.absorb(&pkt).unwrap();
    s.absorb(&far).unwrap();
    assert_eq!(s.handshake.buf.contiguous().len(), 200);
    assert!(s.handshake.buf.overflowed());
    let _ = LABELS_V1;
}

#[test]
fn sni_that_is_not_a_host_name_is_a_bad_name_in_ietf_and_google_quic() {
    use crate::inspect::hostname::BadName;
    // The RFC 9001 hello with its SNI `example.com` made `example..om` (same length).
    let mut ch = rfc_client_hello();
    let at = ch
        .windows(11)
        .position(|w| w == b"example.com")
        .expect("the SNI");
    ch[at..at + 11].copy_from_slice(b"example..om");
    let dcid = [0x22u8; 8];
    let m = keys_for(version::V1, &dcid);
    let pkt = seal_initial(&m, 0, version::V1, &dcid, 0, &crypto_payload(0, &ch, 1162));
    assert_eq!(
        QuicState::default().feed(&pkt),
        Err(QuicError::BadName(BadName::EmptyLabel))
    );
    let msg = chlo(&[(b"PAD\0", &[0x2d; 40]), (b"SNI\0", b"....")]);
    assert_eq!(
        QuicState::default().feed(&q046_packet(&msg)),
        Err(QuicError::BadName(BadName::EmptyLabel))
    );
}
