//! `replaudit fix`: the smallest proven change for every failing finding a configuration
//! change can cure, written as a plan folder. Nothing is applied.

use crate::cli::{FixArgs, TableOrJson};
use crate::fix;
use crate::run::{
    check_output_dir, emit, load_spec, state, AwsSettings, EvidenceSettings, Fatal, Outcome,
};
use crate::spec::LoadedSpec;
use std::path::PathBuf;

pub struct FixSettings {
    pub spec: LoadedSpec,
    pub snapshot: Option<PathBuf>,
    pub output_dir: PathBuf,
    pub json: bool,
    pub evidence: EvidenceSettings,
    pub aws: AwsSettings,
}

impl FixSettings {
    /// The plan folder is proven writable before any AWS call.
    pub fn resolve(a: &FixArgs) -> Result<Self, Fatal> {
        let spec = load_spec(&a.spec)?;
        check_output_dir(&a.output_dir)?;
        Ok(FixSettings {
            spec,
            snapshot: a.snapshot.clone(),
            output_dir: a.output_dir.clone(),
            json: a.format == TableOrJson::Json,
            evidence: (&a.evidence).into(),
            aws: (&a.aws).into(),
        })
    }
}

/// Exit 0 when nothing fails or verified changes cure every failure; 1 when something stays
/// failing (a decision, a change that could not be verified) or the state was not fully read.
pub async fn run(s: FixSettings) -> Outcome {
    let (snap, run) = match state(&s.spec, s.snapshot.as_deref(), &s.aws, &s.evidence).await {
        Ok(st) => st,
        Err(exit) => return exit,
    };
    let plan = fix::plan(&s.spec, &snap);
    fix::write(&plan, &s.spec, &snap, &s.output_dir)?;
    match s.json {
        true => emit(&format!("{}\n", serde_json::to_string_pretty(&plan)?))?,
        false => emit(&plan.render_table(&s.spec))?,
    }
    eprintln!("fix plan written to {}", s.output_dir.display());
    if let Some(why) = &run.reason {
        eprintln!("replaudit: {why}");
    }
    Ok(run.exit_code(plan.exit_code() == 0))
}
