//! Replay throughput: one synthesized capture (at least 1.1 M packets and 40 k flows, made once
//! by `pcgate_tools::synth` and cached under `target/bench-data/`), measured in one run by
//!
//! - a floor: walking the mapped capture with `dataplane::capture::Capture` and reading each
//!   frame's EtherType and IP header into a checksum (what no reader can beat);
//! - pcgate's engine with one worker and with every core (`replay_files`);
//! - `ndpiReader` (nDPI's demo reader, Debian package `libndpi-bin`) when it is installed, timed
//!   wall-clock as a subprocess; its own "nDPI throughput" line is reported too;
//! - the `pcgate replay` binary of this tree and of a baseline commit (`support/baseline.rs`),
//!   each run as a subprocess with 1 and with N workers, so that a change is measured against
//!   the code before it in the same run.
//!
//! Each runs once per round, `PCGATE_BENCH_REPEAT` rounds, the readers side by side; the best
//! and the median run are reported, and each ratio from the best runs and as the median of the
//! rounds' ratios. pcgate's names are then checked against the synthesizer's expected flows;
//! the process fails when fewer than 99.9 % of the flows are named exactly as expected.
//!
//! Environment: `PCGATE_BENCH_PACKETS` (default 1 100 000), `PCGATE_BENCH_FLOWS` (40 000),
//! `PCGATE_BENCH_SEED` (1), `PCGATE_BENCH_GTPU` (0), `PCGATE_BENCH_REPEAT` (5),
//! `PCGATE_BENCH_WORKERS` (available cores), `PCGATE_BENCH_NDPI` (path of ndpiReader, or `0`
//! to skip it), `PCGATE_BENCH_RECACHE` (0; 1 drops the capture from the page cache and reads it
//! back once before the rounds, so that every run starts from the same state of the cache),
//! `PCGATE_BENCH_PIN` (1; 0 lets the scheduler place the engine's threads, see
//! `dataplane::engine::cores`), `PCGATE_BENCH_BASELINE` (the baseline commit, else the one
//! `benches/BASELINE` names; `0` skips it).

#[path = "support/baseline.rs"]
mod baseline;
mod support;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dataplane::capture::Capture;
use dataplane::engine::replay::{replay_files, ReplayConfig, ReplaySink};
use dataplane::engine::{FlowRecord, Placement};
use dataplane::flow::{EndReason, Flow};
use pcgate_tools::synth::{self, Config};
use support::{env_u64, target_dir};

/// Share of flows that must be named exactly as expected.
const MIN_AGREEMENT: f64 = 0.999;

struct Params {
    packets: u64,
    flows: u64,
    seed: u64,
    gtpu: bool,
    repeat: usize,
    workers: usize,
    recache: bool,
    placement: Placement,
}

impl Params {
    fn from_env() -> Params {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Params {
            packets: env_u64("PCGATE_BENCH_PACKETS", 1_100_000),
            flows: env_u64("PCGATE_BENCH_FLOWS", 40_000),
            seed: env_u64("PCGATE_BENCH_SEED", 1),
            gtpu: env_u64("PCGATE_BENCH_GTPU", 0) != 0,
            repeat: env_u64("PCGATE_BENCH_REPEAT", 5).max(1) as usize,
            workers: env_u64("PCGATE_BENCH_WORKERS", cores as u64).max(1) as usize,
            recache: env_u64("PCGATE_BENCH_RECACHE", 0) != 0,
            placement: if env_u64("PCGATE_BENCH_PIN", 1) == 0 {
                Placement::Free
            } else {
                Placement::Pinned
            },
        }
    }

    fn synth_config(&self) -> Config {
        Config {
            seed: self.seed,
            flows: Some(self.flows),
            packets: Some(self.packets),
            gtpu: self.gtpu,
            ..Config::default()
        }
    }

