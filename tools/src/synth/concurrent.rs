//! A capture of many flows all open at once, for memory tests: each flow is one TCP SYN (and,
//! when asked, the server's SYN-ACK) from a subscriber to a named host on port 443, every SYN
//! within [`ConcurrentConfig::span_s`] seconds, far below any idle timeout, so a reader holds
//! every flow at the end. Subscribers are added as needed so that no two flows share a 5-tuple.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use crate::flow::{AppInfo, Flow, L4};
use crate::packets::{tcp_packet, Direction, Frame, Link, Path as NetPath, TcpFlags, TcpSegment};
use crate::pcap_writer::LinkType;
use crate::rng::Rng;

use super::net::{self, Subscribers};
use super::writer::{CaptureSink, Format};
use super::{create, expected_path, Summary, SynthError, DEFAULT_START_NS};

/// Client ports one subscriber can use.
const PORTS_PER_SUBSCRIBER: u64 = 64_512;
/// Distinct server addresses the flows go to.
const SERVERS: u32 = 4_096;

/// What to write.
#[derive(Debug, Clone)]
pub struct ConcurrentConfig {
    /// Flows (each open at the end of the capture).
    pub flows: u64,
    /// Seed of the initial sequence numbers (default 1).
    pub seed: u64,
    /// Subscribers at least (more are used when the flows need more ports; default 1).
    pub subscribers: u32,
    /// Whether the server answers each SYN (two packets per flow instead of one).
    pub syn_ack: bool,
    /// Carry packets in GTP-U.
    pub gtpu: bool,
    /// pcap or pcapng.
    pub format: Format,
    /// Timestamp of the first SYN.
    pub start_ns: u64,
    /// Seconds over which the SYNs are spread (default 60).
    pub span_s: u64,
    /// Whether to write the expected flows (one line per flow: about 250 bytes each).
    pub expected: bool,
}

impl Default for ConcurrentConfig {
    fn default() -> Self {
        ConcurrentConfig {
            flows: 1_000_000,
            seed: 1,
            subscribers: 1,
            syn_ack: false,
            gtpu: false,
            format: Format::Pcap,
            start_ns: DEFAULT_START_NS,
            span_s: 60,
            expected: true,
        }
    }
}

/// Writes the capture to `out` and, when asked, the expected flows beside it.
pub fn write_files(cfg: &ConcurrentConfig, out: &Path) -> Result<Summary, SynthError> {
    let capture = create(out)?;
    if cfg.expected {
        generate(cfg, capture, Some(create(&expected_path(out))?))
    } else {
        generate::<_, std::io::Sink>(cfg, capture, None)
    }
}

