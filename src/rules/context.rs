//! What a rule sees: the spec, the snapshot, and navigation between the two.

use crate::findings::{Finding, ReplicationRef, Scenario};
use crate::snapshot::{BucketState, ReplicationRule, Snapshot};
use crate::spec::{self, Replication, Spec};

/// The spec replication rules of one `[[replication]]`, as findings name them: the one builder
/// of [`ReplicationRef`]s (`report::replications` attributes the other findings with it).
pub fn replication_refs(spec: &Spec, r: &Replication) -> Vec<ReplicationRef> {
    let bucket_name = |alias: &str| {
        spec.buckets
            .get(alias)
            .map(|b| b.name.get_ref().clone())
            .unwrap_or_else(|| alias.to_string())
    };
    r.rules
        .iter()
        .enumerate()
        .map(|(i, rule)| ReplicationRef {
            replication: r.id.get_ref().clone(),
            rule: rule_label(i, &rule.id),
            source: bucket_name(r.source.get_ref()),
            destination: bucket_name(rule.destination.get_ref()),
        })
        .collect()
}

/// A spec rule's label: its `id`, else `#<n>` (1-based position).
fn rule_label(i: usize, id: &Option<String>) -> String {
    id.clone().unwrap_or_else(|| format!("#{}", i + 1))
}

/// Which replication (rule) each finding of a rule that loops over the spec's replications is
/// about. Marked where each iteration starts; [`Marks::apply`] then names, on each finding, that
/// replication's rules (or that one rule) instead of leaving the report to attribute it by its
/// resource: a role or key many replications share would otherwise make the finding name all of
/// them, so its size (and the report, N findings of size N) grew with the estate.
#[derive(Default)]
pub struct Marks<'a> {
    marks: Vec<(usize, &'a Replication, Option<usize>)>,
}

impl<'a> Marks<'a> {
    /// The findings pushed from `at` on (until the next mark) are about `r`, or about its rule
    /// number `rule` (0-based) alone.
    pub fn mark(&mut self, at: usize, r: &'a Replication, rule: Option<usize>) {
        self.marks.push((at, r, rule));
    }

    pub fn apply(self, spec: &Spec, out: &mut [Finding]) {
        for (k, (from, r, rule)) in self.marks.iter().enumerate() {
            let to = self.marks.get(k + 1).map_or(out.len(), |m| m.0);
            let refs = replication_refs(spec, r);
            let refs: Vec<ReplicationRef> = match rule {
                Some(i) => refs.into_iter().nth(*i).into_iter().collect(),
                None => refs,
            };
            for f in out.iter_mut().take(to).skip(*from) {
                f.replications = refs.clone();
            }
        }
    }
}

pub struct AuditContext<'a> {
    pub spec: &'a Spec,
    pub snap: &'a Snapshot,
}

impl<'a> AuditContext<'a> {
    pub fn new(spec: &'a Spec, snap: &'a Snapshot) -> Self {
        AuditContext { spec, snap }
    }

    /// Which part of the set-up a bucket belongs to: scenario D's buckets, replication
    /// destinations (step 2), everything else (step 1).
    pub fn bucket_scenario(&self, alias: &str) -> Scenario {
        if let Some(d) = &self.spec.scenario_d {
            if d.log_bucket.get_ref() == alias || d.backup_bucket.get_ref() == alias {
                return Scenario::ScenarioD;
            }
        }
        let is_destination = self
            .spec
            .replication
            .iter()
            .flat_map(|r| r.rules.iter())
            .any(|rule| rule.destination.get_ref() == alias);
        if is_destination {
            Scenario::Step2
        } else {
            Scenario::Step1
        }
    }

    /// Account-level findings go with the earliest step any of the account's buckets belongs to.
    pub fn account_scenario(&self, account_alias: &str) -> Scenario {
        self.spec
            .buckets
            .iter()
            .filter(|(_, b)| b.account.get_ref() == account_alias)
            .map(|(k, _)| self.bucket_scenario(k))
            .min()
            .unwrap_or(Scenario::Step1)
    }

    /// Replication findings belong to step 4, or to scenario D for the log replication.
    pub fn replication_scenario(&self, r: &Replication) -> Scenario {
        match &self.spec.scenario_d {
            Some(d) if d.replication.get_ref() == r.id.get_ref() => Scenario::ScenarioD,
            _ => Scenario::Step4,
        }
    }

