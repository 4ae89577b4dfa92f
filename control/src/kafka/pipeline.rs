//! The consume-decide-produce loop, at-least-once.
//!
//! One thread runs it: a [`BaseConsumer`] in the group hands each message, in partition order,
//! to the [`RecordHandler`]; the outputs go to a [`BaseProducer`] (idempotent, acks=all) keyed as
//! given. Each consumed offset waits in a per-partition queue with the count of its outputs not
//! yet settled; an output is settled when the broker acknowledged it or when it was written to the
//! spool. An offset is committed only when it and every earlier offset of its partition are
//! settled; commits are batched (every `commit_interval_ms` or `commit_every` records), and the
//! spool is synced to disk before each commit. Once caught up (nothing consumed for a poll
//! timeout, every output settled), the loop commits synchronously, so the offsets are confirmed;
//! [`RunStats::complete_ms`] is the last moment that happened.
//!
//! When a delivery fails (brokers gone past `message.timeout.ms`, a fatal error), the message
//! goes to the spool, and from then on new outputs are appended after it so that order is kept.
//! A drainer sends the spool's entries in batches; a batch is acknowledged in the spool once all
//! of it was delivered, and retried after a back-off otherwise. When the spool is empty again,
//! outputs go straight to the producer. At start-up, what the spool holds is sent first. When the
//! spool is full, the assigned partitions are paused (nothing is dropped) until it has room.
//!
//! On a rebalance that revokes partitions, the producer is flushed and what was settled is
//! committed before the partitions go. On stop (the cancellation token, or `exit_when_idle`), the
//! same happens for everything.
//!
//! With Amazon MSK's IAM authentication, both clients' contexts answer librdkafka's OAUTHBEARER
//! token refresh with a token from the [`MskIamSigner`] (when the client is created, then at 80 %
//! of each token's lifetime, served by the loop's polls).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::client::OAuthToken;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::config::{ConfigError, KafkaConfig};
use super::msk_iam::MskIamSigner;
use crate::spool::{Spool, SpoolError, SpoolStats};
use crate::traffic::{Origin, OutTopic, Outbound, RecordHandler};

/// A delivery opaque holds, from the lowest bit: the sequence number within a partition slot
/// (`SEQ_BITS`), the output topic's index in `OutTopic::ALL` (`TOPIC_BITS`), the slot.
const SEQ_BITS: u32 = 40;
const SEQ_MASK: usize = (1 << SEQ_BITS) - 1;
const TOPIC_BITS: u32 = 2;
const SLOT_SHIFT: u32 = SEQ_BITS + TOPIC_BITS;
/// The slot value marking a message sent from the spool.
const SPOOL_SLOT: usize = (1 << (usize::BITS - SLOT_SHIFT)) - 1;
/// Entries sent from the spool per drain batch.
const DRAIN_BATCH: usize = 20_000;
/// Back-off before a failed drain is tried again.
const DRAIN_BACKOFF: Duration = Duration::from_secs(1);
/// Consumer poll timeout when idle.
const POLL_TIMEOUT: Duration = Duration::from_millis(50);
/// Service (producer poll, commits, drain) runs at least every this many messages.
const SERVICE_EVERY: u32 = 256;
/// How long a revoke or a stop waits for outstanding deliveries at most.
const FLUSH_LIMIT: Duration = Duration::from_secs(30);
/// Producer events (each the delivery reports of one produce request) served per service
/// round at most.
const EVENTS_PER_SERVICE: usize = 4_096;

/// Errors that end the loop.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("kafka: creating the {client}: {source}")]
    Create {
        client: &'static str,
        #[source]
        source: KafkaError,
    },
    #[error("kafka: subscribing to {topic}: {source}")]
    Subscribe {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("kafka: fatal consumer error: {0}")]
    Fatal(#[source] KafkaError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("kafka: the loop's thread ended abnormally")]
    Thread,
}

/// Live counters, readable while the loop runs (for `/metrics`).
#[derive(Debug, Default)]
pub struct Metrics {
    pub consumed: AtomicU64,
    /// Acknowledged by the broker, per [`OutTopic`] (index as in `OutTopic::ALL`).
    pub produced: [AtomicU64; 3],
    /// Outputs written to the spool.
    pub spooled: AtomicU64,
    /// Spool entries delivered.
    pub replayed: AtomicU64,
    pub delivery_failures: AtomicU64,
    /// Offsets commits sent.
    pub commits: AtomicU64,
    pub commit_errors: AtomicU64,
    pub consumer_errors: AtomicU64,
    /// Spool state.
    pub spool_bytes: AtomicU64,
    pub spool_entries: AtomicU64,
    pub spool_full_events: AtomicU64,
    /// 1 when the last poll found nothing to consume and nothing waited for delivery or
    /// commit: the instance is caught up with its partitions.
    pub caught_up: AtomicU64,
    /// OAUTHBEARER tokens handed to librdkafka (both clients), and refreshes that found no token
    /// to give.
    pub oauth_tokens: AtomicU64,
    pub oauth_token_errors: AtomicU64,
    /// Partitions of the input topic assigned to this instance now.
    pub assigned_partitions: AtomicU64,
}

/// Options of a run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop once no message came for this long (and everything was delivered and committed),
    /// counted from the last message or the last (re)assignment of partitions, whichever is
    /// later; while no partition is assigned (joining the group) the instance is not idle.
    pub exit_when_idle: Option<Duration>,
    /// Where live counters go.
    pub metrics: Arc<Metrics>,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    pub consumed: u64,
    /// Acknowledged by the broker, per topic in `OutTopic::ALL` order.
    pub produced: [u64; 3],
    pub spooled: u64,
    pub replayed: u64,
    pub delivery_failures: u64,
    pub commits: u64,
    pub commit_errors: u64,
    pub spool: SpoolStats,
    /// Milliseconds from the first consumed message to the last.
    pub active_ms: u64,
    /// Milliseconds from the first consumed message until every consumed message's outputs were
    /// settled (acknowledged or spooled) and its offset committed, the last time that happened
    /// (the end-to-end rate's denominator).
    pub complete_ms: u64,
}

/// The delivery opaque of an output of `topic` sent for message `seq` of partition slot `slot`.
fn opaque(slot: usize, topic: OutTopic, seq: u64) -> usize {
    (slot << SLOT_SHIFT) | (topic_index(topic) << SEQ_BITS) | (seq as usize & SEQ_MASK)
}

