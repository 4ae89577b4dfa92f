//! Deciding flow records with the data plane's own code: a bounded table of the gateway's live
//! flows, each a data-plane [`Flow`] named, decided with [`enforce::decide_as`] and re-decided at
//! every record, exactly as packets are.
//!
//! - Naming: the payload bytes the record carries are fed to the data plane's [`Namer`] as the
//!   first segment of each side (TCP: after a synthetic SYN, so the client's stream starts at
//!   the payload; UDP: one datagram, so QUIC Initials and DNS on port 53 are read). A name of the
//!   payload's own beats the record's `name` (a disagreement is counted); the record's `name`
//!   (source `gateway`) serves when the payload gives none. A flow is named once, from its first
//!   record.
//! - Subscriber: the record's MSISDN (else IMSI) when the policy lists it, else the session
//!   table by UE address and TEID, else the default profile ([`Identity`]).
//! - Time is the records': a record decides at its `ts`; an allowed flow's quota minutes between
//!   its previous record and this one are counted one by one (as if a packet came each minute),
//!   so quotas run out at the right minute and a block then has that minute's time.
//! - Outputs: a decision when a flow's verdict is first known and whenever its (action, rule)
//!   changes; allows sampled by flow id, blocks always, with their block record from the
//!   enforcer's event queue (drained after each step: one decider owns its enforcer's queue).
//! - A flow first seen on an `update` or `end` record is *adopted*: its `start` was decided
//!   before (by the instance that owned the partition before a restart or a rebalance, whose
//!   outputs were delivered before the offset was committed; or by this one before it forgot
//!   the flow). Its verdict is taken without publishing (a second decision, made without the
//!   name and payload only the `start` carries, would come under a new idempotency key that no
//!   consumer could drop); a later change is published. An `end` of an unknown flow changes
//!   nothing and is only counted.
//! - The table holds at most `max_flows`; a flow leaves it on its `end` record, after
//!   `idle_timeout_s` of record time without a record, or (longest idle first) when the table is
//!   full. Record time is kept per partition (a flow's records all come on one partition, keyed
//!   by subscriber): a consumer reads its partitions at different paces (a backlog on one, a
//!   partition just assigned), and one clock for all would forget the live flows of the
//!   partitions behind. Flows of a partition revoked from this instance are forgotten
//!   ([`FlowDecider::forget_partitions`]); whoever takes the partition adopts them.
//!
//! Not here: parsing records and the dead-letter topic ([`super::pipeline`]), Kafka.

use super::output::{allow_sampled, DecisionRecord};
use super::record::{FlowEvent, TrafficRecord};
use super::{OutTopic, Outbound};
use crate::events::{BlockRecord, IdempotencyKey};
use dataplane::decode::{tcp_flags, L4};
use dataplane::engine::enforce::{self, Enforcer, Identity, Rules};
use dataplane::engine::record::Rfc3339;
use dataplane::flow::{Flow, FlowKey};
use dataplane::inspect::namer::{FlowName, Namer, Proto, Segment};
use dataplane::policy::{Action, Rule, SubscriberRef};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_MINUTE: u64 = 60 * NS_PER_S;
/// Record time between two sweeps of idle flows.
const SWEEP_EVERY_NS: u64 = 60 * NS_PER_S;
/// The client's synthetic SYN: its stream starts at `CLIENT_ISN + 1`.
const CLIENT_ISN: u32 = 0;
/// Where the server's stream starts (any value: its first byte starts it).
const SERVER_SEQ: u32 = 1;
/// The DNS port: a gateway name on it is a lookup, which does not count toward quotas.
const DNS_PORT: u16 = 53;
/// The `name_source` of a name the gateway gave.
pub const GATEWAY_SOURCE: &str = "gateway";

