//! A worker: owns a decoder and a flow table, shares the DNS answer cache, and does all
//! per-packet work for its flows: decode, find or create the flow, count, name it while naming
//! runs, and decide it when rules are set. Time is the packets' own, so a replay gives the same
//! answer on every run.

use super::counters::{Counters, LATENCY_SAMPLE_EVERY};
use super::enforce::{decide, Enforcer, Outcome, Rules};
use crate::capture::RawPacket;
use crate::decode::{tcp_flags, Decoder, Packet, L4};
use crate::flow::dns_cache::{DnsCache, Resolved};
use crate::flow::table::{FlowTable, Lookup};
use crate::flow::{tcp_state, Direction, EndReason, Flow, FlowKey, Timeouts};
use crate::inspect::namer::{FlowName, NameSource, Namer, Segment};
use std::sync::Arc;
use std::time::Instant;

/// A worker's settings.
#[derive(Clone, Copy, Debug)]
pub struct WorkerConfig {
    pub timeouts: Timeouts,
    /// Flows tracked at once; packets of new flows beyond it are counted and not tracked.
    pub max_flows: usize,
    /// (client, address) pairs remembered from DNS answers (each worker keeps its own).
    pub dns_cache_entries: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            timeouts: Timeouts::default(),
            max_flows: 4_000_000,
            dns_cache_entries: 65_536,
        }
    }
}

/// One worker of the engine.
pub struct Worker {
    decoder: Decoder,
    /// Packets seen, for sampling their processing time.
    seen: u64,
    /// Whether this worker runs the DNS tap itself (it sees all packets in order), or is told
    /// the answers ([`Worker::learn`]).
    taps_dns: bool,
    flows: Flows,
}

/// Everything of a worker but its decoder (whose output borrows it while a packet is tracked).
struct Flows {
    table: FlowTable,
    /// This worker's own cache of DNS answers.
    dns: DnsCache,
    /// Decides flows when set, with the snapshot of rules last loaded from it.
    enforcement: Option<(Arc<Enforcer>, Arc<Rules>)>,
    counters: Counters,
}

impl Worker {
    /// A worker that sees every packet: it runs the DNS tap itself.
    pub fn new(config: WorkerConfig) -> Worker {
        Worker::with_dns_tap(config, true)
    }

    /// A worker of several, given its packets decoded by a dispatcher that runs the DNS tap and
    /// hands it every answer in line with them ([`Worker::learn`]).
    pub fn told_answers(config: WorkerConfig) -> Worker {
        Worker::with_dns_tap(config, false)
    }

    fn with_dns_tap(config: WorkerConfig, taps_dns: bool) -> Worker {
        Worker {
            decoder: Decoder::default(),
            seen: 0,
            taps_dns,
            flows: Flows {
                table: FlowTable::new(config.timeouts, config.max_flows),
                dns: DnsCache::new(config.dns_cache_entries),
                enforcement: None,
                counters: Counters::default(),
            },
        }
    }

    /// Decides flows with the rules `enforcer` publishes.
    pub fn with_enforcer(mut self, enforcer: Arc<Enforcer>) -> Worker {
        let rules = enforcer.rules();
        self.flows.enforcement = Some((enforcer, rules));
        self
    }

    pub fn counters(&self) -> &Counters {
        &self.flows.counters
    }

    /// Flows alive now.
    pub fn flows(&self) -> usize {
        self.flows.table.len()
    }

    /// Bytes of flow state held by the table (not counting names and inspection buffers).
    pub fn flow_memory_bytes(&self) -> usize {
        self.flows.table.memory_bytes()
    }

    /// Processes one frame; flows that end (idle, closed, reused) are handed to `ended`.
    pub fn process(&mut self, raw: &RawPacket<'_>, ended: &mut impl FnMut(Flow, EndReason)) {
        let start = self.sample_clock();
        self.decode_and_track(raw, ended);
        self.record_latency(start);
    }

