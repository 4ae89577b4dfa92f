//! QUIC Initials that decrypt: sealed here (v1, v2 or draft-29, with the input's connection IDs
//! and token) around frames from the input, so every run reaches header-protection removal,
//! AEAD opening, the frame walker, CRYPTO reassembly across packets and the ClientHello parser.
//! Two modes: frames as the input gives them; or a handshake message from the input cut into
//! CRYPTO frames at offsets and in an order it chooses (some repeated), one per packet, packets
//! coalesced into datagrams as it chooses. Checks: no correctly sealed packet is ever refused as
//! undecryptable, unknown or not QUIC; a name found is a valid host name; in the second mode, when
//! the message is a ClientHello, the flow yields the hello the TLS parser finds in the message.
#![no_main]

use dataplane::inspect::quic::{QuicError, QuicProgress, QuicState, HANDSHAKE_LIMIT};
use dataplane::inspect::tls::parse_client_hello_handshake;
use fuzzcheck::quic_seal::{put_varint, ClientKeys, VERSIONS};
use fuzzcheck::Choices;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut c = Choices::new(data);
    let mode = c.u8();
    let (version, salt, prefix, initial_type) = VERSIONS[usize::from(mode % 3)];
    let n = 1 + usize::from(c.u8() % 20);
    let dcid = c.bytes(n).to_vec();
    if dcid.is_empty() {
        return;
    }
    let n = usize::from(c.u8() % 21);
    let scid = c.bytes(n).to_vec();
    let n = usize::from(c.u8() % 8);
    let token = c.bytes(n).to_vec();
    let keys = ClientKeys::new(&salt, prefix, &dcid);
    let seal = |pn: u32, payload: &[u8]| {
        keys.seal(version, initial_type, &dcid, &scid, &token, pn, payload)
    };
    let mut state = QuicState::default();
    let mut feed = |datagram: &[u8]| {
        let r = state.feed(datagram);
        assert!(
            !matches!(
                r,
                Err(QuicError::DecryptFailed
                    | QuicError::NotQuic
                    | QuicError::UnsupportedVersion(_))
            ),
            "a sealed Initial of version {version:#x} gave {r:?}"
        );
        if let Ok(QuicProgress::Hello(h)) = &r {
            if let Some(name) = &h.sni {
                fuzzcheck::check_host_name("quic sni", name);
            }
        }
        r
    };

    if mode & 0x80 == 0 {
        // Frames as given, one packet per piece, each its own datagram.
        for pn in 0..8 {
            if c.is_empty() {
                break;
            }
            let _ = feed(&seal(pn, c.piece()));
        }
        return;
    }

    let n = 1 + usize::from(c.u8() % 32);
    let mut pieces = Vec::with_capacity(n);
    for _ in 0..n {
        pieces.push((usize::from(c.u16()), usize::from(c.u16() % 1400), c.u8()));
    }
    let msg = c.rest();
    if msg.len() > HANDSHAKE_LIMIT as usize {
        return;
    }
    // Pieces: (start, length) within the message; the flag byte says whether the packet joins
    // the previous datagram and whether to send it twice.
    let mut cuts: Vec<(usize, usize, u8)> = pieces
        .iter()
        .map(|&(start, len, flags)| {
            let start = start % (msg.len() + 1);
            (start, len.min(msg.len() - start), flags)
        })
        .collect();
    // Then every byte of the message, so it is always complete at the end.
    let mut at = 0;
    while at < msg.len() {
        let end = (at + 1100).min(msg.len());
        cuts.push((at, end - at, 0));
        at = end;
    }
    let mut datagram = Vec::new();
    let mut last = None;
    for (pn, &(start, len, flags)) in cuts.iter().enumerate() {
        let mut frames = Vec::with_capacity(len + 16);
        if flags & 4 != 0 {
            frames.push(0x01); // PING
        }
        frames.push(0x06);
        put_varint(&mut frames, start as u64);
        put_varint(&mut frames, len as u64);
        frames.extend_from_slice(&msg[start..start + len]);
        let pkt = seal(pn as u32, &frames);
        if flags & 1 == 0 && !datagram.is_empty() {
            last = Some(feed(&datagram));
            datagram.clear();
        }
        datagram.extend_from_slice(&pkt);
        if flags & 2 != 0 {
            last = Some(feed(&pkt));
        }
    }
    if !datagram.is_empty() {
        last = Some(feed(&datagram));
    }
    if let Ok(hello) = parse_client_hello_handshake(msg) {
        assert_eq!(
            last,
            Some(Ok(QuicProgress::Hello(hello))),
            "the hello in CRYPTO frames"
        );
    }
});
