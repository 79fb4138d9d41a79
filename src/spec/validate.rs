//! Semantic validation of a parsed spec: references resolve, ids and ARNs are well formed,
//! and combinations AWS itself would reject are caught before any call is made.

use super::{Credentials, Spec};
use crate::arn::{is_account_id, Arn};
use std::collections::BTreeSet;
use std::ops::Range;
use toml::Spanned;

type VResult = Result<(), (Range<usize>, String)>;

fn err<T>(at: &Spanned<T>, msg: impl Into<String>) -> VResult {
    Err((at.span(), msg.into()))
}

pub(super) fn validate(spec: &Spec) -> VResult {
    if *spec.version.get_ref() != 1 {
        return err(
            &spec.version,
            format!(
                "unsupported spec version {}; expected 1",
                spec.version.get_ref()
            ),
        );
    }
    if spec.accounts.is_empty() {
        return err(
            &spec.version,
            "expected at least one [accounts.<alias>] table",
        );
    }
    for (alias, a) in &spec.accounts {
        if !is_account_id(a.account_id.get_ref()) {
            return err(
                &a.account_id,
                format!("accounts.{alias}.account_id: expected a 12-digit AWS account id"),
            );
        }
        if !is_region(a.region.get_ref()) {
            return err(
                &a.region,
                format!(
                    "accounts.{alias}.region: expected an AWS region such as ap-southeast-1, got '{}'",
                    a.region.get_ref()
                ),
            );
        }
        check_credentials(&a.credentials, &a.account_id, &format!("accounts.{alias}"))?;
    }
    for (alias, b) in &spec.buckets {
        if !is_bucket_name(b.name.get_ref()) {
            return err(
                &b.name,
                format!("buckets.{alias}.name: '{}' is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, '.', '-', starting and ending with a letter or digit)", b.name.get_ref()),
            );
        }
        if !spec.accounts.contains_key(b.account.get_ref()) {
            return err(
                &b.account,
                format!(
                    "buckets.{alias}.account: no account with alias '{}' (known: {})",
                    b.account.get_ref(),
                    keys(spec.accounts.keys())
                ),
            );
        }
        if !is_region(b.region.get_ref()) {
            return err(
                &b.region,
                format!("buckets.{alias}.region: expected an AWS region"),
            );
        }
        if let Some(enc) = &b.default_encryption {
            if !["AES256", "aws:kms", "aws:kms:dsse"].contains(&enc.get_ref().as_str()) {
                return err(
                    enc,
                    format!("buckets.{alias}.default_encryption: expected one of AES256, aws:kms, aws:kms:dsse"),
                );
            }
        }
        if let Some(k) = &b.kms_key_arn {
            if !is_kms_key_arn(k.get_ref()) {
                return err(
                    k,
                    format!("buckets.{alias}.kms_key_arn: expected arn:aws:kms:<region>:<account>:key/<id> (or alias/<name>)"),
                );
            }
            key_in_region(
                k,
                b.region.get_ref(),
                &format!("buckets.{alias}.kms_key_arn"),
            )?;
            let kms = b
                .default_encryption
                .as_ref()
                .is_some_and(|e| e.get_ref().starts_with("aws:kms"));
            if !kms {
                return err(
                    k,
                    format!("buckets.{alias}.kms_key_arn needs default_encryption = \"aws:kms\""),
                );
            }
        }
        if let Some(o) = &b.object_ownership {
            if ![
                "BucketOwnerEnforced",
                "BucketOwnerPreferred",
                "ObjectWriter",
            ]
            .contains(&o.get_ref().as_str())
            {
                return err(
                    o,
                    format!("buckets.{alias}.object_ownership: expected BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter"),
                );
            }
        }
    }
    let mut names = BTreeSet::new();
    for b in spec.buckets.values() {
        if !names.insert(b.name.get_ref()) {
            return err(
                &b.name,
                format!("bucket name '{}' is used twice", b.name.get_ref()),
            );
        }
    }
    for (alias, p) in &spec.principals {
        if !is_iam_principal_arn(p.arn.get_ref()) {
            return err(
                &p.arn,
                format!("principals.{alias}.arn: expected arn:aws:iam::<account>:user/<name> or :role/<name>"),
            );
        }
        if let Some(c) = &p.credentials {
            check_credentials(c, &p.arn, &format!("principals.{alias}"))?;
        }
    }
    let mut ids = BTreeSet::new();
    for r in &spec.replication {
        if !ids.insert(r.id.get_ref()) {
            return err(
                &r.id,
                format!("replication id '{}' is used twice", r.id.get_ref()),
            );
        }
        bucket_ref(spec, &r.source, "replication.source")?;
        principal_ref(spec, &r.role, "replication.role")?;
        let role_arn = spec.principals[r.role.get_ref()].arn.get_ref();
        if Arn::split(role_arn).and_then(|a| a.resource_type()) != Some("role") {
            return err(
                &r.role,
                format!(
                    "replication.role: principal '{}' is not an IAM role",
                    r.role.get_ref()
                ),
            );
        }
        if r.rules.is_empty() {
            return err(
                &r.id,
                "replication: expected at least one [[replication.rules]]",
            );
        }
        for rule in &r.rules {
            bucket_ref(spec, &rule.destination, "replication.rules.destination")?;
            if rule.destination.get_ref() == r.source.get_ref() {
                return err(
                    &rule.destination,
                    "replication.rules.destination: a bucket cannot replicate into itself",
                );
            }
            if rule.rtc && rule.metrics == Some(false) {
                return err(
                    &rule.destination,
                    "replication.rules: rtc = true requires metrics (S3 Replication Time Control always enables replication metrics)",
                );
            }
            if rule.delete_marker_replication && !rule.tags.is_empty() {
                return err(
                    &rule.destination,
                    "replication.rules: delete_marker_replication cannot be combined with a tag filter (S3 rejects such a rule)",
                );
            }
            match (&rule.replica_kms_key_arn, rule.sse_kms_encrypted_objects) {
                (Some(k), _) if !is_kms_key_arn(k.get_ref()) => {
                    return err(k, "replica_kms_key_arn: expected arn:aws:kms:<region>:<account>:key/<id> (or alias/<name>)")
                }
                (Some(k), _) if spec.buckets.contains_key(rule.destination.get_ref()) => {
                    let dest = &spec.buckets[rule.destination.get_ref()];
                    key_in_region(k, dest.region.get_ref(), "replica_kms_key_arn")?;
                    if !rule.sse_kms_encrypted_objects {
                        return err(k, "replica_kms_key_arn needs sse_kms_encrypted_objects = true (S3 only re-encrypts SSE-KMS objects it was told to replicate)");
                    }
                }
                (Some(k), false) => {
                    return err(k, "replica_kms_key_arn needs sse_kms_encrypted_objects = true (S3 only re-encrypts SSE-KMS objects it was told to replicate)")
                }
                (None, true) => {
                    return err(&rule.destination, "sse_kms_encrypted_objects = true needs replica_kms_key_arn (S3 requires a replica key for SSE-KMS objects)")
                }
                _ => {}
            }
        }
    }
    for a in &spec.access {
        principal_ref(spec, &a.principal, "access.principal")?;
        bucket_ref(spec, &a.bucket, "access.bucket")?;
        if a.allow.is_empty() && a.deny.is_empty() {
            return err(
                &a.principal,
                "access: expected at least one action in allow or deny",
            );
        }
        for act in a.allow.iter().chain(a.deny.iter()) {
            if !is_concrete_s3_action(act.get_ref()) {
                return err(
                    act,
                    format!("access: '{}' is not a concrete S3 action such as s3:GetObject (no wildcards)", act.get_ref()),
                );
            }
        }
    }
    if let Some(a) = &spec.scenario_a {
        bucket_ref(spec, &a.bucket, "scenario_a.bucket")?;
        if !is_kms_key_arn(a.kms_key_arn.get_ref()) {
            return err(
                &a.kms_key_arn,
                "scenario_a.kms_key_arn: expected a KMS key ARN",
            );
        }
        if let Some(b) = spec.buckets.get(a.bucket.get_ref()) {
            key_in_region(&a.kms_key_arn, b.region.get_ref(), "scenario_a.kms_key_arn")?;
        }
        for r in &a.readers {
            principal_ref(spec, r, "scenario_a.readers")?;
        }
    }
    if let Some(b) = &spec.scenario_b {
        if spec.replication_by_id(b.replication.get_ref()).is_none() {
            return err(
                &b.replication,
                format!(
                    "scenario_b.replication: no [[replication]] with id '{}'",
                    b.replication.get_ref()
                ),
            );
        }
    }
    if let Some(c) = &spec.scenario_c {
        bucket_ref(spec, &c.bucket, "scenario_c.bucket")?;
        for p in c.uploaders.iter().chain(c.non_uploaders.iter()) {
            principal_ref(spec, p, "scenario_c")?;
        }
    }
    if let Some(d) = &spec.scenario_d {
        bucket_ref(spec, &d.log_bucket, "scenario_d.log_bucket")?;
        bucket_ref(spec, &d.backup_bucket, "scenario_d.backup_bucket")?;
        if spec.replication_by_id(d.replication.get_ref()).is_none() {
            return err(
                &d.replication,
                format!(
                    "scenario_d.replication: no [[replication]] with id '{}'",
                    d.replication.get_ref()
                ),
            );
        }
        if !is_region(d.logs_region.get_ref()) {
            return err(
                &d.logs_region,
                "scenario_d.logs_region: expected an AWS region",
            );
        }
    }
    let mut seen = BTreeSet::new();
    for w in &spec.who_can {
        bucket_ref(spec, &w.bucket, "who_can.bucket")?;
        if !seen.insert(w.bucket.get_ref()) {
            return err(
                &w.bucket,
                format!(
                    "who_can: bucket '{}' already has a [[who_can]] entry",
                    w.bucket.get_ref()
                ),
            );
        }
        if super::AccessClass::ALL
            .iter()
            .all(|c| w.class(*c).is_none())
        {
            return err(
                &w.bucket,
                "who_can: expected at least one of read, write, control, decrypt",
            );
        }
        if w.decrypt.is_some() {
            let kms = spec.buckets[w.bucket.get_ref()]
                .default_encryption
                .as_ref()
                .is_some_and(|e| e.get_ref().starts_with("aws:kms"));
            if !kms {
                return err(
                    &w.bucket,
                    format!(
                        "who_can.decrypt: bucket '{}' has no SSE-KMS default encryption (default_encryption = \"aws:kms\") whose key to check",
                        w.bucket.get_ref()
                    ),
                );
            }
        }
        for c in super::AccessClass::ALL {
            for e in w.class(c).unwrap_or_default() {
                if super::WhoCanEntry::resolve(spec, e.get_ref()).is_none() {
                    return err(
                        e,
                        format!(
                            "who_can.{c}: '{}' is not a principal alias (known: {}), an IAM ARN or ARN pattern (arn:aws:iam::<account>:user/<name>, :role/<name>, :root; * and ? allowed), a service principal (<name>.amazonaws.com), \"anonymous\" or \"organization:o-...\"",
                            e.get_ref(),
                            keys(spec.principals.keys())
                        ),
                    );
                }
            }
        }
    }
    if let Some(e) = &spec.evidence {
        for b in &e.data_events_for {
            bucket_ref(spec, b, "evidence.data_events_for")?;
        }
        for a in &e.config_recording_in {
            if !spec.accounts.contains_key(a.get_ref()) {
                return err(
                    a,
                    format!(
                        "evidence.config_recording_in: no account with alias '{}'",
                        a.get_ref()
                    ),
                );
            }
        }
    }
    Ok(())
}

