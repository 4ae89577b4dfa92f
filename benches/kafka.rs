//! Flow-mode throughput against a real Kafka-protocol broker: `tansu` (in-memory storage, on a
//! loopback port, started by `tests/support/broker.rs`, a fresh one for each run) and, in one run,
//!
//! - a producer-only baseline: `pgw::kafka::publish` (the simulator's rdkafka `BaseProducer`)
//!   sends the records, serialized beforehand, to a fresh input topic and waits for the last
//!   acknowledgement;
//! - a relay (`kafka/relay.rs`): the Kafka I/O floor. An rdkafka consumer in a group and a
//!   producer, both with pcgate's settings, in this process, read every record and produce
//!   outputs of the same count, topics, keys and bytes as pcgate's, deciding nothing;
//! - pcgate: one `pcgate consume` process (the release binary) in a fresh consumer group reads
//!   that topic, decides, and produces decisions, blocks and dead letters to their topics. Its
//!   time runs from the first record consumed until every record's outputs were acknowledged
//!   and its offset committed (confirmed by a synchronous commit); joining the group and the
//!   idle wait before it exits are not counted. The relay's time is counted the same way.
//!
//! Every producer of a run uses the same compression (`PCGATE_BENCH_COMPRESSION`, default none,
//! which the producer-only run always used): pcgate's default is lz4, and comparing its
//! compressed outputs with an uncompressed producer would measure lz4, not pcgate.
//!
//! Each is run `PCGATE_BENCH_REPEAT` times (new topics and a new group each time; the relay and
//! pcgate take turns going first); best, median and the median of the per-run ratios to the
//! producer-only run are reported, with the targets (at least 200 000 records/s, and at
//! least 80 % of the producer-only rate). When the relay itself stays under 80 %, Kafka I/O
//! alone does not reach the target on this machine.
//!
//! The CPU time per record of the producer's process, of the relay, of the pcgate process and
//! of the broker in each is printed too: on a machine shared with other jobs the rates move a
//! lot, those much less.
//!
//! Checks (the process fails when one fails): every record published was acknowledged and
//! consumed; what pcgate produced (its own count of acknowledgements, and the messages a
//! consumer reads back from the output topics) equals what `pcgate consume --input` of the same
//! records writes, per topic.
//!
//! Records: `pgw-sim`'s generator (`pcgate_tools::pgw`), a damaged record after every
//! `PCGATE_BENCH_INVALID_EVERY` valid ones (dead letters), and the generator's policy for its
//! subscribers. Unless `PCGATE_BENCH_SMALL=0`, the same is measured again on records without
//! payload bytes (the gateway's names instead): about a quarter of the size.
//!
//! Environment: `PCGATE_BENCH_RECORDS` (default 500 000), `PCGATE_BENCH_SUBSCRIBERS` (1 000),
//! `PCGATE_BENCH_SEED` (1), `PCGATE_BENCH_INVALID_EVERY` (1 000; 0: none),
//! `PCGATE_BENCH_PARTITIONS` (6), `PCGATE_BENCH_REPEAT` (3), `PCGATE_BENCH_SMALL` (1),
//! `PCGATE_BENCH_IDEMPOTENT` (1; 0: pcgate's producer is not idempotent, see
//! `Topics::config_toml`), `PCGATE_BENCH_COMPRESSION` (none), `TANSU` (the broker's executable;
//! default from `PATH` or `~/.cargo/bin`).

#[path = "../tests/support/broker.rs"]
mod broker;
#[path = "kafka/relay.rs"]
mod relay;
mod support;

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use control::kafka::KafkaConfig;
use control::traffic::{OutTopic, NETWORK_TRAFFIC};
use pcgate_tools::pgw::kafka::{self, Batch, KafkaOptions};
use pcgate_tools::pgw::{self, Config, Generator, Summary};
use pcgate_tools::synth;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use relay::Outputs;
use support::{env_u64, target_dir};

