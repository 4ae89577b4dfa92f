//! What the Kafka end-to-end tests share: a known set of `network-traffic` records made with
//! pgw-sim's generator in-process, published with pgw-sim's own publisher ([`pgw::kafka`]); the
//! outputs expected of them, from `pcgate consume --input` over the same records (file mode is
//! the single-instance reference); `pcgate consume` in Kafka mode as a child process (killed
//! when dropped); reading an output topic to its end; dropping redelivered copies by idempotency
//! key; and an exact comparison that says what is missing, extra or different.
//!
//! Brokers are not started here: `broker.rs` starts tansu, the fault tests make librdkafka's
//! mock cluster themselves.

#![allow(dead_code)] // each test file uses its own part

use control::traffic::{BLOCKED_REQUESTS, NETWORK_TRAFFIC, NETWORK_TRAFFIC_DLQ, POLICY_DECISIONS};
use pcgate_tools::pgw::kafka::{self as publisher, Batch, KafkaOptions};
use pcgate_tools::pgw::{self, Config, Generator};
use pcgate_tools::synth;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const SUBSCRIBERS: u32 = 40;
pub const FLOWS: u64 = 2_000;
/// One damaged record after every this many valid ones: every dead-letter reason appears.
pub const INVALID_EVERY: u64 = 50;
/// The output topics, in the order [`Outputs`] counts them.
pub const OUTPUT_TOPICS: [&str; 3] = [POLICY_DECISIONS, BLOCKED_REQUESTS, NETWORK_TRAFFIC_DLQ];
/// How long a broker call of the test itself may take.
const CALL: Duration = Duration::from_secs(10);

/// One record as published: key (the subscriber's MSISDN) and JSON.
#[derive(Clone, Debug)]
pub struct Input {
    pub key: String,
    pub json: Vec<u8>,
    /// The reason pgw-sim damaged it for, if it did.
    pub invalid: Option<&'static str>,
}

/// The records, their policy and what a single instance makes of them.
pub struct Scenario {
    pub dir: PathBuf,
    pub records: Vec<Input>,
    pub expected: Outputs,
}

impl Scenario {
    pub fn policy(&self) -> PathBuf {
        self.dir.join("policy.toml")
    }

    /// Outputs a single instance makes of the first `n` records (a prefix of [`Self::expected`]'s
    /// messages: file mode never looks ahead).
    pub fn expected_prefix(&self, n: usize) -> Outputs {
        let path = self.dir.join(format!("records-{n}.jsonl"));
        write_jsonl(&path, &self.records[..n]);
        file_mode(&path, &self.policy())
    }
}

/// The records of seed 7 (40 subscribers, 2000 flows, half of the flows without MSISDN, one
/// damaged record after every 50), made once per test binary.
pub fn scenario() -> &'static Scenario {
    static SCENARIO: OnceLock<Scenario> = OnceLock::new();
    SCENARIO.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(concat!("kafka-scenario-", env!("CARGO_CRATE_NAME")));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = Config {
            synth: synth::Config {
                subscribers: SUBSCRIBERS,
                flows: Some(FLOWS),
                seed: 7,
                ..Config::default().synth
            },
            no_msisdn_fraction: 0.5,
            invalid_every: Some(INVALID_EVERY),
            ..Config::default()
        };
        let mut gen = Generator::new(&cfg).expect("pgw config");
        let mut records = Vec::new();
        while let Some(e) = gen.next_record().expect("pgw record") {
            records.push(Input {
                key: e.key,
                json: e.json,
                invalid: e.invalid.map(|r| r.as_str()),
            });
        }
        std::fs::write(dir.join("policy.toml"), pgw::policy_toml(SUBSCRIBERS)).unwrap();
        let all = dir.join("records.jsonl");
        write_jsonl(&all, &records);
        let expected = file_mode(&all, &dir.join("policy.toml"));
        // The reference refuses exactly the records pgw-sim damaged, for the reason it meant.
        let mut damaged = BTreeMap::new();
        for r in &records {
            if let Some(reason) = r.invalid {
                let text = String::from_utf8(r.json.clone()).expect("damaged records are text");
                *damaged.entry((reason.to_owned(), text)).or_insert(0) += 1;
            }
        }
        assert_eq!(
            expected.dead, damaged,
            "file mode's dead letters are pgw-sim's damaged records"
        );
        let reasons: std::collections::BTreeSet<&str> =
            records.iter().filter_map(|r| r.invalid).collect();
        assert_eq!(reasons.len(), 8, "every dead-letter reason: {reasons:?}");
        assert!(expected.blocks.len() > 200, "a policy with teeth");
        Scenario {
            dir,
            records,
            expected,
        }
    })
}

