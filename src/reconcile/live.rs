//! The live listing: ListObjectVersions on both buckets of every replication rule, then
//! HeadObject only where [`compare::plan_heads`] says the verdict needs it. This is the only
//! I/O of `reconcile`; the verdicts are [`compare::classify`]'s.
//!
//! - ListObjectVersions pages hold up to 1,000 entries; a truncated answer carries
//!   `NextKeyMarker`/`NextVersionIdMarker` for the next request (the SDK for Rust has no
//!   paginator for this operation, so the markers are followed here). It needs
//!   `s3:ListBucketVersions`.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html>
//! - The replication status and the encryption of a version are only in HeadObject's answer
//!   (`x-amz-replication-status`, `x-amz-server-side-encryption[-aws-kms-key-id]`); HeadObject of
//!   a version needs `s3:GetObjectVersion`.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>
//! - Each bucket is addressed in its own Region, found with HeadBucket ([`aws::bucket_region`]).

use super::compare::{
    self, EncryptionScope, Head, HeadInfo, LifecycleMarkers, OtherRule, RuleScope, Verdict, Version,
};
use super::Error;
use crate::access::kms::{resolve_in, Described};
use crate::access::replica_sse;
use crate::aws::s3::ListVersionsError;
use crate::aws::{self, AwsOptions, BucketRegion, CallError, Factory};
use crate::spec::Spec;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use std::time::Duration;

/// An S3 client of the bucket's account, its calls waiting for that account's S3 gate.
pub type S3 = aws::Gated<aws_sdk_s3::Client>;

/// How many HeadObject calls run at once per rule.
const HEAD_CONCURRENCY: usize = 16;
/// A listing of more pages than this is refused (10 million versions): use S3 Inventory.
const MAX_PAGES: usize = 10_000;

/// Settings of one reconcile run.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub aws: AwsOptions,
    /// In-flight window for rules with Replication Time Control.
    pub in_flight_rtc: Duration,
    /// In-flight window for rules without it.
    pub in_flight_other: Duration,
    /// Upper bound on HeadObject calls per rule; versions beyond it are `unverified`.
    pub max_heads: usize,
    /// Bytes the inventory engine's operators may hold before they spill to disk
    /// (`--engine-memory`; [`MEMORY_LIMIT`] by default).
    pub engine_memory: usize,
}

/// Memory given to DataFusion's operators before they spill (joins, sorts, aggregates).
pub const MEMORY_LIMIT: usize = 1 << 30;

impl Default for LiveOptions {
    /// The defaults of `reconcile` and of `audit --reconcile` (which has no flags of its own for
    /// them), written once. In flight: S3 RTC replicates 99.99% of objects within 15 minutes
    /// (https://docs.aws.amazon.com/AmazonS3/latest/dev/replication-walkthrough-5.html),
    /// so 30 minutes is that window plus 15; without RTC AWS gives no time bound, so a day.
    /// At most 10,000 HeadObject calls per rule bounds the cost and time of a run.
    fn default() -> Self {
        LiveOptions {
            aws: AwsOptions::default(),
            in_flight_rtc: Duration::from_secs(1800),
            in_flight_other: Duration::from_secs(86400),
            max_heads: 10_000,
            engine_memory: MEMORY_LIMIT,
        }
    }
}

/// Requests made for one rule (the figure "requests per 1,000 versions" comes from these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    pub list_source: usize,
    pub list_destination: usize,
    pub head_source: usize,
    pub head_destination: usize,
}

impl Requests {
    pub fn total(&self) -> usize {
        self.list_source + self.list_destination + self.head_source + self.head_destination
    }
}