/// The floor, records per second.
const TARGET_RATE: f64 = 200_000.0;
/// The floor, share of the producer-only rate.
const TARGET_SHARE: f64 = 0.8;
/// `--exit-when-idle` of the pcgate runs, seconds (not counted in the rate).
const EXIT_WHEN_IDLE_S: &str = "1";
/// The consumers' `fetch.wait.max.ms`. tansu 0.6 holds every fetch for this long even when it
/// has data (its fetch loop sleeps before checking `min_bytes`), so with pcgate's 50 ms a
/// consumer reads at most 5 MB per 50 ms (about 80 000 of these records a second).
const FETCH_WAIT_MS: &str = "5";

struct Params {
    records: u64,
    subscribers: u32,
    seed: u64,
    invalid_every: u64,
    partitions: i32,
    repeat: usize,
    small: bool,
    /// Keep pcgate's idempotent producer (the default; see [`Topics::config_toml`]).
    idempotent: bool,
    /// `compression.type` of every producer of a run: the producer-only run's, pcgate's
    /// outputs' and the relay's.
    compression: String,
}

impl Params {
    fn from_env() -> Params {
        Params {
            records: env_u64("PCGATE_BENCH_RECORDS", 500_000).max(1),
            subscribers: env_u64("PCGATE_BENCH_SUBSCRIBERS", 1_000).clamp(1, 100_000) as u32,
            seed: env_u64("PCGATE_BENCH_SEED", 1),
            invalid_every: env_u64("PCGATE_BENCH_INVALID_EVERY", 1_000),
            partitions: env_u64("PCGATE_BENCH_PARTITIONS", 6).clamp(1, 1_000) as i32,
            repeat: env_u64("PCGATE_BENCH_REPEAT", 3).max(1) as usize,
            small: env_u64("PCGATE_BENCH_SMALL", 1) != 0,
            idempotent: env_u64("PCGATE_BENCH_IDEMPOTENT", 1) != 0,
            compression: std::env::var("PCGATE_BENCH_COMPRESSION")
                .unwrap_or_else(|_| "none".into()),
        }
    }

    fn pgw_config(&self, small: bool) -> Config {
        let mut cfg = Config {
            synth: synth::Config {
                seed: self.seed,
                subscribers: self.subscribers,
                ..Config::default().synth
            },
            count: Some(self.records),
            invalid_every: (self.invalid_every > 0).then_some(self.invalid_every),
            ..Config::default()
        };
        if small {
            cfg.records.payload_max = 0;
            cfg.records.payload_max_s2c = 0;
            cfg.records.with_names = true;
        }
        cfg
    }
}

/// One data set: the records in memory (for the producer) and as a JSON-lines file (for
/// `pcgate consume --input`).
struct Records {
    label: &'static str,
    batch: Batch,
    jsonl: PathBuf,
    summary: Summary,
}

