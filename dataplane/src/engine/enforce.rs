//! Enforcement: the rules the workers decide with, and the per-flow decision.
//!
//! [`Rules`] is one immutable snapshot: the app catalog and its matcher, and (when a policy is
//! configured) the policy with its quota ledger. The [`Enforcer`] publishes a new snapshot with
//! an atomic pointer swap under a new epoch; workers never wait for it. A worker keeps the
//! snapshot it last loaded and only reloads when the epoch it reads (one atomic load per packet)
//! has moved. Blocks go into a bounded lock-free [`EventQueue`]; when it is full they are
//! counted as dropped, never silently lost.
//!
//! A flow is decided once naming has ended (a name of its own, or inspection gave up), so that
//! a handshake is never judged before its name is known. The verdict is cached in the flow with
//! the epoch it came from; a new epoch, or packet time reaching the verdict's `valid_until`
//! (a schedule boundary, a quota minute), makes the next packet decide again.

use crate::classify::{Catalog, Match, Matcher};
use crate::flow::Flow;
use crate::inspect::namer::Proto;
use crate::policy::events::RULE_LABEL_CAP;
use crate::policy::{
    Action, BlockEvent, EventQueue, InlineStr, Policy, Query, QuotaLedger, Rule, SubscriberRef,
    Verdict,
};
use arc_swap::ArcSwap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

const NS_PER_MINUTE: u64 = 60_000_000_000;

/// A policy together with the ledger of its quotas.
#[derive(Debug)]
pub struct PolicyState {
    pub policy: Policy,
    pub ledger: QuotaLedger,
}

/// Everything a decision needs, published as one unit.
#[derive(Debug)]
pub struct Rules {
    pub epoch: u64,
    pub catalog: Arc<Catalog>,
    pub matcher: Arc<Matcher>,
    /// `None`: flows are named and classified, not decided.
    pub policy: Option<Arc<PolicyState>>,
}

/// Publishes [`Rules`] to the workers and holds the queue of block events.
#[derive(Debug)]
pub struct Enforcer {
    current: ArcSwap<Rules>,
    epoch: AtomicU64,
    /// Serialises publishers (never taken by workers).
    publishing: Mutex<()>,
    events: EventQueue,
}

