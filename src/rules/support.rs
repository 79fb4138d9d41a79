//! Small helpers shared by rules, so each rule file reads as its check and nothing else.

use super::{AuditContext, Marks, Rule, RuleMeta, Walk};
use crate::access::{self, IdentitySide, Leg, Query};
use crate::findings::{Finding, Scenario, Status};
use crate::policy::{Decision, Evaluation, Policy};
use crate::snapshot::{AccountState, Fetched, ReplicationConfiguration};
use crate::spec::Replication;
use serde_json::json;

pub use super::verdict::{error, skip, unknown};

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
        return Err(not_collected(meta, &At { scenario, resource }));
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

/// The finding of the twin rules `role-source-permissions` and `role-destination-permissions`:
/// whether the role `who` is allowed every one of `needs` on the bucket `alias`, asked as S3
/// decides it ([`BucketSide`]). `label` prefixes an error (the spec rule it is about); `pass` and
/// `fail` are the messages, `fail` followed by what is missing.
#[allow(clippy::too_many_arguments)]
pub fn role_needs_finding(
    meta: &'static RuleMeta,
    cx: &AuditContext,
    who: &IdentitySide,
    at: &super::At,
    alias: &str,
    needs: Vec<Needed>,
    label: Option<&str>,
    pass: String,
    fail: String,
) -> Finding {
    let acct = cx.bucket_account_id(alias).unwrap_or_default();
    let side = match BucketSide::for_role(cx, who, alias) {
        Ok(s) => s,
        Err(e) => {
            let e = match label {
                Some(l) => format!("{l}: {e}"),
                None => e.to_string(),
            };
            return error(meta, at.scenario, &at.resource, e);
        }
    };
    let mut missing = Vec::new();
    let mut evidence = Vec::new();
    for n in needs {
        let a = side.ask(cx, who, n.action, &n.resource, acct);
        if !a.allowed() {
            missing.push(format!(
                "{} on {} ({}: {})",
                n.action,
                n.resource,
                a.eval.decision,
                a.summary()
            ));
        }
        evidence.push(a.evidence);
    }
    let (status, message) = if missing.is_empty() {
        (Status::Pass, pass)
    } else {
        (
            Status::Fail,
            format!("{fail}: missing {}", missing.join("; ")),
        )
    };
    meta.finding(
        at.scenario,
        status,
        at.resource.as_str(),
        message,
        json!({"checks": evidence}),
    )
}

/// Sample object key under a prefix, for object-level questions.
pub fn sample_key(prefix: &str) -> String {
    format!("{prefix}replaudit-sample-object")
}

/// Where a walked item's findings go: the scenario and resource the walk resolved for it once.
pub struct At {
    pub scenario: Scenario,
    pub resource: String,
}

/// The default [`Rule::check`]: walk what the rule's [`Walk`] names, resolve each item's
/// collected state once, report what is missing, and hand the rest to the rule's hooks.
pub fn walk<R: Rule + ?Sized>(rule: &R, cx: &AuditContext) -> Vec<Finding> {
    let meta = rule.meta();
    let mut out = Vec::new();
    match rule.walk() {
        Walk::Own => {}
        Walk::Buckets => {
            for (alias, want) in &cx.spec.buckets {
                let at = At {
                    scenario: rule.bucket_scenario(cx, alias),
                    resource: cx.bucket_arn(alias),
                };
                if let Some(f) = rule.check_bucket_spec(cx, alias, want, &at) {
                    out.push(f);
                    continue;
                }
                match cx.bucket_state(alias) {
                    Some(b) => out.extend(rule.check_bucket(cx, alias, want, b, &at)),
                    None => out.push(not_collected(meta, &at)),
                }
            }
        }
        Walk::Sources => {
            for r in &cx.spec.replication {
                let at = replication_at(cx, r);
                match cx.bucket_state(r.source.get_ref()) {
                    Some(b) => out.extend(rule.check_source(cx, r, b, &at)),
                    None => out.push(not_collected(meta, &at)),
                }
            }
        }
        Walk::Replications => {
            for r in &cx.spec.replication {
                let at = replication_at(cx, r);
                if let Some(why) = rule.skip_replication(cx, r) {
                    out.push(skip(meta, at.scenario, &at.resource, why));
                    continue;
                }
                match live_replication(meta, cx, r) {
                    Ok(live) => out.extend(rule.check_replication(cx, r, live, &at)),
                    Err(f) => out.push(f),
                }
            }
        }
        Walk::ReplicationRules => {
            out = per_live_rule(meta, cx, |c| rule.check_replication_rule(cx, c));
        }
        Walk::SpecRules => {
            let mut marks = Marks::default();
            for r in &cx.spec.replication {
                let at = replication_at(cx, r);
                for (i, want) in r.rules.iter().enumerate() {
                    marks.mark(out.len(), r, Some(i));
                    out.extend(rule.check_spec_rule(cx, r, i, want, &at));
                }
            }
            if rule.names_its_rule() {
                marks.apply(cx.spec, &mut out);
            }
        }
        Walk::Principals => {
            for (alias, replications) in cx.replication_roles() {
                let arn = cx.principal_arn(alias);
                let at = At {
                    scenario: cx.role_scenario(alias),
                    resource: arn.to_string(),
                };
                match cx.snap.principal(arn) {
                    Some(st) => out.extend(rule.check_principal(cx, alias, &replications, st, &at)),
                    None => out.push(error(meta, at.scenario, arn, "role was not collected")),
                }
            }
        }
        Walk::Roles => {
            let mut marks = Marks::default();
            for r in &cx.spec.replication {
                marks.mark(out.len(), r, None);
                // A role's findings belong to step 3, or to scenario D for the log replication.
                let scenario = match cx.replication_scenario(r) {
                    Scenario::ScenarioD => Scenario::ScenarioD,
                    _ => Scenario::Step3,
                };
                let arn = cx.principal_arn(r.role.get_ref());
                let at = At {
                    scenario,
                    resource: arn.to_string(),
                };
                let who = match access::identity_side(cx.snap, arn) {
                    Ok(w) => w,
                    Err(e) => {
                        out.push(error(meta, scenario, arn, e));
                        continue;
                    }
                };
                out.extend(rule.check_role(cx, r, &who, &at));
                for (i, want) in r.rules.iter().enumerate() {
                    marks.mark(out.len(), r, Some(i));
                    out.extend(rule.check_role_rule(cx, r, i, want, &who, &at));
                }
            }
            marks.apply(cx.spec, &mut out);
        }
    }
    out
}

