//! Command line: parses flags and wires the modules together; no logic of its own.

use clap::{Args, CommandFactory, Parser, Subcommand};
use replaudit::aws::AwsOptions;
use replaudit::findings::{Report, RunStatus};
use replaudit::report::{self, Format};
use replaudit::rules::{self, AuditContext};
use replaudit::snapshot::Snapshot;
use replaudit::{access, canary, collect, policy, spec};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit codes (the README has the table): 0 the run completed and every check passed; 1 a
/// finding is fail or error, or the run did not see everything (`--deadline`, an unusable
/// account, errors in the matrix, canary versions left); 2 the run could not happen (bad spec
/// or flags, unwritable output, no usable account); 130/143 stopped by SIGINT/SIGTERM.
/// A closed stdout does not change the code.
const EXIT_FINDINGS: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// `replaudit --version`: the package version and the commit it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("REPLAUDIT_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "replaudit",
    version = VERSION,
    about = "Audit and verify AWS S3 cross-account, cross-region replication and bucket access"
)]
struct Cli {
    /// More logging on stderr (-v debug, -vv trace). Never prints credentials.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Collect the live state of both accounts (or load a snapshot) and evaluate every rule.
    Audit(AuditArgs),
    /// Collect the live state and save it as a JSON snapshot for offline audits.
    Snapshot(SnapshotArgs),
    /// Evaluate policy cases (`--cases`) or the principal × action matrix of a spec.
    Simulate(SimulateArgs),
    /// List the rules, or explain one.
    Rules(RulesArgs),
    /// Run only the canary: write real objects, prove replication, encryption and access, clean up.
    Canary(CanaryArgs),
    /// Compare every replication rule's source versions with the destination's (live listing):
    /// missing, FAILED, PENDING, mismatched, wrongly encrypted, never replicated, orphaned.
    Reconcile(ReconcileArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout: `replaudit man > replaudit.1`.
    Man,
    /// Find every replicated bucket of the given accounts and write a baseline posture spec.
    Discover(DiscoverArgs),
    /// Every principal that can read, write or control the spec's buckets (or decrypt with their
    /// keys), and how: own policies or the roles it becomes. Exit 1 when something that could
    /// grant access was not evaluated (listed under the table).
    WhoCan(WhoCanArgs),
}

#[derive(Args)]
struct DiscoverArgs {
    /// A spec, or a file with only `[accounts.<alias>]` tables: the accounts to discover.
    #[arg(
        long,
        required_unless_present = "organization_profile",
        conflicts_with = "organization_profile"
    )]
    accounts: Option<PathBuf>,
    /// Discover every ACTIVE account of an AWS Organization instead: a profile of its management
    /// account or of a delegated administrator (organizations:ListAccounts).
    #[arg(long, value_name = "PROFILE", requires = "member_role")]
    organization_profile: Option<String>,
    /// With --organization-profile: the role assumed (from that profile) in every member account;
    /// the account that profile signs in to (normally the management account, which has no such
    /// role) is read with the profile itself.
    #[arg(long, value_name = "NAME", requires = "organization_profile")]
    member_role: Option<String>,
    /// With --organization-profile: the home Region written for every member account (each
    /// bucket's own Region is found anyway); also decides the partition of the role ARNs.
    #[arg(long, requires = "organization_profile")]
    region: Option<String>,
    /// Where to write the discovered spec (`-` for stdout).
    #[arg(short, long)]
    output: PathBuf,
    /// The `name` of the discovered spec (default: the input's name, else "discovered").
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Args, Clone)]
struct AwsArgs {
    /// Send every AWS call to this endpoint (emulators). Also read from AWS_ENDPOINT_URL.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// Attempts per AWS call, first included (standard retry mode, exponential backoff with jitter).
    #[arg(long, default_value_t = 5)]
    max_attempts: u32,
    /// How long one AWS call may take, retries included (`60s`, `2m`; a bare number is seconds).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    /// Upper bound for the whole run (`15m`, `900s`, `1h`): collection stops (what was not read
    /// becomes `error` findings), the canary stops and cleans up, and the reports are still written.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    deadline: Option<Duration>,
    /// AWS calls in flight per account and service (halved while AWS throttles, grown back after).
    #[arg(long, value_name = "N", default_value_t = collect::limit::DEFAULT_MAX_CONCURRENCY,
          value_parser = parse_concurrency)]
    max_concurrency: usize,
}

/// What the collector reads beyond configuration (audit, snapshot, simulate).
#[derive(Args, Clone)]
struct EvidenceArgs {
    /// Window of CloudWatch replication metrics to examine, e.g. 24h, 90m, 7d.
    #[arg(long, default_value = "24h", value_parser = parse_window)]
    metrics_window: Duration,
    /// Report CloudTrail configuration changes since this time: RFC 3339
    /// (`2026-11-30T05:00:00Z`) or a duration ago (`24h`, `7d`). Default: the previous report's
    /// time in the output folder, else 24 hours ago.
    #[arg(long, value_parser = parse_since)]
    since: Option<chrono::DateTime<chrono::Utc>>,
}

/// One duration syntax for every duration flag: humantime (`900s`, `15m`, `1h 30m`, `7d`); a
/// bare number is seconds (fractions allowed), as these flags took before.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 7.0 * 86400.0 => Duration::from_secs_f64(v),
        Ok(_) => return Err(format!("'{s}': expected a duration between 0 and 7 days")),
        Err(_) => humantime::parse_duration(s.trim())
            .map_err(|e| format!("'{s}' is not a duration like 900s, 15m, 24h or 7d ({e})"))?,
    };
    if d.is_zero() || d > Duration::from_secs(7 * 86400) {
        return Err(format!("'{s}': expected a duration between 0 and 7 days"));
    }
    Ok(d)
}

/// `--since`: an RFC 3339 time, or a duration ago.
fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let ago = humantime::parse_duration(s.trim()).map_err(|_| {
        format!(
            "'{s}' is neither an RFC 3339 time (2026-11-30T05:00:00Z) nor a duration ago (24h, 7d)"
        )
    })?;
    let ago = chrono::Duration::from_std(ago).map_err(|e| format!("'{s}': {e}"))?;
    Ok(chrono::Utc::now() - ago)
}

