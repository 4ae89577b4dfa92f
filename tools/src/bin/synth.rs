//! Writes a synthetic capture of a mobile operator's link (see `pcgate_tools::synth`) and its
//! expected flows beside it (`<stem>.expected.jsonl`). Deterministic by seed; streams to disk,
//! so captures of many gigabytes need little memory.
//!
//! ```text
//! cargo run --release -p pcgate-tools --bin synth -- --out evening.pcap --flows 40000
//! cargo run --release -p pcgate-tools --bin synth -- --out big.pcapng --format pcapng --bytes 5G --gtpu
//! cargo run --release -p pcgate-tools --bin synth -- --out syn.pcap --concurrent 10000000 --no-expected
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use pcgate_tools::synth::{self, catalog, concurrent, mix::Kind, Config, Format, Summary};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    about = "Write a deterministic synthetic capture of subscriber traffic and its expected flows"
)]
struct Args {
    /// The capture to write (the expected flows go to <stem>.expected.jsonl beside it).
    #[arg(long)]
    out: PathBuf,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Subscribers (UEs in 10.45.0.0/16 and 2001:db8:45::/48).
    #[arg(long, default_value_t = 2_000)]
    subscribers: u32,
    /// Flows to write (with --packets / --bytes: all targets must be met).
    #[arg(long)]
    flows: Option<u64>,
    /// Packets to write at least.
    #[arg(long)]
    packets: Option<u64>,
    /// Capture size to reach, e.g. 800M, 5G (K, M, G are powers of 1024).
    #[arg(long, value_parser = parse_size)]
    bytes: Option<u64>,
    /// Carry subscriber packets in GTP-U (one TEID per subscriber).
    #[arg(long)]
    gtpu: bool,
    /// Capture format.
    #[arg(long, value_enum, default_value_t = FormatArg::Pcap)]
    format: FormatArg,
    /// App catalog (TOML) whose domains name the flows; default: a built-in list of app domains.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Seconds over which flow starts are spread.
    #[arg(long, default_value_t = 1_800)]
    span: u64,
    /// Share of flows over IPv6, in percent.
    #[arg(long, default_value_t = 35)]
    ipv6_percent: u64,
    /// Instead: N flows all open at once, one SYN each (a memory test).
    #[arg(long, conflicts_with_all = ["flows", "packets", "bytes", "catalog"])]
    concurrent: Option<u64>,
    /// With --concurrent: the server answers each SYN (two packets per flow).
    #[arg(long, requires = "concurrent")]
    syn_ack: bool,
    /// With --concurrent: do not write the expected flows.
    #[arg(long, requires = "concurrent")]
    no_expected: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Pcap,
    Pcapng,
}

/// `123`, `10k`, `800M`, `5G` (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 800M or 5G"))?;
    let mult: u64 = match unit.to_ascii_uppercase().trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (use K, M, G or T)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let format = match args.format {
        FormatArg::Pcap => Format::Pcap,
        FormatArg::Pcapng => Format::Pcapng,
    };
    let started = Instant::now();
    let summary = if let Some(flows) = args.concurrent {
        let cfg = concurrent::ConcurrentConfig {
            flows,
            seed: args.seed,
            subscribers: args.subscribers,
            syn_ack: args.syn_ack,
            gtpu: args.gtpu,
            format,
            span_s: 60,
            expected: !args.no_expected,
            ..concurrent::ConcurrentConfig::default()
        };
        concurrent::write_files(&cfg, &args.out)?
    } else {
        let apps = match &args.catalog {
            Some(path) => catalog::load(path)?,
            None => catalog::builtin(),
        };
        if args.flows == Some(0) {
            bail!("--flows must be at least 1");
        }
        let cfg = Config {
            seed: args.seed,
            subscribers: args.subscribers,
            flows: args.flows,
            packets: args.packets,
            bytes: args.bytes,
            gtpu: args.gtpu,
            format,
            apps,
            span_s: args.span,
            ipv6_percent: args.ipv6_percent,
            ..Config::default()
        };
        synth::write_files(&cfg, &args.out)?
    };
    report(&args, &summary, started.elapsed().as_secs_f64());
    Ok(())
}

fn report(args: &Args, s: &Summary, secs: f64) {
    println!("{}", args.out.display());
    if args.concurrent.is_none() || !args.no_expected {
        println!("{}", synth::expected_path(&args.out).display());
    }
    println!(
        "flows {}  packets {}  wire bytes {}  file bytes {}  mean packet {:.0} B",
        s.flows,
        s.packets,
        s.wire_bytes,
        s.file_bytes,
        s.mean_packet_len()
    );
    let kinds: Vec<String> = Kind::ALL
        .iter()
        .filter(|k| s.by_kind[k.index()] > 0)
        .map(|k| format!("{} {}", k.as_str(), s.by_kind[k.index()]))
        .collect();
    println!("by kind: {}", kinds.join(", "));
    println!(
        "span {:.1} s of capture time; written in {:.1} s ({:.0} packets/s)",
        s.last_ts_ns.saturating_sub(s.first_ts_ns) as f64 / 1e9,
        secs,
        s.packets as f64 / secs.max(1e-9)
    );
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_units_and_refuse_the_rest() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("10k"), Ok(10 * 1024));
        assert_eq!(parse_size("800M"), Ok(800 << 20));
        assert_eq!(parse_size("5GB"), Ok(5 << 30));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
