//! The traffic synthesizer: a capture of a mobile operator's link over a simulated evening, as
//! large as asked (millions of packets, gigabytes), with the flows a classifier must find in it
//! written beside it (`<stem>.expected.jsonl`, one [`ExpectedFlow`] per line in order of each
//! flow's first packet, as for the fixtures).
//!
//! Subscribers ([`net`]) open flows at random times (a Poisson process spread over
//! [`Config::span_s`]); each flow's kind is drawn from a [`mix::Mix`] (TLS, QUIC, DNS, HTTP,
//! opaque) and its host from an app's domains ([`catalog`]), apps having Zipf popularity. Flows are built
//! one at a time in order of their start and their frames are merged into the capture by a heap
//! of the flows in progress ([`merge`]), written as they come ([`writer`]): memory holds only
//! the flows in progress, never the capture. Everything follows from [`Config::seed`]: the same
//! configuration writes the same bytes.
//!
//! [`concurrent`] writes the other shape a benchmark needs: millions of flows all open at once.

pub mod catalog;
pub mod concurrent;
pub mod merge;
pub mod mix;
pub mod net;
pub mod writer;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::flow::ExpectedFlow;
use crate::packets::{Link, Path as NetPath};
use crate::pcap_writer::LinkType;
use crate::recipes::{Endpoints, RecipeError};
use crate::rng::Rng;

use catalog::{unit, Zipf};
use merge::Merger;
use mix::{Kind, Mix, Spec};
use net::Subscribers;
use writer::CaptureSink;
pub use writer::Format;

/// Changes whenever the same configuration would write different bytes (benchmarks key their
/// cached captures by it).
pub const GENERATOR_VERSION: u32 = 3;
/// 2024-06-01T18:00:00Z: the evening every capture starts at by default, in nanoseconds.
pub const DEFAULT_START_NS: u64 = 1_717_264_800 * 1_000_000_000;
/// Flows written when no target is given.
pub const DEFAULT_FLOWS: u64 = 10_000;
/// Packets a flow of the default mix has on average (to spread start times over the span).
const MEAN_PACKETS_PER_FLOW: u64 = 22;
/// Bytes a flow of the default mix takes in a capture on average.
const MEAN_BYTES_PER_FLOW: u64 = 20_000;
/// Host name prefixes of an app domain, with their weights.
const PREFIXES: [(&str, u64); 8] = [
    ("", 30),
    ("www.", 20),
    ("api.", 20),
    ("m.", 10),
    ("cdn.", 8),
    ("static.", 5),
    ("edge.", 4),
    ("i.", 3),
];
/// Buffer of each output file.
const BUFFER: usize = 1 << 20;

/// What to synthesize. Every field has a default ([`Config::default`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Seed of every random choice (default 1).
    pub seed: u64,
    /// Subscribers (default 2000, at most [`net::MAX_SUBSCRIBERS`]).
    pub subscribers: u32,
    /// Stop once this many flows are built (with the other targets, all must be reached).
    pub flows: Option<u64>,
    /// Stop once the flows built hold this many packets.
    pub packets: Option<u64>,
    /// Stop once the capture holds about this many bytes.
    pub bytes: Option<u64>,
    /// Carry every subscriber packet in GTP-U (TEID per subscriber) (default off).
    pub gtpu: bool,
    /// pcap (default) or pcapng.
    pub format: Format,
    /// Apps, most popular first, each the list of its domains, optionally marked as in the
    /// catalog (`=name`: the name only, `*.name`: subdomains only) (default:
    /// [`catalog::builtin`]).
    pub apps: Vec<Vec<String>>,
    /// Zipf exponent of app popularity (default 1.0).
    pub zipf_s: f64,
    /// Kinds of flows (default: [`Mix::default`]).
    pub mix: Mix,
    /// Share of flows over IPv6, in percent (default 35).
    pub ipv6_percent: u64,
    /// Timestamp of the first flow (default [`DEFAULT_START_NS`]).
    pub start_ns: u64,
    /// Seconds over which flow starts are spread (default 1800).
    pub span_s: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            subscribers: 2_000,
            flows: None,
            packets: None,
            bytes: None,
            gtpu: false,
            format: Format::Pcap,
            apps: catalog::builtin(),
            zipf_s: 1.0,
            mix: Mix::default(),
            ipv6_percent: 35,
            start_ns: DEFAULT_START_NS,
            span_s: 1_800,
        }
    }
}

