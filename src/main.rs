//! The `replaudit` binary: parse the command line, set up logging and the runtime, dispatch to
//! the subcommand's module, turn its outcome into the exit code. Everything a run does is in the
//! library (`commands/` per subcommand, `run.rs` for what they share), so it can be tested and
//! reused without this file.

use clap::Parser;
use replaudit::cli::{Cli, Command};
use replaudit::commands::{
    self, audit, canary, discover, fix, reconcile, rules, simulate, snapshot, what_if, who_can,
};
use replaudit::run::{Fatal, Outcome, EXIT_USAGE};
use std::process::ExitCode;

/// glibc gives every thread that contends for the allocator an arena of its own, up to eight
/// per core, and keeps their freed pages: reconciling 10 M inventory versions a side peaked at
/// 2.09 GB resident with a 1 GiB engine pool, 1.72 GB with one arena per core. Called before any
/// thread starts; `MALLOC_ARENA_MAX` in the environment still wins (mallopt(3), M_ARENA_MAX).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // SAFETY: mallopt only sets an allocator parameter; no other thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cores.clamp(1, 64) as libc::c_int);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose);
    match dispatch(cli.command, cli.verbose) {
        Ok(code) => ExitCode::from(code),
        Err(Fatal(msg)) => {
            eprintln!("replaudit: {}", msg.lines().next().unwrap_or_default());
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// What needs no AWS call runs without a runtime (`rules`, `completions`, `man`,
/// `simulate --cases`); the rest resolve their settings, then run on one.
fn dispatch(command: Command, verbose: u8) -> Outcome {
    match command {
        Command::Rules(a) => rules::run(&(&a).into()),
        Command::Completions { shell } => commands::completions(shell),
        Command::Man => commands::man(),
        Command::Simulate(a) => match simulate::CasesSettings::resolve(&a) {
            Some(s) => simulate::run_cases(&s),
            None => on_runtime(Command::Simulate(a), verbose),
        },
        other => on_runtime(other, verbose),
    }
}

fn on_runtime(command: Command, verbose: u8) -> Outcome {
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| Fatal(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        match command {
            Command::Audit(a) => audit::run(audit::AuditSettings::resolve(&a, verbose)?).await,
            Command::Snapshot(a) => snapshot::run(snapshot::SnapshotSettings::resolve(&a)?).await,
            Command::Simulate(a) => {
                simulate::run_matrix(simulate::MatrixSettings::resolve(&a)?).await
            }
            Command::Canary(a) => canary::run(canary::CanarySettings::resolve(&a, verbose)?).await,
            Command::Reconcile(a) => {
                reconcile::run(reconcile::ReconcileSettings::resolve(&a, verbose)?).await
            }
            Command::Discover(a) => discover::run(discover::DiscoverSettings::resolve(&a)?).await,
            Command::WhoCan(a) => who_can::run(who_can::WhoCanSettings::resolve(&a)?).await,
            Command::WhatIf(a) => what_if::run(what_if::WhatIfSettings::resolve(&a)?).await,
            Command::Fix(a) => fix::run(fix::FixSettings::resolve(&a)?).await,
            Command::Rules(_) | Command::Completions { .. } | Command::Man => {
                unreachable!("dispatched without a runtime")
            }
        }
    })
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "replaudit=warn",
        1 => "replaudit=debug,aws_config=warn",
        // aws-config logs access key ids of the profile chain and assumed roles at DEBUG/INFO:
        // not secrets, but not worth spreading through CI logs either.
        _ => "replaudit=trace,aws_config=debug,aws_config::profile::credentials=warn,aws_config::sts=warn,aws_config::credential_process=warn,warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("REPLAUDIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