/// The decider's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeciderConfig {
    /// Publish one allow in N, chosen by flow id (1: every allow, 0: none). Blocks always.
    pub allow_sample: u32,
    /// Live flows kept at most; when full the oldest (by last record time) are evicted.
    pub max_flows: usize,
    /// A flow with no record for this long (record time) is forgotten.
    pub idle_timeout_s: u32,
}

impl Default for DeciderConfig {
    fn default() -> Self {
        DeciderConfig {
            allow_sample: 1,
            max_flows: 1 << 20,
            idle_timeout_s: 600,
        }
    }
}

/// What the decider did, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeciderCounters {
    /// Decisions published on `policy-decisions`.
    pub decisions: u64,
    /// Block records published on `blocked-requests`.
    pub blocks: u64,
    /// Allow decisions not published because of sampling.
    pub allows_sampled_out: u64,
    /// Block events of a flow whose (action, rule) did not change (a new epoch re-reports
    /// blocks): not published again.
    pub blocks_repeated: u64,
    /// Flows with no verdict (no policy configured).
    pub undecided: u64,
    /// Flows forgotten because the table was full.
    pub evicted_full: u64,
    /// Flows forgotten after `idle_timeout_s` without a record.
    pub expired_idle: u64,
    /// Flows ended by their `end` record.
    pub ended: u64,
    /// Flows first seen on an `update` record: decided without publishing (module comment).
    pub adopted: u64,
    /// `end` records of flows not in the table: nothing to do.
    pub ends_unknown: u64,
    /// Flows forgotten because their partition went to another instance.
    pub revoked: u64,
    /// Flows whose payload named them differently from the record's `name`.
    pub name_disagreements: u64,
    /// Block events the enforcer's queue had no room for.
    pub events_dropped: u64,
}

/// One live flow of the gateway.
#[derive(Debug)]
struct Live {
    flow: Flow,
    /// Record time of the last record (never goes back).
    last_ts: u64,
    /// The (action, rule) last decided.
    decided: Option<(Action, Rule)>,
    name_source: Option<&'static str>,
    /// Whether this flow's allows are published.
    sampled: bool,
    /// First seen after its `start`: its first verdict is not published.
    adopted: bool,
    /// The partition its records come on.
    partition: i32,
}

/// Decides the records of the gateway's flows; see the module comment.
pub struct FlowDecider {
    ctx: Ctx,
    config: DeciderConfig,
    /// Keyed by the gateway's flow id, looked up two or three times a record: foldhash, seeded
    /// at random per process (flow ids come from outside), rather than SipHash.
    flows: HashMap<String, Live, foldhash::fast::RandomState>,
    /// Latest record time seen, per partition.
    clocks: Clocks,
    serial: u32,
}

/// Record time per partition (looked up once a record).
type Clocks = HashMap<i32, Clock, foldhash::fast::RandomState>;

/// Record time of one partition.
#[derive(Clone, Copy, Debug, Default)]
struct Clock {
    now_ns: u64,
    next_sweep_ns: u64,
}

/// Record time since `l`'s last record, by its partition's clock.
fn idle_for(clocks: &Clocks, l: &Live) -> u64 {
    let now = clocks.get(&l.partition).map_or(0, |c| c.now_ns);
    now.saturating_sub(l.last_ts)
}

/// What a step needs besides the flow (apart from the table, so both can be borrowed).
struct Ctx {
    enforcer: Arc<Enforcer>,
    rules: Arc<Rules>,
    counters: DeciderCounters,
    /// The rule label of the decision being written (reused, not allocated per decision).
    rule_text: String,
}

impl FlowDecider {
    pub fn new(enforcer: Arc<Enforcer>, config: DeciderConfig) -> FlowDecider {
        let rules = enforcer.rules();
        FlowDecider {
            ctx: Ctx {
                enforcer,
                rules,
                counters: DeciderCounters::default(),
                rule_text: String::new(),
            },
            config,
            flows: HashMap::default(),
            clocks: Clocks::default(),
            serial: 0,
        }
    }

