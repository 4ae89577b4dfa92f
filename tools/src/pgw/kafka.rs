//! Publishing records to Kafka (librdkafka through rdkafka): the producer-only baseline of the
//! flow-mode benchmark. Records are serialized before the clock starts, into one buffer
//! ([`Batch`]); the timed loop only hands slices of it to a `BaseProducer` (no allocation and
//! no await per record), polls for delivery reports now and then, and waits for the last
//! acknowledgement (`flush`) before it stops the clock.
//!
//! The topic can be created first with the admin API ([`ensure_topic`]). Nothing here is
//! exercised by the tests (they need no broker); `pgw-sim --brokers` is the way in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use thiserror::Error;

/// Records between two non-blocking polls for delivery reports.
const POLL_EVERY: u64 = 1_024;
/// Records between two checks of the send rate.
const PACE_EVERY: u64 = 256;

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    /// Topic (default `network-traffic`).
    pub topic: String,
    /// At most this many records per second (default: as fast as possible).
    pub rate: Option<u64>,
    /// Create the topic with this many partitions if it does not exist (default: do not).
    pub partitions: Option<i32>,
    /// Replication factor of a topic created (default 1).
    pub replication: i32,
    /// `acks` (default "1": the leader's).
    pub acks: String,
    /// `linger.ms` (default 5).
    pub linger_ms: u32,
    /// `compression.type` (default "none").
    pub compression: String,
    /// More librdkafka settings, `name=value`.
    pub extra: Vec<(String, String)>,
    /// How long to wait for the last acknowledgements (default 60 s).
    pub flush_timeout: Duration,
}

impl KafkaOptions {
    /// Options for `brokers` and `topic`, the rest default.
    pub fn new(brokers: &str, topic: &str) -> KafkaOptions {
        KafkaOptions {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            rate: None,
            partitions: None,
            replication: 1,
            acks: "1".into(),
            linger_ms: 5,
            compression: "none".into(),
            extra: Vec::new(),
            flush_timeout: Duration::from_secs(60),
        }
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("acks", &self.acks)
            .set("linger.ms", self.linger_ms.to_string())
            .set("compression.type", &self.compression)
            .set("batch.num.messages", "10000")
            .set("batch.size", "1000000")
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "1048576")
            .set("message.timeout.ms", "60000");
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }
}

/// Errors of publishing.
#[derive(Debug, Error)]
pub enum PublishError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("creating topic {topic}: {code}")]
    CreateTopic {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("starting the admin client's runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("{0} records still unacknowledged after the flush timeout")]
    Unflushed(i32),
}

/// Records serialized ahead of sending: keys and payloads in one buffer.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    data: Vec<u8>,
    /// (key start, payload start, payload end) in `data`.
    spans: Vec<(usize, usize, usize)>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a record.
    pub fn push(&mut self, key: &[u8], payload: &[u8]) {
        let k = self.data.len();
        self.data.extend_from_slice(key);
        let p = self.data.len();
        self.data.extend_from_slice(payload);
        self.spans.push((k, p, self.data.len()));
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Bytes of keys and payloads.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// The records, (key, payload).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans.iter().map(|&(k, p, e)| {
            (
                self.data.get(k..p).unwrap_or(&[]),
                self.data.get(p..e).unwrap_or(&[]),
            )
        })
    }
}

/// What a publish did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Published {
    /// Records handed to the producer.
    pub sent: u64,
    /// Records the broker acknowledged.
    pub delivered: u64,
    /// Records whose delivery failed.
    pub failed: u64,
    /// Payload and key bytes sent.
    pub bytes: u64,
    /// From the first send to the last acknowledgement.
    pub elapsed: Duration,
}

impl Published {
    /// Records acknowledged per second.
    pub fn records_per_s(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A producer context that counts delivery reports (read them with `producer.context()`).
#[derive(Default)]
pub struct DeliveryCounts {
    /// Records the broker acknowledged.
    pub delivered: AtomicU64,
    /// Records whose delivery failed.
    pub failed: AtomicU64,
}

impl ClientContext for DeliveryCounts {}

impl ProducerContext for DeliveryCounts {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Creates the topic with `opts.partitions` partitions unless it exists. Returns whether it
/// was created (`false` when it existed or no partition count was given).
pub fn ensure_topic(opts: &KafkaOptions) -> Result<bool, PublishError> {
    let Some(partitions) = opts.partitions else {
        return Ok(false);
    };
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &opts.brokers)
        .create()?;
    let topic = NewTopic::new(
        &opts.topic,
        partitions,
        TopicReplication::Fixed(opts.replication),
    );
    let admin_opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let results = rt.block_on(admin.create_topics([&topic], &admin_opts))?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => Ok(false),
        Some(Err((topic, code))) => Err(PublishError::CreateTopic { topic, code }),
    }
}

/// Publishes every record of `batch` to `opts.topic`, keyed, at `opts.rate` at most, and waits
/// for the acknowledgements.
pub fn publish(opts: &KafkaOptions, batch: &Batch) -> Result<Published, PublishError> {
    let producer: BaseProducer<DeliveryCounts> = opts
        .client_config()
        .create_with_context(DeliveryCounts::default())?;
    let start = Instant::now();
    let mut sent = 0u64;
    let mut bytes = 0u64;
    for (key, payload) in batch.iter() {
        let mut record = BaseRecord::to(&opts.topic).key(key).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        sent += 1;
        bytes += (key.len() + payload.len()) as u64;
        if sent.is_multiple_of(POLL_EVERY) {
            producer.poll(Duration::ZERO);
        }
        if let Some(rate) = opts.rate.filter(|&r| r > 0) {
            if sent.is_multiple_of(PACE_EVERY) {
                let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                if let Some(ahead) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(ahead);
                }
            }
        }
    }
    producer.flush(opts.flush_timeout)?;
    let elapsed = start.elapsed();
    let left = producer.in_flight_count();
    if left > 0 {
        return Err(PublishError::Unflushed(left));
    }
    Ok(Published {
        sent,
        delivered: producer.context().delivered.load(Ordering::Relaxed),
        failed: producer.context().failed.load(Ordering::Relaxed),
        bytes,
        elapsed,
    })
}
