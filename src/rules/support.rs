//! Small helpers shared by rules, so each rule file reads as its check and nothing else.

use super::{AuditContext, RuleMeta};
use crate::access::{self, IdentitySide, Leg, Query};
use crate::findings::{Finding, Scenario, Status};
use crate::policy::{Decision, Evaluation, Policy};
use crate::snapshot::{Fetched, ReplicationConfiguration};
use crate::spec::Replication;
use serde_json::json;

/// The finding for a value that could not be read: `error` naming the failed call.
pub fn unknown<T>(
    meta: &'static RuleMeta,
    scenario: Scenario,
    resource: &str,
    what: &str,
    f: &Fetched<T>,
) -> Finding {
    let evidence = match f {
        Fetched::Unknown { call, code, reason } => {
            json!({"call": call, "error_code": code, "reason": reason})
        }
        Fetched::Absent { reason } => json!({"absent": reason}),
        Fetched::Ok { .. } => json!({}),
    };
    meta.finding(
        scenario,
        Status::Error,
        resource,
        format!(
            "cannot check {what}: {}",
            f.why_missing().unwrap_or_else(|| "no data".into())
        ),
        evidence,
    )
}

/// `error` finding for anything else that prevented the check (unparseable policy, ...).
pub fn error(
    meta: &'static RuleMeta,
    scenario: Scenario,
    resource: &str,
    message: impl std::fmt::Display,
) -> Finding {
    let message = message.to_string();
    meta.finding(
        scenario,
        Status::Error,
        resource,
        format!("cannot check: {message}"),
        json!({ "cause": message }),
    )
}

pub fn skip(
    meta: &'static RuleMeta,
    scenario: Scenario,
    resource: &str,
    reason: impl Into<String>,
) -> Finding {
    let reason = reason.into();
    meta.finding(
        scenario,
        Status::Skip,
        resource,
        reason.clone(),
        json!({ "skipped": reason }),
    )
}

/// The live replication configuration of a spec replication, or the finding that explains why
/// there is none to check (`skip` when absent: `replication-configured` reports that as a fail).
/// The large `Err` is fine: it is built at most once per replication per rule.
#[allow(clippy::result_large_err)]
pub fn live_replication<'a>(
    meta: &'static RuleMeta,
    cx: &AuditContext<'a>,
    r: &Replication,
) -> Result<&'a ReplicationConfiguration, Finding> {
    let scenario = cx.replication_scenario(r);
    let alias = r.source.get_ref();
    let resource = cx.bucket_arn(alias);
    let Some(b) = cx.bucket_state(alias) else {
        return Err(error(meta, scenario, &resource, "bucket was not collected"));
    };
    match &b.replication {
        Fetched::Ok { value } => Ok(value),
        Fetched::Absent { .. } => Err(skip(
            meta,
            scenario,
            &resource,
            format!(
                "no replication configuration on the source bucket (reported by {})",
                super::replication_configured::META.id
            ),
        )),
        f => Err(unknown(
            meta,
            scenario,
            &resource,
            "the replication configuration",
            f,
        )),
    }
}

/// The result of asking the policy engine one question, with everything a finding needs.
pub struct Asked {
    pub eval: Evaluation,
    pub evidence: serde_json::Value,
}

impl Asked {
    pub fn allowed(&self) -> bool {
        self.eval.decision == Decision::Allowed
    }

    pub fn summary(&self) -> String {
        access::deciding_summary(&self.eval)
    }
}

/// Evaluate `who` doing `action` on `resource` (owned by `resource_account`).
#[allow(clippy::too_many_arguments)]
pub fn ask(
    cx: &AuditContext,
    who: &IdentitySide,
    action: &str,
    resource: &str,
    resource_account: &str,
    resource_policy: Option<&Policy>,
    restrict_public_buckets: bool,
    extra_context: &[(&str, String)],
    leg: Leg,
) -> Asked {
    let q = Query {
        action,
        resource,
        resource_account,
        resource_policy,
        restrict_public_buckets,
        extra_context,
    };
    let eval = access::evaluate(cx.snap, who, &q, leg);
    let evidence = access::evidence(action, resource, leg, &eval);
    Asked { eval, evidence }
}

/// How S3 decides the replication role's request to one of the spec's buckets, for the rules
/// that check the role's own permissions. In the role's account the bucket policy is evaluated
/// with the role's policies: an Allow in either suffices and an explicit Deny in either refuses
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>),
/// so a Deny in the bucket policy breaks replication as surely as a missing grant. In another
/// account the bucket policy is its owner's grant, checked by `destination-policy-allows-role`;
/// here only the role's side is asked.
pub struct BucketSide {
    pub policy: Option<Policy>,
    pub restrict_public_buckets: bool,
    pub leg: Leg,
}