/// Writes the capture to `capture` and the expected flows to `expected`.
pub fn generate<C: Write, E: Write>(
    cfg: &ConcurrentConfig,
    capture: C,
    mut expected: Option<E>,
) -> Result<Summary, SynthError> {
    let needed = cfg.flows.div_ceil(PORTS_PER_SUBSCRIBER);
    if needed > u64::from(net::MAX_SUBSCRIBERS) {
        return Err(SynthError::Config(format!(
            "{} flows need more than {} subscribers",
            cfg.flows,
            net::MAX_SUBSCRIBERS
        )));
    }
    let n_subs = (needed as u32)
        .max(cfg.subscribers)
        .clamp(1, net::MAX_SUBSCRIBERS);
    let mut subscribers = Subscribers::new(n_subs);
    let mut sink = CaptureSink::new(capture, cfg.format, LinkType::ETHERNET)?;
    let mut rng = Rng::new(cfg.seed);
    let step_ns = cfg.span_s.saturating_mul(1_000_000_000) / cfg.flows.max(1);
    let mut summary = Summary::default();
    let mut line = Vec::with_capacity(320);
    for i in 0..cfg.flows {
        let sub = (i % u64::from(n_subs)) as u32;
        let v6 = i % 3 == 2;
        let client = SocketAddr::new(net::subscriber(sub, v6), subscribers.next_port(sub));
        let server = SocketAddr::new(net::host((i % u64::from(SERVERS)) as u32, v6), 443);
        let path = if cfg.gtpu {
            NetPath::tunneled(Link::ethernet(), net::tunnel(sub))
        } else {
            NetPath::on(Link::ethernet())
        };
        let ts = cfg.start_ns + i * step_ns;
        let isn = rng.next_u32();
        let syn = TcpFlags {
            syn: true,
            ..TcpFlags::default()
        };
        let mut frames = vec![segment(
            &path,
            Direction::ClientToServer,
            client,
            server,
            isn,
            syn,
            ts,
        )?];
        if cfg.syn_ack {
            let flags = TcpFlags {
                syn: true,
                ack: Some(isn.wrapping_add(1)),
                ..TcpFlags::default()
            };
            let isn_s = rng.next_u32();
            let at = ts + step_ns / 2;
            frames.push(segment(
                &path,
                Direction::ServerToClient,
                server,
                client,
                isn_s,
                flags,
                at,
            )?);
        }
        for f in &frames {
            sink.write(f.ts_ns, &f.bytes)?;
            summary.packets += 1;
            summary.wire_bytes += f.bytes.len() as u64;
            summary.last_ts_ns = f.ts_ns;
        }
        if let Some(out) = expected.as_mut() {
            let flow = Flow {
                l4: L4::Tcp,
                client,
                server,
                teid: path.gtpu.map(|t| t.teid),
                app: AppInfo::opaque(),
                frames,
                close_frames: 0,
            };
            line.clear();
            serde_json::to_writer(&mut line, &flow.expected())?;
            line.push(b'\n');
            out.write_all(&line)?;
        }
        if i == 0 {
            summary.first_ts_ns = ts;
        }
        summary.flows += 1;
        summary.by_kind[super::mix::Kind::OpaqueTcp.index()] += 1;
    }
    summary.file_bytes = sink.file_bytes();
    sink.finish()?;
    if let Some(out) = expected.as_mut() {
        out.flush()?;
    }
    Ok(summary)
}

fn segment(
    path: &NetPath,
    dir: Direction,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    flags: TcpFlags,
    ts_ns: u64,
) -> Result<Frame, SynthError> {
    let seg = TcpSegment {
        seq,
        flags,
        window: 64_240,
        mss: Some(1_400),
        payload: &[],
    };
    let ip = tcp_packet(src, dst, 64, &seg).map_err(|e| SynthError::Config(e.to_string()))?;
    let bytes = path
        .frame(dir, &ip)
        .map_err(|e| SynthError::Config(e.to_string()))?;
    Ok(Frame {
        ts_ns,
        dir,
        link_type: LinkType::ETHERNET,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flow_has_its_own_five_tuple_and_one_syn() {
        let cfg = ConcurrentConfig {
            flows: 70_000,
            syn_ack: false,
            ..ConcurrentConfig::default()
        };
        let mut exp = Vec::new();
        let s = generate(&cfg, std::io::sink(), Some(&mut exp)).unwrap();
        assert_eq!((s.flows, s.packets), (70_000, 70_000));
        let text = String::from_utf8(exp).unwrap();
        let mut keys = std::collections::HashSet::new();
        for l in text.lines() {
            let e: crate::flow::ExpectedFlow = serde_json::from_str(l).unwrap();
            assert_eq!((e.packets.c2s, e.packets.s2c), (1, 0));
            assert!(keys.insert((e.client, e.server)));
        }
        assert_eq!(keys.len(), 70_000);
        assert!(s.last_ts_ns - s.first_ts_ns < 60_000_000_000);
    }

    #[test]
    fn syn_ack_doubles_the_packets() {
        let cfg = ConcurrentConfig {
            flows: 10,
            syn_ack: true,
            gtpu: true,
            ..ConcurrentConfig::default()
        };
        let s = generate::<_, std::io::Sink>(&cfg, std::io::sink(), None).unwrap();
        assert_eq!(s.packets, 20);
    }
}