/// The collected state of the spec account `alias`, or the finding (on `resource`) that it was
/// not collected.
#[allow(clippy::result_large_err)]
pub fn account_state<'a>(
    meta: &'static RuleMeta,
    cx: &AuditContext<'a>,
    alias: &str,
    scenario: Scenario,
    resource: &str,
) -> Result<&'a AccountState, Finding> {
    cx.snap
        .accounts
        .get(alias)
        .ok_or_else(|| error(meta, scenario, resource, "account was not collected"))
}

/// A replication's findings: its scenario, on its source bucket.
fn replication_at(cx: &AuditContext, r: &Replication) -> At {
    At {
        scenario: cx.replication_scenario(r),
        resource: cx.bucket_arn(r.source.get_ref()),
    }
}

/// The one finding for a spec bucket the snapshot does not hold.
fn not_collected(meta: &'static RuleMeta, at: &At) -> Finding {
    error(meta, at.scenario, &at.resource, "bucket was not collected")
}

/// Run `check` for every spec replication rule that has a live counterpart; rules without one
/// are `skip` here (`replication-rule-enabled` reports them as failures), so one missing rule
/// is one failure, not eight.
fn per_live_rule(
    meta: &'static RuleMeta,
    cx: &AuditContext,
    mut check: impl FnMut(&RuleCheck) -> Vec<Finding>,
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
                Some(rule) => out.extend(check(&RuleCheck {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::seed;
    use crate::rules::{all_rules, Walk};

    /// The walk, not each rule, reports a spec bucket the snapshot does not hold: every rule that
    /// walks the buckets gives it exactly one finding, the error saying so, unless the spec alone
    /// decides the bucket (then exactly that finding).
    #[test]
    fn every_bucket_walk_reports_a_bucket_that_was_not_collected_once() {
        let mut f = seed();
        f.snap.buckets.remove("destination");
        let cx = AuditContext::new(&f.spec, &f.snap);
        let want = f
            .spec
            .bucket("destination")
            .expect("the seed's destination");
        let resource = cx.bucket_arn("destination");
        let mut walked = 0;
        for rule in all_rules().iter().filter(|r| r.walk() == Walk::Buckets) {
            walked += 1;
            let id = rule.meta().id;
            let at = At {
                scenario: rule.bucket_scenario(&cx, "destination"),
                resource: resource.clone(),
            };
            let on_it: Vec<Finding> = rule
                .check(&cx)
                .into_iter()
                .filter(|x| x.resource == resource)
                .collect();
            assert_eq!(on_it.len(), 1, "{id}: one finding for the bucket");
            match rule.check_bucket_spec(&cx, "destination", want, &at) {
                Some(decided) => assert_eq!(on_it[0].message, decided.message, "{id}"),
                None => {
                    assert_eq!(on_it[0].status, Status::Error, "{id}");
                    assert_eq!(
                        on_it[0].message, "cannot check: bucket was not collected",
                        "{id}"
                    );
                }
            }
        }
        assert!(walked >= 5, "the bucket rules walk the buckets ({walked})");
    }

    /// Likewise for the replication role: every rule that walks the roles reports a role the
    /// snapshot does not hold as one error.
    #[test]
    fn every_role_walk_reports_a_role_that_was_not_collected_once() {
        let mut f = seed();
        let arn = f
            .spec
            .principal("replication-role")
            .unwrap()
            .arn
            .get_ref()
            .clone();
        assert!(f.snap.principals.remove(&arn).is_some());
        let cx = AuditContext::new(&f.spec, &f.snap);
        let mut walked = 0;
        for rule in all_rules().iter().filter(|r| r.walk() == Walk::Principals) {
            walked += 1;
            let on_it: Vec<Finding> = rule.check(&cx);
            assert_eq!(
                on_it.len(),
                1,
                "{}: one finding for the role",
                rule.meta().id
            );
            assert_eq!(on_it[0].status, Status::Error);
            assert_eq!(on_it[0].resource, arn);
            assert_eq!(on_it[0].message, "cannot check: role was not collected");
        }
        assert_eq!(walked, 2, "role-exists and role-trust walk the roles");
    }
}
