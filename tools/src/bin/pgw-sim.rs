//! `pgw-sim`: the P-Gateway simulator (see `pcgate_tools::pgw`). Makes a deterministic run of
//! `network-traffic` records (start / update / end per flow, keyed by MSISDN) and writes them
//! as JSON lines, as the same traffic in a GTP-U pcap, as a policy file for its subscribers,
//! and/or publishes them to Kafka (the producer-only baseline of the flow-mode benchmark).
//!
//! ```text
//! pgw-sim --flows 2000 --out records.jsonl --pcap traffic.pcap --policy-out policy.toml
//! pgw-sim --count 1000000 --brokers 127.0.0.1:9092 --topic network-traffic --partitions 8
//! pgw-sim --subscribers 200 --span 3600 --with-names --invalid-every 100 --out r.jsonl
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use pcgate_tools::pgw::kafka::{self, Batch, KafkaOptions};
use pcgate_tools::pgw::{self, Config, Generator, Options, Summary};
use pcgate_tools::synth::{self, catalog};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "pgw-sim",
    about = "Simulate a P-Gateway's flow records (network-traffic): JSON lines, the same traffic \
             as a GTP-U pcap, a policy for its subscribers, or publish to Kafka",
    after_help = "Run length: --flows N flows (every flow complete), or --count N records (flows \
                  still open then get no end record), or neither: each subscriber opens \
                  --flows-per-minute flows a minute until --span seconds are over.\n\
                  At least one output is needed: --out, --pcap, --policy-out or --brokers."
)]
struct Args {
    /// Write the records here, one JSON object a line.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the same traffic here as a pcap (Ethernet, subscriber packets in GTP-U).
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Write a policy listing the subscribers (id = MSISDN; UE IPv4, IPv6 /64, TEID).
    #[arg(long)]
    policy_out: Option<PathBuf>,
    /// Seed of every random choice: the same seed and options make the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Subscribers (at most 65534).
    #[arg(long, default_value_t = 1_000)]
    subscribers: u32,
    /// Flows to make (all of them complete: start .. update .. end).
    #[arg(long)]
    flows: Option<u64>,
    /// Records to make (invalid ones included); flows open at the last one get no end.
    #[arg(long)]
    count: Option<u64>,
    /// Seconds over which flow starts are spread.
    #[arg(long, default_value_t = 1_800)]
    span: u64,
    /// Without --flows or --count: flows each subscriber opens per minute.
    #[arg(long, default_value_t = 2.0)]
    flows_per_minute: f64,
    /// Start of the run, seconds since the epoch (default 2024-06-01T18:00:00Z).
    #[arg(long)]
    start: Option<u64>,
    /// App catalog (TOML) whose domains name the flows; default: the synthesizer's list.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Share of flows over IPv6, in percent.
    #[arg(long, default_value_t = 35)]
    ipv6_percent: u64,
    /// Share of flows (not DNS) that last long (5 to 60 minutes), in percent.
    #[arg(long, default_value_t = 10)]
    long_percent: u64,
    /// Seconds between two update records of a flow.
    #[arg(long, default_value_t = 60)]
    update_interval: u64,
    /// Put the name the gateway saw (SNI, Host, DNS question) in start records.
    #[arg(long)]
    with_names: bool,
    /// Most client payload bytes in a start record (at most 16384).
    #[arg(long, default_value_t = 4096)]
    payload_max: usize,
    /// Most server payload bytes in a start record (at most 16384).
    #[arg(long, default_value_t = 1024)]
    payload_max_s2c: usize,
    /// Share of flows (0..1) whose records carry neither MSISDN nor IMSI, only UE IP and TEID.
    #[arg(long, default_value_t = 0.0)]
    no_msisdn_fraction: f64,
    /// After every N valid records, one invalid record (broken JSON, bad address, bad
    /// base64, ... in turn) for dead-letter tests.
    #[arg(long)]
    invalid_every: Option<u64>,
    /// Prefix of flow ids.
    #[arg(long, default_value = "pgw1")]
    gateway: String,
    /// Publish to these Kafka brokers (host:port[,host:port]).
    #[arg(long)]
    brokers: Option<String>,
    /// Topic to publish to.
    #[arg(long, default_value = "network-traffic")]
    topic: String,
    /// Publish at most N records per second (default: as fast as possible).
    #[arg(long, requires = "brokers")]
    rate: Option<u64>,
    /// Create the topic with N partitions first if it does not exist (admin API).
    #[arg(long, requires = "brokers")]
    partitions: Option<i32>,
    /// acks of the producer ("0", "1", "all").
    #[arg(long, default_value = "1")]
    acks: String,
    /// linger.ms of the producer.
    #[arg(long, default_value_t = 5)]
    linger_ms: u32,
    /// compression.type of the producer (none, lz4, zstd, snappy, gzip).
    #[arg(long, default_value = "none")]
    compression: String,
    /// More librdkafka settings, name=value (repeatable).
    #[arg(long = "kafka-set", value_name = "NAME=VALUE")]
    kafka_set: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.out.is_none()
        && args.pcap.is_none()
        && args.policy_out.is_none()
        && args.brokers.is_none()
    {
        bail!("nothing to do: give --out, --pcap, --policy-out or --brokers (see --help)");
    }
    let mut base = synth::Config {
        seed: args.seed,
        subscribers: args.subscribers,
        flows: args.flows,
        ipv6_percent: args.ipv6_percent,
        span_s: args.span,
        ..synth::Config::default()
    };
    if let Some(s) = args.start {
        base.start_ns = s
            .checked_mul(1_000_000_000)
            .context("--start is beyond 2554")?;
    }
    if let Some(path) = &args.catalog {
        base.apps = catalog::load(path).with_context(|| format!("reading {}", path.display()))?;
    }
    let cfg = Config {
        synth: base,
        count: args.count,
        flows_per_subscriber_minute: args.flows_per_minute,
        records: Options {
            update_interval_s: args.update_interval,
            with_names: args.with_names,
            without_msisdn: false,
            payload_max: args.payload_max,
            payload_max_s2c: args.payload_max_s2c,
        },
        long_percent: args.long_percent,
        no_msisdn_fraction: args.no_msisdn_fraction,
        invalid_every: args.invalid_every,
        gateway: args.gateway.clone(),
    };

