//! Decoding a captured frame down to the subscriber's innermost TCP or UDP packet.
//!
//! Link layers (Ethernet, 802.1Q and 802.1ad stacks, Linux SLL and SLL2, raw IP, BSD null and
//! loopback, PPP), IPv4 with options and fragments (reassembled), IPv6 with extension headers,
//! and tunnels whose inner packet is the subscriber's: GTP-U (UDP 2152, the TEID is kept), VXLAN
//! (UDP 4789), CAPWAP data (UDP 5247), IP-in-IP (4in4, 4in6, 6in4, 6in6) and Teredo (UDP 3544).
//! etherparse does the header work. The result is always the innermost flow.
//!
//! Also: MPLS label stacks and PPPoE sessions under Ethernet, 802.11 data frames inside CAPWAP.
//! Fragments are reassembled in a bounded table ([`MAX_PENDING_DATAGRAMS`] datagrams of at most
//! [`MAX_DATAGRAM`] bytes, expiring after [`FRAGMENT_EXPIRY_NS`] of capture time); a tunnel is
//! only opened when its header checks out and the inner bytes start like the inner protocol,
//! else the UDP packet itself is the flow. The common path (Ethernet, IPv4, TCP) allocates and
//! copies nothing.
//!
//! Nothing here panics on hostile bytes: every failure is a [`DecodeError`] with a stable reason
//! name for counters.

mod frag;
mod ip;
mod link;
mod quick;
#[cfg(test)]
mod tests;
mod transport;
mod tunnel;

pub use frag::{
    EXPIRY_NS as FRAGMENT_EXPIRY_NS, MAX_DATAGRAM, MAX_PENDING as MAX_PENDING_DATAGRAMS,
};
pub use link::MAX_LINK_HEADERS;
pub use tunnel::port as tunnel_port;

use crate::capture::LinkType;
use frag::{FragKey, FragTable};
use link::Net;
use std::net::IpAddr;

/// Transport protocol of a decoded packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4 {
    Tcp,
    Udp,
}

impl L4 {
    pub fn as_str(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
        }
    }
}

/// TCP flag bits as in the TCP header.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// The innermost TCP/UDP packet of a frame.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub l4: L4,
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP sequence number (0 for UDP).
    pub seq: u32,
    /// TCP flags (0 for UDP), see [`tcp_flags`].
    pub flags: u8,
    /// The transport payload as captured (may be shorter than on the wire if the snap length cut
    /// it).
    pub payload: &'a [u8],
    /// The GTP-U tunnel endpoint id of the outermost GTP-U tunnel, if the packet came through one.
    pub teid: Option<u32>,
}

