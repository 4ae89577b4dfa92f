//! Google QUIC in plaintext: the legacy public header (Q033 with private flags, Q035 little
//! endian, Q043 big endian) and the Q046 long header, around frames from the input. Two modes:
//! frames as given; or a CHLO handshake message built from the input's tag-value entries, cut
//! into STREAM frames on stream 1 at offsets and in an order the input chooses. Checks: a name
//! found is a valid host name; in the second mode the flow yields the normalised value of the
//! CHLO's (last) `SNI` entry once the whole message has arrived.
#![no_main]

use dataplane::inspect::normalize_name;
use dataplane::inspect::quic::{QuicError, QuicProgress, QuicState};
use fuzzcheck::Choices;
use libfuzzer_sys::fuzz_target;

const VERSIONS: [&[u8; 4]; 4] = [b"Q033", b"Q035", b"Q043", b"Q046"];
const TAGS: [&[u8; 4]; 4] = [b"SNI\0", b"PAD\0", b"UAID", b"VER\0"];

fuzz_target!(|data: &[u8]| {
    let mut c = Choices::new(data);
    let mode = c.u8();
    let version = VERSIONS[usize::from(mode % 4)];
    let number = (version[1] - b'0') * 100 + (version[2] - b'0') * 10 + (version[3] - b'0');
    let big_endian = number >= 39;
    let header = |pn: u8| -> Vec<u8> {
        let mut h = Vec::with_capacity(32);
        if number >= 44 {
            h.push(0xc3);
            h.extend_from_slice(version);
            h.push(0x50);
            h.extend_from_slice(&[0xab; 8]);
            h.extend_from_slice(&u32::from(pn).to_be_bytes());
        } else {
            h.push(0x09);
            h.extend_from_slice(&[0xcd; 8]);
            h.extend_from_slice(version);
            h.push(pn);
        }
        h.extend_from_slice(&[0x5a; 12]); // message hash (not checked)
        if number < 34 {
            h.push(0); // private flags
        }
        h
    };
    let mut state = QuicState::default();
    let mut feed = |pkt: &[u8]| {
        let r = state.feed(pkt);
        if let Ok(QuicProgress::Hello(h)) = &r {
            if let Some(name) = &h.sni {
                fuzzcheck::check_host_name("gquic sni", name);
            }
        }
        r
    };

    if mode & 0x80 == 0 {
        for pn in 1..=8 {
            if c.is_empty() {
                break;
            }
            let mut pkt = header(pn);
            pkt.extend_from_slice(c.piece());
            let _ = feed(&pkt);
        }
        return;
    }

    // The CHLO: tag, entry count, padding, (tag, end offset) pairs, values.
    let n = usize::from(c.u8() % 8);
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let pick = c.u8();
        let tag: [u8; 4] = match TAGS.get(usize::from(pick % 8)) {
            Some(t) => **t,
            None => [c.u8(), c.u8(), c.u8(), c.u8()],
        };
        entries.push((tag, c.bytes(usize::from(pick >> 3) * 8)));
    }
    let mut msg = b"CHLO".to_vec();
    msg.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    msg.extend_from_slice(&[0, 0]);
    let mut end = 0u32;
    for (tag, value) in &entries {
        end += value.len() as u32;
        msg.extend_from_slice(tag);
        msg.extend_from_slice(&end.to_le_bytes());
    }
    for (_, value) in &entries {
        msg.extend_from_slice(value);
    }
    let sni = entries.iter().rev().find(|(tag, _)| tag == b"SNI\0");
    let want = sni.and_then(|(_, value)| normalize_name(value));
    // An SNI that is no host name is refused as such, not taken and not ignored.
    let bad_sni = sni.is_some() && want.is_none();

    // Pieces from the input, then the whole message in order so that it is complete.
    let mut cuts = Vec::new();
    for _ in 0..usize::from(c.u8() % 16) {
        let start = usize::from(c.u16()) % msg.len();
        let len = usize::from(c.u16() % 1200).min(msg.len() - start);
        cuts.push((start, len));
    }
    let mut at = 0;
    while at < msg.len() {
        let end = (at + 1200).min(msg.len());
        cuts.push((at, end - at));
        at = end;
    }
    // A piece that starts a CHLO at another offset, arriving first, restarts the stream there
    // by design (a client's second CHLO): then the answer may differ.
    let restarts = cuts
        .iter()
        .any(|&(start, len)| start > 0 && msg[start..start + len].starts_with(b"CHLO"));
    let mut last = None;
    for (i, &(start, len)) in cuts.iter().enumerate() {
        let mut pkt = header(i as u8 + 1);
        pkt.push(0xa4); // STREAM, data length present, 2-byte offset, 1-byte stream id
        pkt.push(1);
        let (off, dlen) = (start as u16, len as u16);
        let (off, dlen) = match big_endian {
            true => (off.to_be_bytes(), dlen.to_be_bytes()),
            false => (off.to_le_bytes(), dlen.to_le_bytes()),
        };
        pkt.extend_from_slice(&off);
        pkt.extend_from_slice(&dlen);
        pkt.extend_from_slice(&msg[start..start + len]);
        last = Some(feed(&pkt));
    }
    if !restarts {
        match last {
            Some(Ok(QuicProgress::Hello(h))) if !bad_sni => {
                assert_eq!(h.sni, want, "SNI of the CHLO")
            }
            Some(Err(QuicError::BadName(_))) if bad_sni => {}
            other => panic!("a whole CHLO gave {other:?} (SNI {sni:?})"),
        }
    }
});
