//! One frame of any link type through the decoder: link layers, VLAN/MPLS/PPPoE, IPv4/IPv6
//! with options and extension headers, tunnels, TCP/UDP. The first byte picks the link type.
//! Checks: the packet returned is no longer than the frame and, unless it came out of the
//! reassembly buffer, lies within it; decoding is deterministic (a second decoder gives the same
//! answer).
#![no_main]

use dataplane::capture::LinkType;
use dataplane::decode::Decoder;
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 12] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::PPP,
    LinkType::RAW_BSD12,
    LinkType::RAW_BSD14,
    LinkType::PPP_HDLC,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let link = LINKS
        .get(usize::from(pick))
        .copied()
        .unwrap_or(LinkType(u32::from(pick)));
    let mut first = Decoder::default();
    let a = first.decode(1_000, link, frame).map(|p| format!("{p:?}"));
    let mut second = Decoder::default();
    let b = second.decode(1_000, link, frame);
    if let Ok(p) = &b {
        assert!(
            p.payload.len() <= frame.len(),
            "payload longer than the frame"
        );
        if !from_reassembly(frame, p.payload) {
            fuzzcheck::check_within("payload", frame, p.payload);
        }
    }
    assert_eq!(a, b.map(|p| format!("{p:?}")), "two decoders disagree");
});

/// Whether `payload` lies outside the frame altogether (then it came out of the decoder's
/// reassembly buffer: an IPv6 atomic fragment, or a fragment completed by this frame alone).
fn from_reassembly(frame: &[u8], payload: &[u8]) -> bool {
    let (f, p) = (frame.as_ptr() as usize, payload.as_ptr() as usize);
    p + payload.len() <= f || p >= f + frame.len()
}