impl Enforcer {
    /// Rules in force from epoch 1, with room for `event_capacity` undrained block events.
    pub fn new(
        catalog: Arc<Catalog>,
        matcher: Arc<Matcher>,
        policy: Option<Policy>,
        event_capacity: usize,
    ) -> Enforcer {
        let policy = policy.map(|mut p| {
            p.set_epoch(1);
            let ledger = QuotaLedger::for_policy(&p);
            Arc::new(PolicyState { policy: p, ledger })
        });
        Enforcer {
            current: ArcSwap::from_pointee(Rules {
                epoch: 1,
                catalog,
                matcher,
                policy,
            }),
            epoch: AtomicU64::new(1),
            publishing: Mutex::new(()),
            events: EventQueue::new(event_capacity),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<Rules> {
        self.current.load_full()
    }

    /// The epoch in force (cheap: one atomic load).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Puts a new policy in force; today's quota usage carries over by subscriber and quota.
    /// Returns the new epoch.
    pub fn publish_policy(&self, mut policy: Policy) -> u64 {
        self.publish(|old, epoch| {
            policy.set_epoch(epoch);
            let ledger = match &old.policy {
                Some(s) => QuotaLedger::carry_over(&policy, &s.policy, &s.ledger),
                None => QuotaLedger::for_policy(&policy),
            };
            Rules {
                epoch,
                catalog: old.catalog.clone(),
                matcher: old.matcher.clone(),
                policy: Some(Arc::new(PolicyState { policy, ledger })),
            }
        })
    }

    /// Puts a new catalog and matcher in force. Returns the new epoch.
    pub fn publish_catalog(&self, catalog: Arc<Catalog>, matcher: Arc<Matcher>) -> u64 {
        self.publish(|old, epoch| Rules {
            epoch,
            catalog,
            matcher,
            policy: old.policy.clone(),
        })
    }

    fn publish(&self, make: impl FnOnce(&Rules, u64) -> Rules) -> u64 {
        let _one_at_a_time = self
            .publishing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let old = self.current.load_full();
        let epoch = old.epoch + 1;
        self.current.store(Arc::new(make(&old, epoch)));
        self.epoch.store(epoch, Ordering::Release);
        epoch
    }

    /// Block events waiting to be drained.
    pub fn events(&self) -> &EventQueue {
        &self.events
    }
}

/// A flow's classification and verdict, created when its naming ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The epoch of the rules the fields below came from.
    pub epoch: u64,
    pub subscriber: SubscriberRef,
    pub matched: Option<Match>,
    pub verdict: Option<Verdict>,
    /// Blocks recorded for this flow (a block event each).
    pub blocks: u32,
    /// The action of the flow's first verdict (kept across epochs).
    pub first_action: Option<Action>,
    /// The flow's first block, if it had one: what stopped it (a block resets a TCP connection
    /// and drops UDP), whatever was decided after.
    pub first_block: Option<FirstBlock>,
    /// The latest (action, rule) and the packet time it took effect (kept across epochs: a new
    /// epoch that decides the same does not move the time).
    pub current_since: Option<(Action, Rule, u64)>,
    /// Whether the flow's allowed minutes count toward quotas: a DNS lookup of an app's name is
    /// not time spent in the app.
    counts_quota: bool,
    /// The minute (since the epoch) last counted toward quotas.
    last_minute: u64,
}

/// When and by which rule a flow was first blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstBlock {
    /// The packet time of the first blocked packet (Unix ns).
    pub ts_ns: u64,
    /// The rule's label as the policy in force then named it (`schedule:bedtime`).
    pub rule_label: InlineStr<RULE_LABEL_CAP>,
}

/// What deciding one packet of a flow did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Naming still running, or nothing to decide with: the packet passes.
    Pending,
    Allow,
    Block,
}

/// Who a flow belongs to when its packets do not say (flow mode: the gateway's record names the
/// subscriber). Looked up again in each epoch's policy, like the session table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity<'a> {
    /// MSISDN or IMSI; used when the policy lists it.
    pub id: Option<&'a str>,
    /// The subscriber's address for the session table; default: whichever end of the flow is a
    /// listed line's, client first.
    pub ue: Option<IpAddr>,
}

/// Decides (or re-decides) `flow` at packet time `ts_ns` with `rules`, pushing a block event
/// into `events` when the flow becomes blocked (or blocked by a different rule).
#[inline]
pub fn decide(flow: &mut Flow, ts_ns: u64, rules: &Rules, events: &EventQueue) -> Outcome {
    decide_as(flow, Identity::default(), ts_ns, rules, events)
}

/// [`decide`] for a flow whose subscriber is given: `who.id` when the policy lists it, else the
/// session table by `who.ue` and the TEID, else (no `who.ue`) by the TEID and whichever end of
/// the flow is a listed line's, client first ([`Policy::subscriber_of_flow`]), else the default
/// profile. The identity is only read when the flow is classified (first decision, new epoch).
#[inline]
pub fn decide_as(
    flow: &mut Flow,
    who: Identity<'_>,
    ts_ns: u64,
    rules: &Rules,
    events: &EventQueue,
) -> Outcome {
    if !flow.naming_done {
        return Outcome::Pending;
    }
    // The common case, once per packet: same rules, verdict still valid.
    if let Some(d) = flow.decision.as_deref_mut() {
        if d.epoch == rules.epoch {
            match (&rules.policy, d.verdict) {
                (None, _) => return Outcome::Pending,
                (Some(state), Some(v)) if ts_ns < v.valid_until_ns => {
                    return settle(d, v, state, ts_ns);
                }
                _ => {}
            }
        }
    }
    decide_again(flow, who, ts_ns, rules, events)
}

