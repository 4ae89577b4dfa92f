//! What one synthesized flow looks like: its kind (TLS, QUIC, DNS, HTTP, opaque TCP or UDP),
//! drawn from a traffic mix, and its bytes, built with the library's recipes and payload
//! builders: a TLS 1.3 connection with a browser ClientHello (a share of them post-quantum, so
//! spanning two segments), a certificate-sized server flight and several request/response
//! rounds of application_data; a QUIC v1 connection whose Initials are really protected, then
//! 1-RTT filler; a DNS query and answer; an HTTP/1.1 GET; opaque bytes on ports no inspector
//! names.
//!
//! Sizes are heavy-tailed (Pareto), so most flows have 10-30 packets and a few have hundreds;
//! each flow is then stretched in time (think time) so that flows overlap as on a real link.

use std::net::IpAddr;

use crate::conversation::{TcpConversation, Timing, UdpExchange};
use crate::dns::{rtype, Answer};
use crate::flow::{AppInfo, Flow};
use crate::quic::{self, ClientInitials};
use crate::recipes::{self, Endpoints, RecipeError};
use crate::rng::Rng;
use crate::tls::{self, ClientHello};

use super::catalog::unit;

/// The kind of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// TLS over TCP 443, named by its SNI.
    Tls,
    /// QUIC v1 over UDP 443, named by the SNI in its Initials.
    Quic,
    /// A DNS query and answer over UDP 53, named by the question.
    Dns,
    /// HTTP/1.1 over TCP 80, named by the Host header.
    Http,
    /// TCP with bytes no inspector recognises; no name.
    OpaqueTcp,
    /// UDP with bytes no inspector recognises; no name.
    OpaqueUdp,
}

impl Kind {
    /// Every kind, in the order of [`Kind::index`].
    pub const ALL: [Kind; 6] = [
        Kind::Tls,
        Kind::Quic,
        Kind::Dns,
        Kind::Http,
        Kind::OpaqueTcp,
        Kind::OpaqueUdp,
    ];

    /// Position in [`Kind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name for summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tls => "tls",
            Kind::Quic => "quic",
            Kind::Dns => "dns",
            Kind::Http => "http",
            Kind::OpaqueTcp => "opaque_tcp",
            Kind::OpaqueUdp => "opaque_udp",
        }
    }

    /// Whether the flow goes to a named host (else to a server no name points to).
    pub fn is_named(self) -> bool {
        !matches!(self, Kind::OpaqueTcp | Kind::OpaqueUdp)
    }
}

/// Shares of the kinds of flows, in percent (any weights work; they need not sum to 100).
/// The default is a mobile evening: 55 % TLS, 20 % QUIC, 15 % DNS, 5 % HTTP, 5 % opaque
/// (half TCP, half UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// TLS over TCP.
    pub tls: u32,
    /// QUIC.
    pub quic: u32,
    /// DNS over UDP.
    pub dns: u32,
    /// HTTP/1.1.
    pub http: u32,
    /// Opaque TCP and UDP, half each.
    pub opaque: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            tls: 55,
            quic: 20,
            dns: 15,
            http: 5,
            opaque: 5,
        }
    }
}

impl Mix {
    /// A kind drawn from the mix.
    pub fn pick(&self, rng: &mut Rng) -> Kind {
        let weights = [
            (Kind::Tls, u64::from(self.tls) * 2),
            (Kind::Quic, u64::from(self.quic) * 2),
            (Kind::Dns, u64::from(self.dns) * 2),
            (Kind::Http, u64::from(self.http) * 2),
            (Kind::OpaqueTcp, u64::from(self.opaque)),
            (Kind::OpaqueUdp, u64::from(self.opaque)),
        ];
        let total: u64 = weights.iter().map(|w| w.1).sum();
        if total == 0 {
            return Kind::Tls;
        }
        let mut x = rng.next_u64() % total;
        for (kind, w) in weights {
            if x < w {
                return kind;
            }
            x -= w;
        }
        Kind::Tls
    }
}