fn write_jsonl(path: &Path, records: &[Input]) {
    let mut w = std::io::BufWriter::new(File::create(path).unwrap());
    for r in records {
        w.write_all(&r.json).unwrap();
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
}

/// `pcgate consume --input`: the outputs of one instance reading the records in order.
fn file_mode(records: &Path, policy: &Path) -> Outputs {
    let out = Command::new(env!("CARGO_BIN_EXE_pcgate"))
        .args(["consume", "--input"])
        .arg(records)
        .arg("--policy")
        .arg(policy)
        .output()
        .expect("run pcgate consume --input");
    assert!(
        out.status.success(),
        "pcgate consume --input: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut outputs = Outputs::default();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        let topic = v["topic"].as_str().expect("topic").to_owned();
        let key = v["key"].as_str().expect("key").to_owned();
        outputs.add(&topic, key, v["value"].clone());
    }
    assert_eq!(
        outputs.duplicates, [0; 3],
        "the reference has no two outputs with one idempotency key"
    );
    outputs
}

/// What was published on the output topics, redelivered copies dropped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outputs {
    /// `policy-decisions`: idempotency key -> (message key, decision).
    pub decisions: BTreeMap<String, (String, Value)>,
    /// `blocked-requests`: idempotency key -> (message key, block).
    pub blocks: BTreeMap<String, (String, Value)>,
    /// Decisions and blocks: message key -> idempotency keys in the order first published.
    pub order: [BTreeMap<String, Vec<String>>; 2],
    /// `network-traffic.dlq`: (reason, record as consumed) -> copies (one per refused record).
    pub dead: BTreeMap<(String, String), u32>,
    /// Refused records already counted: where they were consumed from.
    dead_seen: std::collections::BTreeSet<String>,
    /// Copies dropped, per topic of [`OUTPUT_TOPICS`].
    pub duplicates: [u64; 3],
    /// One idempotency key with two different contents (never allowed).
    pub conflicts: Vec<String>,
}

impl Outputs {
    /// Adds one published message: a decision or a block is known by its idempotency key, a
    /// dead letter by the partition and offset of the record it refused.
    fn add(&mut self, topic: &str, key: String, value: Value) {
        let i = OUTPUT_TOPICS
            .iter()
            .position(|t| *t == topic)
            .unwrap_or_else(|| panic!("unknown output topic {topic}"));
        if topic == NETWORK_TRAFFIC_DLQ {
            let id = format!("{}/{}", value["partition"], value["offset"]);
            if !self.dead_seen.insert(id) {
                self.duplicates[i] += 1;
                return;
            }
            let reason = value["reason"].as_str().unwrap_or("?").to_owned();
            let record = match (value["record"].as_str(), value["record_base64"].as_str()) {
                (Some(text), _) => text.to_owned(),
                (None, Some(b64)) => format!("base64:{b64}"),
                (None, None) => String::new(),
            };
            *self.dead.entry((reason, record)).or_insert(0) += 1;
            return;
        }
        let id = value["idempotency_key"]
            .as_str()
            .unwrap_or_else(|| panic!("{topic}: no idempotency_key in {value}"))
            .to_owned();
        let map = if i == 0 {
            &mut self.decisions
        } else {
            &mut self.blocks
        };
        match map.get(&id) {
            Some(first) if *first == (key.clone(), value.clone()) => self.duplicates[i] += 1,
            Some(first) => self.conflicts.push(format!(
                "{topic} {id}: {} / {} then {key} / {value}",
                first.0, first.1
            )),
            None => {
                self.order[i]
                    .entry(key.clone())
                    .or_default()
                    .push(id.clone());
                map.insert(id, (key, value));
            }
        }
    }

    /// Messages counted (after dropping copies), per topic.
    pub fn counts(&self) -> [usize; 3] {
        [
            self.decisions.len(),
            self.blocks.len(),
            self.dead.values().map(|&n| n as usize).sum(),
        ]
    }

    pub fn total(&self) -> usize {
        self.counts().iter().sum()
    }

