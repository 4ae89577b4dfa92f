//! `pgw-sim`: the P-Gateway simulator. It plays a gateway's flow reporting: subscribers with
//! sessions ([`session`]) open flows drawn like the synthesizer's ([`crate::synth::Drawer`]:
//! the same mix, catalog and flow builders), and every flow becomes `network-traffic` records
//! ([`records`]): `start` with the first payload of each direction, an `update` every minute
//! of its life, `end` at its close. Records come out in time order ([`Generator`]), each with
//! its key (the subscriber's MSISDN), written with pcgate's own
//! [`TrafficRecord::to_json`](control::traffic::record::TrafficRecord::to_json).
//!
//! The same traffic can be written as a GTP-U capture (the frames' times, addresses, TEIDs and
//! payloads are the ones the records describe), so packet mode and flow mode can be compared on
//! identical traffic; and the subscribers as a policy file ([`policy_toml`]). [`kafka`]
//! publishes records to a broker. Some records can be damaged on purpose ([`invalid`]) and
//! some can leave the subscriber out (MSISDN and IMSI), to be found by UE address or TEID.
//!
//! Everything follows from [`Config::synth`]`.seed`. What this does not do: sessions that
//! start or end during the run (every bearer is up for the whole run), or per-packet records.

pub mod invalid;
pub mod kafka;
pub mod records;
pub mod session;
#[cfg(test)]
mod tests;

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::io::Write;

use control::traffic::record::{FlowEvent, Reason, TrafficRecord, PAYLOAD_MAX};
use thiserror::Error;

use crate::packets::{Link, Path};
use crate::pcap_writer::LinkType;
use crate::rng::Rng;
use crate::synth::merge::Merger;
use crate::synth::mix::{self, Kind};
use crate::synth::net::{self, Subscribers};
use crate::synth::writer::{CaptureSink, Format};
use crate::synth::{self, Drawer};

pub use records::Options;
pub use session::Session;

/// Flows made when no target is given.
pub const DEFAULT_FLOWS: u64 = 1_000;
/// Records a flow has on average (to spread flow starts when only a record count is asked).
const MEAN_RECORDS_PER_FLOW: u64 = 3;
/// Longest gap between two packets of a lengthened flow: below pcgate's UDP idle timeout.
const LONG_FLOW_MAX_GAP_NS: u64 = 45_000_000_000;
/// Frames of a flow's opening kept at their natural times when it is lengthened.
const LONG_FLOW_KEEP: usize = 4;
/// Salts of the per-flow random draws that are pgw-sim's own (the synthesizer's are untouched).
const SALT_LONG: u64 = 0x6c6f_6e67;
const SALT_NO_MSISDN: u64 = 0x6d73_6973;

/// What to simulate. Every field has a default ([`Config::default`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Seed, subscribers, mix, catalog, IPv6 share, start time and span of flow starts
    /// (`gtpu`, `format`, `packets`, `bytes` are not used; `flows` is the flow target).
    pub synth: synth::Config,
    /// Stop after this many records (the flows still open then get no `end`).
    pub count: Option<u64>,
    /// Flows each subscriber opens per minute when neither a flow nor a record target is set:
    /// flows start until the span is over (default 2.0).
    pub flows_per_subscriber_minute: f64,
    /// What goes into the records.
    pub records: Options,
    /// Share of flows (except DNS) that last long: 5 to 60 minutes (default 10 %).
    pub long_percent: u64,
    /// Share of flows whose records carry no MSISDN nor IMSI, 0.0..=1.0 (default 0).
    pub no_msisdn_fraction: f64,
    /// After every N valid records, one invalid record (default none).
    pub invalid_every: Option<u64>,
    /// Prefix of flow ids (`<gateway>-<n>`) (default "pgw1").
    pub gateway: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            synth: synth::Config {
                subscribers: 1_000,
                ..synth::Config::default()
            },
            count: None,
            flows_per_subscriber_minute: 2.0,
            records: Options::default(),
            long_percent: 10,
            no_msisdn_fraction: 0.0,
            invalid_every: None,
            gateway: "pgw1".into(),
        }
    }
}