fn generate(p: &Params, small: bool, dir: &Path) -> anyhow::Result<Records> {
    let label = if small { "small" } else { "full" };
    let started = Instant::now();
    let jsonl = dir.join(format!("records-{label}.jsonl"));
    let mut file = BufWriter::with_capacity(1 << 20, File::create(&jsonl)?);
    let mut gen = Generator::new(&p.pgw_config(small))?;
    let mut batch = Batch::new();
    while let Some(e) = gen.next_record()? {
        batch.push(e.key.as_bytes(), &e.json);
        file.write_all(&e.json)?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    let summary = gen.finish()?;
    println!(
        "{label} records: {summary} from {} subscribers; mean {:.0} B (key and value), {:.1} MB; \
         generated in {:.1} s",
        p.subscribers,
        batch.bytes() as f64 / batch.len().max(1) as f64,
        batch.bytes() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(Records {
        label,
        batch,
        jsonl,
        summary,
    })
}

/// Messages per output topic, in `OutTopic::ALL` order.
type PerTopic = [u64; 3];

/// One line of `pcgate consume --input`.
#[derive(serde::Deserialize)]
struct FileLine<'a> {
    topic: &'a str,
    key: String,
    #[serde(borrow)]
    value: &'a serde_json::value::RawValue,
}

/// What `pcgate consume --input` writes for the records: counted per topic, and the messages
/// (for the relay).
fn file_mode(policy: &Path, records: &Records) -> anyhow::Result<(PerTopic, Outputs)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pcgate"))
        .arg("consume")
        .arg("--input")
        .arg(&records.jsonl)
        .arg("--policy")
        .arg(policy)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("run pcgate consume --input")?;
    let stdout = child.stdout.take().context("pcgate's stdout")?;
    let mut counts = [0u64; 3];
    let mut outputs = Outputs::default();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let unexpected = || format!("pcgate consume --input wrote an unexpected line: {line:.120}");
        let l: FileLine = serde_json::from_str(&line).with_context(unexpected)?;
        let topic = OutTopic::ALL
            .iter()
            .position(|t| t.default_name() == l.topic)
            .with_context(unexpected)?;
        counts[topic] += 1;
        outputs
            .messages
            .push((topic, l.key, l.value.get().as_bytes().to_vec()));
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("pcgate consume --input failed ({status})");
    }
    Ok((counts, outputs))
}

/// The topics of one run: input, then outputs in `OutTopic::ALL` order.
struct Topics {
    input: String,
    outputs: [String; 3],
}

impl Topics {
    fn new(label: &str, run: usize) -> Topics {
        let name = |t: &str| format!("bench-{label}-{run}-{t}");
        Topics {
            input: name(NETWORK_TRAFFIC),
            outputs: OutTopic::ALL.map(|t| name(t.default_name())),
        }
    }

    /// The relay's topics: the same input, outputs of its own.
    fn for_relay(&self) -> Topics {
        Topics {
            input: self.input.clone(),
            outputs: self.outputs.clone().map(|t| format!("{t}-relay")),
        }
    }

    fn create(&self, brokers: &str, partitions: i32) -> anyhow::Result<()> {
        for t in std::iter::once(&self.input).chain(&self.outputs) {
            let mut opts = KafkaOptions::new(brokers, t);
            opts.partitions = Some(partitions);
            kafka::ensure_topic(&opts).with_context(|| format!("creating topic {t}"))?;
        }
        Ok(())
    }

    /// pcgate's config file naming them. With `idempotent` false the producer is not
    /// idempotent (still `acks=all`), to see what tansu's idempotence costs: tansu 0.6 keeps
    /// every producer's sequence numbers in one metadata object that it serializes to JSON and
    /// rewrites, with a compare-and-swap retried on conflict, for every idempotent batch. The
    /// first acknowledgements then come about a second late (over 50 000 records that second
    /// is most of the run; over 500 000 it cost about 5 % here).
    ///
    /// The outputs get the producer-only run's compression (`PCGATE_BENCH_COMPRESSION`, default
    /// none): the comparison is then of the same bytes on the wire per message.
    fn config_toml(&self, idempotent: bool, compression: &str) -> String {
        let mut toml = format!(
            "[kafka]\ninput_topic = {:?}\ndecisions_topic = {:?}\nblocked_topic = {:?}\n\
             dead_letter_topic = {:?}\ncompression = {compression:?}\n\
             [kafka.consumer_properties]\n\"fetch.wait.max.ms\" = {FETCH_WAIT_MS:?}\n",
            self.input, self.outputs[0], self.outputs[1], self.outputs[2]
        );
        if !idempotent {
            toml.push_str("[kafka.producer_properties]\n\"enable.idempotence\" = \"false\"\n");
        }
        toml
    }
}