    /// The cached capture's path, named by everything that decides its bytes.
    fn capture_path(&self) -> PathBuf {
        target_dir().join("bench-data").join(format!(
            "synth-v{}-seed{}-flows{}-packets{}{}.pcap",
            synth::GENERATOR_VERSION,
            self.seed,
            self.flows,
            self.packets,
            if self.gtpu { "-gtpu" } else { "" }
        ))
    }
}

/// Makes the capture unless it is cached; a capture is only cached once complete.
fn ensure_capture(p: &Params) -> anyhow::Result<PathBuf> {
    let path = p.capture_path();
    let expected = synth::expected_path(&path);
    if path.exists() && expected.exists() {
        println!("capture: {} (cached)", path.display());
        return Ok(path);
    }
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let tmp = path.with_extension("partial.pcap");
    let started = Instant::now();
    let s = synth::write_files(&p.synth_config(), &tmp)?;
    std::fs::rename(synth::expected_path(&tmp), &expected)?;
    std::fs::rename(&tmp, &path)?;
    println!(
        "capture: {} (generated in {:.1} s: {} flows, {} packets, mean {:.0} B)",
        path.display(),
        started.elapsed().as_secs_f64(),
        s.flows,
        s.packets,
        s.mean_packet_len()
    );
    Ok(path)
}

/// A reader to time, and what it reports about its last run.
struct Reader<'a> {
    label: String,
    run: Box<dyn FnMut() -> String + 'a>,
}

/// One reader's runs, in round order.
struct Measure {
    label: String,
    times: Vec<Duration>,
    note: String,
}

impl Measure {
    fn best(&self) -> Duration {
        self.times.iter().copied().min().unwrap_or_default()
    }

    fn median(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t.get(t.len() / 2).copied().unwrap_or_default()
    }
}

/// Runs every reader once per round, `repeat` rounds: readers measured side by side, so that a
/// change in the machine's state (the page cache, a neighbour's load) falls on all of them alike.
fn measure(readers: Vec<Reader<'_>>, repeat: usize) -> Vec<Measure> {
    let mut rows: Vec<Measure> = readers
        .iter()
        .map(|r| Measure {
            label: r.label.clone(),
            times: Vec::with_capacity(repeat),
            note: String::new(),
        })
        .collect();
    let mut readers = readers;
    for _ in 0..repeat {
        for (reader, row) in readers.iter_mut().zip(&mut rows) {
            let t = Instant::now();
            row.note = (reader.run)();
            row.times.push(t.elapsed());
        }
    }
    rows
}

/// How many times faster `fast` is than `slow`: from the best runs, and the median of the
/// ratios of each round's runs.
fn ratio(slow: &Measure, fast: &Measure) -> (f64, f64) {
    let best = slow.best().as_secs_f64() / fast.best().as_secs_f64();
    let mut rounds: Vec<f64> = slow
        .times
        .iter()
        .zip(&fast.times)
        .map(|(s, f)| s.as_secs_f64() / f.as_secs_f64())
        .collect();
    rounds.sort_by(f64::total_cmp);
    (best, rounds.get(rounds.len() / 2).copied().unwrap_or(best))
}

/// The floor: every frame's EtherType and first 20 IP header bytes folded into a checksum.
fn floor(path: &Path) -> (u64, u64) {
    let cap = Capture::open(path).expect("open capture");
    let (mut packets, mut sum) = (0u64, 0u64);
    for raw in cap.packets().flatten() {
        packets += 1;
        let d = raw.data;
        let ether = d
            .get(12..14)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        sum = sum.wrapping_mul(31).wrapping_add(u64::from(ether));
        if let Some(ip) = d.get(14..34) {
            for c in ip.chunks_exact(4) {
                sum = sum.rotate_left(5) ^ u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
            }
        }
    }
    (packets, black_box(sum))
}

/// Counts flows and named flows as they end (the timed runs), each thread in a slot of its own:
/// workers end flows on their own threads, and one shared counter would bounce its cache line
/// between cores on every flow's end, a cost that a real sink need not have.
#[derive(Default)]
struct Count {
    slots: [Slot; COUNT_SLOTS],
}

