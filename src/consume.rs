//! `pcgate consume`: flow mode. The P-Gateway's `network-traffic` records in (from Kafka, or a
//! JSON-lines file for trying things out), decided by the data plane; decisions, blocks and
//! refused records out (to their Kafka topics, or as JSON lines naming their topic).
//!
//! With Kafka, the instance joins the consumer group of the `[kafka]` config section and runs
//! [`control::kafka::run`] until SIGINT or SIGTERM (or, with `--exit-when-idle`, until nothing
//! came for a while): offsets are committed only once the outputs of a record are acknowledged
//! by the brokers or written to the spool. Standard error says when the number of partitions
//! assigned to the instance changes, and what was done at the end.

use crate::replay::load_rules;
use anyhow::Context;
use control::kafka::{KafkaConfig, RunOptions, RunStats};
use control::spool::{Spool, SpoolConfig};
use control::traffic::decider::DeciderConfig;
use control::traffic::pipeline::RecordPipeline;
use control::traffic::record::Reason;
use control::traffic::OutTopic;
use control::traffic::{Origin, Outbound, RecordHandler};
use serde::Serialize;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the partitions assigned are looked at (a change is printed).
const ASSIGNMENT_CHECK: Duration = Duration::from_millis(100);

#[derive(clap::Args)]
pub struct Args {
    /// Read records from a JSON-lines file (`-`: standard input) instead of Kafka, and write
    /// what would be published to standard output, one `{"topic", "key", "value"}` line each.
    #[arg(long, value_name = "FILE|-")]
    input: Option<PathBuf>,
    /// pcgate's config file; its `[kafka]` table sets brokers, group, topics, TLS and SASL
    /// (secrets only from PCGATE_KAFKA_* environment variables; see the README).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers (host:port,...), over the config file and the environment.
    #[arg(long, value_name = "HOST:PORT,...")]
    brokers: Option<String>,
    /// Consumer group (instances of one group share the topic's partitions).
    #[arg(long)]
    group: Option<String>,
    /// Directory of the spool that holds outputs while the brokers do not take them.
    #[arg(long, value_name = "DIR", default_value = "pcgate-spool")]
    spool: PathBuf,
    /// Bound of the spool, in MiB; when full, consumption pauses (nothing is dropped).
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    spool_max_mib: u64,
    /// Stop once no record came for this many seconds and everything is delivered and
    /// committed (for batch runs and tests).
    #[arg(long, value_name = "SECONDS")]
    exit_when_idle: Option<f64>,
    /// Decide with this policy file (`default`: the embedded demo policy).
    #[arg(long, value_name = "FILE|default", default_value = "default")]
    policy: PathBuf,
    /// App catalog (default: the embedded fixtures/catalog/apps.toml).
    #[arg(long, value_name = "FILE")]
    catalog: Option<PathBuf>,
    /// A category domain list, as CATEGORY=FILE; may be repeated.
    #[arg(long = "list", value_name = "CATEGORY=FILE")]
    lists: Vec<String>,
    /// Publish one allow decision in N, chosen by flow id (1: all, 0: none); blocks always.
    #[arg(long, default_value_t = DeciderConfig::default().allow_sample)]
    allow_sample: u32,
    /// Live flows remembered at most.
    #[arg(long, default_value_t = DeciderConfig::default().max_flows)]
    max_flows: usize,
    /// Forget a flow after this many seconds of record time without a record.
    #[arg(long, default_value_t = DeciderConfig::default().idle_timeout_s)]
    flow_idle: u32,
}

