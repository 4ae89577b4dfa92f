//! TCP (RFC 9293 section 3.1) and UDP (RFC 768) headers: ports, sequence number, flags and the
//! payload as captured. Options are skipped, never interpreted; checksums are not verified.

use super::DecodeError;
use etherparse::{err, TcpHeaderSlice, UdpHeaderSlice};

/// Byte of the TCP header holding the flag bits (CWR ECE URG ACK PSH RST SYN FIN).
const TCP_FLAGS: usize = 13;
/// Length of the UDP header.
const UDP_HEADER_LEN: usize = 8;

/// The fields of a TCP header the flow table needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tcp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub flags: u8,
    pub payload: &'a [u8],
}

/// A UDP header and its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Udp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    /// The payload as captured (cut to the UDP length).
    pub payload: &'a [u8],
    /// The payload's length on the wire per the UDP length field (what was captured when the
    /// field is below the header length, as in IPv6 jumbograms).
    pub wire_len: usize,
}

impl Udp<'_> {
    /// Either port is `port`.
    #[inline]
    pub fn has_port(&self, port: u16) -> bool {
        self.src_port == port || self.dst_port == port
    }
}

#[inline]
pub fn tcp(bytes: &[u8]) -> Result<Tcp<'_>, DecodeError> {
    let h = TcpHeaderSlice::from_slice(bytes).map_err(|e| match e {
        err::tcp::HeaderSliceError::Len(_) => DecodeError::Truncated("tcp"),
        err::tcp::HeaderSliceError::Content(_) => DecodeError::Malformed("tcp"),
    })?;
    let header = h.slice();
    Ok(Tcp {
        src_port: h.source_port(),
        dst_port: h.destination_port(),
        seq: h.sequence_number(),
        flags: header.get(TCP_FLAGS).copied().unwrap_or(0),
        payload: bytes.get(header.len()..).unwrap_or(&[]),
    })
}

#[inline]
pub fn udp(bytes: &[u8]) -> Result<Udp<'_>, DecodeError> {
    let h = UdpHeaderSlice::from_slice(bytes).map_err(|_| DecodeError::Truncated("udp"))?;
    let rest = bytes.get(UDP_HEADER_LEN..).unwrap_or(&[]);
    let length = usize::from(h.length());
    let wire_len = if length >= UDP_HEADER_LEN {
        length - UDP_HEADER_LEN
    } else {
        rest.len()
    };
    Ok(Udp {
        src_port: h.source_port(),
        dst_port: h.destination_port(),
        payload: rest.get(..wire_len).unwrap_or(rest),
        wire_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_fields_and_options_skipped() {
        let mut h = vec![0u8; 24];
        h[0..2].copy_from_slice(&443u16.to_be_bytes());
        h[2..4].copy_from_slice(&50000u16.to_be_bytes());
        h[4..8].copy_from_slice(&7u32.to_be_bytes());
        h[12] = 6 << 4;
        h[13] = 0x12;
        h.extend_from_slice(b"hi");
        let t = tcp(&h).unwrap();
        assert_eq!(
            t,
            Tcp {
                src_port: 443,
                dst_port: 50000,
                seq: 7,
                flags: 0x12,
                payload: b"hi"
            }
        );
    }

    #[test]
    fn tcp_options_cut_is_truncated_and_bad_offset_malformed() {
        let mut h = vec![0u8; 22];
        h[12] = 6 << 4;
        assert_eq!(tcp(&h), Err(DecodeError::Truncated("tcp")));
        h[12] = 4 << 4;
        assert_eq!(tcp(&h), Err(DecodeError::Malformed("tcp")));
    }

    #[test]
    fn udp_payload_cut_to_length_field() {
        let mut h = vec![0, 53, 0x30, 0x39, 0, 10, 0, 0, 1, 2, 0, 0];
        let u = udp(&h).unwrap();
        assert_eq!(
            (u.src_port, u.dst_port, u.payload, u.wire_len),
            (53, 12345, &[1u8, 2][..], 2)
        );
        h[5] = 100;
        let u = udp(&h).unwrap();
        assert_eq!(
            (u.payload.len(), u.wire_len),
            (4, 92),
            "snapped payload is what was captured"
        );
    }
}
