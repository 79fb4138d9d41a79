//! The comparison at the heart of `replaudit reconcile`: one replication rule, the source's object
//! versions in its scope, the destination's, and the time of the listing in; one verdict per
//! version out. Pure, so that every source of truth (live listing today, S3 Inventory and Athena
//! later) feeds the same classification and the same tests decide it.
//!
//! What the comparison relies on, from the S3 user guide:
//! - A replica keeps the source's key **and version id** (S3 user guide, "What does Amazon S3
//!   replicate?"; the emulator's patch 2 cites the same page), so a source version is matched by
//!   `(key, version id)`, never by key alone.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html>
//! - The source version's `x-amz-replication-status` is `PENDING`, `COMPLETED` or `FAILED`, and a
//!   version the rule never picked up (written before the rule, or outside its filter) has none;
//!   "If replication fails ... you must upload the object again or use S3 Batch Replication".
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html>
//! - "S3 RTC replicates most objects that you upload to Amazon S3 in seconds, and 99.99 percent
//!   of those objects within 15 minutes"; without RTC AWS gives no time bound, so the in-flight
//!   window is a setting.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-time-control.html>
//! - ETags: "Objects created by the PUT Object, POST Object, or Copy operation ... that are
//!   encrypted by SSE-S3 or plaintext, have ETags that are an MD5 digest of their object data";
//!   SSE-C and SSE-KMS ETags are not, and a multipart ETag depends on the part sizes. Two ETags are
//!   therefore compared only when both are known to be MD5 digests of the data.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html>

use crate::access::replica_sse::{self, Judged, ObjectSse, RuleSse, SseKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// What a HeadObject of one version said (only the fields the comparison uses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HeadInfo {
    /// `x-amz-replication-status`: PENDING, COMPLETED, FAILED, REPLICA; `None` = absent.
    pub replication_status: Option<String>,
    /// `x-amz-server-side-encryption`: AES256, aws:kms, aws:kms:dsse; `None` = absent.
    pub sse: Option<String>,
    /// `x-amz-server-side-encryption-aws-kms-key-id` (a key ARN).
    pub kms_key_id: Option<String>,
}

/// The HeadObject of one version: not asked, answered, or failed (call, cause).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Head {
    #[default]
    NotAsked,
    Seen(HeadInfo),
    Failed(String),
}

/// One object version or delete marker, as any listing knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub key: String,
    pub version_id: String,
    pub size: u64,
    /// As listed, quotes removed.
    pub etag: Option<String>,
    pub last_modified: DateTime<Utc>,
    pub delete_marker: bool,
    pub head: Head,
}

/// What one replication rule promises, from the spec (the posture that must be true).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleScope {
    /// Human label, e.g. `incident-reports rule 'reports-to-abcd'`.
    pub label: String,
    pub prefix: String,
    /// Tag filter; rules with one are not reconciled (neither a live listing nor an inventory
    /// carries tags), see [`RuleScope::unsupported`].
    pub tags: BTreeMap<String, String>,
    pub delete_markers: bool,
    /// Versions younger than this are in flight: never blamed.
    pub in_flight: Duration,
    /// The rule's replica KMS key (`replica_kms_key_arn` of the spec: a key ARN or alias ARN).
    /// A rule that names one has its replicas' encryption checked, as
    /// [`replica_sse::expected_replica`] says S3 encrypts each (from its source version's
    /// encryption); a rule without one is not checked (that would take a HeadObject of every
    /// version on both sides).
    pub replica_kms_key_arn: Option<String>,
    /// The rest of what decides a replica's encryption.
    pub encryption: EncryptionScope,
    /// The other rules of the spec that replicate into the same destination bucket
    /// ([`Class::OtherSource`]).
    pub other_sources: Vec<OtherRule>,
    /// What the source bucket's lifecycle configuration says about delete markers in this
    /// rule's scope ([`Class::LifecycleMarker`]).
    pub lifecycle: LifecycleMarkers,
}

/// Another replication rule of the spec whose destination is this rule's destination bucket
/// (the documented "many sources, one destination" pattern, e.g. logs of several buckets
/// aggregated into one): its replicas are in this rule's destination listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherRule {
    pub label: String,
    pub prefix: String,
    pub delete_markers: bool,
}

impl OtherRule {
    /// Could this destination version be a replica made by this rule? By key prefix only: a
    /// listing or an inventory says a version is a replica (REPLICA) but never of which source,
    /// and a tag filter cannot be read, so a version under the rule's prefix is taken as its.
    pub fn could_claim(&self, v: &Version) -> bool {
        v.key.starts_with(&self.prefix) && (!v.delete_marker || self.delete_markers)
    }
}

/// The delete markers S3 Lifecycle may have made in a rule's scope.
///
/// "If you enable delete marker replication and your source bucket has an S3 Lifecycle
/// expiration rule, the delete markers added by the S3 Lifecycle expiration rule won't be
/// replicated to the destination bucket."
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html>
/// Of the lifecycle actions, only `Expiration` (Days or Date) of current versions adds delete
/// markers in a versioned bucket ("If the current object version is not a delete marker,
/// Amazon S3 adds a delete marker"); `ExpiredObjectDeleteMarker` and
/// `NoncurrentVersionExpiration` remove, never add.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html>
/// A listing shows no difference between a user's delete marker and one S3 Lifecycle added, so
/// a missing marker under such a rule is not called missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleMarkers {
    /// The source bucket has no enabled lifecycle rule expiring current versions under this
    /// rule's prefix: every delete marker there was made by a request, and a missing one is
    /// missing.
    None,
    /// Enabled lifecycle rules that expire current versions (rule id, filter prefix; a tag or
    /// size filter is not decidable from a listing, so only the prefix narrows).
    Expiring(Vec<(String, String)>),
    /// The lifecycle configuration was not read (why): a missing delete marker's class cannot
    /// be decided.
    Unknown(String),
}

impl LifecycleMarkers {
    /// From the source bucket's expiring lifecycle rules (id, prefix), or why they were not
    /// read: those that can reach keys under `prefix` (one prefix starts with the other).
    pub fn for_prefix(rules: &Result<Vec<(String, String)>, super::Error>, prefix: &str) -> Self {
        match rules {
            Err(why) => LifecycleMarkers::Unknown(why.to_string()),
            Ok(rules) => {
                let reach: Vec<(String, String)> = rules
                    .iter()
                    .filter(|(_, p)| p.starts_with(prefix) || prefix.starts_with(p.as_str()))
                    .cloned()
                    .collect();
                if reach.is_empty() {
                    LifecycleMarkers::None
                } else {
                    LifecycleMarkers::Expiring(reach)
                }
            }
        }
    }