/// A positive number of calls, at most 1024.
fn parse_concurrency(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("'{s}': expected a number of calls from 1 to 1024")),
    }
}

/// The metrics window: a duration of at least one minute.
fn parse_window(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(60) {
        return Err("the metrics window must be at least one minute".into());
    }
    Ok(d)
}

impl AwsArgs {
    /// When the run must end, counted from now.
    fn deadline_at(&self) -> Option<tokio::time::Instant> {
        self.deadline.map(|d| tokio::time::Instant::now() + d)
    }

    fn options(&self) -> AwsOptions {
        let operation = self.timeout.max(Duration::from_secs(1));
        AwsOptions {
            endpoint_url: self.endpoint_url.clone().filter(|s| !s.is_empty()),
            max_attempts: self.max_attempts.max(1),
            operation_timeout: operation,
            attempt_timeout: operation.min(Duration::from_secs(20)),
            max_concurrency: self.max_concurrency,
        }
    }
}

impl EvidenceArgs {
    /// Collection options; `previous_report` supplies the default `--since`.
    fn collect_options(
        &self,
        aws: &AwsArgs,
        previous_report: Option<&Path>,
    ) -> collect::CollectOptions {
        let mut c = collect::CollectOptions::new(aws.options());
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

/// Resolves on SIGINT, SIGTERM or the deadline, whichever comes first.
async fn stop_signal(deadline: Option<tokio::time::Instant>) -> collect::Stopped {
    #[cfg(unix)]
    let signals = async {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            _ => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let signals = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "SIGINT"
    };
    let deadline = async {
        match deadline {
            Some(t) => tokio::time::sleep_until(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        sig = signals => collect::Stopped {
            code: "Interrupted",
            reason: format!("interrupted by {sig} before this was read"),
        },
        _ = deadline => collect::Stopped {
            code: "DeadlineExceeded",
            reason: "--deadline reached before this was read".into(),
        },
    }
}

/// How a run whose collection was stopped ended.
fn stopped_run(s: &collect::Stopped, during: &str) -> RunStatus {
    if s.code == "Interrupted" {
        let sig = if s.reason.contains("SIGTERM") {
            "SIGTERM"
        } else {
            "SIGINT"
        };
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

/// Write to stdout. A closed stdout (`replaudit rules | head -1`, `replaudit audit ... | true`)
/// is not an error of the run: the reader has stopped reading, the reports are written, and
/// the process exits with the code it would have had.
fn emit(text: &str) -> Result<(), Fatal> {
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
fn check_output_dir(dir: &Path) -> Result<(), Fatal> {
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
fn check_output_file(path: &Path) -> Result<(), Fatal> {
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
async fn setup_check(
    spec: &spec::Spec,
    aws: &AwsArgs,
    all_needed: bool,
) -> Result<BTreeMap<String, String>, u8> {
    let checks = collect::identity::check_accounts(spec, &aws.options()).await;
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

/// The run status of a run that went on without some accounts.
/// The live snapshot of a spec as `snapshot`, `simulate --spec` and `who-can` take it: the
/// set-up check first, then a collection bounded by `--deadline` and stopped by a signal. The run
/// status says what was not seen (an unusable account, a stop), so no caller can report a partial
/// snapshot as complete. `Err(code)`: the set-up check refused the run.
async fn collect_live(
    spec: &spec::Spec,
    aws: &AwsArgs,
    evidence: &EvidenceArgs,
) -> Result<(Snapshot, RunStatus), u8> {
    let unusable = setup_check(spec, aws, false).await?;
    let mut run = unusable_run(&unusable);
    let mut copts = evidence.collect_options(aws, None);
    copts.unusable = Some(unusable);
    let (snap, stopped) =
        collect::collect_until(spec, &copts, stop_signal(aws.deadline_at())).await;
    if let Some(st) = &stopped {
        run = run.worst(stopped_run(st, "collection"));
    }
    Ok((snap, run))
}

fn unusable_run(unusable: &BTreeMap<String, String>) -> RunStatus {
    if unusable.is_empty() {
        return RunStatus::completed();
    }
    let names: Vec<&str> = unusable.keys().map(String::as_str).collect();
    RunStatus::incomplete(format!(
        "account(s) {} could not be read (set-up check failed): their checks are errors",
        names.join(", ")
    ))
}

/// How the canary part of a run ended.
fn canary_run_status(
    interrupted: Option<canary::Interrupt>,
    deadline: Option<tokio::time::Instant>,
) -> RunStatus {
    match interrupted {
        Some(canary::Interrupt::Deadline) => RunStatus::deadline(
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

/// `generated_at` of the latest JSON report in the output folder, if there is one.
fn previous_report_time(dir: &Path) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = std::fs::read_to_string(dir.join("audit-latest.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("generated_at")?.as_str()?.parse().ok()
}

/// What a run reports and how its exit code is decided (audit and canary).
#[derive(Args, Clone)]
struct ReportArgs {
    /// Report formats to write: repeat the flag or separate with commas (`--format json,junit`).
    /// Default: table, json and junit.
    #[arg(long, value_enum, value_delimiter = ',')]
    format: Vec<Format>,
    /// Where reports go (`<stem>-<timestamp>.*` plus `<stem>-latest.*`).
    #[arg(long, default_value = "reports")]
    output_dir: PathBuf,
    /// Write the one `--format` to this file instead of the output folder; `-` is stdout (the
    /// table is then not printed).
    #[arg(short = 'o', long = "output", value_name = "FILE|-")]
    output: Option<PathBuf>,
    /// Do not print the table on stdout.
    #[arg(long)]
    quiet: bool,
    /// JUnit flavour: `strict` validates against the Jenkins xUnit and Ant schemas; `annotated`
    /// adds `file`/`line` (the spec line of each expectation) for GitHub annotators.
    #[arg(long, value_enum, default_value = "strict")]
    junit_family: report::junit::Family,
    /// Only these rules' findings (ids or globs, comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    rules: Vec<String>,
    /// Leave out these rules' findings (ids or globs).
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    skip_rules: Vec<String>,
    /// Count only fail/error findings of this severity or above in the exit code (the reports
    /// still show every finding; a run that did not complete is never 0).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    fail_on: Option<replaudit::findings::Severity>,
    /// Mute file (TOML): accepted exceptions with a reason and an expiry date; see
    /// `docs/ci/README.md`.
    #[arg(long, value_name = "FILE")]
    mute: Option<PathBuf>,
    /// Colours in the table: `auto` (a terminal, unless NO_COLOR is set or TERM=dumb),
    /// `always`, `never`.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
    /// Also list these statuses in the table (`--show pass`); failures, errors and skips are
    /// always listed. `-v` shows passes too.
    #[arg(long, value_enum, value_delimiter = ',')]
    show: Vec<ShowStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ShowStatus {
    Pass,
}

impl ColorChoice {
    /// NO_COLOR (https://no-color.org: "when present and not an empty string") and TERM=dumb
    /// turn `auto` off; `always` wins over both.
    fn enabled(self, is_terminal: bool) -> bool {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color && !dumb,
        }
    }
}

/// Table width: `COLUMNS` when set, the terminal's own on a terminal, else 100.
fn table_width(is_terminal: bool) -> Option<u16> {
    match std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        Some(w) => Some(w),
        None if is_terminal => None,
        None => Some(100),
    }
}

/// `-v` on the command line (the table shows passes).
static VERBOSE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

impl ReportArgs {
    /// Check everything that can be checked before any AWS call: the selection names rules,
    /// the mute file parses, `-o` has exactly one format, the output folder is writable.
    fn prepare(&self) -> Result<PreparedReport, Fatal> {
        let known: Vec<&str> = rules::all_metas().iter().map(|m| m.id).collect();
        let selection = report::select::Selection::new(&self.rules, &self.skip_rules, &known)
            .map_err(|e| Fatal(e.to_string()))?;
        let mutes = match &self.mute {
            Some(p) => report::mute::load(p).map_err(|e| Fatal(e.to_string()))?,
            None => Vec::new(),
        };
        if let Some(out) = &self.output {
            if self.format.len() != 1 {
                return Err(Fatal(format!(
                    "--output {} needs exactly one --format (got {})",
                    out.display(),
                    self.format.len()
                )));
            }
            if out.as_os_str() != "-" {
                check_output_file(out)?;
            }
        } else {
            check_output_dir(&self.output_dir)?;
        }
        Ok(PreparedReport { selection, mutes })
    }
}

struct PreparedReport {
    selection: report::select::Selection,
    mutes: Vec<report::mute::Mute>,
}

impl PreparedReport {
    /// Selection, spec locations and mutes, in that order, then the report.
    fn report(
        &self,
        spec: &spec::LoadedSpec,
        collected_at: chrono::DateTime<chrono::Utc>,
        findings: Vec<replaudit::findings::Finding>,
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
}

#[derive(Args)]
struct AuditArgs {
    /// The posture spec (TOML).
    #[arg(long)]
    spec: PathBuf,
    /// Audit this saved snapshot instead of reading AWS (no network).
    #[arg(long)]
    snapshot: Option<PathBuf>,
    #[command(flatten)]
    report: ReportArgs,
    /// Also run the canary (see `replaudit canary --help`) and add its findings to the report.
    #[arg(long, conflicts_with = "snapshot")]
    canary: bool,
    #[command(flatten)]
    canary_opts: CanaryOpts,
    /// Also reconcile every replication rule from a live listing (see `replaudit reconcile
    /// --help`; default in-flight windows, at most 10,000 HeadObject per rule) and add its
    /// findings to the report; its version list and Batch manifest go to --output-dir.
    #[arg(long, conflicts_with = "snapshot")]
    reconcile: bool,
    #[command(flatten)]
    evidence: EvidenceArgs,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Canary tuning, shared by `audit --canary` and `canary`.
#[derive(Args, Clone)]
struct CanaryOpts {
    /// How long to wait for each replica (and replicated delete marker); default: the 15-minute RTC window.
    #[arg(long, value_name = "DURATION", default_value = "900s", value_parser = parse_duration)]
    canary_timeout: Duration,
    /// How long to watch for what must not replicate (scenario B, delete markers when off), and
    /// for replications still in flight at cleanup.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    canary_observe: Duration,
    /// Use this run id instead of a fresh one (tests).
    #[arg(long, hide = true)]
    canary_run_id: Option<String>,
}

impl CanaryOpts {
    fn settings(&self, spec_path: &Path) -> canary::Settings {
        canary::Settings {
            timeout: self.canary_timeout,
            observe: self.canary_observe,
            run_id: self.canary_run_id.clone(),
            progress: std::io::stderr().is_terminal(),
            spec_path: spec_path.display().to_string(),
            deadline: None,
        }
    }
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct CanaryArgs {
    #[command(subcommand)]
    action: Option<CanaryAction>,
    /// The posture spec (TOML).
    #[arg(long, required = true)]
    spec: Option<PathBuf>,
    #[command(flatten)]
    report: ReportArgs,
    #[command(flatten)]
    canary_opts: CanaryOpts,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Subcommand)]
enum CanaryAction {
    /// Delete what a crashed canary run left: versions tagged with its run id under its prefixes.
    Cleanup(CanaryCleanupArgs),
}

#[derive(Args)]
struct CanaryCleanupArgs {
    #[arg(long)]
    spec: PathBuf,
    /// The run id (printed by the run, and in its report's canary findings).
    #[arg(long)]
    run_id: String,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Args)]
struct SnapshotArgs {
    #[arg(long)]
    spec: PathBuf,
    /// Output file.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    evidence: EvidenceArgs,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Args)]
struct SimulateArgs {
    /// A JSON array of policy cases (format: docs/policy-cases.md); one JSON line per case on stdout.
    /// Runs locally in well under a second per 100,000 cases: `--deadline` is not accepted.
    #[arg(long, conflicts_with_all = ["spec", "deadline"])]
    cases: Option<PathBuf>,
    /// Print the principal × action matrix of this spec's principals over the live state or `--snapshot`.
    #[arg(long)]
    spec: Option<PathBuf>,
    #[arg(long, requires = "spec")]
    snapshot: Option<PathBuf>,
    /// Matrix output.
    #[arg(long, value_enum, default_value = "table")]
    output: TableOrJson,
    #[command(flatten)]
    evidence: EvidenceArgs,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Args)]
struct WhoCanArgs {
    /// The posture spec (TOML).
    #[arg(long)]
    spec: PathBuf,
    /// Use this saved snapshot instead of reading AWS (no network).
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Only this bucket (alias from the spec).
    #[arg(long)]
    bucket: Option<String>,
    /// Only this action, e.g. s3:GetObject or kms:Decrypt.
    #[arg(long)]
    action: Option<String>,
    /// table or json.
    #[arg(long, default_value = "table")]
    output: String,
    #[command(flatten)]
    evidence: EvidenceArgs,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Args)]
struct RulesArgs {
    /// Print one rule's full documentation.
    #[arg(long)]
    explain: Option<String>,
    /// List format: a table, or JSON (id, title, severity, scenarios, remediation, references).
    #[arg(long, value_enum, default_value = "table")]
    format: TableOrJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TableOrJson {
    Table,
    Json,
}

/// A run that could not happen: printed as one line on stderr, exit 2.
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.to_string())
    }
}

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
    VERBOSE.store(cli.verbose, std::sync::atomic::Ordering::Relaxed);
    let result = match cli.command {
        Command::Rules(a) => rules_cmd(a),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "replaudit", &mut out);
            emit(&String::from_utf8_lossy(&out)).map(|_| 0)
        }
        Command::Man => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => emit(&String::from_utf8_lossy(&out)).map(|_| 0),
                Err(e) => Err(Fatal(format!("cannot render the man page: {e}"))),
            }
        }
        Command::Simulate(a) if a.cases.is_some() => simulate_cases(a),
        other => match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(async_main(other)),
            Err(e) => Err(Fatal(format!("cannot start the async runtime: {e}"))),
        },
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Fatal(msg)) => {
            eprintln!("replaudit: {}", msg.lines().next().unwrap_or_default());
            ExitCode::from(EXIT_USAGE)
        }
    }
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

async fn async_main(cmd: Command) -> Result<u8, Fatal> {
    match cmd {
        Command::Audit(a) => audit_cmd(a).await,
        Command::Snapshot(a) => snapshot_cmd(a).await,
        Command::Simulate(a) => simulate_matrix(a).await,
        Command::Canary(a) => canary_cmd(a).await,
        Command::Reconcile(a) => reconcile_cmd(a).await,
        Command::Discover(a) => discover_cmd(a).await,
        Command::WhoCan(a) => who_can_cmd(a).await,
        Command::Rules(_) | Command::Completions { .. } | Command::Man => {
            unreachable!("handled synchronously")
        }
    }
}

/// `replaudit discover`: exit 0 when the baseline describes everything, 1 when something could
/// not be read or expressed (listed on stderr and in the spec), 2 when nothing could be written.
async fn discover_cmd(a: DiscoverArgs) -> Result<u8, Fatal> {
    let copts = collect::CollectOptions::new(a.aws.options());
    let mut earlier = Vec::new();
    let input = match (&a.accounts, &a.organization_profile, &a.member_role) {
        (Some(path), _, _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Fatal(format!("cannot read {}: {e}", path.display())))?;
            replaudit::discover::parse_accounts(path, &text).map_err(|e| Fatal(e.to_string()))?
        }
        (None, Some(profile), Some(role)) => {
            let region = a.region.clone().ok_or_else(|| {
                Fatal("--organization-profile needs --region (the home Region written for the member accounts)".into())
            })?;
            let org = replaudit::discover::Organization {
                profile: profile.clone(),
                member_role: role.clone(),
                region,
            };
            let members = replaudit::discover::list_members(&org, &copts.aws)
                .await
                .map_err(|e| Fatal(e.to_string()))?;
            let own = replaudit::discover::profile_account(&org, &copts.aws)
                .await
                .map_err(|e| Fatal(e.to_string()))?;
            let (all, skipped) =
                replaudit::discover::member_accounts(&org, &members, Some(&own)).map_err(|e| Fatal(e.to_string()))?;
            for s in &skipped {
                eprintln!("replaudit: {s}");
            }
            let (usable, problems) = replaudit::discover::assumable(&org, all, &copts.aws)
                .await
                .map_err(|e| Fatal(e.to_string()))?;
            // Printed with the discovery's other problems, once, at the end.
            earlier = problems;
            usable
        }
        _ => return Err(Fatal("give --accounts FILE, or --organization-profile PROFILE --member-role NAME --region REGION".into())),
    };
    let name = a
        .name
        .clone()
        .or_else(|| input.name.clone())
        .unwrap_or_else(|| "discovered".into());
    let d = replaudit::discover::discover(&input, &copts, &name, earlier)
        .await
        .map_err(|e| Fatal(e.to_string()))?;
    if a.output.as_os_str() == "-" {
        print!("{}", d.spec);
    } else {
        std::fs::write(&a.output, &d.spec)
            .map_err(|e| Fatal(format!("cannot write {}: {e}", a.output.display())))?;
    }
    eprintln!(
        "discovered {} replication(s) over {} bucket(s){}",
        d.replications,
        d.buckets,
        if a.output.as_os_str() == "-" {
            String::new()
        } else {
            format!(": {}", a.output.display())
        }
    );
    for p in &d.problems {
        eprintln!("replaudit: {p}");
    }
    Ok(if d.problems.is_empty() {
        0
    } else {
        EXIT_FINDINGS
    })
}

fn load_spec(path: &Path) -> Result<spec::LoadedSpec, Fatal> {
    spec::load(path).map_err(|e| Fatal(format!("invalid spec: {e}")))
}

fn load_snapshot(path: &Path) -> Result<Snapshot, Fatal> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fatal(format!("cannot read snapshot {}: {e}", path.display())))?;
    Snapshot::from_json(&text).map_err(|e| Fatal(format!("{}: {e}", path.display())))
}

async fn audit_cmd(a: AuditArgs) -> Result<u8, Fatal> {
    let spec = load_spec(&a.spec)?;
    let prepared = a.report.prepare()?;
    let deadline = a.aws.deadline_at();
    let unusable = match &a.snapshot {
        Some(_) => BTreeMap::new(),
        None => match setup_check(&spec, &a.aws, a.canary).await {
            Ok(u) => u,
            Err(code) => return Ok(code),
        },
    };
    let mut run = unusable_run(&unusable);
    // The canary's checks (identities, bucket owners and regions) come first: a refusal must
    // happen before anything else, and nothing is written until the audit is collected.
    let canary_run = match a.canary {
        true => {
            let mut settings = a.canary_opts.settings(&a.spec);
            settings.deadline = deadline;
            Some(
                canary::prepare(&spec, &a.aws.options(), settings)
                    .await
                    .map_err(|e| Fatal(e.to_string()))?,
            )
        }
        false => None,
    };
    let snap = match &a.snapshot {
        Some(p) => load_snapshot(p)?,
        None => {
            let mut copts = a
                .evidence
                .collect_options(&a.aws, Some(&a.report.output_dir));
            copts.unusable = Some(unusable);
            let (snap, stopped) =
                collect::collect_until(&spec, &copts, stop_signal(deadline)).await;
            if let Some(st) = &stopped {
                run = run.worst(stopped_run(st, "collection"));
            }
            snap
        }
    };
    if snap.spec_name != spec.name {
        return Err(Fatal(format!(
            "snapshot was collected for spec '{}', not '{}'",
            snap.spec_name, spec.name
        )));
    }
    let cx = AuditContext::new(&spec, &snap);
    let mut findings = rules::run_all(&cx);
    // Stopped while collecting: report what was read, and write nothing with the canary.
    if let Some(prepared) = canary_run.filter(|_| run.is_completed()) {
        let outcome = canary::execute(prepared).await;
        for line in &outcome.summary {
            eprintln!("{line}");
        }
        findings.extend(outcome.findings);
        run = run.worst(canary_run_status(outcome.interrupted, deadline));
    }
    if a.reconcile && run.is_completed() {
        use replaudit::reconcile::{self, live};
        check_output_dir(&a.report.output_dir)?;
        let opts = live::LiveOptions {
            aws: a.aws.options(),
            in_flight_rtc: Duration::from_secs(1800),
            in_flight_other: Duration::from_secs(86400),
            max_heads: 10_000,
            engine_memory: reconcile::from_inventory::MEMORY_LIMIT,
        };
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        tokio::select! {
            outcomes = live::reconcile(&spec, &opts) => {
                let (files, cmds) = reconcile::write_files(&outcomes, &a.report.output_dir, &stamp)?;
                for o in &outcomes {
                    findings.extend(reconcile::findings(o, &files));
                }
                for c in &cmds {
                    eprintln!("{c}");
                }
            }
            stopped = stop_signal(a.aws.deadline_at()) => {
                for (id, src, dst, rule) in live::scopes(&spec, &opts) {
                    let o = live::RuleOutcome::new(&spec, id, &src, &dst, rule).unfinished(&stopped.reason);
                    findings.extend(reconcile::findings(&o, &Default::default()));
                }
                run = run.worst(stopped_run(&stopped, "reconcile"));
            }
        }
    }
    let report = prepared.report(&spec, snap.collected_at, findings, run);
    publish(&report, &a.report, "audit")
}

/// Write the report files (or the one `-o` output), print the table, and turn the outcome into
/// the exit code.
fn publish(report: &Report, args: &ReportArgs, stem: &str) -> Result<u8, Fatal> {
    let tty = std::io::stdout().is_terminal();
    let table = report::table::TableOptions {
        color: args.color.enabled(tty),
        show_pass: args.show.contains(&ShowStatus::Pass)
            || VERBOSE.load(std::sync::atomic::Ordering::Relaxed) > 0,
        width: table_width(tty),
    };
    let options = report::RenderOptions {
        junit_family: args.junit_family,
        table,
    };
    let code = report.exit_code_at(args.fail_on);
    if let Some(out) = &args.output {
        let body = args.format[0].render_with(report, &options)?;
        if out.as_os_str() == "-" {
            emit(&body)?;
        } else {
            std::fs::write(out, &body)
                .map_err(|e| Fatal(format!("cannot write {}: {e}", out.display())))?;
            eprintln!("wrote {}", out.display());
        }
        return Ok(code);
    }
    let formats = if args.format.is_empty() {
        vec![Format::Table, Format::Json, Format::Junit]
    } else {
        args.format.clone()
    };
    let written = report::write_all_with(report, &formats, &args.output_dir, stem, &options)?;
    if !args.quiet {
        emit(&report::table::render_with(report, &table))?;
    }
    for p in written
        .iter()
        .filter(|p| !p.to_string_lossy().contains("-latest."))
    {
        eprintln!("wrote {}", p.display());
    }
    Ok(code)
}

async fn canary_cmd(a: CanaryArgs) -> Result<u8, Fatal> {
    if let Some(CanaryAction::Cleanup(c)) = a.action {
        let spec = load_spec(&c.spec)?;
        // The deadline counts from the start, the set-up check included.
        let deadline = c.aws.deadline_at();
        if let Err(code) = setup_check(&spec, &c.aws, true).await {
            return Ok(code);
        }
        let r = canary::cleanup_run(&spec, &c.aws.options(), &c.run_id, deadline)
            .await
            .map_err(|e| Fatal(e.to_string()))?;
        for d in &r.deleted {
            emit(&format!("deleted {d}\n"))?;
        }
        for k in &r.kept {
            emit(&format!(
                "kept    {k} (not tagged replaudit-canary={})\n",
                r.run_id
            ))?;
        }
        for e in &r.errors {
            eprintln!("error   {e}");
        }
        for l in &r.left {
            eprintln!("left    {l}");
        }
        eprintln!("{}", r.summary());
        return Ok(if r.succeeded() { 0 } else { EXIT_FINDINGS });
    }
    let spec_path = a.spec.clone().unwrap_or_default();
    let spec = load_spec(&spec_path)?;
    let prepared = a.report.prepare()?;
    if let Err(code) = setup_check(&spec, &a.aws, true).await {
        return Ok(code);
    }
    let mut settings = a.canary_opts.settings(&spec_path);
    let deadline = a.aws.deadline_at();
    settings.deadline = deadline;
    let run = canary::prepare(&spec, &a.aws.options(), settings)
        .await
        .map_err(|e| Fatal(e.to_string()))?;
    let started = chrono::Utc::now();
    let outcome = canary::execute(run).await;
    for line in &outcome.summary {
        eprintln!("{line}");
    }
    let report = prepared.report(
        &spec,
        started,
        outcome.findings,
        canary_run_status(outcome.interrupted, deadline),
    );
    publish(&report, &a.report, "canary")
}

async fn snapshot_cmd(a: SnapshotArgs) -> Result<u8, Fatal> {
    let spec = load_spec(&a.spec)?;
    check_output_file(&a.output)?;
    let (snap, run) = match collect_live(&spec, &a.aws, &a.evidence).await {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let text = serde_json::to_string_pretty(&snap)?;
    std::fs::write(&a.output, text + "\n")
        .map_err(|e| Fatal(format!("cannot write {}: {e}", a.output.display())))?;
    eprintln!("wrote {}", a.output.display());
    if let Some(why) = &run.reason {
        eprintln!("replaudit: the snapshot is incomplete: {why}");
    }
    Ok(run.exit_code(true))
}

fn simulate_cases(a: SimulateArgs) -> Result<u8, Fatal> {
    let path = a.cases.as_deref().unwrap_or(Path::new("-"));
    // `-` is stdin, as for every file argument of the AWS CLI and jq.
    let text = if path.as_os_str() == "-" {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
            .map_err(|e| Fatal(format!("cannot read cases from stdin: {e}")))?;
        t
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Fatal(format!("cannot read cases {}: {e}", path.display())))?
    };
    let (outcomes, summary) =
        policy::cases::run_all(&text).map_err(|e| Fatal(format!("{}: {e}", path.display())))?;
    let lines = policy::cases::par_map(&outcomes, |_, o| o.to_json_line());
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in &lines {
        out.push_str(l);
        out.push('\n');
    }
    emit(&out)?;
    eprintln!("{summary}");
    // The contract: exit 1 when a case that states its expected decision disagrees or errors.
    let failed = outcomes.iter().any(|o| o.fails_run());
    Ok(if failed { EXIT_FINDINGS } else { 0 })
}

async fn simulate_matrix(a: SimulateArgs) -> Result<u8, Fatal> {
    let Some(spec_path) = &a.spec else {
        return Err(Fatal("simulate needs --cases FILE or --spec FILE".into()));
    };
    let spec = load_spec(spec_path)?;
    let (snap, run) = match &a.snapshot {
        Some(p) => (load_snapshot(p)?, RunStatus::completed()),
        None => match collect_live(&spec, &a.aws, &a.evidence).await {
            Ok(r) => r,
            Err(code) => return Ok(code),
        },
    };
    let cells = access::matrix::matrix(&spec, &snap);
    match a.output {
        TableOrJson::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&cells)?))?,
        TableOrJson::Table => emit(&format!("{}\n", access::matrix::render_table(&cells)))?,
    }
    // A cell that could not be decided is not an answer: the matrix is not a success.
    let undecided = cells
        .iter()
        .filter(|c| c.decision.starts_with("error"))
        .count();
    if undecided > 0 {
        eprintln!(
            "replaudit: {undecided} of {} cells could not be decided (error)",
            cells.len()
        );
    }
    if let Some(why) = &run.reason {
        eprintln!("replaudit: {why}");
    }
    Ok(run.exit_code(undecided == 0))
}

