//! Tunnel decoding with the outer headers given: an Ethernet/IPv4 or IPv6/UDP frame to a tunnel
//! port (GTP-U, VXLAN, CAPWAP data, Teredo), or an IP-in-IP packet, around fuzzed bytes, so every
//! run reaches the tunnel parsers. Checks: the packet is no longer than the tunnel's payload; a
//! GTP-U frame whose tunnel was opened yields the TEID of its outer header, and one whose tunnel
//! was not (the UDP packet itself is then the flow) yields none.
#![no_main]

use dataplane::capture::LinkType;
use dataplane::decode::{tunnel_port, Decoder};
use libfuzzer_sys::fuzz_target;

const PORTS: [u16; 4] = [
    tunnel_port::GTP_U,
    tunnel_port::VXLAN,
    tunnel_port::CAPWAP_DATA,
    tunnel_port::TEREDO,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, inner)) = data.split_first() else {
        return;
    };
    let v6 = pick & 0x80 != 0;
    // 0-3: UDP to a tunnel port; 4: IP-in-IPv4/6 (protocol 4); 5: IPv6-in-IP (41).
    let kind = (pick & 0x7f) % 6;
    let (proto, l4) = match kind {
        4 => (4u8, Vec::new()),
        5 => (41u8, Vec::new()),
        _ => {
            let port = PORTS[usize::from(kind)];
            let mut udp = Vec::with_capacity(8);
            udp.extend_from_slice(&40000u16.to_be_bytes());
            udp.extend_from_slice(&port.to_be_bytes());
            udp.extend_from_slice(&((8 + inner.len()) as u16).to_be_bytes());
            udp.extend_from_slice(&[0, 0]); // no checksum
            (17u8, udp)
        }
    };
    let ip_payload_len = l4.len() + inner.len();
    if ip_payload_len > 65_000 {
        return;
    }
    let mut frame = Vec::with_capacity(54 + ip_payload_len);
    frame.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
    if v6 {
        frame.extend_from_slice(&0x86ddu16.to_be_bytes());
        frame.extend_from_slice(&[0x60, 0, 0, 0]);
        frame.extend_from_slice(&(ip_payload_len as u16).to_be_bytes());
        frame.push(proto);
        frame.push(64);
        frame.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        frame.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    } else {
        frame.extend_from_slice(&0x0800u16.to_be_bytes());
        let total = (20 + ip_payload_len) as u16;
        let mut h = [
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        let sum = fuzzcheck::ipv4_checksum(&h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&h);
    }
    frame.extend_from_slice(&l4);
    frame.extend_from_slice(inner);

    let mut decoder = Decoder::default();
    if let Ok(p) = decoder.decode(1_000, LinkType::ETHERNET, &frame) {
        assert!(
            p.payload.len() <= inner.len(),
            "payload longer than the tunnel's"
        );
        let start = frame.len() - inner.len();
        let not_opened = p.payload.as_ptr() == frame[start..].as_ptr()
            && p.payload.len() == inner.len()
            && kind < 4;
        if kind == 0 {
            let teid = match not_opened {
                true => None,
                false => inner
                    .get(4..8)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            };
            assert_eq!(p.teid, teid, "TEID (tunnel opened: {})", !not_opened);
        }
    }
});
