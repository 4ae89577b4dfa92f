//! UDP tunnels whose inner packet is the subscriber's: GTP-U (3GPP TS 29.281 section 5), VXLAN
//! (RFC 7348 section 5), CAPWAP data (RFC 5415 section 4.3, with IEEE 802.11 data frames and
//! LLC/SNAP per RFC 5416) and Teredo (RFC 4380 section 5.1.1).
//!
//! Each parser looks at one UDP payload and answers [`Decap::Outer`] when the bytes do not look
//! like its tunnel (the UDP packet then stays the flow: a DNS server on port 2152 is not GTP),
//! [`Decap::Inner`] with the inner IP packet, or [`Decap::Stop`] when the tunnel is recognised
//! but carries no subscriber packet (GTP echo, CAPWAP keep-alive, an inner ARP). IP-in-IP needs
//! no parser here; the caller recurses on the IP payload. Nesting depth is the caller's bound.

use super::link::{self, Net};
use super::transport::Udp;
use super::DecodeError;

/// Well-known UDP ports of the tunnels.
pub mod port {
    pub const GTP_U: u16 = 2152;
    pub const VXLAN: u16 = 4789;
    pub const CAPWAP_DATA: u16 = 5247;
    pub const TEREDO: u16 = 3544;
}

/// What a tunnel parser made of a UDP payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decap<'a> {
    /// Not this tunnel: the UDP packet is the flow.
    Outer,
    /// The inner IP packet, and the GTP-U TEID when the tunnel was GTP-U.
    Inner {
        net: Net,
        bytes: &'a [u8],
        teid: Option<u32>,
    },
    /// The tunnel, but nothing to decode inside.
    Stop(DecodeError),
}

/// A tunnel parser: the UDP payload as captured and its length on the wire.
type Parser = for<'a> fn(&'a [u8], usize) -> Decap<'a>;

/// The tunnels by port, tried in this order.
const TUNNELS: [(u16, Parser); 4] = [
    (port::GTP_U, gtpu),
    (port::VXLAN, vxlan),
    (port::CAPWAP_DATA, capwap),
    (port::TEREDO, teredo),
];

/// Tries the tunnels the UDP ports point to (either port), until one recognises the payload.
#[inline]
pub fn decapsulate<'a>(udp: &Udp<'a>) -> Decap<'a> {
    for (port, parse) in TUNNELS {
        if udp.has_port(port) {
            match parse(udp.payload, udp.wire_len) {
                Decap::Outer => {}
                found => return found,
            }
        }
    }
    Decap::Outer
}

/// The answer when a tunnel header could not be checked for lack of bytes: `Truncated` when
/// the snap length cut the UDP payload (`captured` < `wire_len`), else not this tunnel.
fn short(captured: usize, wire_len: usize, layer: &'static str) -> Decap<'static> {
    if captured < wire_len {
        Decap::Stop(DecodeError::Truncated(layer))
    } else {
        Decap::Outer
    }
}

/// Inner IP bytes that start with the right version nibble, else `Outer`.
fn inner(net: Net, bytes: &[u8], teid: Option<u32>) -> Decap<'_> {
    if net.starts(bytes) {
        Decap::Inner { net, bytes, teid }
    } else {
        Decap::Outer
    }
}

/// The GTPv1-U header (TS 29.281 section 5.1).
mod gtp {
    pub const FLAGS: usize = 0;
    pub const MSG_TYPE: usize = 1;
    pub const LENGTH: usize = 2;
    pub const TEID: usize = 4;
    pub const MANDATORY_LEN: usize = 8;
    /// Sequence number (2), N-PDU number (1), next extension header type (1).
    pub const OPTIONAL_LEN: usize = 4;
    pub const NEXT_EXT: usize = 11;
    pub const VERSION_SHIFT: u8 = 5;
    pub const VERSION_1: u8 = 1;
    /// Protocol type: 1 = GTP, 0 = GTP'.
    pub const PT: u8 = 0x10;
    /// Any of E (extension), S (sequence), PN (N-PDU) means the optional fields are present.
    pub const E_S_PN: u8 = 0x07;
    pub const G_PDU: u8 = 0xff;
    /// Extension header lengths count 4-byte units.
    pub const EXT_UNIT: usize = 4;
    pub const MAX_EXT_HEADERS: usize = 16;
}

