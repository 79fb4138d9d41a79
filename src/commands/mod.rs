//! One module per subcommand. Each resolves its flags into typed settings first (all defaults
//! and checks that need no AWS call: `XSettings::resolve`), then runs from the settings alone
//! (`run`), so a run can be started from a test or another command without clap, and the order
//! in which a command checks its input is written in one place.
//!
//! The steps the commands share (stops, output probes, set-up check, report publishing, exit
//! codes) are in [`crate::run`]; the clap definitions in [`crate::cli`].

pub mod audit;
pub mod canary;
pub mod discover;
pub mod fix;
pub mod reconcile;
pub mod rules;
pub mod simulate;
pub mod snapshot;
pub mod what_if;
pub mod who_can;

use crate::cli::Cli;
use crate::run::{emit, Fatal, Outcome};
use clap::CommandFactory;

/// `replaudit completions SHELL`: generated from the same definitions that parse the flags.
pub fn completions(shell: clap_complete::Shell) -> Outcome {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "replaudit", &mut out);
    emit(&String::from_utf8_lossy(&out)).map(|_| 0)
}

/// `replaudit man`: the roff page of the same definitions.
pub fn man() -> Outcome {
    let mut out = Vec::new();
    match clap_mangen::Man::new(Cli::command()).render(&mut out) {
        Ok(()) => emit(&String::from_utf8_lossy(&out)).map(|_| 0),
        Err(e) => Err(Fatal(format!("cannot render the man page: {e}"))),
    }
}
