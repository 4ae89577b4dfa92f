//! The flow-mode [`RecordHandler`]: one consumed `network-traffic` message in, the messages to
//! publish out. A record is parsed ([`TrafficRecord::parse`]); a refused one goes to the
//! dead-letter topic with its reason, a checked one to the [`FlowDecider`].
//!
//! Everything depends only on the records and their order: two runs over the same records
//! publish the same bytes.

use super::decider::{DeciderConfig, DeciderCounters, FlowDecider};
use super::output::{recover_flow_id, DeadLetter, INVALID_KEY};
use super::record::{FlowEvent, Reason, TrafficRecord};
use super::{Origin, OutTopic, Outbound, RecordHandler};
use dataplane::classify::{Catalog, Matcher};
use dataplane::engine::enforce::Enforcer;
use dataplane::policy::Policy;
use std::sync::Arc;

/// Block events that may wait in the enforcer's queue; drained after every step, so a few do.
const EVENT_QUEUE: usize = 64;

/// Counts of a pipeline's work.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineCounters {
    /// Messages handled.
    pub records: u64,
    /// Checked records by event: `[start, update, end]`.
    pub by_event: [u64; 3],
    /// Refused records by reason, in the order of [`Reason::ALL`].
    pub invalid: [u64; Reason::ALL.len()],
    pub decider: DeciderCounters,
    /// Flows in the table now.
    pub live_flows: usize,
}

impl PipelineCounters {
    /// Refused records with this reason.
    pub fn invalid(&self, reason: Reason) -> u64 {
        reason_index(reason)
            .and_then(|i| self.invalid.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Refused records, all reasons.
    pub fn invalid_total(&self) -> u64 {
        self.invalid.iter().sum()
    }

    /// Checked records with this event.
    pub fn event(&self, event: FlowEvent) -> u64 {
        self.by_event[event_index(event)]
    }
}

fn reason_index(reason: Reason) -> Option<usize> {
    Reason::ALL.iter().position(|r| *r == reason)
}

fn event_index(event: FlowEvent) -> usize {
    match event {
        FlowEvent::Start => 0,
        FlowEvent::Update => 1,
        FlowEvent::End => 2,
    }
}

/// Parse, decide, publish: flow mode's [`RecordHandler`].
pub struct RecordPipeline {
    decider: FlowDecider,
    records: u64,
    by_event: [u64; 3],
    invalid: [u64; Reason::ALL.len()],
}

impl RecordPipeline {
    /// A pipeline deciding with the rules `enforcer` publishes (a new policy published there is
    /// used from the next record). The pipeline drains the enforcer's event queue: give it an
    /// enforcer of its own.
    pub fn new(enforcer: Arc<Enforcer>, config: DeciderConfig) -> RecordPipeline {
        RecordPipeline {
            decider: FlowDecider::new(enforcer, config),
            records: 0,
            by_event: [0; 3],
            invalid: [0; Reason::ALL.len()],
        }
    }

    /// A pipeline for a catalog and a policy, with the matcher built from the catalog alone;
    /// `pcgate replay --policy` builds its enforcer the same way (category lists aside: build
    /// the [`Matcher`] with them and use [`RecordPipeline::new`]).
    pub fn from_policy(catalog: Catalog, policy: Policy, config: DeciderConfig) -> RecordPipeline {
        let matcher = Matcher::build(&catalog, &[]);
        let enforcer = Enforcer::new(
            Arc::new(catalog),
            Arc::new(matcher),
            Some(policy),
            EVENT_QUEUE,
        );
        RecordPipeline::new(Arc::new(enforcer), config)
    }

    pub fn enforcer(&self) -> &Arc<Enforcer> {
        self.decider.enforcer()
    }

    pub fn counters(&self) -> PipelineCounters {
        PipelineCounters {
            records: self.records,
            by_event: self.by_event,
            invalid: self.invalid,
            decider: self.decider.counters().clone(),
            live_flows: self.decider.live_flows(),
        }
    }
}

impl RecordHandler for RecordPipeline {
    fn handle(&mut self, payload: &[u8], origin: &Origin<'_>, out: &mut Vec<Outbound>) {
        self.records += 1;
        match TrafficRecord::parse(payload) {
            Ok(rec) => {
                self.by_event[event_index(rec.event)] += 1;
                self.decider.handle(&rec, origin.partition, out);
            }
            Err(invalid) => {
                if let Some(n) = reason_index(invalid.reason).and_then(|i| self.invalid.get_mut(i))
                {
                    *n += 1;
                }
                out.push(Outbound {
                    topic: OutTopic::DeadLetter,
                    key: recover_flow_id(payload).unwrap_or_else(|| INVALID_KEY.to_owned()),
                    payload: DeadLetter::new(payload, &invalid, origin).to_json(),
                });
            }
        }
    }

    fn revoked(&mut self, partitions: &[i32]) {
        self.decider.forget_partitions(partitions);
    }
}
