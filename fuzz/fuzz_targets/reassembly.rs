//! TCP reassembly of a stream's first bytes (`TcpStream`, and the `StreamBuf` under it that
//! QUIC CRYPTO data uses too). The input chooses a stream, the segments it is cut into (they may
//! overlap and repeat, always with the stream's own bytes), their order, whether the SYN was seen
//! and the buffer's limit. Checks: the bytes held from the start are exactly the stream's bytes
//! up to the first hole (or the limit), in any segment order; with segments that disagree, each
//! byte is the first copy of it that arrived.
#![no_main]

use dataplane::inspect::stream::{StreamBuf, TcpStream};
use fuzzcheck::Choices;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// The stream the segments are cut from: bytes that do not repeat soon, so a misplaced segment
/// shows.
static STREAM: LazyLock<Vec<u8>> = LazyLock::new(|| {
    (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let mut c = Choices::new(data);
    let mode = c.u8();
    let limit = 1 + u32::from(c.u16() % 4096);
    let isn = c.u32();
    let stream = &STREAM[..];
    // Segments: (offset, length), with offsets below 6000 and lengths up to 2047.
    let mut segs = Vec::new();
    while !c.is_empty() && segs.len() < 256 {
        let off = usize::from(c.u16() % 6000);
        let len = usize::from(c.u16() % 2048);
        segs.push((off, len));
    }
    match mode % 4 {
        0 => after_syn(stream, &segs, isn, limit),
        1 => without_syn(stream, &segs, isn, limit),
        2 => syn_late(stream, &segs, isn, limit, mode),
        _ => first_copy_wins(&segs, limit, mode),
    }
});

/// What the stream holds from `start`: the stream's bytes up to the first byte that no segment
/// covered, and at most `limit` of them.
fn expected<'s>(stream: &'s [u8], segs: &[(usize, usize)], start: usize, limit: u32) -> &'s [u8] {
    let mut covered = vec![false; stream.len()];
    for &(off, len) in segs {
        covered[off..off + len].iter_mut().for_each(|c| *c = true);
    }
    let end = covered[start..]
        .iter()
        .position(|&c| !c)
        .map_or(stream.len(), |n| start + n);
    &stream[start..end.min(start + limit as usize)]
}

/// The SYN was seen: byte 0 of the stream is ISN + 1, and every segment lands where it belongs.
fn after_syn(stream: &[u8], segs: &[(usize, usize)], isn: u32, limit: u32) {
    let mut s = TcpStream::after_syn(isn, limit);
    for &(off, len) in segs {
        let seq = isn.wrapping_add(1).wrapping_add(off as u32);
        s.segment(seq, 0x18, &stream[off..off + len]);
    }
    assert_eq!(s.contiguous(), expected(stream, segs, 0, limit));
}

/// The SYN arrives after some of the data (reordered): data seen before it is placed again
/// relative to it. Segments start within `limit` of the stream's start, so none is lost.
fn syn_late(stream: &[u8], segs: &[(usize, usize)], isn: u32, limit: u32, when: u8) {
    let segs: Vec<_> = segs
        .iter()
        .copied()
        .filter(|&(off, _)| off < limit as usize)
        .collect();
    let syn_at = usize::from(when >> 2) % (segs.len() + 1);
    let mut s = TcpStream::new(limit);
    for (i, &(off, len)) in segs.iter().enumerate() {
        if i == syn_at {
            s.segment(isn, 0x02, &[]);
        }
        let seq = isn.wrapping_add(1).wrapping_add(off as u32);
        s.segment(seq, 0x18, &stream[off..off + len]);
    }
    if syn_at == segs.len() {
        s.segment(isn, 0x02, &[]);
    }
    assert_eq!(s.contiguous(), expected(stream, &segs, 0, limit));
}

/// No SYN: the stream starts at the lowest sequence number seen. While every segment starts
/// within `limit` of the lowest, the order they came in must not matter.
fn without_syn(stream: &[u8], segs: &[(usize, usize)], isn: u32, limit: u32) {
    let segs: Vec<_> = segs.iter().copied().filter(|&(_, len)| len > 0).collect();
    let Some(low) = segs.iter().map(|&(off, _)| off).min() else {
        return;
    };
    let mut s = TcpStream::new(limit);
    for &(off, len) in &segs {
        s.segment(isn.wrapping_add(off as u32), 0x18, &stream[off..off + len]);
    }
    let high = segs.iter().map(|&(off, _)| off).max().unwrap_or(low);
    if high - low < limit as usize {
        assert_eq!(s.contiguous(), expected(stream, &segs, low, limit));
    } else {
        // Placed relative to whichever start it settled on: still the stream's own bytes.
        let got = s.contiguous();
        if !got.is_empty() {
            assert!(
                stream.windows(got.len()).any(|w| w == got),
                "{} bytes that are nowhere in the stream",
                got.len()
            );
        }
    }
}

/// Pieces that disagree: piece `k` is filled with the byte `k`, so what the buffer holds says
/// which piece each byte came from; the first piece to cover a byte must be the one kept.
fn first_copy_wins(segs: &[(usize, usize)], limit: u32, salt: u8) {
    let mut b = StreamBuf::new(limit);
    let mut model: Vec<Option<u8>> = vec![None; 8192];
    for (k, &(off, len)) in segs.iter().enumerate() {
        let fill = (k as u8).wrapping_add(salt);
        b.insert(off as u64, &vec![fill; len]);
        for m in model[off..off + len].iter_mut() {
            m.get_or_insert(fill);
        }
    }
    let want: Vec<u8> = model
        .iter()
        .take(limit as usize)
        .map_while(|m| *m)
        .collect();
    assert_eq!(b.contiguous(), &want[..]);
    let beyond = segs
        .iter()
        .any(|&(off, len)| len > 0 && off + len > limit as usize);
    assert_eq!(b.overflowed(), beyond, "overflow flag");
}