/// Why a frame did not yield a TCP/UDP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DecodeError {
    /// A link type this decoder does not know.
    #[error("unsupported link type {0}")]
    UnsupportedLink(u32),
    /// A frame cut short inside a header; names the layer: `ethernet`, `llc`, `vlan`, `mpls`,
    /// `pppoe`, `sll`, `sll2`, `null`, `ppp`, `ip`, `ipv4`, `ipv6`, `ipv6_ext`, `ipv6_frag`,
    /// `ip_auth`, `tcp`, `udp`, `gtpu`, `vxlan`, `capwap`, `ieee80211`, `teredo`.
    #[error("frame cut short in the {0} header")]
    Truncated(&'static str),
    /// A header that is inconsistent; names the layer (as for `Truncated`, plus `link_depth`
    /// for a tag stack deeper than [`MAX_LINK_HEADERS`]).
    #[error("malformed {0} header")]
    Malformed(&'static str),
    /// A GTP-U G-PDU whose extension header chain is broken: a header of length 0, more than
    /// 16 chained, or one that runs past the message.
    #[error("GTP-U extension header of length 0, chain longer than 16, or past the message")]
    GtpuBadExtension,
    /// An IP length field (IPv4 total length, IPv6 payload length) beyond the bytes of a frame
    /// that was captured whole (not cut by the snap length); names `ipv4` or `ipv6`.
    #[error("{0} length beyond the packet")]
    LengthBeyondPacket(&'static str),
    /// A non-IP payload at the link layer (ARP, LLDP, ...): not an error, just not ours.
    #[error("not an IP packet")]
    NotIp,
    /// IP carrying something other than TCP or UDP (ICMP, ESP, ...), or a tunnel message that
    /// carries no subscriber packet (GTP-U echo, CAPWAP keep-alive).
    #[error("IP packet carrying neither TCP nor UDP")]
    NotTcpUdp,
    /// An IP fragment that was stored for reassembly; the packet comes out with the last one.
    #[error("IP fragment held for reassembly")]
    FragmentHeld,
    /// A fragment that could not be reassembled (overlap, too large, cut by the snap length,
    /// expired), or a tunnel-level fragment (CAPWAP) that is not reassembled.
    #[error("IP fragment dropped")]
    FragmentDropped,
}

impl DecodeError {
    /// A stable snake_case name for counters and summaries.
    pub fn reason(self) -> &'static str {
        match self {
            DecodeError::UnsupportedLink(_) => "unsupported_link_type",
            DecodeError::Truncated(_) => "truncated",
            DecodeError::Malformed(_) => "malformed",
            DecodeError::GtpuBadExtension => "gtpu_bad_extension",
            DecodeError::LengthBeyondPacket(_) => "ip_length_beyond_packet",
            DecodeError::NotIp => "not_ip",
            DecodeError::NotTcpUdp => "not_tcp_udp",
            DecodeError::FragmentHeld => "fragment_held",
            DecodeError::FragmentDropped => "fragment_dropped",
        }
    }
}

/// How many tunnels (GTP-U, VXLAN, CAPWAP, Teredo, IP-in-IP) one frame may nest. Deeper IP-in-IP
/// is `NotTcpUdp`; a deeper UDP tunnel stays the flow.
pub const MAX_TUNNEL_DEPTH: u8 = 4;

/// Reassembled datagrams one frame may need at once (an outer fragmented tunnel packet whose
/// inner packet is a fragment too).
const REASSEMBLY_SLOTS: usize = 2;

/// Decodes frames; holds the IPv4/IPv6 fragment reassembly state, so one per worker.
#[derive(Default)]
pub struct Decoder {
    frags: FragTable,
    /// Where completed datagrams go; a returned packet borrows from here.
    reassembled: [Vec<u8>; REASSEMBLY_SLOTS],
}

impl Decoder {
    /// Decodes one frame. `ts_ns` drives fragment expiry. The returned payload borrows from
    /// `data`, or from the decoder's reassembly buffer when the packet was reassembled.
    pub fn decode<'a>(
        &'a mut self,
        ts_ns: u64,
        link: LinkType,
        data: &'a [u8],
    ) -> Result<Packet<'a>, DecodeError> {
        // Not known to be whole: an IP length beyond `data` may be the snap length's cut.
        self.decode_frame(ts_ns, link, data, u32::MAX)
    }

    /// Decodes one frame of `wire_len` bytes on the wire, as [`Decoder::decode`] does; when the
    /// frame was captured whole (`data` holds `wire_len` bytes), an IP length field beyond its
    /// bytes is a lie, not the snap length's cut: [`DecodeError::LengthBeyondPacket`].
    #[inline]
    pub fn decode_frame<'a>(
        &'a mut self,
        ts_ns: u64,
        link: LinkType,
        data: &'a [u8],
        wire_len: u32,
    ) -> Result<Packet<'a>, DecodeError> {
        if link == LinkType::ETHERNET {
            if let Some(p) = quick::ethernet(data) {
                return Ok(p);
            }
        }
        let whole = usize::try_from(wire_len).is_ok_and(|w| data.len() >= w);
        let (net, bytes) = link::strip(link, data)?;
        self.walk(ts_ns, whole).ip(net, bytes, 0)
    }

    /// The general walk for one frame.
    fn walk(&mut self, ts_ns: u64, frame_whole: bool) -> Walk<'_, '_> {
        Walk {
            ts_ns,
            frame_whole,
            frags: &mut self.frags,
            slots: self.reassembled.iter_mut(),
            teid: None,
        }
    }

    /// IP datagrams waiting for fragments.
    pub fn pending_fragments(&self) -> usize {
        self.frags.pending()
    }
}