    /// The lifecycle rule that may have made a delete marker at `key`.
    pub fn may_have_made(&self, key: &str) -> Option<&str> {
        match self {
            LifecycleMarkers::Expiring(rules) => rules
                .iter()
                .find(|(_, p)| key.starts_with(p.as_str()))
                .map(|(id, _)| id.as_str()),
            _ => None,
        }
    }
}

/// What decides a replica's encryption besides the replica key: the rule's
/// SseKmsEncryptedObjects, the destination's default encryption, and what each KMS key
/// reference resolved to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionScope {
    /// `sse_kms_encrypted_objects` of the spec's rule.
    pub sse_kms_encrypted_objects: bool,
    /// The destination bucket's default encryption as the spec states it (`None`: not stated).
    pub dest_default: Option<ObjectSse>,
    /// Key references (the replica key, the destination default's key) with the key ARN each
    /// resolved to, or why it did not ([`crate::access::kms::resolve_in`]); a key ARN not listed
    /// stands for itself.
    pub key_arns: BTreeMap<String, Result<String, crate::access::Error>>,
}

impl EncryptionScope {
    /// The key ARN a reference resolves to: the one resolution of the audit rules.
    pub fn resolve(&self, reference: &str) -> Result<String, crate::access::Error> {
        match self.key_arns.get(reference) {
            Some(r) => r.clone(),
            None => crate::access::kms::resolve_in(&Default::default(), reference),
        }
    }
}

/// Why a rule with a tag filter is refused by every reconcile path (never a pass).
pub fn unsupported_tags() -> &'static str {
    "the rule filters on object tags: neither a live listing nor S3 Inventory carries object tags \
     (one GetObjectTagging per version would be needed), so its scope cannot be decided; \
     replaudit does not reconcile tag-filtered rules"
}

impl RuleScope {
    /// Why this rule cannot be reconciled (from a live listing or an inventory), if it cannot.
    pub fn unsupported(&self) -> Option<String> {
        (!self.tags.is_empty()).then(|| unsupported_tags().to_string())
    }

    pub fn in_scope(&self, v: &Version) -> bool {
        v.key.starts_with(&self.prefix) && (!v.delete_marker || self.delete_markers)
    }
}

/// The verdict on one version. Every source version in scope gets exactly one; every
/// destination version in scope without a source gets [`Class::NoSource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// A replica with the same key and version id, same size (and ETag, where comparable),
    /// encrypted as the rule requires.
    Intact,
    /// No replica yet, younger than the in-flight window, and nothing says it will not come:
    /// PENDING, a delete marker (which has no status), or a status not read (yet). Not blamed.
    InFlight,
    /// No replica although it arrived once (COMPLETED: the replica was deleted since), at any
    /// age; or a delete marker older than the window.
    Missing,
    /// The source version says FAILED: S3 never retries it.
    Failed,
    /// The source version still says PENDING after the window.
    PendingTooLong,
    /// The replica differs in size or (where comparable) ETag.
    Mismatched,
    /// The replica is not encrypted as the rule requires.
    EncryptionMismatch,
    /// No replication status at all: written before the rule, or not picked up by it.
    NeverEligible,
    /// A destination version in the rule's scope that no source version explains.
    NoSource,
    /// A destination version with no source in this rule, under the scope of another rule of
    /// the spec that replicates into the same bucket: that rule's replica (judged as that
    /// rule's source version), counted here, not a fail. Counted rather than left out so that
    /// every destination version in scope is accounted for. Two rules that could both claim it
    /// are both named in the detail; the class does not depend on which made it.
    OtherSource,
    /// A source delete marker missing at the destination that an enabled S3 Lifecycle
    /// expiration rule of the source bucket may have made: S3 never replicates those
    /// ([`LifecycleMarkers`]), and a listing cannot tell it from a user's. Low, in no manifest.
    LifecycleMarker,
    /// A HeadObject the verdict needed failed or was not made (`--max-heads`): not seen.
    Unverified,
}

impl Class {
    pub const ALL: [Class; 12] = [
        Class::Intact,
        Class::InFlight,
        Class::Missing,
        Class::Failed,
        Class::PendingTooLong,
        Class::Mismatched,
        Class::EncryptionMismatch,
        Class::NeverEligible,
        Class::NoSource,
        Class::OtherSource,
        Class::LifecycleMarker,
        Class::Unverified,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Class::Intact => "intact",
            Class::InFlight => "in-flight",
            Class::Missing => "missing",
            Class::Failed => "failed",
            Class::PendingTooLong => "pending-too-long",
            Class::Mismatched => "mismatched",
            Class::EncryptionMismatch => "encryption-mismatch",
            Class::NeverEligible => "never-eligible",
            Class::NoSource => "no-source",
            Class::OtherSource => "other-source",
            Class::LifecycleMarker => "lifecycle-marker",
            Class::Unverified => "unverified",
        }
    }

    /// The job that repairs a version of this class, if one does.
    ///
    /// - [`Repair::BatchReplication`]: S3 Batch Replication replicates "Objects that existed
    ///   before a replication configuration was in place" and "Objects that have failed
    ///   replication" (never eligible, FAILED), and replicas at the source ("To replicate objects
    ///   that are replicas, use Batch Replication").
    ///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-batch-replication-batch.html>
    ///   By choice, versions still PENDING after the window go there too: S3 keeps a version
    ///   PENDING through temporary failures, and Batch Replication also takes "Objects that have
    ///   previously been replicated", so the job is harmless if live replication completes first.
    /// - [`Repair::CopyInPlace`]: a COMPLETED version whose replica is gone was most likely
    ///   deleted at the destination by version id, and "Batch Replication does not support
    ///   re-replicating objects that were deleted with the version ID of the object from the
    ///   destination bucket. To re-replicate these objects, you can copy the source objects in
    ///   place with a Batch Copy job" (a new version at the source, which the rule replicates).
    ///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html>
    /// - A delete marker cannot be copied and its absence has no status to tell why: no job
    ///   (the finding says what to do).
    pub fn repair(&self, delete_marker: bool) -> Option<Repair> {
        match self {
            Class::Failed | Class::NeverEligible | Class::PendingTooLong => {
                Some(Repair::BatchReplication)
            }
            Class::Missing if !delete_marker => Some(Repair::CopyInPlace),
            _ => None,
        }
    }
}