impl Config {
    fn check(&self) -> Result<(), PgwError> {
        self.synth.check().map_err(PgwError::Synth)?;
        let bad = |m: String| Err(PgwError::Config(m));
        if !(0.0..=1.0).contains(&self.no_msisdn_fraction) {
            return bad(format!(
                "the share of records without MSISDN must be 0..=1, not {}",
                self.no_msisdn_fraction
            ));
        }
        if self.long_percent > 100 {
            return bad(format!("long flows {} % is above 100 %", self.long_percent));
        }
        let most = self.records.payload_max.max(self.records.payload_max_s2c);
        if most > PAYLOAD_MAX {
            return bad(format!(
                "payload of {most} bytes is above the record's limit of {PAYLOAD_MAX}"
            ));
        }
        if self.invalid_every == Some(0) {
            return bad("--invalid-every must be at least 1".into());
        }
        if !(self.flows_per_subscriber_minute.is_finite() && self.flows_per_subscriber_minute > 0.0)
        {
            return bad(format!(
                "flows per subscriber and minute must be above 0, not {}",
                self.flows_per_subscriber_minute
            ));
        }
        if self.gateway.is_empty() || self.gateway.len() > 200 {
            return bad("the gateway name must be 1..=200 characters".into());
        }
        Ok(())
    }

    /// Mean nanoseconds between two flow starts.
    fn mean_gap_ns(&self) -> f64 {
        let span_ns = self.synth.span_s.saturating_mul(1_000_000_000) as f64;
        let flows = match (self.synth.flows, self.count) {
            (Some(f), _) => f,
            (None, Some(c)) => c / MEAN_RECORDS_PER_FLOW,
            (None, None) => {
                let per_s =
                    f64::from(self.synth.subscribers) * self.flows_per_subscriber_minute / 60.0;
                return 1e9 / per_s.max(1e-9);
            }
        };
        span_ns / flows.max(1) as f64
    }
}

/// Errors of the simulator.
#[derive(Debug, Error)]
pub enum PgwError {
    /// The synthesizer refused the configuration or a flow.
    #[error(transparent)]
    Synth(synth::SynthError),
    /// A flow could not be built.
    #[error("building flow {flow}: {source}")]
    Recipe {
        flow: u64,
        source: crate::recipes::RecipeError,
    },
    /// The capture could not be written.
    #[error("writing the capture: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration cannot work.
    #[error("bad configuration: {0}")]
    Config(String),
}

/// One record as it goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// The message key: the subscriber's MSISDN (also when the record leaves it out, so a
    /// subscriber's records share a partition).
    pub key: String,
    /// The message: one JSON object, no newline.
    pub json: Vec<u8>,
    /// The record, or `None` for a deliberately invalid one.
    pub record: Option<TrafficRecord<'static>>,
    /// Why the parser refuses a deliberately invalid record.
    pub invalid: Option<Reason>,
}

/// What a run made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub flows: u64,
    /// Records out, invalid ones included.
    pub records: u64,
    pub invalid: u64,
    /// Records out per event: start, update, end.
    pub by_event: [u64; 3],
    /// Flows per kind, indexed by [`Kind::index`].
    pub by_kind: [u64; 6],
    /// Frames written to the capture.
    pub packets: u64,
    /// Time of the first and the last record.
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
}

/// The mix: `N records (start, update, end, invalid) of F flows (per kind)`.
impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records ({} start, {} update, {} end, {} invalid) of {} flows (",
            self.records,
            self.by_event[0],
            self.by_event[1],
            self.by_event[2],
            self.invalid,
            self.flows
        )?;
        let kinds = Kind::ALL.iter().zip(self.by_kind).filter(|(_, n)| *n > 0);
        for (i, (k, n)) in kinds.enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} {n}", k.as_str())?;
        }
        f.write_str(")")
    }
}

/// A record waiting for its time, ordered by (time, flow, position in the flow).
#[derive(Debug)]
struct Pending {
    ts_ns: u64,
    flow: u64,
    index: usize,
    key: u32,
    record: TrafficRecord<'static>,
}

impl Pending {
    fn order(&self) -> (u64, u64, usize) {
        (self.ts_ns, self.flow, self.index)
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.order() == other.order()
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order().cmp(&other.order())
    }
}

/// The capture written beside the records.
struct PcapOut<W: Write> {
    sink: CaptureSink<W>,
    merger: Merger,
}

/// Makes the records of a run, one at a time, in time order. With a capture, the flows'
/// frames go to it as the run goes (memory holds the flows in progress only).
pub struct Generator<W: Write = std::io::Sink> {
    cfg: Config,
    drawer: Drawer,
    rng: Rng,
    subscribers: Subscribers,
    mean_gap_ns: f64,
    /// Start time of the next flow.
    t: u64,
    flows: u64,
    creating: bool,
    heap: BinaryHeap<Reverse<Pending>>,
    pcap: Option<PcapOut<W>>,
    valid_out: u64,
    /// An invalid record to send next.
    pending_invalid: Option<Emitted>,
    summary: Summary,
}

impl Generator<std::io::Sink> {
    /// A run without a capture.
    pub fn new(cfg: &Config) -> Result<Self, PgwError> {
        Generator::build(cfg, None)
    }
}

