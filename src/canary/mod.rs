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

pub mod observation;
pub mod plan;
mod preflight;
mod progress;
mod run;
pub mod s3ops;
pub mod verdict;

pub use cleanup::{cleanup_run, CleanupReport};
pub use observation::Interrupt;
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
pub const DEFAULT_TIMEOUT: Duration = verdict::RTC_WINDOW;
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
    /// `--deadline`: the checks stop here (as on SIGINT) and cleanup runs without waiting for
    /// in-flight replications.
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

/// A verified, planned run: nothing has been written yet.
pub struct Prepared {
    spec: Spec,
    keys: crate::access::kms::Described,
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

    /// The command that removes what this run writes, should it be killed.
    pub fn cleanup_command(&self) -> String {
        plan::cleanup_command(&self.settings.spec_path, &self.plan.run_id)
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
            validate_run_id(id).map_err(|e| Refused(e.to_string()))?;
            id.clone()
        }
        None => new_run_id(),
    };
    let plan = plan::build(spec, &run_id);
    let verified = preflight::verify(spec, opts, &plan).await?;
    // The replica keys the spec names by alias ARN, resolved the way the audit resolves them:
    // the replica reports the key ARN.
    let keys = crate::collect::kms::describe_aliases(spec, opts, spec.kms_key_arns()).await;
    Ok(Prepared {
        spec: spec.clone(),
        keys,
        settings,
        plan,
        verified,
    })
}

/// Result of a canary run.
pub struct Outcome {
    pub run_id: String,
    pub findings: Vec<Finding>,
    /// Why the run stopped before its checks finished (a signal, or `--deadline`), if it did.
    /// Every check that was still waiting then is an `error` finding naming it.
    pub interrupted: Option<Interrupt>,
    /// A second signal cut cleanup short: versions may be left (the `canary-cleanup` finding
    /// and the summary name them and the command that removes them).
    pub cleanup_aborted: Option<Interrupt>,
    /// Canary versions still present after cleanup (recorded versions not deleted, when
    /// cleanup was cut short).
    pub left_behind: usize,
    /// Human summary lines (stderr).
    pub summary: Vec<String>,
}

impl Outcome {
    /// The exit code the stop implies (130 / 143 for signals, 1 for the deadline), if any.
    pub fn stop_exit_code(&self) -> Option<u8> {
        self.cleanup_aborted
            .or(self.interrupted)
            .map(|i| i.exit_code())
    }
}

/// The line printed before the run writes anything: should the process die (kill -9, lost
/// connection), this is how to remove what it wrote.
pub fn announcement(run_id: &str, command: &str) -> String {
    format!("replaudit: canary run {run_id}; if it is killed before it cleans up, run: {command}")
}

