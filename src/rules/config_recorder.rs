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
