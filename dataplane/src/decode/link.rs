//! Link layers: everything in a captured frame before its IP header.
//!
//! Ethernet II and IEEE 802.3 with LLC/SNAP (RFC 1042), 802.1Q / 802.1ad tag stacks, MPLS label
//! stacks (RFC 3032) with an Ethernet pseudowire behind a control word (RFC 4448), PPPoE session
//! stage (RFC 2516 section 4), Linux cooked capture v1 and v2 (SLL, SLL2), BSD null/loopback, PPP
//! with or without HDLC-like framing (RFC 1661 section 2, RFC 1662 section 3) and raw IP.
//!
//! The answer is which IP version follows and the bytes from its header on; anything else (ARP,
//! LLDP, PPP control protocols, ...) is [`DecodeError::NotIp`]. This module does not look at the
//! IP header beyond its version nibble, where the link layer gives no other clue.

use super::DecodeError;
use crate::capture::LinkType;
use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};

/// The network layer a link layer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    V4,
    V6,
}

impl Net {
    /// Whether `bytes` start with this version's nibble (a cheap plausibility check for tunnels
    /// and link types that carry no type field).
    pub fn starts(self, bytes: &[u8]) -> bool {
        let want = match self {
            Net::V4 => 4,
            Net::V6 => 6,
        };
        bytes.first().is_some_and(|b| b >> 4 == want)
    }
}

/// EtherType values (IEEE 802 numbers) this module knows.
pub mod ether_type {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    /// 802.1Q customer tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service tag.
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard service tags.
    pub const QINQ_9100: u16 = 0x9100;
    pub const QINQ_9200: u16 = 0x9200;
    pub const MPLS_UNICAST: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// Values up to this are an 802.3 length, not a type.
    pub const MAX_8023_LENGTH: u16 = 1500;
}

/// How many tags, labels and shim headers a frame may stack before it is called malformed.
pub const MAX_LINK_HEADERS: usize = 8;

/// Strips the link layer of a frame captured with link type `link`.
pub fn strip(link: LinkType, data: &[u8]) -> Result<(Net, &[u8]), DecodeError> {
    match link {
        LinkType::ETHERNET => ethernet(data),
        LinkType::RAW | LinkType::RAW_BSD12 | LinkType::RAW_BSD14 => raw_ip(data),
        LinkType::IPV4 => Ok((Net::V4, data)),
        LinkType::IPV6 => Ok((Net::V6, data)),
        LinkType::LINUX_SLL => sll(data),
        LinkType::LINUX_SLL2 => sll2(data),
        LinkType::NULL | LinkType::LOOP => null(data),
        LinkType::PPP | LinkType::PPP_HDLC => ppp(data),
        LinkType(other) => Err(DecodeError::UnsupportedLink(other)),
    }
}

/// `data` without its first `n` bytes, or `Truncated(layer)`.
#[inline]
pub(crate) fn skip<'a>(
    data: &'a [u8],
    n: usize,
    layer: &'static str,
) -> Result<&'a [u8], DecodeError> {
    data.get(n..).ok_or(DecodeError::Truncated(layer))
}

/// Big-endian u16 at `at`, or `Truncated(layer)`.
#[inline]
pub(crate) fn be16(data: &[u8], at: usize, layer: &'static str) -> Result<u16, DecodeError> {
    match data.get(at..at.wrapping_add(2)) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(DecodeError::Truncated(layer)),
    }
}

/// An Ethernet frame (Ethernet II or 802.3 with LLC/SNAP), tags and shims included.
pub fn ethernet(data: &[u8]) -> Result<(Net, &[u8]), DecodeError> {
    let (ty, rest) = ethernet_header(data)?;
    ether_payload(ty, rest)
}

/// The Ethernet header alone: the EtherType and the bytes after it. An 802.3 frame yields the
/// EtherType of its SNAP header.
fn ethernet_header(data: &[u8]) -> Result<(u16, &[u8]), DecodeError> {
    let eth =
        Ethernet2HeaderSlice::from_slice(data).map_err(|_| DecodeError::Truncated("ethernet"))?;
    let rest = skip(data, eth.slice().len(), "ethernet")?;
    let ty = eth.ether_type().0;
    if ty <= ether_type::MAX_8023_LENGTH {
        llc_snap(rest)
    } else {
        Ok((ty, rest))
    }
}

