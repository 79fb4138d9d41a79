//! Command line: parses flags and wires the modules together; no logic of its own.

use clap::{Args, Parser, Subcommand};
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

#[derive(Parser)]
#[command(
    name = "replaudit",
    version,
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
    /// Every principal that can read, write or control the spec's buckets (or decrypt with their
    /// keys), and how: own policies or the roles it becomes. Exit 1 when something that could
    /// grant access was not evaluated (listed under the table).
    WhoCan(WhoCanArgs),
}

#[derive(Args, Clone)]
struct AwsArgs {
    /// Send every AWS call to this endpoint (emulators). Also read from AWS_ENDPOINT_URL.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// Attempts per AWS call, first included (standard retry mode, exponential backoff with jitter).
    #[arg(long, default_value_t = 5)]
    max_attempts: u32,
    /// Seconds one AWS call may take, retries included.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Upper bound in seconds for the whole run: collection stops (what was not read becomes
    /// `error` findings), the canary stops and cleans up, and the reports are still written.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    deadline: Option<Duration>,
}

/// What the collector reads beyond configuration (audit, snapshot, simulate).
#[derive(Args, Clone)]
struct EvidenceArgs {
    /// Window of CloudWatch replication metrics to examine, e.g. 24h, 90m, 7d.
    #[arg(long, default_value = "24h", value_parser = parse_window)]
    metrics_window: Duration,
    /// Report CloudTrail configuration changes since this RFC 3339 time (default: the previous
    /// report's time in the output folder, else 24 hours ago).
    #[arg(long)]
    since: Option<chrono::DateTime<chrono::Utc>>,
}

/// `<n>s|m|h|d`; a bare number is hours.
fn parse_window(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 'h'),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 24h, 90m or 7d"))?;
    let secs = match unit {
        's' => n,
        'm' => n * 60,
        'h' => n * 3600,
        'd' => n * 86400,
        _ => return Err(format!("'{s}': unit must be s, m, h or d")),
    };
    if secs < 60 {
        return Err("the metrics window must be at least one minute".into());
    }
    Ok(Duration::from_secs(secs))
}

impl AwsArgs {
    /// When the run must end, counted from now.
    fn deadline_at(&self) -> Option<tokio::time::Instant> {
        self.deadline.map(|d| tokio::time::Instant::now() + d)
    }