    pub fn duplicates_total(&self) -> u64 {
        self.duplicates.iter().sum()
    }

    /// One line: what each topic held.
    pub fn describe(&self) -> String {
        let c = self.counts();
        let mut s = String::new();
        for (i, t) in OUTPUT_TOPICS.iter().enumerate() {
            let _ = write!(
                s,
                "{}{t}: {} ({} copies dropped)",
                if i > 0 { ", " } else { "" },
                c[i],
                self.duplicates[i]
            );
        }
        s
    }

    /// Everything in which `self` (what Kafka holds) differs from `expected`.
    pub fn differences(&self, expected: &Outputs) -> Vec<String> {
        const SHOW: usize = 5;
        let mut out = Vec::new();
        for c in self.conflicts.iter().take(SHOW) {
            out.push(format!("conflict: {c}"));
        }
        let keyed = [
            (POLICY_DECISIONS, &expected.decisions, &self.decisions),
            (BLOCKED_REQUESTS, &expected.blocks, &self.blocks),
        ];
        for (topic, want, got) in keyed {
            let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
            let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
            let changed: Vec<_> = want
                .iter()
                .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
                .collect();
            if !missing.is_empty() {
                out.push(format!(
                    "{topic}: {} missing, first: {:?}",
                    missing.len(),
                    first(&missing, want, SHOW)
                ));
            }
            if !extra.is_empty() {
                out.push(format!(
                    "{topic}: {} extra, first: {:?}",
                    extra.len(),
                    first(&extra, got, SHOW)
                ));
            }
            for (k, v) in changed.iter().take(SHOW) {
                out.push(format!(
                    "{topic} {k}: expected {} / {}, got {:?}",
                    v.0,
                    v.1,
                    got.get(*k)
                ));
            }
        }
        // Extra and missing messages are reported above; the order is that of the others.
        let maps = [
            (&expected.decisions, &self.decisions),
            (&expected.blocks, &self.blocks),
        ];
        for (i, topic) in [POLICY_DECISIONS, BLOCKED_REQUESTS].iter().enumerate() {
            let (want, got) = maps[i];
            let bad: Vec<_> = expected.order[i]
                .iter()
                .filter(|(k, seq)| {
                    let got_seq: Vec<&String> = self.order[i]
                        .get(*k)
                        .map(|g| g.iter().filter(|id| want.contains_key(*id)).collect())
                        .unwrap_or_default();
                    let want_seq: Vec<&String> =
                        seq.iter().filter(|id| got.contains_key(*id)).collect();
                    got_seq != want_seq
                })
                .map(|(k, _)| k)
                .collect();
            if !bad.is_empty() {
                out.push(format!(
                    "{topic}: out of order for {} message keys, first: {:?}",
                    bad.len(),
                    &bad[..bad.len().min(SHOW)]
                ));
            }
        }
        let multiset = |a: &BTreeMap<(String, String), u32>,
                        b: &BTreeMap<(String, String), u32>| {
            a.iter()
                .filter_map(|(k, &n)| {
                    let m = b.get(k).copied().unwrap_or(0);
                    (n > m).then(|| (k.0.clone(), n - m, k.1.chars().take(80).collect::<String>()))
                })
                .collect::<Vec<_>>()
        };
        let missing = multiset(&expected.dead, &self.dead);
        let extra = multiset(&self.dead, &expected.dead);
        if !missing.is_empty() {
            out.push(format!(
                "{NETWORK_TRAFFIC_DLQ}: {} missing (reason, copies, record), first: {:?}",
                missing.len(),
                &missing[..missing.len().min(SHOW)]
            ));
        }
        if !extra.is_empty() {
            out.push(format!(
                "{NETWORK_TRAFFIC_DLQ}: {} extra (reason, copies, record), first: {:?}",
                extra.len(),
                &extra[..extra.len().min(SHOW)]
            ));
        }
        out
    }

    /// Panics with a readable diff unless `self` holds exactly what `expected` does.
    pub fn assert_same_as(&self, expected: &Outputs, what: &str) {
        let diff = self.differences(expected);
        assert!(
            diff.is_empty(),
            "{what}: the output topics differ from the single-instance reference\n  \
             expected: {}\n  got:      {}\n  {}",
            expected.describe(),
            self.describe(),
            diff.join("\n  ")
        );
    }
}