/// Everything read and decided for one replication rule of the spec.
#[derive(Debug, Clone)]
pub struct RuleOutcome {
    pub replication_id: String,
    pub rule: RuleScope,
    pub source_bucket: String,
    pub source_account_id: String,
    pub source_region: String,
    pub destination_bucket: String,
    pub source_versions: usize,
    pub destination_versions: usize,
    pub verdicts: Vec<Verdict>,
    pub requests: Requests,
    /// The rule could not be reconciled (listing failed, bucket unknown): what and why.
    pub error: Option<String>,
    /// The rule is not reconciled by this slice (tag filter), with the reason.
    pub skipped: Option<String>,
    /// HeadObjects planned beyond `--max-heads`, not made.
    pub heads_not_made: usize,
    /// Versions per class when `verdicts` holds only a sample (the inventory path streams the
    /// rest into the files); `None` = `verdicts` is every version.
    pub totals: Option<std::collections::BTreeMap<compare::Class, usize>>,
    /// Of the in-flight versions counted, the destination replicas newer than the source's
    /// inventory (inventory paths only): they wait for a source, they are not source versions
    /// in scope.
    pub destination_in_flight: usize,
    /// The inventories read, the cutoff and the SQL run (inventory path only).
    pub inventory: Option<serde_json::Value>,
    /// What the source of truth could not show (e.g. the KMS key of a replica in an inventory).
    pub notes: Vec<String>,
}

/// The scope of every rule of the spec, in spec order, with its source/destination aliases, no
/// KMS alias resolved: for outcomes that judge nothing, and for the inventory and Athena paths,
/// whose SQL compares encryption types and no key (S3 Inventory has no key id). The live path,
/// which compares the key ARN HeadObject reports, uses [`resolved_scopes`].
pub fn scopes(spec: &Spec, opts: &LiveOptions) -> Vec<(String, String, String, RuleScope)> {
    scopes_with(spec, opts, &Described::new())
}

/// [`scopes`] with the spec's KMS aliases resolved by DescribeKey (the replica key may be named
/// by alias ARN, and S3 reports the key ARN on the replica): needs `kms:DescribeKey` on an
/// aliased key (docs/reconcile-readonly-policy.json); a key named by key ARN needs no call.
pub async fn resolved_scopes(
    spec: &Spec,
    opts: &LiveOptions,
) -> Vec<(String, String, String, RuleScope)> {
    let keys = crate::collect::kms::describe_aliases(spec, &opts.aws, spec.kms_key_arns()).await;
    scopes_with(spec, opts, &keys)
}

fn scopes_with(
    spec: &Spec,
    opts: &LiveOptions,
    keys: &Described,
) -> Vec<(String, String, String, RuleScope)> {
    // Every rule of the spec with its destination bucket's name: the others into the same
    // bucket explain replicas there that this rule's source does not (Class::OtherSource).
    let dest_name = |alias: &str| {
        spec.bucket(alias)
            .map(|b| b.name.get_ref().clone())
            .unwrap_or_else(|| alias.to_string())
    };
    let all: Vec<(String, String, OtherRule)> = spec
        .replication
        .iter()
        .flat_map(|r| {
            r.rules.iter().enumerate().map(move |(i, rule)| {
                (
                    format!("{} {}", r.id.get_ref(), rule.label(i)),
                    rule.destination.get_ref().clone(),
                    OtherRule {
                        label: format!("{} {}", r.id.get_ref(), rule.label(i)),
                        prefix: rule.prefix_or_empty().to_string(),
                        delete_markers: rule.delete_marker_replication,
                    },
                )
            })
        })
        .collect();
    let mut out = Vec::new();
    for r in &spec.replication {
        for (i, rule) in r.rules.iter().enumerate() {
            let label = format!("{} {}", r.id.get_ref(), rule.label(i));
            let here = dest_name(rule.destination.get_ref());
            let other_sources: Vec<OtherRule> = all
                .iter()
                .filter(|(l, d, _)| *l != label && dest_name(d) == here)
                .map(|(_, _, o)| o.clone())
                .collect();
            out.push((
                r.id.get_ref().clone(),
                r.source.get_ref().clone(),
                rule.destination.get_ref().clone(),
                RuleScope {
                    label,
                    prefix: rule.prefix_or_empty().to_string(),
                    tags: rule.tags.clone(),
                    delete_markers: rule.delete_marker_replication,
                    in_flight: if rule.rtc {
                        opts.in_flight_rtc
                    } else {
                        opts.in_flight_other
                    },
                    replica_kms_key_arn: rule
                        .replica_kms_key_arn
                        .as_ref()
                        .map(|k| k.get_ref().clone()),
                    encryption: {
                        let dest_default = spec
                            .bucket(rule.destination.get_ref())
                            .and_then(replica_sse::spec_default);
                        let refs = rule
                            .replica_kms_key_arn
                            .as_ref()
                            .map(|k| k.get_ref().clone())
                            .into_iter()
                            .chain(dest_default.as_ref().and_then(|d| d.kms_key.clone()));
                        EncryptionScope {
                            sse_kms_encrypted_objects: rule.sse_kms_encrypted_objects,
                            key_arns: refs.map(|r| (r.clone(), resolve_in(keys, &r))).collect(),
                            dest_default,
                        }
                    },
                    other_sources,
                    lifecycle: LifecycleMarkers::Unknown(LIFECYCLE_NOT_READ.into()),
                },
            ));
        }
    }
    out
}