/// Server ports of opaque TCP flows (XMPP, mobile push, MQTT, game servers).
const OPAQUE_TCP_PORTS: [u16; 5] = [5222, 5228, 8883, 9339, 7275];
/// Server ports of opaque UDP flows (STUN/TURN, game servers, voice).
const OPAQUE_UDP_PORTS: [u16; 4] = [3478, 27015, 9000, 50_000];
/// Paths of HTTP requests.
const HTTP_PATHS: [&str; 5] = [
    "/",
    "/generate_204",
    "/index.html",
    "/api/v1/feed",
    "/img/a.jpg",
];
/// Longest response body of one round, so that one flow stays below a few thousand packets.
const MAX_RESPONSE: f64 = 1_500_000.0;
/// Longest gap between two packets of a stretched flow: below every idle timeout.
const MAX_GAP_NS: u64 = 45_000_000_000;
/// Longest duration a flow is stretched to.
const MAX_DURATION_S: f64 = 240.0;

/// A Pareto-distributed value of scale `xm` and shape `alpha`, at most `cap`.
pub fn pareto(rng: &mut Rng, xm: f64, alpha: f64, cap: f64) -> f64 {
    let u = 1.0 - unit(rng); // (0, 1]
    (xm / u.powf(1.0 / alpha)).min(cap)
}

/// `true` with probability `percent` / 100.
pub fn chance(rng: &mut Rng, percent: u64) -> bool {
    rng.next_u64() % 100 < percent
}

/// Rounds (request and response pairs) of a connection: 1 + geometric, at most `max`.
fn rounds(rng: &mut Rng, continue_percent: u64, max: usize) -> usize {
    let mut n = 1;
    while n < max && chance(rng, continue_percent) {
        n += 1;
    }
    n
}

/// Timing of one flow: a round trip of 10-80 ms and 20-300 µs between back-to-back packets.
fn timing(rng: &mut Rng, start_ns: u64) -> Timing {
    Timing {
        start_ns,
        gap_ns: rng.range(20_000, 300_000),
        turn_ns: rng.range(5_000_000, 40_000_000),
    }
}

/// A flow to build: kind, host name (for named kinds), addresses and start.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Kind of flow.
    pub kind: Kind,
    /// Host name it is named after (ignored for opaque kinds).
    pub host: &'a str,
    /// Where the host resolves to in the flow's family (the DNS answer).
    pub host_addr: IpAddr,
    /// Client and server, path, start.
    pub ep: Endpoints,
}

/// The server port a flow of `kind` uses.
pub fn server_port(kind: Kind, rng: &mut Rng) -> u16 {
    let pick = |rng: &mut Rng, ports: &[u16]| {
        ports
            .get(rng.next_u64() as usize % ports.len().max(1))
            .copied()
            .unwrap_or(443)
    };
    match kind {
        Kind::Tls | Kind::Quic => 443,
        Kind::Dns => 53,
        Kind::Http => 80,
        Kind::OpaqueTcp => pick(rng, &OPAQUE_TCP_PORTS),
        Kind::OpaqueUdp => pick(rng, &OPAQUE_UDP_PORTS),
    }
}

/// Builds the flow `spec` describes, its bytes drawn from `rng`.
pub fn build(spec: &Spec<'_>, rng: &mut Rng) -> Result<Flow, RecipeError> {
    let mut flow = match spec.kind {
        Kind::Tls => tls_flow(spec, rng)?,
        Kind::Quic => quic_flow(spec, rng)?,
        Kind::Dns => dns_flow(spec, rng)?,
        Kind::Http => http_flow(spec, rng)?,
        Kind::OpaqueTcp => opaque_tcp_flow(spec, rng)?,
        Kind::OpaqueUdp => opaque_udp_flow(spec, rng)?,
    };
    if spec.kind != Kind::Dns {
        let target_s = pareto(rng, 1.0, 1.1, MAX_DURATION_S);
        stretch(&mut flow, (target_s * 1e9) as u64);
    }
    Ok(flow)
}