fn first<'a>(
    keys: &[&'a String],
    map: &'a BTreeMap<String, (String, Value)>,
    n: usize,
) -> Vec<String> {
    keys.iter()
        .take(n)
        .map(|k| {
            let v = &map[*k].1;
            format!(
                "{k} {} {} {} {}",
                v["event"].as_str().unwrap_or("-"),
                v["verdict"],
                v["rule"],
                v["name"]
            )
        })
        .collect()
}

/// One message read from a topic.
#[derive(Clone, Debug)]
pub struct Msg {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub payload: Vec<u8>,
}

fn reader(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "pcgate-test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("a reading consumer")
}

/// Partitions of a topic.
pub fn partitions(bootstrap: &str, topic: &str) -> i32 {
    let c = reader(bootstrap);
    let md = c
        .fetch_metadata(Some(topic), CALL)
        .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap_or_else(|| panic!("no topic {topic}"));
    t.partitions().len() as i32
}

/// (low, high) watermarks of each partition, from the brokers' ListOffsets answers. Not for
/// tansu 0.6.0, whose answer for the high watermark is the base offset of the last batch
/// plus one (its fetch answers are right).
pub fn watermarks(bootstrap: &str, topic: &str) -> Vec<(i64, i64)> {
    let c = reader(bootstrap);
    (0..partitions(bootstrap, topic))
        .map(|p| {
            c.fetch_watermarks(topic, p, CALL)
                .unwrap_or_else(|e| panic!("watermarks of {topic}/{p}: {e}"))
        })
        .collect()
}

/// Messages a topic holds now (high minus low watermarks, all partitions).
pub fn message_count(bootstrap: &str, topic: &str) -> i64 {
    watermarks(bootstrap, topic)
        .iter()
        .map(|(lo, hi)| hi - lo)
        .sum()
}

/// Every message of a topic: each partition from its beginning to its end, as the fetch
/// answers tell it (the consumer's end-of-partition event). Call it once nothing writes to
/// the topic any more.
pub fn read_topic(bootstrap: &str, topic: &str) -> Vec<Msg> {
    let n = partitions(bootstrap, topic);
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "pcgate-test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("a reading consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..n {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).expect("assign");
    let mut at_end = vec![false; n as usize];
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while at_end.iter().any(|e| !e) {
        assert!(
            Instant::now() < deadline,
            "reading {topic}: no end of partitions {:?} after 30 s ({} messages read)",
            (0..n).filter(|p| !at_end[*p as usize]).collect::<Vec<_>>(),
            out.len()
        );
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(Msg {
                partition: m.partition(),
                offset: m.offset(),
                key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                payload: m.payload().unwrap_or_default().to_vec(),
            }),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                if let Some(e) = at_end.get_mut(p as usize) {
                    *e = true;
                }
            }
            Some(Err(e)) => eprintln!("reading {topic}: {e}"),
            None => {}
        }
    }
    out
}

/// What the output topics hold, copies dropped; each dead letter is checked to point at the
/// `network-traffic` message it refused (same partition and offset, same bytes).
pub fn read_outputs(bootstrap: &str) -> Outputs {
    let inputs: BTreeMap<(i32, i64), Vec<u8>> = read_topic(bootstrap, NETWORK_TRAFFIC)
        .into_iter()
        .map(|m| ((m.partition, m.offset), m.payload))
        .collect();
    let mut outputs = Outputs::default();
    for topic in OUTPUT_TOPICS {
        for m in read_topic(bootstrap, topic) {
            let value: Value = serde_json::from_slice(&m.payload)
                .unwrap_or_else(|e| panic!("{topic}/{}@{}: not JSON: {e}", m.partition, m.offset));
            if topic == NETWORK_TRAFFIC_DLQ {
                let at = (
                    value["partition"].as_i64().unwrap_or(-1) as i32,
                    value["offset"].as_i64().unwrap_or(-1),
                );
                assert_eq!(
                    value["topic"], NETWORK_TRAFFIC,
                    "dead letter's topic: {value}"
                );
                let original = inputs
                    .get(&at)
                    .map(|p| String::from_utf8_lossy(p).into_owned());
                assert_eq!(
                    original.as_deref(),
                    value["record"].as_str(),
                    "a dead letter carries the record at its partition and offset {at:?}"
                );
            }
            outputs.add(topic, m.key, value);
        }
    }
    outputs
}