impl<W: Write> Generator<W> {
    /// A run that also writes its traffic to `capture` as a pcap of Ethernet frames with the
    /// subscribers' packets in GTP-U (one TEID per subscriber).
    pub fn with_capture(cfg: &Config, capture: W) -> Result<Self, PgwError> {
        let sink = CaptureSink::new(capture, Format::Pcap, LinkType::ETHERNET)?;
        Generator::build(
            cfg,
            Some(PcapOut {
                sink,
                merger: Merger::new(),
            }),
        )
    }

    /// A run with a capture when `capture` is given.
    pub fn with_optional_capture(cfg: &Config, capture: Option<W>) -> Result<Self, PgwError> {
        match capture {
            Some(c) => Generator::with_capture(cfg, c),
            None => Generator::build(cfg, None),
        }
    }

    fn build(cfg: &Config, pcap: Option<PcapOut<W>>) -> Result<Self, PgwError> {
        cfg.check()?;
        Ok(Generator {
            cfg: cfg.clone(),
            drawer: Drawer::new(&cfg.synth),
            rng: Rng::new(cfg.synth.seed),
            subscribers: Subscribers::new(cfg.synth.subscribers),
            mean_gap_ns: cfg.mean_gap_ns(),
            t: cfg.synth.start_ns,
            flows: 0,
            creating: true,
            heap: BinaryHeap::new(),
            pcap,
            valid_out: 0,
            pending_invalid: None,
            summary: Summary::default(),
        })
    }

    /// Whether another flow is to start.
    fn wants_flow(&self) -> bool {
        if let Some(f) = self.cfg.synth.flows {
            return self.flows < f;
        }
        if self.cfg.count.is_some() {
            return true; // until the record count is reached
        }
        let end = self
            .cfg
            .synth
            .start_ns
            .saturating_add(self.cfg.synth.span_s.saturating_mul(1_000_000_000));
        self.t < end || self.flows == 0
    }

    /// Starts the next flow: draws and builds it, queues its records, hands its frames to the
    /// capture.
    fn start_flow(&mut self) -> Result<(), PgwError> {
        let n = self.flows;
        if n > 0 {
            self.t = self
                .t
                .saturating_add(synth::next_gap_ns(&mut self.rng, self.mean_gap_ns));
        }
        let draw = self.drawer.draw(&mut self.rng, self.subscribers.len());
        let mut flow = synth::build_drawn(
            self.cfg.synth.seed,
            n,
            &draw,
            &mut self.subscribers,
            Path::on(Link::RawIp),
            self.t,
        )
        .map_err(|source| PgwError::Recipe { flow: n, source })?;
        let mut own =
            Rng::new(self.cfg.synth.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ SALT_LONG);
        if draw.kind != Kind::Dns && mix::chance(&mut own, self.cfg.long_percent) {
            let target_s = mix::pareto(&mut own, 300.0, 1.2, 3_600.0);
            let tail = flow.close_frames;
            records::lengthen(
                &mut flow,
                LONG_FLOW_KEEP,
                tail,
                (target_s * 1e9) as u64,
                LONG_FLOW_MAX_GAP_NS,
            );
        }
        records::to_microseconds(&mut flow);
        let mut anon =
            Rng::new(self.cfg.synth.seed ^ n.wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ SALT_NO_MSISDN);
        let draw_ppm = (anon.next_u64() % 1_000_000) as f64;
        let without_msisdn = draw_ppm < self.cfg.no_msisdn_fraction * 1_000_000.0;
        let session = Session::of(draw.sub);
        let opts = Options {
            without_msisdn,
            ..self.cfg.records
        };
        let mut flow_id = String::with_capacity(self.cfg.gateway.len() + 12);
        let _ = write!(flow_id, "{}-{n}", self.cfg.gateway);
        for (index, record) in records::flow_records(&flow, &flow_id, &session, &opts)
            .into_iter()
            .enumerate()
        {
            self.heap.push(Reverse(Pending {
                ts_ns: record.ts_ns,
                flow: n,
                index,
                key: draw.sub,
                record,
            }));
        }
        if let Some(out) = &mut self.pcap {
            // The new flow's frames start at `self.t` rounded down to the microsecond.
            let first = self.t - self.t % 1_000;
            out.merger.write_until(Some(first), &mut out.sink)?;
            let tunnel = Path::tunneled(Link::ethernet(), net::tunnel(draw.sub));
            for f in &mut flow.frames {
                f.bytes = tunnel
                    .frame(f.dir, &f.bytes)
                    .map_err(|e| PgwError::Config(format!("framing flow {n}: {e}")))?;
            }
            self.summary.packets += flow.frames.len() as u64;
            out.merger.add(n, flow.frames);
        }
        self.flows += 1;
        self.summary.flows += 1;
        if let Some(k) = self.summary.by_kind.get_mut(draw.kind.index()) {
            *k += 1;
        }
        Ok(())
    }

