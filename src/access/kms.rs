//! How S3 uses KMS for an object, as AWS documents it, so that rules ask the policy engine the
//! question S3 will actually ask KMS: which key (aliases resolved to the key ARN), which action,
//! and which encryption context.
//!
//! Why this needs care: with S3 Bucket Keys the encryption context S3 sends is the *bucket* ARN,
//! not the object ARN ("If you use SSE-KMS without enabling an S3 Bucket Key, you use the object
//! ARN as your encryption context ... if you use SSE-KMS and enable an S3 Bucket Key, you use the
//! bucket ARN", <https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context>),
//! so a key or IAM policy conditioned on `kms:EncryptionContext:aws:s3:arn` gives a different
//! answer for the two; and replication with a Bucket Key on the replica needs `kms:Decrypt` on the
//! replica key besides `kms:Encrypt`
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html#bk-replication>).
//! Everything here is pure: it reads the spec and the snapshot only.

use super::Error;
use crate::arn::Arn;
use crate::policy::Evaluation;
use crate::snapshot::{BucketState, Fetched, KmsKeyMetadata, ReplicationRule, Snapshot};
use crate::spec::{self, Spec};
use std::collections::BTreeMap;

/// A key reference as a bucket or replication configuration holds it (key ARN, alias ARN, bare key
/// id, or `alias/name`), made into an ARN in the account and region it resolves in, so that it
/// can be described and compared. KMS resolves a bare id or alias name in the caller's account and
/// region ("If you use a KMS key alias instead, then AWS KMS resolves the key within the
/// requester's account", <https://docs.aws.amazon.com/AmazonS3/latest/API/API_EncryptionConfiguration.html>;
/// <https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html>); the caller names
/// that account and region.
pub fn qualify_key_reference(reference: &str, account: &str, region: &str) -> String {
    let reference = reference.trim();
    if reference.starts_with("arn:") {
        return reference.to_string();
    }
    let partition = crate::aws::partition_of_region(region);
    match reference.strip_prefix("alias/") {
        Some(name) => format!("arn:{partition}:kms:{region}:{account}:alias/{name}"),
        None => format!("arn:{partition}:kms:{region}:{account}:key/{reference}"),
    }
}

/// The Region a spec bucket is in: as read (`GetBucketLocation`), else as the spec says.
fn bucket_region(spec: &Spec, buckets: &BTreeMap<String, BucketState>, alias: &str) -> String {
    buckets
        .get(alias)
        .and_then(|b| b.region.value().cloned())
        .or_else(|| spec.bucket(alias).map(|b| b.region.get_ref().clone()))
        .unwrap_or_default()
}

/// The key a bucket's live default encryption names, as an ARN: a bare id or alias name
/// resolves in the bucket owner's account and the bucket's Region.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ServerSideEncryptionByDefault.html>
pub fn live_default_key(
    spec: &Spec,
    buckets: &BTreeMap<String, BucketState>,
    alias: &str,
) -> Option<String> {
    let b = buckets.get(alias)?;
    let rule = b.encryption.value()?.first()?;
    if !rule.sse_algorithm.starts_with("aws:kms") {
        return None;
    }
    let k = rule.kms_master_key_id.as_deref()?;
    let account = spec.bucket_account_id(alias).unwrap_or_default();
    Some(qualify_key_reference(
        k,
        account,
        &bucket_region(spec, buckets, alias),
    ))
}

/// The key a live replication rule names for replicas (`ReplicaKmsKeyID`), as an ARN: a bare id
/// or alias name resolves in the replicating (source bucket's) account, in the destination
/// bucket's Region, the only Region whose keys S3 can use for it.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html>
pub fn live_replica_key(
    spec: &Spec,
    buckets: &BTreeMap<String, BucketState>,
    source_alias: &str,
    rule: &ReplicationRule,
) -> Option<String> {
    let k = rule.destination.replica_kms_key_id.as_deref()?;
    let account = spec.bucket_account_id(source_alias).unwrap_or_default();
    let dest = spec.buckets.iter().find(|(_, b)| {
        rule.destination
            .bucket
            .ends_with(&format!(":::{}", b.name.get_ref()))
    });
    let region = match dest {
        Some((d, _)) => bucket_region(spec, buckets, d),
        None => bucket_region(spec, buckets, source_alias),
    };
    Some(qualify_key_reference(k, account, &region))
}

/// Whether a key reference names a key (not an alias).
pub fn is_key_arn(reference: &str) -> bool {
    Arn::split(reference).is_some_and(|a| a.kms_key().is_some())
}

