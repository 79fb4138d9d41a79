//! `replaudit what-if`: what a proposed change would do, before it is deployed.

use crate::change::{self, Change, ChangeError};
use crate::cli::WhatIfArgs;
use crate::findings::Report;
use crate::report::Format;
use crate::run::{emit, load_spec, state, AwsSettings, EvidenceSettings, Fatal, Outcome};
use crate::spec::LoadedSpec;
use crate::whatif;
use std::path::PathBuf;

pub struct WhatIfSettings {
    pub spec: LoadedSpec,
    pub changes: Vec<Change>,
    pub snapshot: Option<PathBuf>,
    pub format: Format,
    pub evidence: EvidenceSettings,
    pub aws: AwsSettings,
}

impl WhatIfSettings {
    /// The spec and the change set are read before any AWS call: a malformed change set fails
    /// at once (exit 2), not after a collection.
    pub fn resolve(a: &WhatIfArgs) -> Result<Self, Fatal> {
        let spec = load_spec(&a.spec)?;
        let changes = change::load(&a.change).map_err(|e| Fatal(e.to_string()))?;
        Ok(WhatIfSettings {
            spec,
            changes,
            snapshot: a.snapshot.clone(),
            format: a.format,
            evidence: (&a.evidence).into(),
            aws: (&a.aws).into(),
        })
    }
}

/// Exit 0 when the change breaks nothing the spec expects, 1 when it does (a finding that
/// passed would not, or AWS would refuse the change), or when the state was not fully read;
/// 2 when the change set names what the spec does not have; 130/143 on a signal.
pub async fn run(s: WhatIfSettings) -> Outcome {
    let (snap, run) = match state(&s.spec, s.snapshot.as_deref(), &s.aws, &s.evidence).await {
        Ok(st) => st,
        Err(exit) => return exit,
    };
    let w = match whatif::evaluate(&s.spec, &snap, &s.changes) {
        Ok(w) => w,
        Err(e @ ChangeError::Refused { .. }) => {
            eprintln!("replaudit: {e}");
            return Ok(run.exit_code(false));
        }
        Err(e) => return Err(Fatal(e.to_string())),
    };
    match s.format {
        Format::Table => emit(&w.render_table())?,
        Format::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&w)?))?,
        other => {
            let report = Report::new(&s.spec.name, snap.collected_at, w.changed.clone())
                .with_run(run.clone());
            emit(&other.render(&report)?)?
        }
    }
    if let Some(why) = &run.reason {
        eprintln!("replaudit: {why}");
    }
    Ok(run.exit_code(!w.breaks))
}
