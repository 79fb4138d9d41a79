//! `replaudit who-can`: every principal that can read, write or control the spec's buckets (or
//! decrypt with their keys), and how.

use crate::access::whocan;
use crate::cli::WhoCanArgs;
use crate::run::{emit, load_spec, state, AwsSettings, EvidenceSettings, Fatal, Outcome};
use crate::spec::LoadedSpec;
use std::path::PathBuf;

pub struct WhoCanSettings {
    pub spec: LoadedSpec,
    /// `--bucket` and `--action`, checked against the spec.
    pub options: whocan::Options,
    /// `--output json` (else the table).
    pub json: bool,
    pub snapshot: Option<PathBuf>,
    pub evidence: EvidenceSettings,
    pub aws: AwsSettings,
}

impl WhoCanSettings {
    pub fn resolve(a: &WhoCanArgs) -> Result<Self, Fatal> {
        let spec = load_spec(&a.spec)?;
        let options = whocan::Options {
            bucket: a.bucket.clone(),
            action: a.action.clone(),
        };
        options.check(&spec).map_err(|e| Fatal(e.to_string()))?;
        if a.output != "table" && a.output != "json" {
            return Err(Fatal(format!(
                "unknown --output '{}' (table or json)",
                a.output
            )));
        }
        Ok(WhoCanSettings {
            spec,
            options,
            json: a.output == "json",
            snapshot: a.snapshot.clone(),
            evidence: (&a.evidence).into(),
            aws: (&a.aws).into(),
        })
    }
}

/// Exit 0 with the table; 1 when something that could grant access was not evaluated, an
/// account failed the set-up check or `--deadline` stopped the collection; 130/143 on a signal
/// (the same contract as `audit`).
pub async fn run(s: WhoCanSettings) -> Outcome {
    let (snap, run) = match state(&s.spec, s.snapshot.as_deref(), &s.aws, &s.evidence).await {
        Ok(st) => st,
        Err(exit) => return exit,
    };
    let w = whocan::analyze(&s.spec, &snap, &s.options);
    match s.json {
        true => emit(&format!("{}\n", serde_json::to_string_pretty(&w)?))?,
        false => emit(&whocan::render_table(&w, s.options.action.as_deref()))?,
    }
    if let Some(why) = &run.reason {
        eprintln!("replaudit: {why}");
    }
    Ok(run.exit_code(w.errors.is_empty()))
}
