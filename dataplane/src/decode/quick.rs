//! The decoder's fast path: the most common frame (Ethernet II carrying IPv4 or IPv6 with TCP
//! or UDP: no VLAN, no fragment, no extension header, no tunnel port) read at fixed offsets,
//! without the general walk of [`super::Decoder`].
//!
//! It only ever answers for frames that the general walk would decode identically, field for
//! field (tests feed both the same frames: built ones cut at every byte and with every byte
//! flipped, and every Ethernet frame of the corpus); for anything else it answers `None` and the
//! general walk decodes the frame.

use super::{tunnel_port, Packet, L4};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Ethernet II header length and the offset of its EtherType.
const ETH_LEN: usize = 14;
const ETH_TYPE: usize = 12;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];
/// IPv4 header fields (RFC 791 section 3.1).
const V4_FLAGS_FRAG: usize = 6;
const V4_PROTO: usize = 9;
const V4_SRC: usize = 12;
const V4_DST: usize = 16;
/// IPv6 header fields (RFC 8200 section 3).
const V6_LEN: usize = 40;
const V6_NEXT: usize = 6;
const V6_SRC: usize = 8;
const V6_DST: usize = 24;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
/// TCP header fields (RFC 9293 section 3.1) and its minimum length; the UDP header length.
const TCP_SEQ: usize = 4;
const TCP_OFFSET: usize = 12;
const TCP_FLAGS: usize = 13;
const TCP_MIN: usize = 20;
const UDP_LEN: usize = 8;

/// The packet of a plain Ethernet/IP/TCP|UDP frame, or `None` when the frame needs the general
/// walk (anything else, or anything unusual about this one).
#[inline]
pub fn ethernet(frame: &[u8]) -> Option<Packet<'_>> {
    let ethertype = frame.get(ETH_TYPE..ETH_LEN)?;
    let ip = frame.get(ETH_LEN..)?;
    let (src, dst, proto, l4) = if ethertype == ETHERTYPE_IPV4 {
        let version_ihl = *ip.first()?;
        if version_ihl >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(version_ihl & 0x0f) * 4;
        // More-fragments flag or a fragment offset: reassembly is the general walk's job.
        let frag = u16::from_be_bytes([*ip.get(V4_FLAGS_FRAG)?, *ip.get(V4_FLAGS_FRAG + 1)?]);
        // The IP length bounds the transport bytes (Ethernet pads short frames); a length of 0
        // (segmentation offload) or one past the capture goes the general way.
        let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
        if ihl < 20 || frag & 0x3fff != 0 || total < ihl || total > ip.len() {
            return None;
        }
        let src: [u8; 4] = ip.get(V4_SRC..V4_SRC + 4)?.try_into().ok()?;
        let dst: [u8; 4] = ip.get(V4_DST..V4_DST + 4)?.try_into().ok()?;
        let src = IpAddr::V4(Ipv4Addr::from(src));
        let dst = IpAddr::V4(Ipv4Addr::from(dst));
        (src, dst, *ip.get(V4_PROTO)?, ip.get(ihl..total)?)
    } else if ethertype == ETHERTYPE_IPV6 {
        if ip.first()? >> 4 != 6 {
            return None;
        }
        let payload = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
        let end = V6_LEN + payload;
        if payload == 0 || end > ip.len() {
            return None;
        }
        let src: [u8; 16] = ip.get(V6_SRC..V6_SRC + 16)?.try_into().ok()?;
        let dst: [u8; 16] = ip.get(V6_DST..V6_DST + 16)?.try_into().ok()?;
        let src = IpAddr::V6(Ipv6Addr::from(src));
        let dst = IpAddr::V6(Ipv6Addr::from(dst));
        (src, dst, *ip.get(V6_NEXT)?, ip.get(V6_LEN..end)?)
    } else {
        return None;
    };
    let src_port = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dst_port = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    match proto {
        PROTO_TCP => {
            let header = usize::from(l4.get(TCP_OFFSET)? >> 4) * 4;
            if header < TCP_MIN || header > l4.len() {
                return None;
            }
            let seq: [u8; 4] = l4.get(TCP_SEQ..TCP_SEQ + 4)?.try_into().ok()?;
            Some(Packet {
                src,
                dst,
                l4: L4::Tcp,
                src_port,
                dst_port,
                seq: u32::from_be_bytes(seq),
                flags: *l4.get(TCP_FLAGS)?,
                payload: l4.get(header..)?,
                teid: None,
            })
        }
        PROTO_UDP => {
            let length = usize::from(u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]));
            if length < UDP_LEN || length > l4.len() || is_tunnel_port(src_port) {
                return None;
            }
            if is_tunnel_port(dst_port) {
                return None;
            }
            Some(Packet {
                src,
                dst,
                l4: L4::Udp,
                src_port,
                dst_port,
                seq: 0,
                flags: 0,
                payload: l4.get(UDP_LEN..length)?,
                teid: None,
            })
        }
        _ => None,
    }
}

