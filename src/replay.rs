//! `pcgate replay`: captures in; a summary, and optionally one JSON line per flow and one per
//! block, out.

use crate::summary::Summary;
use anyhow::{bail, Context};
use control::events::{packet_flow_id, BlockRecord, BlockTally};
use dataplane::classify::lists::LoadReport;
use dataplane::classify::{Catalog, Category, CategoryList, Matcher};
use dataplane::engine::enforce::Enforcer;
use dataplane::engine::{
    limits, replay_files, FlowRecord, Placement, ReplayConfig, ReplaySink, WorkerConfig,
};
use dataplane::flow::{EndReason, Flow, Timeouts};
use dataplane::policy::Policy;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Files larger than this get a progress bar (on a terminal only).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;
/// Block events that may wait between two drains before they are counted as dropped.
const EVENT_QUEUE: usize = 1 << 16;

#[derive(clap::Args)]
pub struct Args {
    /// Capture files, read in order as one stream (pcap or pcapng, detected by content).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write one JSON line per flow to PATH (`-`: standard output, and the summary goes to
    /// standard error).
    #[arg(long, value_name = "PATH|-")]
    flows: Option<PathBuf>,
    /// Decide flows with this policy file (`default`: the embedded demo policy,
    /// fixtures/policy.toml). Without it flows are named and classified, not decided.
    #[arg(long, value_name = "FILE|default")]
    policy: Option<PathBuf>,
    /// App catalog (default: the embedded fixtures/catalog/apps.toml).
    #[arg(long, value_name = "FILE")]
    catalog: Option<PathBuf>,
    /// A category domain list (one domain per line, hosts-file lines, `||domain^`), as
    /// CATEGORY=FILE; may be repeated.
    #[arg(long = "list", value_name = "CATEGORY=FILE")]
    lists: Vec<String>,
    /// Write one JSON line per block event to PATH (`-`: standard output).
    #[arg(long, value_name = "PATH|-")]
    events: Option<PathBuf>,
    /// Workers, on as many threads (default: the number of cores); with more than one, the
    /// thread that reads the capture runs one of them. 1 runs everything on one thread.
    #[arg(long)]
    workers: Option<usize>,
    /// Let the scheduler place the workers' threads. By default, when there is a thread for
    /// every CPU pcgate may use (as with the default number of workers), each is kept on a CPU
    /// of its own, so that two never take turns on one core while another idles.
    #[arg(long)]
    no_pin: bool,
    /// Flows tracked at once per worker; packets of new flows beyond it are counted
    /// (`flow_table_full`) and not tracked. Address space for all of them is reserved up front.
    #[arg(long, default_value_t = WorkerConfig::default().max_flows)]
    max_flows: usize,
    /// Idle timeout of open TCP flows, in seconds.
    #[arg(long, default_value_t = Timeouts::default().tcp_idle_s)]
    tcp_idle: u32,
    /// Idle timeout of UDP flows, in seconds.
    #[arg(long, default_value_t = Timeouts::default().udp_idle_s)]
    udp_idle: u32,
    /// (client, address) pairs remembered from DNS answers, to name flows that carry no name of
    /// their own; the oldest go first. Each worker keeps a copy; 0 turns naming by answers off.
    #[arg(long, value_name = "PAIRS", default_value_t = WorkerConfig::default().dns_cache_entries)]
    dns_cache: usize,
}

fn is_stdout(p: &Option<PathBuf>) -> bool {
    p.as_deref().is_some_and(|p| p.as_os_str() == "-")
}

type Writer = Box<dyn Write + Send>;

fn open_output(p: &Option<PathBuf>) -> anyhow::Result<Option<Writer>> {
    Ok(match p {
        None => None,
        Some(_) if is_stdout(p) => Some(Box::new(BufWriter::new(std::io::stdout()))),
        Some(p) => Some(Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ))),
    })
}

/// Loads catalog, lists and policy; any error names its file (and line).
pub fn load_rules(
    catalog: Option<&Path>,
    lists: &[String],
    policy: Option<&Path>,
) -> anyhow::Result<Enforcer> {
    let catalog = match catalog {
        Some(p) => Catalog::load(p)?,
        None => Catalog::embedded_default()?,
    };
    let mut parsed = Vec::new();
    for spec in lists {
        let Some((category, file)) = spec.split_once('=') else {
            bail!("--list {spec}: expected CATEGORY=FILE");
        };
        let Some(category) = Category::from_name(category) else {
            let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            bail!(
                "--list {spec}: unknown category {category:?} (known: {})",
                known.join(", ")
            );
        };
        if file.is_empty() {
            bail!("--list {spec}: the path of the list file is missing (CATEGORY=FILE)");
        }
        let list = CategoryList::load(file, category)?;
        if list.report().invalid_total() > 0 {
            eprint!("{}", list_warning(file, list.report()));
        }
        parsed.push(list);
    }
    let policy = match policy {
        None => None,
        Some(p) if p.as_os_str() == "default" => Some(Policy::embedded_default(&catalog)?),
        Some(p) => Some(Policy::load(p, &catalog)?),
    };
    let matcher = Matcher::build(&catalog, &parsed);
    // Without a policy nothing is blocked: no room is made for block events (the queue's slots
    // are written when it is made: 29 MB of them).
    let events = if policy.is_some() { EVENT_QUEUE } else { 1 };
    Ok(Enforcer::new(
        Arc::new(catalog),
        Arc::new(matcher),
        policy,
        events,
    ))
}

