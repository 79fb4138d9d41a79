//! The command line as clap sees it: every subcommand's flags, help texts, defaults and value
//! parsers, and nothing they do.
//!
//! A library module (not part of the binary) so that `main.rs` stays a dispatcher, the
//! completions and man page are generated from the same definitions (`Cli::command()`), and tests
//! can parse a command line without spawning the binary. What each flag means to a run is
//! resolved in `commands/` (each command's settings), never here.

use crate::report::{self, Format};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// `replaudit --version`: the package version and the commit it was built from (build.rs).
pub const VERSION: &str = concat!(
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
pub struct Cli {
    /// More logging on stderr (-v debug, -vv trace). Never prints credentials.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// What a proposed change would do before it is deployed: apply a change set (the AWS API
    /// requests, as `--cli-input-json` takes them) to a copy of the state and list every finding
    /// and access decision that changes. Exit 1 when the change breaks the spec.
    WhatIf(WhatIfArgs),
    /// For every failing finding a configuration change can cure, the smallest change, proven
    /// on a copy of the state before it is applied; written to a plan folder as AWS CLI requests.
    Fix(FixArgs),
}

#[derive(Args)]
pub struct DiscoverArgs {
    /// A spec, or a file with only `[accounts.<alias>]` tables: the accounts to discover.
    #[arg(
        long,
        required_unless_present = "organization_profile",
        conflicts_with = "organization_profile"
    )]
    pub accounts: Option<PathBuf>,
    /// Discover every ACTIVE account of an AWS Organization instead: a profile of its management
    /// account or of a delegated administrator (organizations:ListAccounts).
    #[arg(long, value_name = "PROFILE", requires = "member_role")]
    pub organization_profile: Option<String>,
    /// With --organization-profile: the role assumed (from that profile) in every member account;
    /// the account that profile signs in to (normally the management account, which has no such
    /// role) is read with the profile itself.
    #[arg(long, value_name = "NAME", requires = "organization_profile")]
    pub member_role: Option<String>,
    /// With --organization-profile: the home Region written for every member account (each
    /// bucket's own Region is found anyway); also decides the partition of the role ARNs.
    #[arg(long, requires = "organization_profile")]
    pub region: Option<String>,
    /// Where to write the discovered spec (`-` for stdout).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The `name` of the discovered spec (default: the input's name, else "discovered").
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Args, Clone)]
pub struct AwsArgs {
    /// Send every AWS call to this endpoint (emulators). Also read from AWS_ENDPOINT_URL.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Attempts per AWS call, first included (standard retry mode, exponential backoff with jitter).
    #[arg(long, default_value_t = 5)]
    pub max_attempts: u32,
    /// How long one AWS call may take, retries included (`60s`, `2m`; a bare number is seconds).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Upper bound for the whole run (`15m`, `900s`, `1h`): collection stops (what was not read
    /// becomes `error` findings), the canary stops and cleans up, and the reports are still written.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,
    /// AWS calls in flight per account and service (halved while AWS throttles, grown back after).
    #[arg(long, value_name = "N", default_value_t = crate::aws::DEFAULT_MAX_CONCURRENCY,
          value_parser = parse_concurrency)]
    pub max_concurrency: usize,
}

/// What the collector reads beyond configuration (audit, snapshot, simulate).
#[derive(Args, Clone)]
pub struct EvidenceArgs {
    /// Window of CloudWatch replication metrics to examine, e.g. 24h, 90m, 7d.
    #[arg(long, default_value = "24h", value_parser = parse_window)]
    pub metrics_window: Duration,
    /// Report CloudTrail configuration changes since this time: RFC 3339
    /// (`2026-11-30T05:00:00Z`) or a duration ago (`24h`, `7d`). Default: the previous report's
    /// time in the output folder, else 24 hours ago.
    #[arg(long, value_parser = parse_since)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// One duration syntax for every duration flag: humantime (`900s`, `15m`, `1h 30m`, `7d`); a
/// bare number is seconds (fractions allowed), as these flags took before.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
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
pub fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
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
pub fn parse_concurrency(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("'{s}': expected a number of calls from 1 to 1024")),
    }
}

/// The metrics window: a duration of at least one minute.
pub fn parse_window(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(60) {
        return Err("the metrics window must be at least one minute".into());
    }
    Ok(d)
}