fn keys<'a>(it: impl Iterator<Item = &'a String>) -> String {
    it.map(String::as_str).collect::<Vec<_>>().join(", ")
}

fn bucket_ref(spec: &Spec, r: &Spanned<String>, what: &str) -> VResult {
    if spec.buckets.contains_key(r.get_ref()) {
        Ok(())
    } else {
        err(
            r,
            format!(
                "{what}: no bucket with alias '{}' (known: {})",
                r.get_ref(),
                keys(spec.buckets.keys())
            ),
        )
    }
}

fn principal_ref(spec: &Spec, r: &Spanned<String>, what: &str) -> VResult {
    if spec.principals.contains_key(r.get_ref()) {
        Ok(())
    } else {
        err(
            r,
            format!(
                "{what}: no principal with alias '{}' (known: {})",
                r.get_ref(),
                keys(spec.principals.keys())
            ),
        )
    }
}

fn check_credentials<T>(c: &Credentials, at: &Spanned<T>, what: &str) -> VResult {
    if c.profile.is_some() && c.role_arn.is_some() {
        return err(
            at,
            format!("{what}.credentials: give either profile or role_arn (use source_profile to assume a role from a profile)"),
        );
    }
    if c.role_arn.is_none() && (c.external_id.is_some() || c.session_name.is_some()) {
        return err(
            at,
            format!("{what}.credentials: external_id and session_name need role_arn"),
        );
    }
    if let Some(r) = &c.role_arn {
        if !is_iam_principal_arn(r) || Arn::split(r).and_then(|a| a.resource_type()) != Some("role")
        {
            return err(
                at,
                format!("{what}.credentials.role_arn: expected arn:aws:iam::<account>:role/<name>"),
            );
        }
    }
    Ok(())
}