    /// Role findings belong to step 3, or to scenario D when only the log replication uses the role.
    pub fn role_scenario(&self, role_alias: &str) -> Scenario {
        let users: Vec<&Replication> = self
            .spec
            .replication
            .iter()
            .filter(|r| r.role.get_ref() == role_alias)
            .collect();
        if !users.is_empty()
            && users
                .iter()
                .all(|r| self.replication_scenario(r) == Scenario::ScenarioD)
        {
            Scenario::ScenarioD
        } else {
            Scenario::Step3
        }
    }

    pub fn bucket_name<'s>(&'s self, alias: &'s str) -> &'s str {
        self.spec
            .bucket(alias)
            .map(|b| b.name.get_ref().as_str())
            .unwrap_or(alias)
    }

    /// The partition of a bucket (from its Region), for its ARNs.
    pub fn bucket_partition(&self, alias: &str) -> &'static str {
        self.spec
            .bucket(alias)
            .map(|b| crate::aws::partition_of_region(b.region.get_ref()))
            .unwrap_or("aws")
    }

    /// The partition of an account (from its Region), for account-level resource names.
    pub fn account_partition(&self, account_alias: &str) -> &'static str {
        self.spec
            .account(account_alias)
            .map(|a| crate::aws::partition_of_region(a.region.get_ref()))
            .unwrap_or("aws")
    }

    pub fn bucket_arn(&self, alias: &str) -> String {
        crate::aws::s3_bucket_arn(self.bucket_partition(alias), self.bucket_name(alias))
    }

    pub fn object_arn(&self, alias: &str, key: &str) -> String {
        crate::aws::s3_object_arn(self.bucket_partition(alias), self.bucket_name(alias), key)
    }

    pub fn bucket_state(&self, alias: &str) -> Option<&'a BucketState> {
        self.snap.bucket(alias)
    }

    pub fn bucket_account_id(&self, alias: &str) -> Option<&'a str> {
        self.spec.bucket_account_id(alias)
    }

    pub fn principal_arn(&self, alias: &str) -> &'a str {
        self.spec
            .principal(alias)
            .map(|p| p.arn.get_ref().as_str())
            .unwrap_or("")
    }

    /// Distinct roles used by replications, with the replications that use them.
    pub fn replication_roles(&self) -> Vec<(&'a str, Vec<&'a Replication>)> {
        let mut out: Vec<(&str, Vec<&Replication>)> = Vec::new();
        for r in &self.spec.replication {
            let alias = r.role.get_ref().as_str();
            match out.iter_mut().find(|(a, _)| *a == alias) {
                Some((_, v)) => v.push(r),
                None => out.push((alias, vec![r])),
            }
        }
        out
    }

    /// The live rule that implements a spec rule: same ID if the spec names one and it exists,
    /// else the rule replicating the same prefix to the same destination bucket.
    pub fn live_rule<'s>(
        &self,
        live: &'s [ReplicationRule],
        want: &spec::ReplicationRule,
    ) -> Option<&'s ReplicationRule> {
        let dest_arn = self.bucket_arn(want.destination.get_ref());
        crate::snapshot::rule_for(live, want.id.as_deref(), &dest_arn, want.prefix_or_empty())
    }
}

