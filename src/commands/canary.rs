//! `replaudit canary` (and `canary cleanup`): write real objects, prove replication, encryption
//! and access, clean up. `audit --canary` takes its settings from here too.

use crate::canary;
use crate::cli::{CanaryAction, CanaryArgs, CanaryOpts};
use crate::run::{
    canary_run_status, emit, load_spec, setup_check, AwsSettings, Fatal, Outcome, ReportSettings,
    EXIT_FINDINGS,
};
use crate::spec::LoadedSpec;
use std::io::IsTerminal;
use std::path::Path;

/// The canary's tuning flags, shared by `audit --canary` and `canary`; the deadline is set
/// when the run starts.
pub fn canary_settings(o: &CanaryOpts, spec_path: &Path) -> canary::Settings {
    canary::Settings {
        timeout: o.canary_timeout,
        observe: o.canary_observe,
        run_id: o.canary_run_id.clone(),
        progress: std::io::stderr().is_terminal(),
        spec_path: spec_path.display().to_string(),
        deadline: None,
    }
}

pub struct CanarySettings {
    pub spec: LoadedSpec,
    pub aws: AwsSettings,
    pub task: Task,
}

pub enum Task {
    /// `canary cleanup --run-id ID`: what a crashed run left.
    Cleanup { run_id: String },
    /// A canary run, its report published as `canary-*`.
    Run(Box<(ReportSettings, canary::Settings)>),
}

impl CanarySettings {
    pub fn resolve(a: &CanaryArgs, verbose: u8) -> Result<Self, Fatal> {
        if let Some(CanaryAction::Cleanup(c)) = &a.action {
            return Ok(CanarySettings {
                spec: load_spec(&c.spec)?,
                aws: (&c.aws).into(),
                task: Task::Cleanup {
                    run_id: c.run_id.clone(),
                },
            });
        }
        let spec_path = a.spec.clone().unwrap_or_default();
        let spec = load_spec(&spec_path)?;
        let report = ReportSettings::resolve(&a.report, verbose)?;
        Ok(CanarySettings {
            spec,
            aws: (&a.aws).into(),
            task: Task::Run(Box::new((
                report,
                canary_settings(&a.canary_opts, &spec_path),
            ))),
        })
    }
}

pub async fn run(s: CanarySettings) -> Outcome {
    let CanarySettings { spec, aws, task } = s;
    let (report, mut settings) = match task {
        Task::Cleanup { run_id } => return cleanup(&spec, &run_id, &aws).await,
        Task::Run(run) => *run,
    };
    if let Err(code) = setup_check(&spec, &aws, true).await {
        return Ok(code);
    }
    let deadline = aws.deadline_at();
    settings.deadline = deadline;
    let run = canary::prepare(&spec, &aws.options, settings)
        .await
        .map_err(|e| Fatal(e.to_string()))?;
    let started = chrono::Utc::now();
    let outcome = canary::execute(run).await;
    for line in &outcome.summary {
        eprintln!("{line}");
    }
    let r = report.report(
        &spec,
        started,
        outcome.findings,
        canary_run_status(outcome.interrupted, deadline),
    );
    report.publish(&r, "canary")
}

/// Exit 0 when everything the run left is gone, 1 when something is left or failed.
async fn cleanup(spec: &LoadedSpec, run_id: &str, aws: &AwsSettings) -> Outcome {
    // The deadline counts from the start, the set-up check included.
    let deadline = aws.deadline_at();
    if let Err(code) = setup_check(spec, aws, true).await {
        return Ok(code);
    }
    let r = canary::cleanup_run(spec, &aws.options, run_id, deadline)
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
    Ok(if r.succeeded() { 0 } else { EXIT_FINDINGS })
}