/// Why a scope's lifecycle is unknown before [`read_lifecycles`].
pub const LIFECYCLE_NOT_READ: &str =
    "reconcile from inventory files makes no call to the source bucket, so its lifecycle configuration was not read (the live listing and --athena read it)";

/// The source bucket's lifecycle rules that add delete markers: enabled, with an `Expiration`
/// of current versions by `Days` or `Date` (id, filter prefix; a tag or size filter keeps its
/// prefix, or none). `ExpiredObjectDeleteMarker` alone removes markers, never adds one
/// ([`LifecycleMarkers`]). "NoSuchLifecycleConfiguration" is a bucket without rules. Needs
/// `s3:GetLifecycleConfiguration`.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLifecycleConfiguration.html>
pub async fn expiring_rules(client: &S3, bucket: &str) -> Result<Vec<(String, String)>, Error> {
    match client
        .run(
            client
                .get_bucket_lifecycle_configuration()
                .bucket(bucket)
                .send(),
        )
        .await
    {
        Ok(c) => Ok(c
            .rules()
            .iter()
            .filter(|r| *r.status() == aws_sdk_s3::types::ExpirationStatus::Enabled)
            .filter(|r| {
                r.expiration()
                    .is_some_and(|e| e.days().is_some() || e.date().is_some())
            })
            .map(|r| {
                #[allow(deprecated)]
                let legacy = r.prefix();
                let prefix = r
                    .filter()
                    .and_then(|f| f.prefix().or_else(|| f.and().and_then(|a| a.prefix())))
                    .or(legacy)
                    .unwrap_or_default();
                (r.id().unwrap_or("(no id)").to_string(), prefix.to_string())
            })
            .collect()),
        Err(e) if aws::error_parts(&e).0.as_deref() == Some("NoSuchLifecycleConfiguration") => {
            Ok(vec![])
        }
        Err(e) => Err(call_err(
            "s3:GetBucketLifecycleConfiguration",
            "s3:GetLifecycleConfiguration",
            bucket,
            e,
        )),
    }
}

/// Read each source bucket's lifecycle once and set every scope's
/// [`RuleScope::lifecycle`]; a bucket whose configuration could not be read leaves its rules'
/// missing delete markers undecided, never missing nor passed.
pub async fn read_lifecycles(
    spec: &Spec,
    opts: &LiveOptions,
    scopes: &mut [(String, String, String, RuleScope)],
) {
    let mut read: std::collections::BTreeMap<String, Result<Vec<(String, String)>, Error>> =
        Default::default();
    for (_, source, _, _) in scopes.iter() {
        if read.contains_key(source) {
            continue;
        }
        let rules = match bucket_client(spec, source, &opts.aws).await {
            Ok((client, name, _, _)) => expiring_rules(&client, &name).await,
            Err(e) => Err(e),
        };
        read.insert(source.clone(), rules);
    }
    for (_, source, _, rule) in scopes.iter_mut() {
        rule.lifecycle = LifecycleMarkers::for_prefix(&read[source], &rule.prefix);
    }
}