/// The index of `topic` in `OutTopic::ALL` (counters, delivery opaques).
fn topic_index(topic: OutTopic) -> usize {
    match topic {
        OutTopic::Decisions => 0,
        OutTopic::Blocked => 1,
        OutTopic::DeadLetter => 2,
    }
}

/// The slot, topic and sequence number of a delivery opaque.
fn split_opaque(opaque: usize) -> (usize, OutTopic, u64) {
    let idx = (opaque >> SEQ_BITS) & ((1 << TOPIC_BITS) - 1);
    // Index 3 is never written.
    let topic = OutTopic::ALL
        .get(idx)
        .copied()
        .unwrap_or(OutTopic::DeadLetter);
    (opaque >> SLOT_SHIFT, topic, (opaque & SEQ_MASK) as u64)
}

/// A delivery report, copied out of the producer's callback.
struct Report {
    opaque: usize,
    /// `None` on success; on failure, the key and payload to spool.
    failed: Option<(String, Vec<u8>)>,
}

/// Answers librdkafka's OAUTHBEARER token refreshes; both clients' contexts hold one.
#[derive(Clone)]
struct TokenSource {
    /// Set with method `aws_msk_iam`; librdkafka makes the tokens of the other methods itself.
    signer: Option<Arc<MskIamSigner>>,
    metrics: Arc<Metrics>,
}

impl TokenSource {
    fn generate(&self) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let Some(signer) = &self.signer else {
            self.metrics
                .oauth_token_errors
                .fetch_add(1, Ordering::Relaxed);
            let msg = "kafka: librdkafka asked for an OAUTHBEARER token, but pcgate signs tokens \
                       only with kafka.oauthbearer.method = \"aws_msk_iam\"";
            tracing::error!("{msg}");
            return Err(msg.into());
        };
        let t = signer.token();
        self.metrics.oauth_tokens.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            region = signer.region(),
            expires_at_ms = t.expires_at_ms,
            "kafka: MSK IAM token signed"
        );
        Ok(OAuthToken {
            token: t.token,
            principal_name: signer.principal().to_string(),
            lifetime_ms: t.expires_at_ms,
        })
    }
}

/// Implements `ClientContext` for a context with a `token: TokenSource` field: librdkafka's
/// OAUTHBEARER token refreshes are answered from it.
macro_rules! client_context_with_tokens {
    ($context:ty) => {
        impl ClientContext for $context {
            const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

            fn generate_oauth_token(
                &self,
                _oauthbearer_config: Option<&str>,
            ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
                self.token.generate()
            }
        }
    };
}

/// The producer's context: collects delivery reports for the loop.
struct DeliveryContext {
    reports: Mutex<Vec<Report>>,
    token: TokenSource,
    /// Delivery reports received, ever.
    received: AtomicU64,
}

client_context_with_tokens!(DeliveryContext);

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let report = match result {
            Ok(_) => Report {
                opaque,
                failed: None,
            },
            Err((e, m)) => {
                tracing::debug!(error = %e, topic = m.topic(), "delivery failed; to the spool");
                let key = m
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default();
                Report {
                    opaque,
                    failed: Some((key, m.payload().unwrap_or_default().to_vec())),
                }
            }
        };
        if let Ok(mut r) = self.reports.lock() {
            r.push(report);
        }
        self.received.fetch_add(1, Ordering::Relaxed);
    }
}

/// Serves the delivery reports waiting now. One `poll` serves one event, the reports of one
/// produce request (one partition's batch), so a single `poll` per service round would let
/// reports, settlement and commits fall ever further behind consumption.
fn serve_delivery_reports(producer: &BaseProducer<DeliveryContext>) {
    let received = || producer.context().received.load(Ordering::Relaxed);
    for _ in 0..EVENTS_PER_SERVICE {
        let before = received();
        producer.poll(Duration::ZERO);
        if received() == before {
            return;
        }
    }
}

/// A map looked up for every message and every delivery report: small integer keys, hashed
/// with foldhash rather than SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A consumed offset waiting for its outputs.
struct Pending {
    offset: i64,
    remaining: u32,
}

/// One assigned partition's bookkeeping.
struct PartState {
    partition: i32,
    head_seq: u64,
    pending: VecDeque<Pending>,
    /// Next offset to commit (last settled + 1).
    settled: Option<i64>,
    committed: Option<i64>,
}

impl PartState {
    fn advance(&mut self) {
        while let Some(p) = self.pending.front() {
            if p.remaining > 0 {
                break;
            }
            self.settled = Some(p.offset + 1);
            self.pending.pop_front();
            self.head_seq += 1;
        }
    }
}

/// State shared by the loop and the rebalance callback.
struct Core {
    producer: BaseProducer<DeliveryContext>,
    spool: Spool,
    cfg: KafkaConfig,
    metrics: Arc<Metrics>,
    slots: FastMap<i32, usize>,
    parts: FastMap<usize, PartState>,
    next_slot: usize,
    /// Outputs that found the spool full: (slot, seq, output).
    stalled: VecDeque<(usize, u64, Outbound)>,
    /// Spool entries in flight, the end position of the batch, and whether one failed.
    drain_in_flight: usize,
    drain_end: u64,
    drain_failed: bool,
    next_drain: Instant,
    paused: bool,
    /// When the current assignment was made; `None` while no partition is assigned.
    assigned_at: Option<Instant>,
    /// Partitions revoked since the handler was last told.
    revoked: Vec<i32>,
    last_commit: Instant,
    since_commit: u64,
    /// Whether every offset committed so far was confirmed by the broker (a synchronous commit
    /// of all partitions); an asynchronous commit is not.
    confirmed: bool,
    /// When a synchronous commit last left every consumed message settled and committed.
    complete_at: Option<Instant>,
    stats: RunStats,
    reports: Vec<Report>,
}

impl Core {
    /// True while outputs must go to the spool (to keep them after what it holds).
    fn spooling(&self) -> bool {
        !self.spool.is_empty() || !self.stalled.is_empty() || self.drain_in_flight > 0
    }

    fn slot_for(&mut self, partition: i32) -> usize {
        if let Some(&s) = self.slots.get(&partition) {
            return s;
        }
        let s = self.next_slot;
        self.next_slot = (self.next_slot + 1) % SPOOL_SLOT;
        self.slots.insert(partition, s);
        self.parts.insert(
            s,
            PartState {
                partition,
                head_seq: 0,
                pending: VecDeque::new(),
                settled: None,
                committed: None,
            },
        );
        s
    }

