//! The canary: prove replication, encryption and access end to end with real objects.
//!
//! `replaudit audit --canary` / `replaudit canary` write uniquely named objects into the source
//! buckets (`<prefix>replaudit-canary/<run-id>/<n>`, `If-None-Match: *`, tagged
//! `replaudit-canary=<run-id>`, encrypted as the bucket's spec says), then concurrently watch the
//! replicas arrive (latency, status, encryption), read them as the spec's principals (access),
//! check scenario B's unreplicated prefix and scenario C's uploaders, and test delete-marker
//! replication. Every result is a [`Finding`].
//!
//! Safety:
//! - the run refuses to start when an account's credentials, a principal's identity, a bucket's
//!   owner or region differ from the spec (`preflight.rs`);
//! - a canary PutObject can never overwrite anything (If-None-Match), and what existed under the
//!   run's prefixes before the run is never touched;
//! - cleanup deletes only versions the run created or saw replicated, by version id
//!   (`cleanup.rs` documents exactly what counts as the run's own), after success, failure,
//!   timeout and SIGINT/SIGTERM, and reports what was left behind;
//! - `replaudit canary cleanup --run-id ID` finds a crashed run's objects by tag and run id.
//!
//! Flow: [`prepare`] (plan + preflight; nothing written) → [`execute`] (run, then cleanup).

pub mod backoff;
mod cleanup;
mod context;
mod logs;
pub mod plan;
mod preflight;
mod progress;
mod run;
pub mod s3ops;

pub use cleanup::{cleanup_run, CleanupReport};
pub use plan::{new_run_id, validate_run_id};

use crate::aws::AwsOptions;
use crate::catalogue::canary as meta;
use crate::findings::Finding;
use crate::spec::Spec;
use context::{Ctx, Ledger};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// `--canary-timeout` default: the Replication Time Control window.
pub const DEFAULT_TIMEOUT: Duration = run::RTC_WINDOW;
/// `--canary-observe` default: how long to watch for things that must not (or may still) arrive.
pub const DEFAULT_OBSERVE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long to wait for each replica and replicated delete marker.
    pub timeout: Duration,
    /// How long to watch for a replica / delete marker that must not appear, and (at cleanup)
    /// for replications still in flight.
    pub observe: Duration,
    /// Use this run id instead of a fresh one (tests; re-running a known id).
    pub run_id: Option<String>,
    /// Progress bars on stderr.
    pub progress: bool,
    /// Spec path, only to print a ready-to-run cleanup command.
    pub spec_path: String,
    /// `--deadline`: the checks stop here (as on SIGINT) and cleanup runs.
    pub deadline: Option<tokio::time::Instant>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: DEFAULT_TIMEOUT,
            observe: DEFAULT_OBSERVE,
            run_id: None,
            progress: false,
            spec_path: "SPEC".into(),
            deadline: None,
        }
    }
}

/// The canary will not run: nothing was written.
#[derive(Debug, Clone)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "canary refused to run: {}", self.0)
    }
}

impl std::error::Error for Refused {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    Interrupt,
    Terminate,
}

impl Interrupt {
    pub fn name(&self) -> &'static str {
        match self {
            Interrupt::Interrupt => "SIGINT",
            Interrupt::Terminate => "SIGTERM",
        }
    }

    /// The shell convention 128 + signal number.
    pub fn exit_code(&self) -> u8 {
        match self {
            Interrupt::Interrupt => 130,
            Interrupt::Terminate => 143,
        }
    }
}

/// A verified, planned run: nothing has been written yet.
pub struct Prepared {
    spec: Spec,
    settings: Settings,
    plan: plan::Plan,
    verified: preflight::Verified,
}

impl Prepared {
    pub fn run_id(&self) -> &str {
        &self.plan.run_id
    }

    pub fn objects(&self) -> usize {
        self.plan.objects.len()
    }
}

/// Plan the run and verify accounts, identities and buckets. Writes nothing.
pub async fn prepare(
    spec: &Spec,
    opts: &AwsOptions,
    settings: Settings,
) -> Result<Prepared, Refused> {
    let run_id = match &settings.run_id {
        Some(id) => {
            validate_run_id(id).map_err(Refused)?;
            id.clone()
        }
        None => new_run_id(),
    };
    let plan = plan::build(spec, &run_id);
    let verified = preflight::verify(spec, opts, &plan).await?;
    Ok(Prepared {
        spec: spec.clone(),
        settings,
        plan,
        verified,
    })
}

/// Result of a canary run.
pub struct Outcome {
    pub run_id: String,
    pub findings: Vec<Finding>,
    pub interrupted: Option<Interrupt>,
    /// Canary versions still present after cleanup.
    pub left_behind: usize,
    /// Human summary lines (stderr).
    pub summary: Vec<String>,
}