    /// Reads the clock for one packet in [`LATENCY_SAMPLE_EVERY`].
    #[inline]
    fn sample_clock(&mut self) -> Option<Instant> {
        self.seen = self.seen.wrapping_add(1);
        self.seen
            .is_multiple_of(LATENCY_SAMPLE_EVERY)
            .then(Instant::now)
    }

    #[inline]
    fn record_latency(&mut self, start: Option<Instant>) {
        if let Some(t) = start {
            let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.flows.counters.record_latency(ns);
        }
    }

    fn decode_and_track(&mut self, raw: &RawPacket<'_>, ended: &mut impl FnMut(Flow, EndReason)) {
        let packet = match self
            .decoder
            .decode_frame(raw.ts_ns, raw.link, raw.data, raw.orig_len)
        {
            Ok(p) => p,
            Err(e) => {
                self.flows.counters.packets += 1;
                self.flows.counters.bytes += u64::from(raw.orig_len);
                self.flows.counters.count_decode_error(e);
                return;
            }
        };
        if self.taps_dns {
            let dns = &mut self.flows.dns;
            super::dns_tap::tap(&packet, raw.ts_ns, |r| dns.insert(r));
        }
        track(&mut self.flows, raw.ts_ns, raw.orig_len, &packet, ended);
    }

    /// Processes a frame already decoded (by a dispatcher) into `packet`.
    /// `ts_ns` and `orig_len` are the frame's capture time and length on the wire.
    pub fn process_decoded(
        &mut self,
        ts_ns: u64,
        orig_len: u32,
        packet: &Packet<'_>,
        ended: &mut impl FnMut(Flow, EndReason),
    ) {
        let start = self.sample_clock();
        track(&mut self.flows, ts_ns, orig_len, packet, ended);
        self.record_latency(start);
    }

    /// A DNS answer, from the packet that comes before the ones this worker is given next.
    pub fn learn(&mut self, answer: Resolved) {
        self.flows.dns.insert(answer);
    }

    /// Counts a capture record that was skipped (a capture-level reason).
    pub fn count_skip(&mut self, reason: &'static str) {
        self.flows.counters.count(reason);
    }

    /// Ends every flow still open (end of input), in creation order.
    pub fn finish(&mut self, ended: &mut impl FnMut(Flow, EndReason)) {
        let Flows {
            table,
            counters,
            enforcement,
            ..
        } = &mut self.flows;
        let enforcement = enforcement.as_ref();
        counters.flow_table_bytes = counters.flow_table_bytes.max(table.memory_bytes() as u64);
        counters.flow_wheel_bytes = counters.flow_wheel_bytes.max(table.wheel_bytes() as u64);
        table.settle_all(|f, r| finish(counters, enforcement, f, r, ended));
        table.drain(|f| finish(counters, enforcement, f, EndReason::EndOfInput, ended));
    }
}

