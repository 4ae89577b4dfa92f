//! Packet builders: IPv4/IPv6 with TCP or UDP (etherparse's `PacketBuilder` does the header
//! work and the checksums), GTP-U encapsulation (3GPP TS 29.281: GTPv1-U G-PDU over UDP 2152),
//! and link layers (Ethernet II with an optional 802.1Q tag, Linux SLL, raw IP).
//!
//! A [`Path`] says how the packets of one flow travel (link layer, optional GTP-U tunnel);
//! [`Path::frame`] turns an IP packet into the frame a capture holds.

use std::net::{IpAddr, SocketAddr};

use etherparse::{
    ArpHardwareId, EtherType, Ethernet2Header, LinuxSllHeader, LinuxSllPacketType,
    LinuxSllProtocolType, PacketBuilder, SingleVlanHeader, TcpOptionElement, VlanId, VlanPcp,
};
use thiserror::Error;

use crate::pcap_writer::LinkType;

/// Errors of the packet builders.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PacketError {
    /// Source and destination are not of the same IP family.
    #[error("source {0} and destination {1} are not of the same IP family")]
    MixedFamilies(IpAddr, IpAddr),
    /// etherparse refused to build the packet (payload too large, bad option).
    #[error("cannot build packet: {0}")]
    Build(String),
    /// An 802.1Q VLAN id above 4095.
    #[error("VLAN id {0} is above 4095")]
    BadVlan(u16),
}

/// Which side sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client (the side that sent the flow's first packet).
    ClientToServer,
    /// From the server.
    ServerToClient,
}

/// One frame of a capture, as the generator made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Who sent it.
    pub dir: Direction,
    /// The link layer the bytes start with.
    pub link_type: LinkType,
    /// The frame, link header included.
    pub bytes: Vec<u8>,
}

/// GTP-U (3GPP TS 29.281) header layout of a G-PDU without optional fields.
mod gtpu_field {
    /// Version 1, protocol type GTP, no E/S/PN flags.
    pub const FLAGS_V1_PT: u8 = 0x30;
    /// Message type G-PDU (a user packet).
    pub const MSG_G_PDU: u8 = 0xff;
    /// Mandatory header length (flags, type, length, TEID).
    pub const HEADER_LEN: usize = 8;
}

/// The GTP-U UDP port (both ends).
pub const GTPU_PORT: u16 = 2152;

/// A GTP-U tunnel between the radio side (eNodeB/gNB) and the core (S-GW/P-GW/UPF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gtpu {
    /// The tunnel endpoint id carried in both directions (one id keeps fixtures unambiguous).
    pub teid: u32,
    /// Outer address of the radio side (source of uplink packets).
    pub access: IpAddr,
    /// Outer address of the core side (source of downlink packets).
    pub core: IpAddr,
}

/// The link layer frames of a flow are captured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Ethernet II, with an 802.1Q tag when `vlan` is set.
    Ethernet {
        /// MAC address of the client side.
        client_mac: [u8; 6],
        /// MAC address of the server side (the router).
        server_mac: [u8; 6],
        /// 802.1Q VLAN id (0..=4095).
        vlan: Option<u16>,
    },
    /// Linux cooked capture v1: outgoing for client packets, host for server packets.
    LinuxSll {
        /// Link-layer address of the capturing host (the client side).
        client_mac: [u8; 6],
        /// Link-layer address of the server side.
        server_mac: [u8; 6],
    },
    /// No link header; the frame is the IP packet.
    RawIp,
}

impl Link {
    /// Plain Ethernet with fixed example MAC addresses.
    pub const fn ethernet() -> Link {
        Link::Ethernet {
            client_mac: [0x02, 0x00, 0x00, 0x00, 0x00, 0x01],
            server_mac: [0x02, 0x00, 0x00, 0x00, 0x00, 0xfe],
            vlan: None,
        }
    }

