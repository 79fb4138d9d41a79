//! `replaudit snapshot`: the live state of a spec's accounts, saved as JSON for offline audits.

use crate::cli::SnapshotArgs;
use crate::run::{
    check_output_file, collect_live, load_spec, AwsSettings, EvidenceSettings, Fatal, Outcome,
};
use crate::spec::LoadedSpec;
use std::path::PathBuf;

pub struct SnapshotSettings {
    pub spec: LoadedSpec,
    /// Proved writable (not created) before any AWS call.
    pub output: PathBuf,
    pub evidence: EvidenceSettings,
    pub aws: AwsSettings,
}

impl SnapshotSettings {
    pub fn resolve(a: &SnapshotArgs) -> Result<Self, Fatal> {
        let spec = load_spec(&a.spec)?;
        check_output_file(&a.output)?;
        Ok(SnapshotSettings {
            spec,
            output: a.output.clone(),
            evidence: (&a.evidence).into(),
            aws: (&a.aws).into(),
        })
    }
}

/// Exit 0 with a complete snapshot; a partial one (unusable account, stop) is still written,
/// and the exit code says it is partial.
pub async fn run(s: SnapshotSettings) -> Outcome {
    let (snap, run) = match collect_live(&s.spec, &s.aws, &s.evidence).await {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let text = serde_json::to_string_pretty(&snap)?;
    std::fs::write(&s.output, text + "\n")
        .map_err(|e| Fatal(format!("cannot write {}: {e}", s.output.display())))?;
    eprintln!("wrote {}", s.output.display());
    if let Some(why) = &run.reason {
        eprintln!("replaudit: the snapshot is incomplete: {why}");
    }
    Ok(run.exit_code(true))
}