/// Publishes records to `network-traffic` with pgw-sim's publisher and waits for the acks.
pub fn publish(bootstrap: &str, records: &[Input]) {
    publish_paced(bootstrap, records, None);
}

/// [`publish`] at `rate` records a second at most.
pub fn publish_paced(bootstrap: &str, records: &[Input], rate: Option<u64>) {
    let mut batch = Batch::new();
    for r in records {
        batch.push(r.key.as_bytes(), &r.json);
    }
    let mut opts = KafkaOptions::new(bootstrap, NETWORK_TRAFFIC);
    opts.rate = rate;
    opts.acks = "all".into();
    opts.flush_timeout = Duration::from_secs(30);
    let p = publisher::publish(&opts, &batch).expect("publish records");
    assert_eq!(
        (p.delivered, p.failed),
        (records.len() as u64, 0),
        "every record published"
    );
}

/// Creates `network-traffic` with `input_partitions` and the output topics with 3 partitions
/// each, with the admin API (a real broker; the mock cluster has its own call).
pub fn create_topics(bootstrap: &str, input_partitions: i32) {
    for (topic, n) in [
        (NETWORK_TRAFFIC, input_partitions),
        (POLICY_DECISIONS, 3),
        (BLOCKED_REQUESTS, 3),
        (NETWORK_TRAFFIC_DLQ, 3),
    ] {
        let mut opts = KafkaOptions::new(bootstrap, topic);
        opts.partitions = Some(n);
        publisher::ensure_topic(&opts).unwrap_or_else(|e| panic!("create {topic}: {e}"));
        let deadline = Instant::now() + CALL;
        while partitions(bootstrap, topic) != n {
            assert!(
                Instant::now() < deadline,
                "{topic} never got {n} partitions"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Committed offsets of a consumer group on `network-traffic`: the sum over partitions (a
/// partition without a commit counts 0).
pub fn committed(bootstrap: &str, group: &str) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer to read commits");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions(bootstrap, NETWORK_TRAFFIC) {
        tpl.add_partition(NETWORK_TRAFFIC, p);
    }
    let got = c
        .committed_offsets(tpl, CALL)
        .unwrap_or_else(|e| panic!("committed offsets of {group}: {e}"));
    got.elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(n) => n,
            _ => 0,
        })
        .sum()
}

/// Polls `f` every 50 ms until it gives a value; panics naming `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `[kafka]` settings for a test instance (the brokers and group come from the command line).
#[derive(Clone, Debug)]
pub struct Tuning {
    pub commit_interval_ms: u64,
    pub commit_every: u64,
    pub message_timeout_ms: u32,
    /// The group forgets a member that has not been heard of for this long (a killed one).
    pub session_timeout_ms: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            commit_interval_ms: 200,
            commit_every: 100_000,
            message_timeout_ms: 5_000,
            session_timeout_ms: 6_000,
        }
    }
}

impl Tuning {
    /// Writes a pcgate config file with these settings.
    pub fn write(&self, path: &Path) {
        let text = format!(
            "[kafka]\ncommit_interval_ms = {}\ncommit_every = {}\nmessage_timeout_ms = {}\n\
             [kafka.consumer_properties]\n\"session.timeout.ms\" = \"{}\"\n\
             \"heartbeat.interval.ms\" = \"{}\"\n",
            self.commit_interval_ms,
            self.commit_every,
            self.message_timeout_ms,
            self.session_timeout_ms,
            (self.session_timeout_ms / 4).min(500)
        );
        std::fs::write(path, text).unwrap();
    }
}

/// `pcgate consume` in Kafka mode, a child process; killed (SIGKILL) when dropped.
pub struct Pcgate {
    child: Option<Child>,
    pub name: String,
    log: PathBuf,
}

/// What an instance said it did (its summary on standard error).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub consumed: u64,
    pub produced: [u64; 3],
    pub spooled: u64,
    pub replayed: u64,
    pub spool_left: u64,
    pub stderr: String,
}

impl Pcgate {
    /// Starts `pcgate consume --brokers .. --group .. --spool .. --exit-when-idle ..
    /// --policy .. --config ..`; standard error goes to `<work>/<name>.log`.
    pub fn start(
        name: &str,
        bootstrap: &str,
        group: &str,
        work: &Path,
        tuning: &Tuning,
        exit_when_idle_s: f64,
    ) -> Pcgate {
        let config = work.join(format!("{name}.toml"));
        tuning.write(&config);
        let spool = work.join(format!("spool-{group}-{name}"));
        let log = work.join(format!("{name}.log"));
        Pcgate::start_with_spool(
            name,
            bootstrap,
            group,
            &spool,
            &config,
            &log,
            exit_when_idle_s,
        )
    }