/// Bad lines of a list shown in its warning.
const LIST_EXAMPLES_SHOWN: usize = 5;

/// The warning about a list's bad lines: how many, by reason, and the first few as
/// `file:LINE: what is wrong: the line`.
fn list_warning(file: &str, report: &LoadReport) -> String {
    let total = report.invalid_total();
    let reasons: Vec<String> = report
        .invalid_by_reason()
        .map(|(why, n)| format!("{} {n}", why.as_str()))
        .collect();
    let mut text = format!(
        "pcgate: warning: {file}: {total} line{} skipped as invalid ({})",
        if total == 1 { "" } else { "s" },
        reasons.join(", ")
    );
    let shown = report.examples.len().min(LIST_EXAMPLES_SHOWN);
    text.push_str(if (shown as u64) < total {
        "; the first ones:\n"
    } else {
        ":\n"
    });
    for ex in report.examples.iter().take(shown) {
        text.push_str(&format!(
            "  {file}:{}: {}: {}\n",
            ex.line,
            ex.why.describe(),
            ex.text
        ));
    }
    text
}

/// Where the replay's lines go; shared by the workers (a lock per flow, never per packet).
struct Output {
    flows: Mutex<Option<Writer>>,
    events: Mutex<Events>,
    enforcer: Arc<Enforcer>,
    bar: Option<indicatif::ProgressBar>,
    error: Mutex<Option<std::io::Error>>,
}

struct Events {
    out: Option<Writer>,
    tally: BlockTally,
}

impl Output {
    fn write_line(&self, w: &mut Option<Writer>, line: &str) {
        if let Some(w) = w.as_mut() {
            if let Err(e) = writeln!(w, "{line}") {
                lock(&self.error).get_or_insert(e);
            }
        }
    }
}

/// Locks `m`; a worker that panicked while holding it panics the replay anyway.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ReplaySink for Output {
    fn flow_ended(&self, flow: Flow, _reason: EndReason) {
        if lock(&self.flows).is_none() {
            return;
        }
        let record = FlowRecord::of(&flow, Some(&self.enforcer.rules()));
        let line = serde_json::to_string(&record).expect("flow record serialises");
        drop(flow);
        self.write_line(&mut lock(&self.flows), &line);
    }

    fn tick(&self, done: u64, total: u64) {
        let rules = self.enforcer.rules();
        let mut events = lock(&self.events);
        while let Some(ev) = self.enforcer.events().pop() {
            let flow_id = packet_flow_id(&ev);
            let record = BlockRecord::of(&ev, &rules.catalog, &flow_id);
            events.tally.add(&record);
            let line = serde_json::to_string(&record).expect("block record serialises");
            self.write_line(&mut events.out, &line);
        }
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if is_stdout(&args.flows) && is_stdout(&args.events) {
        bail!("--flows - and --events - cannot both go to standard output");
    }
    let enforcer = Arc::new(load_rules(
        args.catalog.as_deref(),
        &args.lists,
        args.policy.as_deref(),
    )?);
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
    let config = ReplayConfig {
        workers: args.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }),
        worker: WorkerConfig {
            timeouts: Timeouts {
                tcp_idle_s: args.tcp_idle,
                udp_idle_s: args.udp_idle,
                ..Timeouts::default()
            },
            max_flows: args.max_flows,
            dns_cache_entries: args.dns_cache,
        },
        enforcer: Some(enforcer.clone()),
        placement: if args.no_pin {
            Placement::Free
        } else {
            Placement::Pinned
        },
    };
    // Checked before anything is made or written: a setting too large is an error naming it.
    limits::check(limits::Cost::of(&config, total), limits::address_space())?;
    let out = Output {
        flows: Mutex::new(open_output(&args.flows)?),
        events: Mutex::new(Events {
            out: open_output(&args.events)?,
            tally: BlockTally::default(),
        }),
        enforcer: enforcer.clone(),
        bar,
        error: Mutex::new(None),
    };
    let paths: Vec<&Path> = args.files.iter().map(PathBuf::as_path).collect();
    let start = Instant::now();
    let counters = replay_files(&paths, &config, &out)?;
    let elapsed = start.elapsed();
    if let Some(bar) = &out.bar {
        bar.finish_and_clear();
    }
    if let Some(e) = lock(&out.error).take() {
        return Err(e).context("cannot write output");
    }
    let mut events = out
        .events
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let flows = out
        .flows
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for mut w in [flows, events.out.take()].into_iter().flatten() {
        w.flush().context("cannot write output")?;
    }
    let summary = Summary {
        counters: &counters,
        elapsed,
        blocks: enforcer.rules().policy.is_some().then_some(&events.tally),
        events_dropped: enforcer.events().dropped(),
    };
    if is_stdout(&args.flows) || is_stdout(&args.events) {
        eprint!("{summary}");
    } else {
        // A reader that went away (`| head`) is not an error of the replay.
        match write!(std::io::stdout().lock(), "{summary}") {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(e).context("cannot write the summary");
            }
            _ => {}
        }
    }
    if let Some(warning) = summary.warning() {
        eprintln!("pcgate: warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