    pub fn enforcer(&self) -> &Arc<Enforcer> {
        &self.ctx.enforcer
    }

    pub fn counters(&self) -> &DeciderCounters {
        &self.ctx.counters
    }

    /// Flows in the table now.
    pub fn live_flows(&self) -> usize {
        self.flows.len()
    }

    /// Decides one checked record that came on `partition`, appending what to publish to `out`.
    pub fn handle(&mut self, rec: &TrafficRecord, partition: i32, out: &mut Vec<Outbound>) {
        let ctx = &mut self.ctx;
        if ctx.rules.epoch != ctx.enforcer.epoch() {
            ctx.rules = ctx.enforcer.rules();
        }
        let clock = self.clocks.entry(partition).or_default();
        clock.now_ns = clock.now_ns.max(rec.ts_ns);
        if clock.now_ns >= clock.next_sweep_ns {
            clock.next_sweep_ns = clock.now_ns.saturating_add(SWEEP_EVERY_NS);
            self.sweep_idle();
        }
        let idle_ns = u64::from(self.config.idle_timeout_s) * NS_PER_S;
        let mut previous = None;
        if let Some(live) = self.flows.get(&*rec.flow_id) {
            if rec.ts_ns.saturating_sub(live.last_ts) > idle_ns {
                self.flows.remove(&*rec.flow_id);
                self.ctx.counters.expired_idle += 1;
            } else {
                previous = Some(live.last_ts);
            }
        }
        if previous.is_none() {
            if rec.event == FlowEvent::End {
                self.ctx.counters.ends_unknown += 1;
                return;
            }
            self.make_room();
            let live = self.new_live(rec, partition);
            self.flows.insert(rec.flow_id.to_string(), live);
        }
        let Some(live) = self.flows.get_mut(&*rec.flow_id) else {
            return;
        };
        live.flow.bytes = rec.bytes;
        live.flow.packets = rec.packets.map(|p| u32::try_from(p).unwrap_or(u32::MAX));
        let ts = rec.ts_ns.max(live.last_ts);
        live.flow.last_ts = ts;
        if let Some(prev) = previous {
            // The minutes between the previous record and this one, one step each (bounded by
            // the idle timeout, checked above).
            for minute in prev / NS_PER_MINUTE + 1..ts / NS_PER_MINUTE {
                self.ctx.step(live, rec, minute * NS_PER_MINUTE, out);
            }
        }
        self.ctx.step(live, rec, ts, out);
        live.last_ts = ts;
        if rec.event == FlowEvent::End {
            self.flows.remove(&*rec.flow_id);
            self.ctx.counters.ended += 1;
        }
    }

    /// A new flow from its first record: endpoints, tunnel, name.
    fn new_live(&mut self, rec: &TrafficRecord, partition: i32) -> Live {
        let (c, s) = (rec.client, rec.server);
        let (key, dir) = FlowKey::of_tuple(c.ip(), c.port(), s.ip(), s.port(), rec.l4);
        self.serial = self.serial.wrapping_add(1);
        let mut flow = Flow::new(key, dir, self.serial, rec.ts_ns);
        flow.teid = rec.teid;
        let (name, source, disagree) = name_of(rec);
        if disagree {
            self.ctx.counters.name_disagreements += 1;
        }
        flow.name = name.map(Box::new);
        flow.naming_done = true;
        Live {
            flow,
            last_ts: rec.ts_ns,
            decided: None,
            name_source: source,
            sampled: allow_sampled(&rec.flow_id, self.config.allow_sample),
            adopted: rec.event != FlowEvent::Start,
            partition,
        }
    }

    /// Forgets flows without a record for the idle timeout of their partition's record time.
    fn sweep_idle(&mut self) {
        let idle_ns = u64::from(self.config.idle_timeout_s) * NS_PER_S;
        let clocks = &self.clocks;
        let before = self.flows.len();
        self.flows.retain(|_, l| idle_for(clocks, l) <= idle_ns);
        self.ctx.counters.expired_idle += (before - self.flows.len()) as u64;
    }