/// GTP-U on port 2152: only a G-PDU carries a subscriber packet; other messages (echo, error
/// indication, end marker) stop here. `wire_len` is the UDP payload length on the wire.
pub fn gtpu(p: &[u8], wire_len: usize) -> Decap<'_> {
    let (Some(&flags), Some(&msg)) = (p.get(gtp::FLAGS), p.get(gtp::MSG_TYPE)) else {
        return short(p.len(), wire_len, "gtpu");
    };
    let (Ok(length), Some(teid)) = (link::be16(p, gtp::LENGTH, "gtpu"), be32(p, gtp::TEID)) else {
        return short(p.len(), wire_len, "gtpu");
    };
    let length = usize::from(length);
    let optional = flags & gtp::E_S_PN != 0;
    if flags >> gtp::VERSION_SHIFT != gtp::VERSION_1
        || flags & gtp::PT == 0
        || gtp::MANDATORY_LEN + length > wire_len
        || (optional && length < gtp::OPTIONAL_LEN)
    {
        return Decap::Outer;
    }
    if msg != gtp::G_PDU {
        return Decap::Stop(DecodeError::NotTcpUdp);
    }
    let end = gtp::MANDATORY_LEN + length;
    let mut off = gtp::MANDATORY_LEN;
    if optional {
        off += gtp::OPTIONAL_LEN;
        let mut next = p.get(gtp::NEXT_EXT).copied();
        let mut chained = 0;
        // Each extension header: length (in 4-byte units, counting itself), content, next type.
        while let Some(ty) = next {
            if ty == 0 {
                break;
            }
            chained += 1;
            let Some(&units) = p.get(off) else {
                return Decap::Stop(DecodeError::Truncated("gtpu"));
            };
            let units = usize::from(units);
            // A G-PDU whose extension chain is broken (a zero length, which would loop, a
            // chain too long, a header past the message) carries no packet we can trust; it
            // is not the UDP flow between the tunnel endpoints either.
            if units == 0 || chained > gtp::MAX_EXT_HEADERS {
                return Decap::Stop(DecodeError::GtpuBadExtension);
            }
            off += units * gtp::EXT_UNIT;
            if off > end {
                return Decap::Stop(DecodeError::GtpuBadExtension);
            }
            next = p.get(off - 1).copied();
        }
        if next.is_none() {
            // The header was valid as far as captured; the snap length cut it.
            return Decap::Stop(DecodeError::Truncated("gtpu"));
        }
    }
    match p.get(off..) {
        Some(rest) if !rest.is_empty() => {
            let net = if Net::V6.starts(rest) {
                Net::V6
            } else {
                Net::V4
            };
            inner(net, rest, Some(teid))
        }
        _ if off < end => Decap::Stop(DecodeError::Truncated("gtpu")),
        _ => Decap::Outer,
    }
}

fn be32(p: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = p.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// The VXLAN header (RFC 7348 section 5): flags (I = VNI valid), reserved, VNI, reserved.
mod vxlan_field {
    pub const FLAGS: usize = 0;
    pub const FLAG_I: u8 = 0x08;
    pub const LEN: usize = 8;
}

/// VXLAN on port 4789: an Ethernet frame follows the 8-byte header.
pub fn vxlan(p: &[u8], wire_len: usize) -> Decap<'_> {
    let Some(&flags) = p.get(vxlan_field::FLAGS) else {
        return short(p.len(), wire_len, "vxlan");
    };
    if flags & vxlan_field::FLAG_I == 0 {
        return Decap::Outer;
    }
    match p.get(vxlan_field::LEN..) {
        Some(frame) => inner_frame(link::ethernet(frame), p.len(), wire_len),
        None => short(p.len(), wire_len, "vxlan"),
    }
}

