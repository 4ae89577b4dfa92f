//! The baseline build a benchmark compares the working tree with: the `pcgate` binary of an
//! earlier commit, built once from `git archive` into `target/bench-baseline/<commit>/` and
//! cached there, so that "no slower than before" is measured in one run, side by side, on the
//! same machine state.
//!
//! The commit is `PCGATE_BENCH_BASELINE` (any name git resolves; `0` skips the baseline), else
//! the first word of `benches/BASELINE`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// The baseline's `pcgate` binary and its commit, built if not cached; `Ok(None)` when skipped.
pub fn binary(target_dir: &Path) -> anyhow::Result<Option<(String, PathBuf)>> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rev = match std::env::var("PCGATE_BENCH_BASELINE") {
        Ok(v) if v.trim() == "0" => return Ok(None),
        Ok(v) if !v.trim().is_empty() => v.trim().to_owned(),
        _ => {
            let file = repo.join("benches/BASELINE");
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            match text.split_whitespace().next() {
                Some(word) => word.to_owned(),
                None => bail!("{}: empty; it should name a commit", file.display()),
            }
        }
    };
    let commit = git(
        repo,
        &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
    )
    .with_context(|| format!("baseline {rev:?} is not a commit of this repository"))?;
    let short: String = commit.chars().take(12).collect();
    let dir = target_dir.join("bench-baseline").join(&short);
    let bin = dir.join("target/release/pcgate");
    if bin.exists() {
        return Ok(Some((short, bin)));
    }
    let src = dir.join("src");
    if src.exists() {
        std::fs::remove_dir_all(&src).with_context(|| format!("clearing {}", src.display()))?;
    }
    std::fs::create_dir_all(&src)?;
    println!(
        "baseline {short}: building its pcgate binary (once, cached in {})",
        dir.display()
    );
    let archive = Command::new("git")
        .current_dir(repo)
        .args(["archive", "--format=tar", &commit])
        .stdout(Stdio::piped())
        .spawn()
        .context("running git archive")?;
    let untar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&src)
        .stdin(archive.stdout.context("git archive's output")?)
        .status()
        .context("running tar")?;
    if !untar.success() {
        bail!("unpacking baseline {short} into {} failed", src.display());
    }
    let built = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(&src)
        .args([
            "build",
            "--release",
            "--locked",
            "--bin",
            "pcgate",
            "--target-dir",
        ])
        .arg(dir.join("target"))
        .status()
        .context("running cargo build for the baseline")?;
    if !built.success() || !bin.exists() {
        bail!("building baseline {short} failed ({built})");
    }
    Ok(Some((short, bin)))
}

/// `git ARGS` in `repo`; its trimmed standard output.
fn git(repo: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git").current_dir(repo).args(args).output()?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