    /// Forgets the flows (and the clocks) of partitions this instance no longer owns.
    pub fn forget_partitions(&mut self, partitions: &[i32]) {
        let before = self.flows.len();
        self.flows.retain(|_, l| !partitions.contains(&l.partition));
        self.ctx.counters.revoked += (before - self.flows.len()) as u64;
        self.clocks.retain(|p, _| !partitions.contains(p));
    }

    /// Makes room for one more flow: idle ones go first, then the eighth idle longest (in their
    /// partitions' record time; ties by creation order, so the choice is the same on every run).
    fn make_room(&mut self) {
        let max = self.config.max_flows.max(1);
        if self.flows.len() < max {
            return;
        }
        self.sweep_idle();
        if self.flows.len() < max {
            return;
        }
        // Ordered by how recently active: (u64::MAX - idle time, creation order).
        let clocks = &self.clocks;
        let recency = |l: &Live| (u64::MAX - idle_for(clocks, l), l.flow.serial);
        let mut ages: Vec<(u64, u32)> = self.flows.values().map(recency).collect();
        let n = (ages.len() / 8).max(1);
        let (_, cut, _) = ages.select_nth_unstable(n - 1);
        let cut = *cut;
        let before = self.flows.len();
        self.flows.retain(|_, l| recency(l) > cut);
        self.ctx.counters.evicted_full += (before - self.flows.len()) as u64;
    }
}

impl Ctx {
    /// Decides `live` at `ts`; publishes when its (action, rule) changed.
    fn step(&mut self, live: &mut Live, rec: &TrafficRecord, ts: u64, out: &mut Vec<Outbound>) {
        let who = Identity {
            id: rec.subscriber(),
            ue: Some(rec.ue_ip),
        };
        let events = self.enforcer.events();
        let dropped_before = events.dropped();
        enforce::decide_as(&mut live.flow, who, ts, &self.rules, events);
        self.counters.events_dropped += events.dropped().saturating_sub(dropped_before);
        let Some((d, v)) = live
            .flow
            .decision
            .as_deref()
            .and_then(|d| d.verdict.map(|v| (d, v)))
        else {
            if live.decided.is_none() {
                live.decided = Some((Action::Allow, Rule::Default));
                self.counters.undecided += 1;
            }
            return;
        };
        let now = (v.action, v.rule);
        let first = live.decided.is_none();
        let changed = live.decided != Some(now);
        live.decided = Some(now);
        let rules = &*self.rules;
        let policy = rules.policy.as_deref().map(|s| &s.policy);
        if first && live.adopted {
            // Decided and published by whoever saw the flow's start.
            while events.pop().is_some() {}
            self.counters.adopted += 1;
            return;
        }
        if !changed {
            // A new epoch re-reports a block that stands: published once already.
            while events.pop().is_some() {
                self.counters.blocks_repeated += 1;
            }
            return;
        }
        let subscriber: String = match (policy, d.subscriber) {
            (Some(p), SubscriberRef::Listed(_)) => p.subscriber_id(d.subscriber).to_owned(),
            _ => match rec.subscriber() {
                Some(id) => id.to_owned(),
                None => rec.ue_ip.to_string(),
            },
        };
        {
            if v.action == Action::Block || live.sampled {
                let name = live.flow.name.as_deref().and_then(|n| n.name.as_deref());
                self.rule_text.clear();
                if let Some(p) = policy {
                    // Writing into a String cannot fail.
                    let _ = write!(self.rule_text, "{}", p.rule_label(v.rule));
                }
                let record = DecisionRecord {
                    ts: Rfc3339(ts),
                    idempotency_key: IdempotencyKey {
                        flow_id: &rec.flow_id,
                        epoch: d.epoch,
                        ts_ns: ts,
                    },
                    flow_id: &rec.flow_id,
                    event: rec.event.as_str(),
                    subscriber: &subscriber,
                    client: rec.client,
                    server: rec.server,
                    name,
                    name_source: live.name_source,
                    app: d
                        .matched
                        .and_then(|m| m.app)
                        .and_then(|a| rules.catalog.app(a))
                        .map(|a| a.id.as_str()),
                    category: d.matched.map(|m| m.category.as_str()),
                    verdict: v.action.as_str(),
                    rule: &self.rule_text,
                    epoch: d.epoch,
                };
                out.push(Outbound {
                    topic: OutTopic::Decisions,
                    key: subscriber.clone(),
                    payload: record.to_json(),
                });
                self.counters.decisions += 1;
            } else {
                self.counters.allows_sampled_out += 1;
            }
        }
        while let Some(ev) = events.pop() {
            let block = BlockRecord::of_flow(&ev, &rules.catalog, &rec.flow_id, &subscriber);
            out.push(Outbound {
                topic: OutTopic::Blocked,
                key: subscriber.clone(),
                payload: block.to_json(),
            });
            self.counters.blocks += 1;
        }
    }
}