/// The answer for a link-layer frame found inside a tunnel: IP goes on, a complete non-IP frame
/// stops, a frame that does not parse leaves the outer packet as the flow (or is truncated, when
/// the snap length cut it).
fn inner_frame(
    frame: Result<(Net, &[u8]), DecodeError>,
    captured: usize,
    wire_len: usize,
) -> Decap<'_> {
    match frame {
        Ok((_, [])) => short(captured, wire_len, "ip"),
        Ok((net, bytes)) => inner(net, bytes, None),
        Err(DecodeError::NotIp) => Decap::Stop(DecodeError::NotIp),
        Err(DecodeError::Truncated(layer)) => short(captured, wire_len, layer),
        Err(_) => Decap::Outer,
    }
}

/// The CAPWAP header (RFC 5415 section 4.3): preamble (version 0, type 0), then in one 32-bit
/// word HLEN (5 bits, 4-byte units), RID (5), WBID (5), flags T F L W M K (1 each), 3 more.
mod capwap_field {
    pub const PREAMBLE: usize = 0;
    /// Version 0, type 0 (a plain CAPWAP header; 1 would be DTLS).
    pub const PREAMBLE_PLAIN: u8 = 0;
    pub const MIN_LEN: usize = 8;
    pub const HLEN_SHIFT: u32 = 19;
    pub const WBID_SHIFT: u32 = 9;
    pub const FIVE_BITS: u32 = 0x1f;
    pub const HLEN_UNIT: usize = 4;
    /// Native frame format per WBID (else IEEE 802.3).
    pub const T: u32 = 1 << 8;
    /// Fragment.
    pub const F: u32 = 1 << 7;
    /// Keep-alive.
    pub const K: u32 = 1 << 3;
    pub const WBID_IEEE80211: u32 = 1;
}

/// CAPWAP data on port 5247: an 802.3 frame, or an 802.11 frame when T is set and the binding
/// is IEEE 802.11. CAPWAP-level fragments are not reassembled.
pub fn capwap(p: &[u8], wire_len: usize) -> Decap<'_> {
    use capwap_field::*;
    let Some(word) = be32(p, PREAMBLE) else {
        return short(p.len(), wire_len, "capwap");
    };
    let hlen = ((word >> HLEN_SHIFT) & FIVE_BITS) as usize * HLEN_UNIT;
    if p.get(PREAMBLE) != Some(&PREAMBLE_PLAIN) || hlen < MIN_LEN || hlen > wire_len {
        return Decap::Outer;
    }
    let Some(frame) = p.get(hlen..) else {
        return short(p.len(), wire_len, "capwap");
    };
    if word & K != 0 {
        return Decap::Stop(DecodeError::NotTcpUdp);
    }
    if word & F != 0 {
        return Decap::Stop(DecodeError::FragmentDropped);
    }
    if word & T == 0 {
        inner_frame(link::ethernet(frame), p.len(), wire_len)
    } else if (word >> WBID_SHIFT) & FIVE_BITS == WBID_IEEE80211 {
        inner_frame(ieee80211(frame), p.len(), wire_len)
    } else {
        Decap::Outer
    }
}

/// The IEEE 802.11 MAC header (802.11-2020 section 9.2): frame control (2, little-endian bit
/// order as on air), duration, three addresses, sequence control; a fourth address when both
/// To DS and From DS are set; QoS control for QoS subtypes; HT control when Order is set on a
/// QoS frame. The body of a data frame starts with LLC/SNAP.
mod wlan {
    pub const FC0: usize = 0;
    pub const FC1: usize = 1;
    pub const HEADER_LEN: usize = 24;
    pub const ADDR4_LEN: usize = 6;
    pub const QOS_LEN: usize = 2;
    pub const HT_LEN: usize = 4;
    pub const TYPE_MASK: u8 = 0x0c;
    pub const VERSION_MASK: u8 = 0x03;
    pub const TYPE_DATA: u8 = 0x08;
    /// Subtype bit: QoS data.
    pub const SUBTYPE_QOS: u8 = 0x80;
    /// Subtype bit: no data (null function).
    pub const SUBTYPE_NO_DATA: u8 = 0x40;
    pub const TO_DS: u8 = 0x01;
    pub const FROM_DS: u8 = 0x02;
    pub const PROTECTED: u8 = 0x40;
    pub const ORDER: u8 = 0x80;
    /// RFC 1042 encapsulation and 802.1H bridge tunnel.
    pub const SNAP_RFC1042: [u8; 6] = [0xaa, 0xaa, 0x03, 0, 0, 0];
    pub const SNAP_BRIDGE_TUNNEL: [u8; 6] = [0xaa, 0xaa, 0x03, 0, 0, 0xf8];
    pub const SNAP_LEN: usize = 8;
}