    /// Ethernet with an 802.1Q tag.
    pub const fn ethernet_vlan(vlan: u16) -> Link {
        Link::Ethernet {
            client_mac: [0x02, 0x00, 0x00, 0x00, 0x00, 0x01],
            server_mac: [0x02, 0x00, 0x00, 0x00, 0x00, 0xfe],
            vlan: Some(vlan),
        }
    }

    /// Linux SLL with fixed example addresses.
    pub const fn linux_sll() -> Link {
        Link::LinuxSll {
            client_mac: [0x02, 0x00, 0x00, 0x00, 0x00, 0x01],
            server_mac: [0x02, 0x00, 0x00, 0x00, 0x00, 0xfe],
        }
    }

    /// The capture link type of these frames.
    pub fn link_type(&self) -> LinkType {
        match self {
            Link::Ethernet { .. } => LinkType::ETHERNET,
            Link::LinuxSll { .. } => LinkType::LINUX_SLL,
            Link::RawIp => LinkType::RAW,
        }
    }

    /// Puts the link header in front of `payload`, whose EtherType is `ether_type`.
    pub fn frame_with_ether_type(
        &self,
        dir: Direction,
        ether_type: u16,
        payload: &[u8],
    ) -> Result<Vec<u8>, PacketError> {
        match *self {
            Link::Ethernet {
                client_mac,
                server_mac,
                vlan,
            } => {
                let (source, destination) = match dir {
                    Direction::ClientToServer => (client_mac, server_mac),
                    Direction::ServerToClient => (server_mac, client_mac),
                };
                let mut out = Vec::with_capacity(18 + payload.len());
                match vlan {
                    None => {
                        let eth = Ethernet2Header {
                            source,
                            destination,
                            ether_type: EtherType(ether_type),
                        };
                        out.extend_from_slice(&eth.to_bytes());
                    }
                    Some(id) => {
                        let eth = Ethernet2Header {
                            source,
                            destination,
                            ether_type: EtherType::VLAN_TAGGED_FRAME,
                        };
                        let tag = SingleVlanHeader {
                            pcp: VlanPcp::ZERO,
                            drop_eligible_indicator: false,
                            vlan_id: VlanId::try_new(id).map_err(|_| PacketError::BadVlan(id))?,
                            ether_type: EtherType(ether_type),
                        };
                        out.extend_from_slice(&eth.to_bytes());
                        out.extend_from_slice(&tag.to_bytes());
                    }
                }
                out.extend_from_slice(payload);
                Ok(out)
            }
            Link::LinuxSll {
                client_mac,
                server_mac,
            } => {
                let (packet_type, mac) = match dir {
                    Direction::ClientToServer => (LinuxSllPacketType::OUTGOING, client_mac),
                    Direction::ServerToClient => (LinuxSllPacketType::HOST, server_mac),
                };
                let mut sender_address = [0u8; 8];
                sender_address[..6].copy_from_slice(&mac);
                let sll = LinuxSllHeader {
                    packet_type,
                    arp_hrd_type: ArpHardwareId::ETHERNET,
                    sender_address_valid_length: 6,
                    sender_address,
                    protocol_type: LinuxSllProtocolType::EtherType(EtherType(ether_type)),
                };
                let mut out = Vec::with_capacity(LinuxSllHeader::LEN + payload.len());
                out.extend_from_slice(&sll.to_bytes());
                out.extend_from_slice(payload);
                Ok(out)
            }
            Link::RawIp => Ok(payload.to_vec()),
        }
    }

    /// Puts the link header in front of an IP packet (the EtherType follows the IP version).
    pub fn frame_ip(&self, dir: Direction, ip_packet: &[u8]) -> Result<Vec<u8>, PacketError> {
        let ether_type = match ip_packet.first().map(|b| b >> 4) {
            Some(6) => EtherType::IPV6.0,
            _ => EtherType::IPV4.0,
        };
        self.frame_with_ether_type(dir, ether_type, ip_packet)
    }
}

/// How the packets of a flow travel: link layer and optional GTP-U tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    /// Link layer of the capture.
    pub link: Link,
    /// GTP-U tunnel the subscriber's packets are carried in, if any.
    pub gtpu: Option<Gtpu>,
}