impl Config {
    /// The flow target, or [`DEFAULT_FLOWS`] when no target at all is set.
    fn flow_target(&self) -> u64 {
        match (self.flows, self.packets, self.bytes) {
            (None, None, None) => DEFAULT_FLOWS,
            (f, _, _) => f.unwrap_or(0),
        }
    }

    /// About how many flows the targets need (to spread their starts over the span).
    fn estimated_flows(&self) -> u64 {
        self.flow_target()
            .max(self.packets.unwrap_or(0) / MEAN_PACKETS_PER_FLOW)
            .max(self.bytes.unwrap_or(0) / MEAN_BYTES_PER_FLOW)
            .max(1)
    }

    fn reached(&self, s: &Summary, file_bytes: u64) -> bool {
        s.flows >= self.flow_target()
            && s.packets >= self.packets.unwrap_or(0)
            && file_bytes >= self.bytes.unwrap_or(0)
    }

    /// Checks that the configuration can work.
    pub fn check(&self) -> Result<(), SynthError> {
        if self.apps.is_empty() || self.apps.iter().any(Vec::is_empty) {
            return Err(SynthError::Config(
                "every app needs a domain to name flows after".into(),
            ));
        }
        if let Some(bad) = self
            .apps
            .iter()
            .flatten()
            .find(|d| !catalog::is_hostname(catalog::split_rule(d).0))
        {
            return Err(SynthError::Config(format!("{bad:?} is not a host name")));
        }
        if self.subscribers == 0 || self.subscribers > net::MAX_SUBSCRIBERS {
            return Err(SynthError::Config(format!(
                "subscribers must be 1..={}, not {}",
                net::MAX_SUBSCRIBERS,
                self.subscribers
            )));
        }
        if !(self.zipf_s.is_finite() && self.zipf_s >= 0.0) {
            return Err(SynthError::Config(format!(
                "Zipf exponent {} is not a non-negative number",
                self.zipf_s
            )));
        }
        if self.ipv6_percent > 100 {
            return Err(SynthError::Config(format!(
                "IPv6 share {} % is above 100 %",
                self.ipv6_percent
            )));
        }
        Ok(())
    }
}

/// Errors of the synthesizer.
#[derive(Debug, Error)]
pub enum SynthError {
    /// A file could not be created or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing to a stream failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    /// A flow could not be built.
    #[error("building flow {flow}: {source}")]
    Recipe {
        /// Number of the flow.
        flow: u64,
        /// Cause.
        source: RecipeError,
    },
    /// An expected record could not be serialized.
    #[error("serializing an expected flow: {0}")]
    Json(#[from] serde_json::Error),
    /// The configuration cannot work.
    #[error("bad configuration: {0}")]
    Config(String),
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Flows.
    pub flows: u64,
    /// Frames.
    pub packets: u64,
    /// Frame bytes (wire lengths).
    pub wire_bytes: u64,
    /// Bytes of the capture file, headers included.
    pub file_bytes: u64,
    /// Flows per kind, indexed by [`Kind::index`].
    pub by_kind: [u64; 6],
    /// Timestamp of the first and the last frame.
    pub first_ts_ns: u64,
    /// Timestamp of the last frame.
    pub last_ts_ns: u64,
}

impl Summary {
    /// Mean frame length in bytes.
    pub fn mean_packet_len(&self) -> f64 {
        self.wire_bytes as f64 / self.packets.max(1) as f64
    }
}

/// Where the expected flows of `capture` go: beside it, `<stem>.expected.jsonl` (as for the
/// fixtures: `evening.pcap` -> `evening.expected.jsonl`).
pub fn expected_path(capture: &Path) -> PathBuf {
    capture.with_extension("expected.jsonl")
}

/// Creates `path` for buffered writing.
pub(crate) fn create(path: &Path) -> Result<BufWriter<File>, SynthError> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(BUFFER, f))
        .map_err(|source| SynthError::File {
            path: path.to_owned(),
            source,
        })
}