    if let Some(path) = &args.policy_out {
        std::fs::write(path, pgw::policy_toml(args.subscribers))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "policy: {} subscribers -> {}",
            args.subscribers.clamp(1, 65_534),
            path.display()
        );
    }
    if args.out.is_none() && args.pcap.is_none() && args.brokers.is_none() {
        return Ok(());
    }

    let started = Instant::now();
    let mut jsonl = match &args.out {
        Some(p) => Some(BufWriter::with_capacity(
            1 << 20,
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let pcap = match &args.pcap {
        Some(p) => Some(BufWriter::with_capacity(
            1 << 20,
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let mut gen = Generator::with_optional_capture(&cfg, pcap)?;
    let mut batch = args.brokers.as_ref().map(|_| Batch::new());
    while let Some(e) = gen.next_record()? {
        if let Some(w) = &mut jsonl {
            w.write_all(&e.json)?;
            w.write_all(b"\n")?;
        }
        if let Some(b) = &mut batch {
            b.push(e.key.as_bytes(), &e.json);
        }
    }
    if let Some(mut w) = jsonl {
        w.flush()?;
    }
    let summary = gen.finish()?;
    report(&summary, &args, started.elapsed().as_secs_f64());

    if let (Some(brokers), Some(batch)) = (&args.brokers, batch) {
        let mut opts = KafkaOptions::new(brokers, &args.topic);
        opts.rate = args.rate;
        opts.partitions = args.partitions;
        opts.acks = args.acks.clone();
        opts.linger_ms = args.linger_ms;
        opts.compression = args.compression.clone();
        for kv in &args.kafka_set {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--kafka-set {kv:?} is not NAME=VALUE"))?;
            opts.extra.push((k.to_owned(), v.to_owned()));
        }
        if kafka::ensure_topic(&opts)? {
            eprintln!(
                "created topic {} with {} partitions",
                args.topic,
                args.partitions.unwrap_or(0)
            );
        }
        eprintln!(
            "publishing {} records ({:.1} MB) to {} topic {}",
            batch.len(),
            batch.bytes() as f64 / 1e6,
            brokers,
            args.topic
        );
        let p = kafka::publish(&opts, &batch)?;
        println!(
            "sent {} records ({} delivered, {} failed, {:.1} MB) in {:.3} s: {:.0} records/s",
            p.sent,
            p.delivered,
            p.failed,
            p.bytes as f64 / 1e6,
            p.elapsed.as_secs_f64(),
            p.records_per_s()
        );
        if p.failed > 0 {
            bail!("{} records were not delivered", p.failed);
        }
    }
    Ok(())
}

fn report(s: &Summary, args: &Args, secs: f64) {
    eprintln!("{s} in {secs:.2} s");
    if let Some(p) = &args.out {
        eprintln!("records -> {}", p.display());
    }
    if let Some(p) = &args.pcap {
        eprintln!("{} packets -> {}", s.packets, p.display());
    }
}