fn is_tunnel_port(p: u16) -> bool {
    matches!(
        p,
        tunnel_port::GTP_U | tunnel_port::VXLAN | tunnel_port::CAPWAP_DATA | tunnel_port::TEREDO
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use crate::decode::Decoder;
    use etherparse::PacketBuilder;

    /// What the general walk alone (no fast path) makes of `frame`, as text.
    fn general(frame: &[u8]) -> Option<String> {
        let (net, bytes) = crate::decode::link::strip(LinkType::ETHERNET, frame).ok()?;
        let mut d = Decoder::default();
        let packet = d.walk(0, false).ip(net, bytes, 0).ok()?;
        Some(format!("{packet:?}"))
    }

    fn agrees_with_full_decoder(frame: &[u8]) -> bool {
        match ethernet(frame) {
            None => true,
            Some(q) => general(frame) == Some(format!("{q:?}")),
        }
    }

    fn frames() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let eth = || PacketBuilder::ethernet2([1; 6], [2; 6]);
        let mut push = |b: etherparse::PacketBuilderStep<etherparse::TcpHeader>| {
            let mut v = Vec::new();
            b.write(&mut v, b"hello").unwrap();
            out.push(v);
        };
        push(
            eth()
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(40000, 443, 1, 1000),
        );
        push(eth().ipv6([1; 16], [2; 16], 64).tcp(40000, 443, 1, 1000));
        for (sp, dp) in [
            (53000, 53),
            (2152, 2152),
            (40000, 4789),
            (3544, 40000),
            (5247, 1),
        ] {
            let mut v = Vec::new();
            eth()
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(sp, dp)
                .write(&mut v, b"x")
                .unwrap();
            out.push(v);
        }
        out
    }

    #[test]
    fn fast_path_reads_plain_tcp_and_udp() {
        let f = frames();
        let t = ethernet(&f[0]).expect("plain IPv4 TCP");
        assert_eq!(
            (t.src_port, t.dst_port, t.l4, t.payload),
            (40000, 443, L4::Tcp, &b"hello"[..])
        );
        assert!(ethernet(&f[1]).is_some(), "plain IPv6 TCP");
        assert_eq!(ethernet(&f[2]).expect("plain UDP").payload, b"x");
        for g in &f[..3] {
            assert!(agrees_with_full_decoder(g));
        }
    }

    #[test]
    fn fast_path_leaves_tunnel_ports_to_the_general_walk() {
        for f in &frames()[3..] {
            assert!(ethernet(f).is_none());
        }
    }

    #[test]
    fn fast_path_agrees_with_general_walk_on_every_cut_and_flipped_byte() {
        for f in frames() {
            for len in 0..=f.len() {
                assert!(agrees_with_full_decoder(&f[..len]), "cut at {len}");
            }
            for i in 0..f.len() {
                for v in [0x00, 0x01, 0x45, 0x46, 0x60, 0x86, 0xdd, 0xff] {
                    let mut g = f.clone();
                    g[i] = v;
                    assert!(agrees_with_full_decoder(&g), "byte {i} = {v:#x}");
                }
            }
        }
    }

    #[test]
    fn fast_path_agrees_with_general_walk_on_the_corpus() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/pcaps");
        let Ok(entries) = std::fs::read_dir(dir) else {
            eprintln!("corpus not found at {dir}; skipped");
            return;
        };
        let mut checked = 0;
        for e in entries {
            let path = e.unwrap().path();
            let Ok(cap) = crate::capture::Capture::open(&path) else {
                continue;
            };
            for raw in cap.packets().flatten() {
                if raw.link == LinkType::ETHERNET && ethernet(raw.data).is_some() {
                    assert!(agrees_with_full_decoder(raw.data), "{path:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked} Ethernet frames checked");
    }
}
