//! The plumbing every subcommand's run shares, written once: loading the spec and snapshot,
//! the output probes, the set-up check, a live collection bounded by a stop, how a stop or an
//! unusable account becomes the run status, report preparation and publishing, stdout, and the
//! exit codes.
//!
//! It sits between the commands (`commands/`, one per subcommand) and the library's engines, so
//! a command reads as the steps of its run and none of these rules can drift between commands
//! (an audit, a canary and a reconcile all end the same way on SIGTERM).

use crate::aws::AwsOptions;
use crate::cli::{AwsArgs, EvidenceArgs, ReportArgs, ShowStatus};
use crate::findings::{Finding, Report, RunStatus, Severity};
use crate::report::{self, Format};
use crate::snapshot::Snapshot;
use crate::stop::Interrupt;
use crate::{collect, rules, spec};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Exit codes (the README has the table): 0 the run completed and every check passed; 1 a
/// finding is fail or error, or the run did not see everything (`--deadline`, an unusable
/// account, errors in the matrix, canary versions left); 2 the run could not happen (bad spec
/// or flags, unwritable output, no usable account); 130/143 stopped by SIGINT/SIGTERM.
/// A closed stdout does not change the code.
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// A run that could not happen: printed as one line on stderr, exit 2.
#[derive(Debug)]
pub struct Fatal(pub String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.to_string())
    }
}

/// What every command's run returns: its exit code, or the one line of a run that could not
/// happen.
pub type Outcome = Result<u8, Fatal>;

/// How to reach AWS and when to stop, resolved from the shared AWS flags.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub options: AwsOptions,
    /// `--deadline`: counted from when [`AwsSettings::deadline_at`] is asked.
    pub deadline: Option<Duration>,
}

impl From<&AwsArgs> for AwsSettings {
    fn from(a: &AwsArgs) -> Self {
        let operation = a.timeout.max(Duration::from_secs(1));
        AwsSettings {
            options: AwsOptions {
                endpoint_url: a.endpoint_url.clone().filter(|s| !s.is_empty()),
                max_attempts: a.max_attempts.max(1),
                operation_timeout: operation,
                attempt_timeout: operation.min(Duration::from_secs(20)),
                max_concurrency: a.max_concurrency,
            },
            deadline: a.deadline,
        }
    }
}

impl AwsSettings {
    /// When the run must end, counted from now.
    pub fn deadline_at(&self) -> Option<tokio::time::Instant> {
        self.deadline.map(|d| tokio::time::Instant::now() + d)
    }
}

/// What the collector reads beyond configuration (audit, snapshot, simulate, who-can).
#[derive(Debug, Clone)]
pub struct EvidenceSettings {
    pub metrics_window: Duration,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<&EvidenceArgs> for EvidenceSettings {
    fn from(a: &EvidenceArgs) -> Self {
        EvidenceSettings {
            metrics_window: a.metrics_window,
            since: a.since,
        }
    }
}

impl EvidenceSettings {
    /// Collection options; `previous_report` supplies the default `--since`.
    pub fn collect_options(
        &self,
        aws: &AwsSettings,
        previous_report: Option<&Path>,
    ) -> collect::CollectOptions {
        let mut c = collect::CollectOptions::new(aws.options.clone());
        c.metrics_window = self.metrics_window;
        if let Some(since) = self
            .since
            .or_else(|| previous_report.and_then(previous_report_time))
        {
            c.since = since;
        }
        c
    }
}

/// `generated_at` of the latest JSON report in the output folder, if there is one.
fn previous_report_time(dir: &Path) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = std::fs::read_to_string(dir.join("audit-latest.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("generated_at")?.as_str()?.parse().ok()
}

pub fn load_spec(path: &Path) -> Result<spec::LoadedSpec, Fatal> {
    spec::load(path).map_err(|e| Fatal(format!("invalid spec: {e}")))
}

pub fn load_snapshot(path: &Path) -> Result<Snapshot, Fatal> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fatal(format!("cannot read snapshot {}: {e}", path.display())))?;
    Snapshot::from_json(&text).map_err(|e| Fatal(format!("{}: {e}", path.display())))
}