/// The key id part of a KMS key reference (ARN, bare id, or alias), for comparisons: S3 may
/// report the key as an ARN where the spec has an ARN, or as a bare id.
pub fn kms_key_id(reference: &str) -> &str {
    crate::access::kms::key_id(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_and_object_arns_carry_the_bucket_partition() {
        let text = crate::rules::testkit::SEED
            .replace("ap-southeast-1", "cn-north-1")
            .replace("ap-southeast-2", "cn-northwest-1")
            .replace("arn:aws:", "arn:aws-cn:");
        let spec = crate::rules::testkit::spec(&text);
        let snap = crate::rules::testkit::snapshot();
        let cx = AuditContext::new(&spec, &snap);
        assert_eq!(cx.bucket_arn("source"), "arn:aws-cn:s3:::rubes-s3-bucket");
        assert_eq!(
            cx.object_arn("destination", "reports/x"),
            "arn:aws-cn:s3:::clint-s3-bucket/reports/x"
        );
        assert_eq!(cx.account_partition("abcd"), "aws-cn");
        let seed = crate::rules::testkit::seed_spec();
        let cx = AuditContext::new(&seed, &snap);
        assert_eq!(cx.bucket_arn("source"), "arn:aws:s3:::rubes-s3-bucket");
    }

    mod on_the_seed {
        use super::*;
        use crate::rules::testkit::*;

        #[test]
        fn buckets_accounts_replications_and_roles_map_to_their_step() {
            let f = seed();
            let cx = AuditContext::new(&f.spec, &f.snap);
            assert_eq!(cx.bucket_scenario("source"), Scenario::Step1);
            assert_eq!(cx.bucket_scenario("destination"), Scenario::Step2);
            assert_eq!(cx.bucket_scenario("logs"), Scenario::ScenarioD);
            assert_eq!(cx.bucket_scenario("logs-backup"), Scenario::ScenarioD);
            assert_eq!(cx.account_scenario("xyz"), Scenario::Step1);
            assert_eq!(cx.account_scenario("abcd"), Scenario::Step2);
            assert_eq!(cx.account_scenario("nobody"), Scenario::Step1);
            assert_eq!(
                cx.replication_scenario(&f.spec.replication[0]),
                Scenario::Step4
            );
            assert_eq!(
                cx.replication_scenario(&f.spec.replication[1]),
                Scenario::ScenarioD
            );
            assert_eq!(cx.role_scenario("replication-role"), Scenario::Step3);
            assert_eq!(cx.role_scenario("unused-role"), Scenario::Step3);
        }

        #[test]
        fn a_role_used_only_by_the_log_replication_is_scenario_d() {
            let mut f = seed();
            f.spec.replication[0].role = toml::Spanned::new(0..0, "tom".into());
            let cx = AuditContext::new(&f.spec, &f.snap);
            assert_eq!(cx.role_scenario("replication-role"), Scenario::ScenarioD);
            assert_eq!(cx.role_scenario("tom"), Scenario::Step3);
            let roles: Vec<&str> = cx.replication_roles().iter().map(|(a, _)| *a).collect();
            assert_eq!(roles, ["tom", "replication-role"]);
        }

        #[test]
        fn replication_roles_group_replications_by_role() {
            let f = seed();
            let cx = AuditContext::new(&f.spec, &f.snap);
            let roles = cx.replication_roles();
            assert_eq!(roles.len(), 1);
            assert_eq!(roles[0].0, "replication-role");
            assert_eq!(roles[0].1.len(), 2);
        }

        #[test]
        fn names_and_arns_come_from_the_spec() {
            let f = seed();
            let cx = AuditContext::new(&f.spec, &f.snap);
            assert_eq!(cx.bucket_name("source"), "rubes-s3-bucket");
            assert_eq!(cx.bucket_name("unknown-alias"), "unknown-alias");
            assert_eq!(cx.bucket_arn("destination"), DEST_ARN);
            assert_eq!(
                cx.object_arn("source", "reports/a.txt"),
                "arn:aws:s3:::rubes-s3-bucket/reports/a.txt"
            );
            assert_eq!(cx.principal_arn("replication-role"), ROLE_ARN);
            assert_eq!(cx.principal_arn("nobody"), "");
            assert_eq!(cx.bucket_account_id("destination"), Some("271089868719"));
            assert_eq!(
                cx.bucket_state("logs").map(|b| b.name.as_str()),
                Some("xyz-app-logs")
            );
        }

        #[test]
        fn live_rules_match_by_id_else_by_prefix_and_destination() {
            let mut f = seed();
            let want = f.spec.replication[0].rules[0].clone();
            let mut live = f.replication("source").rules.clone();
            let cx = AuditContext::new(&f.spec, &f.snap);
            assert_eq!(
                cx.live_rule(&live, &want).and_then(|r| r.id.as_deref()),
                Some("reports-to-abcd")
            );
            live[0].id = Some("other".into());
            assert!(
                cx.live_rule(&live, &want).is_some(),
                "same prefix and destination"
            );
            live[0].filter.prefix = Some("elsewhere/".into());
            assert!(cx.live_rule(&live, &want).is_none());
            live[0].filter.prefix = Some("reports/".into());
            live[0].destination.bucket = LOGS_BACKUP_ARN.into();
            assert!(cx.live_rule(&live, &want).is_none());
            live[0].id = Some("reports-to-abcd".into());
            assert!(cx.live_rule(&live, &want).is_some(), "the id wins");
        }

        const LOGS_BACKUP_ARN: &str = "arn:aws:s3:::xyz-app-logs-backup";
    }
}