    /// Records a consumed message and sends (or spools) its outputs.
    fn dispatch(&mut self, partition: i32, offset: i64, outs: &mut Vec<Outbound>) {
        let slot = self.slot_for(partition);
        let Some(st) = self.parts.get_mut(&slot) else {
            return;
        };
        let seq = st.head_seq + st.pending.len() as u64;
        st.pending.push_back(Pending {
            offset,
            remaining: outs.len() as u32,
        });
        for out in outs.drain(..) {
            if self.spooling() {
                self.spool_output(slot, seq, out);
            } else {
                self.send(slot, seq, out);
            }
        }
        if let Some(st) = self.parts.get_mut(&slot) {
            st.advance();
        }
        self.stats.consumed += 1;
        self.since_commit += 1;
    }

    fn send(&mut self, slot: usize, seq: u64, out: Outbound) {
        let opaque = opaque(slot, out.topic, seq);
        loop {
            let topic = self.cfg.topic_name(out.topic);
            let rec = BaseRecord::with_opaque_to(topic, opaque)
                .key(out.key.as_str())
                .payload(out.payload.as_slice());
            match self.producer.send(rec).map_err(|(e, _)| e) {
                Ok(()) => return,
                Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                    self.producer.poll(Duration::from_millis(5));
                    self.process_reports();
                }
                Err(e) => {
                    let topic = self.cfg.topic_name(out.topic);
                    tracing::warn!(error = %e, topic, "produce refused; to the spool");
                    self.spool_output(slot, seq, out);
                    return;
                }
            }
        }
    }

    /// Writes an output to the spool (settling it), or keeps it stalled when the spool is full.
    fn spool_output(&mut self, slot: usize, seq: u64, out: Outbound) {
        if !self.stalled.is_empty() {
            self.stalled.push_back((slot, seq, out));
            return;
        }
        match self.spool.append(out.topic, &out.key, &out.payload) {
            Ok(()) => {
                self.stats.spooled += 1;
                self.metrics.spooled.fetch_add(1, Ordering::Relaxed);
                self.settle(slot, seq);
            }
            Err(e) => {
                if !matches!(e, SpoolError::Full { .. }) {
                    tracing::error!(error = %e, "spool append failed; holding the output in memory");
                }
                self.stalled.push_back((slot, seq, out));
            }
        }
    }

    fn settle(&mut self, slot: usize, seq: u64) {
        if let Some(st) = self.parts.get_mut(&slot) {
            let Some(idx) = seq.checked_sub(st.head_seq) else {
                return;
            };
            if let Some(p) = st.pending.get_mut(idx as usize) {
                p.remaining = p.remaining.saturating_sub(1);
            }
            st.advance();
        }
    }

    /// Counts an acknowledged output of `topic`.
    fn produced(&mut self, topic: OutTopic) {
        let i = topic_index(topic);
        self.stats.produced[i] += 1;
        self.metrics.produced[i].fetch_add(1, Ordering::Relaxed);
    }

    fn process_reports(&mut self) {
        {
            let ctx = self.producer.context();
            if let Ok(mut r) = ctx.reports.lock() {
                std::mem::swap(&mut *r, &mut self.reports);
            }
        }
        let mut reports = std::mem::take(&mut self.reports);
        for rep in reports.drain(..) {
            let (slot, topic, seq) = split_opaque(rep.opaque);
            if slot == SPOOL_SLOT {
                self.drain_in_flight = self.drain_in_flight.saturating_sub(1);
                if rep.failed.is_some() {
                    self.drain_failed = true;
                    self.stats.delivery_failures += 1;
                    self.metrics
                        .delivery_failures
                        .fetch_add(1, Ordering::Relaxed);
                } else {
                    self.stats.replayed += 1;
                    self.metrics.replayed.fetch_add(1, Ordering::Relaxed);
                    self.produced(topic);
                }
                continue;
            }
            match rep.failed {
                None => {
                    self.produced(topic);
                    self.settle(slot, seq);
                }
                Some((key, payload)) => {
                    self.stats.delivery_failures += 1;
                    self.metrics
                        .delivery_failures
                        .fetch_add(1, Ordering::Relaxed);
                    let out = Outbound {
                        topic,
                        key,
                        payload,
                    };
                    self.spool_output(slot, seq, out);
                }
            }
        }
        self.reports = reports;
    }

    /// Retries stalled outputs into the spool.
    fn unstall(&mut self) {
        while let Some((slot, seq, out)) = self.stalled.pop_front() {
            match self.spool.append(out.topic, &out.key, &out.payload) {
                Ok(()) => {
                    self.stats.spooled += 1;
                    self.metrics.spooled.fetch_add(1, Ordering::Relaxed);
                    self.settle(slot, seq);
                }
                Err(_) => {
                    self.stalled.push_front((slot, seq, out));
                    return;
                }
            }
        }
    }

    /// Sends the next batch from the spool, or finishes the one in flight.
    fn drain(&mut self) -> Result<(), PipelineError> {
        if self.drain_in_flight > 0 {
            return Ok(());
        }
        if self.drain_end > 0 || self.drain_failed {
            // The previous batch is settled.
            if self.drain_failed {
                self.spool.rewind();
                self.next_drain = Instant::now() + DRAIN_BACKOFF;
                tracing::warn!(
                    held = self.spool.stats().entries,
                    "spool drain: brokers not taking messages; retrying"
                );
            } else {
                self.spool.ack(self.drain_end)?;
            }
            self.drain_end = 0;
            self.drain_failed = false;
        }
        self.unstall();
        if self.spool.is_empty() || Instant::now() < self.next_drain {
            return Ok(());
        }
        let batch = self.spool.read(DRAIN_BATCH)?;
        let Some(last) = batch.last() else {
            return Ok(());
        };
        self.drain_end = last.end;
        for e in &batch {
            let topic = self.cfg.topic_name(e.topic).to_string();
            loop {
                let rec = BaseRecord::with_opaque_to(&topic, opaque(SPOOL_SLOT, e.topic, 0))
                    .key(e.key.as_str())
                    .payload(e.payload.as_slice());
                match self.producer.send(rec) {
                    Ok(()) => {
                        self.drain_in_flight += 1;
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        self.producer.poll(Duration::from_millis(5));
                        self.process_reports();
                    }
                    Err((err, _)) => {
                        tracing::warn!(error = %err, "spool drain: produce refused");
                        self.drain_failed = true;
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Commits settled offsets of the given partitions (all when `only` is None).
    fn commit(
        &mut self,
        consumer: &BaseConsumer<impl ConsumerContext>,
        mode: CommitMode,
        only: Option<&[i32]>,
    ) {
        if let Err(e) = self.spool.sync() {
            tracing::error!(error = %e, "spool sync failed; offsets not committed");
            return;
        }
        // A synchronous commit of everything also confirms what asynchronous ones sent.
        let confirm = matches!(mode, CommitMode::Sync) && only.is_none();
        let again = confirm && !self.confirmed;
        let mut tpl = TopicPartitionList::new();
        let mut advanced = Vec::new();
        for (slot, st) in &self.parts {
            if only.is_some_and(|o| !o.contains(&st.partition)) {
                continue;
            }
            if let Some(off) = st.settled {
                if again || st.committed != Some(off) {
                    let _ = tpl.add_partition_offset(
                        &self.cfg.input_topic,
                        st.partition,
                        Offset::Offset(off),
                    );
                    advanced.push((*slot, off));
                }
            }
        }
        self.last_commit = Instant::now();
        self.since_commit = 0;
        if advanced.is_empty() {
            // Nothing settled in the partitions held now: nothing left to confirm.
            self.confirmed |= confirm;
            return;
        }
        match consumer.commit(&tpl, mode) {
            Ok(()) => {
                for (slot, off) in advanced {
                    if let Some(st) = self.parts.get_mut(&slot) {
                        st.committed = Some(off);
                    }
                }
                self.stats.commits += 1;
                self.metrics.commits.fetch_add(1, Ordering::Relaxed);
                if matches!(mode, CommitMode::Async) {
                    self.confirmed = false;
                } else if confirm && self.all_committed() {
                    self.confirmed = true;
                    self.complete_at = Some(Instant::now());
                }
            }
            Err(e) => {
                self.stats.commit_errors += 1;
                self.metrics.commit_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "offset commit failed; will retry");
            }
        }
    }

    /// True when every consumed message is settled and its offset committed.
    fn all_committed(&self) -> bool {
        self.parts
            .values()
            .all(|p| p.pending.is_empty() && p.settled == p.committed)
    }

    /// Waits (bounded) until every direct output was delivered or spooled.
    fn settle_all(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            self.producer.poll(Duration::from_millis(10));
            self.process_reports();
            let _ = self.drain();
            let open = self.parts.values().any(|p| !p.pending.is_empty());
            if (!open && self.drain_in_flight == 0) || Instant::now() >= deadline {
                return;
            }
        }
    }

    fn publish_spool_metrics(&self) {
        let s = self.spool.stats();
        self.metrics.spool_bytes.store(s.bytes, Ordering::Relaxed);
        self.metrics
            .spool_entries
            .store(s.entries, Ordering::Relaxed);
        self.metrics
            .spool_full_events
            .store(s.full_events, Ordering::Relaxed);
    }
}

/// The consumer's context: on revoke, settles and commits before the partitions go.
struct GroupContext {
    core: Arc<Mutex<Core>>,
    token: TokenSource,
}

client_context_with_tokens!(GroupContext);

/// Tells the handler of the partitions revoked since it was last told.
fn revoke<H: RecordHandler>(core: &mut Core, handler: &mut H) {
    if !core.revoked.is_empty() {
        handler.revoked(&std::mem::take(&mut core.revoked));
    }
}

fn lock(core: &Mutex<Core>) -> MutexGuard<'_, Core> {
    core.lock().unwrap_or_else(|p| p.into_inner())
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let revoked: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let mut core = lock(&self.core);
        tracing::info!(
            ?revoked,
            "rebalance: partitions revoked; settling and committing"
        );
        let limit = Duration::from_millis(u64::from(core.cfg.message_timeout_ms)).min(FLUSH_LIMIT);
        core.settle_all(limit);
        core.commit(consumer, CommitMode::Sync, Some(&revoked));
        for &p in &revoked {
            if let Some(slot) = core.slots.remove(&p) {
                core.parts.remove(&slot);
            }
        }
        core.revoked.extend(revoked);
        if core.paused {
            core.paused = false;
        }
    }

    /// Notes when partitions were (re)assigned, for the idle exit and the metrics.
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        let assigned = consumer.assignment().map_or(0, |a| a.count());
        let mut core = lock(&self.core);
        core.assigned_at = (assigned > 0).then(Instant::now);
        core.metrics
            .assigned_partitions
            .store(assigned as u64, Ordering::Relaxed);
        tracing::info!(assigned, "rebalance: partitions assigned");
    }
}