/// IEEE 802.2 LLC with a SNAP header (RFC 1042): AA AA 03, a 3-byte OUI, an EtherType.
mod snap {
    pub const PREFIX: [u8; 3] = [0xaa, 0xaa, 0x03];
    pub const TYPE: usize = 6;
    pub const LEN: usize = 8;
}

fn llc_snap(data: &[u8]) -> Result<(u16, &[u8]), DecodeError> {
    if !data.starts_with(&snap::PREFIX) {
        // Another LLC protocol (STP, NetBIOS, ...), or a SNAP header cut short.
        return Err(if snap::PREFIX.starts_with(data) {
            DecodeError::Truncated("llc")
        } else {
            DecodeError::NotIp
        });
    }
    let ty = be16(data, snap::TYPE, "llc")?;
    Ok((ty, skip(data, snap::LEN, "llc")?))
}

/// Follows EtherTypes through VLAN tags, MPLS labels and PPPoE down to IPv4 or IPv6.
pub fn ether_payload(mut ty: u16, mut rest: &[u8]) -> Result<(Net, &[u8]), DecodeError> {
    use ether_type::*;
    for _ in 0..MAX_LINK_HEADERS {
        match ty {
            IPV4 => return Ok((Net::V4, rest)),
            IPV6 => return Ok((Net::V6, rest)),
            VLAN | QINQ | QINQ_9100 | QINQ_9200 => {
                let tag = SingleVlanHeaderSlice::from_slice(rest)
                    .map_err(|_| DecodeError::Truncated("vlan"))?;
                ty = tag.ether_type().0;
                rest = skip(rest, tag.slice().len(), "vlan")?;
            }
            MPLS_UNICAST | MPLS_MULTICAST => (ty, rest) = mpls(rest)?,
            PPPOE_SESSION => (ty, rest) = pppoe(rest)?,
            _ => return Err(DecodeError::NotIp),
        }
    }
    Err(DecodeError::Malformed("link_depth"))
}

/// An MPLS label stack entry (RFC 3032 section 2.1): label 20 bits, TC 3, S 1, TTL 8.
mod mpls_field {
    pub const ENTRY_LEN: usize = 4;
    /// Byte holding the bottom-of-stack bit.
    pub const BOS_BYTE: usize = 2;
    pub const BOS: u8 = 0x01;
    /// Length of the pseudowire control word (RFC 4385) before an Ethernet frame.
    pub const CONTROL_WORD_LEN: usize = 4;
}

/// Pops a label stack; returns what the payload is as an EtherType (IPv4, IPv6, or the
/// EtherType of an Ethernet pseudowire frame) and the bytes after it.
fn mpls(mut rest: &[u8]) -> Result<(u16, &[u8]), DecodeError> {
    for _ in 0..MAX_LINK_HEADERS {
        let bos = rest
            .get(mpls_field::BOS_BYTE)
            .ok_or(DecodeError::Truncated("mpls"))?
            & mpls_field::BOS;
        rest = skip(rest, mpls_field::ENTRY_LEN, "mpls")?;
        if bos != 0 {
            // No protocol field: the first nibble tells (RFC 4385 section 3).
            let first = *rest.first().ok_or(DecodeError::Truncated("mpls"))?;
            return match first >> 4 {
                4 => Ok((ether_type::IPV4, rest)),
                6 => Ok((ether_type::IPV6, rest)),
                0 => ethernet_header(skip(rest, mpls_field::CONTROL_WORD_LEN, "mpls")?),
                _ => Err(DecodeError::NotIp),
            };
        }
    }
    Err(DecodeError::Malformed("mpls"))
}

/// PPP protocol numbers (RFC 1661 section 2, IANA PPP DLL protocol numbers).
mod ppp_proto {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
    pub const MPLS_UNICAST: u16 = 0x0281;
}

/// Maps a PPP protocol number to the EtherType that carries the same thing.
fn ppp_to_ether_type(proto: u16) -> Result<u16, DecodeError> {
    match proto {
        ppp_proto::IPV4 => Ok(ether_type::IPV4),
        ppp_proto::IPV6 => Ok(ether_type::IPV6),
        ppp_proto::MPLS_UNICAST => Ok(ether_type::MPLS_UNICAST),
        _ => Err(DecodeError::NotIp),
    }
}