impl Args {
    fn pipeline(&self) -> anyhow::Result<RecordPipeline> {
        let enforcer = load_rules(self.catalog.as_deref(), &self.lists, Some(&self.policy))?;
        let config = DeciderConfig {
            allow_sample: self.allow_sample,
            max_flows: self.max_flows,
            idle_timeout_s: self.flow_idle,
        };
        Ok(RecordPipeline::new(Arc::new(enforcer), config))
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut pipeline = args.pipeline()?;
    match &args.input {
        Some(input) => {
            run_file(input, &mut pipeline)?;
            report(&pipeline);
        }
        None => run_kafka(&args, pipeline)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The `[kafka]` settings: the config file's, then the environment's, then the command line's.
fn kafka_config(args: &Args) -> anyhow::Result<KafkaConfig> {
    let text = match &args.config {
        Some(p) => {
            let bytes = dataplane::input::read(p)
                .with_context(|| format!("{}: cannot read the config file", p.display()))?;
            String::from_utf8(bytes).map_err(|e| {
                let at = e.utf8_error().valid_up_to();
                let before = e.as_bytes().get(..at).unwrap_or_default();
                let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                anyhow::anyhow!(
                    "{}:{line}: not UTF-8 text; save the file as UTF-8",
                    p.display()
                )
            })?
        }
        None => String::new(),
    };
    let mut config = KafkaConfig::load(&text).map_err(|e| match (&args.config, &e) {
        // Already `line:column: ...`: the file goes in front as `file:line:column: ...`.
        (Some(p), control::kafka::ConfigError::At { .. }) => anyhow::anyhow!("{}:{e}", p.display()),
        (Some(p), _) => anyhow::anyhow!("{}: {e}", p.display()),
        (None, _) => anyhow::anyhow!("the environment: {e}"),
    })?;
    if let Some(b) = &args.brokers {
        config.bootstrap_servers = b.clone();
    }
    if let Some(g) = &args.group {
        config.group_id = g.clone();
    }
    config.validate()?;
    Ok(config)
}

/// Consumes from Kafka until a signal (or idle), then prints what was done.
fn run_kafka(args: &Args, pipeline: RecordPipeline) -> anyhow::Result<()> {
    let config = kafka_config(args)?;
    let spool = Spool::open(SpoolConfig {
        max_bytes: args.spool_max_mib.saturating_mul(1 << 20),
        ..SpoolConfig::new(&args.spool)
    })
    .with_context(|| format!("spool {}", args.spool.display()))?;
    let exit_when_idle = match args.exit_when_idle {
        Some(s) if !(s.is_finite() && s >= 0.0) => {
            anyhow::bail!("--exit-when-idle {s}: expected seconds, at least 0")
        }
        s => s.map(Duration::from_secs_f64),
    };
    let opts = RunOptions {
        exit_when_idle,
        ..RunOptions::default()
    };
    let metrics = opts.metrics.clone();
    eprintln!(
        "pcgate: consuming {} from {} as group {} (spool {})",
        config.input_topic,
        config.bootstrap_servers,
        config.group_id,
        args.spool.display()
    );
    let (stop, done) = (CancellationToken::new(), CancellationToken::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut pipeline = pipeline;
    let stats = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let stats = control::kafka::run_blocking(&config, spool, &mut pipeline, &stop, &opts);
            done.cancel();
            stats
        });
        runtime.block_on(async {
            let signal = shutdown_signal();
            tokio::pin!(signal);
            let mut tick = tokio::time::interval(ASSIGNMENT_CHECK);
            let mut assigned = 0;
            loop {
                tokio::select! {
                    _ = &mut signal => {
                        eprintln!("pcgate: stopping: delivering and committing what was handled");
                        stop.cancel();
                        break;
                    }
                    _ = done.cancelled() => break,
                    _ = tick.tick() => {
                        let now = metrics.assigned_partitions.load(Ordering::Relaxed);
                        if now != assigned {
                            assigned = now;
                            eprintln!(
                                "pcgate: {now} partitions of {} assigned",
                                config.input_topic
                            );
                        }
                    }
                }
            }
        });
        worker
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })?;
    report_kafka(&config, &stats);
    report(&pipeline);
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM (systemd, Kubernetes).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// What the Kafka side did, on standard error.
fn report_kafka(config: &KafkaConfig, s: &RunStats) {
    let (active, complete) = (s.active_ms as f64 / 1000.0, s.complete_ms as f64 / 1000.0);
    let rate = if complete > 0.0 {
        s.consumed as f64 / complete
    } else {
        0.0
    };
    eprintln!(
        "consumed {} records in {active:.3} s, delivered and committed after {complete:.3} s \
         ({rate:.0} records/s), commits {} (errors {})",
        s.consumed, s.commits, s.commit_errors
    );
    for (i, t) in OutTopic::ALL.iter().enumerate() {
        eprintln!("  produced {}: {}", config.topic_name(*t), s.produced[i]);
    }
    eprintln!(
        "spooled {}, replayed from spool {}, delivery failures {}, spool now {} entries ({} bytes, {} corrupt skipped)",
        s.spooled, s.replayed, s.delivery_failures, s.spool.entries, s.spool.bytes, s.spool.corrupt
    );
}

/// One published message as a line of the file mode's output.
#[derive(Serialize)]
struct Line<'a> {
    topic: &'static str,
    key: &'a str,
    value: &'a serde_json::value::RawValue,
}