/// The key ARN a reference resolves to, from the collector's `kms:DescribeKey` (which accepts key
/// and alias ARNs and returns the key's ARN). A key ARN stands for itself even when DescribeKey
/// could not be read; an alias that was not resolved is an error naming why.
pub fn resolved_key_arn(snap: &Snapshot, reference: &str) -> Result<String, Error> {
    key_arn_from(reference, snap.kms_keys.get(reference).map(|k| &k.metadata))
}

/// KMS key references (as ARNs) with what `kms:DescribeKey` said of each: the snapshot's
/// `kms_keys`, or the aliases the canary and reconcile describe themselves
/// (`collect::kms::describe_aliases`). A key ARN needs no entry: it stands for itself.
pub type Described = BTreeMap<String, Fetched<KmsKeyMetadata>>;

/// [`resolved_key_arn`] over a [`Described`] map (the canary's and reconcile's): one resolution
/// for the audit rules, the canary and reconcile.
pub fn resolve_in(described: &Described, reference: &str) -> Result<String, Error> {
    key_arn_from(reference, described.get(reference))
}

/// The key ARN a reference resolves to, given what DescribeKey said of it (`None`: not asked).
fn key_arn_from(
    reference: &str,
    described: Option<&Fetched<KmsKeyMetadata>>,
) -> Result<String, Error> {
    match described {
        Some(Fetched::Ok { value }) if !value.arn.is_empty() => Ok(value.arn.clone()),
        _ if is_key_arn(reference) => Ok(reference.to_string()),
        Some(f) => Err(Error::Undecided(format!(
            "KMS alias {reference} could not be resolved to a key: {}",
            f.why_missing()
                .unwrap_or_else(|| "DescribeKey returned no ARN".into())
        ))),
        None => Err(Error::NotCollected(format!("KMS key {reference}"))),
    }
}

/// The DescribeKey result of a reference, or why there is none.
pub fn key_metadata<'a>(snap: &'a Snapshot, reference: &str) -> Fetched<&'a KmsKeyMetadata> {
    match snap.kms_keys.get(reference) {
        Some(k) => k.metadata.as_ref(),
        None => Fetched::unknown(
            "kms:DescribeKey",
            None,
            format!("KMS key {reference} was not collected"),
        ),
    }
}

/// Whether two key references name the same key, comparing key ARNs: `expected` as the spec or a
/// configuration names it (perhaps an alias ARN) with the key ARN it resolved to, `actual` as S3
/// reports it on an object (HeadObject's `x-amz-server-side-encryption-aws-kms-key-id`, a key ARN
/// or, from some callers, a bare key id). `None` when it cannot be decided: an alias that was not
/// resolved. Pure, for the canary as much as for rules.
pub fn kms_key_matches(
    expected: &str,
    expected_resolved: Option<&str>,
    actual: &str,
) -> Option<bool> {
    let expected_key = match expected_resolved {
        Some(k) => k,
        None if is_key_arn(expected) || !expected.contains("alias/") => expected,
        None => return None,
    };
    if actual.contains("alias/") {
        return None;
    }
    if expected_key.starts_with("arn:") && actual.starts_with("arn:") {
        Some(expected_key == actual)
    } else {
        Some(key_id(expected_key) == key_id(actual))
    }
}

/// The key id of a KMS key reference: the `<id>` of a key ARN
/// (`arn:<partition>:kms:<region>:<account>:key/<id>`) or of `key/<id>`, and a bare key id as it
/// is (<https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id>). The one
/// reading of it: the rules, the grants the collector lists, and object keys all use it.
pub fn key_id(reference: &str) -> &str {
    Arn::split(reference)
        .and_then(|a| a.kms_key())
        .or_else(|| reference.strip_prefix("key/"))
        .unwrap_or(reference)
}