/// S3 can only use a KMS key in the bucket's own Region: "When you use SSE-KMS encryption with an
/// S3 bucket, the AWS KMS keys must be in the same Region as the bucket"
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html>), and a replica
/// key "must have been created in the same AWS Region as the destination bucket"
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html>).
/// A spec expecting anything else describes a set-up that cannot work.
fn key_in_region(k: &Spanned<String>, bucket_region: &str, what: &str) -> VResult {
    match super::arn_region(k.get_ref()) {
        Some(r) if r != bucket_region => err(
            k,
            format!("{what}: the key is in {r} but the bucket is in {bucket_region}; S3 can only use a KMS key in the bucket's Region"),
        ),
        _ => Ok(()),
    }
}

/// `ap-southeast-1`, `us-gov-west-1`, `eu-central-2`, `cn-north-1`...
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
pub fn is_bucket_name(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !s.contains("..")
}

pub fn is_iam_principal_arn(s: &str) -> bool {
    Arn::parse(s).is_ok_and(|a| {
        a.service == "iam"
            && a.region.is_empty()
            && is_account_id(a.account)
            && (a.resource.starts_with("user/") || a.resource.starts_with("role/"))
            && a.resource.len() > 5
    })
}

pub fn is_kms_key_arn(s: &str) -> bool {
    Arn::parse(s).is_ok_and(|a| {
        a.service == "kms"
            && is_region(a.region)
            && is_account_id(a.account)
            && (a.resource.starts_with("key/") || a.resource.starts_with("alias/"))
            && a.resource.len() > 4
    })
}

