//! End-to-end tests of [`Decoder`] on hand-built frames: every link type, tag stacks, IP options
//! and extension headers, fragment reassembly, every tunnel, truncation at every offset.

use super::*;
use etherparse::PacketBuilder;
use std::net::{Ipv4Addr, Ipv6Addr};

const SEC: u64 = 1_000_000_000;
const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
const A4: [u8; 4] = [10, 0, 0, 1];
const B4: [u8; 4] = [10, 0, 0, 2];
const A6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const B6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(a: [u8; 16]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(a))
}

fn decode_one(link: LinkType, frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    // A fresh decoder per frame; the packet borrows the frame only (no reassembly here).
    let mut d = Decoder::default();
    let p = d.decode(0, link, frame)?;
    let start = p.payload.as_ptr() as usize - frame.as_ptr() as usize;
    Ok(Packet {
        payload: &frame[start..start + p.payload.len()],
        ..p
    })
}

/// Raw IPv4 + TCP with the SYN and ACK flags.
fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(A4, B4, 64)
        .tcp(40000, 443, 1000, 1024)
        .syn()
        .ack(5)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn ipv6_udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(A6, B6, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn ipv6_tcp(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(A6, B6, 64)
        .tcp(40000, 443, 7, 1024)
        .psh()
        .write(&mut v, payload)
        .unwrap();
    v
}

fn eth(ty: u16, inner: &[u8]) -> Vec<u8> {
    let mut f = MAC_B.to_vec();
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(inner);
    f
}

/// A hand-made IPv4 header (no checksum: the decoder does not verify it).
fn ipv4_header(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    frag: u16,
    payload_len: usize,
) -> Vec<u8> {
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&((20 + payload_len) as u16).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h
}

fn ipv4_packet(src: [u8; 4], dst: [u8; 4], proto: u8, inner: &[u8]) -> Vec<u8> {
    let mut p = ipv4_header(src, dst, proto, 1, 0, inner.len());
    p.extend_from_slice(inner);
    p
}

fn ipv6_packet(next: u8, inner: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(inner.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&A6);
    p.extend_from_slice(&B6);
    p.extend_from_slice(inner);
    p
}

/// A UDP datagram over IPv4 from 192.0.2.1 to 192.0.2.2 (the outer tunnel endpoints).
fn outer_udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    eth(
        0x0800,
        &ipv4_udp([192, 0, 2, 1], [192, 0, 2, 2], sport, dport, payload),
    )
}

fn assert_inner_tcp(p: &Packet<'_>, payload: &[u8]) {
    assert_eq!((p.src, p.dst), (v4(A4), v4(B4)));
    assert_eq!(
        (p.l4, p.src_port, p.dst_port, p.seq),
        (L4::Tcp, 40000, 443, 1000)
    );
    assert_eq!(p.flags, tcp_flags::SYN | tcp_flags::ACK);
    assert_eq!(p.payload, payload);
}

// ---- link types ----

#[test]
fn ethernet_ipv4_tcp_fields() {
    let f = eth(0x0800, &ipv4_tcp(b"hello"));
    let p = decode_one(LinkType::ETHERNET, &f).unwrap();
    assert_inner_tcp(&p, b"hello");
    assert_eq!(p.teid, None);
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut f = eth(0x0800, &ipv4_udp(A4, B4, 5000, 53, b"q"));
    f.extend_from_slice(&[0; 10]);
    let p = decode_one(LinkType::ETHERNET, &f).unwrap();
    assert_eq!(p.payload, b"q");
}

#[test]
fn ethernet_ipv6_udp() {
    let f = eth(0x86dd, &ipv6_udp(5353, 53, b"dns"));
    let p = decode_one(LinkType::ETHERNET, &f).unwrap();
    assert_eq!(
        (p.src, p.dst, p.l4, p.src_port, p.dst_port),
        (v6(A6), v6(B6), L4::Udp, 5353, 53)
    );
    assert_eq!((p.payload, p.seq, p.flags), (&b"dns"[..], 0, 0));
}

#[test]
fn linux_sll_and_sll2_frames() {
    let mut sll = vec![0, 0, 0, 1, 0, 6];
    sll.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00]);
    sll.extend_from_slice(&ipv4_tcp(b"x"));
    assert_inner_tcp(&decode_one(LinkType::LINUX_SLL, &sll).unwrap(), b"x");
    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6];
    sll2.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0, 0]);
    sll2.extend_from_slice(&ipv4_tcp(b"y"));
    assert_inner_tcp(&decode_one(LinkType::LINUX_SLL2, &sll2).unwrap(), b"y");
}