/// Exit 0 with the table; 1 when something that could grant access was not evaluated, an
/// account failed the set-up check or `--deadline` stopped the collection; 130/143 on a signal
/// (the same contract as `audit`).
async fn who_can_cmd(a: WhoCanArgs) -> Result<u8, Fatal> {
    use access::whocan;
    let spec = load_spec(&a.spec)?;
    let opts = whocan::Options {
        bucket: a.bucket.clone(),
        action: a.action.clone(),
    };
    opts.check(&spec).map_err(|e| Fatal(e.to_string()))?;
    if a.output != "table" && a.output != "json" {
        return Err(Fatal(format!(
            "unknown --output '{}' (table or json)",
            a.output
        )));
    }
    let (snap, run) = match &a.snapshot {
        Some(p) => (load_snapshot(p)?, RunStatus::completed()),
        None => match collect_live(&spec, &a.aws, &a.evidence).await {
            Ok(r) => r,
            Err(code) => return Ok(code),
        },
    };
    if snap.spec_name != spec.name {
        return Err(Fatal(format!(
            "snapshot was collected for spec '{}', not '{}'",
            snap.spec_name, spec.name
        )));
    }
    let w = whocan::analyze(&spec, &snap, &opts);
    match a.output.as_str() {
        "json" => emit(&format!("{}\n", serde_json::to_string_pretty(&w)?))?,
        _ => emit(&whocan::render_table(&w, opts.action.as_deref()))?,
    }
    if let Some(why) = &run.reason {
        eprintln!("replaudit: {why}");
    }
    Ok(run.exit_code(w.errors.is_empty()))
}