/// Messages a consumer reads from a topic, every partition from the beginning, until none
/// came for `QUIET`.
fn topic_messages(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<u64> {
    const QUIET: Duration = Duration::from_secs(2);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("bench-reader-{topic}"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", FETCH_WAIT_MS)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let (mut total, mut last) = (0u64, Instant::now());
    while last.elapsed() < QUIET {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => {
                total += 1;
                last = Instant::now();
            }
            Some(Err(e)) => bail!("reading {topic}: {e}"),
            None => {}
        }
    }
    Ok(total)
}

/// CPU seconds (user and system) of this process and of its waited-for children, from
/// `/proc/self/stat` (clock ticks of 1/100 s): the figures that other jobs on the machine do not
/// change much, unlike the rates.
fn cpu_seconds() -> (f64, f64) {
    cpu_seconds_of("self")
}

/// CPU seconds of process `pid` (a number, or `self`) and of its waited-for children.
fn cpu_seconds_of(pid: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name: state is field 3; utime, stime, cutime, cstime 14..=17.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let field = |n: usize| f.get(n - 3).copied().unwrap_or(0.0) / 100.0;
    (field(14) + field(15), field(16) + field(17))
}

/// What one `pcgate consume` run printed.
#[derive(Debug, Default)]
struct ConsumeRun {
    consumed: u64,
    /// First record to last record.
    active_s: f64,
    /// First record to everything delivered and committed.
    complete_s: f64,
    produced: PerTopic,
    /// The whole process, group join and idle wait included.
    wall_s: f64,
    /// CPU seconds of the whole process.
    cpu_s: f64,
}

/// Reads the summary `pcgate consume` prints on standard error.
fn parse_summary(stderr: &str, topics: &Topics) -> anyhow::Result<ConsumeRun> {
    let mut run = ConsumeRun::default();
    let number = |s: Option<&str>| -> anyhow::Result<f64> {
        s.and_then(|s| s.trim_end_matches(',').parse().ok())
            .with_context(|| format!("unexpected summary: {stderr}"))
    };
    let mut found = false;
    for line in stderr.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // consumed N records in A s, delivered and committed after B s (R records/s), ...
        if let ["consumed", n, "records", "in", a, "s,", "delivered", "and", "committed", "after", b, ..] =
            words.as_slice()
        {
            run.consumed = number(Some(n))? as u64;
            run.active_s = number(Some(a))?;
            run.complete_s = number(Some(b))?;
            found = true;
        }
        // produced <topic>: N
        if let ["produced", topic, n] = words.as_slice() {
            if let Some(i) = topics
                .outputs
                .iter()
                .position(|t| topic.strip_suffix(':') == Some(t.as_str()))
            {
                run.produced[i] = number(Some(n))? as u64;
            }
        }
    }
    if !found {
        bail!("no consumed line in pcgate's summary:\n{stderr}");
    }
    Ok(run)
}

/// One `pcgate consume` of the run's input topic, in a group of its own.
fn pcgate_consume(
    p: &Params,
    brokers: &str,
    topics: &Topics,
    run: usize,
    policy: &Path,
    dir: &Path,
) -> anyhow::Result<ConsumeRun> {
    let config = dir.join(format!("pcgate-{}.toml", topics.input));
    std::fs::write(&config, topics.config_toml(p.idempotent, &p.compression))?;
    let spool = dir.join(format!("spool-{}", topics.input));
    let _ = std::fs::remove_dir_all(&spool);
    let started = Instant::now();
    let (_, children_before) = cpu_seconds();
    let out = Command::new(env!("CARGO_BIN_EXE_pcgate"))
        .arg("consume")
        .arg("--config")
        .arg(&config)
        .args(["--brokers", brokers])
        .args(["--group", &format!("bench-{run}-{}", topics.input)])
        .arg("--spool")
        .arg(&spool)
        .args(["--exit-when-idle", EXIT_WHEN_IDLE_S])
        .arg("--policy")
        .arg(policy)
        .stdout(Stdio::null())
        .output()
        .context("run pcgate consume")?;
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds().1 - children_before;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("pcgate consume failed ({}):\n{stderr}", out.status);
    }
    let _ = std::fs::remove_dir_all(&spool);
    let _ = std::fs::remove_file(&config);
    let mut r = parse_summary(&stderr, topics)?;
    r.wall_s = wall_s;
    r.cpu_s = cpu_s;
    Ok(r)
}

