//! KMS questions rules ask the policy engine: a request S3 makes to KMS on a principal's behalf,
//! with the key resolved and the encryption context S3 uses.

use super::support::Asked;
use super::AuditContext;
use crate::access::kms::{
    evaluate_under, key_metadata, key_unusable, resolved_key_arn, S3KmsContext,
};
use crate::access::{self, key_policy, IdentitySide, Leg, Query};
use crate::snapshot::Fetched;
use serde_json::json;

/// Evaluate `who` doing `action` with `key` (a key or alias reference the snapshot holds),
/// identity policies and key policy together, under every encryption context `context` allows.
/// Errors name what could not be read or decided.
pub fn ask_kms(
    cx: &AuditContext,
    who: &IdentitySide,
    action: &str,
    key: &str,
    context: &S3KmsContext,
) -> Result<Asked, crate::access::Error> {
    let key_arn = resolved_key_arn(cx.snap, key)?;
    let kp = key_policy(cx.snap, key)?;
    let key_account = crate::spec::arn_account(&key_arn).unwrap_or_default();
    // Grants are considered along with the key policy and IAM policies, and can allow but not
    // deny (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html): a request the
    // policies leave implicitly denied is allowed by a grant to the caller whose constraints the
    // request's encryption context meets. Grants that were not listed add nothing here.
    let grants = crate::access::grants::key_grants(cx.snap, key)
        .or_else(|_| crate::access::grants::key_grants(cx.snap, &key_arn))
        .unwrap_or_default();
    let eval = evaluate_under(context, &who.account, |ctx| {
        let q = Query {
            action,
            resource: &key_arn,
            resource_account: key_account,
            resource_policy: Some(&kp),
            restrict_public_buckets: false,
            extra_context: ctx,
        };
        let mut e = access::evaluate(cx.snap, who, &q, Leg::Full);
        if e.decision == crate::policy::Decision::ImplicitDeny {
            let encryption_context = ctx
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("kms:EncryptionContext:")
                        .map(|k| (k.to_string(), v.clone()))
                })
                .collect();
            if let Some(g) =
                crate::access::grants::granting(grants, &who.arn, action, &encryption_context)
            {
                e.decision = crate::policy::Decision::Allowed;
                e.deciding.clear();
                e.reasons = vec![crate::access::grants::reason(g)];
            }
        }
        e
    })?;
    let mut evidence = access::evidence(action, &key_arn, Leg::Full, &eval);
    evidence["encryption_context"] = json!(context.arns);
    evidence["bucket_key"] = match &context.bucket_key {
        Ok(b) => json!(b),
        Err(e) => json!({"unknown": e}),
    };
    Ok(Asked { eval, evidence })
}

/// Why a key cannot be used for a bucket in `region` (from DescribeKey), `Ok(vec![])` when it
/// can; `Err` when the key could not be described (`Ok` with a problem when it does not exist).
pub fn key_problems(
    cx: &AuditContext,
    key: &str,
    region: &str,
) -> Result<Vec<String>, crate::access::Error> {
    match key_metadata(cx.snap, key) {
        Fetched::Ok { value } => Ok(key_unusable(value, region)),
        Fetched::Absent { reason } => Ok(vec![format!("key {key} does not exist ({reason})")]),
        f => Err(crate::access::Error::Unreadable(format!(
            "key {key} could not be described: {}",
            f.why_missing().unwrap_or_default()
        ))),
    }
}

/// What a rule found about a live key reference against the spec's key.
#[derive(Default)]
pub struct KeyCheck {
    /// Definite problems (wrong key, unusable key).
    pub problems: Vec<String>,
    /// What could not be read or resolved.
    pub unknowns: Vec<String>,
    /// Key ARNs as resolved, for evidence.
    pub expected_key_arn: Option<String>,
    pub actual_key_arn: Option<String>,
}

/// Compare a live key reference (already qualified, see `access::kms::live_*_key`) with the
/// spec's by key ARN, and check the live key can serve a bucket in `region`.
pub fn check_live_key(cx: &AuditContext, want: &str, live: &str, region: &str) -> KeyCheck {
    use crate::access::kms::kms_key_matches;
    let mut k = KeyCheck::default();
    match resolved_key_arn(cx.snap, want) {
        Ok(a) => k.expected_key_arn = Some(a),
        Err(e) => k.unknowns.push(e.to_string()),
    }
    match resolved_key_arn(cx.snap, live) {
        Ok(a) => k.actual_key_arn = Some(a),
        Err(e) => k.unknowns.push(e.to_string()),
    }
    if let Some(actual) = &k.actual_key_arn {
        match kms_key_matches(want, k.expected_key_arn.as_deref(), actual) {
            Some(true) => {}
            Some(false) => k.problems.push(format!(
                "key is {live}{}, expected {want}{}",
                if live != actual.as_str() {
                    format!(" (key {actual})")
                } else {
                    String::new()
                },
                match &k.expected_key_arn {
                    Some(e) if e != want => format!(" (key {e})"),
                    _ => String::new(),
                }
            )),
            None => {}
        }
    }
    match key_problems(cx, live, region) {
        Ok(p) => k.problems.extend(p),
        Err(e) => {
            // The reference itself says the Region (an alias lives in its key's Region): a key in
            // another Region is a fail even when it could not be described.
            // https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
            match crate::spec::arn_region(live) {
                Some(r) if !region.is_empty() && r != region => k.problems.push(format!(
                    "key {live} is in {r}, not in the bucket's Region {region}"
                )),
                _ => k.unknowns.push(e.to_string()),
            }
        }
    }
    k
}