impl Path {
    /// A path on `link` without a tunnel.
    pub const fn on(link: Link) -> Path {
        Path { link, gtpu: None }
    }

    /// A path on `link` inside a GTP-U tunnel.
    pub const fn tunneled(link: Link, gtpu: Gtpu) -> Path {
        Path {
            link,
            gtpu: Some(gtpu),
        }
    }

    /// The frame that carries `ip_packet` (the subscriber's packet) in direction `dir`.
    pub fn frame(&self, dir: Direction, ip_packet: &[u8]) -> Result<Vec<u8>, PacketError> {
        match self.gtpu {
            None => self.link.frame_ip(dir, ip_packet),
            Some(t) => {
                let (src, dst) = match dir {
                    Direction::ClientToServer => (t.access, t.core),
                    Direction::ServerToClient => (t.core, t.access),
                };
                let gtp = gtpu_g_pdu(t.teid, ip_packet)?;
                let outer = udp_packet(
                    SocketAddr::new(src, GTPU_PORT),
                    SocketAddr::new(dst, GTPU_PORT),
                    64,
                    &gtp,
                )?;
                self.link.frame_ip(dir, &outer)
            }
        }
    }
}

/// A GTPv1-U G-PDU (8-byte header, TEID, then the user packet).
pub fn gtpu_g_pdu(teid: u32, user_packet: &[u8]) -> Result<Vec<u8>, PacketError> {
    let len = u16::try_from(user_packet.len())
        .map_err(|_| PacketError::Build(format!("GTP-U payload of {} bytes", user_packet.len())))?;
    let mut out = Vec::with_capacity(gtpu_field::HEADER_LEN + user_packet.len());
    out.push(gtpu_field::FLAGS_V1_PT);
    out.push(gtpu_field::MSG_G_PDU);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&teid.to_be_bytes());
    out.extend_from_slice(user_packet);
    Ok(out)
}

/// The TCP header fields of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    /// SYN.
    pub syn: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// PSH.
    pub psh: bool,
    /// Acknowledgment number, when ACK is set.
    pub ack: Option<u32>,
}

/// One TCP segment to build.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Flags and acknowledgment.
    pub flags: TcpFlags,
    /// Receive window.
    pub window: u16,
    /// MSS option (SYN segments).
    pub mss: Option<u16>,
    /// Payload.
    pub payload: &'a [u8],
}

fn build_err(e: impl std::fmt::Display) -> PacketError {
    PacketError::Build(e.to_string())
}

fn ip_step(
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
) -> Result<etherparse::PacketBuilderStep<etherparse::IpHeaders>, PacketError> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Ok(PacketBuilder::ipv4(s.octets(), d.octets(), ttl)),
        (IpAddr::V6(s), IpAddr::V6(d)) => Ok(PacketBuilder::ipv6(s.octets(), d.octets(), ttl)),
        _ => Err(PacketError::MixedFamilies(src, dst)),
    }
}

/// An IPv4 or IPv6 packet carrying one TCP segment, checksums filled in.
pub fn tcp_packet(
    src: SocketAddr,
    dst: SocketAddr,
    ttl: u8,
    seg: &TcpSegment<'_>,
) -> Result<Vec<u8>, PacketError> {
    let mut b = ip_step(src.ip(), dst.ip(), ttl)?.tcp(src.port(), dst.port(), seg.seq, seg.window);
    if seg.flags.syn {
        b = b.syn();
    }
    if seg.flags.fin {
        b = b.fin();
    }
    if seg.flags.rst {
        b = b.rst();
    }
    if seg.flags.psh {
        b = b.psh();
    }
    if let Some(ack) = seg.flags.ack {
        b = b.ack(ack);
    }
    if let Some(mss) = seg.mss {
        b = b
            .options(&[
                TcpOptionElement::MaximumSegmentSize(mss),
                TcpOptionElement::Noop,
                TcpOptionElement::WindowScale(7),
                TcpOptionElement::SelectiveAcknowledgementPermitted,
            ])
            .map_err(build_err)?;
    }
    let mut out = Vec::with_capacity(b.size(seg.payload.len()));
    b.write(&mut out, seg.payload).map_err(build_err)?;
    Ok(out)
}

