//! The IP layer: IPv4 with options (RFC 791 section 3.1) and IPv6 with its extension headers
//! (RFC 8200 section 4: hop-by-hop, routing, destination options, fragment; RFC 4302 AH).
//!
//! A header gives the addresses, the upper-layer protocol, its bytes (cut to the IP length so
//! Ethernet padding never reaches the payload, or to what was captured when the snap length cut
//! the frame) and, for a fragment, what reassembly needs. Checksums are not verified: a capture
//! point sees what the subscriber sent, valid or not. Reassembly itself is in [`super::frag`].

use super::link::Net;
use super::DecodeError;
use etherparse::{err, Ipv6RawExtHeaderSlice};
use etherparse::{IpAuthHeaderSlice, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers (IANA) this decoder acts on.
pub mod proto {
    pub const HOP_BY_HOP: u8 = 0;
    pub const IPV4_IN_IP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6_IN_IP: u8 = 41;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const AUTH: u8 = 51;
    pub const DEST_OPTIONS: u8 = 60;
}

/// How many IPv6 extension headers (or IPv4 AH headers) one packet may chain.
pub const MAX_EXT_HEADERS: usize = 8;

/// Length of the fixed IPv6 header.
const IPV6_HEADER_LEN: usize = 40;

/// A fragment's place in its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// IPv4 identification (widened) or IPv6 fragment header identification.
    pub id: u32,
    /// Offset of this fragment's data in the datagram's fragmentable part, in bytes.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    /// The fragment was captured whole (the snap length did not cut it).
    pub whole: bool,
}

/// One parsed IP header (with its extension headers).
#[derive(Clone, Copy, Debug)]
pub struct IpLayer<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Protocol of `payload`: the upper layer, or for a fragment the first header of the
    /// fragmentable part.
    pub proto: u8,
    pub payload: &'a [u8],
    pub frag: Option<Fragment>,
    /// The bytes hold the whole packet as its length field gives it (else the length field
    /// points past them: a snap length cut it, or the field lies).
    pub whole: bool,
}

fn v4_err(e: err::ipv4::HeaderSliceError) -> DecodeError {
    match e {
        err::ipv4::HeaderSliceError::Len(_) => DecodeError::Truncated("ipv4"),
        err::ipv4::HeaderSliceError::Content(_) => DecodeError::Malformed("ipv4"),
    }
}

fn v6_err(e: err::ipv6::HeaderSliceError) -> DecodeError {
    match e {
        err::ipv6::HeaderSliceError::Len(_) => DecodeError::Truncated("ipv6"),
        err::ipv6::HeaderSliceError::Content(_) => DecodeError::Malformed("ipv6"),
    }
}

/// Parses the IP header `net` says `bytes` start with.
#[inline]
pub fn parse(net: Net, bytes: &[u8]) -> Result<IpLayer<'_>, DecodeError> {
    match net {
        Net::V4 => ipv4(bytes),
        Net::V6 => ipv6(bytes),
    }
}

/// The end of an IP packet inside `captured` bytes given its length field: a zero length (TCP
/// segmentation offload, jumbograms) means "what was captured"; a length beyond the capture is
/// cut to it (and the packet is not whole).
#[inline]
fn packet_end(len_field: usize, header_len: usize, captured: usize) -> (usize, bool) {
    if len_field == 0 {
        (captured, true)
    } else if len_field > captured {
        (captured, false)
    } else {
        (len_field.max(header_len), true)
    }
}

/// An IPv4 header with options; AH after it is skipped.
pub fn ipv4(bytes: &[u8]) -> Result<IpLayer<'_>, DecodeError> {
    let h = Ipv4HeaderSlice::from_slice(bytes).map_err(v4_err)?;
    let header_len = h.slice().len();
    let total = usize::from(h.total_len());
    if total != 0 && total < header_len {
        return Err(DecodeError::Malformed("ipv4"));
    }
    let (end, whole) = packet_end(total, header_len, bytes.len());
    let payload = bytes
        .get(header_len..end)
        .ok_or(DecodeError::Truncated("ipv4"))?;
    let src = IpAddr::V4(Ipv4Addr::from(h.source()));
    let dst = IpAddr::V4(Ipv4Addr::from(h.destination()));
    let offset = h.fragments_offset().value();
    if h.more_fragments() || offset != 0 {
        let frag = Fragment {
            id: u32::from(h.identification()),
            offset: usize::from(offset) * 8,
            more: h.more_fragments(),
            whole,
        };
        return Ok(IpLayer {
            src,
            dst,
            proto: h.protocol().0,
            payload,
            frag: Some(frag),
            whole,
        });
    }
    let mut proto = h.protocol().0;
    let mut payload = payload;
    if proto == proto::AUTH {
        (proto, payload) = after_reassembly(Net::V4, proto, payload)?;
    }
    Ok(IpLayer {
        src,
        dst,
        proto,
        payload,
        frag: None,
        whole,
    })
}

