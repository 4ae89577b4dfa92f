//! Writes pcgate's fixture captures and their expected results into a directory
//! (default: the workspace's `fixtures/pcaps`). Run `cargo run -p pcgate-tools --bin
//! gen-fixtures [DIR]`; the output is byte-identical on every run.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Write pcgate's deterministic fixture captures and their expected flows")]
struct Args {
    /// Output directory (created if missing).
    #[arg(default_value_os_t = default_dir())]
    dir: PathBuf,
}

fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures")
        .join("pcaps")
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let files = pcgate_tools::fixtures::all().context("generating fixtures")?;
    for f in &files {
        let path = args.dir.join(&f.name);
        std::fs::write(&path, &f.bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("{:>8}  {}", f.bytes.len(), path.display());
    }
    Ok(())
}
