//! `pcgate consume`: flow mode. The P-Gateway's `network-traffic` records in (from Kafka, or a
//! JSON-lines file for trying things out), decided by the data plane; decisions, blocks and
//! refused records out (to their Kafka topics, or as JSON lines naming their topic).

use crate::replay::load_rules;
use anyhow::Context;
use control::traffic::decider::DeciderConfig;
use control::traffic::pipeline::RecordPipeline;
use control::traffic::record::Reason;
use control::traffic::{Origin, Outbound, RecordHandler};
use serde::Serialize;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// Read records from a JSON-lines file (`-`: standard input) instead of Kafka, and write
    /// what would be published to standard output, one `{"topic", "key", "value"}` line each.
    #[arg(long, value_name = "FILE|-")]
    input: Option<PathBuf>,
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
        Some(input) => run_file(input, &mut pipeline)?,
        None => anyhow::bail!("consuming from Kafka needs --brokers (not built yet)"),
    }
    report(&pipeline);
    Ok(ExitCode::SUCCESS)
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
    let reader: Box<dyn BufRead> = if input.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        let f = File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
        Box::new(BufReader::new(f))
    };
    let topic = input.display().to_string();
    let mut stdout = BufWriter::new(std::io::stdout().lock());
    let mut out: Vec<Outbound> = Vec::new();
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line.with_context(|| format!("{topic}: read error at line {}", n + 1))?;
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
}