/// An IPv6 header and its extension headers, up to the upper layer or a fragment header that
/// fragments.
pub fn ipv6(bytes: &[u8]) -> Result<IpLayer<'_>, DecodeError> {
    let h = Ipv6HeaderSlice::from_slice(bytes).map_err(v6_err)?;
    let total = match usize::from(h.payload_length()) {
        0 => 0,
        n => n + IPV6_HEADER_LEN,
    };
    let (end, whole) = packet_end(total, IPV6_HEADER_LEN, bytes.len());
    let rest = bytes
        .get(IPV6_HEADER_LEN..end)
        .ok_or(DecodeError::Truncated("ipv6"))?;
    let src = IpAddr::V6(Ipv6Addr::from(h.source()));
    let dst = IpAddr::V6(Ipv6Addr::from(h.destination()));
    let ext = extensions(h.next_header().0, rest, true)?;
    let frag = ext.frag.map(|(id, offset, more)| Fragment {
        id,
        offset,
        more,
        whole,
    });
    Ok(IpLayer {
        src,
        dst,
        proto: ext.proto,
        payload: ext.rest,
        frag,
        whole,
    })
}

/// Continues below a reassembled datagram's fragmentable part (or an IPv4 AH header): skips
/// extension headers to the upper layer. A second fragment header that fragments is dropped.
pub fn after_reassembly(net: Net, proto: u8, bytes: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    let ext = extensions(proto, bytes, net == Net::V6)?;
    if ext.frag.is_some() {
        return Err(DecodeError::FragmentDropped);
    }
    Ok((ext.proto, ext.rest))
}

/// Where an extension header walk stopped.
struct Extensions<'a> {
    proto: u8,
    rest: &'a [u8],
    /// (identification, offset in bytes, more fragments) of a fragmenting fragment header.
    frag: Option<(u32, usize, bool)>,
}