/// PPPoE session header (RFC 2516 section 4): VER/TYPE, CODE, SESSION_ID, LENGTH, then PPP.
mod pppoe_field {
    pub const VER_TYPE: usize = 0;
    pub const VER_TYPE_V1: u8 = 0x11;
    pub const PROTOCOL: usize = 6;
    pub const LEN: usize = 8;
}

fn pppoe(data: &[u8]) -> Result<(u16, &[u8]), DecodeError> {
    let proto = be16(data, pppoe_field::PROTOCOL, "pppoe")?;
    if data.get(pppoe_field::VER_TYPE) != Some(&pppoe_field::VER_TYPE_V1) {
        return Err(DecodeError::Malformed("pppoe"));
    }
    Ok((
        ppp_to_ether_type(proto)?,
        skip(data, pppoe_field::LEN, "pppoe")?,
    ))
}

/// Linux cooked capture v1 (LINKTYPE_LINUX_SLL): packet type, ARPHRD type, address length,
/// 8 address bytes, protocol (an EtherType).
mod sll_field {
    pub const PROTOCOL: usize = 14;
    pub const LEN: usize = 16;
}

/// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2): protocol first, then reserved, interface
/// index, ARPHRD type, packet type, address length, 8 address bytes.
mod sll2_field {
    pub const PROTOCOL: usize = 0;
    pub const LEN: usize = 20;
}

fn sll(data: &[u8]) -> Result<(Net, &[u8]), DecodeError> {
    let proto = be16(data, sll_field::PROTOCOL, "sll")?;
    cooked(proto, skip(data, sll_field::LEN, "sll")?)
}

fn sll2(data: &[u8]) -> Result<(Net, &[u8]), DecodeError> {
    let proto = be16(data, sll2_field::PROTOCOL, "sll2")?;
    cooked(proto, skip(data, sll2_field::LEN, "sll2")?)
}

/// The payload of a cooked header: protocol values below 0x0600 are Linux's own (802.3 frames,
/// 802.2 frames, CAN, ...), none of them IP.
fn cooked(proto: u16, rest: &[u8]) -> Result<(Net, &[u8]), DecodeError> {
    if proto <= ether_type::MAX_8023_LENGTH {
        return Err(DecodeError::NotIp);
    }
    ether_payload(proto, rest)
}

/// BSD null/loopback (LINKTYPE_NULL, LINKTYPE_LOOP): a 4-byte address family, in the capturing
/// host's byte order for NULL and network order for LOOP; both orders are accepted for both.
mod null_field {
    pub const LEN: usize = 4;
    pub const AF_INET: u32 = 2;
    /// AF_INET6 on NetBSD/OpenBSD (24), FreeBSD (28), macOS (30).
    pub const AF_INET6: [u32; 3] = [24, 28, 30];
}

