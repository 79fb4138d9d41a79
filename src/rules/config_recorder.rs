use super::support::{error, skip, unknown};
use super::{AuditContext, Rule, RuleMeta};
use crate::findings::{Finding, Scenario, Status};
use crate::snapshot::Fetched;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// In every account the spec lists under `evidence.config_recording_in`, an AWS Config
    /// configuration recorder is recording (status `recording`, last status not `Failure`) and
    /// records S3 buckets (all supported resource types, or `AWS::S3::Bucket`).
    ///
    /// ## Why it matters
    /// AWS Config keeps the history of every bucket's configuration: when replication was
    /// turned off, when a policy changed. A stopped recorder silently ends that history.
    ///
    /// ## Example
    /// Recorder `default` exists but is stopped: fail.
    ///
    /// ## Fix
    /// `aws configservice start-configuration-recorder --configuration-recorder-name default`
    pub struct ConfigRecorder;
    id: "config-recorder",
    title: "AWS Config is recording S3 buckets",
    severity: Medium,
    scenarios: [Step1, Step2],
    remediation: "Create a configuration recorder that records AWS::S3::Bucket (or all resources) with a delivery channel, and start it.",
    references: ["https://docs.aws.amazon.com/config/latest/developerguide/stop-start-recorder.html"],
}

impl Rule for ConfigRecorder {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let Some(ev) = &cx.spec.evidence else {
            return vec![skip(
                &META,
                Scenario::Step1,
                "-",
                "the spec has no [evidence] expectations",
            )];
        };
        let mut out = Vec::new();
        for alias in &ev.config_recording_in {
            let alias = alias.get_ref();
            let scenario = cx.account_scenario(alias);
            let id = cx
                .spec
                .accounts
                .get(alias)
                .map(|a| a.account_id.get_ref().as_str())
                .unwrap_or_default();
            let resource = format!("arn:aws:config:::account/{id}");
            let Some(st) = cx.snap.accounts.get(alias) else {
                out.push(error(
                    &META,
                    scenario,
                    &resource,
                    "account was not collected",
                ));
                continue;
            };
            let cfg = match &st.config {
                Fetched::Ok { value } => value,
                f => {
                    out.push(unknown(
                        &META,
                        scenario,
                        &resource,
                        "AWS Config recorders",
                        f,
                    ));
                    continue;
                }
            };
            let good: Vec<_> = cfg
                .recorders
                .iter()
                .filter(|r| {
                    r.recording
                        && r.last_status.as_deref() != Some("Failure")
                        && (r.all_supported
                            || r.resource_types.iter().any(|t| t == "AWS::S3::Bucket"))
                })
                .map(|r| r.name.clone())
                .collect();
            let evidence = json!({"recorders": cfg.recorders});
            out.push(if !good.is_empty() {
                META.finding(
                    scenario,
                    Status::Pass,
                    &resource,
                    format!(
                        "account {id}: recorder {} is recording S3 buckets",
                        good.join(", ")
                    ),
                    evidence,
                )
            } else if cfg.recorders.is_empty() {
                META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    format!("account {id} has no AWS Config recorder"),
                    evidence,
                )
            } else {
                let why: Vec<String> = cfg
                    .recorders
                    .iter()
                    .map(|r| {
                        if !r.recording {
                            format!("{} is stopped", r.name)
                        } else if r.last_status.as_deref() == Some("Failure") {
                            format!("{} last status is Failure", r.name)
                        } else {
                            format!("{} does not record AWS::S3::Bucket", r.name)
                        }
                    })
                    .collect();
                META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    format!("account {id}: {}", why.join("; ")),
                    evidence,
                )
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    fn config<'a>(f: &'a mut Fixture, alias: &str) -> &'a mut crate::snapshot::ConfigState {
        match &mut f.account(alias).config {
            Fetched::Ok { value } => value,
            _ => panic!("fixture has AWS Config state for {alias}"),
        }
    }

    #[test]
    fn passes_when_recording_all_resource_types() {
        let out = seed().run(&ConfigRecorder);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(
            &out,
            "account 111122223333: recorder default is recording S3 buckets",
        );
    }

    #[test]
    fn fails_when_stopped_failing_or_not_recording_buckets() {
        let mut f = seed();
        config(&mut f, "xyz").recorders[0].recording = false;
        only(
            &f.run(&ConfigRecorder),
            Status::Fail,
            "account 111122223333: default is stopped",
        );
        let mut f = seed();
        config(&mut f, "xyz").recorders[0].last_status = Some("Failure".into());
        only(
            &f.run(&ConfigRecorder),
            Status::Fail,
            "account 111122223333: default last status is Failure",
        );
        let mut f = seed();
        let r = &mut config(&mut f, "xyz").recorders[0];
        r.all_supported = false;
        r.resource_types = vec!["AWS::IAM::Role".into()];
        only(
            &f.run(&ConfigRecorder),
            Status::Fail,
            "account 111122223333: default does not record AWS::S3::Bucket",
        );
        config(&mut f, "xyz").recorders[0]
            .resource_types
            .push("AWS::S3::Bucket".into());
        assert_eq!(count(&f.run(&ConfigRecorder), Status::Pass), 2);
    }

    #[test]
    fn fails_without_recorder() {
        let mut f = seed();
        config(&mut f, "abcd").recorders.clear();
        let x = only(
            &f.run(&ConfigRecorder),
            Status::Fail,
            "account 271089868719 has no AWS Config recorder",
        );
        assert_eq!(x.resource, "arn:aws:config:::account/271089868719");
    }

    #[test]
    fn errors_when_unreadable_and_skips_without_evidence_section() {
        let mut f = seed();
        f.account("abcd").config = denied("config:DescribeConfigurationRecorders");
        f.snap.accounts.remove("xyz");
        let out = f.run(&ConfigRecorder);
        has(
            &out,
            Status::Error,
            "cannot check AWS Config recorders: config:DescribeConfigurationRecorders failed",
        );
        has(&out, Status::Error, "account was not collected");
        f.spec.evidence = None;
        only(
            &f.run(&ConfigRecorder),
            Status::Skip,
            "the spec has no [evidence] expectations",
        );
    }
}
