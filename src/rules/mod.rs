//! The rule engine: pure functions from (spec, snapshot) to findings.
//!
//! One rule a file, as in ruff: the doc comment on each rule's struct is its documentation
//! (what it checks, why it matters, example, fix, references) and `replaudit rules --explain`
//! prints it. Each rule's [`RuleMeta`] (declared with the catalogue's `declare_rule!`, like the
//! canary's checks) carries the Prowler-style metadata the reports need.
//! A rule never talks to AWS and never turns missing data into a pass: data it could not see
//! becomes an `error` finding naming the failed call; an expectation the spec does not declare
//! becomes `skip` with the reason.

mod context;
mod kms_support;
mod registry;
pub(crate) mod support;
#[cfg(test)]
pub(crate) mod testkit;
mod verdict;

pub mod access_expectation;
pub mod account_public_access_block;
pub mod bucket_default_encryption;
pub mod bucket_location;
pub mod bucket_object_ownership;
pub mod bucket_policy_grantees;
pub mod bucket_public_access_block;
pub mod bucket_tls_only;
pub mod bucket_versioning;
pub mod change_history;
pub mod config_recorder;
pub mod config_rule_agreement;
pub mod destination_policy_allows_role;
pub mod encrypted_replica_readable;
pub mod log_export_permissions;
pub mod prefix_scope;
pub mod replication_configured;
pub mod replication_delete_markers;
pub mod replication_destination;
pub mod replication_filter;
pub mod replication_kms;
pub mod replication_kms_permissions;
pub mod replication_metrics;
pub mod replication_owner_override;
pub mod replication_role_matches;
pub mod replication_rtc;
pub mod replication_rule_enabled;
pub mod replication_unexpected_rules;
pub mod role_destination_permissions;
pub mod role_exists;
pub mod role_least_privilege;
pub mod role_source_permissions;
pub mod role_trust;
pub mod trail_data_events;
pub mod uploader_restriction;
pub mod who_can;

pub use context::{replication_refs, AuditContext, Marks};
pub use registry::{all_metas, all_rules, find_rule, run_all};

use crate::access::IdentitySide;
pub use crate::catalogue::{Declared, RuleMeta};
use crate::findings::Finding;
use crate::snapshot::{BucketState, PrincipalState, ReplicationConfiguration};
use crate::spec::{Bucket, Replication, ReplicationRule};
pub use support::{At, RuleCheck};

/// What a rule's default [`Rule::check`] walks, and so which of its hooks it calls. The walk
/// (in `support`) owns the loop over the spec, the lookup of the collected state, the finding
/// for state that is missing (a bucket that was not collected, a configuration that is absent or
/// unreadable) and the scenario and resource of each item, so a rule's hooks hold its check and
/// nothing else, as zizmor's `Audit` trait does for workflows, jobs and steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// No walk: the rule overrides [`Rule::check`].
    Own,
    /// Every spec bucket ([`Rule::check_bucket_spec`], then [`Rule::check_bucket`]).
    Buckets,
    /// Every spec replication with its source bucket's state ([`Rule::check_source`]).
    Sources,
    /// Every spec replication with its live configuration ([`Rule::skip_replication`], then
    /// [`Rule::check_replication`]); a missing configuration is `replication-configured`'s to
    /// report, so here it is a skip.
    Replications,
    /// Every spec replication rule with the live rule that implements it
    /// ([`Rule::check_replication_rule`]); a missing live rule is `replication-rule-enabled`'s.
    ReplicationRules,
    /// Every spec replication rule, live or not ([`Rule::check_spec_rule`], and see
    /// [`Rule::names_its_rule`]).
    SpecRules,
    /// Every distinct replication role with its collected state ([`Rule::check_principal`]).
    Principals,
    /// Every spec replication with its role's identity ([`Rule::check_role`], then
    /// [`Rule::check_role_rule`] for each of its rules); each finding names the replication (or
    /// the rule) it is about (see [`Marks`]), as a role many replications share would otherwise
    /// make it name all of them.
    Roles,
}

/// A check over (spec, snapshot). Its metadata comes from `declare_rule!` ([`Declared`]); a rule
/// either names a [`Walk`] and fills in that walk's hooks, or overrides [`Rule::check`].
pub trait Rule: Declared + Send + Sync {
    fn walk(&self) -> Walk {
        Walk::Own
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        support::walk(self, cx)
    }

    /// Whether the [`Walk::SpecRules`] walk names, on each finding, the spec rule it is about
    /// (see [`Marks`]), for a rule whose findings are on a resource many replications share (a
    /// role, a key); else the report attributes each finding by its resource.
    fn names_its_rule(&self) -> bool {
        false
    }

    /// The finding the spec alone decides for a bucket (a `skip` when it expects nothing of
    /// it), asked before its state is looked up.
    fn check_bucket_spec(
        &self,
        _cx: &AuditContext,
        _alias: &str,
        _want: &Bucket,
        _at: &At,
    ) -> Option<Finding> {
        None
    }

    /// The scenario a bucket's findings belong to.
    fn bucket_scenario(&self, cx: &AuditContext, alias: &str) -> crate::findings::Scenario {
        cx.bucket_scenario(alias)
    }

    fn check_bucket(
        &self,
        _cx: &AuditContext,
        _alias: &str,
        _want: &Bucket,
        _state: &BucketState,
        _at: &At,
    ) -> Vec<Finding> {
        Vec::new()
    }

    fn check_source(
        &self,
        _cx: &AuditContext,
        _r: &Replication,
        _state: &BucketState,
        _at: &At,
    ) -> Vec<Finding> {
        Vec::new()
    }

    /// Why this replication is not checked (a `skip`), asked before its configuration is read.
    fn skip_replication(&self, _cx: &AuditContext, _r: &Replication) -> Option<String> {
        None
    }

    fn check_replication(
        &self,
        _cx: &AuditContext,
        _r: &Replication,
        _live: &ReplicationConfiguration,
        _at: &At,
    ) -> Vec<Finding> {
        Vec::new()
    }

    fn check_replication_rule(&self, _cx: &AuditContext, _c: &RuleCheck) -> Vec<Finding> {
        Vec::new()
    }

    fn check_spec_rule(
        &self,
        _cx: &AuditContext,
        _r: &Replication,
        _i: usize,
        _rule: &ReplicationRule,
        _at: &At,
    ) -> Vec<Finding> {
        Vec::new()
    }

    /// `replications` are those that use the role `alias`.
    fn check_principal(
        &self,
        _cx: &AuditContext,
        _alias: &str,
        _replications: &[&Replication],
        _state: &PrincipalState,
        _at: &At,
    ) -> Vec<Finding> {
        Vec::new()
    }

    fn check_role(
        &self,
        _cx: &AuditContext,
        _r: &Replication,
        _who: &IdentitySide,
        _at: &At,
    ) -> Vec<Finding> {
        Vec::new()
    }

    fn check_role_rule(
        &self,
        _cx: &AuditContext,
        _r: &Replication,
        _i: usize,
        _rule: &ReplicationRule,
        _who: &IdentitySide,
        _at: &At,
    ) -> Vec<Finding> {
        Vec::new()
    }
}