/// Run the canary, then clean up (always, also after SIGINT/SIGTERM/--deadline).
///
/// The first signal (or the deadline) stops every check at its next wait (in-flight requests
/// complete, so every version the run created is known); those checks become `error` findings
/// naming the stop. Cleanup then runs; after the deadline it does not wait for in-flight
/// replications. A second signal stops cleanup at once: the `canary-cleanup` finding and the
/// summary say which recorded versions may be left and print the command that removes them.
pub async fn execute(p: Prepared) -> Outcome {
    let (stop_tx, stop_rx) = watch::channel::<Option<Interrupt>>(None);
    let mut signals = crate::stop::Signals::install();
    let progress = progress::Progress::new(p.settings.progress);
    let command = plan::cleanup_command(&p.settings.spec_path, &p.plan.run_id);
    // Before anything is written (the progress bars are not drawn yet, so a plain line).
    eprintln!("{}", announcement(&p.plan.run_id, &command));
    let ctx = Ctx {
        spec: p.spec,
        keys: p.keys,
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
    let deadline = ctx.settings.deadline;
    let result = {
        let run = async {
            let (mut objects, logs) = futures::join!(run::run_objects(&ctx), logs::run(&ctx));
            objects.merge(logs);
            objects
        };
        tokio::pin!(run);
        loop {
            tokio::select! {
                r = &mut run => break r,
                _ = sleep_until_opt(deadline), if interrupted.is_none() => {
                    interrupted = Some(Interrupt::Deadline);
                    let _ = stop_tx.send(interrupted);
                    ctx.progress.println("replaudit: --deadline reached: stopping the canary, then cleaning up");
                }
                s = signals.next(), if interrupted.is_none() => {
                    interrupted = Some(s);
                    let _ = stop_tx.send(interrupted);
                    ctx.progress.println(&format!(
                        "replaudit: {} received: stopping the canary, then cleaning up ({} again to stop cleaning up at once)",
                        s.name(), s.name()
                    ));
                }
            }
        }
    };
    // Cleanup waits (bounded by --canary-observe) for replications still in flight, so that
    // late replicas are deleted too; not after --deadline (the run must end). A signal during
    // cleanup ends that wait if it is the first one, and ends cleanup itself if it is the
    // second.
    let (drain_tx, drain_rx) =
        watch::channel::<Option<Interrupt>>(interrupted.filter(|i| *i == Interrupt::Deadline));
    let progress_cell = Mutex::new(observation::Cleaned::default());
    let mut cleanup_aborted = None;
    let mut signalled = interrupted.is_some_and(|i| i.is_signal());
    let completed = {
        let c = cleanup::after_run(&ctx, result.watches.clone(), &drain_rx, &progress_cell);
        tokio::pin!(c);
        loop {
            tokio::select! {
                _ = &mut c => break true,
                _ = sleep_until_opt(deadline), if drain_rx.borrow().is_none() => {
                    let _ = drain_tx.send(Some(Interrupt::Deadline));
                }
                s = signals.next() => {
                    if signalled {
                        cleanup_aborted = Some(s);
                        break false;
                    }
                    signalled = true;
                    interrupted.get_or_insert(s);
                    let _ = drain_tx.send(Some(s));
                    ctx.progress.println(&format!(
                        "replaudit: {} received: no longer waiting for in-flight replication ({} again to stop cleaning up at once)",
                        s.name(), s.name()
                    ));
                }
            }
        }
    };
    let cleaned = match (completed, cleanup_aborted) {
        (false, Some(i)) => cleanup::aborted(&ctx, &progress_cell, i),
        _ => progress_cell
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    };
    let j = ctx.judge();
    let mut findings = ctx.plan.skipped.clone();
    findings.extend(result.findings);
    findings.push(j.cleanup(&cleaned, &ctx.settings.spec_path));

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
    let left_behind = if cleaned.aborted.is_some() {
        cleaned.may_be_left.len()
    } else {
        cleaned.left.len()
    };
    if let Some(i) = cleaned.aborted {
        summary.push(format!(
            "canary cleanup {}: {} version(s) deleted; {} recorded version(s) may be left{}; run `{command}`",
            i.describe(),
            cleaned.deleted.len(),
            cleaned.may_be_left.len(),
            if cleaned.may_be_left.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    cleaned
                        .may_be_left
                        .iter()
                        .map(|v| format!("{} {}", j.url(&v.bucket, &v.key), v.version_id))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
    } else {
        summary.push(format!(
            "canary cleanup: {} version(s) deleted, {} left behind{}",
            cleaned.deleted.len(),
            cleaned.left.len(),
            if cleaned.left.is_empty() {
                String::new()
            } else {
                format!(" (run `{command}`)")
            }
        ));
    }
    if let Some(s) = interrupted {
        summary.push(match s {
            Interrupt::Deadline => {
                "canary stopped at --deadline: unfinished checks are errors".to_string()
            }
            _ => format!(
                "canary interrupted by {}: unfinished checks are errors",
                s.name()
            ),
        });
    }
    Outcome {
        run_id: ctx.run_id().to_string(),
        findings,
        interrupted,
        cleanup_aborted,
        left_behind,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announcement_names_the_run_and_the_cleanup_command() {
        let line = announcement("r-1", &plan::cleanup_command("checks/seed.toml", "r-1"));
        assert_eq!(
            line,
            "replaudit: canary run r-1; if it is killed before it cleans up, run: replaudit canary cleanup --spec checks/seed.toml --run-id r-1"
        );
    }

    #[test]
    fn stop_causes() {
        assert_eq!(Interrupt::Sigint.exit_code(), 130);
        assert_eq!(Interrupt::Sigterm.exit_code(), 143);
        assert_eq!(
            Interrupt::Deadline.exit_code(),
            1,
            "never 0 for a run that did not finish"
        );
        assert_eq!(Interrupt::Sigint.summary_word(), "INTERRUPTED");
        assert_eq!(Interrupt::Deadline.summary_word(), "DEADLINE");
        assert_eq!(Interrupt::Deadline.describe(), "stopped at --deadline");
        assert_eq!(Interrupt::Sigterm.describe(), "interrupted by SIGTERM");
    }
}
