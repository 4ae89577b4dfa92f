//! `pcgate policy check`: validate a policy file (against the app catalog) without running.

use crate::replay::load_rules;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Compile a policy and report every error with file, line and field; exit 2 if any.
    Check {
        /// The policy file (`default`: the embedded demo policy).
        file: PathBuf,
        /// App catalog to check app ids against (default: the embedded one).
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Check { file, catalog } => {
            let enforcer = load_rules(catalog.as_deref(), &[], Some(&file))?;
            let rules = enforcer.rules();
            let state = rules.policy.as_ref().expect("a policy was given");
            let p = &state.policy;
            println!(
                "{}: ok: {} subscribers, profiles: {}",
                file.display(),
                p.subscriber_count(),
                p.profile_names().collect::<Vec<_>>().join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
