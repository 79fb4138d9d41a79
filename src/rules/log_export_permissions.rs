use super::support::{error, sample_key, skip};
use super::{AuditContext, Rule};
use crate::access::bucket_policy;
use crate::findings::{Finding, Scenario, Status};
use crate::policy::{self, Context, Decision, PolicySet, Request};
use serde_json::json;

/// An account id that is no real account's: the confused-deputy probe.
const OTHER_ACCOUNT: &str = "000000000000";

declare_rule! {
    /// ## What it checks
    /// Scenario D: the log bucket's policy lets the CloudWatch Logs service principal of the
    /// logs region (`logs.<region>.amazonaws.com`) run an export into it — `s3:GetBucketAcl` on
    /// the bucket and `s3:PutObject` under the export prefix — decided by the policy engine with
    /// the `aws:SourceAccount` / `aws:SourceArn` CloudWatch Logs sends. It also asks the same
    /// question for a log group of *another* account: if that is allowed too, the policy lacks
    /// `aws:SourceAccount` / `aws:SourceArn` conditions (a confused-deputy risk) and fails.
    ///
    /// ## Why it matters
    /// Without the grant, exports fail and the backup bucket receives nothing. Without the
    /// conditions, any AWS account can make CloudWatch Logs write its data into XYZ's bucket.
    ///
    /// ## Example
    /// Statement allows `logs.ap-southeast-1.amazonaws.com` `s3:PutObject` with no condition: fail.
    ///
    /// ## Fix
    /// Grant the service principal, with `"Condition": {"StringEquals": {"aws:SourceAccount":
    /// "ACCOUNT"}, "ArnLike": {"aws:SourceArn": "arn:aws:logs:REGION:ACCOUNT:log-group:*"}}`.
    pub struct LogExportPermissions;
    id: "log-export-permissions",
    title: "Log bucket accepts CloudWatch Logs exports, only from its own account",
    severity: High,
    scenarios: [ScenarioD],
    remediation: "Allow logs.<region>.amazonaws.com s3:GetBucketAcl on the bucket and s3:PutObject under the export prefix, conditioned on aws:SourceAccount and aws:SourceArn.",
    references: [
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/S3ExportTasks.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html",
    ],
}