/// The flow's name: (name, its source, whether the payload and the record's `name` disagree).
fn name_of(rec: &TrafficRecord) -> (Option<FlowName>, Option<&'static str>, bool) {
    let from_payload = name_from_payload(rec);
    let payload_name = from_payload.as_ref().and_then(|n| n.name.as_deref());
    match (payload_name, rec.name.as_deref()) {
        (Some(own), gateway) => {
            let disagree = gateway.is_some_and(|g| !g.eq_ignore_ascii_case(own));
            let source = from_payload
                .as_ref()
                .and_then(|n| n.source)
                .map(|s| s.as_str());
            (from_payload, source, disagree)
        }
        (None, Some(gateway)) => {
            let proto = from_payload.and_then(|n| n.proto).or_else(|| {
                let dns = rec.client.port() == DNS_PORT || rec.server.port() == DNS_PORT;
                (rec.l4 == L4::Udp && dns).then_some(Proto::Dns)
            });
            let name = FlowName {
                proto,
                name: Some(Arc::from(gateway)),
                source: None,
                alpn: Default::default(),
            };
            (Some(name), Some(GATEWAY_SOURCE), false)
        }
        // A protocol recognised without a name (a hello without SNI) is kept.
        (None, None) => (from_payload, None, false),
    }
}

/// Feeds the record's payload bytes to a [`Namer`] as each side's first segment.
fn name_from_payload(rec: &TrafficRecord) -> Option<FlowName> {
    if rec.payload_c2s.is_none() && rec.payload_s2c.is_none() {
        return None;
    }
    let tcp = rec.l4 == L4::Tcp;
    let mut namer = Namer::new(tcp.then_some(CLIENT_ISN));
    let mut found = None;
    let sides = [
        (0, CLIENT_ISN.wrapping_add(1), rec.payload_c2s.as_deref()),
        (1, SERVER_SEQ, rec.payload_s2c.as_deref()),
    ];
    for (side, seq, payload) in sides {
        let Some(payload) = payload.filter(|p| !p.is_empty()) else {
            continue;
        };
        if namer.is_done() {
            break;
        }
        let step = namer.feed(&Segment {
            side,
            l4: rec.l4,
            client_port: rec.client.port(),
            server_port: rec.server.port(),
            seq,
            flags: if tcp {
                tcp_flags::PSH | tcp_flags::ACK
            } else {
                0
            },
            payload,
        });
        if let Some(n) = step.name {
            found = Some(n);
            break;
        }
    }
    match found {
        Some(n) => Some(n),
        None => namer.proto().map(|p| FlowName {
            proto: Some(p),
            ..FlowName::default()
        }),
    }
}