/// Reads records line by line (a line's number is its offset), writes outputs to stdout.
fn run_file(input: &PathBuf, pipeline: &mut RecordPipeline) -> anyhow::Result<()> {
    let mut reader: Box<dyn BufRead> = if input.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        let f = File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
        Box::new(BufReader::new(f))
    };
    let topic = input.display().to_string();
    let mut stdout = BufWriter::new(std::io::stdout().lock());
    let mut out: Vec<Outbound> = Vec::new();
    let mut line = Vec::new();
    for n in 0usize.. {
        let more = read_line_capped(&mut reader, &mut line, MAX_RECORD_LINE)
            .with_context(|| format!("{topic}: read error at line {}", n + 1))?;
        if !more {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let origin = Origin {
            topic: &topic,
            partition: 0,
            offset: n as i64 + 1,
        };
        pipeline.handle(&line, &origin, &mut out);
        for o in out.drain(..) {
            write_line(&mut stdout, &o)?;
        }
    }
    stdout.flush()?;
    Ok(())
}

/// Longest record line kept from a file: Kafka's default largest message (1 MB). The rest of
/// a longer line is skipped as it is read, so an endless line takes no more memory than this;
/// what is kept is refused as a record like any other that does not parse.
const MAX_RECORD_LINE: usize = 1 << 20;

/// Reads the next line (without its newline) into `line`, keeping at most `max` bytes of it.
/// Returns `false` at the end of the input.
fn read_line_capped(r: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> std::io::Result<bool> {
    line.clear();
    let mut any = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(any);
        }
        any = true;
        let (end, used, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i, i + 1, true),
            None => (buf.len(), buf.len(), false),
        };
        let keep = end.min(max.saturating_sub(line.len()));
        line.extend_from_slice(buf.get(..keep).unwrap_or_default());
        r.consume(used);
        if done {
            return Ok(true);
        }
    }
}

fn write_line(w: &mut impl Write, o: &Outbound) -> anyhow::Result<()> {
    let value: &serde_json::value::RawValue =
        serde_json::from_slice(&o.payload).context("an output record is not JSON (a bug)")?;
    let line = Line {
        topic: o.topic.default_name(),
        key: &o.key,
        value,
    };
    serde_json::to_writer(&mut *w, &line)?;
    w.write_all(b"\n")?;
    Ok(())
}

/// The summary, on standard error.
fn report(pipeline: &RecordPipeline) {
    let c = pipeline.counters();
    let d = &c.decider;
    eprintln!(
        "records {} (start {}, update {}, end {}), invalid {}",
        c.records,
        c.by_event[0],
        c.by_event[1],
        c.by_event[2],
        c.invalid_total()
    );
    for r in Reason::ALL {
        if c.invalid(r) > 0 {
            eprintln!("  invalid {}: {}", r.as_str(), c.invalid(r));
        }
    }
    eprintln!(
        "decisions {} published, blocks {}, allows sampled out {}, live flows {}",
        d.decisions, d.blocks, d.allows_sampled_out, c.live_flows
    );
    eprintln!(
        "flows ended {}, expired idle {}, evicted (table full) {}, name disagreements {}",
        d.ended, d.expired_idle, d.evicted_full, d.name_disagreements
    );
    eprintln!(
        "flows first seen after their start {} (decided, not published), ends of unknown flows {}, \
         forgotten with a revoked partition {}",
        d.adopted, d.ends_unknown, d.revoked
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lines_are_read_with_a_cap_and_the_rest_of_a_long_line_skipped() {
        let text = b"short\n0123456789\n\nlast";
        let mut r = std::io::BufReader::with_capacity(4, &text[..]);
        let mut line = Vec::new();
        let mut lines = Vec::new();
        while read_line_capped(&mut r, &mut line, 6).unwrap() {
            lines.push(String::from_utf8(line.clone()).unwrap());
        }
        assert_eq!(lines, ["short", "012345", "", "last"]);
    }

    #[test]
    fn an_endless_line_keeps_no_more_than_the_cap() {
        let mut r = std::io::BufReader::new(std::io::Read::take(std::io::repeat(b'x'), 10 << 20));
        let mut line = Vec::new();
        assert!(read_line_capped(&mut r, &mut line, 1 << 10).unwrap());
        assert_eq!(line.len(), 1 << 10);
        assert!(line.capacity() < 1 << 20);
        assert!(!read_line_capped(&mut r, &mut line, 1 << 10).unwrap());
    }
}