/// Runs the loop until `stop` is cancelled (or idle, per `opts`). Blocking: call it on a thread
/// of its own, or use [`run`].
pub fn run_blocking<H: RecordHandler>(
    config: &KafkaConfig,
    spool: Spool,
    mut handler: H,
    stop: &CancellationToken,
    opts: &RunOptions,
) -> Result<RunStats, PipelineError> {
    let token = TokenSource {
        signer: config.msk_iam_signer()?.map(Arc::new),
        metrics: opts.metrics.clone(),
    };
    let producer: BaseProducer<DeliveryContext> = config
        .producer_config()
        .create_with_context(DeliveryContext {
            reports: Mutex::new(Vec::new()),
            token: token.clone(),
            received: AtomicU64::new(0),
        })
        .map_err(|source| PipelineError::Create {
            client: "producer",
            source,
        })?;
    let now = Instant::now();
    let core = Arc::new(Mutex::new(Core {
        producer,
        spool,
        cfg: config.clone(),
        metrics: opts.metrics.clone(),
        slots: FastMap::default(),
        parts: FastMap::default(),
        next_slot: 0,
        stalled: VecDeque::new(),
        drain_in_flight: 0,
        drain_end: 0,
        drain_failed: false,
        next_drain: now,
        paused: false,
        assigned_at: None,
        revoked: Vec::new(),
        last_commit: now,
        since_commit: 0,
        confirmed: true,
        complete_at: None,
        stats: RunStats::default(),
        reports: Vec::new(),
    }));
    let consumer: BaseConsumer<GroupContext> = config
        .consumer_config()
        .create_with_context(GroupContext {
            core: core.clone(),
            token,
        })
        .map_err(|source| PipelineError::Create {
            client: "consumer",
            source,
        })?;
    consumer
        .subscribe(&[config.input_topic.as_str()])
        .map_err(|source| PipelineError::Subscribe {
            topic: config.input_topic.clone(),
            source,
        })?;
    // What the spool holds is sent first.
    {
        let mut c = lock(&core);
        c.drain()?;
    }
    let commit_interval = Duration::from_millis(config.commit_interval_ms);
    let metrics = opts.metrics.clone();
    let mut outs: Vec<Outbound> = Vec::with_capacity(8);
    let mut last_msg = Instant::now();
    let mut first_msg: Option<Instant> = None;
    // The later of the last message, the last assignment, and the last time none was held.
    let mut quiet_since = last_msg;
    let mut since_service = 0u32;
    loop {
        // Between two service rounds (at most `SERVICE_EVERY` messages) the loop only consumes:
        // the stop and the spool's back-pressure are looked at once a round.
        if since_service == 0 && stop.is_cancelled() {
            break;
        }
        // Back-pressure: pause while outputs wait for room in the spool.
        if since_service == 0 {
            let mut c = lock(&core);
            let stalled = !c.stalled.is_empty();
            if stalled != c.paused {
                if let Ok(assigned) = consumer.assignment() {
                    let res = if stalled {
                        consumer.pause(&assigned)
                    } else {
                        consumer.resume(&assigned)
                    };
                    if res.is_ok() {
                        c.paused = stalled;
                        tracing::info!(
                            paused = stalled,
                            "consumption paused/resumed for the spool"
                        );
                    }
                }
            }
        }
        let timeout = if since_service == 0 {
            POLL_TIMEOUT
        } else {
            Duration::ZERO
        };
        match consumer.poll(timeout) {
            Some(Ok(msg)) => {
                // The clock is read once per service round (below), not per message.
                if first_msg.is_none() {
                    last_msg = Instant::now();
                    first_msg = Some(last_msg);
                }
                let origin = Origin {
                    topic: msg.topic(),
                    partition: msg.partition(),
                    offset: msg.offset(),
                };
                // One lock per message (only this thread's callbacks, run inside `poll`, take
                // it otherwise). A rebalance in the poll that brought this message may have
                // revoked partitions: the handler forgets them before it handles anything new.
                let mut c = lock(&core);
                revoke(&mut c, &mut handler);
                handler.handle(msg.payload().unwrap_or_default(), &origin, &mut outs);
                c.dispatch(msg.partition(), msg.offset(), &mut outs);
                metrics.consumed.fetch_add(1, Ordering::Relaxed);
                since_service += 1;
                if since_service < SERVICE_EVERY {
                    continue;
                }
            }
            Some(Err(e)) => {
                metrics.consumer_errors.fetch_add(1, Ordering::Relaxed);
                if let KafkaError::MessageConsumptionFatal(_) = e {
                    return Err(PipelineError::Fatal(e));
                }
                tracing::warn!(error = %e, "consumer error");
            }
            None => {}
        }
        if since_service > 0 {
            // Messages came since the last round: the last one was just now.
            last_msg = Instant::now();
        }
        since_service = 0;
        let mut c = lock(&core);
        revoke(&mut c, &mut handler);
        serve_delivery_reports(&c.producer);
        c.process_reports();
        c.drain()?;
        quiet_since = quiet_since.max(last_msg);
        if let Some(a) = c.assigned_at {
            quiet_since = quiet_since.max(a);
        }
        let idle_for = quiet_since.elapsed();
        let settled = c.parts.values().all(|p| p.pending.is_empty()) && !c.spooling();
        if idle_for >= POLL_TIMEOUT && settled && !(c.all_committed() && c.confirmed) {
            // Caught up: commit now rather than at the next interval.
            c.commit(&consumer, CommitMode::Sync, None);
        } else if c.last_commit.elapsed() >= commit_interval
            || c.since_commit >= config.commit_every
        {
            c.commit(&consumer, CommitMode::Async, None);
        }
        c.publish_spool_metrics();
        let busy = !c.all_committed() || c.spooling();
        metrics.caught_up.store(
            u64::from(!busy && idle_for >= POLL_TIMEOUT),
            Ordering::Relaxed,
        );
        if let Some(limit) = opts.exit_when_idle {
            // Idle time counts from the last message or the last assignment, whichever is later
            // (joining a group takes a while, and records may come only after it); it does not
            // run while no partition is assigned.
            let idle = if c.assigned_at.is_some() {
                idle_for
            } else {
                Duration::ZERO
            };
            if idle >= limit && !busy {
                break;
            }
            if idle >= limit && c.spool.is_empty() && c.stalled.is_empty() {
                // Idle with nothing to drain: commit what settled and stop polling for more.
                let open = c.parts.values().any(|p| !p.pending.is_empty());
                if !open {
                    c.commit(&consumer, CommitMode::Sync, None);
                    break;
                }
            }
        }
    }
    // Stop: settle (bounded), sync the spool, commit.
    let mut c = lock(&core);
    let limit = Duration::from_millis(u64::from(config.message_timeout_ms)).min(FLUSH_LIMIT);
    c.settle_all(limit);
    c.commit(&consumer, CommitMode::Sync, None);
    c.spool.sync()?;
    c.publish_spool_metrics();
    let mut stats = c.stats.clone();
    stats.spool = c.spool.stats();
    if let Some(first) = first_msg {
        stats.active_ms = millis_since(first, last_msg);
        stats.complete_ms = c.complete_at.map_or(0, |t| millis_since(first, t));
    }
    drop(c);
    consumer.unsubscribe();
    Ok(stats)
}