    fn options(&self) -> AwsOptions {
        let operation = Duration::from_secs(self.timeout.max(1));
        AwsOptions {
            endpoint_url: self.endpoint_url.clone().filter(|s| !s.is_empty()),
            max_attempts: self.max_attempts.max(1),
            operation_timeout: operation,
            attempt_timeout: operation.min(Duration::from_secs(20)),
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

#[derive(Args)]
struct AuditArgs {
    /// The posture spec (TOML).
    #[arg(long)]
    spec: PathBuf,
    /// Audit this saved snapshot instead of reading AWS (no network).
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Report formats to write (repeatable). Default: table, json and junit.
    #[arg(long, value_enum)]
    format: Vec<Format>,
    /// Where reports go (timestamped files plus `*-latest.*`).
    #[arg(long, default_value = "reports")]
    output_dir: PathBuf,
    /// Do not print the table on stdout.
    #[arg(long)]
    quiet: bool,
    /// Also run the canary (see `replaudit canary --help`) and add its findings to the report.
    #[arg(long, conflicts_with = "snapshot")]
    canary: bool,
    #[command(flatten)]
    canary_opts: CanaryOpts,
    #[command(flatten)]
    evidence: EvidenceArgs,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Canary tuning, shared by `audit --canary` and `canary`.
#[derive(Args, Clone)]
struct CanaryOpts {
    /// Seconds to wait for each replica (and replicated delete marker); default: the 15-minute RTC window.
    #[arg(long, value_name = "SECS", default_value = "900", value_parser = parse_secs)]
    canary_timeout: Duration,
    /// Seconds to watch for what must not replicate (scenario B, delete markers when off), and for
    /// replications still in flight at cleanup.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
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

/// Seconds, fractions allowed, more than zero.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !v.is_finite() || v <= 0.0 || v > 7.0 * 86400.0 {
        return Err(format!("'{s}': expected seconds between 0 and 604800"));
    }
    Ok(Duration::from_secs_f64(v))
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct CanaryArgs {
    #[command(subcommand)]
    action: Option<CanaryAction>,
    /// The posture spec (TOML).
    #[arg(long, required = true)]
    spec: Option<PathBuf>,
    /// Report formats to write (repeatable). Default: table, json and junit.
    #[arg(long, value_enum)]
    format: Vec<Format>,
    /// Where reports go (`canary-<timestamp>.*` plus `canary-latest.*`).
    #[arg(long, default_value = "reports")]
    output_dir: PathBuf,
    /// Do not print the table on stdout.
    #[arg(long)]
    quiet: bool,
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
    /// Matrix output: table or json.
    #[arg(long, default_value = "table")]
    output: String,
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
}

/// A run that could not happen: printed as one line on stderr, exit 2.
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Rules(a) => rules_cmd(a),
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
        Command::WhoCan(a) => who_can_cmd(a).await,
        Command::Rules(_) => unreachable!("handled synchronously"),
    }
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
    check_output_dir(&a.output_dir)?;
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
            let mut copts = a.evidence.collect_options(&a.aws, Some(&a.output_dir));
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
    let report = Report::new(&spec.name, snap.collected_at, findings).with_run(run);
    publish(&report, &a.format, &a.output_dir, "audit", a.quiet)
}

/// Write the report files, print the table, and turn the outcome into the exit code.
fn publish(
    report: &Report,
    formats: &[Format],
    dir: &Path,
    stem: &str,
    quiet: bool,
) -> Result<u8, Fatal> {
    let formats = if formats.is_empty() {
        vec![Format::Table, Format::Json, Format::Junit]
    } else {
        formats.to_vec()
    };
    let written = report::write_all(report, &formats, dir, stem)?;
    if !quiet {
        emit(&report::table::render(
            report,
            std::io::stdout().is_terminal(),
        ))?;
    }
    for p in written
        .iter()
        .filter(|p| !p.to_string_lossy().contains("-latest."))
    {
        eprintln!("wrote {}", p.display());
    }
    Ok(report.exit_code())
}

async fn canary_cmd(a: CanaryArgs) -> Result<u8, Fatal> {
    if let Some(CanaryAction::Cleanup(c)) = a.action {
        let spec = load_spec(&c.spec)?;
        if let Err(code) = setup_check(&spec, &c.aws, true).await {
            return Ok(code);
        }
        let r = canary::cleanup_run(&spec, &c.aws.options(), &c.run_id)
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
        eprintln!(
            "canary cleanup of run {}: {} deleted, {} kept, {} version(s) remain under the run prefixes",
            r.run_id,
            r.deleted.len(),
            r.kept.len(),
            r.remaining
        );
        return Ok(if r.errors.is_empty() && r.remaining == r.kept.len() {
            0
        } else {
            EXIT_FINDINGS
        });
    }
    let spec_path = a.spec.clone().unwrap_or_default();
    let spec = load_spec(&spec_path)?;
    check_output_dir(&a.output_dir)?;
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
    let report = Report::new(&spec.name, started, outcome.findings)
        .with_run(canary_run_status(outcome.interrupted, deadline));
    publish(&report, &a.format, &a.output_dir, "canary", a.quiet)
}

async fn snapshot_cmd(a: SnapshotArgs) -> Result<u8, Fatal> {
    let spec = load_spec(&a.spec)?;
    check_output_file(&a.output)?;
    let unusable = match setup_check(&spec, &a.aws, false).await {
        Ok(u) => u,
        Err(code) => return Ok(code),
    };
    let mut run = unusable_run(&unusable);
    let mut copts = a.evidence.collect_options(&a.aws, None);
    copts.unusable = Some(unusable);
    let (snap, stopped) =
        collect::collect_until(&spec, &copts, stop_signal(a.aws.deadline_at())).await;
    let text = serde_json::to_string_pretty(&snap)?;
    std::fs::write(&a.output, text + "\n")
        .map_err(|e| Fatal(format!("cannot write {}: {e}", a.output.display())))?;
    eprintln!("wrote {}", a.output.display());
    if let Some(st) = &stopped {
        run = run.worst(stopped_run(st, "collection"));
    }
    if let Some(why) = &run.reason {
        eprintln!("replaudit: the snapshot is incomplete: {why}");
    }
    Ok(run.exit_code(true))
}

fn simulate_cases(a: SimulateArgs) -> Result<u8, Fatal> {
    let path = a.cases.as_deref().unwrap_or(Path::new("-"));
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fatal(format!("cannot read cases {}: {e}", path.display())))?;
    let (outcomes, summary) = policy::cases::run_all(&text).map_err(Fatal)?;
    let lines = policy::cases::par_map(&outcomes, |_, o| o.to_json_line());
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in &lines {
        out.push_str(l);
        out.push('\n');
    }
    emit(&out)?;
    eprintln!("{summary}");
    // The contract: exit 1 when a case that states its expected decision disagrees or errors.
    let failed = outcomes
        .iter()
        .any(|o| o.expected.is_some() && o.disagrees());
    Ok(if failed { EXIT_FINDINGS } else { 0 })
}

async fn simulate_matrix(a: SimulateArgs) -> Result<u8, Fatal> {
    let Some(spec_path) = &a.spec else {
        return Err(Fatal("simulate needs --cases FILE or --spec FILE".into()));
    };
    let spec = load_spec(spec_path)?;
    if !matches!(a.output.as_str(), "json" | "table") {
        return Err(Fatal(format!(
            "unknown --output '{}' (table or json)",
            a.output
        )));
    }
    let mut run = RunStatus::completed();
    let snap = match &a.snapshot {
        Some(p) => load_snapshot(p)?,
        None => {
            let unusable = match setup_check(&spec, &a.aws, false).await {
                Ok(u) => u,
                Err(code) => return Ok(code),
            };
            run = unusable_run(&unusable);
            let mut copts = a.evidence.collect_options(&a.aws, None);
            copts.unusable = Some(unusable);
            let (snap, stopped) =
                collect::collect_until(&spec, &copts, stop_signal(a.aws.deadline_at())).await;
            if let Some(st) = &stopped {
                run = run.worst(stopped_run(st, "collection"));
            }
            snap
        }
    };
    let cells = access::matrix::matrix(&spec, &snap);
    match a.output.as_str() {
        "json" => emit(&format!("{}\n", serde_json::to_string_pretty(&cells)?))?,
        _ => emit(&format!("{}\n", access::matrix::render_table(&cells)))?,
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
    opts.check(&spec).map_err(Fatal)?;
    if a.output != "table" && a.output != "json" {
        return Err(Fatal(format!(
            "unknown --output '{}' (table or json)",
            a.output
        )));
    }
    let mut run = RunStatus::completed();
    let snap = match &a.snapshot {
        Some(p) => load_snapshot(p)?,
        None => {
            let unusable = match setup_check(&spec, &a.aws, false).await {
                Ok(u) => u,
                Err(code) => return Ok(code),
            };
            run = unusable_run(&unusable);
            let mut copts = a.evidence.collect_options(&a.aws, None);
            copts.unusable = Some(unusable);
            let (snap, stopped) =
                collect::collect_until(&spec, &copts, stop_signal(a.aws.deadline_at())).await;
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
            let mut out = format!(
                "{} — {}\nseverity: {}\nscenarios: {}\n\n",
                m.id,
                m.title,
                m.severity,
                m.scenarios
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            out.push_str(
                &m.doc
                    .lines()
                    .map(|l| l.strip_prefix(' ').unwrap_or(l))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            out.push_str(&format!(
                "\nRemediation: {}\n\nReferences:\n",
                m.remediation
            ));
            for r in m.references {
                out.push_str(&format!("- {r}\n"));
            }
            emit(&out)?;
        }
        None => {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
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
            (Some(canary::Interrupt::Interrupt), None, 130, "interrupted"),
            (
                Some(canary::Interrupt::Terminate),
                future,
                143,
                "interrupted",
            ),
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