/// Spreads a flow's packets over about `target_ns` (think time between them), keeping their
/// order and no gap longer than [`MAX_GAP_NS`]; a flow already that long is left alone. The
/// frames that close a TCP connection keep their natural gaps after the last stretched one: a
/// close follows within a round trip.
pub fn stretch(flow: &mut Flow, target_ns: u64) {
    let body = flow.frames.len().saturating_sub(flow.close_frames);
    let (Some(first), Some(last)) = (flow.frames.first(), flow.frames[..body].last()) else {
        return;
    };
    let (start, natural) = (first.ts_ns, last.ts_ns.saturating_sub(first.ts_ns));
    let widest = flow.frames[..body]
        .windows(2)
        .map(|w| w[1].ts_ns.saturating_sub(w[0].ts_ns))
        .max()
        .unwrap_or(0);
    if natural == 0 || target_ns <= natural {
        return;
    }
    let factor = (target_ns as f64 / natural as f64).min(MAX_GAP_NS as f64 / widest.max(1) as f64);
    if factor <= 1.0 {
        return;
    }
    let old_last = last.ts_ns;
    let new_last = start + (natural as f64 * factor) as u64;
    for (i, f) in flow.frames.iter_mut().enumerate() {
        f.ts_ns = if i < body {
            start + ((f.ts_ns - start) as f64 * factor) as u64
        } else {
            new_last + (f.ts_ns - old_last)
        };
    }
}

fn tls_flow(spec: &Spec<'_>, rng: &mut Rng) -> Result<Flow, RecipeError> {
    let hello = ClientHello::browser(rng, Some(spec.host)).with_post_quantum(chance(rng, 40));
    let mut conv = TcpConversation::new(spec.ep.client, spec.ep.server, spec.ep.path, 0)
        .isns(rng.next_u32(), rng.next_u32());
    conv.timing = timing(rng, spec.ep.start_ns);
    // Encrypted extensions + certificate chain, CertificateVerify, Finished.
    let cert = rng.range(2_000, 4_600) as usize;
    let flight = tls::server_flight(rng, &hello, &[cert, 264, 52]);
    conv = conv.client_sends(hello.to_records(1)).server_sends(flight);
    let n = rounds(rng, 55, 12);
    for i in 0..n {
        let request = rng.range(60, 700) as usize;
        let response = pareto(rng, 900.0, 1.15, MAX_RESPONSE) as usize;
        let mut c = if i == 0 {
            tls::client_finished(rng)
        } else {
            Vec::new()
        };
        c.extend_from_slice(&tls::application_data(rng, &[request]));
        conv = conv
            .client_sends(c)
            .server_sends(tls::application_data(rng, &[response]));
    }
    Ok(Flow::tcp(&conv, AppInfo::tls(&hello))?)
}