/// An 802.11 data frame with LLC/SNAP down to IP. Management, control, null and protected
/// frames are `NotIp`. Cisco controllers send the frame control field byte-swapped (Wireshark's
/// CAPWAP "swap frame control" setting); a frame that does not decode as sent is tried swapped.
pub fn ieee80211(f: &[u8]) -> Result<(Net, &[u8]), DecodeError> {
    let (Some(&fc0), Some(&fc1)) = (f.get(wlan::FC0), f.get(wlan::FC1)) else {
        return Err(DecodeError::Truncated("ieee80211"));
    };
    match ieee80211_with_fc(fc0, fc1, f) {
        Err(e @ (DecodeError::NotIp | DecodeError::Malformed(_))) => {
            ieee80211_with_fc(fc1, fc0, f).map_err(|_| e)
        }
        other => other,
    }
}

/// An 802.11 frame `f` whose frame control bytes are `fc0`, `fc1`.
fn ieee80211_with_fc(fc0: u8, fc1: u8, f: &[u8]) -> Result<(Net, &[u8]), DecodeError> {
    use wlan::*;
    if fc0 & VERSION_MASK != 0 {
        return Err(DecodeError::Malformed("ieee80211"));
    }
    if fc0 & TYPE_MASK != TYPE_DATA || fc0 & SUBTYPE_NO_DATA != 0 || fc1 & PROTECTED != 0 {
        return Err(DecodeError::NotIp);
    }
    let mut len = HEADER_LEN;
    if fc1 & TO_DS != 0 && fc1 & FROM_DS != 0 {
        len += ADDR4_LEN;
    }
    if fc0 & SUBTYPE_QOS != 0 {
        len += QOS_LEN;
        if fc1 & ORDER != 0 {
            len += HT_LEN;
        }
    }
    let body = link::skip(f, len, "ieee80211")?;
    let snap = body
        .get(..SNAP_RFC1042.len())
        .ok_or(DecodeError::Truncated("llc"))?;
    if snap != SNAP_RFC1042 && snap != SNAP_BRIDGE_TUNNEL {
        return Err(DecodeError::NotIp);
    }
    let ty = link::be16(body, SNAP_RFC1042.len(), "llc")?;
    link::ether_payload(ty, link::skip(body, SNAP_LEN, "llc")?)
}

/// Teredo (RFC 4380 section 5.1.1): an IPv6 packet, possibly after an authentication
/// indicator and an origin indication.
mod teredo_field {
    pub const INDICATOR: [u8; 2] = [0x00, 0x01];
    pub const ORIGIN: [u8; 2] = [0x00, 0x00];
    /// Indicator type (2), client id length (1), authentication value length (1).
    pub const AUTH_FIXED_LEN: usize = 4;
    pub const AUTH_ID_LEN: usize = 2;
    pub const AUTH_VALUE_LEN: usize = 3;
    /// Nonce (8) and confirmation byte (1) after the id and value.
    pub const AUTH_TAIL_LEN: usize = 9;
    pub const ORIGIN_LEN: usize = 8;
    pub const IPV6_HEADER_LEN: usize = 40;
    pub const IPV6_PAYLOAD_LENGTH: usize = 4;
}