#[test]
fn raw_ipv4_and_ipv6_link_types() {
    let p4 = ipv4_tcp(b"r");
    for link in [
        LinkType::RAW,
        LinkType::RAW_BSD12,
        LinkType::RAW_BSD14,
        LinkType::IPV4,
    ] {
        assert_inner_tcp(&decode_one(link, &p4).unwrap(), b"r");
    }
    let p6 = ipv6_tcp(b"s");
    for link in [
        LinkType::RAW,
        LinkType::RAW_BSD12,
        LinkType::RAW_BSD14,
        LinkType::IPV6,
    ] {
        let p = decode_one(link, &p6).unwrap();
        assert_eq!(
            (p.src, p.payload, p.flags),
            (v6(A6), &b"s"[..], tcp_flags::PSH)
        );
    }
    assert_eq!(
        decode_one(LinkType::IPV4, &p6).unwrap_err(),
        DecodeError::Malformed("ipv4")
    );
}

#[test]
fn bsd_null_and_loop_in_both_byte_orders() {
    for link in [LinkType::NULL, LinkType::LOOP] {
        for fam in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let mut f = fam.to_vec();
            f.extend_from_slice(&ipv4_tcp(b"n"));
            assert_inner_tcp(&decode_one(link, &f).unwrap(), b"n");
        }
        for fam in [[30, 0, 0, 0], [0, 0, 0, 24], [28, 0, 0, 0]] {
            let mut f = fam.to_vec();
            f.extend_from_slice(&ipv6_tcp(b"m"));
            assert_eq!(decode_one(link, &f).unwrap().payload, b"m");
        }
    }
}

#[test]
fn ppp_framings() {
    for prefix in [&[0xff, 0x03, 0x00, 0x21][..], &[0x00, 0x21], &[0x21]] {
        let mut f = prefix.to_vec();
        f.extend_from_slice(&ipv4_tcp(b"p"));
        assert_inner_tcp(&decode_one(LinkType::PPP, &f).unwrap(), b"p");
        assert_inner_tcp(&decode_one(LinkType::PPP_HDLC, &f).unwrap(), b"p");
    }
    let mut f = vec![0xff, 0x03, 0x00, 0x57];
    f.extend_from_slice(&ipv6_tcp(b"q"));
    assert_eq!(decode_one(LinkType::PPP, &f).unwrap().payload, b"q");
}

#[test]
fn unknown_link_type_is_unsupported() {
    let err = decode_one(LinkType(105), &ipv4_tcp(b"")).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedLink(105));
    assert_eq!(err.reason(), "unsupported_link_type");
}

#[test]
fn vlan_and_qinq() {
    let ip = ipv4_tcp(b"v");
    let mut vlan = vec![0x00, 0x0a, 0x08, 0x00];
    vlan.extend_from_slice(&ip);
    assert_inner_tcp(
        &decode_one(LinkType::ETHERNET, &eth(0x8100, &vlan)).unwrap(),
        b"v",
    );
    let mut qinq = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00];
    qinq.extend_from_slice(&ip);
    assert_inner_tcp(
        &decode_one(LinkType::ETHERNET, &eth(0x88a8, &qinq)).unwrap(),
        b"v",
    );
    assert_inner_tcp(
        &decode_one(LinkType::ETHERNET, &eth(0x9100, &qinq)).unwrap(),
        b"v",
    );
}

#[test]
fn mpls_and_pppoe() {
    let mut mpls = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
    mpls.extend_from_slice(&ipv4_tcp(b"l"));
    assert_inner_tcp(
        &decode_one(LinkType::ETHERNET, &eth(0x8847, &mpls)).unwrap(),
        b"l",
    );
    let ip = ipv4_tcp(b"o");
    let mut pppoe = vec![0x11, 0x00, 0x00, 0x01];
    pppoe.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    pppoe.extend_from_slice(&[0x00, 0x21]);
    pppoe.extend_from_slice(&ip);
    assert_inner_tcp(
        &decode_one(LinkType::ETHERNET, &eth(0x8864, &pppoe)).unwrap(),
        b"o",
    );
}

