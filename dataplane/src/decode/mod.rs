//! Decoding a captured frame down to the subscriber's innermost TCP or UDP packet.
//!
//! Link layers (Ethernet, 802.1Q and 802.1ad stacks, Linux SLL and SLL2, raw IP, BSD null and
//! loopback, PPP), IPv4 with options and fragments (reassembled), IPv6 with extension headers,
//! and tunnels whose inner packet is the subscriber's: GTP-U (UDP 2152, the TEID is kept), VXLAN
//! (UDP 4789), CAPWAP data (UDP 5247), IP-in-IP (4in4, 4in6, 6in4, 6in6) and Teredo (UDP 3544).
//! etherparse does the header work. The result is always the innermost flow.
//!
//! Nothing here panics on hostile bytes: every failure is a [`DecodeError`] with a stable reason
//! name for counters.

use crate::capture::LinkType;
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// A link type this decoder does not know.
    UnsupportedLink(u32),
    /// A frame cut short inside a header; names the layer.
    Truncated(&'static str),
    /// A header that is inconsistent; names the layer.
    Malformed(&'static str),
    /// A non-IP payload at the link layer (ARP, LLDP, ...): not an error, just not ours.
    NotIp,
    /// IP carrying something other than TCP or UDP (ICMP, ESP, ...).
    NotTcpUdp,
    /// An IP fragment that was stored for reassembly; the packet comes out with the last one.
    FragmentHeld,
    /// A fragment that could not be reassembled (overlap, too large, table full).
    FragmentDropped,
}

impl DecodeError {
    /// A stable snake_case name for counters and summaries.
    pub fn reason(self) -> &'static str {
        match self {
            DecodeError::UnsupportedLink(_) => "unsupported_link_type",
            DecodeError::Truncated(_) => "truncated",
            DecodeError::Malformed(_) => "malformed",
            DecodeError::NotIp => "not_ip",
            DecodeError::NotTcpUdp => "not_tcp_udp",
            DecodeError::FragmentHeld => "fragment_held",
            DecodeError::FragmentDropped => "fragment_dropped",
        }
    }
}

/// Decodes frames; holds the IPv4/IPv6 fragment reassembly state, so one per worker.
pub struct Decoder {
    // implementation-defined fields (fragment table, reassembly buffer)
}

impl Default for Decoder {
    fn default() -> Self {
        todo!()
    }
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
        let _ = (ts_ns, link, data);
        todo!()
    }
}
