//! Flow mode: pcgate fed by the P-Gateway's `network-traffic` records instead of packets.
//!
//! [`record`] is the format of one record. A [`RecordHandler`] turns the payload of one consumed
//! message into the messages to publish ([`Outbound`]): decisions, blocks, or the record itself
//! on the dead-letter topic with the reason it was refused. The Kafka side (consumer, producer,
//! spool) only moves bytes between topics and a handler; it never looks inside a record.
//!
//! [`pipeline::RecordPipeline`] is the handler of flow mode: it parses, decides with the data
//! plane's code ([`decider`]) and writes the outputs ([`output`], and `crate::events` for
//! blocks).

pub mod decider;
pub mod output;
pub mod pipeline;
pub mod record;

pub use decider::{DeciderConfig, DeciderCounters, FlowDecider};
pub use pipeline::{PipelineCounters, RecordPipeline};

/// The topic the P-Gateway publishes flow records on.
pub const NETWORK_TRAFFIC: &str = "network-traffic";
/// Where refused records go, with their reason.
pub const NETWORK_TRAFFIC_DLQ: &str = "network-traffic.dlq";
/// Every decision (or a sample of allows; blocks always).
pub const POLICY_DECISIONS: &str = "policy-decisions";
/// Blocks, for the FTD integration and analytics.
pub const BLOCKED_REQUESTS: &str = "blocked-requests";

/// The topic an outbound message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutTopic {
    Decisions,
    Blocked,
    DeadLetter,
}

impl OutTopic {
    pub const ALL: [OutTopic; 3] = [OutTopic::Decisions, OutTopic::Blocked, OutTopic::DeadLetter];

    /// The topic's default name.
    pub fn default_name(self) -> &'static str {
        match self {
            OutTopic::Decisions => POLICY_DECISIONS,
            OutTopic::Blocked => BLOCKED_REQUESTS,
            OutTopic::DeadLetter => NETWORK_TRAFFIC_DLQ,
        }
    }
}

/// One message to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    pub topic: OutTopic,
    /// The message key: the subscriber, so that a subscriber's messages stay in order.
    pub key: String,
    /// JSON.
    pub payload: Vec<u8>,
}

/// Where a consumed message came from (for the dead-letter record and error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// Turns consumed messages into messages to publish. Called in the order messages were
/// consumed within a partition; a subscriber's records share a partition (they are keyed by
/// subscriber), so per-subscriber state such as quotas is seen in order.
pub trait RecordHandler {
    /// Handles the payload of one message, appending what to publish to `out`.
    fn handle(&mut self, payload: &[u8], origin: &Origin<'_>, out: &mut Vec<Outbound>);

    /// The consumer no longer owns these partitions of the input topic (a rebalance): state
    /// kept for their records can go.
    fn revoked(&mut self, _partitions: &[i32]) {}
}

#[cfg(test)]
mod tests;

/// A handler lent out: the caller keeps it (and its counters) after the loop that used it.
impl<H: RecordHandler + ?Sized> RecordHandler for &mut H {
    fn handle(&mut self, payload: &[u8], origin: &Origin<'_>, out: &mut Vec<Outbound>) {
        (**self).handle(payload, origin, out)
    }

    fn revoked(&mut self, partitions: &[i32]) {
        (**self).revoked(partitions)
    }
}