fn rules_cmd(a: RulesArgs) -> Result<u8, Fatal> {
    match a.explain {
        Some(id) => {
            let m = rules::find_rule(&id).ok_or_else(|| Fatal(format!("no rule '{id}'")))?;
            let out = report::explain(m);
            emit(&out)?;
        }
        None if a.format == TableOrJson::Json => {
            let list: Vec<serde_json::Value> = rules::all_metas()
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": m.id,
                        "title": m.title,
                        "severity": m.severity,
                        "scenarios": m.scenarios,
                        "remediation": m.remediation,
                        "references": m.references,
                    })
                })
                .collect();
            emit(&format!("{}\n", serde_json::to_string_pretty(&list)?))?;
        }
        None => {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
            // Wrapped to COLUMNS or the terminal (was a fixed ~164 columns).
            if let Some(w) = table_width(std::io::stdout().is_terminal()) {
                t.set_width(w).force_no_tty();
            }
            t.set_header(vec!["id", "severity", "scenarios", "title"]);
            for m in rules::all_metas() {
                t.add_row(vec![
                    m.id.to_string(),
                    m.severity.to_string(),
                    m.scenarios
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    m.title.to_string(),
                ]);
            }
            emit(&format!("{t}\n"))?;
        }
    }
    Ok(0)
}