/// One frame's way down from its first IP header to the innermost TCP/UDP packet.
struct Walk<'d, 'a> {
    ts_ns: u64,
    /// The frame was captured whole: an IP length beyond its bytes is not the snap length's.
    frame_whole: bool,
    frags: &'d mut FragTable,
    /// Reassembly output buffers not used yet by this frame.
    slots: std::slice::IterMut<'a, Vec<u8>>,
    /// TEID of the outermost GTP-U tunnel passed.
    teid: Option<u32>,
}

impl<'a> Walk<'_, 'a> {
    /// An IP packet at tunnel depth `depth`.
    fn ip(&mut self, net: Net, bytes: &'a [u8], depth: u8) -> Result<Packet<'a>, DecodeError> {
        let layer = ip::parse(net, bytes)?;
        if !layer.whole && self.frame_whole {
            return Err(DecodeError::LengthBeyondPacket(match net {
                Net::V4 => "ipv4",
                Net::V6 => "ipv6",
            }));
        }
        let (proto, payload) = match layer.frag {
            None => (layer.proto, layer.payload),
            Some(frag) => {
                if !worth_reassembling(layer.proto) {
                    return Err(DecodeError::NotTcpUdp);
                }
                let slot = self.slots.next().ok_or(DecodeError::FragmentDropped)?;
                let key = FragKey {
                    src: layer.src,
                    dst: layer.dst,
                    id: frag.id,
                    proto: layer.proto,
                };
                let whole = self
                    .frags
                    .insert(self.ts_ns, key, frag, layer.payload, slot)?;
                ip::after_reassembly(net, layer.proto, whole)?
            }
        };
        self.transport(layer.src, layer.dst, proto, payload, depth)
    }

    /// The upper layer of an IP packet: TCP, UDP (maybe a tunnel), or IP-in-IP.
    fn transport(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        payload: &'a [u8],
        depth: u8,
    ) -> Result<Packet<'a>, DecodeError> {
        match proto {
            ip::proto::TCP => {
                let t = transport::tcp(payload)?;
                Ok(Packet {
                    src,
                    dst,
                    l4: L4::Tcp,
                    src_port: t.src_port,
                    dst_port: t.dst_port,
                    seq: t.seq,
                    flags: t.flags,
                    payload: t.payload,
                    teid: self.teid,
                })
            }
            ip::proto::UDP => {
                let u = transport::udp(payload)?;
                if depth < MAX_TUNNEL_DEPTH {
                    match tunnel::decapsulate(&u) {
                        tunnel::Decap::Outer => {}
                        tunnel::Decap::Inner { net, bytes, teid } => {
                            if self.teid.is_none() {
                                self.teid = teid;
                            }
                            return self.ip(net, bytes, depth + 1);
                        }
                        tunnel::Decap::Stop(e) => return Err(e),
                    }
                }
                Ok(Packet {
                    src,
                    dst,
                    l4: L4::Udp,
                    src_port: u.src_port,
                    dst_port: u.dst_port,
                    seq: 0,
                    flags: 0,
                    payload: u.payload,
                    teid: self.teid,
                })
            }
            ip::proto::IPV4_IN_IP if depth < MAX_TUNNEL_DEPTH => {
                self.ip(Net::V4, payload, depth + 1)
            }
            ip::proto::IPV6_IN_IP if depth < MAX_TUNNEL_DEPTH => {
                self.ip(Net::V6, payload, depth + 1)
            }
            _ => Err(DecodeError::NotTcpUdp),
        }
    }
}

/// Whether a fragment's protocol can lead to TCP or UDP (directly, through an IPv6 extension
/// header of the fragmentable part, or through IP-in-IP); others are not worth the table space.
fn worth_reassembling(proto: u8) -> bool {
    use ip::proto::*;
    matches!(
        proto,
        TCP | UDP | IPV4_IN_IP | IPV6_IN_IP | AUTH | DEST_OPTIONS | ROUTING | HOP_BY_HOP
    )
}