/// A client for one bucket of the spec, in the bucket's real Region.
pub(crate) async fn bucket_client(
    spec: &Spec,
    alias: &str,
    opts: &AwsOptions,
) -> Result<(S3, String, String, String), Error> {
    let b = spec
        .bucket(alias)
        .ok_or_else(|| Error::Spec(format!("bucket alias '{alias}' is not in the spec")))?;
    let acct = spec.account(b.account.get_ref()).ok_or_else(|| {
        Error::Spec(format!(
            "account '{}' is not in the spec",
            b.account.get_ref()
        ))
    })?;
    let name = b.name.get_ref().clone();
    let region = b.region.get_ref().clone();
    let aws = Factory::shared(opts);
    let account = b.account.get_ref();
    let client: S3 = aws.client_for(account, &acct.credentials, &region).await;
    match client.run(aws::bucket_region(&client, &name)).await {
        BucketRegion::In(r) if r == region || r.is_empty() => {
            Ok((client, name, acct.account_id.get_ref().clone(), region))
        }
        BucketRegion::In(r) => Ok((
            aws.client_for(account, &acct.credentials, &r).await,
            name,
            acct.account_id.get_ref().clone(),
            r,
        )),
        BucketRegion::Missing => Err(Error::Aws(format!(
            "s3:HeadBucket failed: bucket {name} does not exist (404)"
        ))),
        // The listing will say whether the bucket can be read; HeadBucket may be refused alone.
        BucketRegion::Unknown { .. } => {
            Ok((client, name, acct.account_id.get_ref().clone(), region))
        }
    }
}

/// The sentence users read for a failed call on `bucket`, naming the permission it needs.
fn call_error(call: &str, permission: &str, bucket: &str, e: &CallError) -> String {
    // HEAD answers have no body: without a code, name the HTTP status (403: access denied).
    let code = e
        .code
        .clone()
        .filter(|c| c != "Unhandled")
        .or(e.http_status.map(|s| match s {
            403 => "HTTP 403 (access denied)".to_string(),
            s => format!("HTTP {s}"),
        }));
    let msg = if e.message == "unhandled error" && code.is_some() {
        "no error body (HEAD)".to_string()
    } else {
        e.message.clone()
    };
    format!(
        "{call} failed: {}{msg} (bucket {bucket}: the caller needs {permission} on it)",
        code.map(|c| format!("{c}: ")).unwrap_or_default()
    )
}

/// [`call_error`]'s sentence, with the call error (and the SDK error behind it) as the source.
fn call_err<E>(
    call: &str,
    permission: &str,
    bucket: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    let e = CallError::from_sdk_owned(call, e);
    Error::aws_call(call_error(call, permission, bucket, &e), e)
}

