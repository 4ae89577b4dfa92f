//! `pcgate replay`: captures in, a summary and (optionally) one JSON line per flow out.

use crate::summary::Summary;
use anyhow::Context;
use dataplane::engine::replay::replay_files;
use dataplane::engine::{FlowRecord, WorkerConfig};
use dataplane::flow::Timeouts;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Files larger than this get a progress bar (on a terminal only).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

#[derive(clap::Args)]
pub struct Args {
    /// Capture files, read in order as one stream (pcap or pcapng, detected by content).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write one JSON line per flow to PATH (`-` for standard output; the summary then goes to
    /// standard error).
    #[arg(long, value_name = "PATH|-")]
    flows: Option<PathBuf>,
    /// Worker threads (default: the number of cores). 1 runs everything on this thread.
    #[arg(long)]
    workers: Option<usize>,
    /// Idle timeout of open TCP flows, in seconds.
    #[arg(long, default_value_t = Timeouts::default().tcp_idle_s)]
    tcp_idle: u32,
    /// Idle timeout of UDP flows, in seconds.
    #[arg(long, default_value_t = Timeouts::default().udp_idle_s)]
    udp_idle: u32,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let to_stdout = args.flows.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let mut out: Option<Box<dyn Write>> = match &args.flows {
        None => None,
        Some(_) if to_stdout => Some(Box::new(BufWriter::new(std::io::stdout().lock()))),
        Some(p) => Some(Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ))),
    };
    let config = WorkerConfig {
        timeouts: Timeouts {
            tcp_idle_s: args.tcp_idle,
            udp_idle_s: args.udp_idle,
            ..Timeouts::default()
        },
        ..WorkerConfig::default()
    };
    let total: u64 = args
        .files
        .iter()
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    let bar = (std::io::stderr().is_terminal() && total >= PROGRESS_MIN_BYTES).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("static template"),
        );
        bar
    });
    let paths: Vec<&std::path::Path> = args.files.iter().map(PathBuf::as_path).collect();
    let mut write_error = None;
    let start = Instant::now();
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let counters = replay_files(
        &paths,
        workers,
        config,
        |flow, _reason| {
            if let (Some(w), None) = (out.as_mut(), &write_error) {
                let line =
                    serde_json::to_string(&FlowRecord::of(&flow)).expect("record serialises");
                if let Err(e) = writeln!(w, "{line}") {
                    write_error = Some(e);
                }
            }
        },
        |done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total);
                bar.set_position(done);
            }
        },
    )?;
    let elapsed = start.elapsed();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = write_error {
        return Err(e).context("cannot write flow records");
    }
    if let Some(mut w) = out {
        w.flush().context("cannot write flow records")?;
    }
    let summary = Summary {
        counters: &counters,
        elapsed,
    };
    if to_stdout {
        eprint!("{summary}");
    } else {
        print!("{summary}");
    }
    if let Some(warning) = summary.warning() {
        eprintln!("pcgate: warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