/// An IAM or STS principal ARN, or a pattern of one: `arn:<partition>:iam::<account>:<what>`
/// (or `sts`), where `*` and `?` may stand for any part but the prefix.
pub fn is_principal_arn_pattern(s: &str) -> bool {
    let wild = |p: &str| p.contains(['*', '?']);
    Arn::split(s).is_some_and(|a| {
        (a.partition.starts_with("aws") || wild(a.partition))
            && (a.service == "iam" || a.service == "sts" || wild(a.service))
            && (a.region.is_empty() || a.region == "*")
            && (is_account_id(a.account)
                || (wild(a.account)
                    && a.account
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'*' || b == b'?')))
            && !a.resource.is_empty()
    })
}

/// An AWS service principal such as `logs.ap-southeast-1.amazonaws.com`
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-services>).
pub fn is_service_principal(s: &str) -> bool {
    let host = s
        .strip_suffix(".amazonaws.com")
        .or_else(|| s.strip_suffix(".amazonaws.com.cn"));
    host.is_some_and(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    })
}

/// An AWS Organizations id, `o-` and 10 to 32 lowercase letters or digits
/// (<https://docs.aws.amazon.com/organizations/latest/APIReference/API_Organization.html>).
pub fn is_org_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|r| {
        (10..=32).contains(&r.len())
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn is_concrete_s3_action(s: &str) -> bool {
    match s.split_once(':') {
        Some((svc, name)) => {
            svc.eq_ignore_ascii_case("s3")
                && !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}
