//! The list of rules, in report order.

use super::*;
use crate::findings::{Finding, Status};

static RULES: &[&dyn Rule] = &[
    &bucket_location::BucketLocation,
    &bucket_public_access_block::BucketPublicAccessBlock,
    &account_public_access_block::AccountPublicAccessBlock,
    &bucket_default_encryption::BucketDefaultEncryption,
    &bucket_object_ownership::BucketObjectOwnership,
    &bucket_tls_only::BucketTlsOnly,
    &role_exists::RoleExists,
    &role_trust::RoleTrust,
    &role_source_permissions::RoleSourcePermissions,
    &role_destination_permissions::RoleDestinationPermissions,
    &role_least_privilege::RoleLeastPrivilege,
    &bucket_versioning::BucketVersioning,
    &replication_configured::ReplicationConfigured,
    &replication_role_matches::ReplicationRoleMatches,
    &replication_rule_enabled::ReplicationRuleEnabled,
    &replication_filter::ReplicationFilter,
    &replication_unexpected_rules::ReplicationUnexpectedRules,
    &replication_destination::ReplicationDestination,
    &replication_owner_override::ReplicationOwnerOverride,
    &replication_rtc::ReplicationRtc,
    &replication_delete_markers::ReplicationDeleteMarkers,
    &destination_policy_allows_role::DestinationPolicyAllowsRole,
    &access_expectation::AccessExpectation,
    &bucket_policy_grantees::BucketPolicyGrantees,
    &who_can::WhoCanRule,
    &replication_kms::ReplicationKms,
    &replication_kms_permissions::ReplicationKmsPermissions,
    &encrypted_replica_readable::EncryptedReplicaReadable,
    &prefix_scope::PrefixScope,
    &uploader_restriction::UploaderRestriction,
    &log_export_permissions::LogExportPermissions,
    &replication_metrics::ReplicationMetrics,
    &trail_data_events::TrailDataEvents,
    &config_recorder::ConfigRecorder,
    &config_rule_agreement::ConfigRuleAgreement,
];

pub fn all_rules() -> &'static [&'static dyn Rule] {
    RULES
}

/// Metadata of every rule, including those that run after the others and the canary's checks.
pub fn all_metas() -> Vec<&'static RuleMeta> {
    let mut v: Vec<&'static RuleMeta> = RULES.iter().map(|r| r.meta()).collect();
    v.push(&change_history::META);
    v.extend(crate::canary::meta::ALL.iter().copied());
    v
}

pub fn find_rule(id: &str) -> Option<&'static RuleMeta> {
    all_metas().into_iter().find(|m| m.id == id)
}

/// Run every rule. A rule that panics (a bug) becomes an `error` finding for that rule rather
/// than taking the audit down: the other rules' verdicts are still worth reporting.
pub fn run_all(cx: &AuditContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for rule in RULES {
        out.extend(guarded(rule.meta(), || rule.check(cx)));
    }
    let later = guarded(&change_history::META, || {
        change_history::check_after(cx, &out)
    });
    out.extend(later);
    out
}

fn guarded(meta: &'static RuleMeta, f: impl FnOnce() -> Vec<Finding>) -> Vec<Finding> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(findings) => findings,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let scenario = meta
                .scenarios
                .first()
                .copied()
                .unwrap_or(crate::findings::Scenario::Step1);
            vec![meta.finding(
                scenario,
                Status::Error,
                "-",
                format!("internal error in rule {}: {msg} (please report)", meta.id),
                serde_json::json!({ "panic": msg }),
            )]
        }
    }
}