/// Whole milliseconds from `from` to `to`.
fn millis_since(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.duration_since(from).as_millis()).unwrap_or(u64::MAX)
}

/// Runs the loop on a blocking thread of the tokio runtime until `stop` is cancelled.
pub async fn run<H: RecordHandler + Send + 'static>(
    config: &KafkaConfig,
    spool: Spool,
    handler: H,
    stop: CancellationToken,
    opts: RunOptions,
) -> Result<RunStats, PipelineError> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || run_blocking(&config, spool, handler, &stop, &opts))
        .await
        .map_err(|_| PipelineError::Thread)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::{FsyncPolicy, SpoolConfig};
    use rdkafka::mocking::{MockCluster, MockCoordinator};
    use rdkafka::producer::BaseProducer;
    use rdkafka::ClientConfig;
    use std::collections::BTreeMap;

    const PARTS: i32 = 3;

    /// Echoes each record to Decisions (key = record key in payload), and "bad" ones also to the
    /// dead-letter topic.
    struct Echo {
        stop_after: Option<(u64, CancellationToken)>,
        seen: u64,
    }

    impl RecordHandler for Echo {
        fn handle(&mut self, payload: &[u8], _o: &Origin<'_>, out: &mut Vec<Outbound>) {
            self.seen += 1;
            let key = String::from_utf8_lossy(payload).into_owned();
            out.push(Outbound {
                topic: OutTopic::Decisions,
                key: key.clone(),
                payload: payload.to_vec(),
            });
            if payload.ends_with(b"bad") {
                out.push(Outbound {
                    topic: OutTopic::DeadLetter,
                    key,
                    payload: payload.to_vec(),
                });
            }
            if let Some((n, tok)) = &self.stop_after {
                if self.seen >= *n {
                    tok.cancel();
                }
            }
        }
    }

    fn echo() -> Echo {
        Echo {
            stop_after: None,
            seen: 0,
        }
    }

    fn cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
        let c = MockCluster::new(3).unwrap();
        for t in [
            crate::traffic::NETWORK_TRAFFIC,
            crate::traffic::POLICY_DECISIONS,
            crate::traffic::BLOCKED_REQUESTS,
            crate::traffic::NETWORK_TRAFFIC_DLQ,
        ] {
            c.create_topic(t, PARTS, 1).unwrap();
        }
        c
    }

    fn config(bootstrap: &str) -> KafkaConfig {
        let mut c = KafkaConfig::default();
        c.bootstrap_servers = bootstrap.to_string();
        c.group_id = "pcgate-test".into();
        c.message_timeout_ms = 1_500;
        c.commit_interval_ms = 200;
        c.consumer_properties
            .insert("session.timeout.ms".into(), "6000".into());
        c
    }

    fn spool(dir: &std::path::Path) -> Spool {
        let mut c = SpoolConfig::new(dir);
        c.fsync = FsyncPolicy::Never;
        Spool::open(c).unwrap()
    }

    /// Produces records "rec-<i>" (every 10th "rec-<i>-bad"), keyed by i % 7.
    fn produce_inputs(bootstrap: &str, range: std::ops::Range<u32>) {
        let p: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .unwrap();
        for i in range {
            let payload = if i % 10 == 0 {
                format!("rec-{i}-bad")
            } else {
                format!("rec-{i}")
            };
            let key = (i % 7).to_string();
            loop {
                let r = BaseRecord::to(crate::traffic::NETWORK_TRAFFIC)
                    .key(&key)
                    .payload(&payload);
                match p.send(r) {
                    Ok(()) => break,
                    Err(_) => p.poll(Duration::from_millis(10)),
                }
            }
        }
        p.flush(Duration::from_secs(10)).unwrap();
    }

    /// Reads every message of a topic: payload -> count, and the payload order per key.
    fn read_topic(
        bootstrap: &str,
        topic: &str,
    ) -> (BTreeMap<String, u32>, BTreeMap<String, Vec<String>>) {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "reader")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTS {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        c.assign(&tpl).unwrap();
        let mut counts = BTreeMap::new();
        let mut order: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut quiet = Instant::now();
        while quiet.elapsed() < Duration::from_secs(2) {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                quiet = Instant::now();
                let p = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                let k = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                *counts.entry(p.clone()).or_insert(0) += 1;
                order.entry(k).or_default().push(p);
            }
        }
        (counts, order)
    }

    fn expected(range: std::ops::Range<u32>) -> Vec<String> {
        range
            .map(|i| {
                if i % 10 == 0 {
                    format!("rec-{i}-bad")
                } else {
                    format!("rec-{i}")
                }
            })
            .collect()
    }

    fn idle_opts(ms: u64) -> RunOptions {
        RunOptions {
            exit_when_idle: Some(Duration::from_millis(ms)),
            metrics: Arc::new(Metrics::default()),
        }
    }

    #[test]
    fn every_input_produces_exactly_its_outputs() {
        let c = cluster();
        let bs = c.bootstrap_servers();
        produce_inputs(&bs, 0..2000);
        let dir = tempfile::tempdir().unwrap();
        let stats = run_blocking(
            &config(&bs),
            spool(dir.path()),
            echo(),
            &CancellationToken::new(),
            &idle_opts(1500),
        )
        .unwrap();
        assert_eq!(stats.consumed, 2000);
        assert_eq!(stats.produced[0], 2000);
        assert_eq!(stats.produced[2], 200);
        assert_eq!(stats.spooled, 0);
        assert!(stats.commits > 0);
        // Completion (all delivered and committed) comes after the last message.
        assert!(
            stats.complete_ms >= stats.active_ms && stats.complete_ms > 0,
            "{stats:?}"
        );
        let (dec, _) = read_topic(&bs, crate::traffic::POLICY_DECISIONS);
        let want = expected(0..2000);
        assert_eq!(dec.len(), 2000);
        assert!(want.iter().all(|p| dec.get(p) == Some(&1)));
        let (dlq, _) = read_topic(&bs, crate::traffic::NETWORK_TRAFFIC_DLQ);
        assert_eq!(dlq.len(), 200);
        assert!(dlq.keys().all(|k| k.ends_with("-bad")));
    }

    /// A delivery opaque gives back the slot, topic and sequence number it was made of, at the
    /// ends of their ranges too (the spool's slot; the highest sequence number kept).
    #[test]
    fn delivery_opaques_carry_slot_topic_and_sequence() {
        for slot in [0, 1, 12_345, SPOOL_SLOT - 1, SPOOL_SLOT] {
            for topic in OutTopic::ALL {
                for seq in [0, 1, 77, SEQ_MASK as u64] {
                    assert_eq!(split_opaque(opaque(slot, topic, seq)), (slot, topic, seq));
                }
            }
        }
        // A sequence number past the mask wraps within its bits; slot and topic stay.
        let (slot, topic, seq) = split_opaque(opaque(5, OutTopic::Blocked, SEQ_MASK as u64 + 3));
        assert_eq!((slot, topic, seq), (5, OutTopic::Blocked, 2));
    }

    /// Outputs to three topics of three partitions each: nine produce requests at least, nine
    /// events of delivery reports. One service round serves them all.
    #[test]
    fn one_service_round_serves_every_delivery_report_waiting() {
        let c = cluster();
        let bs = c.bootstrap_servers();
        let cfg = config(&bs);
        let names = OutTopic::ALL.map(|t| cfg.topic_name(t).to_string());
        let producer: BaseProducer<DeliveryContext> = cfg
            .producer_config()
            .create_with_context(DeliveryContext {
                reports: Mutex::new(Vec::new()),
                token: TokenSource {
                    signer: None,
                    metrics: Arc::default(),
                },
                received: AtomicU64::new(0),
            })
            .unwrap();
        for i in 0..90 {
            let rec = BaseRecord::<str, str, usize>::with_opaque_to(&names[i % 3], i)
                .partition((i / 3 % 3) as i32)
                .payload("x");
            producer.send(rec).map_err(|(e, _)| e).unwrap();
        }
        // Stored by the brokers (their acknowledgements on the way back, served by nobody yet).
        let reader: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bs)
            .create()
            .unwrap();
        let t0 = Instant::now();
        let stored = || -> i64 {
            let mut n = 0;
            for t in &names {
                for p in 0..PARTS {
                    n += reader
                        .fetch_watermarks(t, p, Duration::from_secs(5))
                        .map_or(0, |(lo, hi)| hi - lo);
                }
            }
            n
        };
        while stored() < 90 {
            assert!(t0.elapsed() < Duration::from_secs(20), "not stored");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        serve_delivery_reports(&producer);
        let reports = producer.context().reports.lock().unwrap();
        assert_eq!(reports.len(), 90);
        assert!(reports.iter().all(|r| r.failed.is_none()));
    }

    /// Joining the group takes the mock cluster three seconds (its initial rebalance delay);
    /// records that come a while after the assignment, within the idle limit counted from it,
    /// are consumed.
    #[test]
    fn idle_time_counts_from_the_assignment_not_from_the_start() {
        let c = cluster();
        let bs = c.bootstrap_servers();
        let dir = tempfile::tempdir().unwrap();
        let opts = idle_opts(4_000);
        let metrics = opts.metrics.clone();
        let cfg = config(&bs);
        let sp = spool(dir.path());
        let t0 = Instant::now();
        let h = std::thread::spawn(move || {
            run_blocking(&cfg, sp, echo(), &CancellationToken::new(), &opts)
        });
        while metrics.assigned_partitions.load(Ordering::Relaxed) == 0 {
            assert!(t0.elapsed() < Duration::from_secs(20), "never assigned");
            std::thread::sleep(Duration::from_millis(20));
        }
        let joined = t0.elapsed();
        assert_eq!(
            metrics.assigned_partitions.load(Ordering::Relaxed),
            PARTS as u64
        );
        // A quiet spell shorter than the limit, then records.
        std::thread::sleep(Duration::from_millis(2_500));
        produce_inputs(&bs, 0..100);
        let stats = h.join().unwrap().unwrap();
        assert_eq!(stats.consumed, 100, "assigned after {joined:?}");
    }

    #[test]
    fn broker_down_mid_run_spools_then_delivers_everything_in_order() {
        let c = cluster();
        let bs = c.bootstrap_servers();
        // Inputs and the group on broker 1; outputs on broker 2, which goes away.
        c.coordinator(MockCoordinator::Group("pcgate-test".into()), 1)
            .unwrap();
        for p in 0..PARTS {
            c.partition_leader(crate::traffic::NETWORK_TRAFFIC, p, Some(1))
                .unwrap();
            for t in [
                crate::traffic::POLICY_DECISIONS,
                crate::traffic::NETWORK_TRAFFIC_DLQ,
            ] {
                c.partition_leader(t, p, Some(2)).unwrap();
            }
        }
        produce_inputs(&bs, 0..1000);
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let opts = idle_opts(4000);
        let metrics = opts.metrics.clone();
        let cfg = config(&bs);
        let sp = spool(dir.path());
        let stop2 = stop.clone();
        let h = std::thread::spawn(move || run_blocking(&cfg, sp, echo(), &stop2, &opts));
        // Let the first thousand flow, then take the output broker down and feed more.
        let t0 = Instant::now();
        while metrics.consumed.load(Ordering::Relaxed) < 1000
            && t0.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        c.broker_down(2).unwrap();
        produce_inputs(&bs, 1000..3000);
        let t0 = Instant::now();
        while metrics.spooled.load(Ordering::Relaxed) == 0 && t0.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            metrics.spooled.load(Ordering::Relaxed) > 0,
            "nothing was spooled"
        );
        std::thread::sleep(Duration::from_millis(500));
        c.broker_up(2).unwrap();
        let stats = h.join().unwrap().unwrap();
        assert_eq!(stats.consumed, 3000);
        assert!(stats.spooled > 0);
        assert!(stats.replayed > 0);
        assert_eq!(stats.spool.entries, 0, "spool drained");
        let (dec, order) = read_topic(&bs, crate::traffic::POLICY_DECISIONS);
        for p in expected(0..3000) {
            assert!(dec.get(&p).is_some_and(|&n| n >= 1), "lost {p}");
        }
        // Per key, the first appearance of each record is in input order.
        for (key, seq) in order {
            let mut seen = std::collections::HashSet::new();
            let firsts: Vec<u32> = seq
                .iter()
                .filter(|p| seen.insert((*p).clone()))
                .filter_map(|p| {
                    p.trim_start_matches("rec-")
                        .trim_end_matches("-bad")
                        .parse()
                        .ok()
                })
                .collect();
            let mut sorted = firsts.clone();
            sorted.sort_unstable();
            assert_eq!(firsts, sorted, "order broken for key {key}");
        }
    }

    #[test]
    fn restart_resumes_from_committed_offsets_without_loss() {
        let c = cluster();
        let bs = c.bootstrap_servers();
        produce_inputs(&bs, 0..3000);
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let first = Echo {
            stop_after: Some((1200, stop.clone())),
            seen: 0,
        };
        let s1 = run_blocking(
            &config(&bs),
            spool(dir.path()),
            first,
            &stop,
            &idle_opts(3000),
        )
        .unwrap();
        assert!(s1.consumed >= 1200 && s1.consumed < 3000, "{}", s1.consumed);
        produce_inputs(&bs, 3000..4000);
        let s2 = run_blocking(
            &config(&bs),
            spool(dir.path()),
            echo(),
            &CancellationToken::new(),
            &idle_opts(1500),
        )
        .unwrap();
        // Resumed where the first run committed: at most a few duplicates, no loss.
        assert!(s1.consumed + s2.consumed >= 4000);
        assert!(
            s2.consumed <= 4000 - 1200 + 50,
            "replayed too much: {}",
            s2.consumed
        );
        let (dec, _) = read_topic(&bs, crate::traffic::POLICY_DECISIONS);
        for p in expected(0..4000) {
            assert!(dec.contains_key(&p), "lost {p}");
        }
    }

    #[test]
    fn spool_left_by_a_previous_run_is_sent_first() {
        let c = cluster();
        let bs = c.bootstrap_servers();
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = spool(dir.path());
            s.append(OutTopic::Blocked, "k", b"left-over-1").unwrap();
            s.append(OutTopic::Blocked, "k", b"left-over-2").unwrap();
            s.sync().unwrap();
        }
        produce_inputs(&bs, 0..10);
        let stats = run_blocking(
            &config(&bs),
            spool(dir.path()),
            echo(),
            &CancellationToken::new(),
            &idle_opts(1500),
        )
        .unwrap();
        assert_eq!(stats.replayed, 2);
        assert_eq!(stats.spool.entries, 0);
        let (_, order) = read_topic(&bs, crate::traffic::BLOCKED_REQUESTS);
        assert_eq!(
            order.get("k").cloned().unwrap_or_default(),
            ["left-over-1", "left-over-2"]
        );
        // Reopening finds the spool empty: nothing is sent twice.
        assert!(spool(dir.path()).is_empty());
    }

    /// A loopback listener standing in for a broker's address. It speaks no Kafka: it only shows
    /// whether a client connected, and librdkafka opens no connection to a SASL/OAUTHBEARER broker
    /// before it holds a token.
    fn broker_address() -> (std::net::TcpListener, String) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap().to_string();
        (l, addr)
    }

    fn connected_within(l: &std::net::TcpListener, limit: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if l.accept().is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// MSK IAM over `sasl_ssl`; the producer's and the consumer's brokers apart.
    fn msk_iam_config(producer_broker: &str, consumer_broker: &str) -> KafkaConfig {
        let text = format!(
            r#"
            [kafka]
            bootstrap_servers = "{producer_broker}"
            security_protocol = "sasl_ssl"
            sasl_mechanism = "OAUTHBEARER"
            aws_region = "eu-west-1"
            [kafka.oauthbearer]
            method = "aws_msk_iam"
            [kafka.consumer_properties]
            "bootstrap.servers" = "{consumer_broker}"
            "#
        );
        KafkaConfig::load_with_env(&text, |k| match k {
            "AWS_ACCESS_KEY_ID" => Some("AKIAIOSFODNN7EXAMPLE".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn msk_iam_clients_hand_librdkafka_a_signed_token_and_then_connect() {
        let (producer_broker, p_addr) = broker_address();
        let (consumer_broker, c_addr) = broker_address();
        let cfg = msk_iam_config(&p_addr, &c_addr);
        let dir = tempfile::tempdir().unwrap();
        let sp = spool(dir.path());
        let stop = CancellationToken::new();
        let opts = RunOptions {
            exit_when_idle: None,
            metrics: Arc::new(Metrics::default()),
        };
        let metrics = opts.metrics.clone();
        let stop2 = stop.clone();
        let h = std::thread::spawn(move || run_blocking(&cfg, sp, echo(), &stop2, &opts));
        let producer_connected = connected_within(&producer_broker, Duration::from_secs(20));
        let consumer_connected = connected_within(&consumer_broker, Duration::from_secs(20));
        stop.cancel();
        let result = h.join().unwrap();
        assert!(result.is_ok(), "{result:?}");
        assert!(producer_connected, "the producer never connected");
        assert!(consumer_connected, "the consumer never connected");
        // One token per client at least, each from the signer.
        assert!(metrics.oauth_tokens.load(Ordering::Relaxed) >= 2);
        assert_eq!(metrics.oauth_token_errors.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn without_a_token_librdkafka_does_not_connect() {
        // The control of the test above: the same producer whose context has no signer.
        let (broker, addr) = broker_address();
        let cfg = msk_iam_config(&addr, &addr);
        let metrics = Arc::new(Metrics::default());
        let producer: BaseProducer<DeliveryContext> = cfg
            .producer_config()
            .create_with_context(DeliveryContext {
                reports: Mutex::new(Vec::new()),
                token: TokenSource {
                    signer: None,
                    metrics: metrics.clone(),
                },
                received: AtomicU64::new(0),
            })
            .unwrap();
        let t0 = Instant::now();
        while metrics.oauth_token_errors.load(Ordering::Relaxed) == 0
            && t0.elapsed() < Duration::from_secs(10)
        {
            producer.poll(Duration::from_millis(50));
        }
        assert_eq!(metrics.oauth_token_errors.load(Ordering::Relaxed), 1);
        assert!(!connected_within(&broker, Duration::from_millis(1500)));
        assert_eq!(metrics.oauth_tokens.load(Ordering::Relaxed), 0);
    }

    /// Throughput: `PCGATE_KAFKA_BENCH_BOOTSTRAP` (a real broker; topics are created) or the mock
    /// cluster, `PCGATE_KAFKA_BENCH_N` records. Run with `--ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput_report() {
        let n: u32 = std::env::var("PCGATE_KAFKA_BENCH_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300_000);
        let mock;
        let bs = match std::env::var("PCGATE_KAFKA_BENCH_BOOTSTRAP") {
            Ok(bs) => {
                use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
                let admin: AdminClient<rdkafka::client::DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", &bs)
                    .create()
                    .unwrap();
                let topics: Vec<NewTopic> = [
                    crate::traffic::NETWORK_TRAFFIC,
                    crate::traffic::POLICY_DECISIONS,
                    crate::traffic::BLOCKED_REQUESTS,
                    crate::traffic::NETWORK_TRAFFIC_DLQ,
                ]
                .iter()
                .map(|t| NewTopic::new(t, PARTS, TopicReplication::Fixed(1)))
                .collect();
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let r = rt.block_on(admin.create_topics(&topics, &AdminOptions::new()));
                eprintln!("create topics: {r:?}");
                bs
            }
            Err(_) => {
                mock = cluster();
                mock.bootstrap_servers()
            }
        };
        let t = Instant::now();
        produce_inputs(&bs, 0..n);
        eprintln!("produced {n} inputs in {:?}", t.elapsed());
        let dir = tempfile::tempdir().unwrap();
        let idle = 1000;
        let stats = run_blocking(
            &config(&bs),
            spool(dir.path()),
            echo(),
            &CancellationToken::new(),
            &idle_opts(idle),
        )
        .unwrap();
        let secs = stats.complete_ms as f64 / 1000.0;
        eprintln!(
            "loop: {} consumed, {:?} produced, {} commits, {:.2}s first message to all committed => {:.0} records/s",
            stats.consumed,
            stats.produced,
            stats.commits,
            secs,
            stats.consumed as f64 / secs
        );
        assert_eq!(stats.consumed, u64::from(n));
    }
}
