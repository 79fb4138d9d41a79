//! Command line: parses flags and wires the modules together; no logic of its own.

use clap::{Args, Parser, Subcommand};
use replaudit::aws::AwsOptions;
use replaudit::findings::Report;
use replaudit::report::{self, Format};
use replaudit::rules::{self, AuditContext};
use replaudit::snapshot::Snapshot;
use replaudit::{access, canary, collect, policy, spec};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit codes: 0 all checks passed, 1 a finding is fail or error, 2 the run could not happen.
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

/// The exit code of a collection stopped by a signal (128 + signal number).
fn stopped_exit_code(s: &collect::Stopped) -> Option<u8> {
    match (s.code, s.reason.contains("SIGTERM")) {
        ("Interrupted", true) => Some(143),
        ("Interrupted", false) => Some(130),
        _ => None,
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
    /// A JSON array of policy cases (see POLICY-CASES format in the README); one JSON line per case on stdout.
    #[arg(long, conflicts_with = "spec")]
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
    // The canary's checks (identities, bucket owners and regions) come first: a refusal must
    // happen before anything else, and nothing is written until the audit is collected.
    let deadline = a.aws.deadline_at();
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
    let mut stopped_code = None;
    let snap = match &a.snapshot {
        Some(p) => load_snapshot(p)?,
        None => {
            let (snap, stopped) = collect::collect_until(
                &spec,
                &a.evidence.collect_options(&a.aws, Some(&a.output_dir)),
                stop_signal(deadline),
            )
            .await;
            stopped_code = stopped.as_ref().and_then(stopped_exit_code);
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
    let mut interrupted = None;
    // Interrupted while collecting: report what was read, and write nothing with the canary.
    let canary_run = if stopped_code.is_some() {
        None
    } else {
        canary_run
    };
    if let Some(run) = canary_run {
        let outcome = canary::execute(run).await;
        for line in &outcome.summary {
            eprintln!("{line}");
        }
        findings.extend(outcome.findings);
        interrupted = outcome.interrupted;
    }
    let report = Report::new(&spec.name, snap.collected_at, findings);
    let code = publish(
        &report,
        &a.format,
        &a.output_dir,
        "audit",
        a.quiet,
        interrupted,
    )?;
    Ok(stopped_code.unwrap_or(code))
}

/// Write the report files, print the table, and turn the outcome into the exit code.
fn publish(
    report: &Report,
    formats: &[Format],
    dir: &Path,
    stem: &str,
    quiet: bool,
    interrupted: Option<canary::Interrupt>,
) -> Result<u8, Fatal> {
    let formats = if formats.is_empty() {
        vec![Format::Table, Format::Json, Format::Junit]
    } else {
        formats.to_vec()
    };
    let written = report::write_all(report, &formats, dir, stem)?;
    if !quiet {
        print!(
            "{}",
            report::table::render(report, std::io::stdout().is_terminal())
        );
    }
    for p in written
        .iter()
        .filter(|p| !p.to_string_lossy().contains("-latest."))
    {
        eprintln!("wrote {}", p.display());
    }
    if let Some(i) = interrupted {
        return Ok(i.exit_code());
    }
    Ok(if report.summary.is_clean() {
        0
    } else {
        EXIT_FINDINGS
    })
}

async fn canary_cmd(a: CanaryArgs) -> Result<u8, Fatal> {
    if let Some(CanaryAction::Cleanup(c)) = a.action {
        let spec = load_spec(&c.spec)?;
        let r = canary::cleanup_run(&spec, &c.aws.options(), &c.run_id)
            .await
            .map_err(|e| Fatal(e.to_string()))?;
        for d in &r.deleted {
            println!("deleted {d}");
        }
        for k in &r.kept {
            println!("kept    {k} (not tagged replaudit-canary={})", r.run_id);
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
    let mut settings = a.canary_opts.settings(&spec_path);
    settings.deadline = a.aws.deadline_at();
    let run = canary::prepare(&spec, &a.aws.options(), settings)
        .await
        .map_err(|e| Fatal(e.to_string()))?;
    let started = chrono::Utc::now();
    let outcome = canary::execute(run).await;
    for line in &outcome.summary {
        eprintln!("{line}");
    }
    let report = Report::new(&spec.name, started, outcome.findings);
    publish(
        &report,
        &a.format,
        &a.output_dir,
        "canary",
        a.quiet,
        outcome.interrupted,
    )
}

async fn snapshot_cmd(a: SnapshotArgs) -> Result<u8, Fatal> {
    let spec = load_spec(&a.spec)?;
    let (snap, stopped) = collect::collect_until(
        &spec,
        &a.evidence.collect_options(&a.aws, None),
        stop_signal(a.aws.deadline_at()),
    )
    .await;
    let text = serde_json::to_string_pretty(&snap)?;
    std::fs::write(&a.output, text + "\n")
        .map_err(|e| Fatal(format!("cannot write {}: {e}", a.output.display())))?;
    eprintln!("wrote {}", a.output.display());
    Ok(match &stopped {
        Some(st) => {
            eprintln!("replaudit: collection stopped early: {}", st.reason);
            stopped_exit_code(st).unwrap_or(EXIT_FINDINGS)
        }
        None => 0,
    })
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
    use std::io::Write;
    std::io::stdout().lock().write_all(out.as_bytes())?;
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
    let snap = match &a.snapshot {
        Some(p) => load_snapshot(p)?,
        None => collect::collect(&spec, &a.evidence.collect_options(&a.aws, None)).await,
    };
    let cells = access::matrix::matrix(&spec, &snap);
    match a.output.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&cells)?),
        "table" => println!("{}", access::matrix::render_table(&cells)),
        other => return Err(Fatal(format!("unknown --output '{other}' (table or json)"))),
    }
    Ok(0)
}

/// Exit 0 with the table, or 1 when something that could grant access was not evaluated.
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
    let snap = match &a.snapshot {
        Some(p) => load_snapshot(p)?,
        None => collect::collect(&spec, &a.evidence.collect_options(&a.aws, None)).await,
    };
    let w = whocan::analyze(&spec, &snap, &opts);
    match a.output.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&w)?),
        _ => print!("{}", whocan::render_table(&w, opts.action.as_deref())),
    }
    Ok(if w.errors.is_empty() {
        0
    } else {
        EXIT_FINDINGS
    })
}

fn rules_cmd(a: RulesArgs) -> Result<u8, Fatal> {
    match a.explain {
        Some(id) => {
            let m = rules::find_rule(&id).ok_or_else(|| Fatal(format!("no rule '{id}'")))?;
            println!(
                "{} — {}\nseverity: {}\nscenarios: {}\n",
                m.id,
                m.title,
                m.severity,
                m.scenarios
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "{}",
                m.doc
                    .lines()
                    .map(|l| l.strip_prefix(' ').unwrap_or(l))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            println!("Remediation: {}\n\nReferences:", m.remediation);
            for r in m.references {
                println!("- {r}");
            }
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
            println!("{t}");
        }
    }
    Ok(0)
}