/// Every version and delete marker under `prefix`; the number of requests made.
pub async fn list_all(
    client: &S3,
    bucket: &str,
    prefix: &str,
) -> (Result<Vec<Version>, Error>, usize) {
    let mut out = Vec::new();
    let mut requests = 0;
    let ts = |t: Option<&aws_smithy_types::DateTime>| -> DateTime<Utc> {
        t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    let listed =
        aws::s3::list_object_versions(client, bucket, prefix, MAX_PAGES, &mut requests, |r| {
            for v in r.versions() {
                out.push(Version {
                    key: v.key().unwrap_or_default().to_string(),
                    version_id: v.version_id().unwrap_or("null").to_string(),
                    size: v.size().unwrap_or(0).max(0) as u64,
                    etag: v.e_tag().map(|e| e.trim_matches('"').to_string()),
                    last_modified: ts(v.last_modified()),
                    delete_marker: false,
                    head: Head::NotAsked,
                });
            }
            for d in r.delete_markers() {
                out.push(Version {
                    key: d.key().unwrap_or_default().to_string(),
                    version_id: d.version_id().unwrap_or("null").to_string(),
                    size: 0,
                    etag: None,
                    last_modified: ts(d.last_modified()),
                    delete_marker: true,
                    head: Head::NotAsked,
                });
            }
        })
        .await;
    let r = match listed {
        Ok(()) => Ok(out),
        Err(ListVersionsError::Call(e)) => Err(Error::aws_call(
            call_error("s3:ListObjectVersions", "s3:ListBucketVersions", bucket, &e),
            e,
        )),
        Err(ListVersionsError::NoMarker) => Err(Error::Aws(format!(
            "s3:ListObjectVersions failed: a truncated page without NextKeyMarker (bucket {bucket}: the listing cannot continue)"
        ))),
        Err(ListVersionsError::TooManyPages(_)) => Err(Error::Aws(format!(
            "s3:ListObjectVersions failed: more than {MAX_PAGES} pages under '{prefix}' (bucket {bucket}); reconcile buckets this large from S3 Inventory"
        ))),
    };
    (r, requests)
}

async fn head(client: &S3, bucket: &str, v: &Version) -> Head {
    let r = client
        .run(
            client
                .head_object()
                .bucket(bucket)
                .key(&v.key)
                .version_id(&v.version_id)
                .send(),
        )
        .await;
    match r {
        Ok(o) => Head::Seen(HeadInfo {
            replication_status: o.replication_status().map(|s| s.as_str().to_string()),
            sse: o.server_side_encryption().map(|s| s.as_str().to_string()),
            kms_key_id: o.ssekms_key_id().map(str::to_string),
        }),
        Err(e) => Head::Failed(head_failure(
            e.raw_response().map(|r| r.status().as_u16()),
            bucket,
            || {
                let e = CallError::from_sdk("s3:HeadObject", &e);
                call_error("s3:HeadObject", "s3:GetObjectVersion", bucket, &e)
            },
        )),
    }
}

/// What a failed HeadObject of a listed version means. An SSE-C object's metadata is read
/// only with the customer key: "If you encrypt an object by using server-side encryption with
/// customer-provided encryption keys (SSE-C) when you store the object in Amazon S3, then when
/// you retrieve the metadata from the object, you must use the following headers:
/// x-amz-server-side-encryption-customer-algorithm, -customer-key, -customer-key-MD5", and
/// without them S3 answers 400 Bad Request (a HEAD answer has no body, so no error code). The
/// version ids come from the listing, so a 400 is not a malformed request of ours: it is said
/// as what it is, not as a permission to grant. The version stays unverified (its replication
/// status is in S3 Inventory, which the inventory paths read).
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>
fn head_failure(status: Option<u16>, bucket: &str, otherwise: impl FnOnce() -> String) -> String {
    if status == Some(400) {
        format!("s3:HeadObject failed: HTTP 400 Bad Request (bucket {bucket}): {SSE_C_UNREADABLE}")
    } else {
        otherwise()
    }
}

/// The reason a HeadObject answered 400 (see [`head_failure`]).
pub const SSE_C_UNREADABLE: &str = "SSE-C: metadata not readable without the customer key \
     (HeadObject of an SSE-C version needs the x-amz-server-side-encryption-customer-* headers; \
     not a permission problem); reconcile from S3 Inventory reads its replication status";

/// HEAD the planned versions of one list, at most `budget` of them; returns how many were made.
async fn head_planned(
    client: &S3,
    bucket: &str,
    list: &mut [Version],
    idx: &[usize],
    budget: usize,
) -> usize {
    let take: Vec<usize> = idx.iter().copied().take(budget).collect();
    let heads: Vec<(usize, Head)> = futures::stream::iter(take.iter().map(|&i| {
        let v = list[i].clone();
        async move { (i, head(client, bucket, &v).await) }
    }))
    .buffer_unordered(HEAD_CONCURRENCY)
    .collect()
    .await;
    let n = heads.len();
    for (i, h) in heads {
        list[i].head = h;
    }
    n
}

/// Reconcile one rule.
async fn one_rule(
    spec: &Spec,
    opts: &LiveOptions,
    replication_id: String,
    source_alias: String,
    dest_alias: String,
    rule: RuleScope,
) -> RuleOutcome {
    let mut out = RuleOutcome::new(spec, replication_id, &source_alias, &dest_alias, rule);
    if let Some(why) = out.rule.unsupported() {
        out.skipped = Some(why);
        return out;
    }
    let (src, dst) = tokio::join!(
        bucket_client(spec, &source_alias, &opts.aws),
        bucket_client(spec, &dest_alias, &opts.aws)
    );
    let ((sc, sname, _, sregion), (dc, dname, _, _)) = match (src, dst) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    out.source_region = sregion;
    let prefix = out.rule.prefix.clone();
    let ((sl, sreq), (dl, dreq)) = tokio::join!(
        list_all(&sc, &sname, &prefix),
        list_all(&dc, &dname, &prefix)
    );
    out.requests.list_source = sreq;
    out.requests.list_destination = dreq;
    let (mut source, mut dest) = match (sl, dl) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    out.source_versions = source.len();
    out.destination_versions = dest.len();
    // "now" is the end of the listing: a version listed is at least this old.
    let now = Utc::now();
    let plan = compare::plan_heads(&out.rule, &source, &dest, now);
    let made_s = head_planned(&sc, &sname, &mut source, &plan.source, opts.max_heads).await;
    let budget = opts.max_heads.saturating_sub(made_s);
    let made_d = head_planned(&dc, &dname, &mut dest, &plan.destination, budget).await;
    out.requests.head_source = made_s;
    out.requests.head_destination = made_d;
    out.heads_not_made = plan.len() - made_s - made_d;
    out.verdicts = compare::classify(&out.rule, &sname, &source, &dname, &dest, now);
    out
}

/// Reconcile every rule of the spec, the rules in parallel.
pub async fn reconcile(spec: &Spec, opts: &LiveOptions) -> Vec<RuleOutcome> {
    let mut scopes = resolved_scopes(spec, opts).await;
    read_lifecycles(spec, opts, &mut scopes).await;
    let jobs = scopes
        .into_iter()
        .map(|(id, s, d, rule)| one_rule(spec, opts, id, s, d, rule));
    futures::future::join_all(jobs).await
}

impl RuleOutcome {
    /// A rule not read yet.
    pub fn new(
        spec: &Spec,
        replication_id: String,
        source_alias: &str,
        dest_alias: &str,
        rule: RuleScope,
    ) -> RuleOutcome {
        let name = |a: &str| {
            spec.bucket(a)
                .map(|b| b.name.get_ref().clone())
                .unwrap_or_default()
        };
        RuleOutcome {
            replication_id,
            source_bucket: name(source_alias),
            source_account_id: spec.bucket_account_id(source_alias).unwrap_or("").into(),
            source_region: spec
                .bucket(source_alias)
                .map(|b| b.region.get_ref().clone())
                .unwrap_or_default(),
            destination_bucket: name(dest_alias),
            rule,
            source_versions: 0,
            destination_versions: 0,
            verdicts: vec![],
            requests: Requests::default(),
            error: None,
            skipped: None,
            heads_not_made: 0,
            totals: None,
            destination_in_flight: 0,
            inventory: None,
            notes: vec![],
        }
    }

    /// A rule whose reconcile was stopped (signal, `--deadline`) before it ended.
    pub fn unfinished(mut self, why: &str) -> RuleOutcome {
        self.error = Some(format!("the listing did not finish: {why}"));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reconcile's listing waits for the bucket account's S3 gate (through the one pager): a
    /// throttled page halves it, and the error still says what the caller needs.
    #[tokio::test]
    async fn a_throttled_listing_cuts_its_gate() {
        use crate::aws::{testing, Factory, Service};
        let opts = testing::options(testing::throttling_endpoint().await);
        let aws = Factory::new(&opts);
        let conf = testing::config(&opts, "us-east-1").await;
        let client: S3 = aws.client("dst", &conf);
        let (r, requests) = list_all(&client, "b", "p/").await;
        assert_eq!(requests, 1);
        let e = r.unwrap_err().to_string();
        assert!(
            e.starts_with("s3:ListObjectVersions failed: SlowDown: ")
                && e.ends_with("(bucket b: the caller needs s3:ListBucketVersions on it)"),
            "{e}"
        );
        let g = aws.limits.gate("dst", Service::S3).stats();
        assert_eq!((g.throttled, g.allowed), (1, 4), "{g:?}");
    }

    /// Issue 21 item 10: a 400 from HeadObject (an SSE-C version read without its customer key)
    /// is said as such, not as a permission to grant; a 403 stays a permission problem.
    #[test]
    fn a_head_object_400_is_sse_c_not_a_permission() {
        let why = head_failure(Some(400), "src", || "s3:GetObjectVersion".to_string());
        assert!(
            why.contains("SSE-C: metadata not readable without the customer key"),
            "{why}"
        );
        assert!(why.contains("400") && why.contains("src"), "{why}");
        assert!(!why.contains("s3:GetObjectVersion"), "{why}");
        let denied = head_failure(Some(403), "src", || "needs s3:GetObjectVersion".to_string());
        assert_eq!(denied, "needs s3:GetObjectVersion");
    }
}