/// Slots of [`Count`]; threads beyond it share them.
const COUNT_SLOTS: usize = 16;

/// One thread's counters, alone in its cache lines.
#[derive(Default)]
#[repr(align(128))]
struct Slot {
    flows: AtomicU64,
    named: AtomicU64,
}

impl Count {
    fn slot(&self) -> &Slot {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % COUNT_SLOTS;
        }
        &self.slots[INDEX.with(|i| *i)]
    }

    /// (flows, named flows).
    fn totals(&self) -> (u64, u64) {
        self.slots.iter().fold((0, 0), |(f, n), s| {
            (
                f + s.flows.load(Ordering::Relaxed),
                n + s.named.load(Ordering::Relaxed),
            )
        })
    }
}

impl ReplaySink for Count {
    fn flow_ended(&self, flow: Flow, _: EndReason) {
        let slot = self.slot();
        slot.flows.fetch_add(1, Ordering::Relaxed);
        let named = flow.name.as_ref().is_some_and(|n| n.name.is_some());
        slot.named.fetch_add(u64::from(named), Ordering::Relaxed);
    }
}

/// (l4, client, server) of a flow.
type FlowId = (String, String, String);

/// (l4, client, server) -> (proto, name) of every flow pcgate reports.
#[derive(Default)]
struct Names(Mutex<HashMap<FlowId, ProtoName>>);

/// (proto, name) of a flow.
type ProtoName = (Option<String>, Option<String>);

impl ReplaySink for Names {
    fn flow_ended(&self, flow: Flow, _: EndReason) {
        let r = FlowRecord::of(&flow, None);
        self.0.lock().expect("no worker panicked").insert(
            (r.l4.to_owned(), r.client, r.server),
            (r.proto.map(str::to_owned), r.name),
        );
    }
}

fn replay_config(workers: usize) -> ReplayConfig {
    ReplayConfig {
        workers,
        ..ReplayConfig::default()
    }
}

/// One replay through pcgate (names only, no policy); returns its note: packets, flows, named
/// flows, and for several threads whether each had a CPU of its own.
fn pcgate(path: &Path, workers: usize, placement: Placement) -> String {
    let count = Count::default();
    let config = ReplayConfig {
        placement,
        ..replay_config(workers)
    };
    let counters = replay_files(&[path], &config, &count).expect("replay");
    let (flows, named) = count.totals();
    let threads = match (counters.threads, counters.pinned_threads) {
        (0 | 1, _) => String::new(),
        (n, p) if n == p => format!(", {n} threads pinned"),
        (n, p) => format!(", {p} of {n} threads pinned"),
    };
    format!(
        "{} packets, {flows} flows, {named} named{threads}",
        counters.packets
    )
}

/// pcgate's protocol and name of every flow.
fn pcgate_names(path: &Path, workers: usize) -> HashMap<FlowId, (Option<String>, Option<String>)> {
    let names = Names::default();
    replay_files(&[path], &replay_config(workers), &names).expect("replay");
    names.0.into_inner().expect("no worker panicked")
}

/// Share of expected flows pcgate names exactly (same protocol and name), with a few misses.
fn agreement(path: &Path, workers: usize) -> (f64, usize, Vec<String>) {
    let expected = synth::read_expected(&synth::expected_path(path)).expect("expected flows");
    let got = pcgate_names(path, workers);
    let mut ok = 0usize;
    let mut misses = Vec::new();
    for e in &expected {
        let as_str = |v: serde_json::Value| v.as_str().map(str::to_owned);
        let l4 = as_str(serde_json::to_value(e.l4).unwrap_or_default()).unwrap_or_default();
        let proto = e
            .proto
            .and_then(|p| as_str(serde_json::to_value(p).unwrap_or_default()));
        let key = (l4, e.client.clone(), e.server.clone());
        let want = (proto, e.name.clone());
        match got.get(&key) {
            Some(g) if *g == want => ok += 1,
            other => {
                if misses.len() < 5 {
                    misses.push(format!("{key:?}: expected {want:?}, pcgate {other:?}"));
                }
            }
        }
    }
    (
        ok as f64 / expected.len().max(1) as f64,
        expected.len(),
        misses,
    )
}