/// Classifies (on a new epoch) and decides `flow`; the slow path of [`decide`].
#[cold]
fn decide_again(
    flow: &mut Flow,
    who: Identity<'_>,
    ts_ns: u64,
    rules: &Rules,
    events: &EventQueue,
) -> Outcome {
    let name = flow.name.as_deref().and_then(|n| n.name.as_deref());
    let is_quic = flow.name.as_deref().and_then(|n| n.proto) == Some(Proto::Quic);
    let client = flow.client().socket_addr();
    let server = flow.server().socket_addr();
    let decision = flow.decision.get_or_insert_with(|| {
        Box::new(Decision {
            epoch: 0,
            subscriber: SubscriberRef::Default,
            matched: None,
            verdict: None,
            blocks: 0,
            first_action: None,
            first_block: None,
            current_since: None,
            counts_quota: false,
            last_minute: u64::MAX,
        })
    });
    if decision.epoch != rules.epoch {
        decision.epoch = rules.epoch;
        decision.counts_quota = flow.name.as_deref().and_then(|n| n.proto) != Some(Proto::Dns);
        decision.matched = rules.matcher.classify(name, server.ip(), server.port());
        decision.subscriber = match &rules.policy {
            Some(s) => match who.id.and_then(|id| s.policy.subscriber_by_id(id)) {
                Some(listed) => listed,
                None => match who.ue {
                    Some(ue) => s.policy.subscriber_for(ue, flow.teid),
                    None => s
                        .policy
                        .subscriber_of_flow(client.ip(), server.ip(), flow.teid),
                },
            },
            None => SubscriberRef::Default,
        };
        decision.verdict = None;
    }
    let Some(state) = &rules.policy else {
        return Outcome::Pending;
    };
    let q = Query {
        subscriber: decision.subscriber,
        ts_ns,
        l4_is_udp: flow.key.l4 == crate::decode::L4::Udp,
        is_quic,
        name,
        matched: decision.matched,
        server,
        evasive: flow.evasive,
    };
    let v = state.policy.decide(&q, &state.ledger);
    let before = decision.verdict.map(|old| (old.action, old.rule));
    if v.action == Action::Block && before != Some((Action::Block, v.rule)) {
        decision.blocks += 1;
        // A full queue counts the event as dropped.
        events.push(BlockEvent::new(&state.policy, &q, client, &v));
    }
    decision.verdict = Some(v);
    decision.first_action.get_or_insert(v.action);
    if v.action == Action::Block && decision.first_block.is_none() {
        let mut rule_label = InlineStr::new();
        // Writing into an InlineStr cannot fail.
        let _ = state.policy.rule_label(v.rule).write_to(&mut rule_label);
        decision.first_block = Some(FirstBlock { ts_ns, rule_label });
    }
    if decision.current_since.map(|(a, r, _)| (a, r)) != Some((v.action, v.rule)) {
        decision.current_since = Some((v.action, v.rule, ts_ns));
    }
    settle(decision, v, state, ts_ns)
}