/// The figures of one data set's runs.
#[derive(Default)]
struct Rows {
    /// Seconds of each producer-only run.
    producer: Vec<f64>,
    /// Seconds (first record to all committed) of each relay run.
    relay: Vec<f64>,
    /// Seconds (first record to all committed) of each pcgate run.
    pcgate: Vec<f64>,
    /// CPU seconds of each producer-only run (this process: the producer's threads).
    producer_cpu: Vec<f64>,
    /// CPU seconds of each relay run (this process: group join and idle polls included).
    relay_cpu: Vec<f64>,
    /// CPU seconds of each pcgate process (start-up, group join and idle wait included).
    pcgate_cpu: Vec<f64>,
    /// CPU seconds of the broker during each producer-only, relay and pcgate run.
    broker_cpu_producer: Vec<f64>,
    broker_cpu_relay: Vec<f64>,
    broker_cpu_pcgate: Vec<f64>,
    /// Outputs of a pcgate run.
    outputs: u64,
}

fn best_median(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[0], s[s.len() / 2])
}

/// One relay run (`relay` module) on the run's input topic, in a group of its own; its
/// seconds and this process's CPU seconds.
fn relay_run(
    p: &Params,
    brokers: &str,
    topics: &Topics,
    run: usize,
    outputs: &Outputs,
    n: u64,
) -> anyhow::Result<(f64, f64)> {
    let relay_topics = topics.for_relay();
    relay_topics.create(brokers, p.partitions)?;
    let mut config = KafkaConfig::load(&relay_topics.config_toml(p.idempotent, &p.compression))?;
    config.bootstrap_servers = brokers.to_owned();
    config.group_id = format!("bench-relay-{run}-{}", topics.input);
    config.validate()?;
    let (cpu_before, _) = cpu_seconds();
    let r = relay::relay(&config, &relay_topics.outputs, outputs, n)?;
    let cpu = cpu_seconds().0 - cpu_before;
    println!(
        "  relay: {:.3} s first to all committed ({:.0} records/s, {:.2} CPU s); consumed {}, \
         outputs acknowledged {}",
        r.complete_s,
        r.consumed as f64 / r.complete_s,
        cpu,
        r.consumed,
        r.delivered
    );
    if r.consumed != n || r.delivered != outputs.messages.len() as u64 {
        bail!(
            "relay: consumed {} of {n} records, {} of {} outputs acknowledged",
            r.consumed,
            r.delivered,
            outputs.messages.len()
        );
    }
    Ok((r.complete_s, cpu))
}

