//! The findings a rule gives when it cannot judge: a value not read (`unknown`), anything else
//! that stopped the check (`error`), nothing to check (`skip`). Below the walk in
//! [`super::support`], so that a rule the walk names (`replication-configured`, for its "reported
//! by") can use them without importing the walk back.

use super::RuleMeta;
use crate::findings::{Finding, Scenario, Status};
use crate::snapshot::Fetched;
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