fn track(
    flows: &mut Flows,
    ts_ns: u64,
    orig_len: u32,
    packet: &Packet<'_>,
    ended: &mut impl FnMut(Flow, EndReason),
) {
    let Flows {
        table,
        dns,
        counters,
        enforcement,
    } = flows;
    let packet = *packet;
    counters.packets += 1;
    counters.bytes += u64::from(orig_len);
    table.advance(ts_ns, |f, r| {
        finish(counters, enforcement.as_ref(), f, r, ended)
    });
    let (key, dir) = FlowKey::of(&packet);
    let hash = key.hash64();
    let mut slot = match table.lookup_or_insert(
        &key,
        hash,
        |serial| new_flow(key, dir, serial, ts_ns, &packet, dns),
        |f, r| finish(counters, enforcement.as_ref(), f, r, ended),
    ) {
        Lookup::Created(s) => {
            counters.flows += 1;
            counters.peak_flows = counters.peak_flows.max(table.len() as u64);
            s
        }
        Lookup::Found(s) => s,
        Lookup::Full => {
            counters.count("flow_table_full");
            return;
        }
    };
    // A SYN on a closed connection's 5-tuple starts a new connection.
    if let Some(f) = table.get(slot) {
        if packet.l4 == L4::Tcp && f.is_closed() && is_syn(&packet) {
            if let Some(old) = table.remove(slot) {
                finish(
                    counters,
                    enforcement.as_ref(),
                    old,
                    EndReason::Closed,
                    ended,
                );
            }
            slot = match table.lookup_or_insert(
                &key,
                hash,
                |serial| new_flow(key, dir, serial, ts_ns, &packet, dns),
                |f, r| finish(counters, enforcement.as_ref(), f, r, ended),
            ) {
                Lookup::Created(s) | Lookup::Found(s) => {
                    counters.flows += 1;
                    s
                }
                Lookup::Full => {
                    counters.count("flow_table_full");
                    return;
                }
            };
        }
    }
    let Some(flow) = table.get_mut(slot) else {
        return;
    };
    counters.tracked += 1;
    let was_closed = flow.is_closed();
    update(flow, dir, ts_ns, orig_len, &packet);
    let closed_now = !was_closed && flow.is_closed();
    // Naming starts with the first payload: a SYN alone costs no inspection state (the stream
    // then starts at the first byte seen, and moves back if an earlier segment turns up). A
    // named flow may keep its namer a little longer, to check copies of its hello.
    if (!flow.naming_done || flow.namer.is_some()) && !packet.payload.is_empty() {
        name(flow, dir, &packet, counters);
    }
    if let Some((enforcer, rules)) = enforcement {
        if rules.epoch != enforcer.epoch() {
            *rules = enforcer.rules();
        }
        if decide(flow, ts_ns, rules, enforcer.events()) == Outcome::Block {
            counters.blocked_packets += 1;
        }
    }
    // A connection that has just closed is kept for the closed timeout, not the open one.
    if closed_now {
        table.refile(slot);
    }
}

fn is_syn(p: &Packet<'_>) -> bool {
    p.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
}

fn new_flow(
    key: FlowKey,
    dir: Direction,
    serial: u32,
    ts: u64,
    packet: &Packet<'_>,
    dns: &DnsCache,
) -> Flow {
    let client_dir = if packet.l4 == L4::Tcp && packet.flags & tcp_flags::SYN != 0 {
        // The SYN's sender is the client; a SYN-ACK seen first means the SYN was missed.
        if packet.flags & tcp_flags::ACK == 0 {
            dir
        } else {
            reverse(dir)
        }
    } else if packet.src_port < 1024 && packet.dst_port >= 1024 {
        // The capture began mid-flow with a packet from a server's well-known port.
        reverse(dir)
    } else {
        dir
    };
    let client = key.sender(client_dir);
    let server = key.receiver(client_dir);
    let name = dns.lookup(client.ip(), server.ip(), ts).map(|n| {
        Box::new(FlowName {
            proto: None,
            name: Some(n),
            source: Some(NameSource::DnsAnswer),
            alpn: Default::default(),
        })
    });
    let mut flow = Flow::new(key, client_dir, serial, ts);
    flow.teid = packet.teid;
    flow.name = name;
    flow
}

fn reverse(dir: Direction) -> Direction {
    match dir {
        Direction::LoHi => Direction::HiLo,
        Direction::HiLo => Direction::LoHi,
    }
}