/// Writes the capture to `out` and its expected flows to [`expected_path`]`(out)`.
pub fn write_files(cfg: &Config, out: &Path) -> Result<Summary, SynthError> {
    let expected = expected_path(out);
    let summary = generate(cfg, create(out)?, create(&expected)?)?;
    Ok(summary)
}

/// The index in [`PREFIXES`] that random value `x` picks for a domain covered by `rule`: never
/// a prefix for an exact name, always one for a subdomains-only entry.
fn pick_prefix(x: u64, rule: catalog::Rule) -> usize {
    let first = match rule {
        catalog::Rule::Exact => return 0,
        catalog::Rule::SubdomainsOnly => 1,
        catalog::Rule::NameAndSubdomains => 0,
    };
    let choices = PREFIXES.get(first..).unwrap_or(&[]);
    let total: u64 = choices.iter().map(|p| p.1).sum();
    let mut x = x % total.max(1);
    for (i, p) in choices.iter().enumerate() {
        if x < p.1 {
            return first + i;
        }
        x -= p.1;
    }
    first
}

/// A seed for flow number `i` of a capture seeded with `seed`, so a flow's bytes do not
/// depend on how many random numbers the flows before it drew.
fn flow_seed(seed: u64, i: u64) -> u64 {
    let mut r = Rng::new(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    r.next_u64()
}

/// The gap to the next flow start of a Poisson process whose mean gap is `mean_gap_ns`.
pub fn next_gap_ns(rng: &mut Rng, mean_gap_ns: f64) -> u64 {
    (-(1.0 - unit(rng)).ln() * mean_gap_ns) as u64
}

/// What one flow of the mix is, drawn before its bytes are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    /// Kind of flow.
    pub kind: Kind,
    /// The subscriber that opens it.
    pub sub: u32,
    /// Whether it runs over IPv6.
    pub v6: bool,
    /// The host it is named after (an app domain with a prefix; unused by opaque kinds).
    pub host: String,
    /// The host's number (its address follows from it, [`net::host`]).
    pub host_index: u32,
}

/// Draws flows from a configuration's mix and app catalog (Zipf popularity over the apps).
#[derive(Debug, Clone)]
pub struct Drawer {
    apps: Vec<Vec<String>>,
    mix: Mix,
    ipv6_percent: u64,
    zipf: Zipf,
    /// Number of the first domain of each app: a host's number is (domain, prefix).
    first_domain: Vec<usize>,
}

impl Drawer {
    /// A drawer for `cfg`'s apps, mix and IPv6 share.
    pub fn new(cfg: &Config) -> Drawer {
        let first_domain = cfg
            .apps
            .iter()
            .scan(0, |n, a| {
                let first = *n;
                *n += a.len();
                Some(first)
            })
            .collect();
        Drawer {
            apps: cfg.apps.clone(),
            mix: cfg.mix,
            ipv6_percent: cfg.ipv6_percent,
            zipf: Zipf::new(cfg.apps.len(), cfg.zipf_s),
            first_domain,
        }
    }

    /// Draws the next flow, opened by one of `subscribers` subscribers.
    pub fn draw(&self, rng: &mut Rng, subscribers: u32) -> Draw {
        let kind = self.mix.pick(rng);
        let sub = (rng.next_u64() % u64::from(subscribers.max(1))) as u32;
        let v6 = rng.next_u64() % 100 < self.ipv6_percent;
        let app = self.zipf.sample(rng);
        let domains = self.apps.get(app).map_or(&[][..], Vec::as_slice);
        let d = (rng.next_u64() % domains.len().max(1) as u64) as usize;
        let entry = domains.get(d).map_or("", String::as_str);
        let (domain, rule) = catalog::split_rule(entry);
        let prefix = pick_prefix(rng.next_u64(), rule);
        let domain_number = self.first_domain.get(app).copied().unwrap_or(0) + d;
        let host_index = (domain_number * PREFIXES.len() + prefix) as u32;
        let host = format!("{}{}", PREFIXES.get(prefix).map_or("", |p| p.0), domain);
        Draw {
            kind,
            sub,
            v6,
            host,
            host_index,
        }
    }
}

