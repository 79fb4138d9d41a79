//! What a rule sees: the spec, the snapshot, and navigation between the two.

use crate::findings::Scenario;
use crate::snapshot::{BucketState, ReplicationRule, Snapshot};
use crate::spec::{self, Replication, Spec};

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
    match reference.rsplit_once(":key/") {
        Some((_, id)) => id,
        None => reference.strip_prefix("key/").unwrap_or(reference),
    }
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
        let seed = crate::rules::testkit::seed();
        let cx = AuditContext::new(&seed, &snap);
        assert_eq!(cx.bucket_arn("source"), "arn:aws:s3:::rubes-s3-bucket");
    }
}
