//! The Kafka I/O floor of flow mode on this machine: a "relay" that does what `pcgate consume`
//! does with Kafka and nothing else. It joins a consumer group with pcgate's consumer settings
//! (`KafkaConfig::consumer_config`), reads every record of the input topic, and for each record
//! produces the next of the outputs `pcgate consume --input` wrote for the same records (same
//! topics, keys and bytes; the k-th record consumed carries outputs `ceil(k m / n)` up to
//! `ceil((k + 1) m / n)` of the m outputs, as pcgate's do on average), with pcgate's producer
//! settings (`KafkaConfig::producer_config`: idempotent, acks=all, the same compression). No
//! record is parsed and nothing is decided.
//!
//! Offsets are committed asynchronously every `commit_interval_ms` while records flow, and once
//! every record was consumed and every output acknowledged, synchronously: the time runs from
//! the first record consumed to that commit, like pcgate's. The relay keeps no per-record
//! settlement bookkeeping (pcgate's at-least-once accounting), so it is a floor, not a rival.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use control::kafka::KafkaConfig;
use pcgate_tools::pgw::kafka::DeliveryCounts;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// How long the relay waits for its group's assignment and for the records, at most.
const LIMIT: Duration = Duration::from_secs(120);
/// Consumer poll timeout.
const POLL: Duration = Duration::from_millis(50);
/// Delivery reports are served every this many records (as pcgate does).
const SERVICE_EVERY: u64 = 256;

/// The messages pcgate publishes for a data set, in the order file mode writes them.
#[derive(Default)]
pub struct Outputs {
    /// Index into the run's output topics (`OutTopic::ALL` order), key, value.
    pub messages: Vec<(usize, String, Vec<u8>)>,
}

impl Outputs {
    /// The outputs the k-th of `n` consumed records carries.
    fn for_record(&self, k: u64, n: u64) -> &[(usize, String, Vec<u8>)] {
        let m = self.messages.len() as u64;
        let at = |k: u64| (k * m).div_ceil(n.max(1)).min(m) as usize;
        &self.messages[at(k)..at(k + 1)]
    }

    /// Bytes of keys and values.
    pub fn bytes(&self) -> usize {
        self.messages
            .iter()
            .map(|(_, k, v)| k.len() + v.len())
            .sum()
    }
}

/// What one relay run did.
pub struct RelayRun {
    /// First record consumed to the synchronous commit after the last acknowledgement.
    pub complete_s: f64,
    pub consumed: u64,
    pub delivered: u64,
}

/// Relays the `n` records of `config.input_topic` to the config's output topics (see the module
/// comment). `topics` are the output topic names in `OutTopic::ALL` order.
pub fn relay(
    config: &KafkaConfig,
    topics: &[String; 3],
    outputs: &Outputs,
    n: u64,
) -> anyhow::Result<RelayRun> {
    let producer: BaseProducer<DeliveryCounts> = config
        .producer_config()
        .create_with_context(DeliveryCounts::default())
        .context("relay producer")?;
    let consumer: BaseConsumer = config
        .consumer_config()
        .create()
        .context("relay consumer")?;
    consumer.subscribe(&[config.input_topic.as_str()])?;
    let commit_interval = Duration::from_millis(config.commit_interval_ms);
    let started = Instant::now();
    // Next offset to commit, per partition.
    let mut next: Vec<Option<i64>> = Vec::new();
    let (mut consumed, mut sent) = (0u64, 0u64);
    let mut first: Option<Instant> = None;
    let mut last_commit = Instant::now();
    let delivered = || producer.context().delivered.load(Ordering::Relaxed);
    let failed = || producer.context().failed.load(Ordering::Relaxed);
    while consumed < n {
        if started.elapsed() > LIMIT {
            bail!("relay: {consumed} of {n} records consumed after {LIMIT:?}");
        }
        match consumer.poll(POLL) {
            Some(Ok(msg)) => {
                first.get_or_insert_with(Instant::now);
                let p = usize::try_from(msg.partition()).context("partition")?;
                if next.len() <= p {
                    next.resize(p + 1, None);
                }
                next[p] = Some(msg.offset() + 1);
                for (topic, key, value) in outputs.for_record(consumed, n) {
                    let mut rec = BaseRecord::to(&topics[*topic])
                        .key(key.as_str())
                        .payload(value.as_slice());
                    loop {
                        match producer.send(rec) {
                            Ok(()) => break,
                            Err((
                                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                r,
                            )) => {
                                rec = r;
                                producer.poll(Duration::from_millis(5));
                            }
                            Err((e, _)) => bail!("relay: produce refused: {e}"),
                        }
                    }
                    sent += 1;
                }
                consumed += 1;
                if consumed % SERVICE_EVERY != 0 {
                    continue;
                }
            }
            Some(Err(e)) => bail!("relay: consumer error: {e}"),
            None => {}
        }
        producer.poll(Duration::ZERO);
        if last_commit.elapsed() >= commit_interval {
            commit(&consumer, config, &next, CommitMode::Async)?;
            last_commit = Instant::now();
        }
    }
    while delivered() + failed() < sent {
        if started.elapsed() > LIMIT {
            bail!("relay: {} of {sent} outputs acknowledged", delivered());
        }
        producer.poll(Duration::from_millis(1));
    }
    if failed() > 0 {
        bail!("relay: {} deliveries failed", failed());
    }
    commit(&consumer, config, &next, CommitMode::Sync)?;
    let first = first.context("relay: no record")?;
    Ok(RelayRun {
        complete_s: first.elapsed().as_secs_f64(),
        consumed,
        delivered: delivered(),
    })
}

fn commit(
    consumer: &BaseConsumer,
    config: &KafkaConfig,
    next: &[Option<i64>],
    mode: CommitMode,
) -> anyhow::Result<()> {
    let mut tpl = TopicPartitionList::new();
    for (p, off) in next.iter().enumerate() {
        if let Some(off) = off {
            tpl.add_partition_offset(&config.input_topic, p as i32, Offset::Offset(*off))?;
        }
    }
    if tpl.count() > 0 {
        consumer.commit(&tpl, mode).context("relay: commit")?;
    }
    Ok(())
}