/// Producer-only, then the relay and pcgate (in turn first), `repeat` times, on one data set;
/// checks every run.
fn measure(
    p: &Params,
    records: &Records,
    policy: &Path,
    expected: PerTopic,
    outputs: &Outputs,
    dir: &Path,
) -> anyhow::Result<Rows> {
    let n = records.batch.len() as u64;
    let mut rows = Rows::default();
    for run in 0..p.repeat {
        // A broker of its own for every run: tansu's in-memory storage slows down as it fills
        // (a second 600 MB run took twice as long to publish as the first), which would
        // compare a fresh broker with a full one.
        let broker = broker::Broker::start();
        let brokers = &broker.bootstrap();
        let topics = Topics::new(records.label, run);
        topics.create(brokers, p.partitions)?;
        let broker_cpu = || cpu_seconds_of(&broker.pid().to_string()).0;
        let (own_before, _) = cpu_seconds();
        let broker_before = broker_cpu();
        let mut opts = KafkaOptions::new(brokers, &topics.input);
        opts.compression = p.compression.clone();
        let published = kafka::publish(&opts, &records.batch)?;
        let producer_cpu = cpu_seconds().0 - own_before;
        let broker_after_producer = broker_cpu();
        if published.delivered != n || published.failed > 0 {
            bail!(
                "producer-only: {} of {n} records acknowledged, {} failed",
                published.delivered,
                published.failed
            );
        }
        let ps = published.elapsed.as_secs_f64();
        println!(
            "  {} run {}: producer-only {ps:.3} s ({:.0} records/s, {producer_cpu:.2} CPU s)",
            records.label,
            run + 1,
            n as f64 / ps,
        );
        // The broker holds more after each of the two (their outputs), so they take turns.
        let relay_first = run % 2 == 0;
        let mut relay_figures = None;
        let mut broker_relay = 0.0;
        if relay_first {
            let b = broker_cpu();
            relay_figures = Some(relay_run(p, brokers, &topics, run, outputs, n)?);
            broker_relay = broker_cpu() - b;
        }
        let b = broker_cpu();
        let c = pcgate_consume(p, brokers, &topics, run, policy, dir)?;
        let broker_pcgate = broker_cpu() - b;
        if !relay_first {
            let b = broker_cpu();
            relay_figures = Some(relay_run(p, brokers, &topics, run, outputs, n)?);
            broker_relay = broker_cpu() - b;
        }
        let (relay_s, relay_cpu) = relay_figures.context("relay not run")?;
        let on_broker = topics
            .outputs
            .iter()
            .map(|t| topic_messages(brokers, t, p.partitions))
            .collect::<anyhow::Result<Vec<u64>>>()?;
        println!(
            "  pcgate: {:.3} s first to all committed ({:.0} records/s; last record at {:.3} s; \
             process {:.1} s, {:.2} CPU s); {:.2}x producer-only, {:.2}x relay; consumed {}, \
             produced {:?}, read back {:?}",
            c.complete_s,
            c.consumed as f64 / c.complete_s,
            c.active_s,
            c.wall_s,
            c.cpu_s,
            ps / c.complete_s,
            relay_s / c.complete_s,
            c.consumed,
            c.produced,
            on_broker
        );
        if c.consumed != n {
            bail!(
                "pcgate consumed {} of the {n} records published",
                c.consumed
            );
        }
        if c.produced != expected || on_broker != expected {
            bail!(
                "pcgate produced {:?} (broker holds {on_broker:?}) where `pcgate consume --input` \
                 writes {expected:?} (decisions, blocks, dead letters)",
                c.produced
            );
        }
        rows.producer.push(ps);
        rows.relay.push(relay_s);
        rows.pcgate.push(c.complete_s);
        rows.producer_cpu.push(producer_cpu);
        rows.relay_cpu.push(relay_cpu);
        rows.pcgate_cpu.push(c.cpu_s);
        rows.broker_cpu_producer
            .push(broker_after_producer - broker_before);
        rows.broker_cpu_relay.push(broker_relay);
        rows.broker_cpu_pcgate.push(broker_pcgate);
        rows.outputs = expected.iter().sum();
    }
    Ok(rows)
}