/// Builds flow number `n` of a capture seeded with `seed` as `draw` says, starting at
/// `start_ns`, its frames on `path` (the client port comes from `subscribers`).
pub fn build_drawn(
    seed: u64,
    n: u64,
    draw: &Draw,
    subscribers: &mut Subscribers,
    path: NetPath,
    start_ns: u64,
) -> Result<crate::flow::Flow, RecipeError> {
    let mut frng = Rng::new(flow_seed(seed, n));
    let server_ip = match draw.kind {
        Kind::Dns => net::resolver(draw.v6),
        k if k.is_named() => net::host(draw.host_index, draw.v6),
        _ => net::unnamed_server(frng.next_u32(), draw.v6),
    };
    let client = std::net::SocketAddr::new(
        net::subscriber(draw.sub, draw.v6),
        subscribers.next_port(draw.sub),
    );
    let server = std::net::SocketAddr::new(server_ip, mix::server_port(draw.kind, &mut frng));
    let spec = Spec {
        kind: draw.kind,
        host: &draw.host,
        host_addr: net::host(draw.host_index, draw.v6),
        ep: Endpoints {
            client,
            server,
            path,
            start_ns,
        },
    };
    mix::build(&spec, &mut frng)
}

/// Writes a capture to `capture` and one expected record per flow to `expected`.
pub fn generate<C: Write, E: Write>(
    cfg: &Config,
    capture: C,
    mut expected: E,
) -> Result<Summary, SynthError> {
    cfg.check()?;
    let mut sink = CaptureSink::new(capture, cfg.format, LinkType::ETHERNET)?;
    let mut merger = Merger::new();
    let mut subscribers = Subscribers::new(cfg.subscribers);
    let drawer = Drawer::new(cfg);
    let mut rng = Rng::new(cfg.seed);
    let mean_gap_ns =
        cfg.span_s.saturating_mul(1_000_000_000) as f64 / cfg.estimated_flows() as f64;
    let mut summary = Summary::default();
    let mut est_file_bytes = sink.file_bytes();
    let mut t = cfg.start_ns;
    let mut line = Vec::with_capacity(512);
    while !cfg.reached(&summary, est_file_bytes) {
        if summary.flows > 0 {
            t += next_gap_ns(&mut rng, mean_gap_ns);
        }
        merger.write_until(Some(t), &mut sink)?;

        let draw = drawer.draw(&mut rng, subscribers.len());
        let kind = draw.kind;
        let path = if cfg.gtpu {
            NetPath::tunneled(Link::ethernet(), net::tunnel(draw.sub))
        } else {
            NetPath::on(Link::ethernet())
        };
        let flow = build_drawn(cfg.seed, summary.flows, &draw, &mut subscribers, path, t).map_err(
            |source| SynthError::Recipe {
                flow: summary.flows,
                source,
            },
        )?;

        line.clear();
        serde_json::to_writer(&mut line, &flow.expected())?;
        line.push(b'\n');
        expected.write_all(&line)?;
        summary.flows += 1;
        summary.packets += flow.frames.len() as u64;
        summary.by_kind[kind.index()] += 1;
        for f in &flow.frames {
            summary.wire_bytes += f.bytes.len() as u64;
            est_file_bytes += CaptureSink::<C>::record_len(cfg.format, f.bytes.len()) as u64;
            summary.last_ts_ns = summary.last_ts_ns.max(f.ts_ns);
        }
        if summary.flows == 1 {
            summary.first_ts_ns = flow.first_ts();
        }
        merger.add(summary.flows, flow.frames);
    }
    merger.write_until(None, &mut sink)?;
    summary.file_bytes = sink.file_bytes();
    debug_assert_eq!(sink.packets(), summary.packets);
    sink.finish()?;
    expected.flush()?;
    Ok(summary)
}

/// Reads an expected file back.
pub fn read_expected(path: &Path) -> Result<Vec<ExpectedFlow>, SynthError> {
    let text = std::fs::read_to_string(path).map_err(|source| SynthError::File {
        path: path.to_owned(),
        source,
    })?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(SynthError::from))
        .collect()
}

#[cfg(test)]
mod tests;