/// How a version that is not replicated as it should be is put right ([`Class::repair`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Repair {
    /// An S3 Batch Replication job (operation `S3ReplicateObject`).
    BatchReplication,
    /// A Batch Operations Copy job that copies the source version onto its own key
    /// (operation `S3PutObjectCopy`).
    CopyInPlace,
}

/// One classified version, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub class: Class,
    /// The bucket the version is in (the source, except for `NoSource`).
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub delete_marker: bool,
    pub detail: String,
    /// For an `Unverified` version: the classes it could be in, had it been read. A class one of
    /// these could be in is never reported as a pass.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub could_be: Vec<Class>,
}

/// What a version whose replication status was not read could be.
const STATUS_UNREAD: [Class; 4] = [
    Class::Missing,
    Class::Failed,
    Class::PendingTooLong,
    Class::NeverEligible,
];

/// Which versions need a HeadObject before [`classify`] can decide them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadPlan {
    /// Indexes into the source list: versions with no replica, at any age (their replication
    /// status decides FAILED / PENDING / never eligible / missing / in flight), the older than
    /// the window first (unread, they are unverified; a young one unread is in flight).
    pub source: Vec<usize>,
    /// Indexes into the destination list: replicas whose encryption the rule constrains (their
    /// sources are in `source` too: a replica's encryption follows its source's).
    pub destination: Vec<usize>,
}