#[derive(Args)]
struct ReconcileArgs {
    /// The posture spec (TOML).
    #[arg(long)]
    spec: PathBuf,
    /// Reports (`--output-dir` also receives the full version list and the Batch Replication
    /// manifest).
    #[command(flatten)]
    report: ReportArgs,
    /// Versions younger than this are in flight, never blamed. Default: 30m for rules with
    /// Replication Time Control (its 15-minute window plus 15 minutes), 24h for rules without
    /// (AWS gives them no time bound).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    in_flight: Option<Duration>,
    /// At most this many HeadObject calls per rule (replication status of versions missing at
    /// the destination, encryption of replicas); versions beyond are reported `unverified`.
    #[arg(long, default_value_t = 10_000)]
    max_heads: usize,
    /// MiB the inventory engine's joins and sorts may hold before they spill to the temporary
    /// directory (S3 Inventory path only). The process needs roughly twice this at its peak
    /// (decoding buffers outside the pool): measured 10 M versions a side in benches/README.md.
    #[arg(long, value_name = "MIB", default_value_t = replaudit::reconcile::from_inventory::MEMORY_LIMIT >> 20,
          value_parser = clap::value_parser!(usize))]
    engine_memory: usize,
    /// Where the inventory engine's joins spill when they outgrow --engine-memory (S3 Inventory
    /// path only). Default: the OS temporary directory (TMPDIR). They may write about 188 bytes a
    /// version at their peak (0.35 GiB for 1 M versions a side, 3.5 GiB for 10 M); a directory
    /// that cannot hold that is refused before the comparison starts.
    #[arg(long, value_name = "DIR")]
    spill_dir: Option<PathBuf>,
    /// Reconcile from S3 Inventory instead of a live listing: the source bucket's inventory, as a
    /// local directory holding its manifest.json (or the dated folders of one configuration: the
    /// newest is read), `s3://BUCKET/PREFIX/` of the same (read with the source account), or
    /// `configured`: the one the bucket's own S3 Inventory configurations deliver (all versions,
    /// the needed fields, CSV or Parquet; daily first). Needs --dest-inventory.
    #[arg(long, value_name = "DIR|S3URL|configured", requires = "dest_inventory")]
    source_inventory: Option<String>,
    /// The destination bucket's inventory (as --source-inventory; read with the destination
    /// account).
    #[arg(
        long,
        value_name = "DIR|S3URL|configured",
        requires = "source_inventory"
    )]
    dest_inventory: Option<String>,
    /// Run the comparison on Amazon Athena, over the inventories where S3 delivered them
    /// (--source-inventory and --dest-inventory as s3:// addresses), instead of on this machine:
    /// for buckets whose inventories are too large for one. Creates (if missing) the documented
    /// inventory tables and a view of each in --athena-database; reads no object.
    #[arg(long, requires = "source_inventory")]
    athena: bool,
    /// The Athena workgroup the queries run in.
    #[arg(long, default_value = "primary", value_name = "NAME")]
    athena_workgroup: String,
    /// Where Athena writes its result files (`s3://BUCKET/PREFIX/`). Default: the workgroup's.
    #[arg(long, value_name = "S3URL")]
    athena_output: Option<String>,
    /// The Glue database that holds replaudit's inventory tables and views.
    #[arg(long, default_value = replaudit::reconcile::athena::DEFAULT_DATABASE, value_name = "NAME")]
    athena_database: String,
    /// Give up on one Athena query after this long (it is then stopped).
    #[arg(long, default_value = "30m", value_name = "DURATION", value_parser = parse_duration)]
    athena_timeout: Duration,
    #[command(flatten)]
    aws: AwsArgs,
}