fn null(data: &[u8]) -> Result<(Net, &[u8]), DecodeError> {
    let family: [u8; 4] = data
        .get(..null_field::LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or(DecodeError::Truncated("null"))?;
    let rest = skip(data, null_field::LEN, "null")?;
    let (le, be) = (u32::from_le_bytes(family), u32::from_be_bytes(family));
    if le == null_field::AF_INET || be == null_field::AF_INET {
        Ok((Net::V4, rest))
    } else if null_field::AF_INET6.contains(&le) || null_field::AF_INET6.contains(&be) {
        Ok((Net::V6, rest))
    } else {
        Err(DecodeError::NotIp)
    }
}

/// PPP frame (LINKTYPE_PPP, LINKTYPE_PPP_HDLC): optional address/control 0xff 0x03 (RFC 1662
/// section 3.1), then a protocol field of two bytes, or one when compressed (an odd first byte,
/// RFC 1661 section 6.5).
mod ppp_field {
    pub const ADDRESS_CONTROL: [u8; 2] = [0xff, 0x03];
}

fn ppp(data: &[u8]) -> Result<(Net, &[u8]), DecodeError> {
    let data = match data.strip_prefix(&ppp_field::ADDRESS_CONTROL[..]) {
        Some(rest) => rest,
        None => data,
    };
    let first = *data.first().ok_or(DecodeError::Truncated("ppp"))?;
    let (proto, rest) = if first & 1 == 1 {
        (u16::from(first), skip(data, 1, "ppp")?)
    } else {
        (be16(data, 0, "ppp")?, skip(data, 2, "ppp")?)
    };
    ether_payload(ppp_to_ether_type(proto)?, rest)
}

/// Raw IP: the version nibble says which.
fn raw_ip(data: &[u8]) -> Result<(Net, &[u8]), DecodeError> {
    let first = *data.first().ok_or(DecodeError::Truncated("ip"))?;
    match first >> 4 {
        4 => Ok((Net::V4, data)),
        6 => Ok((Net::V6, data)),
        _ => Err(DecodeError::Malformed("ip")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP4: [u8; 2] = [0x45, 0x00];
    const IP6: [u8; 2] = [0x60, 0x00];

    fn eth(ty: u16, rest: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ty.to_be_bytes());
        f.extend_from_slice(rest);
        f
    }

    #[test]
    fn ethernet_ipv4_and_ipv6() {
        assert_eq!(ethernet(&eth(0x0800, &IP4)), Ok((Net::V4, &IP4[..])));
        assert_eq!(ethernet(&eth(0x86dd, &IP6)), Ok((Net::V6, &IP6[..])));
    }

    #[test]
    fn ethernet_arp_is_not_ip() {
        assert_eq!(ethernet(&eth(0x0806, &[0; 28])), Err(DecodeError::NotIp));
    }

    #[test]
    fn ethernet_short_header_is_truncated() {
        assert_eq!(ethernet(&[0; 13]), Err(DecodeError::Truncated("ethernet")));
    }

    #[test]
    fn vlan_stack_of_three_tags() {
        let mut rest = vec![
            0x00, 0x01, 0x81, 0x00, 0x00, 0x02, 0x91, 0x00, 0x00, 0x03, 0x08, 0x00,
        ];
        rest.extend_from_slice(&IP4);
        let f = eth(0x88a8, &rest);
        assert_eq!(ethernet(&f), Ok((Net::V4, &IP4[..])));
    }

    #[test]
    fn vlan_stack_deeper_than_bound_is_malformed() {
        let mut rest = Vec::new();
        for _ in 0..MAX_LINK_HEADERS {
            rest.extend_from_slice(&[0x00, 0x01, 0x81, 0x00]);
        }
        rest.extend_from_slice(&IP4);
        assert_eq!(
            ethernet(&eth(0x8100, &rest)),
            Err(DecodeError::Malformed("link_depth"))
        );
    }

    #[test]
    fn vlan_tag_cut_is_truncated() {
        assert_eq!(
            ethernet(&eth(0x8100, &[0, 1, 8])),
            Err(DecodeError::Truncated("vlan"))
        );
    }

    #[test]
    fn mpls_two_labels_then_ipv6() {
        let mut rest = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
        rest.extend_from_slice(&IP6);
        assert_eq!(ethernet(&eth(0x8847, &rest)), Ok((Net::V6, &IP6[..])));
    }

    #[test]
    fn mpls_pseudowire_with_control_word_reaches_inner_ethernet() {
        let mut rest = vec![0x00, 0x01, 0x01, 0x40, 0, 0, 0, 0];
        rest.extend_from_slice(&eth(0x0800, &IP4));
        assert_eq!(ethernet(&eth(0x8847, &rest)), Ok((Net::V4, &IP4[..])));
    }

    #[test]
    fn pppoe_session_ipv4() {
        let mut rest = vec![0x11, 0x00, 0x12, 0x34, 0x00, 0x16, 0x00, 0x21];
        rest.extend_from_slice(&IP4);
        assert_eq!(ethernet(&eth(0x8864, &rest)), Ok((Net::V4, &IP4[..])));
        let lcp = [0x11, 0x00, 0x12, 0x34, 0x00, 0x16, 0xc0, 0x21, 1, 2];
        assert_eq!(ethernet(&eth(0x8864, &lcp)), Err(DecodeError::NotIp));
    }

    #[test]
    fn ieee8023_llc_snap_ipv4() {
        let mut rest = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
        rest.extend_from_slice(&IP4);
        assert_eq!(ethernet(&eth(0x0030, &rest)), Ok((Net::V4, &IP4[..])));
        let stp = [0x42, 0x42, 0x03, 0, 0, 0, 0, 0];
        assert_eq!(ethernet(&eth(0x0030, &stp)), Err(DecodeError::NotIp));
        assert_eq!(
            ethernet(&eth(0x0006, &[0, 1, 0xaf])),
            Err(DecodeError::NotIp)
        );
        assert_eq!(
            ethernet(&eth(0x0006, &[0xaa, 0xaa])),
            Err(DecodeError::Truncated("llc"))
        );
    }

    #[test]
    fn null_accepts_both_byte_orders_and_all_inet6_values() {
        for fam in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let mut f = fam.to_vec();
            f.extend_from_slice(&IP4);
            assert_eq!(strip(LinkType::NULL, &f), Ok((Net::V4, &IP4[..])));
            assert_eq!(strip(LinkType::LOOP, &f), Ok((Net::V4, &IP4[..])));
        }
        for v in [24u32, 28, 30] {
            for fam in [v.to_le_bytes(), v.to_be_bytes()] {
                let mut f = fam.to_vec();
                f.extend_from_slice(&IP6);
                assert_eq!(strip(LinkType::NULL, &f), Ok((Net::V6, &IP6[..])));
            }
        }
        assert_eq!(
            strip(LinkType::NULL, &[7, 0, 0, 0, 0x45]),
            Err(DecodeError::NotIp)
        );
        assert_eq!(
            strip(LinkType::NULL, &[2, 0, 0]),
            Err(DecodeError::Truncated("null"))
        );
    }

    #[test]
    fn ppp_with_and_without_address_control_and_compressed_protocol() {
        for prefix in [
            &[0xff, 0x03, 0x00, 0x21][..],
            &[0x00, 0x21],
            &[0x21],
            &[0xff, 0x03, 0x21],
        ] {
            let mut f = prefix.to_vec();
            f.extend_from_slice(&IP4);
            assert_eq!(
                strip(LinkType::PPP, &f),
                Ok((Net::V4, &IP4[..])),
                "{prefix:?}"
            );
            assert_eq!(
                strip(LinkType::PPP_HDLC, &f),
                Ok((Net::V4, &IP4[..])),
                "{prefix:?}"
            );
        }
        let mut f = vec![0xff, 0x03, 0x00, 0x57];
        f.extend_from_slice(&IP6);
        assert_eq!(strip(LinkType::PPP, &f), Ok((Net::V6, &IP6[..])));
        assert_eq!(
            strip(LinkType::PPP, &[0xff, 0x03, 0xc0, 0x21, 1]),
            Err(DecodeError::NotIp)
        );
    }

    #[test]
    fn raw_link_types_use_the_version_nibble() {
        for link in [LinkType::RAW, LinkType::RAW_BSD12, LinkType::RAW_BSD14] {
            assert_eq!(strip(link, &IP4), Ok((Net::V4, &IP4[..])));
            assert_eq!(strip(link, &IP6), Ok((Net::V6, &IP6[..])));
            assert_eq!(strip(link, &[0x20]), Err(DecodeError::Malformed("ip")));
            assert_eq!(strip(link, &[]), Err(DecodeError::Truncated("ip")));
        }
        assert_eq!(strip(LinkType::IPV4, &IP4), Ok((Net::V4, &IP4[..])));
        assert_eq!(strip(LinkType::IPV6, &IP6), Ok((Net::V6, &IP6[..])));
    }

    #[test]
    fn linux_sll_and_sll2() {
        let mut f = vec![0u8; 14];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&IP4);
        assert_eq!(strip(LinkType::LINUX_SLL, &f), Ok((Net::V4, &IP4[..])));
        let mut f = vec![0x86, 0xdd];
        f.extend_from_slice(&[0u8; 18]);
        f.extend_from_slice(&IP6);
        assert_eq!(strip(LinkType::LINUX_SLL2, &f), Ok((Net::V6, &IP6[..])));
        let mut f = vec![0u8; 14];
        f.extend_from_slice(&[0x00, 0x04, 0xaa]);
        assert_eq!(strip(LinkType::LINUX_SLL, &f), Err(DecodeError::NotIp));
        assert_eq!(
            strip(LinkType::LINUX_SLL2, &[0x08, 0]),
            Err(DecodeError::Truncated("sll2"))
        );
    }

    #[test]
    fn unknown_link_type_is_unsupported() {
        assert_eq!(
            strip(LinkType(147), &IP4),
            Err(DecodeError::UnsupportedLink(147))
        );
    }
}