/// Whether the key S3 reports on an object (`actual`: HeadObject's
/// `x-amz-server-side-encryption-aws-kms-key-id`, a key ARN or a bare key id) is the key that
/// `reference` names (a key ARN, key id, or alias ARN as the spec or a configuration names it;
/// an alias name is qualified first with [`qualify_key_reference`]). `resolved` is what the
/// reference resolved to ([`resolved_key_arn`] / [`resolve_in`]). An alias that did not resolve,
/// or an `actual` that is itself an alias, cannot be decided: `Err` naming why, never a pass
/// and never a false fail. ReplicaKmsKeyID is a "Key ARN or Alias ARN"
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_EncryptionConfiguration.html>), and
/// S3 reports the key ARN on the object, so an alias must be resolved to be compared.
pub fn same_key(
    reference: &str,
    resolved: &Result<String, Error>,
    actual: &str,
) -> Result<bool, Error> {
    match kms_key_matches(reference, resolved.as_deref().ok(), actual) {
        Some(b) => Ok(b),
        None if actual.contains("alias/") => Err(Error::Undecided(format!(
            "the object names its KMS key by alias ({actual}), not by key ARN"
        ))),
        None => Err(match resolved {
            Err(why) => why.clone(),
            Ok(_) => Error::Undecided(format!("KMS alias {reference} was not resolved to a key")),
        }),
    }
}

/// Why a key cannot serve a bucket in `bucket_region`: not enabled (disabled, pending deletion,
/// pending import, unavailable), in another Region, or not a symmetric encryption key. Empty when
/// it can.
///
/// - Key states: a key that is not `Enabled` cannot be used in cryptographic operations
///   (<https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html>).
/// - Region: "When you use SSE-KMS encryption with an S3 bucket, the AWS KMS keys must be in the
///   same Region as the bucket" (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html>);
///   for replicas "The KMS key must have been created in the same AWS Region as the destination
///   bucket" (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html>).
/// - "Amazon S3 only supports symmetric encryption KMS keys"
///   (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_EncryptionConfiguration.html>).
pub fn key_unusable(meta: &KmsKeyMetadata, bucket_region: &str) -> Vec<String> {
    let mut out = Vec::new();
    let state =
        meta.key_state
            .as_deref()
            .unwrap_or(if meta.enabled { "Enabled" } else { "Disabled" });
    if !meta.enabled || state != "Enabled" {
        out.push(format!("key {} is {state}, not Enabled", meta.arn));
    }
    if let Some(r) = spec::arn_region(&meta.arn) {
        if !bucket_region.is_empty() && r != bucket_region {
            out.push(format!(
                "key {} is in {r}, not in the bucket's Region {bucket_region}",
                meta.arn
            ));
        }
    }
    if let Some(s) = meta.key_spec.as_deref() {
        if s != "SYMMETRIC_DEFAULT" {
            out.push(format!(
                "key {} is {s}, not a symmetric encryption key",
                meta.arn
            ));
        }
    }
    out
}

/// Whether new SSE-KMS objects of a bucket use an S3 Bucket Key, from its live default
/// encryption: the `BucketKeyEnabled` of an `aws:kms`/`aws:kms:dsse` default. No default
/// encryption, or a non-KMS default, means no Bucket Key. An unreadable configuration is an
/// error naming the failed call.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html>
pub fn bucket_key_enabled(snap: &Snapshot, alias: &str) -> Result<bool, Error> {
    let b = snap
        .bucket(alias)
        .ok_or_else(|| Error::NotCollected(format!("bucket '{alias}'")))?;
    match &b.encryption {
        Fetched::Ok { value } => Ok(value.first().is_some_and(|r| {
            r.sse_algorithm.starts_with("aws:kms") && r.bucket_key_enabled == Some(true)
        })),
        Fetched::Absent { .. } => Ok(false),
        f => Err(Error::Undecided(format!(
            "the S3 Bucket Key setting of {} is unknown ({})",
            b.name,
            f.why_missing().unwrap_or_default()
        ))),
    }
}

/// Either of two Bucket-Key settings: true when one is known true, false when both are known
/// false, unknown otherwise.
pub fn either(a: Result<bool, Error>, b: Result<bool, Error>) -> Result<bool, Error> {
    match (a, b) {
        (Ok(true), _) | (_, Ok(true)) => Ok(true),
        (Ok(false), Ok(false)) => Ok(false),
        (Err(e), Ok(false)) | (Ok(false), Err(e)) => Err(e),
        (Err(x), Err(y)) => Err(Error::Both(Box::new(x), Box::new(y))),
    }
}