/// `reconcile --source-inventory/--dest-inventory`: the comparison SQL over the two inventories
/// (DataFusion), the full list streamed into its file.
async fn reconcile_inventory(
    a: &ReconcileArgs,
    spec: &spec::Spec,
    opts: &replaudit::reconcile::live::LiveOptions,
    stamp: &str,
) -> Result<(Vec<replaudit::findings::Finding>, Vec<String>), Fatal> {
    use replaudit::reconcile::{self, configured, from_inventory, inventory, live};
    use std::io::Write as _;
    let (Some(si), Some(di)) = (&a.source_inventory, &a.dest_inventory) else {
        return Err(Fatal(
            "both --source-inventory and --dest-inventory are needed".into(),
        ));
    };
    let work = a
        .spill_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!(
            "replaudit-reconcile-{}-{stamp}",
            std::process::id()
        ));
    std::fs::create_dir_all(&work)
        .map_err(|e| Fatal(format!("cannot create {}: {e}", work.display())))?;
    // Removed however this function ends: an error return, or a panic unwinding through it.
    struct RemoveOnDrop<'a>(&'a Path);
    impl Drop for RemoveOnDrop<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    let _work_guard = RemoveOnDrop(&work);
    let in_s3 = |v: &str| v.starts_with("s3://") || v == configured::CONFIGURED;
    if a.athena && !(in_s3(si) && in_s3(di)) {
        return Err(Fatal(
            "--athena reads the inventories where S3 delivered them: give --source-inventory and \
             --dest-inventory as s3:// addresses or `configured`"
                .into(),
        ));
    }
    let located = async {
        let s = configured::resolve(spec, si, true, a.athena, &opts.aws)
            .await
            .map_err(|e| e.to_string())?;
        let d = configured::resolve(spec, di, false, a.athena, &opts.aws)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((s, d))
    }
    .await;
    let opened = async {
        let (si, di) = located.clone()?;
        if a.athena {
            // Athena reads the data files itself; only the manifests are read here.
            return Err(String::new());
        }
        let s = inventory::open(spec, &si, true, &opts.aws, &work.join("source"))
            .await
            .map_err(|e| e.to_string())?;
        let d = inventory::open(spec, &di, false, &opts.aws, &work.join("destination"))
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(from_inventory::InventoryPair { source: s, dest: d })
    }
    .await;
    let list_path = a
        .report
        .output_dir
        .join(format!("reconcile-{stamp}-versions.csv"));
    let file = std::fs::File::create(&list_path)
        .map_err(|e| Fatal(format!("cannot write {}: {e}", list_path.display())))?;
    let mut list = std::io::BufWriter::new(file);
    writeln!(
        list,
        "rule,class,bucket,key,version_id,delete_marker,detail"
    )
    .map_err(|e| Fatal(format!("cannot write {}: {e}", list_path.display())))?;
    let mut batch = reconcile::Repairs::default();
    let outcomes = match (opened, &located) {
        (_, Ok((si, di))) if a.athena => {
            let athena_opts = reconcile::athena::AthenaOptions {
                workgroup: a.athena_workgroup.clone(),
                output_location: a.athena_output.clone(),
                database: a.athena_database.clone(),
                query_timeout: a.athena_timeout,
            };
            let mut sinks = from_inventory::Sinks {
                list: &mut list,
                batch: &mut batch,
            };
            reconcile::athena::reconcile(spec, opts, &athena_opts, si, di, &work, &mut sinks).await
        }
        (Ok(pair), _) => {
            let mut sinks = from_inventory::Sinks {
                list: &mut list,
                batch: &mut batch,
            };
            from_inventory::reconcile(spec, opts, &pair, &work, &mut sinks).await
        }
        (Err(e), _) => live::scopes(spec, opts)
            .into_iter()
            .map(|(id, s, d, rule)| {
                let mut o = live::RuleOutcome::new(spec, id, &s, &d, rule);
                o.error = Some(e.clone());
                o
            })
            .collect(),
    };
    let _ = std::fs::remove_dir_all(&work);
    list.flush()
        .map_err(|e| Fatal(format!("cannot write {}: {e}", list_path.display())))?;
    let (mut files, commands) =
        reconcile::write_manifests(&outcomes, batch, &a.report.output_dir, stamp)?;
    files.list = Some(list_path);
    let mut findings = Vec::new();
    for o in &outcomes {
        findings.extend(reconcile::findings(o, &files));
    }
    Ok((findings, commands))
}