/// A snapshot answers only for the spec it was collected for.
pub fn check_snapshot_spec(snap: &Snapshot, spec: &spec::Spec) -> Result<(), Fatal> {
    if snap.spec_name != spec.name {
        return Err(Fatal(format!(
            "snapshot was collected for spec '{}', not '{}'",
            snap.spec_name, spec.name
        )));
    }
    Ok(())
}

/// Write to stdout. A closed stdout (`replaudit rules | head -1`, `replaudit audit ... | true`)
/// is not an error of the run: the reader has stopped reading, the reports are written, and
/// the process exits with the code it would have had.
pub fn emit(text: &str) -> Result<(), Fatal> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Fatal(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// Prove a report folder can be written before any AWS call (a failure after a 10-minute
/// collection would lose the run): create it, then write and remove a probe file.
pub fn check_output_dir(dir: &Path) -> Result<(), Fatal> {
    let fail = |e: std::io::Error| {
        Fatal(format!(
            "output directory {} is not writable ({e}): choose another --output-dir",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(format!(".replaudit-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Prove an output file can be written before any AWS call, without creating or truncating it.
pub fn check_output_file(path: &Path) -> Result<(), Fatal> {
    let fail = |e: String| {
        Fatal(format!(
            "cannot write {} ({e}): choose another output file",
            path.display()
        ))
    };
    if path.is_dir() {
        return Err(fail("it is a directory".into()));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(fail(format!("folder {} does not exist", parent.display())));
    }
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| fail(e.to_string()))?;
    } else {
        let probe = parent.join(format!(".replaudit-write-probe-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| fail(e.to_string()))?;
        let _ = std::fs::remove_file(&probe);
    }
    Ok(())
}

/// The set-up check before any collection: one identity call per account, a few seconds at
/// most. Prints on stderr one line per account whose identity was not confirmed (for a
/// transient cause as a warning: that account is audited anyway). Returns the unusable
/// accounts (alias -> line), or `Err(2)` when the run cannot happen: no account is usable, or
/// `all_needed` (the canary acts in both accounts) and one is not.
pub async fn setup_check(
    spec: &spec::Spec,
    aws: &AwsSettings,
    all_needed: bool,
) -> Result<BTreeMap<String, String>, u8> {
    let checks = collect::identity::check_accounts(spec, &aws.options).await;
    for line in checks.iter().filter_map(|c| c.problem_line()) {
        eprintln!("replaudit: {line}");
    }
    let unusable = collect::unusable_accounts(&checks);
    let none_usable = !checks.iter().any(|c| c.is_usable());
    if none_usable || (all_needed && !unusable.is_empty()) {
        eprintln!(
            "replaudit: {}: nothing was read",
            if none_usable {
                "no account of the spec is usable"
            } else {
                "the canary needs every account of the spec"
            }
        );
        return Err(EXIT_USAGE);
    }
    Ok(unusable)
}

/// The live snapshot of a spec as `snapshot`, `simulate --spec` and `who-can` take it: the
/// set-up check first, then a collection bounded by `--deadline` and stopped by a signal. The run
/// status says what was not seen (an unusable account, a stop), so no caller can report a partial
/// snapshot as complete. `Err(code)`: the set-up check refused the run.
pub async fn collect_live(
    spec: &spec::Spec,
    aws: &AwsSettings,
    evidence: &EvidenceSettings,
) -> Result<(Snapshot, RunStatus), u8> {
    let unusable = setup_check(spec, aws, false).await?;
    let mut run = unusable_run(&unusable);
    let mut copts = evidence.collect_options(aws, None);
    copts.unusable = Some(unusable);
    let (snap, stopped) =
        collect::collect_until(spec, &copts, crate::stop::first(aws.deadline_at())).await;
    if let Some(st) = &stopped {
        run = run.worst(stopped_run(*st, "collection"));
    }
    Ok((snap, run))
}

/// The state a command works on: the saved snapshot it was given (a completed run), or the
/// live accounts ([`collect_live`]); either way checked to be the spec's. `Err(Ok(code))`: the
/// set-up check refused the run; `Err(Err(_))`: the snapshot cannot be used.
pub async fn state(
    spec: &spec::Spec,
    snapshot: Option<&Path>,
    aws: &AwsSettings,
    evidence: &EvidenceSettings,
) -> Result<(Snapshot, RunStatus), Outcome> {
    let (snap, run) = match snapshot {
        Some(p) => (load_snapshot(p).map_err(Err)?, RunStatus::completed()),
        None => collect_live(spec, aws, evidence).await.map_err(Ok)?,
    };
    check_snapshot_spec(&snap, spec).map_err(Err)?;
    Ok((snap, run))
}

/// The run status of a run that went on without some accounts.
pub fn unusable_run(unusable: &BTreeMap<String, String>) -> RunStatus {
    if unusable.is_empty() {
        return RunStatus::completed();
    }
    let names: Vec<&str> = unusable.keys().map(String::as_str).collect();
    RunStatus::incomplete(format!(
        "account(s) {} could not be read (set-up check failed): their checks are errors",
        names.join(", ")
    ))
}

/// How a run whose collection (or reconcile) was stopped ended.
pub fn stopped_run(s: Interrupt, during: &str) -> RunStatus {
    if s.is_signal() {
        let sig = s.name();
        RunStatus::interrupted(
            sig,
            format!("{sig} during {during}: what was not read is reported as error"),
        )
    } else {
        RunStatus::deadline(format!(
            "--deadline reached during {during}: what was not read is reported as error"
        ))
    }
}

/// How the canary part of a run ended.
pub fn canary_run_status(
    interrupted: Option<Interrupt>,
    deadline: Option<tokio::time::Instant>,
) -> RunStatus {
    match interrupted {
        Some(Interrupt::Deadline) => RunStatus::deadline(
            "--deadline reached during the canary: cleanup ran; checks it did not finish are not a pass",
        ),
        Some(s) => RunStatus::interrupted(
            s.name(),
            format!(
                "canary stopped by {}: cleanup ran; checks it did not finish are not a pass",
                s.name()
            ),
        ),
        // The canary stops itself at the deadline; a deadline that has passed by the time it
        // returned is one it hit (it may have finished just before: then the run is still
        // reported as stopped, never the other way round).
        None if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) => {
            RunStatus::deadline(
                "--deadline reached during the canary: cleanup ran; checks it did not finish are not a pass",
            )
        }
        None => RunStatus::completed(),
    }
}

/// Table width: `COLUMNS` when set, the terminal's own on a terminal, else 100.
pub fn table_width(is_terminal: bool) -> Option<u16> {
    match std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        Some(w) => Some(w),
        None if is_terminal => None,
        None => Some(100),
    }
}

/// What a run reports and how its exit code is decided (audit, canary, reconcile), resolved
/// and checked before any AWS call: the selection names rules, the mute file parses, `-o` has
/// exactly one format, the output folder (or file) is writable.
pub struct ReportSettings {
    /// As given; empty means table, json and junit.
    pub formats: Vec<Format>,
    pub output_dir: PathBuf,
    /// `-o FILE|-`: the one format goes there instead of the folder.
    pub output: Option<PathBuf>,
    pub quiet: bool,
    pub render: report::RenderOptions,
    pub fail_on: Option<Severity>,
    selection: report::select::Selection,
    mutes: Vec<report::mute::Mute>,
}

impl ReportSettings {
    /// `verbose`: `-v` shows passes in the table, as `--show pass` does.
    pub fn resolve(a: &ReportArgs, verbose: u8) -> Result<Self, Fatal> {
        let known: Vec<&str> = rules::all_metas().iter().map(|m| m.id).collect();
        let selection = report::select::Selection::new(&a.rules, &a.skip_rules, &known)
            .map_err(|e| Fatal(e.to_string()))?;
        let mutes = match &a.mute {
            Some(p) => report::mute::load(p).map_err(|e| Fatal(e.to_string()))?,
            None => Vec::new(),
        };
        if let Some(out) = &a.output {
            if a.format.len() != 1 {
                return Err(Fatal(format!(
                    "--output {} needs exactly one --format (got {})",
                    out.display(),
                    a.format.len()
                )));
            }
            if out.as_os_str() != "-" {
                check_output_file(out)?;
            }
        } else {
            check_output_dir(&a.output_dir)?;
        }
        let tty = std::io::stdout().is_terminal();
        let table = report::table::TableOptions {
            color: a.color.enabled(tty),
            show_pass: a.show.contains(&ShowStatus::Pass) || verbose > 0,
            width: table_width(tty),
        };
        Ok(ReportSettings {
            formats: a.format.clone(),
            output_dir: a.output_dir.clone(),
            output: a.output.clone(),
            quiet: a.quiet,
            render: report::RenderOptions {
                junit_family: a.junit_family,
                table,
            },
            fail_on: a.fail_on,
            selection,
            mutes,
        })
    }

    /// Selection, spec locations and mutes, in that order, then the report.
    pub fn report(
        &self,
        spec: &spec::LoadedSpec,
        collected_at: chrono::DateTime<chrono::Utc>,
        findings: Vec<Finding>,
        run: RunStatus,
    ) -> Report {
        let mut findings = self.selection.apply(findings);
        report::locate::annotate(spec, &mut findings);
        let today = chrono::Utc::now().date_naive();
        let notices = report::mute::apply(&self.mutes, &mut findings, today);
        let mut r = Report::new(&spec.name, collected_at, findings).with_run(run);
        for n in &notices {
            eprintln!("replaudit: {n}");
        }
        r.notices = notices;
        r
    }

    /// Write the report files (or the one `-o` output), print the table, and turn the outcome
    /// into the exit code.
    pub fn publish(&self, report: &Report, stem: &str) -> Outcome {
        let code = report.exit_code_at(self.fail_on);
        if let Some(out) = &self.output {
            let body = self.formats[0].render_with(report, &self.render)?;
            if out.as_os_str() == "-" {
                emit(&body)?;
            } else {
                std::fs::write(out, &body)
                    .map_err(|e| Fatal(format!("cannot write {}: {e}", out.display())))?;
                eprintln!("wrote {}", out.display());
            }
            return Ok(code);
        }
        let formats = if self.formats.is_empty() {
            vec![Format::Table, Format::Json, Format::Junit]
        } else {
            self.formats.clone()
        };
        let written =
            report::write_all_with(report, &formats, &self.output_dir, stem, &self.render)?;
        if !self.quiet {
            emit(&report::table::render_with(report, &self.render.table))?;
        }
        for p in written
            .iter()
            .filter(|p| !p.to_string_lossy().contains("-latest."))
        {
            eprintln!("wrote {}", p.display());
        }
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the canary's outcome says about the run (a fake outcome: only its `interrupted`
    /// and the deadline matter here).
    #[test]
    fn a_stopped_canary_never_makes_a_green_run() {
        let past = Some(tokio::time::Instant::now() - Duration::from_secs(1));
        let future = Some(tokio::time::Instant::now() + Duration::from_secs(3600));
        let cases = [
            (Some(Interrupt::Sigint), None, 130, "interrupted"),
            (Some(Interrupt::Sigterm), future, 143, "interrupted"),
            // The canary says it stopped at the deadline: that decides, whatever the clock says.
            (Some(Interrupt::Deadline), None, 1, "deadline"),
            (Some(Interrupt::Deadline), future, 1, "deadline"),
            (None, past, 1, "deadline"),
            (None, future, 0, "completed"),
            (None, None, 0, "completed"),
        ];
        for (interrupted, deadline, code, status) in cases {
            let run = canary_run_status(interrupted, deadline);
            // Every finding passed: only the way the run ended decides.
            assert_eq!(run.exit_code(true), code, "{run:?}");
            assert_eq!(serde_json::to_value(run.status).unwrap(), status);
        }
    }

    /// A stopped collection or reconcile: the signal decides the exit code (128 + its number),
    /// the deadline gives 1; each says what stopped it during what.
    #[test]
    fn a_stopped_collection_names_its_stop() {
        let cases = [
            (Interrupt::Sigint, 130, "SIGINT during collection: "),
            (Interrupt::Sigterm, 143, "SIGTERM during collection: "),
            (
                Interrupt::Deadline,
                1,
                "--deadline reached during collection: ",
            ),
        ];
        for (stop, code, start) in cases {
            let run = stopped_run(stop, "collection");
            assert_eq!(run.exit_code(true), code, "{run:?}");
            let reason = run.reason.as_deref().unwrap_or_default();
            assert!(reason.starts_with(start), "{reason}");
            assert!(reason.ends_with("what was not read is reported as error"));
        }
    }
}
