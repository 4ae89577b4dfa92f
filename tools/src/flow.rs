//! A generated flow: its frames plus what a classifier should find in it, and the expected
//! record written beside a fixture (one JSON line per flow). The application facts come from
//! the payload builders' inputs (the hello's SNI and ALPN, the Host header, the DNS name) and
//! the counts from the frames actually built, so the expectation cannot drift from the bytes.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::conversation::{ConversationError, TcpConversation, UdpExchange};
use crate::http::host_without_port;
use crate::packets::{Direction, Frame, Path};
use crate::tls::ClientHello;

/// Transport protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L4 {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// Application protocol the inspector should recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TLS over TCP.
    Tls,
    /// QUIC.
    Quic,
    /// HTTP/1.x.
    Http,
    /// DNS over UDP or TCP.
    Dns,
}

/// Where the flow's name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    /// TLS ClientHello server_name.
    Sni,
    /// server_name of the ClientHello inside QUIC Initial packets.
    QuicSni,
    /// HTTP Host header (port removed).
    Host,
    /// The question of a DNS query.
    DnsQuery,
    /// A DNS answer the same client received for the server's address.
    DnsAnswer,
}

/// What a classifier should find in a flow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppInfo {
    /// Application protocol, if recognisable.
    pub proto: Option<Proto>,
    /// Name of the flow.
    pub name: Option<String>,
    /// Where the name comes from.
    pub name_source: Option<NameSource>,
    /// ALPN protocols offered by the client.
    pub alpn: Vec<String>,
}

impl AppInfo {
    /// A TLS flow opened with `hello`.
    pub fn tls(hello: &ClientHello) -> Self {
        AppInfo {
            proto: Some(Proto::Tls),
            name: hello.sni.clone(),
            name_source: hello.sni.as_ref().map(|_| NameSource::Sni),
            alpn: hello.alpn.clone(),
        }
    }

    /// A QUIC flow whose Initial packets carry `hello`.
    pub fn quic(hello: &ClientHello) -> Self {
        AppInfo {
            proto: Some(Proto::Quic),
            name: hello.sni.clone(),
            name_source: hello.sni.as_ref().map(|_| NameSource::QuicSni),
            alpn: hello.alpn.clone(),
        }
    }

    /// An HTTP flow whose request carries `Host: host_header`.
    pub fn http(host_header: &str) -> Self {
        AppInfo {
            proto: Some(Proto::Http),
            name: Some(host_without_port(host_header).to_owned()),
            name_source: Some(NameSource::Host),
            alpn: Vec::new(),
        }
    }

    /// A DNS flow asking for `qname`.
    pub fn dns(qname: &str) -> Self {
        AppInfo {
            proto: Some(Proto::Dns),
            name: Some(qname.trim_end_matches('.').to_owned()),
            name_source: Some(NameSource::DnsQuery),
            alpn: Vec::new(),
        }
    }

    /// A flow with nothing recognisable in it.
    pub fn opaque() -> Self {
        AppInfo::default()
    }

    /// Names a flow that has no name of its own from a DNS answer for `qname`.
    pub fn named_by_dns_answer(mut self, qname: &str) -> Self {
        if self.name.is_none() {
            self.name = Some(qname.trim_end_matches('.').to_owned());
            self.name_source = Some(NameSource::DnsAnswer);
        }
        self
    }
}

/// A generated flow: addresses, expectations, frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Transport.
    pub l4: L4,
    /// The side that sent the first packet.
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// GTP-U TEID the flow is tunneled with.
    pub teid: Option<u32>,
    /// What a classifier should find.
    pub app: AppInfo,
    /// The frames, in time order.
    pub frames: Vec<Frame>,
    /// How many of the last frames close the connection (a TCP FIN exchange and its last ACK):
    /// they follow each other within a round trip, so whatever stretches a flow in time leaves
    /// their gaps alone (a close spread over minutes would outlast a reader's closed-flow time).
    pub close_frames: usize,
}

/// Frames of a TCP close as [`TcpConversation::build`] makes it: FIN, FIN, ACK.
pub const TCP_CLOSE_FRAMES: usize = 3;

impl Flow {
    /// Builds a TCP flow.
    pub fn tcp(conv: &TcpConversation, app: AppInfo) -> Result<Flow, ConversationError> {
        Ok(Flow::from_parts(
            L4::Tcp,
            conv.client,
            conv.server,
            &conv.path,
            app,
            conv.build()?,
        )
        .closed_by(if conv.close { TCP_CLOSE_FRAMES } else { 0 }))
    }