#[test]
fn arp_is_not_ip() {
    let err = decode_one(LinkType::ETHERNET, &eth(0x0806, &[0; 28])).unwrap_err();
    assert_eq!((err, err.reason()), (DecodeError::NotIp, "not_ip"));
}

#[test]
fn icmp_is_not_tcp_udp() {
    let mut v = Vec::new();
    PacketBuilder::ipv4(A4, B4, 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut v, b"ping")
        .unwrap();
    let err = decode_one(LinkType::ETHERNET, &eth(0x0800, &v)).unwrap_err();
    assert_eq!((err, err.reason()), (DecodeError::NotTcpUdp, "not_tcp_udp"));
    let mut v = Vec::new();
    PacketBuilder::ipv6(A6, B6, 64)
        .icmpv6_echo_request(1, 1)
        .write(&mut v, b"ping")
        .unwrap();
    assert_eq!(
        decode_one(LinkType::ETHERNET, &eth(0x86dd, &v)).unwrap_err(),
        DecodeError::NotTcpUdp
    );
}

// ---- IP options and extension headers ----

#[test]
fn ipv4_with_options() {
    let tcp = &ipv4_tcp(b"opt")[20..];
    let mut p = vec![0x47, 0];
    p.extend_from_slice(&((28 + tcp.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    p.extend_from_slice(&A4);
    p.extend_from_slice(&B4);
    p.extend_from_slice(&[0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00]); // router alert, NOPs, end
    p.extend_from_slice(tcp);
    assert_inner_tcp(
        &decode_one(LinkType::ETHERNET, &eth(0x0800, &p)).unwrap(),
        b"opt",
    );
}

#[test]
fn ipv6_with_hop_by_hop_and_destination_options() {
    let udp = &ipv6_udp(1234, 53, b"ext")[40..];
    let mut ext = vec![60, 0, 5, 2, 0, 0, 1, 0]; // hop-by-hop: router alert, PadN
    ext.extend_from_slice(&[17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // dest options
    ext.extend_from_slice(udp);
    let f = eth(0x86dd, &ipv6_packet(0, &ext));
    let p = decode_one(LinkType::ETHERNET, &f).unwrap();
    assert_eq!(
        (p.l4, p.src_port, p.dst_port, p.payload),
        (L4::Udp, 1234, 53, &b"ext"[..])
    );
}

// ---- fragments ----

/// The fragments of an IPv4 UDP datagram cut into pieces of `piece` bytes (a multiple of 8).
fn ipv4_fragments(id: u16, payload: &[u8], piece: usize) -> Vec<Vec<u8>> {
    let whole = ipv4_udp(A4, B4, 53, 33000, payload);
    let data = &whole[20..];
    let chunks: Vec<&[u8]> = data.chunks(piece).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let more = if i + 1 < chunks.len() { 0x2000 } else { 0 };
            let field = more | ((i * piece / 8) as u16);
            let mut p = ipv4_header(A4, B4, 17, id, field, chunk.len());
            p.extend_from_slice(chunk);
            eth(0x0800, &p)
        })
        .collect()
}

fn dns_answer() -> Vec<u8> {
    (0..1400u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn fragmented_dns_reassembled_in_order() {
    let answer = dns_answer();
    let frags = ipv4_fragments(77, &answer, 512);
    assert_eq!(frags.len(), 3);
    let mut d = Decoder::default();
    for f in &frags[..2] {
        assert_eq!(
            d.decode(0, LinkType::ETHERNET, f).unwrap_err(),
            DecodeError::FragmentHeld
        );
    }
    let p = d.decode(SEC, LinkType::ETHERNET, &frags[2]).unwrap();
    assert_eq!((p.l4, p.src_port, p.dst_port), (L4::Udp, 53, 33000));
    assert_eq!(p.payload, &answer[..]);
    assert_eq!(d.pending_fragments(), 0);
}

#[test]
fn fragmented_dns_reassembled_out_of_order() {
    let answer = dns_answer();
    let frags = ipv4_fragments(78, &answer, 256);
    let mut d = Decoder::default();
    let order = [3, 5, 0, 4, 2];
    for &i in &order {
        assert_eq!(
            d.decode(0, LinkType::ETHERNET, &frags[i]).unwrap_err(),
            DecodeError::FragmentHeld
        );
    }
    let p = d.decode(0, LinkType::ETHERNET, &frags[1]).unwrap();
    assert_eq!(p.payload, &answer[..]);
}

#[test]
fn expired_fragment_set_never_completes() {
    let frags = ipv4_fragments(79, &dns_answer(), 512);
    let mut d = Decoder::default();
    let _ = d.decode(0, LinkType::ETHERNET, &frags[0]);
    let _ = d.decode(SEC, LinkType::ETHERNET, &frags[1]);
    let late = d.decode(40 * SEC, LinkType::ETHERNET, &frags[2]);
    assert_eq!(late.unwrap_err(), DecodeError::FragmentHeld);
}

#[test]
fn interleaved_datagrams_reassemble_independently() {
    let a = ipv4_fragments(1, &[1; 100], 48);
    let b = ipv4_fragments(2, &[2; 100], 48);
    let mut d = Decoder::default();
    for i in 0..a.len() - 1 {
        assert!(d.decode(0, LinkType::ETHERNET, &a[i]).is_err());
        assert!(d.decode(0, LinkType::ETHERNET, &b[i]).is_err());
    }
    assert_eq!(
        d.decode(0, LinkType::ETHERNET, &b[b.len() - 1])
            .unwrap()
            .payload,
        &[2; 100]
    );
    assert_eq!(
        d.decode(0, LinkType::ETHERNET, &a[a.len() - 1])
            .unwrap()
            .payload,
        &[1; 100]
    );
}

#[test]
fn fragment_cut_by_snap_length_is_dropped() {
    let frags = ipv4_fragments(80, &dns_answer(), 512);
    let mut d = Decoder::default();
    let cut = &frags[0][..frags[0].len() - 1];
    assert_eq!(
        d.decode(0, LinkType::ETHERNET, cut).unwrap_err(),
        DecodeError::FragmentDropped
    );
}

#[test]
fn fragmented_icmp_is_not_held() {
    let mut p = ipv4_header(A4, B4, 1, 5, 0x2000, 8);
    p.extend_from_slice(&[0; 8]);
    let mut d = Decoder::default();
    assert_eq!(
        d.decode(0, LinkType::ETHERNET, &eth(0x0800, &p))
            .unwrap_err(),
        DecodeError::NotTcpUdp
    );
    assert_eq!(d.pending_fragments(), 0);
}

#[test]
fn ipv6_fragments_reassembled() {
    let whole = ipv6_udp(53, 40000, &dns_answer());
    let data = &whole[40..];
    let (first, second) = data.split_at(800);
    let mut d = Decoder::default();
    let frag = |offset: usize, more: bool, chunk: &[u8]| {
        let field = (offset as u16) | u16::from(more);
        let mut ext = vec![17, 0];
        ext.extend_from_slice(&field.to_be_bytes());
        ext.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        ext.extend_from_slice(chunk);
        eth(0x86dd, &ipv6_packet(44, &ext))
    };
    let f2 = frag(800, false, second);
    let f1 = frag(0, true, first);
    assert_eq!(
        d.decode(0, LinkType::ETHERNET, &f2).unwrap_err(),
        DecodeError::FragmentHeld
    );
    let p = d.decode(0, LinkType::ETHERNET, &f1).unwrap();
    assert_eq!((p.src, p.src_port, p.dst_port), (v6(A6), 53, 40000));
    assert_eq!(p.payload, &dns_answer()[..]);
}

#[test]
fn fragmented_gtp_packet_is_reassembled_then_decapsulated() {
    let inner = ipv4_tcp(b"inside fragments");
    let mut gtp = vec![0x30, 0xff];
    gtp.extend_from_slice(&(inner.len() as u16).to_be_bytes());
    gtp.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    gtp.extend_from_slice(&inner);
    let whole = ipv4_udp([192, 0, 2, 1], [192, 0, 2, 2], 2152, 2152, &gtp);
    let data = &whole[20..];
    let (a, b) = data.split_at(40);
    let mut p1 = ipv4_header([192, 0, 2, 1], [192, 0, 2, 2], 17, 9, 0x2000, a.len());
    p1.extend_from_slice(a);
    let mut p2 = ipv4_header([192, 0, 2, 1], [192, 0, 2, 2], 17, 9, 5, b.len());
    p2.extend_from_slice(b);
    let mut d = Decoder::default();
    assert!(d.decode(0, LinkType::RAW, &p1).is_err());
    let p = d.decode(0, LinkType::RAW, &p2).unwrap();
    assert_inner_tcp(&p, b"inside fragments");
    assert_eq!(p.teid, Some(0x0102_0304));
}

// ---- tunnels ----

fn gtp_u(flags: u8, teid: u32, optional_and_ext: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut g = vec![flags, 0xff];
    g.extend_from_slice(&((optional_and_ext.len() + inner.len()) as u16).to_be_bytes());
    g.extend_from_slice(&teid.to_be_bytes());
    g.extend_from_slice(optional_and_ext);
    g.extend_from_slice(inner);
    g
}

#[test]
fn gtpu_keeps_the_teid() {
    let f = outer_udp(2152, 2152, &gtp_u(0x30, 0x1234_5678, &[], &ipv4_tcp(b"ue")));
    let p = decode_one(LinkType::ETHERNET, &f).unwrap();
    assert_inner_tcp(&p, b"ue");
    assert_eq!(p.teid, Some(0x1234_5678));
}

#[test]
fn gtpu_with_extension_headers_keeps_the_teid() {
    // Sequence number present, next extension: PDU session container (0x85), then 0x40.
    let mut opt = vec![0x00, 0x07, 0x00, 0x85];
    opt.extend_from_slice(&[1, 0x00, 0x09, 0x40]);
    opt.extend_from_slice(&[1, 0xaa, 0xbb, 0x00]);
    let f = outer_udp(2152, 2152, &gtp_u(0x36, 42, &opt, &ipv6_tcp(b"5g")));
    let p = decode_one(LinkType::ETHERNET, &f).unwrap();
    assert_eq!((p.src, p.payload, p.teid), (v6(A6), &b"5g"[..], Some(42)));
}

#[test]
fn gtpu_in_gtpu_keeps_the_outermost_teid() {
    let inner_gtp = ipv4_udp(
        [198, 51, 100, 1],
        [198, 51, 100, 2],
        2152,
        2152,
        &gtp_u(0x30, 2, &[], &ipv4_tcp(b"deep")),
    );
    let f = outer_udp(2152, 2152, &gtp_u(0x30, 1, &[], &inner_gtp));
    let p = decode_one(LinkType::ETHERNET, &f).unwrap();
    assert_inner_tcp(&p, b"deep");
    assert_eq!(p.teid, Some(1));
}

#[test]
fn gtpu_echo_request_is_not_tcp_udp() {
    let echo = [0x32, 0x01, 0x00, 0x04, 0, 0, 0, 0, 0x00, 0x01, 0, 0];
    assert_eq!(
        decode_one(LinkType::ETHERNET, &outer_udp(2152, 2152, &echo)).unwrap_err(),
        DecodeError::NotTcpUdp
    );
}

#[test]
fn udp_on_port_2152_that_is_not_gtp_stays_outer() {
    let f = outer_udp(2152, 53, b"\x12\x34\x01\x00 plain dns query");
    let p = decode_one(LinkType::ETHERNET, &f).unwrap();
    assert_eq!(
        (p.src, p.l4, p.src_port, p.dst_port),
        (v4([192, 0, 2, 1]), L4::Udp, 2152, 53)
    );
    assert_eq!(
        (p.payload, p.teid),
        (&b"\x12\x34\x01\x00 plain dns query"[..], None)
    );
}

#[test]
fn vxlan_inner_ethernet() {
    let mut v = vec![0x08, 0, 0, 0, 0, 0x12, 0x34, 0];
    v.extend_from_slice(&eth(0x0800, &ipv4_tcp(b"vx")));
    let frame = outer_udp(51000, 4789, &v);
    let p = decode_one(LinkType::ETHERNET, &frame).unwrap();
    assert_inner_tcp(&p, b"vx");
    assert_eq!(p.teid, None);
}

#[test]
fn vxlan_from_port_2152_is_tried_after_gtp() {
    let mut v = vec![0x08, 0, 0, 0, 0, 0x12, 0x34, 0];
    v.extend_from_slice(&eth(0x0800, &ipv4_tcp(b"both")));
    let frame = outer_udp(2152, 4789, &v);
    let p = decode_one(LinkType::ETHERNET, &frame).unwrap();
    assert_inner_tcp(&p, b"both");
    assert_eq!(p.teid, None);
}

#[test]
fn vxlan_carrying_arp_is_not_ip() {
    let mut v = vec![0x08, 0, 0, 0, 0, 0x12, 0x34, 0];
    v.extend_from_slice(&eth(0x0806, &[0; 28]));
    assert_eq!(
        decode_one(LinkType::ETHERNET, &outer_udp(51000, 4789, &v)).unwrap_err(),
        DecodeError::NotIp
    );
}

fn capwap_header(t: bool, wbid: u32) -> Vec<u8> {
    let word: u32 = (2 << 19) | (wbid << 9) | if t { 1 << 8 } else { 0 };
    let mut h = word.to_be_bytes().to_vec();
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

#[test]
fn capwap_with_ieee8023_frame() {
    let mut c = capwap_header(false, 1);
    c.extend_from_slice(&eth(0x0800, &ipv4_tcp(b"cw")));
    assert_inner_tcp(
        &decode_one(LinkType::ETHERNET, &outer_udp(12222, 5247, &c)).unwrap(),
        b"cw",
    );
}

#[test]
fn capwap_with_ieee80211_data_frame() {
    let mut c = capwap_header(true, 1);
    c.extend_from_slice(&[0x08, 0x01, 0, 0]); // data, To DS
    c.extend_from_slice(&[0; 20]); // three addresses, sequence control
    c.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
    c.extend_from_slice(&ipv4_tcp(b"wifi"));
    assert_inner_tcp(
        &decode_one(LinkType::ETHERNET, &outer_udp(5247, 12223, &c)).unwrap(),
        b"wifi",
    );
}

#[test]
fn ip_in_ip_all_four_combinations() {
    let t4 = ipv4_tcp(b"4");
    let t6 = ipv6_tcp(b"6");
    let frame = ipv4_packet([192, 0, 2, 1], [192, 0, 2, 2], 4, &t4);
    let p = decode_one(LinkType::RAW, &frame).unwrap();
    assert_inner_tcp(&p, b"4");
    let frame = ipv4_packet([192, 0, 2, 1], [192, 0, 2, 2], 41, &t6);
    let p = decode_one(LinkType::RAW, &frame).unwrap();
    assert_eq!((p.src, p.payload), (v6(A6), &b"6"[..]));
    let frame = ipv6_packet(4, &t4);
    let p = decode_one(LinkType::RAW, &frame).unwrap();
    assert_inner_tcp(&p, b"4");
    let frame = ipv6_packet(41, &t6);
    let p = decode_one(LinkType::RAW, &frame).unwrap();
    assert_eq!((p.src, p.payload), (v6(A6), &b"6"[..]));
}

#[test]
fn ip_in_ip_deeper_than_the_bound_is_refused() {
    let mut p = ipv4_tcp(b"onion");
    for _ in 0..MAX_TUNNEL_DEPTH {
        p = ipv4_packet(A4, B4, 4, &p);
    }
    assert_inner_tcp(&decode_one(LinkType::RAW, &p).unwrap(), b"onion");
    let p = ipv4_packet(A4, B4, 4, &p);
    assert_eq!(
        decode_one(LinkType::RAW, &p).unwrap_err(),
        DecodeError::NotTcpUdp
    );
}

#[test]
fn teredo_inner_ipv6() {
    let inner = ipv6_tcp(b"teredo");
    let frame = outer_udp(3544, 50000, &inner);
    let p = decode_one(LinkType::ETHERNET, &frame).unwrap();
    assert_eq!(
        (p.src, p.dst_port, p.payload),
        (v6(A6), 443, &b"teredo"[..])
    );
    // Authentication indicator (no id, no value) then origin indication.
    let mut t = vec![0x00, 0x01, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0];
    t.extend_from_slice(&[0x00, 0x00, 0xff, 0xff, 0x3f, 0xff, 0xfd, 0xfe]);
    t.extend_from_slice(&inner);
    let frame = outer_udp(50000, 3544, &t);
    let p = decode_one(LinkType::ETHERNET, &frame).unwrap();
    assert_eq!((p.src, p.payload), (v6(A6), &b"teredo"[..]));
}

#[test]
fn udp_on_teredo_port_that_is_not_teredo_stays_outer() {
    let frame = outer_udp(3544, 50000, b"not ipv6 at all");
    let p = decode_one(LinkType::ETHERNET, &frame).unwrap();
    assert_eq!((p.src_port, p.payload), (3544, &b"not ipv6 at all"[..]));
}

// ---- truncation ----

#[test]
fn snapped_payload_is_returned_when_headers_are_complete() {
    let f = eth(0x0800, &ipv4_tcp(&[7; 100]));
    let cut = &f[..14 + 20 + 20 + 10];
    let p = decode_one(LinkType::ETHERNET, cut).unwrap();
    assert_eq!((p.dst_port, p.payload), (443, &[7u8; 10][..]));
    let cut = &f[..14 + 20 + 15];
    assert_eq!(
        decode_one(LinkType::ETHERNET, cut).unwrap_err(),
        DecodeError::Truncated("tcp")
    );
    let cut = &f[..14 + 10];
    assert_eq!(
        decode_one(LinkType::ETHERNET, cut).unwrap_err(),
        DecodeError::Truncated("ipv4")
    );
}

/// Frames of every kind, for the truncation and garbage sweeps.
fn sample_frames() -> Vec<(LinkType, Vec<u8>)> {
    let mut v6ext = vec![60, 0, 1, 4, 0, 0, 0, 0];
    v6ext.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    v6ext.extend_from_slice(&ipv6_tcp(b"e")[40..]);
    let mut capwap = capwap_header(true, 1);
    capwap.extend_from_slice(&[0x88, 0x03]);
    capwap.extend_from_slice(&[0; 28]);
    capwap.extend_from_slice(&[0; 2]);
    capwap.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x86, 0xdd]);
    capwap.extend_from_slice(&ipv6_tcp(b"w"));
    let mut gtp_opt = vec![0, 1, 0, 0x85, 1, 0, 0, 0];
    gtp_opt[7] = 0;
    vec![
        (LinkType::ETHERNET, eth(0x0800, &ipv4_tcp(b"abc"))),
        (LinkType::ETHERNET, eth(0x86dd, &ipv6_packet(0, &v6ext))),
        (
            LinkType::ETHERNET,
            outer_udp(2152, 2152, &gtp_u(0x34, 9, &gtp_opt, &ipv4_tcp(b"g"))),
        ),
        (
            LinkType::ETHERNET,
            outer_udp(
                1,
                4789,
                &[
                    &[0x08, 0, 0, 0, 0, 0, 1, 0][..],
                    &eth(0x8100, &[0, 1, 0x86, 0xdd])[..],
                    &ipv6_tcp(b"x"),
                ]
                .concat(),
            ),
        ),
        (LinkType::ETHERNET, outer_udp(5247, 1, &capwap)),
        (LinkType::ETHERNET, outer_udp(3544, 1, &ipv6_tcp(b"t"))),
        (
            LinkType::RAW,
            ipv6_packet(4, &ipv4_packet(A4, B4, 41, &ipv6_tcp(b"i"))),
        ),
        (
            LinkType::LINUX_SLL2,
            [&[0x08, 0x00][..], &[0; 18], &ipv4_udp(A4, B4, 1, 2, b"u")].concat(),
        ),
        (
            LinkType::PPP,
            [&[0xff, 0x03, 0x00, 0x21][..], &ipv4_tcp(b"p")].concat(),
        ),
    ]
}

#[test]
fn sample_frames_all_decode() {
    for (i, (link, f)) in sample_frames().iter().enumerate() {
        let p = decode_one(*link, f);
        assert!(p.is_ok(), "frame {i}: {p:?}");
    }
}

#[test]
fn truncation_at_every_offset_never_panics() {
    for (link, f) in sample_frames() {
        let full = decode_one(link, &f).unwrap();
        for len in 0..f.len() {
            let mut d = Decoder::default();
            match d.decode(0, link, &f[..len]) {
                Ok(p) => {
                    // Headers were complete: the same flow, a shorter payload.
                    assert_eq!(
                        (p.src_port, p.dst_port, p.l4),
                        (full.src_port, full.dst_port, full.l4)
                    );
                    assert!(p.payload.len() <= full.payload.len());
                }
                Err(e) => assert!(!e.reason().is_empty()),
            }
        }
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let mut d = Decoder::default();
    for (link, f) in sample_frames() {
        for i in 0..f.len() {
            for v in [0x00, 0xff, 0x45, 0x60, 0x2c, 0x08] {
                let mut g = f.clone();
                g[i] = v;
                let _ = d.decode(i as u64, link, &g);
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn random_bytes_never_panic(link in 0u32..300, data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        let mut d = Decoder::default();
        let _ = d.decode(0, LinkType(link), &data);
    }
}