/// An IPv4 or IPv6 packet carrying one UDP datagram, checksums filled in.
pub fn udp_packet(
    src: SocketAddr,
    dst: SocketAddr,
    ttl: u8,
    payload: &[u8],
) -> Result<Vec<u8>, PacketError> {
    let b = ip_step(src.ip(), dst.ip(), ttl)?.udp(src.port(), dst.port());
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).map_err(build_err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tcp_packet_has_the_asked_fields() {
        let seg = TcpSegment {
            seq: 1000,
            flags: TcpFlags {
                psh: true,
                ack: Some(77),
                ..TcpFlags::default()
            },
            window: 512,
            mss: None,
            payload: b"hello",
        };
        let p = tcp_packet(sa("10.0.0.1:1234"), sa("10.0.0.2:80"), 64, &seg).unwrap();
        let s = SlicedPacket::from_ip(&p).unwrap();
        match s.transport {
            Some(TransportSlice::Tcp(t)) => {
                assert_eq!(t.sequence_number(), 1000);
                assert_eq!(t.acknowledgment_number(), 77);
                assert!(t.ack() && t.psh() && !t.syn());
                assert_eq!(t.payload(), b"hello");
            }
            other => panic!("not tcp: {other:?}"),
        }
    }

    #[test]
    fn mixed_families_are_refused() {
        let r = udp_packet(sa("10.0.0.1:1"), sa("[2001:db8::1]:2"), 64, &[]);
        assert!(matches!(r, Err(PacketError::MixedFamilies(..))));
    }

    #[test]
    fn gtpu_path_wraps_the_inner_packet_with_its_teid() {
        let inner = udp_packet(sa("10.45.0.2:5000"), sa("8.8.8.8:53"), 64, b"q").unwrap();
        let path = Path::tunneled(
            Link::ethernet(),
            Gtpu {
                teid: 0x1234_5678,
                access: "192.0.2.1".parse().unwrap(),
                core: "192.0.2.2".parse().unwrap(),
            },
        );
        let f = path.frame(Direction::ServerToClient, &inner).unwrap();
        let s = SlicedPacket::from_ethernet(&f).unwrap();
        match (&s.net, &s.transport) {
            (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Udp(u))) => {
                assert_eq!(ip.header().source_addr().to_string(), "192.0.2.2");
                assert_eq!(u.destination_port(), GTPU_PORT);
                let g = u.payload();
                assert_eq!(g[0], 0x30);
                assert_eq!(g[1], 0xff);
                assert_eq!(u16::from_be_bytes([g[2], g[3]]) as usize, inner.len());
                assert_eq!(u32::from_be_bytes([g[4], g[5], g[6], g[7]]), 0x1234_5678);
                assert_eq!(&g[8..], &inner[..]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn vlan_and_sll_link_headers() {
        let ip = udp_packet(sa("[2001:db8::1]:1"), sa("[2001:db8::2]:2"), 64, b"x").unwrap();
        let f = Link::ethernet_vlan(100)
            .frame_ip(Direction::ClientToServer, &ip)
            .unwrap();
        assert_eq!(&f[12..14], &[0x81, 0x00]);
        assert_eq!(u16::from_be_bytes([f[14], f[15]]) & 0x0fff, 100);
        assert_eq!(&f[16..18], &[0x86, 0xdd]);
        let f = Link::linux_sll()
            .frame_ip(Direction::ServerToClient, &ip)
            .unwrap();
        assert_eq!(&f[0..2], &[0, 0]); // to us
        assert_eq!(&f[14..16], &[0x86, 0xdd]);
        assert_eq!(&f[16..], &ip[..]);
        assert!(matches!(
            Link::ethernet_vlan(5000).frame_ip(Direction::ClientToServer, &ip),
            Err(PacketError::BadVlan(5000))
        ));
    }
}