impl BucketSide {
    pub fn for_role(
        cx: &AuditContext,
        who: &IdentitySide,
        alias: &str,
    ) -> Result<Self, access::Error> {
        if cx.bucket_account_id(alias) != Some(who.account.as_str()) {
            return Ok(BucketSide {
                policy: None,
                restrict_public_buckets: false,
                leg: Leg::IdentityOnly,
            });
        }
        let policy = access::bucket_policy(cx.snap, alias)?;
        let restrict_public_buckets =
            access::restrict_public_buckets(cx.snap, cx.spec, alias, policy.as_ref())?;
        Ok(BucketSide {
            policy,
            restrict_public_buckets,
            leg: Leg::Full,
        })
    }

    /// Ask about one action on one resource of this bucket.
    pub fn ask(
        &self,
        cx: &AuditContext,
        who: &IdentitySide,
        action: &str,
        resource: &str,
        resource_account: &str,
    ) -> Asked {
        ask(
            cx,
            who,
            action,
            resource,
            resource_account,
            self.policy.as_ref(),
            self.restrict_public_buckets,
            &[],
            self.leg,
        )
    }
}

/// Sample object key under a prefix, for object-level questions.
pub fn sample_key(prefix: &str) -> String {
    format!("{prefix}replaudit-sample-object")
}

/// Run `check` for every spec replication rule that has a live counterpart; rules without one
/// are `skip` here (`replication-rule-enabled` reports them as failures), so one missing rule
/// is one failure, not eight.
pub fn per_live_rule(
    meta: &'static RuleMeta,
    cx: &AuditContext,
    mut check: impl FnMut(&RuleCheck) -> Finding,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in &cx.spec.replication {
        let live = match live_replication(meta, cx, r) {
            Ok(l) => l,
            Err(f) => {
                out.push(f);
                continue;
            }
        };
        let scenario = cx.replication_scenario(r);
        let resource = cx.bucket_arn(r.source.get_ref());
        for (i, want) in r.rules.iter().enumerate() {
            let label = want.label(i);
            match cx.live_rule(&live.rules, want) {
                Some(rule) => out.push(check(&RuleCheck {
                    replication: r,
                    want,
                    live: rule,
                    scenario,
                    resource: &resource,
                    label: &label,
                })),
                None => out.push(skip(
                    meta,
                    scenario,
                    &resource,
                    format!(
                        "{label}: no live rule to check (reported by {})",
                        super::replication_rule_enabled::META.id
                    ),
                )),
            }
        }
    }
    out
}

/// One spec rule with the live rule that implements it.
pub struct RuleCheck<'a> {
    pub replication: &'a Replication,
    pub want: &'a crate::spec::ReplicationRule,
    pub live: &'a crate::snapshot::ReplicationRule,
    pub scenario: Scenario,
    pub resource: &'a str,
    pub label: &'a str,
}

/// One permission S3 replication needs, on one resource.
pub struct Needed {
    pub action: &'static str,
    pub resource: String,
}

/// What the replication role needs on the source bucket and its objects.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html>
pub fn source_needs(cx: &AuditContext, r: &Replication) -> Vec<Needed> {
    let src = r.source.get_ref();
    let mut v = vec![
        Needed {
            action: "s3:GetReplicationConfiguration",
            resource: cx.bucket_arn(src),
        },
        Needed {
            action: "s3:ListBucket",
            resource: cx.bucket_arn(src),
        },
    ];
    for rule in &r.rules {
        let obj = cx.object_arn(src, &sample_key(rule.prefix_or_empty()));
        for action in [
            "s3:GetObjectVersionForReplication",
            "s3:GetObjectVersionAcl",
            "s3:GetObjectVersionTagging",
        ] {
            v.push(Needed {
                action,
                resource: obj.clone(),
            });
        }
    }
    v
}

/// What the replication role needs on a rule's destination objects.
pub fn destination_needs(cx: &AuditContext, rule: &crate::spec::ReplicationRule) -> Vec<Needed> {
    let obj = cx.object_arn(
        rule.destination.get_ref(),
        &sample_key(rule.prefix_or_empty()),
    );
    let mut actions = vec!["s3:ReplicateObject", "s3:ReplicateTags"];
    if rule.delete_marker_replication {
        actions.push("s3:ReplicateDelete");
    }
    if rule.owner_override {
        actions.push("s3:ObjectOwnerOverrideToBucketOwner");
    }
    actions
        .into_iter()
        .map(|action| Needed {
            action,
            resource: obj.clone(),
        })
        .collect()
}
