//! Ready-made flows built from the lower-level builders: a TLS connection, an HTTP exchange,
//! a DNS exchange over UDP or TCP, a QUIC connection start, an opaque TCP connection. Each
//! returns a [`Flow`] whose expectation follows from the inputs. The fixture generator and a
//! traffic synthesizer both use them.

use std::net::SocketAddr;

use thiserror::Error;

use crate::conversation::{ConversationError, SegmentPlan, TcpConversation, UdpExchange};
use crate::dns::{self, Answer, DnsError};
use crate::flow::{AppInfo, Flow};
use crate::http;
use crate::packets::Path;
use crate::quic::{self, ClientInitials, QuicError};
use crate::rng::Rng;
use crate::tls::{self, ClientHello};

/// Errors of the recipes.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecipeError {
    /// TCP or UDP building failed.
    #[error(transparent)]
    Conversation(#[from] ConversationError),
    /// QUIC protection failed.
    #[error(transparent)]
    Quic(#[from] QuicError),
    /// A DNS message could not be built.
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// The Host header is not in the request.
    #[error("the request has no Host header to split")]
    NoHost,
}

/// Where and when a flow happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    /// The side that sends first.
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// Link layer and tunnel.
    pub path: Path,
    /// First packet's timestamp (ns since the epoch).
    pub start_ns: u64,
}

impl Endpoints {
    fn tcp(&self) -> TcpConversation {
        TcpConversation::new(self.client, self.server, self.path, self.start_ns)
    }

    fn isns(&self, rng: &mut Rng) -> (u32, u32) {
        (rng.next_u32(), rng.next_u32())
    }
}

/// Shape of a TLS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsShape {
    /// Number of TLS records the ClientHello is cut into.
    pub hello_records: usize,
    /// Number of TCP segments the client's first flight is cut into (1: by MSS).
    pub hello_segments: usize,
    /// Order the segments are sent in (indices, a repeat is a retransmission); empty: in order.
    pub segment_order: Vec<usize>,
    /// Lengths of the server's encrypted records after the ServerHello.
    pub server_records: Vec<usize>,
    /// Length of the client's request (application_data).
    pub request_len: usize,
    /// Length of the server's response (application_data).
    pub response_len: usize,
}

impl Default for TlsShape {
    fn default() -> Self {
        TlsShape {
            hello_records: 1,
            hello_segments: 1,
            segment_order: Vec::new(),
            server_records: vec![1200, 280],
            request_len: 160,
            response_len: 900,
        }
    }
}

/// A TLS connection opened with `hello`.
pub fn tls_flow(
    ep: &Endpoints,
    rng: &mut Rng,
    hello: &ClientHello,
    shape: &TlsShape,
) -> Result<Flow, RecipeError> {
    let records = hello.to_records(shape.hello_records);
    let (ci, si) = ep.isns(rng);
    let mut conv = ep.tcp().isns(ci, si).client_sends(records.clone());
    if shape.hello_segments > 1 {
        let order = if shape.segment_order.is_empty() {
            (0..shape.hello_segments).collect()
        } else {
            shape.segment_order.clone()
        };
        conv = conv.split_first_client_message(SegmentPlan::even(
            records.len(),
            shape.hello_segments,
            order,
        ));
    }
    let mut finished = tls::client_finished(rng);
    finished.extend_from_slice(&tls::application_data(rng, &[shape.request_len]));
    let conv = conv
        .server_sends(tls::server_flight(rng, hello, &shape.server_records))
        .client_sends(finished)
        .server_sends(tls::application_data(rng, &[shape.response_len]));
    Ok(Flow::tcp(&conv, AppInfo::tls(hello))?)
}

/// An HTTP/1.1 GET with `Host: host_header` and a response of `body_len` bytes; when
/// `split_host` is set the request is cut into two segments in the middle of the Host value.
pub fn http_flow(
    ep: &Endpoints,
    rng: &mut Rng,
    host_header: &str,
    path: &str,
    body_len: usize,
    split_host: bool,
) -> Result<Flow, RecipeError> {
    let req = http::get_request(host_header, path);
    let (ci, si) = ep.isns(rng);
    let mut conv = ep.tcp().isns(ci, si).client_sends(req.clone());
    if split_host {
        let r = http::host_value_range(&req).ok_or(RecipeError::NoHost)?;
        let cut = r.start + (r.end - r.start) / 2;
        conv = conv.split_first_client_message(SegmentPlan::at(vec![cut], vec![0, 1]));
    }
    let conv = conv.server_sends(http::ok_response(rng, body_len));
    Ok(Flow::tcp(&conv, AppInfo::http(host_header))?)
}

/// A DNS query and its response over UDP.
pub fn dns_udp_flow(
    ep: &Endpoints,
    id: u16,
    qname: &str,
    qtype: u16,
    answers: &[Answer],
) -> Result<Flow, RecipeError> {
    let ex = UdpExchange::new(ep.client, ep.server, ep.path, ep.start_ns)
        .client_sends(dns::query(id, qname, qtype)?)
        .server_sends(dns::response(id, qname, qtype, answers, 300)?);
    Ok(Flow::udp(&ex, AppInfo::dns(qname))?)
}