    /// The next record, or `None` when the run is over.
    pub fn next_record(&mut self) -> Result<Option<Emitted>, PgwError> {
        if self.cfg.count.is_some_and(|c| self.summary.records >= c) {
            return Ok(None);
        }
        if let Some(e) = self.pending_invalid.take() {
            self.summary.records += 1;
            self.summary.invalid += 1;
            return Ok(Some(e));
        }
        // Start flows until the earliest record waiting comes before any flow still to start
        // (a flow starts no earlier than the one before it, and ties go to the older flow).
        loop {
            if self.creating && !self.wants_flow() {
                self.creating = false;
            }
            if !self.creating {
                break;
            }
            let bound = self.t - self.t % 1_000;
            match self.heap.peek() {
                Some(Reverse(p)) if self.flows > 0 && p.ts_ns <= bound => break,
                _ => self.start_flow()?,
            }
        }
        let Some(Reverse(p)) = self.heap.pop() else {
            return Ok(None);
        };
        let session = Session::of(p.key);
        let json = p.record.to_json();
        self.valid_out += 1;
        self.summary.records += 1;
        if self.summary.records == 1 {
            self.summary.first_ts_ns = p.ts_ns;
        }
        self.summary.last_ts_ns = p.ts_ns;
        let event = match p.record.event {
            FlowEvent::Start => 0,
            FlowEvent::Update => 1,
            FlowEvent::End => 2,
        };
        if let Some(n) = self.summary.by_event.get_mut(event) {
            *n += 1;
        }
        if let Some(every) = self.cfg.invalid_every {
            if self.valid_out.is_multiple_of(every) {
                let (bad, reason) = invalid::damaged(&p.record, self.valid_out / every - 1);
                self.pending_invalid = Some(Emitted {
                    key: session.msisdn.clone(),
                    json: bad,
                    record: None,
                    invalid: Some(reason),
                });
            }
        }
        Ok(Some(Emitted {
            key: session.msisdn,
            json,
            record: Some(p.record),
            invalid: None,
        }))
    }

    /// Ends the run: writes the rest of the capture and says what was made.
    pub fn finish(mut self) -> Result<Summary, PgwError> {
        if let Some(mut out) = self.pcap.take() {
            out.merger.write_until(None, &mut out.sink)?;
            out.sink.finish()?.flush()?;
        }
        Ok(self.summary)
    }

    /// What was made so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }
}

impl<W: Write> Iterator for Generator<W> {
    type Item = Result<Emitted, PgwError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// A policy file (the format of `fixtures/policy-evening.toml`) listing the first `subscribers`
/// subscribers by MSISDN with their UE address, IPv6 prefix and TEID as identifiers. Lines
/// alternate between a `child` profile (adult, gambling, gaming and social blocked, TikTok
/// blocked, QUIC blocked, 30 minutes of YouTube a day) and a `teen` profile (adult blocked,
/// an hour of video a day); everyone else gets `open`.
pub fn policy_toml(subscribers: u32) -> String {
    let mut t = String::with_capacity(200 + subscribers as usize * 140);
    t.push_str(
        "# Written by pgw-sim: the simulated gateway's subscribers (id = MSISDN; identifiers =\n\
         # UE IPv4 address, UE IPv6 /64, GTP-U TEID).\n\n\
         default_profile = \"open\"\n\
         default_timezone = \"Europe/London\"\n",
    );
    for s in 0..subscribers.clamp(1, net::MAX_SUBSCRIBERS) {
        let session = Session::of(s);
        let profile = if s % 2 == 0 { "child" } else { "teen" };
        let _ = write!(
            t,
            "\n[[subscriber]]\nid = \"{}\"\nidentifiers = [\"{}\", \"{}\", {}]\nprofile = \"{profile}\"\n",
            session.msisdn,
            session.ue_v4,
            session.v6_prefix(),
            session.teid
        );
    }
    t.push_str(
        "\n[profile.child]\n\
         blocked_categories = [\"adult\", \"gambling\", \"gaming\", \"social\"]\n\
         blocked_apps = [\"tiktok\"]\n\
         block_quic = true\n\
         quotas = [{ app = \"youtube\", minutes = 30 }]\n\
         \n[profile.teen]\n\
         blocked_categories = [\"adult\"]\n\
         quotas = [{ category = \"video\", minutes = 60 }]\n\
         \n[profile.open]\n\
         blocked_categories = [\"adult\"]\n",
    );
    t
}
