//! `replaudit audit`: collect the live state (or load a snapshot), evaluate every rule, and
//! optionally run the canary and a live reconcile into the same report.

use super::canary::canary_settings;
use crate::canary;
use crate::cli::AuditArgs;
use crate::collect;
use crate::reconcile::{self, live};
use crate::rules::{self, AuditContext};
use crate::run::{
    canary_run_status, check_output_dir, check_snapshot_spec, load_snapshot, load_spec,
    setup_check, stopped_run, unusable_run, AwsSettings, EvidenceSettings, Fatal, Outcome,
    ReportSettings,
};
use crate::spec::LoadedSpec;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct AuditSettings {
    pub spec: LoadedSpec,
    pub report: ReportSettings,
    /// Audit this snapshot instead of reading AWS.
    pub snapshot: Option<PathBuf>,
    /// `--canary`: its settings (the deadline is set when the run starts).
    pub canary: Option<canary::Settings>,
    /// `--reconcile`: reconcile's defaults (audit has no flags for them) with this run's AWS
    /// options.
    pub reconcile: Option<live::LiveOptions>,
    pub evidence: EvidenceSettings,
    pub aws: AwsSettings,
}

impl AuditSettings {
    pub fn resolve(a: &AuditArgs, verbose: u8) -> Result<Self, Fatal> {
        let spec = load_spec(&a.spec)?;
        let report = ReportSettings::resolve(&a.report, verbose)?;
        let aws = AwsSettings::from(&a.aws);
        Ok(AuditSettings {
            spec,
            report,
            snapshot: a.snapshot.clone(),
            canary: a.canary.then(|| canary_settings(&a.canary_opts, &a.spec)),
            reconcile: a.reconcile.then(|| live::LiveOptions {
                aws: aws.options.clone(),
                ..Default::default()
            }),
            evidence: (&a.evidence).into(),
            aws,
        })
    }
}

pub async fn run(s: AuditSettings) -> Outcome {
    let spec = &s.spec;
    let deadline = s.aws.deadline_at();
    let unusable = match &s.snapshot {
        Some(_) => BTreeMap::new(),
        None => match setup_check(spec, &s.aws, s.canary.is_some()).await {
            Ok(u) => u,
            Err(code) => return Ok(code),
        },
    };
    let mut run = unusable_run(&unusable);
    // The canary's checks (identities, bucket owners and regions) come first: a refusal must
    // happen before anything else, and nothing is written until the audit is collected.
    let canary_run = match s.canary {
        Some(mut settings) => {
            settings.deadline = deadline;
            Some(
                canary::prepare(spec, &s.aws.options, settings)
                    .await
                    .map_err(|e| Fatal(e.to_string()))?,
            )
        }
        None => None,
    };
    let snap = match &s.snapshot {
        Some(p) => load_snapshot(p)?,
        None => {
            let mut copts = s
                .evidence
                .collect_options(&s.aws, Some(&s.report.output_dir));
            copts.unusable = Some(unusable);
            let (snap, stopped) =
                collect::collect_until(spec, &copts, crate::stop::first(deadline)).await;
            if let Some(st) = stopped {
                run = run.worst(stopped_run(st, "collection"));
            }
            snap
        }
    };
    check_snapshot_spec(&snap, spec)?;
    let cx = AuditContext::new(spec, &snap);
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
    if let Some(opts) = s.reconcile.as_ref().filter(|_| run.is_completed()) {
        check_output_dir(&s.report.output_dir)?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        tokio::select! {
            outcomes = live::reconcile(spec, opts) => {
                let (files, cmds) = reconcile::write_files(&outcomes, &s.report.output_dir, &stamp)?;
                for o in &outcomes {
                    findings.extend(reconcile::findings(o, &files));
                }
                for c in &cmds {
                    eprintln!("{c}");
                }
            }
            stopped = crate::stop::first(s.aws.deadline_at()) => {
                for (id, src, dst, rule) in live::scopes(spec, opts) {
                    let o = live::RuleOutcome::new(spec, id, &src, &dst, rule)
                        .unfinished(&stopped.unread_reason());
                    findings.extend(reconcile::findings(&o, &Default::default()));
                }
                run = run.worst(stopped_run(stopped, "reconcile"));
            }
        }
    }
    let report = s.report.report(spec, snap.collected_at, findings, run);
    s.report.publish(&report, "audit")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    /// `audit --reconcile` has no flags of its own for reconcile: it takes its defaults, with
    /// this run's AWS options.
    #[test]
    fn audit_reconcile_takes_reconcile_defaults_and_the_aws_flags() {
        let dir = tempfile::tempdir().unwrap();
        let argv = [
            "replaudit",
            "audit",
            "--spec",
            "checks/seed.toml",
            "--output-dir",
            dir.path().to_str().unwrap(),
            "--reconcile",
            "--max-attempts",
            "9",
        ];
        let Command::Audit(a) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("not audit");
        };
        let s = AuditSettings::resolve(&a, 0).unwrap_or_else(|e| panic!("{}", e.0));
        let r = s.reconcile.expect("--reconcile");
        let d = live::LiveOptions::default();
        assert_eq!(
            (
                r.in_flight_rtc,
                r.in_flight_other,
                r.max_heads,
                r.engine_memory
            ),
            (
                d.in_flight_rtc,
                d.in_flight_other,
                d.max_heads,
                d.engine_memory
            )
        );
        assert_eq!(r.aws.max_attempts, 9);
        assert!(s.canary.is_none());
    }
}
