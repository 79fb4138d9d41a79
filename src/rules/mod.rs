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

pub use crate::catalogue::RuleMeta;
use crate::findings::Finding;

pub trait Rule: Send + Sync {
    fn meta(&self) -> &'static RuleMeta;
    fn check(&self, cx: &AuditContext) -> Vec<Finding>;
}