/// The outcome of a valid verdict; an allowed flow's packet counts toward quotas (once a
/// minute per flow; DNS flows do not count).
#[inline]
fn settle(d: &mut Decision, v: Verdict, state: &PolicyState, ts_ns: u64) -> Outcome {
    if v.action == Action::Block {
        return Outcome::Block;
    }
    let minute = ts_ns / NS_PER_MINUTE;
    if d.counts_quota && d.matched.is_some() && minute != d.last_minute {
        d.last_minute = minute;
        state
            .policy
            .account(&state.ledger, d.subscriber, d.matched, ts_ns);
    }
    Outcome::Allow
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::AppNames;
    use crate::decode::{Packet, L4};
    use crate::flow::FlowKey;
    use crate::inspect::namer::{FlowName, NameSource};

    /// 2024-03-12 (a Tuesday) 20:59:00 UTC; London is on GMT then.
    const T2059: u64 = 1_710_277_140 * 1_000_000_000;
    const MIN: u64 = 60 * 1_000_000_000;

    const POLICY: &str = r#"default_profile = "kid"
default_timezone = "Europe/London"
[profile.kid]
blocked_categories = ["gambling"]
[[profile.kid.schedules]]
name = "bedtime"
days = "daily"
start = "21:00"
end = "07:00"
block_all = true
allowed_categories = ["education"]
"#;

    /// A policy listing the test flow's client with a daily YouTube quota of `minutes`.
    fn youtube_quota(minutes: u32) -> String {
        format!(
            r#"default_profile = "kid"
[[subscriber]]
id = "447700900123"
identifiers = ["10.45.0.7"]
profile = "kid"
[profile.kid]
quotas = [{{ app = "youtube", minutes = {minutes} }}]
"#
        )
    }

    fn enforcer(policy: &str) -> Enforcer {
        let catalog = Catalog::embedded_default().expect("catalog");
        let policy = Policy::from_toml_str(policy, "test.toml", &catalog).expect("policy");
        let matcher = Matcher::build(&catalog, &[]);
        Enforcer::new(Arc::new(catalog), Arc::new(matcher), Some(policy), 16)
    }

    fn flow(name: &str) -> Flow {
        flow_between("10.45.0.7:50000", "198.51.100.9:443", name)
    }

    #[test]
    fn nothing_is_decided_while_naming_runs() {
        let e = enforcer(POLICY);
        let mut f = flow("www.bet365.com");
        f.naming_done = false;
        assert_eq!(
            decide(&mut f, T2059, &e.rules(), e.events()),
            Outcome::Pending
        );
        assert!(f.decision.is_none());
    }

    #[test]
    fn flow_straddling_a_schedule_start_is_blocked_at_its_next_packet() {
        let e = enforcer(POLICY);
        let rules = e.rules();
        let mut f = flow("www.roblox.com");
        assert_eq!(decide(&mut f, T2059, &rules, e.events()), Outcome::Allow);
        assert_eq!(
            decide(&mut f, T2059 + MIN - 1, &rules, e.events()),
            Outcome::Allow
        );
        assert_eq!(
            decide(&mut f, T2059 + MIN, &rules, e.events()),
            Outcome::Block
        );
        assert_eq!(
            decide(&mut f, T2059 + 2 * MIN, &rules, e.events()),
            Outcome::Block
        );
        let events: Vec<_> = e.events().drain().collect();
        assert_eq!(events.len(), 1, "one event when the flow becomes blocked");
        assert_eq!(events[0].rule_label.as_str(), "schedule:bedtime");
        assert_eq!(events[0].ts_ns, T2059 + MIN);
        let roblox = rules
            .catalog
            .app_id("roblox")
            .expect("roblox in the catalog");
        assert_eq!(events[0].app, Some(roblox));
    }

    #[test]
    fn a_flow_blocked_part_way_is_recorded_as_blocked_with_the_time_and_rule_of_its_block() {
        use crate::engine::record::{rfc3339, FlowRecord};
        let e = enforcer(POLICY);
        let rules = e.rules();
        let record = |f: &Flow| {
            let r = FlowRecord::of(f, Some(&rules));
            let s = |v: Option<Option<String>>| v.flatten().unwrap_or_default();
            let a = |v: Option<Option<&str>>| v.flatten().unwrap_or_default().to_owned();
            (a(r.verdict), s(r.rule), s(r.verdict_at), a(r.first_verdict))
        };
        // Allowed at 20:59, blocked at bedtime (21:00), and still sending when bedtime ends at
        // 07:00, when its packets would be allowed again: it was blocked at 21:00.
        let mut f = flow("www.roblox.com");
        assert_eq!(decide(&mut f, T2059, &rules, e.events()), Outcome::Allow);
        let bedtime = T2059 + MIN + 5_000_000_000;
        assert_eq!(decide(&mut f, bedtime, &rules, e.events()), Outcome::Block);
        let morning = T2059 + (10 * 60 + 5) * MIN;
        assert_eq!(decide(&mut f, morning, &rules, e.events()), Outcome::Allow);
        let want = (
            "block".to_owned(),
            "schedule:bedtime".to_owned(),
            rfc3339(bedtime),
            "allow".to_owned(),
        );
        assert_eq!(record(&f), want);
        // An allowed flow: allowed since its first decision.
        let mut ok = flow("www.roblox.com");
        let noon = T2059 - 9 * 60 * MIN;
        decide(&mut ok, noon, &rules, e.events());
        decide(&mut ok, noon + 10 * MIN, &rules, e.events());
        let want = (
            "allow".to_owned(),
            "default".to_owned(),
            rfc3339(noon),
            "allow".to_owned(),
        );
        assert_eq!(record(&ok), want);
        // Blocked from its first packet.
        let mut bet = flow("www.bet365.com");
        decide(&mut bet, noon, &rules, e.events());
        let want = (
            "block".to_owned(),
            "category:gambling".to_owned(),
            rfc3339(noon),
            "block".to_owned(),
        );
        assert_eq!(record(&bet), want);
    }

    #[test]
    fn new_epoch_mid_flow_decides_the_next_packet_again() {
        let e = enforcer(POLICY);
        let mut f = flow("www.roblox.com");
        let ts = T2059 - 60 * MIN; // 19:59, outside bedtime
        assert_eq!(decide(&mut f, ts, &e.rules(), e.events()), Outcome::Allow);
        let catalog = e.rules().catalog.clone();
        let stricter = POLICY.replace("[\"gambling\"]", "[\"gambling\", \"gaming\"]");
        let epoch = e.publish_policy(Policy::from_toml_str(&stricter, "t", &*catalog).unwrap());
        assert_eq!((epoch, e.epoch()), (2, 2));
        // The next packet, seen with the new rules, is decided again.
        assert_eq!(
            decide(&mut f, ts + 1, &e.rules(), e.events()),
            Outcome::Block
        );
        let ev = e.events().pop().expect("a block event");
        assert_eq!((ev.rule_label.as_str(), ev.epoch), ("category:gaming", 2));
        assert_eq!(f.decision.as_ref().map(|d| d.epoch), Some(2));
    }

    #[test]
    fn dns_lookups_do_not_count_toward_quotas() {
        let e = enforcer(&youtube_quota(1));
        let rules = e.rules();
        let mut lookup = flow("www.youtube.com");
        if let Some(n) = lookup.name.as_mut() {
            n.proto = Some(Proto::Dns);
        }
        let t0 = T2059 - 120 * MIN;
        for m in 0..3 {
            assert_eq!(
                decide(&mut lookup, t0 + m * MIN, &rules, e.events()),
                Outcome::Allow
            );
        }
        // Three minutes of lookups later, the app itself still has its minute.
        let mut watch = flow("www.youtube.com");
        assert_eq!(
            decide(&mut watch, t0 + 3 * MIN, &rules, e.events()),
            Outcome::Allow
        );
        assert_eq!(
            decide(&mut watch, t0 + 4 * MIN, &rules, e.events()),
            Outcome::Block
        );
    }

    #[test]
    fn allowed_flows_count_toward_quotas_once_a_minute() {
        let e = enforcer(&youtube_quota(2));
        let rules = e.rules();
        let mut f = flow("www.youtube.com");
        let t0 = T2059 - 120 * MIN;
        for s in 0..30 {
            // 30 packets inside the first minute count one minute.
            assert_eq!(
                decide(&mut f, t0 + s * 1_000_000_000, &rules, e.events()),
                Outcome::Allow
            );
        }
        assert_eq!(decide(&mut f, t0 + MIN, &rules, e.events()), Outcome::Allow);
        // Two minutes used: the verdict (valid to the next minute) turns to block.
        assert_eq!(
            decide(&mut f, t0 + 2 * MIN, &rules, e.events()),
            Outcome::Block
        );
        let ev = e.events().pop().expect("block event");
        assert_eq!(ev.rule_label.as_str(), "quota:youtube");
    }

    /// A flow from `client` to `server` (TCP, named `name` by its SNI), as the worker makes it.
    fn flow_between(client: &str, server: &str, name: &str) -> Flow {
        let (c, s): (std::net::SocketAddr, std::net::SocketAddr) =
            (client.parse().unwrap(), server.parse().unwrap());
        let p = Packet {
            src: c.ip(),
            dst: s.ip(),
            l4: L4::Tcp,
            src_port: c.port(),
            dst_port: s.port(),
            seq: 0,
            flags: 0,
            payload: &[],
            teid: None,
        };
        let (key, dir) = FlowKey::of(&p);
        let mut f = Flow::new(key, dir, 0, T2059);
        f.naming_done = true;
        f.name = Some(Box::new(FlowName {
            proto: Some(Proto::Tls),
            name: Some(name.into()),
            source: Some(NameSource::Sni),
            alpn: Default::default(),
        }));
        f
    }

    #[test]
    fn a_connection_to_a_listed_line_is_that_lines_flow() {
        // 10.45.0.7 is the listed line 447700900123; every other address is `default`.
        let e = enforcer(&youtube_quota(1));
        let rules = e.rules();
        let Some(state) = rules.policy.as_ref() else {
            panic!("a policy is set")
        };
        let subscriber_of = |client: &str, server: &str| {
            let mut f = flow_between(client, server, "www.example.org");
            decide(&mut f, T2059, &rules, e.events());
            let d = f.decision.expect("decided");
            state.policy.subscriber_id(d.subscriber).to_owned()
        };
        // The phone connects out, and a server connects in to the phone: the phone's line both
        // times.
        assert_eq!(
            subscriber_of("10.45.0.7:50000", "198.51.100.60:443"),
            "447700900123"
        );
        assert_eq!(
            subscriber_of("198.51.100.60:50000", "10.45.0.7:8080"),
            "447700900123"
        );
        assert_eq!(
            subscriber_of("198.51.100.60:50000", "192.0.2.1:8080"),
            "default"
        );
    }

    #[test]
    fn a_listed_id_beats_the_session_table_and_an_unlisted_one_falls_back_to_it() {
        let policy = format!(
            "{}[[subscriber]]\nid = \"447700900999\"\nidentifiers = [\"10.45.0.99\"]\nprofile = \"kid\"\n",
            youtube_quota(1)
        );
        let e = enforcer(&policy);
        let rules = e.rules();
        let Some(state) = rules.policy.as_ref() else {
            panic!("a policy is set")
        };
        let subscriber = |who: Identity<'_>| {
            let mut f = flow("www.youtube.com");
            decide_as(&mut f, who, T2059, &rules, e.events());
            let d = f.decision.expect("decided");
            state.policy.subscriber_id(d.subscriber).to_owned()
        };
        // The test flow's client is 10.45.0.7, listed as 447700900123.
        assert_eq!(subscriber(Identity::default()), "447700900123");
        let by_id = Identity {
            id: Some("447700900999"),
            ue: None,
        };
        assert_eq!(subscriber(by_id), "447700900999");
        let unlisted = Identity {
            id: Some("440000000000"),
            ue: Some("10.45.0.99".parse().unwrap()),
        };
        assert_eq!(subscriber(unlisted), "447700900999", "by the UE address");
        let nowhere = Identity {
            id: Some("440000000000"),
            ue: Some("192.0.2.1".parse().unwrap()),
        };
        assert_eq!(subscriber(nowhere), "default");
    }
}