/// Run the canary, then clean up (always, also after SIGINT/SIGTERM).
///
/// The first signal stops every check at its next wait (in-flight requests complete, so every
/// version the run created is known), then cleanup runs; a second signal stops cleanup's wait
/// for in-flight replications (deleting what is known still happens).
pub async fn execute(p: Prepared) -> Outcome {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut signals = Signals::install();
    let progress = progress::Progress::new(p.settings.progress);
    let ctx = Ctx {
        spec: p.spec,
        settings: p.settings,
        plan: p.plan,
        clients: p.verified.clients,
        logs: p.verified.logs,
        unusable: p.verified.unusable,
        ledger: Mutex::new(Ledger {
            foreign: p.verified.foreign,
            ..Ledger::default()
        }),
        stop: stop_rx,
        progress,
    };
    let mut interrupted: Option<Interrupt> = None;
    let mut deadline_hit = false;
    let deadline = ctx.settings.deadline;
    let result = {
        let run = run::run_all(&ctx);
        tokio::pin!(run);
        loop {
            tokio::select! {
                r = &mut run => break r,
                _ = sleep_until_opt(deadline), if !deadline_hit && interrupted.is_none() => {
                    deadline_hit = true;
                    let _ = stop_tx.send(true);
                    ctx.progress.println("replaudit: --deadline reached: stopping the canary, then cleaning up");
                }
                s = signals.next(), if interrupted.is_none() => {
                    interrupted = Some(s);
                    let _ = stop_tx.send(true);
                    ctx.progress.println(&format!(
                        "replaudit: {} received: stopping the canary, then cleaning up ({} again to stop waiting for in-flight replication)",
                        s.name(), s.name()
                    ));
                }
            }
        }
    };
    let (drain_tx, drain_rx) = watch::channel(false);
    let cleaned = {
        let c = cleanup::after_run(&ctx, result.watches.clone(), &drain_rx);
        tokio::pin!(c);
        loop {
            tokio::select! {
                r = &mut c => break r,
                s = signals.next() => {
                    interrupted.get_or_insert(s);
                    let _ = drain_tx.send(true);
                }
            }
        }
    };
    let mut findings = ctx.plan.skipped.clone();
    findings.extend(result.findings);
    findings.push(cleanup::finding(&ctx, &cleaned, &ctx.settings.spec_path));

    let mut summary = Vec::new();
    let latency = findings
        .iter()
        .find(|f| f.id == meta::LATENCY.id && f.resource == "all canaries")
        .map(|f| f.message.clone())
        .unwrap_or_else(|| "no replication measured".into());
    summary.push(format!(
        "canary run {}: {} object(s) written; {latency}",
        ctx.run_id(),
        result.written
    ));
    summary.push(format!(
        "canary cleanup: {} version(s) deleted, {} left behind{}",
        cleaned.deleted.len(),
        cleaned.left.len(),
        if cleaned.left.is_empty() {
            String::new()
        } else {
            format!(
                " (run `replaudit canary cleanup --spec {} --run-id {}`)",
                ctx.settings.spec_path,
                ctx.run_id()
            )
        }
    ));
    if let Some(s) = interrupted {
        summary.push(format!("canary interrupted by {}", s.name()));
    }
    if deadline_hit {
        summary.push("canary stopped at --deadline".to_string());
    }
    Outcome {
        run_id: ctx.run_id().to_string(),
        findings,
        interrupted,
        left_behind: cleaned.left.len(),
        summary,
    }
}

/// Sleep until the instant, or forever without one.
async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// SIGINT / SIGTERM as a stream; a signal that cannot be installed never fires.
struct Signals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    #[cfg(unix)]
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        let int = signal(SignalKind::interrupt())
            .map_err(|e| tracing::warn!("cannot handle SIGINT: {e}"))
            .ok();
        let term = signal(SignalKind::terminate())
            .map_err(|e| tracing::warn!("cannot handle SIGTERM: {e}"))
            .ok();
        Signals { int, term }
    }

    #[cfg(not(unix))]
    fn install() -> Signals {
        Signals {}
    }

    #[cfg(unix)]
    async fn next(&mut self) -> Interrupt {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            if let Some(sig) = s {
                if sig.recv().await.is_some() {
                    return;
                }
            }
            std::future::pending::<()>().await
        }
        tokio::select! {
            _ = recv(&mut self.int) => Interrupt::Interrupt,
            _ = recv(&mut self.term) => Interrupt::Terminate,
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> Interrupt {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        Interrupt::Interrupt
    }
}