/// Teredo on port 3544. The inner IPv6 header must be complete and its payload length must
/// match the UDP length: a random UDP payload on 3544 stays the flow.
pub fn teredo(p: &[u8], wire_len: usize) -> Decap<'_> {
    use teredo_field::*;
    let mut rest = p;
    if rest.starts_with(&INDICATOR) {
        let (Some(&id), Some(&value)) = (rest.get(AUTH_ID_LEN), rest.get(AUTH_VALUE_LEN)) else {
            return short(p.len(), wire_len, "teredo");
        };
        let len = AUTH_FIXED_LEN + usize::from(id) + usize::from(value) + AUTH_TAIL_LEN;
        let Some(after) = rest.get(len..) else {
            return short(p.len(), wire_len, "teredo");
        };
        rest = after;
    }
    if rest.starts_with(&ORIGIN) {
        let Some(after) = rest.get(ORIGIN_LEN..) else {
            return short(p.len(), wire_len, "teredo");
        };
        rest = after;
    }
    let skipped = p.len() - rest.len();
    let Ok(payload_len) = link::be16(rest, IPV6_PAYLOAD_LENGTH, "teredo") else {
        return short(p.len(), wire_len, "teredo");
    };
    let inner_len = IPV6_HEADER_LEN + usize::from(payload_len);
    if !Net::V6.starts(rest) || Some(inner_len) != wire_len.checked_sub(skipped) {
        return Decap::Outer;
    }
    if rest.len() < IPV6_HEADER_LEN {
        return short(p.len(), wire_len, "ipv6");
    }
    Decap::Inner {
        net: Net::V6,
        bytes: rest,
        teid: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP4: [u8; 4] = [0x45, 0, 0, 20];

    fn gtp_header(flags: u8, msg: u8, teid: u32, rest: &[u8]) -> Vec<u8> {
        let mut h = vec![flags, msg];
        h.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        h.extend_from_slice(&teid.to_be_bytes());
        h.extend_from_slice(rest);
        h
    }

    #[test]
    fn gtpu_plain_g_pdu() {
        let p = gtp_header(0x30, 0xff, 0xabcd, &IP4);
        let d = gtpu(&p, p.len());
        assert_eq!(
            d,
            Decap::Inner {
                net: Net::V4,
                bytes: &IP4,
                teid: Some(0xabcd)
            }
        );
    }

    #[test]
    fn gtpu_with_sequence_and_two_extension_headers() {
        let mut rest = vec![0, 1, 0, 0x85];
        rest.extend_from_slice(&[1, 0x10, 0x05, 0xc0]); // PDU session container, next 0xc0
        rest.extend_from_slice(&[2, 1, 2, 3, 4, 5, 6, 0]); // 8 bytes, next none
        rest.extend_from_slice(&IP4);
        let p = gtp_header(0x36, 0xff, 7, &rest);
        let d = gtpu(&p, p.len());
        assert_eq!(
            d,
            Decap::Inner {
                net: Net::V4,
                bytes: &IP4,
                teid: Some(7)
            }
        );
    }

    #[test]
    fn gtpu_echo_request_stops() {
        let p = gtp_header(0x32, 0x01, 0, &[0, 5, 0, 0]);
        assert_eq!(gtpu(&p, p.len()), Decap::Stop(DecodeError::NotTcpUdp));
    }

    #[test]
    fn gtpu_bad_version_length_or_inner_is_outer() {
        let p = gtp_header(0x50, 0xff, 1, &IP4);
        assert_eq!(gtpu(&p, p.len()), Decap::Outer);
        let p = gtp_header(0x30, 0xff, 1, &IP4);
        assert_eq!(gtpu(&p, p.len() - 1), Decap::Outer);
        let p = gtp_header(0x30, 0xff, 1, &[0x12, 0, 0, 0]);
        assert_eq!(gtpu(&p, p.len()), Decap::Outer);
    }

    #[test]
    fn gtpu_zero_length_or_overlong_extension_chain_is_counted_not_a_flow() {
        let p = gtp_header(0x34, 0xff, 1, &[0, 0, 0, 0x85, 0, 0, 0, 0]);
        assert_eq!(
            gtpu(&p, p.len()),
            Decap::Stop(DecodeError::GtpuBadExtension),
            "zero-length extension header"
        );
        // 17 chained 4-byte extension headers, each naming another after it.
        let mut rest = vec![0, 0, 0, 0x85];
        for _ in 0..17 {
            rest.extend_from_slice(&[1, 0, 0, 0x85]);
        }
        rest.extend_from_slice(&IP4);
        let p = gtp_header(0x34, 0xff, 1, &rest);
        assert_eq!(
            gtpu(&p, p.len()),
            Decap::Stop(DecodeError::GtpuBadExtension)
        );
        // 16 are fine.
        let mut rest = vec![0, 0, 0, 0x85];
        for i in 0..16 {
            rest.extend_from_slice(&[1, 0, 0, if i == 15 { 0 } else { 0x85 }]);
        }
        rest.extend_from_slice(&IP4);
        let p = gtp_header(0x34, 0xff, 1, &rest);
        assert!(matches!(gtpu(&p, p.len()), Decap::Inner { .. }));
        // An extension header that claims more bytes than the message has.
        let p = gtp_header(0x34, 0xff, 1, &[0, 0, 0, 0x85, 200, 0, 0, 0]);
        assert_eq!(
            gtpu(&p, p.len()),
            Decap::Stop(DecodeError::GtpuBadExtension)
        );
        assert_eq!(DecodeError::GtpuBadExtension.reason(), "gtpu_bad_extension");
    }

    #[test]
    fn vxlan_needs_the_i_flag() {
        let mut p = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        p.extend_from_slice(&[0; 12]);
        p.extend_from_slice(&[0x08, 0x00]);
        p.extend_from_slice(&IP4);
        assert_eq!(
            vxlan(&p, p.len()),
            Decap::Inner {
                net: Net::V4,
                bytes: &IP4,
                teid: None
            }
        );
        p[0] = 0;
        assert_eq!(vxlan(&p, p.len()), Decap::Outer);
    }

    #[test]
    fn capwap_keepalive_stops_and_dtls_is_outer() {
        // HLEN 2 (8 bytes), K set.
        let word: u32 = (2 << 19) | (1 << 3);
        let p = word.to_be_bytes().repeat(2);
        assert_eq!(capwap(&p, p.len()), Decap::Stop(DecodeError::NotTcpUdp));
        let mut p = word.to_be_bytes().repeat(2);
        p[0] = 1;
        assert_eq!(capwap(&p, p.len()), Decap::Outer);
    }

    #[test]
    fn ieee80211_qos_data_to_ds_with_snap() {
        let mut f = vec![0x88, 0x01];
        f.extend_from_slice(&[0; 22]);
        f.extend_from_slice(&[0, 0]); // QoS control
        f.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        f.extend_from_slice(&IP4);
        assert_eq!(ieee80211(&f), Ok((Net::V4, &IP4[..])));
        f.swap(0, 1);
        assert_eq!(
            ieee80211(&f),
            Ok((Net::V4, &IP4[..])),
            "swapped frame control"
        );
        f.swap(0, 1);
        f[1] |= 0x40;
        assert_eq!(ieee80211(&f), Err(DecodeError::NotIp), "protected");
        assert_eq!(ieee80211(&[0x80, 0, 0]), Err(DecodeError::NotIp), "beacon");
    }

    #[test]
    fn teredo_length_must_match() {
        let mut v6 = vec![0x60, 0, 0, 0, 0, 2, 59, 64];
        v6.extend_from_slice(&[0; 32]);
        v6.extend_from_slice(&[1, 2]);
        assert_eq!(
            teredo(&v6, v6.len()),
            Decap::Inner {
                net: Net::V6,
                bytes: &v6,
                teid: None
            }
        );
        assert_eq!(teredo(&v6, v6.len() + 1), Decap::Outer);
        let mut with_origin = vec![0, 0, 1, 2, 3, 4, 5, 6];
        with_origin.extend_from_slice(&v6);
        let d = teredo(&with_origin, with_origin.len());
        assert_eq!(
            d,
            Decap::Inner {
                net: Net::V6,
                bytes: &v6,
                teid: None
            }
        );
    }
}