impl HeadPlan {
    pub fn len(&self) -> usize {
        self.source.len() + self.destination.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn vkey(v: &Version) -> (&str, &str) {
    (v.key.as_str(), v.version_id.as_str())
}

fn age(v: &Version, now: DateTime<Utc>) -> Duration {
    (now - v.last_modified).to_std().unwrap_or(Duration::ZERO)
}

/// The HeadObjects [`classify`] needs: nothing for versions whose listing decides them.
/// Delete markers are never asked (HeadObject on a delete marker answers 405 and they carry no
/// replication status).
pub fn plan_heads(
    rule: &RuleScope,
    source: &[Version],
    dest: &[Version],
    now: DateTime<Utc>,
) -> HeadPlan {
    let dest_ids: HashMap<(&str, &str), usize> = dest
        .iter()
        .enumerate()
        .filter(|(_, v)| rule.in_scope(v))
        .map(|(i, v)| (vkey(v), i))
        .collect();
    let mut plan = HeadPlan::default();
    for (i, s) in source.iter().enumerate() {
        if !rule.in_scope(s) || s.delete_marker {
            continue;
        }
        match dest_ids.get(&vkey(s)) {
            None => plan.source.push(i),
            Some(&d) if rule.replica_kms_key_arn.is_some() => {
                plan.source.push(i);
                plan.destination.push(d);
            }
            Some(_) => {}
        }
    }
    // `--max-heads` goes first to the versions that are unverified if unread.
    plan.source
        .sort_by_key(|&i| age(&source[i], now) < rule.in_flight);
    plan
}

/// Both ETags are MD5 digests of the data: single-part form, and both versions are known to be
/// plaintext or SSE-S3.
fn etags_comparable(s: &Version, d: &Version) -> bool {
    let md5_form = |e: &Option<String>| {
        e.as_deref()
            .is_some_and(|e| e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let plain = |h: &Head| match h {
        Head::Seen(i) => matches!(i.sse.as_deref(), None | Some("AES256")),
        _ => false,
    };
    md5_form(&s.etag) && md5_form(&d.etag) && plain(&s.head) && plain(&d.head)
}

/// Classify every version in the rule's scope. `source_bucket`/`dest_bucket` only label the
/// verdicts.
pub fn classify(
    rule: &RuleScope,
    source_bucket: &str,
    source: &[Version],
    dest_bucket: &str,
    dest: &[Version],
    now: DateTime<Utc>,
) -> Vec<Verdict> {
    let dest_ids: HashMap<(&str, &str), &Version> = dest
        .iter()
        .filter(|v| rule.in_scope(v))
        .map(|v| (vkey(v), v))
        .collect();
    let mut matched: HashMap<(&str, &str), ()> = HashMap::new();
    let mut out = Vec::new();
    let verdict =
        |class: Class, bucket: &str, v: &Version, detail: String, could_be: &[Class]| Verdict {
            class,
            bucket: bucket.to_string(),
            key: v.key.clone(),
            version_id: v.version_id.clone(),
            delete_marker: v.delete_marker,
            detail,
            could_be: could_be.to_vec(),
        };
    for s in source.iter().filter(|v| rule.in_scope(v)) {
        let (class, detail, could_be): (Class, String, &[Class]) = match dest_ids.get(&vkey(s)) {
            Some(d) => {
                matched.insert(vkey(s), ());
                let (c, why) = judge_replica(rule, s, d);
                let could: &[Class] = if c == Class::Unverified {
                    &[Class::EncryptionMismatch]
                } else {
                    &[]
                };
                (c, why, could)
            }
            None => judge_unreplicated(rule, s, age(s, now)),
        };
        out.push(verdict(class, source_bucket, s, detail, could_be));
    }
    for d in dest.iter().filter(|v| rule.in_scope(v)) {
        if !matched.contains_key(&vkey(d)) {
            let claims: Vec<&str> = rule
                .other_sources
                .iter()
                .filter(|o| o.could_claim(d))
                .map(|o| o.label.as_str())
                .collect();
            let (class, detail) = if claims.is_empty() {
                (Class::NoSource, NO_SOURCE.to_string())
            } else {
                (
                    Class::OtherSource,
                    format!("{OTHER_SOURCE}: {}", claims.join(", ")),
                )
            };
            out.push(verdict(class, dest_bucket, d, detail, &[]));
        }
    }
    out
}

/// Why a destination version is `no-source` (the SQL path says the same).
pub const NO_SOURCE: &str = "no source version with this key and version id (deleted at the source, or written into the destination directly)";
/// Why a destination version is `other-source`; the live path adds the rules' labels.
pub const OTHER_SOURCE: &str = "no source version in this rule, but under the scope of another replication rule into this bucket (its replica; judged with that rule)";
/// Why a source delete marker is `lifecycle-marker`.
pub const LIFECYCLE_MARKER: &str = "delete marker not at the destination, and the source bucket has an S3 Lifecycle expiration rule over its key: a delete marker S3 Lifecycle made is never replicated, and a listing cannot tell it from a user's";
/// Why a missing source delete marker is `unverified`.
pub const LIFECYCLE_UNKNOWN: &str = "delete marker not at the destination, and whether S3 Lifecycle made it (such markers are never replicated) cannot be decided: the source bucket's lifecycle configuration was not read";

/// What a missing delete marker whose lifecycle was not read could be.
const MARKER_UNDECIDED: [Class; 1] = [Class::Missing];

/// What a young version whose replication status was not read could be: not pending too long
/// (it is inside the window), anything else a status can say.
const YOUNG_UNREAD: [Class; 3] = [Class::Missing, Class::Failed, Class::NeverEligible];

/// A source version with no replica: its replication status decides, before its age. The
/// in-flight window spares only what may still arrive: PENDING, a delete marker (no status to
/// read), or a version whose status was not read. FAILED is final ("If object replication fails
/// after you upload an object, you can't retry replication"), no status means "not eligible
/// for replication" (S3 returns the header "if the object in your request is eligible"),
/// COMPLETED means the replica arrived and is gone. `comparison_sql` (sql.rs) decides the same,
/// in the same order; the differential tests in engine.rs hold them together.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html>
fn judge_unreplicated(
    rule: &RuleScope,
    s: &Version,
    age: Duration,
) -> (Class, String, &'static [Class]) {
    let window = rule.in_flight;
    let young = age < window;
    let in_flight = |why: &str| {
        format!(
            "no replica yet, written {}s ago (in-flight window {}s){why}",
            age.as_secs(),
            window.as_secs()
        )
    };
    if s.delete_marker {
        return if young {
            (Class::InFlight, in_flight(""), &[])
        } else if let LifecycleMarkers::Unknown(why) = &rule.lifecycle {
            (
                Class::Unverified,
                format!("{LIFECYCLE_UNKNOWN} ({why})"),
                &MARKER_UNDECIDED,
            )
        } else if let Some(id) = rule.lifecycle.may_have_made(&s.key) {
            (
                Class::LifecycleMarker,
                format!("{LIFECYCLE_MARKER} (lifecycle rule '{id}')"),
                &[],
            )
        } else {
            (
                Class::Missing,
                "delete marker not at the destination although the rule replicates delete markers"
                    .into(),
                &[],
            )
        };
    }
    match &s.head {
        Head::NotAsked if young => (
            Class::InFlight,
            in_flight("; its replication status was not read (--max-heads reached)"),
            &YOUNG_UNREAD,
        ),
        Head::Failed(why) if young => (
            Class::InFlight,
            in_flight(&format!(
                "; its replication status could not be read: {why}"
            )),
            &YOUNG_UNREAD,
        ),
        Head::NotAsked => (
            Class::Unverified,
            "no replica, and its replication status was not read (--max-heads reached)".into(),
            &STATUS_UNREAD,
        ),
        Head::Failed(why) => (
            Class::Unverified,
            format!("no replica, and its replication status could not be read: {why}"),
            &STATUS_UNREAD,
        ),
        Head::Seen(h) => match h.replication_status.as_deref() {
            Some("FAILED") => (
                Class::Failed,
                "replication status FAILED: S3 does not retry it".into(),
                &[],
            ),
            Some("PENDING") if young => (
                Class::InFlight,
                in_flight("; replication status PENDING"),
                &[],
            ),
            Some("PENDING") => (
                Class::PendingTooLong,
                "replication status still PENDING after the in-flight window".into(),
                &[],
            ),
            None => (
                Class::NeverEligible,
                "no replication status: written before the rule, or not picked up by it".into(),
                &[],
            ),
            Some("REPLICA") => (
                Class::NeverEligible,
                "the source version is itself a replica: live replication does not replicate replicas".into(),
                &[],
            ),
            Some(other) => (
                Class::Missing,
                format!("replication status {other} but no replica at the destination (it arrived and was deleted since)"),
                &[],
            ),
        },
    }
}

/// A source version and its replica.
fn judge_replica(rule: &RuleScope, s: &Version, d: &Version) -> (Class, String) {
    if s.delete_marker != d.delete_marker {
        return (
            Class::Mismatched,
            "one side is a delete marker, the other an object".into(),
        );
    }
    if s.delete_marker {
        return (Class::Intact, "delete marker replicated".into());
    }
    if s.size != d.size {
        return (
            Class::Mismatched,
            format!(
                "size {} at the source, {} at the destination",
                s.size, d.size
            ),
        );
    }
    if etags_comparable(s, d) && s.etag != d.etag {
        return (
            Class::Mismatched,
            format!(
                "ETag {} at the source, {} at the destination (both MD5 digests of the data)",
                s.etag.as_deref().unwrap_or_default(),
                d.etag.as_deref().unwrap_or_default()
            ),
        );
    }
    if let Some(want) = &rule.replica_kms_key_arn {
        return judge_encryption(rule, want, s, d);
    }
    (Class::Intact, "replica matches".into())
}

/// Why a version's encryption cannot be judged (the version is then Unverified, with this as
/// its detail).
#[derive(Debug, thiserror::Error)]
enum Unread {
    #[error("{whose} encryption cannot be judged: {source}")]
    Unknown {
        whose: &'static str,
        source: crate::access::Error,
    },
    #[error("{whose} encryption could not be read: {why}")]
    Failed { whose: &'static str, why: String },
    #[error("{whose} encryption was not read (--max-heads reached)")]
    NotAsked { whose: &'static str },
}

/// A replica's encryption against what S3 gives the replica of its source version
/// ([`replica_sse::expected_replica`]): the source's encryption type, SSE-KMS re-encrypted under
/// the rule's replica key (compared by key ARN, aliases resolved), an unencrypted source under
/// the destination's default. Whatever was not read or cannot be decided is `Unverified`.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html>
fn judge_encryption(rule: &RuleScope, want: &str, s: &Version, d: &Version) -> (Class, String) {
    let read = |h: &Head, whose: &'static str| -> Result<ObjectSse, Unread> {
        match h {
            Head::Seen(i) => SseKind::from_header(i.sse.as_deref())
                .map(|k| ObjectSse::new(k, i.kms_key_id.as_deref()))
                .map_err(|source| Unread::Unknown { whose, source }),
            Head::Failed(why) => Err(Unread::Failed {
                whose,
                why: why.clone(),
            }),
            Head::NotAsked => Err(Unread::NotAsked { whose }),
        }
    };
    let (source, replica) = match (
        read(&s.head, "the source version's"),
        read(&d.head, "replica's"),
    ) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(why), _) | (_, Err(why)) => return (Class::Unverified, why.to_string()),
    };
    let expected = replica_sse::expected_replica(
        source.kind,
        RuleSse {
            sse_kms_encrypted_objects: rule.encryption.sse_kms_encrypted_objects,
            replica_kms_key: Some(want),
        },
        rule.encryption.dest_default.as_ref(),
    );
    match replica_sse::judge_replica(&expected, &replica, &|r| rule.encryption.resolve(r)) {
        Judged::Pass(_) => (Class::Intact, "replica matches".into()),
        Judged::Fail(why) => (
            Class::EncryptionMismatch,
            format!("source {}: {why}", source.kind.label()),
        ),
        Judged::Undecidable(why) => (Class::Unverified, why),
    }
}

/// Counts per class, every class present (zeros included) so that a report shows what was checked.
pub fn counts(verdicts: &[Verdict]) -> BTreeMap<Class, usize> {
    let mut c: BTreeMap<Class, usize> = Class::ALL.iter().map(|k| (*k, 0)).collect();
    for v in verdicts {
        *c.entry(v.class).or_default() += 1;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:ap-southeast-2:271089868719:key/good";

    fn now() -> DateTime<Utc> {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    fn rule() -> RuleScope {
        RuleScope {
            label: "r".into(),
            prefix: "reports/".into(),
            tags: BTreeMap::new(),
            delete_markers: true,
            in_flight: Duration::from_secs(1800),
            replica_kms_key_arn: None,
            encryption: EncryptionScope::default(),
            other_sources: vec![],
            lifecycle: LifecycleMarkers::None,
        }
    }

    /// The rule of scenario A: SSE-KMS objects opted in, replicas under `key` (a key or alias
    /// ARN, resolving as `key_arns` says), the destination's default SSE-S3.
    fn kms_rule(key: &str, key_arns: &[(&str, Result<&str, &str>)]) -> RuleScope {
        RuleScope {
            replica_kms_key_arn: Some(key.into()),
            encryption: EncryptionScope {
                sse_kms_encrypted_objects: true,
                dest_default: Some(ObjectSse::new(SseKind::S3, None)),
                key_arns: key_arns
                    .iter()
                    .map(|(r, k)| {
                        (
                            r.to_string(),
                            k.map(str::to_string)
                                .map_err(|e| crate::access::Error::Undecided(e.to_string())),
                        )
                    })
                    .collect(),
            },
            ..rule()
        }
    }

    /// A version written `mins` minutes before now.
    fn v(key: &str, id: &str, size: u64, mins: i64) -> Version {
        Version {
            key: key.into(),
            version_id: id.into(),
            size,
            etag: Some("0123456789abcdef0123456789abcdef".into()),
            last_modified: now() - chrono::Duration::minutes(mins),
            delete_marker: false,
            head: Head::NotAsked,
        }
    }

    fn seen(status: Option<&str>, sse: Option<&str>, key: Option<&str>) -> Head {
        Head::Seen(HeadInfo {
            replication_status: status.map(str::to_string),
            sse: sse.map(str::to_string),
            kms_key_id: key.map(str::to_string),
        })
    }

    fn one(rule: &RuleScope, src: Vec<Version>, dst: Vec<Version>) -> Vec<(Class, String)> {
        classify(rule, "s", &src, "d", &dst, now())
            .into_iter()
            .map(|v| (v.class, v.key))
            .collect()
    }

    fn class_of(rule: &RuleScope, src: Vec<Version>, dst: Vec<Version>) -> Class {
        let all = one(rule, src, dst);
        assert_eq!(all.len(), 1, "{all:?}");
        all[0].0
    }

    #[test]
    fn a_replica_with_the_same_version_id_is_intact_and_another_id_is_not_its_replica() {
        let s = v("reports/a", "v1", 10, 60);
        assert_eq!(
            class_of(&rule(), vec![s.clone()], vec![v("reports/a", "v1", 10, 59)]),
            Class::Intact
        );
        // Same key, another version id: not this version's replica (replicas keep the id).
        let mut s2 = s.clone();
        s2.head = seen(Some("COMPLETED"), None, None);
        let got = one(&rule(), vec![s2], vec![v("reports/a", "other", 10, 59)]);
        assert_eq!(
            got,
            vec![
                (Class::Missing, "reports/a".into()),
                (Class::NoSource, "reports/a".into())
            ]
        );
    }

    #[test]
    fn a_status_that_says_nothing_is_coming_decides_before_the_age() {
        // COMPLETED without a replica: it arrived and is gone, however young.
        let mut old = v("reports/a", "v1", 10, 31);
        old.head = seen(Some("COMPLETED"), None, None);
        assert_eq!(class_of(&rule(), vec![old], vec![]), Class::Missing);
        let mut young = v("reports/a", "v1", 10, 29);
        young.head = seen(Some("COMPLETED"), None, None);
        assert_eq!(
            class_of(&rule(), vec![young.clone()], vec![]),
            Class::Missing
        );
        // FAILED is final; no status is never eligible; a replica at the source is not replicated.
        young.head = seen(Some("FAILED"), None, None);
        assert_eq!(
            class_of(&rule(), vec![young.clone()], vec![]),
            Class::Failed
        );
        young.head = seen(None, None, None);
        assert_eq!(
            class_of(&rule(), vec![young.clone()], vec![]),
            Class::NeverEligible
        );
        young.head = seen(Some("REPLICA"), None, None);
        assert_eq!(
            class_of(&rule(), vec![young.clone()], vec![]),
            Class::NeverEligible
        );
        // Not read yet: in flight, but what it could be is said (never a silent pass).
        young.head = Head::NotAsked;
        let all = classify(&rule(), "s", std::slice::from_ref(&young), "d", &[], now());
        assert_eq!(all[0].class, Class::InFlight);
        assert_eq!(all[0].could_be, YOUNG_UNREAD.to_vec());
        young.head = Head::Failed("s3:HeadObject failed: AccessDenied".into());
        let all = classify(&rule(), "s", std::slice::from_ref(&young), "d", &[], now());
        assert_eq!(all[0].class, Class::InFlight);
        assert!(all[0].detail.contains("AccessDenied"), "{}", all[0].detail);
        assert_eq!(all[0].could_be, YOUNG_UNREAD.to_vec());
    }

    #[test]
    fn failed_status_is_failed() {
        let mut s = v("reports/a", "v1", 10, 60);
        s.head = seen(Some("FAILED"), None, None);
        assert_eq!(class_of(&rule(), vec![s.clone()], vec![]), Class::Failed);
        // A replica that exists is judged by itself, whatever the source's status says.
        assert_eq!(
            class_of(&rule(), vec![s], vec![v("reports/a", "v1", 10, 59)]),
            Class::Intact
        );
    }

    #[test]
    fn pending_beyond_the_window_and_within_it() {
        let mut s = v("reports/a", "v1", 10, 60);
        s.head = seen(Some("PENDING"), None, None);
        assert_eq!(class_of(&rule(), vec![s], vec![]), Class::PendingTooLong);
        let mut y = v("reports/a", "v1", 10, 5);
        y.head = seen(Some("PENDING"), None, None);
        assert_eq!(class_of(&rule(), vec![y], vec![]), Class::InFlight);
    }

    #[test]
    fn size_mismatch_and_equal_size() {
        let s = v("reports/a", "v1", 10, 60);
        assert_eq!(
            class_of(&rule(), vec![s.clone()], vec![v("reports/a", "v1", 11, 59)]),
            Class::Mismatched
        );
        assert_eq!(
            class_of(&rule(), vec![s], vec![v("reports/a", "v1", 10, 59)]),
            Class::Intact
        );
    }

    #[test]
    fn etags_are_compared_only_when_both_are_md5_digests() {
        let mut s = v("reports/a", "v1", 10, 60);
        let mut d = v("reports/a", "v1", 10, 59);
        d.etag = Some("ffffffffffffffffffffffffffffffff".into());
        // Encryption unknown: ETags may legitimately differ (SSE-KMS), not compared.
        assert_eq!(
            class_of(&rule(), vec![s.clone()], vec![d.clone()]),
            Class::Intact
        );
        // SSE-KMS on one side: not an MD5 digest, not compared.
        s.head = seen(Some("COMPLETED"), Some("AES256"), None);
        d.head = seen(Some("REPLICA"), Some("aws:kms"), Some(KEY));
        assert_eq!(
            class_of(&rule(), vec![s.clone()], vec![d.clone()]),
            Class::Intact
        );
        // Both SSE-S3, single part: they must agree.
        d.head = seen(Some("REPLICA"), Some("AES256"), None);
        assert_eq!(
            class_of(&rule(), vec![s.clone()], vec![d.clone()]),
            Class::Mismatched
        );
        d.etag = s.etag.clone();
        assert_eq!(
            class_of(&rule(), vec![s.clone()], vec![d.clone()]),
            Class::Intact
        );
        // Multipart form: not compared.
        s.etag = Some("0123456789abcdef0123456789abcdef-3".into());
        d.etag = Some("ffffffffffffffffffffffffffffffff-3".into());
        assert_eq!(class_of(&rule(), vec![s], vec![d]), Class::Intact);
    }

    #[test]
    fn encryption_must_be_the_rules_replica_key() {
        let r = kms_rule(KEY, &[]);
        let mut s = v("reports/a", "v1", 10, 60);
        s.head = seen(
            Some("COMPLETED"),
            Some("aws:kms"),
            Some("arn:aws:kms:x:1:key/src"),
        );
        let mut d = v("reports/a", "v1", 10, 59);
        d.head = seen(
            Some("REPLICA"),
            Some("aws:kms"),
            Some("arn:aws:kms:x:1:key/dead"),
        );
        assert_eq!(
            class_of(&r, vec![s.clone()], vec![d.clone()]),
            Class::EncryptionMismatch
        );
        d.head = seen(Some("REPLICA"), Some("AES256"), None);
        assert_eq!(
            class_of(&r, vec![s.clone()], vec![d.clone()]),
            Class::EncryptionMismatch
        );
        d.head = seen(Some("REPLICA"), Some("aws:kms"), Some(KEY));
        assert_eq!(
            class_of(&r, vec![s.clone()], vec![d.clone()]),
            Class::Intact
        );
        // Not read: never intact.
        d.head = Head::NotAsked;
        assert_eq!(
            class_of(&r, vec![s.clone()], vec![d.clone()]),
            Class::Unverified
        );
        d.head = Head::Failed("s3:HeadObject failed: AccessDenied".into());
        assert_eq!(
            class_of(&r, vec![s.clone()], vec![d.clone()]),
            Class::Unverified
        );
        // The source's encryption not read: the replica's cannot be judged either.
        d.head = seen(Some("REPLICA"), Some("aws:kms"), Some(KEY));
        s.head = Head::NotAsked;
        assert_eq!(class_of(&r, vec![s], vec![d]), Class::Unverified);
    }

    const ALIAS: &str = "arn:aws:kms:ap-southeast-2:271089868719:alias/replicas";

    #[test]
    fn a_replica_key_named_by_alias_arn_is_compared_by_the_key_it_resolves_to() {
        let mut s = v("reports/a", "v1", 10, 60);
        s.head = seen(
            Some("COMPLETED"),
            Some("aws:kms"),
            Some("arn:aws:kms:x:1:key/src"),
        );
        let mut d = v("reports/a", "v1", 10, 59);
        d.head = seen(Some("REPLICA"), Some("aws:kms"), Some(KEY));
        let right = kms_rule(ALIAS, &[(ALIAS, Ok(KEY))]);
        assert_eq!(
            class_of(&right, vec![s.clone()], vec![d.clone()]),
            Class::Intact
        );
        let other = kms_rule(
            ALIAS,
            &[(
                ALIAS,
                Ok("arn:aws:kms:ap-southeast-2:271089868719:key/other"),
            )],
        );
        assert_eq!(
            class_of(&other, vec![s.clone()], vec![d.clone()]),
            Class::EncryptionMismatch
        );
        // Not resolved (DescribeKey refused, or never asked): unverified, never intact nor a fail.
        let denied = kms_rule(
            ALIAS,
            &[(ALIAS, Err("kms:DescribeKey failed: AccessDenied"))],
        );
        let got = classify(
            &denied,
            "s",
            std::slice::from_ref(&s),
            "d",
            std::slice::from_ref(&d),
            now(),
        );
        assert_eq!(got[0].class, Class::Unverified);
        assert!(got[0].detail.contains("AccessDenied"), "{}", got[0].detail);
        assert_eq!(got[0].could_be, vec![Class::EncryptionMismatch]);
        assert_eq!(
            class_of(&kms_rule(ALIAS, &[]), vec![s], vec![d]),
            Class::Unverified
        );
    }

    #[test]
    fn replica_encryption_follows_the_source_version() {
        let r = kms_rule(KEY, &[]);
        let pair = |src: Head, dst: Head| {
            let mut s = v("reports/a", "v1", 10, 60);
            s.head = src;
            let mut d = v("reports/a", "v1", 10, 59);
            d.head = dst;
            class_of(&r, vec![s], vec![d])
        };
        // SSE-S3 source under a rule with a replica key: the replica stays SSE-S3.
        assert_eq!(
            pair(
                seen(Some("COMPLETED"), Some("AES256"), None),
                seen(Some("REPLICA"), Some("AES256"), None)
            ),
            Class::Intact
        );
        assert_eq!(
            pair(
                seen(Some("COMPLETED"), Some("AES256"), None),
                seen(Some("REPLICA"), Some("aws:kms"), Some(KEY))
            ),
            Class::EncryptionMismatch
        );
        // Unencrypted source: the destination's default (SSE-S3 here).
        assert_eq!(
            pair(
                seen(Some("COMPLETED"), None, None),
                seen(Some("REPLICA"), Some("AES256"), None)
            ),
            Class::Intact
        );
        assert_eq!(
            pair(
                seen(Some("COMPLETED"), None, None),
                seen(Some("REPLICA"), None, None)
            ),
            Class::EncryptionMismatch
        );
        // ... and when the spec does not state it, unverified.
        let mut unknown = kms_rule(KEY, &[]);
        unknown.encryption.dest_default = None;
        let mut s = v("reports/a", "v1", 10, 60);
        s.head = seen(Some("COMPLETED"), None, None);
        let mut d = v("reports/a", "v1", 10, 59);
        d.head = seen(Some("REPLICA"), Some("AES256"), None);
        assert_eq!(class_of(&unknown, vec![s], vec![d]), Class::Unverified);
        // SSE-KMS source, SSE-KMS objects not opted in: S3 does not replicate it.
        let mut off = kms_rule(KEY, &[]);
        off.encryption.sse_kms_encrypted_objects = false;
        let mut s = v("reports/a", "v1", 10, 60);
        s.head = seen(
            Some("COMPLETED"),
            Some("aws:kms"),
            Some("arn:aws:kms:x:1:key/src"),
        );
        let mut d = v("reports/a", "v1", 10, 59);
        d.head = seen(Some("REPLICA"), Some("aws:kms"), Some(KEY));
        assert_eq!(class_of(&off, vec![s], vec![d]), Class::EncryptionMismatch);
    }

    #[test]
    fn no_replication_status_is_never_eligible() {
        let mut s = v("reports/a", "v1", 10, 60);
        s.head = seen(None, None, None);
        assert_eq!(
            class_of(&rule(), vec![s.clone()], vec![]),
            Class::NeverEligible
        );
        s.head = seen(Some("COMPLETED"), None, None);
        assert_eq!(class_of(&rule(), vec![s], vec![]), Class::Missing);
    }

    #[test]
    fn a_status_not_read_is_never_a_verdict() {
        let s = v("reports/a", "v1", 10, 60);
        assert_eq!(
            class_of(&rule(), vec![s.clone()], vec![]),
            Class::Unverified
        );
        let all = classify(&rule(), "s", std::slice::from_ref(&s), "d", &[], now());
        assert_eq!(all[0].could_be, STATUS_UNREAD.to_vec());
        let mut f = s;
        f.head = Head::Failed("s3:HeadObject failed: Timeout".into());
        assert_eq!(class_of(&rule(), vec![f], vec![]), Class::Unverified);
    }

    #[test]
    fn replicas_without_a_source_in_scope_only() {
        let got = one(
            &rule(),
            vec![],
            vec![v("reports/orphan", "x", 1, 60), v("other/x", "y", 1, 60)],
        );
        assert_eq!(got, vec![(Class::NoSource, "reports/orphan".into())]);
        let got = one(
            &rule(),
            vec![v("reports/orphan", "x", 1, 60)],
            vec![v("reports/orphan", "x", 1, 60)],
        );
        assert_eq!(got, vec![(Class::Intact, "reports/orphan".into())]);
    }

    #[test]
    fn delete_markers_follow_the_rule() {
        let mut m = v("reports/a", "dm1", 0, 60);
        m.delete_marker = true;
        assert_eq!(class_of(&rule(), vec![m.clone()], vec![]), Class::Missing);
        assert_eq!(
            class_of(&rule(), vec![m.clone()], vec![m.clone()]),
            Class::Intact
        );
        let off = RuleScope {
            delete_markers: false,
            ..rule()
        };
        assert!(one(&off, vec![m.clone()], vec![]).is_empty());
        let mut young = m;
        young.last_modified = now();
        assert_eq!(class_of(&rule(), vec![young], vec![]), Class::InFlight);
    }

    /// Issue 21 item 3: a source delete marker missing at the destination is `missing` only
    /// when no lifecycle expiration rule of the source bucket could have made it; under one it
    /// is `lifecycle-marker` (in no manifest); with the lifecycle not read, undecided.
    #[test]
    fn a_missing_delete_marker_under_a_lifecycle_expiration_rule_is_a_lifecycle_marker() {
        let mut m = v("reports/logs/a", "dm1", 0, 60);
        m.delete_marker = true;
        let with = |l: LifecycleMarkers| RuleScope {
            lifecycle: l,
            ..rule()
        };
        let rules = Ok(vec![(
            "expire-logs".to_string(),
            "reports/logs/".to_string(),
        )]);
        let got = classify(
            &with(LifecycleMarkers::for_prefix(&rules, "reports/")),
            "s",
            std::slice::from_ref(&m),
            "d",
            &[],
            now(),
        );
        assert_eq!(got[0].class, Class::LifecycleMarker);
        assert!(
            got[0].detail.contains("never replicated") && got[0].detail.contains("expire-logs"),
            "{}",
            got[0].detail
        );
        assert_eq!(Class::LifecycleMarker.repair(true), None);
        // A marker outside the lifecycle rule's prefix was made by a request: missing.
        let mut other = m.clone();
        other.key = "reports/other".into();
        assert_eq!(
            class_of(
                &with(LifecycleMarkers::for_prefix(&rules, "reports/")),
                vec![other],
                vec![]
            ),
            Class::Missing
        );
        // A lifecycle rule whose prefix does not reach the rule's scope does not count.
        assert_eq!(
            LifecycleMarkers::for_prefix(&Ok(vec![("x".into(), "scratch/".into())]), "reports/"),
            LifecycleMarkers::None
        );
        // A bucket-wide rule (empty prefix) reaches every key.
        assert_eq!(
            class_of(
                &with(LifecycleMarkers::for_prefix(
                    &Ok(vec![("all".into(), String::new())]),
                    "reports/"
                )),
                vec![m.clone()],
                vec![]
            ),
            Class::LifecycleMarker
        );
        // Not read: neither missing (High) nor a pass.
        let got = classify(
            &with(LifecycleMarkers::for_prefix(
                &Err(super::super::Error::Aws(
                    "s3:GetBucketLifecycleConfiguration failed: AccessDenied".into(),
                )),
                "reports/",
            )),
            "s",
            std::slice::from_ref(&m),
            "d",
            &[],
            now(),
        );
        assert_eq!(got[0].class, Class::Unverified);
        assert_eq!(got[0].could_be, vec![Class::Missing]);
        assert!(got[0].detail.contains("AccessDenied"), "{}", got[0].detail);
        // A replicated marker is intact whatever the lifecycle.
        assert_eq!(
            class_of(
                &with(LifecycleMarkers::Unknown("x".into())),
                vec![m.clone()],
                vec![m]
            ),
            Class::Intact
        );
    }

    /// Issue 21 item 4: a destination version under another rule into the same bucket is that
    /// rule's replica (`other-source`, counted), not `no-source`; both claimants are named.
    #[test]
    fn replicas_of_another_rule_into_the_same_bucket_are_other_source() {
        let mut r = rule();
        r.prefix = String::new();
        r.other_sources = vec![
            OtherRule {
                label: "app-logs rule 'logs'".into(),
                prefix: "logs/".into(),
                delete_markers: false,
            },
            OtherRule {
                label: "web-logs rule 'all'".into(),
                prefix: String::new(),
                delete_markers: false,
            },
        ];
        let mut dm = v("logs/dm", "m", 0, 60);
        dm.delete_marker = true;
        let got = classify(
            &r,
            "s",
            &[],
            "d",
            &[v("logs/a", "x", 1, 60), v("other/b", "y", 1, 60), dm],
            now(),
        );
        let by_key: BTreeMap<&str, &Verdict> = got.iter().map(|v| (v.key.as_str(), v)).collect();
        assert_eq!(by_key["logs/a"].class, Class::OtherSource);
        assert!(
            by_key["logs/a"].detail.contains("app-logs")
                && by_key["logs/a"].detail.contains("web-logs"),
            "{}",
            by_key["logs/a"].detail
        );
        assert_eq!(by_key["other/b"].class, Class::OtherSource);
        // Neither other rule replicates delete markers: a marker is no-source.
        assert_eq!(by_key["logs/dm"].class, Class::NoSource);
        r.other_sources.truncate(1);
        assert_eq!(
            class_of(&r, vec![], vec![v("other/b", "y", 1, 60)]),
            Class::NoSource
        );
    }

    #[test]
    fn out_of_scope_versions_are_ignored() {
        assert!(one(&rule(), vec![v("scratch/a", "v1", 1, 60)], vec![]).is_empty());
    }

    #[test]
    fn heads_are_planned_only_where_they_decide() {
        let r = kms_rule(KEY, &[]);
        let mut dm = v("reports/dm", "m", 0, 60);
        dm.delete_marker = true;
        let src = vec![
            v("reports/replicated", "1", 1, 60), // replica present -> HEAD both (encryption)
            v("reports/missing", "2", 1, 60),    // no replica, old -> HEAD the source
            v("reports/young", "3", 1, 1),       // no replica, young -> HEAD the source, last
            v("scratch/x", "4", 1, 60),          // out of scope -> nothing
            dm,                                  // delete marker -> never
        ];
        let dst = vec![v("reports/replicated", "1", 1, 59)];
        let p = plan_heads(&r, &src, &dst, now());
        assert_eq!(p.source, vec![0, 1, 2]);
        assert_eq!(p.destination, vec![0]);
        // No encryption requirement: replicas need no HEAD.
        let p = plan_heads(&rule(), &src, &dst, now());
        assert_eq!(p.source, vec![1, 2]);
        assert!(p.destination.is_empty());
    }

    #[test]
    fn tag_rules_are_refused_with_a_reason() {
        let mut r = rule();
        assert!(r.unsupported().is_none());
        r.tags.insert("replicate".into(), "yes".into());
        let why = r.unsupported().unwrap();
        assert!(
            why.contains("Inventory") && !why.contains("next slice"),
            "{why}"
        );
    }

    #[test]
    fn batch_replication_takes_failed_never_eligible_and_pending_a_deleted_replica_is_copied() {
        let jobs = |dm: bool| -> Vec<(Class, Repair)> {
            Class::ALL
                .into_iter()
                .filter_map(|c| c.repair(dm).map(|r| (c, r)))
                .collect()
        };
        assert_eq!(
            jobs(false),
            vec![
                (Class::Missing, Repair::CopyInPlace),
                (Class::Failed, Repair::BatchReplication),
                (Class::PendingTooLong, Repair::BatchReplication),
                (Class::NeverEligible, Repair::BatchReplication),
            ]
        );
        // A delete marker cannot be copied: a missing one is in no job.
        assert!(!jobs(true).iter().any(|(c, _)| *c == Class::Missing));
    }
}