/// Whether an object of a bucket is encrypted with an S3 Bucket Key: the bucket's own setting,
/// or — for an object under a prefix the spec replicates into this bucket as SSE-KMS — the
/// source bucket's too, since a replica keeps the source object's Bucket-Key setting
/// ("the replica object maintains its S3 Bucket Key encryption settings in the destination
/// bucket", <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html#bucket-key-replication>;
/// "When an S3 Bucket Key is enabled for the source or destination bucket, the encryption context
/// will be the bucket's Amazon Resource Name (ARN)",
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html#bk-replication>).
pub fn object_bucket_key(
    spec: &Spec,
    snap: &Snapshot,
    bucket: &str,
    object_key: &str,
) -> Result<bool, Error> {
    let mut bk = bucket_key_enabled(snap, bucket);
    for r in &spec.replication {
        for rule in &r.rules {
            if rule.destination.get_ref() == bucket
                && rule.sse_kms_encrypted_objects
                && object_key.starts_with(rule.prefix_or_empty())
            {
                bk = either(bk, bucket_key_enabled(snap, r.source.get_ref()));
            }
        }
    }
    bk
}

/// The encryption context S3 uses for one object, as far as the live state tells.
#[derive(Debug, Clone, PartialEq)]
pub struct S3KmsContext {
    /// Whether an S3 Bucket Key is used (or why that is unknown).
    pub bucket_key: Result<bool, Error>,
    /// The value of `kms:EncryptionContext:aws:s3:arn`: the bucket ARN with a Bucket Key, the object
    /// ARN without; both when the Bucket-Key setting is unknown, so that a decision that does not
    /// depend on it can still be made.
    pub arns: Vec<String>,
    /// `kms:ViaService`: S3 in the bucket's Region.
    pub via_service: String,
}

impl S3KmsContext {
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context>,
    /// <https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service>
    pub fn new(
        bucket_key: Result<bool, Error>,
        bucket_arn: &str,
        object_arn: &str,
        region: &str,
    ) -> S3KmsContext {
        let arns = match &bucket_key {
            Ok(true) => vec![bucket_arn.to_string()],
            Ok(false) => vec![object_arn.to_string()],
            Err(_) => vec![bucket_arn.to_string(), object_arn.to_string()],
        };
        S3KmsContext {
            bucket_key,
            arns,
            via_service: format!("s3.{region}.amazonaws.com"),
        }
    }

    /// The request-context keys S3 adds when it calls KMS for `caller_account`, one set per
    /// possible encryption context.
    pub fn request_contexts(&self, caller_account: &str) -> Vec<Vec<(&'static str, String)>> {
        self.arns
            .iter()
            .map(|arn| {
                vec![
                    ("kms:ViaService", self.via_service.clone()),
                    ("kms:CallerAccount", caller_account.to_string()),
                    ("kms:EncryptionContext:aws:s3:arn", arn.clone()),
                ]
            })
            .collect()
    }

    /// For messages: which context was evaluated and why.
    pub fn describe(&self) -> String {
        match &self.bucket_key {
            Ok(true) => format!("S3 Bucket Key: encryption context {}", self.arns[0]),
            Ok(false) => format!("no S3 Bucket Key: encryption context {}", self.arns[0]),
            Err(e) => format!("{e}: evaluated with both the bucket and the object ARN as context"),
        }
    }
}