async fn reconcile_cmd(a: ReconcileArgs) -> Result<u8, Fatal> {
    use replaudit::reconcile::{self, live};
    let spec = load_spec(&a.spec)?;
    let prepared = a.report.prepare()?;
    // The version list and the manifest always go to the folder, even with `-o FILE`.
    check_output_dir(&a.report.output_dir)?;
    // Inventories on disk need no AWS account: no set-up check then.
    let local_only = [&a.source_inventory, &a.dest_inventory].iter().all(|i| {
        i.as_deref()
            .is_some_and(|p| !p.starts_with("s3://") && p != reconcile::configured::CONFIGURED)
    });
    let unusable = if local_only {
        BTreeMap::new()
    } else {
        match setup_check(&spec, &a.aws, false).await {
            Ok(u) => u,
            Err(code) => return Ok(code),
        }
    };
    let mut run = unusable_run(&unusable);
    let opts = live::LiveOptions {
        aws: a.aws.options(),
        in_flight_rtc: a.in_flight.unwrap_or(Duration::from_secs(1800)),
        in_flight_other: a.in_flight.unwrap_or(Duration::from_secs(86400)),
        max_heads: a.max_heads,
        engine_memory: a.engine_memory << 20,
    };
    let started = chrono::Utc::now();
    let stamp = started.format("%Y%m%dT%H%M%SZ").to_string();
    let mut findings = Vec::new();
    let mut commands = Vec::new();
    tokio::select! {
        r = reconcile_inventory(&a, &spec, &opts, &stamp), if a.source_inventory.is_some() => {
            let (f, c) = r?;
            findings = f;
            commands = c;
        }
        outcomes = live::reconcile(&spec, &opts), if a.source_inventory.is_none() => {
            let (files, cmds) = reconcile::write_files(&outcomes, &a.report.output_dir, &stamp)?;
            for o in &outcomes {
                findings.extend(reconcile::findings(o, &files));
            }
            commands = cmds;
        }
        stopped = stop_signal(a.aws.deadline_at()) => {
            // Nothing half-listed is judged: every rule is an error.
            for (id, src, dst, rule) in live::scopes(&spec, &opts) {
                let o = live::RuleOutcome::new(&spec, id, &src, &dst, rule).unfinished(&stopped.reason);
                findings.extend(reconcile::findings(&o, &Default::default()));
            }
            run = run.worst(stopped_run(&stopped, "reconcile"));
        }
    }
    let report = prepared.report(&spec, started, findings, run);
    let code = publish(&report, &a.report, "reconcile")?;
    for c in &commands {
        eprintln!("{c}");
    }
    Ok(code)
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
            (Some(canary::Interrupt::Sigint), None, 130, "interrupted"),
            (Some(canary::Interrupt::Sigterm), future, 143, "interrupted"),
            // The canary says it stopped at the deadline: that decides, whatever the clock says.
            (Some(canary::Interrupt::Deadline), None, 1, "deadline"),
            (Some(canary::Interrupt::Deadline), future, 1, "deadline"),
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
}
