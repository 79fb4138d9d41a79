//! `replaudit simulate`: policy cases (`--cases`, local, synchronous) or the principal × action
//! matrix of a spec over the live state or a snapshot.

use crate::access;
use crate::cli::{SimulateArgs, TableOrJson};
use crate::findings::RunStatus;
use crate::policy;
use crate::run::{
    collect_live, emit, load_snapshot, load_spec, AwsSettings, EvidenceSettings, Fatal, Outcome,
    EXIT_FINDINGS,
};
use crate::spec::LoadedSpec;
use std::path::{Path, PathBuf};

/// `--cases FILE`: `-` is stdin, as for every file argument of the AWS CLI and jq.
pub struct CasesSettings {
    pub path: PathBuf,
}

impl CasesSettings {
    /// `None` without `--cases` (then the matrix runs).
    pub fn resolve(a: &SimulateArgs) -> Option<Self> {
        a.cases.clone().map(|path| CasesSettings { path })
    }
}

/// Runs locally, no runtime: one JSON line per case on stdout, the summary on stderr.
pub fn run_cases(s: &CasesSettings) -> Outcome {
    let path: &Path = &s.path;
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

pub struct MatrixSettings {
    pub spec: LoadedSpec,
    /// Evaluate this snapshot instead of the live state.
    pub snapshot: Option<PathBuf>,
    pub output: TableOrJson,
    pub evidence: EvidenceSettings,
    pub aws: AwsSettings,
}

impl MatrixSettings {
    pub fn resolve(a: &SimulateArgs) -> Result<Self, Fatal> {
        let Some(spec_path) = &a.spec else {
            return Err(Fatal("simulate needs --cases FILE or --spec FILE".into()));
        };
        Ok(MatrixSettings {
            spec: load_spec(spec_path)?,
            snapshot: a.snapshot.clone(),
            output: a.output,
            evidence: (&a.evidence).into(),
            aws: (&a.aws).into(),
        })
    }
}

pub async fn run_matrix(s: MatrixSettings) -> Outcome {
    let (snap, run) = match &s.snapshot {
        Some(p) => (load_snapshot(p)?, RunStatus::completed()),
        None => match collect_live(&s.spec, &s.aws, &s.evidence).await {
            Ok(r) => r,
            Err(code) => return Ok(code),
        },
    };
    let cells = access::matrix::matrix(&s.spec, &snap);
    match s.output {
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