    /// Builds a UDP flow.
    pub fn udp(exchange: &UdpExchange, app: AppInfo) -> Result<Flow, ConversationError> {
        Ok(Flow::from_parts(
            L4::Udp,
            exchange.client,
            exchange.server,
            &exchange.path,
            app,
            exchange.build()?,
        ))
    }

    fn from_parts(
        l4: L4,
        client: SocketAddr,
        server: SocketAddr,
        path: &Path,
        app: AppInfo,
        frames: Vec<Frame>,
    ) -> Flow {
        Flow {
            l4,
            client,
            server,
            teid: path.gtpu.map(|t| t.teid),
            app,
            frames,
            close_frames: 0,
        }
    }

    fn closed_by(mut self, frames: usize) -> Flow {
        self.close_frames = frames.min(self.frames.len());
        self
    }

    /// Timestamp of the first frame (0 for an empty flow).
    pub fn first_ts(&self) -> u64 {
        self.frames.iter().map(|f| f.ts_ns).min().unwrap_or(0)
    }

    /// The record expected for this flow.
    pub fn expected(&self) -> ExpectedFlow {
        let mut packets = DirCounts::default();
        let mut bytes = DirCounts::default();
        for f in &self.frames {
            let n = f.bytes.len() as u64;
            match f.dir {
                Direction::ClientToServer => {
                    packets.c2s += 1;
                    bytes.c2s += n;
                }
                Direction::ServerToClient => {
                    packets.s2c += 1;
                    bytes.s2c += n;
                }
            }
        }
        ExpectedFlow {
            l4: self.l4,
            client: self.client.to_string(),
            server: self.server.to_string(),
            proto: self.app.proto,
            name: self.app.name.clone(),
            name_source: self.app.name_source,
            alpn: self.app.alpn.clone(),
            packets,
            bytes,
            teid: self.teid,
        }
    }
}

/// A count per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirCounts {
    /// Client to server.
    pub c2s: u64,
    /// Server to client.
    pub s2c: u64,
}

/// One line of `<capture>.expected.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFlow {
    /// "tcp" or "udp".
    pub l4: L4,
    /// Client `ip:port` (IPv6 as `[addr]:port`).
    pub client: String,
    /// Server `ip:port`.
    pub server: String,
    /// tls, quic, http, dns, or null.
    pub proto: Option<Proto>,
    /// The flow's name.
    pub name: Option<String>,
    /// sni, quic_sni, host, dns_query, dns_answer, or null.
    pub name_source: Option<NameSource>,
    /// ALPN offered by the client (empty if none).
    pub alpn: Vec<String>,
    /// Packets per direction.
    pub packets: DirCounts,
    /// Sum of frame wire lengths per direction.
    pub bytes: DirCounts,
    /// GTP-U TEID, or null.
    pub teid: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packets::{Gtpu, Link};

    #[test]
    fn expected_record_counts_frames_and_serializes_in_order() {
        let path = Path::tunneled(
            Link::ethernet(),
            Gtpu {
                teid: 42,
                access: "192.0.2.1".parse().unwrap(),
                core: "192.0.2.2".parse().unwrap(),
            },
        );
        let conv = TcpConversation::new(
            "[2001:db8::1]:40000".parse().unwrap(),
            "[2001:db8::2]:80".parse().unwrap(),
            path,
            0,
        )
        .client_sends(b"GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n".to_vec());
        let flow = Flow::tcp(&conv, AppInfo::http("a.example:8080")).unwrap();
        let e = flow.expected();
        assert_eq!(e.packets.c2s + e.packets.s2c, flow.frames.len() as u64);
        assert_eq!(
            e.bytes.c2s + e.bytes.s2c,
            flow.frames
                .iter()
                .map(|f| f.bytes.len() as u64)
                .sum::<u64>()
        );
        let line = serde_json::to_string(&e).unwrap();
        assert!(line.starts_with(
            r#"{"l4":"tcp","client":"[2001:db8::1]:40000","server":"[2001:db8::2]:80","proto":"http","name":"a.example","name_source":"host","alpn":[],"packets":{"c2s":"#
        ), "{line}");
        assert!(line.ends_with(r#""teid":42}"#));
        let back: ExpectedFlow = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn dns_answer_names_only_unnamed_flows() {
        let a = AppInfo::opaque().named_by_dns_answer("cdn.example.net.");
        assert_eq!(a.name.as_deref(), Some("cdn.example.net"));
        assert_eq!(a.name_source, Some(NameSource::DnsAnswer));
        let b = AppInfo::http("x.example").named_by_dns_answer("y.example");
        assert_eq!(b.name.as_deref(), Some("x.example"));
    }
}