/// What a run reports and how its exit code is decided (audit and canary).
#[derive(Args, Clone)]
pub struct ReportArgs {
    /// Report formats to write: repeat the flag or separate with commas (`--format json,junit`).
    /// Default: table, json and junit.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub format: Vec<Format>,
    /// Where reports go (`<stem>-<timestamp>.*` plus `<stem>-latest.*`).
    #[arg(long, default_value = "reports")]
    pub output_dir: PathBuf,
    /// Write the one `--format` to this file instead of the output folder; `-` is stdout (the
    /// table is then not printed).
    #[arg(short = 'o', long = "output", value_name = "FILE|-")]
    pub output: Option<PathBuf>,
    /// Do not print the table on stdout.
    #[arg(long)]
    pub quiet: bool,
    /// JUnit flavour: `strict` validates against the Jenkins xUnit and Ant schemas; `annotated`
    /// adds `file`/`line` (the spec line of each expectation) for GitHub annotators.
    #[arg(long, value_enum, default_value = "strict")]
    pub junit_family: report::junit::Family,
    /// Only these rules' findings (ids or globs, comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    pub rules: Vec<String>,
    /// Leave out these rules' findings (ids or globs).
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    pub skip_rules: Vec<String>,
    /// Count only fail/error findings of this severity or above in the exit code (the reports
    /// still show every finding; a run that did not complete is never 0).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<crate::findings::Severity>,
    /// Mute file (TOML): accepted exceptions with a reason and an expiry date; see
    /// `docs/ci/README.md`.
    #[arg(long, value_name = "FILE")]
    pub mute: Option<PathBuf>,
    /// Colours in the table: `auto` (a terminal, unless NO_COLOR is set or TERM=dumb),
    /// `always`, `never`.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Also list these statuses in the table (`--show pass`); failures, errors and skips are
    /// always listed. `-v` shows passes too.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub show: Vec<ShowStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowStatus {
    Pass,
}

impl ColorChoice {
    /// NO_COLOR (https://no-color.org: "when present and not an empty string") and TERM=dumb
    /// turn `auto` off; `always` wins over both.
    pub fn enabled(self, is_terminal: bool) -> bool {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color && !dumb,
        }
    }
}

#[derive(Args)]
pub struct AuditArgs {
    /// The posture spec (TOML).
    #[arg(long)]
    pub spec: PathBuf,
    /// Audit this saved snapshot instead of reading AWS (no network).
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Also run the canary (see `replaudit canary --help`) and add its findings to the report.
    #[arg(long, conflicts_with = "snapshot")]
    pub canary: bool,
    #[command(flatten)]
    pub canary_opts: CanaryOpts,
    /// Also reconcile every replication rule from a live listing (see `replaudit reconcile
    /// --help`; default in-flight windows, at most 10,000 HeadObject per rule) and add its
    /// findings to the report; its version list and Batch manifest go to --output-dir.
    #[arg(long, conflicts_with = "snapshot")]
    pub reconcile: bool,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Canary tuning, shared by `audit --canary` and `canary`.
#[derive(Args, Clone)]
pub struct CanaryOpts {
    /// How long to wait for each replica (and replicated delete marker); default: the 15-minute RTC window.
    #[arg(long, value_name = "DURATION", default_value = "900s", value_parser = parse_duration)]
    pub canary_timeout: Duration,
    /// How long to watch for what must not replicate (scenario B, delete markers when off), and
    /// for replications still in flight at cleanup.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub canary_observe: Duration,
    /// Use this run id instead of a fresh one (tests).
    #[arg(long, hide = true)]
    pub canary_run_id: Option<String>,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CanaryArgs {
    #[command(subcommand)]
    pub action: Option<CanaryAction>,
    /// The posture spec (TOML).
    #[arg(long, required = true)]
    pub spec: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub canary_opts: CanaryOpts,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Subcommand)]
pub enum CanaryAction {
    /// Delete what a crashed canary run left: versions tagged with its run id under its prefixes.
    Cleanup(CanaryCleanupArgs),
}

#[derive(Args)]
pub struct CanaryCleanupArgs {
    #[arg(long)]
    pub spec: PathBuf,
    /// The run id (printed by the run, and in its report's canary findings).
    #[arg(long)]
    pub run_id: String,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Args)]
pub struct SnapshotArgs {
    #[arg(long)]
    pub spec: PathBuf,
    /// Output file.
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// A JSON array of policy cases (format: docs/policy-cases.md); one JSON line per case on stdout.
    /// Runs locally in well under a second per 100,000 cases: `--deadline` is not accepted.
    #[arg(long, conflicts_with_all = ["spec", "deadline"])]
    pub cases: Option<PathBuf>,
    /// Print the principal × action matrix of this spec's principals over the live state or `--snapshot`.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    #[arg(long, requires = "spec")]
    pub snapshot: Option<PathBuf>,
    /// Matrix output.
    #[arg(long, value_enum, default_value = "table")]
    pub output: TableOrJson,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Args)]
pub struct WhoCanArgs {
    /// The posture spec (TOML).
    #[arg(long)]
    pub spec: PathBuf,
    /// Use this saved snapshot instead of reading AWS (no network).
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Only this bucket (alias from the spec).
    #[arg(long)]
    pub bucket: Option<String>,
    /// Only this action, e.g. s3:GetObject or kms:Decrypt.
    #[arg(long)]
    pub action: Option<String>,
    /// table or json.
    #[arg(long, default_value = "table")]
    pub output: String,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Args)]
