use super::support::{error, skip, unknown};
use super::{AuditContext, Rule, RuleMeta};
use crate::findings::{Finding, Scenario, Status};
use crate::snapshot::Fetched;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Versioning is `Enabled` on every bucket the spec expects versioned — in particular on
    /// both the source and the destination of every replication.
    ///
    /// ## Why it matters
    /// S3 replication requires versioning on the source and on every destination bucket; if
    /// the destination's versioning is suspended, replication of new objects fails. Versions
    /// are also what lets a deleted or overwritten incident report be recovered.
    ///
    /// ## Example
    /// `clint-s3-bucket` versioning `Suspended`: fail.
    ///
    /// ## Fix
    /// `aws s3api put-bucket-versioning --bucket B --versioning-configuration Status=Enabled`
    pub struct BucketVersioning;
    id: "bucket-versioning",
    title: "Versioning enabled (replication prerequisite)",
    severity: High,
    scenarios: [Step4, ScenarioD, Step1, Step2],
    remediation: "Enable versioning on the bucket (s3api put-bucket-versioning Status=Enabled).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-requirements.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html",
    ],
}

impl Rule for BucketVersioning {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for (alias, want) in &cx.spec.buckets {
            let replication = cx.spec.replication.iter().find(|r| {
                r.source.get_ref() == alias
                    || r.rules.iter().any(|x| x.destination.get_ref() == alias)
            });
            let scenario = match replication {
                Some(r) => cx.replication_scenario(r),
                None => cx.bucket_scenario(alias),
            };
            let resource = cx.bucket_arn(alias);
            if !want.versioning {
                let reason = if replication.is_some() {
                    "the spec does not expect versioning, but this bucket takes part in replication, which requires it"
                } else {
                    "the spec does not expect versioning on this bucket"
                };
                if replication.is_some() {
                    out.push(META.finding(
                        scenario,
                        Status::Fail,
                        &resource,
                        reason,
                        json!({"spec_versioning": false}),
                    ));
                } else {
                    out.push(skip(&META, scenario, &resource, reason));
                }
                continue;
            }
            let Some(b) = cx.bucket_state(alias) else {
                out.push(error(
                    &META,
                    scenario,
                    &resource,
                    "bucket was not collected",
                ));
                continue;
            };
            let why = if replication.is_some() && scenario != Scenario::Step1 {
                " (replication requires versioning on source and destination)"
            } else {
                ""
            };
            out.push(match &b.versioning {
                Fetched::Ok { value } if value == "Enabled" => META.finding(
                    scenario,
                    Status::Pass,
                    &resource,
                    format!("versioning is Enabled on {}", b.name),
                    json!({"versioning": value}),
                ),
                Fetched::Ok { value } => META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    format!("versioning is {value} on {}{why}", b.name),
                    json!({"versioning": value, "expected": "Enabled"}),
                ),
                f => unknown(&META, scenario, &resource, "versioning", f),
            });
        }
        out
    }
}