    /// As [`Pcgate::start`] with a given spool directory (a restart reuses its predecessor's).
    pub fn start_with_spool(
        name: &str,
        bootstrap: &str,
        group: &str,
        spool: &Path,
        config: &Path,
        log: &Path,
        exit_when_idle_s: f64,
    ) -> Pcgate {
        let child = Command::new(env!("CARGO_BIN_EXE_pcgate"))
            .args(["consume", "--brokers", bootstrap, "--group", group])
            .arg("--spool")
            .arg(spool)
            .arg("--config")
            .arg(config)
            .arg("--policy")
            .arg(scenario().policy())
            .args(["--exit-when-idle", &exit_when_idle_s.to_string()])
            .stdout(Stdio::null())
            .stderr(File::create(log).unwrap())
            .spawn()
            .expect("start pcgate consume");
        Pcgate {
            child: Some(child),
            name: name.to_owned(),
            log: log.to_owned(),
        }
    }

    /// Partitions of `network-traffic` the instance last said it was assigned (it says so on
    /// standard error whenever the number changes).
    pub fn assigned(&self) -> Option<u64> {
        self.log().lines().rev().find_map(|l| {
            l.strip_prefix("pcgate: ")?
                .strip_suffix(&format!(" partitions of {NETWORK_TRAFFIC} assigned"))?
                .parse()
                .ok()
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) => c.try_wait().ok().flatten().is_some(),
            None => true,
        }
    }

    /// Waits for the instance to stop by itself (idle); panics after `limit` or on failure.
    pub fn wait(&mut self, limit: Duration) -> Summary {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait for pcgate") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not stop within {limit:?}; its log:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        self.child = None;
        let log = self.log();
        assert!(status.success(), "{} failed ({status}):\n{log}", self.name);
        Summary::parse(&log).unwrap_or_else(|| panic!("{}: no summary in:\n{log}", self.name))
    }

    /// Polls `f` every 50 ms until it gives a value, while the instance runs; panics with the
    /// instance's log when it stops first or after `limit`.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        limit: Duration,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                !self.exited(),
                "{} stopped while waiting for {what}; its log:\n{}",
                self.name,
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; log of {}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no flush, no commit, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until the partitions the running `instances` say they were assigned satisfy `settled`
/// (a missing figure counts 0); panics with the logs when one stops first or after `limit`.
pub fn wait_for_assignment(
    instances: &mut [&mut Pcgate],
    what: &str,
    limit: Duration,
    settled: impl Fn(&[u64]) -> bool,
) -> Vec<u64> {
    let deadline = Instant::now() + limit;
    loop {
        let now: Vec<u64> = instances
            .iter()
            .map(|p| p.assigned().unwrap_or(0))
            .collect();
        if settled(&now) {
            return now;
        }
        for p in instances.iter_mut() {
            assert!(
                !p.exited(),
                "{} stopped while waiting for {what}; its log:\n{}",
                p.name,
                p.log()
            );
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = instances
                .iter()
                .map(|p| format!("log of {}:\n{}", p.name, p.log()))
                .collect();
            panic!(
                "timed out after {limit:?} waiting for {what} (assigned now: {now:?})\n{}",
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Pcgate {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Summary {
    fn parse(log: &str) -> Option<Summary> {
        let num = |line: &str, after: &str| -> Option<u64> {
            let rest = &line[line.find(after)? + after.len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        };
        let mut s = Summary {
            stderr: log.to_owned(),
            ..Summary::default()
        };
        let mut seen = false;
        for line in log.lines() {
            if line.starts_with("consumed ") {
                s.consumed = num(line, "consumed ")?;
                seen = true;
            }
            for (i, t) in OUTPUT_TOPICS.iter().enumerate() {
                if let Some(n) = num(line, &format!("produced {t}: ")) {
                    s.produced[i] = n;
                }
            }
            if line.starts_with("spooled ") {
                s.spooled = num(line, "spooled ")?;
                s.replayed = num(line, "replayed from spool ")?;
                s.spool_left = num(line, "spool now ")?;
            }
        }
        seen.then_some(s)
    }
}