fn quic_flow(spec: &Spec<'_>, rng: &mut Rng) -> Result<Flow, RecipeError> {
    let dcid = rng.bytes(8);
    let scid = rng.bytes(8);
    let server_cid = rng.bytes(8);
    let hello = ClientHello::browser(rng, Some(spec.host))
        .with_alpn(&["h3"])
        .with_post_quantum(chance(rng, 40))
        .for_quic(quic::client_transport_parameters(&scid));
    let initials =
        ClientInitials::new(dcid.clone(), scid.clone(), hello.handshake_message()).datagrams()?;
    let mut ex = UdpExchange::new(spec.ep.client, spec.ep.server, spec.ep.path, 0);
    ex.timing = timing(rng, spec.ep.start_ns);
    for d in initials {
        ex = ex.client_sends(d);
    }
    let sh = tls::server_hello_message(rng, &hello);
    ex = ex.server_sends(quic::server_initial(&dcid, &scid, &server_cid, &sh)?);
    // The rest of the server's handshake (certificate), then the client's Finished.
    for _ in 0..rng.range(1, 3) {
        ex = ex.server_sends(quic::short_header_filler(rng, &scid, 1_200));
    }
    ex = ex.client_sends(quic::short_header_filler(rng, &server_cid, 90));
    for _ in 0..rounds(rng, 50, 10) {
        let request = rng.range(40, 400) as usize;
        ex = ex.client_sends(quic::short_header_filler(rng, &server_cid, request));
        let response = pareto(rng, 1_200.0, 1.15, MAX_RESPONSE) as usize;
        let packets = response.div_ceil(1_250).max(1);
        for p in 0..packets {
            let len = if p + 1 == packets {
                (response - p * 1_250).max(40)
            } else {
                1_250
            };
            ex = ex.server_sends(quic::short_header_filler(rng, &scid, len));
            // An ACK every fourth packet.
            if p % 4 == 3 {
                ex = ex.client_sends(quic::short_header_filler(rng, &server_cid, 45));
            }
        }
    }
    Ok(Flow::udp(&ex, AppInfo::quic(&hello))?)
}

fn dns_flow(spec: &Spec<'_>, rng: &mut Rng) -> Result<Flow, RecipeError> {
    let (qtype, answer) = match spec.host_addr {
        IpAddr::V4(a) => (rtype::A, Answer::A(a)),
        IpAddr::V6(a) => (rtype::AAAA, Answer::Aaaa(a)),
    };
    let mut answers = Vec::with_capacity(2);
    if spec.host.len() < 200 && chance(rng, 30) {
        answers.push(Answer::Cname(format!("{}.edge.example.net", spec.host)));
    }
    answers.push(answer);
    let id = rng.next_u32() as u16;
    recipes::dns_udp_flow(&spec.ep, id, spec.host, qtype, &answers)
}

fn http_flow(spec: &Spec<'_>, rng: &mut Rng) -> Result<Flow, RecipeError> {
    let path = HTTP_PATHS
        .get(rng.next_u64() as usize % HTTP_PATHS.len())
        .copied()
        .unwrap_or("/");
    let body = pareto(rng, 400.0, 1.2, 200_000.0) as usize;
    recipes::http_flow(&spec.ep, rng, spec.host, path, body, false)
}

/// Random bytes whose first byte no inspector takes for TLS (0x16), HTTP (a letter), a QUIC
/// long header (high bit) or DNS framing.
fn opaque_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut b = rng.bytes(len.max(1));
    if let Some(first) = b.first_mut() {
        *first &= 0x0f;
    }
    b
}

fn opaque_tcp_flow(spec: &Spec<'_>, rng: &mut Rng) -> Result<Flow, RecipeError> {
    let mut conv = TcpConversation::new(spec.ep.client, spec.ep.server, spec.ep.path, 0)
        .isns(rng.next_u32(), rng.next_u32());
    conv.timing = timing(rng, spec.ep.start_ns);
    for _ in 0..rounds(rng, 60, 12) {
        let c = rng.range(20, 400) as usize;
        let s = pareto(rng, 200.0, 1.2, 200_000.0) as usize;
        conv = conv
            .client_sends(opaque_bytes(rng, c))
            .server_sends(opaque_bytes(rng, s));
    }
    Ok(Flow::tcp(&conv, AppInfo::opaque())?)
}