/// Walks extension headers starting with `proto`. IPv6 knows all of RFC 8200's; IPv4 only AH.
/// Stops at the first header that is not an extension, or after a fragment header that
/// fragments (its data is not parseable on its own).
fn extensions(mut proto: u8, mut rest: &[u8], v6: bool) -> Result<Extensions<'_>, DecodeError> {
    for _ in 0..MAX_EXT_HEADERS {
        match proto {
            proto::HOP_BY_HOP | proto::ROUTING | proto::DEST_OPTIONS if v6 => {
                let h = Ipv6RawExtHeaderSlice::from_slice(rest)
                    .map_err(|_| DecodeError::Truncated("ipv6_ext"))?;
                proto = h.next_header().0;
                rest = super::link::skip(rest, h.slice().len(), "ipv6_ext")?;
            }
            proto::FRAGMENT if v6 => {
                let h = Ipv6FragmentHeaderSlice::from_slice(rest)
                    .map_err(|_| DecodeError::Truncated("ipv6_frag"))?;
                proto = h.next_header().0;
                rest = super::link::skip(rest, h.slice().len(), "ipv6_frag")?;
                if h.is_fragmenting_payload() {
                    let offset = usize::from(h.fragment_offset().value()) * 8;
                    let frag = Some((h.identification(), offset, h.more_fragments()));
                    return Ok(Extensions { proto, rest, frag });
                }
            }
            proto::AUTH => {
                let h = IpAuthHeaderSlice::from_slice(rest).map_err(|e| match e {
                    err::ip_auth::HeaderSliceError::Len(_) => DecodeError::Truncated("ip_auth"),
                    err::ip_auth::HeaderSliceError::Content(_) => DecodeError::Malformed("ip_auth"),
                })?;
                proto = h.next_header().0;
                rest = super::link::skip(rest, h.slice().len(), "ip_auth")?;
            }
            _ => {
                return Ok(Extensions {
                    proto,
                    rest,
                    frag: None,
                })
            }
        }
    }
    Err(DecodeError::Malformed("ipv6_ext"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_header(ihl_words: u8, total: u16, proto: u8, frag_field: u16) -> Vec<u8> {
        let mut h = vec![0u8; usize::from(ihl_words) * 4];
        h[0] = 0x40 | ihl_words;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        h[6..8].copy_from_slice(&frag_field.to_be_bytes());
        h[8] = 64;
        h[9] = proto;
        h[12..16].copy_from_slice(&[10, 0, 0, 1]);
        h[16..20].copy_from_slice(&[10, 0, 0, 2]);
        h
    }

    fn v6_header(payload_len: u16, next: u8) -> Vec<u8> {
        let mut h = vec![0u8; 40];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&payload_len.to_be_bytes());
        h[6] = next;
        h[7] = 64;
        h[23] = 1;
        h[39] = 2;
        h
    }

    #[test]
    fn ipv4_options_are_skipped() {
        let mut p = v4_header(7, 28 + 4, proto::UDP, 0);
        p[20..28].copy_from_slice(&[0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00]);
        p.extend_from_slice(&[1, 2, 3, 4]);
        let ip = ipv4(&p).unwrap();
        assert_eq!(ip.proto, proto::UDP);
        assert_eq!(ip.payload, &[1, 2, 3, 4]);
        assert_eq!(ip.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(ip.frag.is_none());
    }

    #[test]
    fn ipv4_padding_after_total_length_is_cut() {
        let mut p = v4_header(5, 22, proto::TCP, 0);
        p.extend_from_slice(&[7, 8, 0, 0, 0, 0]);
        assert_eq!(ipv4(&p).unwrap().payload, &[7, 8]);
    }

    #[test]
    fn ipv4_snapped_payload_is_what_was_captured() {
        let mut p = v4_header(5, 1500, proto::TCP, 0);
        p.extend_from_slice(&[7, 8]);
        assert_eq!(ipv4(&p).unwrap().payload, &[7, 8]);
    }

    #[test]
    fn ipv4_total_length_below_header_is_malformed() {
        let p = v4_header(5, 10, proto::TCP, 0);
        assert_eq!(ipv4(&p).unwrap_err(), DecodeError::Malformed("ipv4"));
    }

    #[test]
    fn ipv4_fragment_fields() {
        // offset 3 (24 bytes), more fragments.
        let mut p = v4_header(5, 28, proto::UDP, 0x2003);
        p.extend_from_slice(&[0; 8]);
        let f = ipv4(&p).unwrap().frag.unwrap();
        assert_eq!(
            f,
            Fragment {
                id: 0x1234,
                offset: 24,
                more: true,
                whole: true
            }
        );
    }

    #[test]
    fn ipv6_hop_by_hop_and_destination_options_are_skipped() {
        let mut p = v6_header(8 + 16 + 2, proto::HOP_BY_HOP);
        p.extend_from_slice(&[proto::DEST_OPTIONS, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&[proto::TCP, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[9, 9]);
        let ip = ipv6(&p).unwrap();
        assert_eq!(ip.proto, proto::TCP);
        assert_eq!(ip.payload, &[9, 9]);
    }

    #[test]
    fn ipv6_routing_and_auth_headers_are_skipped() {
        let mut p = v6_header(8 + 16 + 1, proto::ROUTING);
        p.extend_from_slice(&[proto::AUTH, 0, 0, 0, 0, 0, 0, 0]);
        // AH: payload len 2 -> (2 + 2) * 4 = 16 bytes.
        p.extend_from_slice(&[proto::UDP, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
        p.push(5);
        let ip = ipv6(&p).unwrap();
        assert_eq!((ip.proto, ip.payload), (proto::UDP, &[5u8][..]));
    }

    #[test]
    fn ipv6_fragment_header_stops_the_walk() {
        let mut p = v6_header(8 + 8, proto::FRAGMENT);
        p.extend_from_slice(&[proto::UDP, 0, 0x00, 0x11, 0, 0, 0, 9]);
        p.extend_from_slice(&[0; 8]);
        let ip = ipv6(&p).unwrap();
        assert_eq!(ip.proto, proto::UDP);
        assert_eq!(
            ip.frag,
            Some(Fragment {
                id: 9,
                offset: 16,
                more: true,
                whole: true
            })
        );
        assert_eq!(ip.payload.len(), 8);
    }

    #[test]
    fn ipv6_atomic_fragment_is_not_a_fragment() {
        let mut p = v6_header(8 + 1, proto::FRAGMENT);
        p.extend_from_slice(&[proto::UDP, 0, 0, 0, 0, 0, 0, 9, 4]);
        let ip = ipv6(&p).unwrap();
        assert_eq!(
            (ip.proto, ip.payload, ip.frag),
            (proto::UDP, &[4u8][..], None)
        );
    }

    #[test]
    fn ipv6_extension_header_cut_is_truncated() {
        let mut p = v6_header(16, proto::DEST_OPTIONS);
        p.extend_from_slice(&[proto::TCP, 1, 0]);
        assert_eq!(ipv6(&p).unwrap_err(), DecodeError::Truncated("ipv6_ext"));
    }

    #[test]
    fn ipv6_endless_extension_chain_is_malformed() {
        let mut p = v6_header(0, proto::DEST_OPTIONS);
        for _ in 0..=MAX_EXT_HEADERS {
            p.extend_from_slice(&[proto::DEST_OPTIONS, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(ipv6(&p).unwrap_err(), DecodeError::Malformed("ipv6_ext"));
    }

    #[test]
    fn ipv4_auth_header_is_skipped() {
        let mut p = v4_header(5, 20 + 12 + 1, proto::AUTH, 0);
        p.extend_from_slice(&[proto::TCP, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 3]);
        let ip = ipv4(&p).unwrap();
        assert_eq!((ip.proto, ip.payload), (proto::TCP, &[3u8][..]));
    }
}