#[inline]
fn update(flow: &mut Flow, dir: Direction, ts_ns: u64, orig_len: u32, packet: &Packet<'_>) {
    let side = flow.side(dir);
    flow.packets[side] = flow.packets[side].saturating_add(1);
    flow.bytes[side] += u64::from(orig_len);
    flow.last_ts = flow.last_ts.max(ts_ns);
    if packet.l4 == L4::Tcp {
        let f = packet.flags;
        if f & tcp_flags::SYN != 0 {
            flow.tcp |= tcp_state::SYN_SEEN;
            if side == 0 && f & tcp_flags::ACK == 0 {
                flow.tcp |= tcp_state::CLIENT_SYN;
                flow.client_isn = packet.seq;
            }
        }
        if f & tcp_flags::FIN != 0 {
            flow.tcp |= if side == 0 {
                tcp_state::FIN_C2S
            } else {
                tcp_state::FIN_S2C
            };
        }
        if f & tcp_flags::RST != 0 {
            flow.tcp |= tcp_state::RST;
        }
    }
}

fn name(flow: &mut Flow, dir: Direction, packet: &Packet<'_>, counters: &mut Counters) {
    let seg = Segment {
        side: flow.side(dir),
        l4: packet.l4,
        client_port: flow.client().port(),
        server_port: flow.server().port(),
        seq: packet.seq,
        flags: packet.flags,
        payload: packet.payload,
    };
    let client_isn = (flow.tcp & tcp_state::CLIENT_SYN != 0).then_some(flow.client_isn);
    let namer = flow
        .namer
        .get_or_insert_with(|| Box::new(Namer::new(client_isn)));
    let step = namer.feed(&seg);
    if let Some(found) = step.name {
        // A name of the flow's own beats one inferred from DNS; a protocol without a name
        // (a hello without SNI) keeps the inferred name but records the protocol.
        match (&mut flow.name, found.name.is_some()) {
            (Some(existing), false) => {
                existing.proto = found.proto;
                existing.alpn = found.alpn;
            }
            (slot, _) => *slot = Some(Box::new(found)),
        }
    }
    if namer.is_done() {
        end_naming(flow, counters);
        if flow.evasive {
            // Evasion seen after the flow was decided (a decoy hello named it): decide again.
            if let Some(d) = flow.decision.as_deref_mut() {
                d.epoch = 0;
            }
        }
    } else if namer.is_named() {
        // Decided from now on; the namer stays to check later copies of the hello.
        flow.naming_done = true;
    }
}

/// Ends naming: counts why it failed or what evasion it saw, if any (an evasive flow is marked
/// for the policy), keeps the protocol recognised even without a name, and drops the
/// inspection state.
fn end_naming(flow: &mut Flow, counters: &mut Counters) {
    if let Some(namer) = flow.namer.take() {
        if let Some(f) = namer.failure {
            counters.count(f.reason());
        }
        if let Some(e) = namer.evasion() {
            counters.count(e.reason());
            flow.evasive = true;
        }
        if let Some(p) = namer.proto() {
            let n = flow.name.get_or_insert_with(Box::default);
            n.proto.get_or_insert(p);
        }
    }
    flow.naming_done = true;
}

/// Ends `flow`: ends its naming, counts its name and hands it to `ended`. A flow whose naming
/// ends only now and turns out evasive (a hello begun and never finished) is decided at its
/// last packet's time first, so that its record and block event say what the policy made of
/// it, as for a flow whose naming gave up while it ran.
fn finish(
    counters: &mut Counters,
    enforcement: Option<&(Arc<Enforcer>, Arc<Rules>)>,
    mut flow: Flow,
    reason: EndReason,
    ended: &mut impl FnMut(Flow, EndReason),
) {
    let was_done = flow.naming_done;
    end_naming(&mut flow, counters);
    if let Some((enforcer, rules)) = enforcement {
        if !was_done && flow.evasive {
            let rules = if rules.epoch == enforcer.epoch() {
                Arc::clone(rules)
            } else {
                enforcer.rules()
            };
            let ts = flow.last_ts;
            decide(&mut flow, ts, &rules, enforcer.events());
        }
    }
    let n = flow.name.as_deref();
    counters.flow_named(n.and_then(|n| n.proto), n.and_then(|n| n.source));
    ended(flow, reason);
}
