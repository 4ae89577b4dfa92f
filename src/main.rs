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
    let result = match cli.command {
        Command::Replay(args) => replay::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Policy(cmd) => policy::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pcgate: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