/// The ndpiReader to run, or why there is none.
fn ndpi_reader() -> Result<PathBuf, &'static str> {
    match std::env::var("PCGATE_BENCH_NDPI") {
        Ok(v) if v == "0" || v.is_empty() => Err("PCGATE_BENCH_NDPI=0"),
        Ok(v) => Ok(PathBuf::from(v)),
        Err(_) => match Command::new("ndpiReader").arg("-h").output() {
            Ok(_) => Ok(PathBuf::from("ndpiReader")),
            Err(_) => Err("ndpiReader not found (apt-get install libndpi-bin)"),
        },
    }
}

/// Runs ndpiReader once over the capture; returns its "nDPI throughput" line's figures.
fn ndpi_run(reader: &Path, path: &Path, gtpu: bool) -> String {
    let mut cmd = Command::new(reader);
    cmd.arg("-i").arg(path);
    if gtpu {
        cmd.arg("-t");
    }
    let out = cmd.output().expect("run ndpiReader");
    if !out.status.success() {
        panic!(
            "ndpiReader failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let throughput = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("nDPI throughput:"))
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let flows = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Unique flows:"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("own report: {throughput}; {flows} flows")
}

/// Runs a `pcgate` binary over the capture (`replay FILE --workers N`, summary discarded);
/// returns its note.
fn binary_run(bin: &Path, path: &Path, workers: usize) -> String {
    let out = Command::new(bin)
        .arg("replay")
        .arg(path)
        .args(["--workers", &workers.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run pcgate");
    if !out.status.success() {
        panic!(
            "{} failed ({}): {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    format!("replay --workers {workers}")
}

/// Drops the capture's pages from the page cache and reads the file back once, in order.
///
/// What mapping a capture costs depends on how its pages came into the cache: read back in order
/// (large folios from read-ahead), the floor pass took 24-27 ns a packet on this project's
/// machine; freshly written, 43-100 ns; mapped back in after the host had paged parts of it
/// out, up to 108 ns. This host also drops cold page cache on its own (DAMON),
/// so without this a run measures whatever state the last hours left.
fn recache(path: &Path) -> anyhow::Result<()> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)
        .map_err(|e| anyhow::anyhow!("dropping {} from the page cache: {e}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    while file.read(&mut buf)? > 0 {}
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let p = Params::from_env();
    let path = ensure_capture(&p)?;
    let file_bytes = std::fs::metadata(&path)?.len();
    if p.recache {
        recache(&path)?;
    }
    let (packets, _) = floor(&path); // also warms the page cache
    let wire_bytes = {
        let cap = Capture::open(&path)?;
        cap.packets()
            .flatten()
            .map(|r| u64::from(r.orig_len))
            .sum::<u64>()
    };
    println!(
        "{} packets, {:.1} MB on the wire, {:.1} MB file; {} rounds",
        packets,
        wire_bytes as f64 / 1e6,
        file_bytes as f64 / 1e6,
        p.repeat
    );
    println!(
        "page cache: {}",
        if p.recache {
            "the capture was dropped from it and read back once (PCGATE_BENCH_RECACHE=1)"
        } else {
            "as found (PCGATE_BENCH_RECACHE=1 drops the capture and reads it back first)"
        }
    );
    // Figures from a busy machine mean little: say how busy it was.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("load average before the run: {}", load.join(" "));
    }

    let baseline = baseline::binary(&target_dir())?;
    let current = PathBuf::from(env!("CARGO_BIN_EXE_pcgate"));
    let nw = format!("pcgate {} workers", p.workers);
    let mut readers = vec![
        Reader {
            label: "floor (capture walk)".to_owned(),
            run: Box::new(|| {
                let (n, sum) = floor(&path);
                format!("{n} packets, checksum {sum:016x}")
            }),
        },
        Reader {
            label: "pcgate 1 worker".to_owned(),
            run: Box::new(|| pcgate(&path, 1, p.placement)),
        },
        Reader {
            label: nw.clone(),
            run: Box::new(|| pcgate(&path, p.workers, p.placement)),
        },
    ];
    match &baseline {
        Some((commit, bin)) => {
            for workers in [1, p.workers] {
                let (current, path) = (&current, &path);
                readers.push(Reader {
                    label: format!("binary, this tree {workers}w"),
                    run: Box::new(move || binary_run(current, path, workers)),
                });
                readers.push(Reader {
                    label: format!("binary, {commit} {workers}w"),
                    run: Box::new(move || binary_run(bin, path, workers)),
                });
            }
        }
        None => println!("baseline rows skipped: PCGATE_BENCH_BASELINE=0"),
    }
    match ndpi_reader() {
        Ok(reader) => {
            let (path, gtpu) = (&path, p.gtpu);
            readers.push(Reader {
                label: "ndpiReader (wall clock)".to_owned(),
                run: Box::new(move || ndpi_run(&reader, path, gtpu)),
            });
        }
        Err(why) => println!("ndpiReader's row skipped: {why}"),
    }
    let rows = measure(readers, p.repeat);

    println!();
    println!(
        "{:<26} {:>10} {:>10} {:>12} {:>8} {:>9}  notes",
        "reader", "best s", "median s", "packets/s", "Gbit/s", "ns/pkt"
    );
    for r in &rows {
        let s = r.best().as_secs_f64();
        println!(
            "{:<26} {:>10.3} {:>10.3} {:>12.0} {:>8.2} {:>9.1}  {}",
            r.label,
            s,
            r.median().as_secs_f64(),
            packets as f64 / s,
            wire_bytes as f64 * 8.0 / s / 1e9,
            s * 1e9 / packets as f64,
            r.note
        );
    }
    let row = |label: &str| rows.iter().find(|r| r.label.starts_with(label));
    println!();
    println!("throughput ratios: from the best runs; the median of the rounds' ratios");
    let (floor_row, one, many) = (row("floor"), row("pcgate 1"), row(&nw));
    let show = |what: &str, slow: Option<&Measure>, fast: Option<&Measure>| {
        if let (Some(slow), Some(fast)) = (slow, fast) {
            let (best, median) = ratio(slow, fast);
            println!("{what:<36} {best:>6.3}x {median:>7.3}x");
        }
    };
    show("pcgate 1w / ndpiReader:", row("ndpiReader"), one);
    show("pcgate 1w / floor:", floor_row, one);
    show(&format!("pcgate {}w / floor:", p.workers), floor_row, many);
    show(&format!("pcgate {}w / pcgate 1w:", p.workers), one, many);
    if let Some((commit, _)) = &baseline {
        for workers in [1, p.workers] {
            show(
                &format!("this tree / {commit}, {workers}w:"),
                row(&format!("binary, {commit} {workers}w")),
                row(&format!("binary, this tree {workers}w")),
            );
        }
    }

    println!();
    let mut failed = false;
    for workers in [1, p.workers] {
        let (share, n, misses) = agreement(&path, workers);
        println!(
            "names agree with the synthesizer ({workers} worker(s)): {:.4} % of {n} flows",
            share * 100.0
        );
        for m in &misses {
            println!("  {m}");
        }
        failed |= share < MIN_AGREEMENT;
    }
    if failed {
        eprintln!(
            "fewer than {:.1} % of flows named as expected",
            MIN_AGREEMENT * 100.0
        );
        std::process::exit(1);
    }
    Ok(())
}