impl Rule for LogExportPermissions {
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let scenario = Scenario::ScenarioD;
        let Some(d) = &cx.spec.scenario_d else {
            return vec![skip(
                &META,
                scenario,
                "-",
                "the spec declares no scenario D",
            )];
        };
        let bucket = d.log_bucket.get_ref();
        let resource = cx.bucket_arn(bucket);
        let account = cx.bucket_account_id(bucket).unwrap_or_default();
        let region = d.logs_region.get_ref();
        let policy = match bucket_policy(cx.snap, bucket) {
            Ok(Some(p)) => p,
            Ok(None) => {
                return vec![META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    format!(
                        "{} has no bucket policy: CloudWatch Logs cannot export into it",
                        cx.bucket_name(bucket)
                    ),
                    json!({"bucket_policy": null}),
                )]
            }
            Err(e) => return vec![error(&META, scenario, &resource, e)],
        };
        let service = format!("logs.{region}.amazonaws.com");
        let group = d
            .log_groups
            .first()
            .cloned()
            .unwrap_or_else(|| "replaudit-log-group".into());
        let object = cx.object_arn(bucket, &sample_key(&d.export_prefix));
        let ask = |source_account: &str, action: &str, res: &str| {
            let mut ctx = Context::new();
            ctx.insert("aws:SourceAccount", source_account);
            ctx.insert(
                "aws:SourceArn",
                format!(
                    "arn:{}:logs:{region}:{source_account}:log-group:{group}:*",
                    crate::aws::partition_of_region(region)
                ),
            );
            ctx.insert("s3:x-amz-acl", "bucket-owner-full-control");
            ctx.insert("aws:SecureTransport", "true");
            let req = Request {
                principal: service.clone(),
                principal_account: None,
                action: action.into(),
                resource: res.into(),
                resource_account: Some(account.to_string()),
                context: ctx,
            };
            policy::evaluate(
                &req,
                &PolicySet {
                    resource: Some(&policy),
                    ..PolicySet::default()
                },
            )
        };
        let own_acl = ask(account, "s3:GetBucketAcl", &resource);
        let own_put = ask(account, "s3:PutObject", &object);
        let other_put = ask(OTHER_ACCOUNT, "s3:PutObject", &object);
        let evidence = json!({
            "service_principal": service,
            "own_account_get_bucket_acl": crate::access::evidence("s3:GetBucketAcl", &resource, crate::access::Leg::Full, &own_acl),
            "own_account_put_object": crate::access::evidence("s3:PutObject", &object, crate::access::Leg::Full, &own_put),
            "other_account_put_object": crate::access::evidence("s3:PutObject", &object, crate::access::Leg::Full, &other_put),
        });
        let mut problems = Vec::new();
        if own_acl.decision != Decision::Allowed {
            problems.push(format!(
                "{service} cannot s3:GetBucketAcl ({})",
                own_acl.decision
            ));
        }
        if own_put.decision != Decision::Allowed {
            problems.push(format!(
                "{service} cannot s3:PutObject under '{}' ({})",
                d.export_prefix, own_put.decision
            ));
        }
        if other_put.decision == Decision::Allowed {
            problems.push(format!("exports from another account ({OTHER_ACCOUNT}) are allowed too: add aws:SourceAccount / aws:SourceArn conditions (confused deputy)"));
        }
        vec![if problems.is_empty() {
            META.finding(
                scenario,
                Status::Pass,
                &resource,
                format!(
                    "{service} can export under '{}', only for account {account}",
                    d.export_prefix
                ),
                evidence,
            )
        } else {
            META.finding(
                scenario,
                Status::Fail,
                &resource,
                problems.join("; "),
                evidence,
            )
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_with_service_grants_conditioned_on_the_account() {
        let out = seed().run(&LogExportPermissions);
        let x = only(
            &out,
            Status::Pass,
            "logs.ap-southeast-1.amazonaws.com can export under 'exports/', only for account 111122223333",
        );
        assert_eq!(x.resource, "arn:aws:s3:::xyz-app-logs");
    }

    #[test]
    fn fails_without_the_confused_deputy_conditions() {
        let mut f = seed();
        f.bucket_policy("logs", |p| {
            // The grants' conditions only: the TLS Deny keeps its aws:SecureTransport test.
            for s in statements(p).iter_mut().filter(|s| s["Effect"] == "Allow") {
                s.as_object_mut().unwrap().remove("Condition");
            }
        });
        only(
            &f.run(&LogExportPermissions),
            Status::Fail,
            "exports from another account (000000000000) are allowed too: add aws:SourceAccount / aws:SourceArn conditions (confused deputy)",
        );
    }

    #[test]
    fn fails_when_the_service_cannot_write_or_read_the_acl() {
        let mut f = seed();
        f.bucket_policy("logs", |p| {
            statements(p).retain(|s| s["Sid"] != "CloudWatchLogsGetBucketAcl");
            for s in statements(p) {
                s["Resource"] = json!("arn:aws:s3:::xyz-app-logs/elsewhere/*");
            }
        });
        only(
            &f.run(&LogExportPermissions),
            Status::Fail,
            "logs.ap-southeast-1.amazonaws.com cannot s3:GetBucketAcl (ImplicitDeny); logs.ap-southeast-1.amazonaws.com cannot s3:PutObject under 'exports/' (ImplicitDeny)",
        );
        f.bucket("logs").policy = Fetched::absent("NoSuchBucketPolicy");
        only(
            &f.run(&LogExportPermissions),
            Status::Fail,
            "xyz-app-logs has no bucket policy: CloudWatch Logs cannot export into it",
        );
    }

    #[test]
    fn errors_when_unreadable_and_skips_without_scenario_d() {
        let mut f = seed();
        f.bucket("logs").policy = denied("s3:GetBucketPolicy");
        only(
            &f.run(&LogExportPermissions),
            Status::Error,
            "cannot check: bucket policy of xyz-app-logs: s3:GetBucketPolicy failed",
        );
        f.spec.scenario_d = None;
        only(
            &f.run(&LogExportPermissions),
            Status::Skip,
            "the spec declares no scenario D",
        );
    }

    fn with_statements(edit: impl Fn(&mut serde_json::Value)) -> Vec<Finding> {
        let mut f = seed();
        f.bucket_policy("logs", |p| {
            for s in statements(p).iter_mut().filter(|s| {
                s["Sid"]
                    .as_str()
                    .is_some_and(|x| x.starts_with("CloudWatchLogs"))
            }) {
                edit(s)
            }
        });
        f.run(&LogExportPermissions)
    }

    /// The export is made by CloudWatch Logs of the log group's Region
    /// (`logs.<region>.amazonaws.com`, S3ExportTasks.html): a grant to another Region's service
    /// principal does not let it write.
    #[test]
    fn a_grant_to_another_region_s_logs_service_fails() {
        let out = with_statements(|s| {
            s["Principal"] = serde_json::json!({"Service": "logs.us-east-1.amazonaws.com"})
        });
        assert!(count(&out, Status::Fail) > 0 && count(&out, Status::Pass) == 0);
    }

    /// The export writes under its prefix: a grant on another prefix does not cover it.
    #[test]
    fn a_put_grant_outside_the_export_prefix_fails() {
        let out = with_statements(|s| {
            if s["Action"] == "s3:PutObject" {
                s["Resource"] = "arn:aws:s3:::xyz-app-logs/other/*".into();
            }
        });
        has(&out, Status::Fail, "s3:PutObject");
        let out = with_statements(|s| {
            if s["Action"] == "s3:PutObject" {
                s["Resource"] = "arn:aws:s3:::xyz-app-logs/*".into();
            }
        });
        assert_eq!(
            count(&out, Status::Fail),
            0,
            "a wider grant covers the prefix"
        );
    }
}