pub struct WhatIfArgs {
    /// The posture spec (TOML).
    #[arg(long)]
    pub spec: PathBuf,
    /// The change set (JSON): one change, a list, or {"changes": [...]}; see docs/what-if.md.
    #[arg(long)]
    pub change: PathBuf,
    /// Use this saved snapshot instead of reading AWS (no network).
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// table, json, junit or sarif (the changed findings, for CI).
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::report::Format,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Args)]
pub struct FixArgs {
    /// The posture spec (TOML).
    #[arg(long)]
    pub spec: PathBuf,
    /// Use this saved snapshot instead of reading AWS (no network).
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Folder for the plan: plan.json, changes.json, one request file per change, commands.sh.
    #[arg(short = 'o', long = "output-dir", required_unless_present_any = ["apply", "rollback"])]
    pub output_dir: Option<PathBuf>,
    /// Apply the plan in this folder (written by `fix -o`): each change is written only if its
    /// document is still the one the plan was made from, read back, and recorded in
    /// DIR/applied.json; then the accounts are audited again.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["output_dir", "snapshot", "rollback"])]
    pub apply: Option<PathBuf>,
    /// Undo what `--apply DIR` wrote (DIR/rollback.json, limited to DIR/applied.json), each
    /// document only if it is still the one apply wrote; then audit again.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["output_dir", "snapshot"])]
    pub rollback: Option<PathBuf>,
    /// Print the plan as JSON instead of the table.
    #[arg(long, value_enum, default_value = "table")]
    pub format: TableOrJson,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Args)]
pub struct RulesArgs {
    /// Print one rule's full documentation.
    #[arg(long)]
    pub explain: Option<String>,
    /// List format: a table, or JSON (id, title, severity, scenarios, remediation, references).
    #[arg(long, value_enum, default_value = "table")]
    pub format: TableOrJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableOrJson {
    Table,
    Json,
}

#[derive(Args)]
pub struct ReconcileArgs {
    /// The posture spec (TOML).
    #[arg(long)]
    pub spec: PathBuf,
    /// Reports (`--output-dir` also receives the full version list and the Batch Replication
    /// manifest).
    #[command(flatten)]
    pub report: ReportArgs,
    /// Versions younger than this are in flight, never blamed. Default: 30m for rules with
    /// Replication Time Control (its 15-minute window plus 15 minutes), 24h for rules without
    /// (AWS gives them no time bound).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub in_flight: Option<Duration>,
    /// At most this many HeadObject calls per rule (replication status of versions missing at
    /// the destination, encryption of replicas); versions beyond are reported `unverified`.
    #[arg(long, default_value_t = crate::reconcile::live::LiveOptions::default().max_heads)]
    pub max_heads: usize,
    /// MiB the inventory engine's joins and sorts may hold before they spill to the temporary
    /// directory (S3 Inventory path only). The process needs roughly twice this at its peak
    /// (decoding buffers outside the pool): measured 10 M versions a side in benches/README.md.
    #[arg(long, value_name = "MIB", default_value_t = crate::reconcile::live::LiveOptions::default().engine_memory >> 20,
          value_parser = clap::value_parser!(usize))]
    pub engine_memory: usize,
    /// Where the inventory engine's joins spill when they outgrow --engine-memory (S3 Inventory
    /// path only). Default: the OS temporary directory (TMPDIR). They may write about 188 bytes a
    /// version at their peak (0.35 GiB for 1 M versions a side, 3.5 GiB for 10 M); a directory
    /// that cannot hold that is refused before the comparison starts.
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Reconcile from S3 Inventory instead of a live listing: the source bucket's inventory, as a
    /// local directory holding its manifest.json (or the dated folders of one configuration: the
    /// newest is read), `s3://BUCKET/PREFIX/` of the same (read with the source account), or
    /// `configured`: the one the bucket's own S3 Inventory configurations deliver (all versions,
    /// the needed fields, CSV or Parquet; daily first). Needs --dest-inventory.
    #[arg(long, value_name = "DIR|S3URL|configured", requires = "dest_inventory")]
    pub source_inventory: Option<String>,
    /// The destination bucket's inventory (as --source-inventory; read with the destination
    /// account).
    #[arg(
        long,
        value_name = "DIR|S3URL|configured",
        requires = "source_inventory"
    )]
    pub dest_inventory: Option<String>,
    /// Run the comparison on Amazon Athena, over the inventories where S3 delivered them
    /// (--source-inventory and --dest-inventory as s3:// addresses), instead of on this machine:
    /// for buckets whose inventories are too large for one. Creates (if missing) the documented
    /// inventory tables and a view of each in --athena-database; reads no object.
    #[arg(long, requires = "source_inventory")]
    pub athena: bool,
    /// The Athena workgroup the queries run in.
    #[arg(long, default_value = "primary", value_name = "NAME")]
    pub athena_workgroup: String,
    /// Where Athena writes its result files (`s3://BUCKET/PREFIX/`). Default: the workgroup's.
    #[arg(long, value_name = "S3URL")]
    pub athena_output: Option<String>,
    /// The Glue database that holds replaudit's inventory tables and views.
    #[arg(long, default_value = crate::reconcile::athena::DEFAULT_DATABASE, value_name = "NAME")]
    pub athena_database: String,
    /// Give up on one Athena query after this long (it is then stopped).
    #[arg(long, default_value = "30m", value_name = "DURATION", value_parser = parse_duration)]
    pub athena_timeout: Duration,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap's own consistency check of every flag (conflicts, requires, defaults that parse).
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