/// The table of one data set, and whether the targets hold.
fn report(records: &Records, rows: &Rows) -> bool {
    let n = records.batch.len() as f64;
    let mb = records.batch.bytes() as f64 / 1e6;
    println!();
    println!(
        "{} records ({} records, {:.0} B mean), best of {} runs",
        records.label,
        records.summary.records,
        records.batch.bytes() as f64 / n.max(1.0),
        rows.pcgate.len()
    );
    println!(
        "{:<34} {:>8} {:>9} {:>11} {:>11} {:>8} {:>11} {:>10} {:>10}",
        "run",
        "best s",
        "median s",
        "records/s",
        "median r/s",
        "MB/s",
        "outputs/s",
        "CPU us/rec",
        "broker us"
    );
    let us_per_record = |cpu: &[f64]| best_median(cpu).1 * 1e6 / n.max(1.0);
    let row = |name: &str, secs: &[f64], outputs: Option<u64>, cpu: &[f64], broker: &[f64]| {
        let (b, m) = best_median(secs);
        let outputs = outputs.map_or("-".to_owned(), |o| format!("{:.0}", o as f64 / b));
        println!(
            "{name:<34} {b:>8.3} {m:>9.3} {:>11.0} {:>11.0} {:>8.1} {outputs:>11} {:>10.2} {:>10.2}",
            n / b,
            n / m,
            mb / b,
            us_per_record(cpu),
            us_per_record(broker)
        );
    };
    row(
        "producer-only (pgw publish)",
        &rows.producer,
        None,
        &rows.producer_cpu,
        &rows.broker_cpu_producer,
    );
    row(
        "relay (Kafka I/O, no decisions)",
        &rows.relay,
        Some(rows.outputs),
        &rows.relay_cpu,
        &rows.broker_cpu_relay,
    );
    row(
        "pcgate consume (to all committed)",
        &rows.pcgate,
        Some(rows.outputs),
        &rows.pcgate_cpu,
        &rows.broker_cpu_pcgate,
    );
    println!(
        "(CPU us/rec: median CPU time per record of the producer's process, of the relay's \
         threads (this process), of the whole pcgate process; broker us: the broker's (tansu) \
         during that run)"
    );
    let ratio = |name: &str, num: &[f64], den: &[f64]| -> f64 {
        let ratios: Vec<f64> = num.iter().zip(den).map(|(a, b)| a / b).collect();
        let (_, median) = best_median(&ratios);
        let list: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "{name} throughput: {:.2}x best vs best, {median:.2}x median of runs ({})",
            best_median(num).0 / best_median(den).0,
            list.join(", ")
        );
        median
    };
    let ratio_median = ratio("pcgate / producer-only", &rows.producer, &rows.pcgate);
    let relay_median = ratio("relay  / producer-only", &rows.producer, &rows.relay);
    ratio("pcgate / relay        ", &rows.relay, &rows.pcgate);
    let gm = best_median(&rows.pcgate).1;
    let rate_ok = n / gm >= TARGET_RATE;
    let share_ok = ratio_median >= TARGET_SHARE;
    let yes = |b: bool| if b { "yes" } else { "NO" };
    println!(
        "targets: >= {TARGET_RATE:.0} records/s (median run): {}; >= {:.0} % of producer-only \
         (median ratio): {} (the relay, Kafka I/O alone: {})",
        yes(rate_ok),
        TARGET_SHARE * 100.0,
        yes(share_ok),
        yes(relay_median >= TARGET_SHARE)
    );
    rate_ok && share_ok
}

fn main() -> anyhow::Result<()> {
    let p = Params::from_env();
    let dir = target_dir().join("bench-data").join("kafka");
    std::fs::create_dir_all(&dir)?;
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, pgw::policy_toml(p.subscribers))?;

    let mut sets = vec![generate(&p, false, &dir)?];
    if p.small {
        sets.push(generate(&p, true, &dir)?);
    }
    println!(
        "tansu on loopback (in-memory storage), a fresh one for each run; {} partitions per \
         topic; {} cores; {} runs; pcgate's and the relay's producer {}idempotent; compression \
         {:?} for every producer",
        p.partitions,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        p.repeat,
        if p.idempotent { "" } else { "not " },
        p.compression
    );
    let mut results = Vec::new();
    for records in &sets {
        let (expected, outputs) = file_mode(&policy, records)?;
        println!(
            "{}: `pcgate consume --input` writes {} decisions, {} blocks, {} dead letters \
             ({:.1} MB)",
            records.label,
            expected[0],
            expected[1],
            expected[2],
            outputs.bytes() as f64 / 1e6
        );
        let rows = measure(&p, records, &policy, expected, &outputs, &dir)?;
        results.push((records, rows));
    }
    let mut all_ok = true;
    for (records, rows) in &results {
        all_ok &= report(records, rows);
        let _ = std::fs::remove_file(&records.jsonl);
    }
    println!();
    println!(
        "checks passed: every record consumed; the outputs, counted by pcgate and read back from \
         the broker, equal file mode's{}",
        if all_ok { "" } else { " (a target was missed)" }
    );
    Ok(())
}
