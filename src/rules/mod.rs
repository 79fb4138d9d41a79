//! The rule engine: pure functions from (spec, snapshot) to findings.
//!
//! One rule a file, as in ruff: the doc comment on each rule's struct is its documentation
//! (what it checks, why it matters, example, fix, references) and `replaudit rules --explain`
//! prints it. Each rule's [`RuleMeta`] carries the Prowler-style metadata the reports need.
//! A rule never talks to AWS and never turns missing data into a pass: data it could not see
//! becomes an `error` finding naming the failed call; an expectation the spec does not declare
//! becomes `skip` with the reason.

/// Declares a rule's struct (with its doc comment) and its `META`, so that the doc comment is
/// written once and serves both rustdoc and `replaudit rules --explain`.
macro_rules! declare_rule {
    (
        $(#[doc = $doc:literal])*
        pub struct $name:ident;
        id: $id:literal,
        title: $title:literal,
        severity: $sev:ident,
        scenarios: [$($sc:ident),* $(,)?],
        remediation: $rem:literal,
        references: [$($r:literal),* $(,)?] $(,)?
    ) => {
        $(#[doc = $doc])*
        pub struct $name;

        pub static META: $crate::rules::RuleMeta = $crate::rules::RuleMeta {
            id: $id,
            title: $title,
            severity: $crate::findings::Severity::$sev,
            scenarios: &[$($crate::findings::Scenario::$sc),*],
            doc: concat!($($doc, "\n"),*),
            remediation: $rem,
            references: &[$($r),*],
        };
    };
}

mod context;
mod kms_support;
mod registry;
mod support;
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

pub use context::AuditContext;
pub use registry::{all_metas, all_rules, find_rule, run_all};

use crate::findings::{Finding, Scenario, Severity, Status};

/// Static metadata of a rule: what reports show beside every finding it produces.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable id; never reused for another meaning.
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub scenarios: &'static [Scenario],
    /// The rule's documentation (its doc comment, included as text).
    pub doc: &'static str,
    pub remediation: &'static str,
    pub references: &'static [&'static str],
}

impl RuleMeta {
    pub fn finding(
        &'static self,
        scenario: Scenario,
        status: Status,
        resource: impl Into<String>,
        message: impl Into<String>,
        evidence: serde_json::Value,
    ) -> Finding {
        Finding {
            id: self.id.to_string(),
            title: self.title.to_string(),
            scenario,
            status,
            severity: self.severity,
            resource: resource.into(),
            message: message.into(),
            evidence,
            remediation: self.remediation.to_string(),
            references: self.references.iter().map(|s| s.to_string()).collect(),
            duration_secs: None,
        }
    }
}

pub trait Rule: Send + Sync {
    fn meta(&self) -> &'static RuleMeta;
    fn check(&self, cx: &AuditContext) -> Vec<Finding>;
}