/// A DNS query and its response over TCP (length-prefixed messages).
pub fn dns_tcp_flow(
    ep: &Endpoints,
    rng: &mut Rng,
    id: u16,
    qname: &str,
    qtype: u16,
    answers: &[Answer],
) -> Result<Flow, RecipeError> {
    let (ci, si) = ep.isns(rng);
    let conv = ep
        .tcp()
        .isns(ci, si)
        .client_sends(dns::tcp_framed(&dns::query(id, qname, qtype)?)?)
        .server_sends(dns::tcp_framed(&dns::response(
            id, qname, qtype, answers, 300,
        )?)?);
    Ok(Flow::tcp(&conv, AppInfo::dns(qname))?)
}

/// Shape of a QUIC connection start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuicShape {
    /// Offer an X25519MLKEM768 key share (the hello then needs two Initial packets).
    pub post_quantum: bool,
    /// Cut the CRYPTO data at this fraction (in percent) and send the pieces in reverse order.
    pub split_reversed_percent: Option<u8>,
    /// Number of 1-RTT packets each side sends after the handshake.
    pub short_packets: usize,
}

/// A QUIC v1 connection start: client Initial(s) carrying a ClientHello for `sni` with ALPN
/// h3, the server's Initial, then a few 1-RTT packets each way.
pub fn quic_flow(
    ep: &Endpoints,
    rng: &mut Rng,
    sni: Option<&str>,
    shape: &QuicShape,
) -> Result<Flow, RecipeError> {
    let dcid = rng.bytes(8);
    let scid = rng.bytes(8);
    let server_cid = rng.bytes(8);
    let hello = ClientHello::browser(rng, sni)
        .with_alpn(&["h3"])
        .with_post_quantum(shape.post_quantum)
        .for_quic(quic::client_transport_parameters(&scid));
    let crypto = hello.handshake_message();
    let mut flight = ClientInitials::new(dcid.clone(), scid.clone(), crypto.clone());
    if let Some(p) = shape.split_reversed_percent {
        let cut = (crypto.len() * usize::from(p) / 100).clamp(1, crypto.len().saturating_sub(1));
        flight = flight.split_reversed(cut);
    }
    let mut ex = UdpExchange::new(ep.client, ep.server, ep.path, ep.start_ns);
    for d in flight.datagrams()? {
        ex = ex.client_sends(d);
    }
    let sh = tls::server_hello_message(rng, &hello);
    ex = ex.server_sends(quic::server_initial(&dcid, &scid, &server_cid, &sh)?);
    for _ in 0..shape.short_packets {
        ex = ex.server_sends(quic::short_header_filler(rng, &scid, 1100));
    }
    for _ in 0..shape.short_packets {
        ex = ex.client_sends(quic::short_header_filler(rng, &server_cid, 60));
    }
    Ok(Flow::udp(&ex, AppInfo::quic(&hello))?)
}

/// A TCP connection with opaque (non-TLS, non-HTTP) bytes each way.
pub fn opaque_tcp_flow(
    ep: &Endpoints,
    rng: &mut Rng,
    client_len: usize,
    server_len: usize,
) -> Result<Flow, RecipeError> {
    let (ci, si) = ep.isns(rng);
    // A first byte that no inspector mistakes for TLS (0x16), HTTP (a letter) or DNS framing.
    let mut c = rng.bytes(client_len.max(1));
    c[0] = 0x00;
    let conv = ep
        .tcp()
        .isns(ci, si)
        .client_sends(c)
        .server_sends(rng.bytes(server_len.max(1)));
    Ok(Flow::tcp(&conv, AppInfo::opaque())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{NameSource, Proto};
    use crate::packets::Link;

    fn ep() -> Endpoints {
        Endpoints {
            client: "10.0.0.1:50000".parse().unwrap(),
            server: "192.0.2.10:443".parse().unwrap(),
            path: Path::on(Link::ethernet()),
            start_ns: 1_000,
        }
    }

    #[test]
    fn tls_recipe_expects_the_hello_sni_and_alpn() {
        let mut rng = Rng::new(9);
        let hello = ClientHello::browser(&mut rng, Some("www.example.com"));
        let shape = TlsShape {
            hello_segments: 3,
            segment_order: vec![1, 0, 2, 0],
            ..TlsShape::default()
        };
        let f = tls_flow(&ep(), &mut rng, &hello, &shape).unwrap();
        let e = f.expected();
        assert_eq!(e.proto, Some(Proto::Tls));
        assert_eq!(e.name.as_deref(), Some("www.example.com"));
        assert_eq!(e.alpn, vec!["h2", "http/1.1"]);
        assert!(e.packets.c2s >= 8);
    }

    #[test]
    fn quic_recipe_sends_full_size_initials() {
        let mut rng = Rng::new(10);
        let shape = QuicShape {
            post_quantum: true,
            split_reversed_percent: Some(50),
            short_packets: 1,
        };
        let f = quic_flow(&ep(), &mut rng, Some("quic.example"), &shape).unwrap();
        let e = f.expected();
        assert_eq!(e.name_source, Some(NameSource::QuicSni));
        assert_eq!(e.alpn, vec!["h3"]);
        // Two or three client Initials (PQ hello), one short packet; one server Initial, one short.
        assert!(e.packets.c2s >= 3);
        assert_eq!(e.packets.s2c, 2);
    }

    #[test]
    fn http_recipe_can_split_inside_the_host() {
        let mut rng = Rng::new(11);
        let f = http_flow(&ep(), &mut rng, "split.example:8080", "/", 10, true).unwrap();
        assert_eq!(f.expected().name.as_deref(), Some("split.example"));
    }
}