fn opaque_udp_flow(spec: &Spec<'_>, rng: &mut Rng) -> Result<Flow, RecipeError> {
    let mut ex = UdpExchange::new(spec.ep.client, spec.ep.server, spec.ep.path, 0);
    ex.timing = timing(rng, spec.ep.start_ns);
    let n = pareto(rng, 4.0, 1.3, 300.0) as usize;
    for _ in 0..n {
        let c = rng.range(40, 300) as usize;
        ex = ex.client_sends(opaque_bytes(rng, c));
        let s = rng.range(40, 1_000) as usize;
        ex = ex.server_sends(opaque_bytes(rng, s));
    }
    Ok(Flow::udp(&ex, AppInfo::opaque())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{NameSource, Proto};
    use crate::packets::{Link, Path};

    fn spec(kind: Kind) -> Spec<'static> {
        Spec {
            kind,
            host: "www.tiktok.com",
            host_addr: "198.18.0.7".parse().unwrap(),
            ep: Endpoints {
                client: "10.45.0.1:40000".parse().unwrap(),
                server: "198.18.0.7:443".parse().unwrap(),
                path: Path::on(Link::ethernet()),
                start_ns: 1_000_000_000,
            },
        }
    }

    #[test]
    fn mix_shares_follow_the_weights() {
        let mix = Mix::default();
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 6];
        for _ in 0..20_000 {
            counts[mix.pick(&mut rng).index()] += 1;
        }
        let share = |k: Kind| f64::from(counts[k.index()]) / 20_000.0;
        assert!((0.53..0.57).contains(&share(Kind::Tls)), "{counts:?}");
        assert!((0.18..0.22).contains(&share(Kind::Quic)), "{counts:?}");
        assert!((0.13..0.17).contains(&share(Kind::Dns)), "{counts:?}");
        assert!(
            (0.015..0.035).contains(&share(Kind::OpaqueUdp)),
            "{counts:?}"
        );
    }

    #[test]
    fn each_kind_expects_its_name_and_source() {
        let mut rng = Rng::new(2);
        let cases = [
            (Kind::Tls, Some(Proto::Tls), Some(NameSource::Sni)),
            (Kind::Quic, Some(Proto::Quic), Some(NameSource::QuicSni)),
            (Kind::Dns, Some(Proto::Dns), Some(NameSource::DnsQuery)),
            (Kind::Http, Some(Proto::Http), Some(NameSource::Host)),
            (Kind::OpaqueTcp, None, None),
            (Kind::OpaqueUdp, None, None),
        ];
        for (kind, proto, source) in cases {
            let f = build(&spec(kind), &mut rng).unwrap();
            let e = f.expected();
            assert_eq!((e.proto, e.name_source), (proto, source), "{kind:?}");
            if proto.is_some() {
                assert_eq!(e.name.as_deref(), Some("www.tiktok.com"));
            } else {
                assert_eq!(e.name, None);
            }
            assert!(
                f.frames.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns),
                "{kind:?} frames out of order"
            );
            assert_eq!(f.first_ts(), 1_000_000_000);
        }
    }

    #[test]
    fn stretching_keeps_order_and_caps_gaps() {
        let mut rng = Rng::new(4);
        let mut f = build(&spec(Kind::Tls), &mut rng).unwrap();
        stretch(&mut f, 3_600_000_000_000);
        assert!(f.frames.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        let widest = f
            .frames
            .windows(2)
            .map(|w| w[1].ts_ns - w[0].ts_ns)
            .max()
            .unwrap();
        assert!(widest <= MAX_GAP_NS + 1, "{widest}");
        assert_eq!(f.first_ts(), 1_000_000_000);
        // The close (FIN, FIN, ACK) still follows within a round trip.
        assert_eq!(f.close_frames, 3);
        let close = &f.frames[f.frames.len() - 4..];
        assert!(close
            .windows(2)
            .all(|w| w[1].ts_ns - w[0].ts_ns < 1_000_000_000));
    }

    #[test]
    fn pareto_is_at_least_its_scale_and_at_most_its_cap() {
        let mut rng = Rng::new(5);
        for _ in 0..10_000 {
            let x = pareto(&mut rng, 10.0, 1.1, 1_000.0);
            assert!((10.0..=1_000.0).contains(&x));
        }
    }
}