/// Evaluate a KMS request under every possible context of `cx`: the decision when they all agree,
/// else an error saying the answer depends on the Bucket-Key setting that could not be read.
pub fn evaluate_under(
    cx: &S3KmsContext,
    caller_account: &str,
    mut eval: impl FnMut(&[(&str, String)]) -> Evaluation,
) -> Result<Evaluation, Error> {
    let mut first: Option<Evaluation> = None;
    for ctx in cx.request_contexts(caller_account) {
        let e = eval(&ctx);
        match &first {
            None => first = Some(e),
            Some(f) if f.decision != e.decision => {
                return Err(Error::Undecided(format!(
                    "the decision depends on the encryption context ({}: {} with the bucket ARN, {} with the object ARN)",
                    match &cx.bucket_key {
                        Err(why) => why.to_string(),
                        _ => "S3 Bucket Key setting unknown".to_string(),
                    },
                    f.decision,
                    e.decision
                )))
            }
            Some(_) => {}
        }
    }
    first.ok_or_else(|| Error::Undecided("no encryption context to evaluate".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One reading of a key reference's id, used by the rules, the collector's grants and the
    /// object-key comparison alike.
    #[test]
    fn a_key_id_is_read_from_every_form_of_reference() {
        let id = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
        for r in [
            format!("arn:aws:kms:ap-southeast-2:271089868719:key/{id}"),
            format!("arn:aws-cn:kms:cn-north-1:271089868719:key/{id}"),
            format!("key/{id}"),
            id.to_string(),
        ] {
            assert_eq!(key_id(&r), id, "{r}");
        }
        let alias = "arn:aws:kms:ap-southeast-2:271089868719:alias/reports";
        assert_eq!(key_id(alias), alias, "an alias is not a key id");
    }
    use crate::snapshot::KmsKeyMetadata;

    fn meta(arn: &str, enabled: bool, state: &str) -> KmsKeyMetadata {
        KmsKeyMetadata {
            key_id: arn.rsplit('/').next().unwrap().into(),
            arn: arn.into(),
            enabled,
            key_state: Some(state.into()),
            key_manager: Some("CUSTOMER".into()),
            key_spec: Some("SYMMETRIC_DEFAULT".into()),
            key_usage: Some("ENCRYPT_DECRYPT".into()),
        }
    }

    #[test]
    fn references_are_qualified_in_the_callers_account_and_region() {
        assert_eq!(
            qualify_key_reference("alias/reports", "271089868719", "ap-southeast-2"),
            "arn:aws:kms:ap-southeast-2:271089868719:alias/reports"
        );
        assert_eq!(
            qualify_key_reference("9b8a", "271089868719", "cn-north-1"),
            "arn:aws-cn:kms:cn-north-1:271089868719:key/9b8a"
        );
        let arn = "arn:aws:kms:ap-southeast-2:271089868719:alias/x";
        assert_eq!(qualify_key_reference(arn, "1", "r"), arn);
    }

    #[test]
    fn keys_compare_by_key_arn_and_aliases_need_their_resolution() {
        let key = "arn:aws:kms:ap-southeast-2:271089868719:key/9b8a";
        let alias = "arn:aws:kms:ap-southeast-2:271089868719:alias/reports";
        assert_eq!(kms_key_matches(key, None, key), Some(true));
        assert_eq!(kms_key_matches(key, None, "9b8a"), Some(true));
        assert_eq!(kms_key_matches(alias, Some(key), key), Some(true));
        assert_eq!(
            kms_key_matches(
                alias,
                Some(key),
                "arn:aws:kms:ap-southeast-2:271089868719:key/dead"
            ),
            Some(false)
        );
        assert_eq!(kms_key_matches(alias, None, key), None);
        assert_eq!(
            kms_key_matches(
                key,
                None,
                "arn:aws:kms:ap-southeast-1:271089868719:key/9b8a"
            ),
            Some(false)
        );
    }

    #[test]
    fn unusable_keys_say_why() {
        let arn = "arn:aws:kms:ap-southeast-2:271089868719:key/9b8a";
        assert!(key_unusable(&meta(arn, true, "Enabled"), "ap-southeast-2").is_empty());
        let d = key_unusable(&meta(arn, false, "Disabled"), "ap-southeast-2");
        assert!(d[0].contains("Disabled"), "{d:?}");
        let p = key_unusable(&meta(arn, false, "PendingDeletion"), "ap-southeast-2");
        assert!(p[0].contains("PendingDeletion"), "{p:?}");
        let r = key_unusable(&meta(arn, true, "Enabled"), "ap-southeast-1");
        assert!(
            r[0].contains("not in the bucket's Region ap-southeast-1"),
            "{r:?}"
        );
        let mut asym = meta(arn, true, "Enabled");
        asym.key_spec = Some("RSA_2048".into());
        assert!(key_unusable(&asym, "ap-southeast-2")[0].contains("symmetric"));
    }

    #[test]
    fn context_is_the_bucket_arn_with_a_bucket_key() {
        let c = S3KmsContext::new(
            Ok(true),
            "arn:aws:s3:::b",
            "arn:aws:s3:::b/k",
            "ap-southeast-1",
        );
        assert_eq!(c.arns, vec!["arn:aws:s3:::b"]);
        assert_eq!(c.via_service, "s3.ap-southeast-1.amazonaws.com");
        let c = S3KmsContext::new(Ok(false), "arn:aws:s3:::b", "arn:aws:s3:::b/k", "r-1");
        assert_eq!(c.arns, vec!["arn:aws:s3:::b/k"]);
        let c = S3KmsContext::new(
            Err(Error::Undecided("x".into())),
            "arn:aws:s3:::b",
            "arn:aws:s3:::b/k",
            "r",
        );
        assert_eq!(c.arns.len(), 2);
        assert_eq!(either(Ok(false), Ok(true)), Ok(true));
        assert_eq!(
            either(Err(Error::Undecided("a".into())), Ok(true)),
            Ok(true)
        );
        assert!(either(Err(Error::Undecided("a".into())), Ok(false)).is_err());
        assert_eq!(either(Ok(false), Ok(false)), Ok(false));
    }
}
