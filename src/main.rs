//! `pcgate`: the command line that wires sources, the engine and sinks together.

mod consume;
mod policy;
mod replay;
mod summary;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pcgate",
    version,
    about = "Parental-control enforcement engine for mobile operators"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Largest input file read whole (policy, catalog, category list, config), in MiB; a larger
    /// or endless one is refused. Default: PCGATE_MAX_INPUT_MIB, else 64.
    #[arg(long, global = true, value_name = "MIB")]
    max_input_mib: Option<u64>,
}

/// The cap on an input file: the option's, the environment's, or the default.
fn max_input_bytes(option: Option<u64>) -> anyhow::Result<u64> {
    use dataplane::input::{DEFAULT_MAX_INPUT_MIB, MAX_INPUT_ENV};
    let mib = match option {
        Some(mib) => mib,
        None => match std::env::var(MAX_INPUT_ENV) {
            Ok(v) => v.trim().parse().map_err(|_| {
                anyhow::anyhow!("{MAX_INPUT_ENV}={v:?}: expected a whole number of MiB")
            })?,
            Err(std::env::VarError::NotPresent) => DEFAULT_MAX_INPUT_MIB,
            Err(std::env::VarError::NotUnicode(v)) => {
                anyhow::bail!("{MAX_INPUT_ENV}={v:?}: expected a whole number of MiB")
            }
        },
    };
    mib.checked_mul(1 << 20)
        .ok_or_else(|| anyhow::anyhow!("--max-input-mib {mib}: too large"))
}

#[derive(Subcommand)]
enum Command {
    /// Replay capture files (pcap or pcapng) through the engine and summarise what it saw.
    Replay(replay::Args),
    /// Flow mode: decide the P-Gateway's network-traffic records (from Kafka or a file).
    Consume(consume::Args),
    /// Policy files.
    #[command(subcommand)]
    Policy(policy::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = max_input_bytes(cli.max_input_mib).and_then(|cap| {
        dataplane::input::set_max_input_bytes(cap);
        run(cli.command)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pcgate: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Replay(args) => replay::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Policy(cmd) => policy::run(cmd),
    }
}
