//! IP fragment reassembly: a UDP datagram over IPv4 or IPv6, cut into fragments at places the
//! input chooses, sent in an order it chooses, some of them twice (exact duplicates are
//! ignored by design). Checks: the datagram comes out exactly once, when its last missing
//! fragment arrives, with the ports and payload it was sent with; the decoder never holds more
//! than its bound of datagrams.
#![no_main]

use dataplane::capture::LinkType;
use dataplane::decode::{Decoder, FRAGMENT_EXPIRY_NS, L4, MAX_PENDING_DATAGRAMS};
use fuzzcheck::Choices;
use libfuzzer_sys::fuzz_target;
use std::sync::{LazyLock, Mutex};

static DECODER: LazyLock<Mutex<(Decoder, u64)>> =
    LazyLock::new(|| Mutex::new((Decoder::default(), 0)));

fuzz_target!(|data: &[u8]| {
    let mut c = Choices::new(data);
    let v6 = c.bool();
    let id = c.u32();
    let len = usize::from(c.u16() % 3000);
    let fill = c.bytes(len);
    let payload: Vec<u8> = (0..len)
        .map(|i| fill.get(i).copied().unwrap_or(i as u8))
        .collect();
    let mut datagram = Vec::with_capacity(8 + len);
    datagram.extend_from_slice(&5353u16.to_be_bytes());
    datagram.extend_from_slice(&53u16.to_be_bytes());
    datagram.extend_from_slice(&((8 + len) as u16).to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(&payload);

    // Cut points: every piece but the last is a multiple of 8 bytes.
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < datagram.len() {
        let size = 8 * (1 + usize::from(c.u8() % 64));
        let end = (at + size).min(datagram.len());
        pieces.push((at, end));
        at = end;
    }
    if pieces.len() < 2 {
        return; // not fragmented: the decode target covers it
    }
    // Order (Fisher-Yates with the input's choices) and duplicates.
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    for i in (1..order.len()).rev() {
        let j = usize::from(c.u16()) % (i + 1);
        order.swap(i, j);
    }
    let mut sends = Vec::new();
    for &i in &order {
        sends.push(i);
        if c.u8() == 0xff {
            sends.push(i);
        }
    }

    // One decoder for every run (making one costs more than a run): each run starts well past
    // the expiry of what the last one left held, so those datagrams are gone at its first
    // fragment and every run sees an empty table.
    let mut shared = DECODER.lock().unwrap_or_else(|e| e.into_inner());
    let (decoder, clock) = &mut *shared;
    *clock += 2 * FRAGMENT_EXPIRY_NS;
    let mut seen = vec![false; pieces.len()];
    let mut done = false;
    for (n, &i) in sends.iter().enumerate() {
        let (start, end) = pieces[i];
        let more = end < datagram.len();
        let frame = if v6 {
            ipv6_fragment(id, start, more, &datagram[start..end])
        } else {
            ipv4_fragment(id as u16, start, more, &datagram[start..end])
        };
        let link = if v6 { LinkType::IPV6 } else { LinkType::IPV4 };
        let result = decoder.decode(*clock + n as u64, link, &frame);
        seen[i] = true;
        let complete = !done && seen.iter().all(|&s| s);
        match result {
            Ok(p) => {
                assert!(complete, "a packet before the last fragment (send {n})");
                assert_eq!(p.l4, L4::Udp);
                assert_eq!((p.src_port, p.dst_port), (5353, 53));
                assert_eq!(p.payload, &payload[..], "reassembled payload");
                done = true;
            }
            Err(e) => assert!(!complete, "the last fragment gave {e:?}, not the datagram"),
        }
        assert!(decoder.pending_fragments() <= MAX_PENDING_DATAGRAMS);
    }
    assert!(done, "the datagram never came out");
});

fn ipv4_fragment(id: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let total = (20 + data.len()) as u16;
    let flags_offset = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
    let mut h = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[6..8].copy_from_slice(&flags_offset.to_be_bytes());
    let sum = fuzzcheck::ipv4_checksum(&h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h.extend_from_slice(data);
    h
}

fn ipv6_fragment(id: u32, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    p.push(44); // Fragment header
    p.push(64);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.push(17);
    p.push(0);
    let offset_flags = (offset as u16) | u16::from(more);
    p.extend_from_slice(&offset_flags.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(data);
    p
}
