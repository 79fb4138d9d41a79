//! reconcile's checks: one per class of version `replaudit reconcile` reports, plus the listing
//! itself, declared like the rules so that `rules --explain`, `--rules`/`--skip-rules`, mutes and
//! the SARIF rule list know them. [`crate::reconcile`] takes every reconcile finding's id, title,
//! severity, scenario, remediation and references from here.

use super::RuleMeta;

declare_rule! {
    /// A replica with the same key and version id, same size (and ETag, where comparable),
    /// encrypted as the rule requires. No replica yet, younger than the in-flight window, and
    /// nothing says it will not come: PENDING, a delete marker (which has no status), or a status
    /// not read (yet). Not blamed.
    pub static REPLICATED;
    id: "reconcile-replicated",
    title: "Source versions in the rule's scope are replicated and intact",
    severity: Info,
    scenarios: [Step4],
    remediation: "Nothing to repair: the counts are for the record. Versions in flight are judged again by the next run; one still PENDING past the window is reported by reconcile-pending.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html",
    ],
}

declare_rule! {
    /// No replica although it arrived once (COMPLETED: the replica was deleted since), at any age;
    /// or a delete marker older than the window.
    pub static MISSING;
    id: "reconcile-missing",
    title: "No source version is missing at the destination",
    severity: High,
    scenarios: [Step4],
    remediation: "These versions were replicated (COMPLETED) and their replicas are gone, most likely deleted at the destination by version id, which S3 Batch Replication cannot re-replicate: copy the source versions in place with the Batch Operations Copy job printed (copy-in-place manifest written next to the reports); each copy is a new version of its key, which the rule replicates. A delete marker missing at the destination: delete the key there without a version id. Then find out how the replicas disappeared (a lifecycle rule or a delete at the destination).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-copy-object.html",
    ],
}

declare_rule! {
    /// The source version says FAILED: S3 never retries it.
    pub static FAILED;
    id: "reconcile-failed",
    title: "No source version's replication FAILED",
    severity: High,
    scenarios: [Step4],
    remediation: "Fix the cause (role permissions, KMS key policy, destination bucket policy), then replicate the listed versions with S3 Batch Replication: S3 never retries a FAILED replication.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-batch-replication-batch.html",
    ],
}

declare_rule! {
    /// The source version still says PENDING after the window.
    pub static PENDING;
    id: "reconcile-pending",
    title: "No source version stays PENDING beyond the in-flight window",
    severity: Medium,
    scenarios: [Step4],
    remediation: "Check the rule's replication metrics (OperationsPendingReplication, ReplicationLatency) and the role's permissions; re-run reconcile later, or replicate the listed versions with S3 Batch Replication (manifest written next to the reports).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html",
    ],
}

declare_rule! {
    /// The replica differs in size or (where comparable) ETag.
    pub static MISMATCHED;
    id: "reconcile-mismatched",
    title: "Every replica matches its source version (size, ETag where comparable)",
    severity: High,
    scenarios: [Step4],
    remediation: "Compare the listed replicas with their sources; replace them with S3 Batch Replication or a copy of the source version.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html",
    ],
}

declare_rule! {
    /// The replica is not encrypted as the rule requires.
    pub static ENCRYPTION;
    id: "reconcile-encryption",
    title: "Every replica is encrypted as the rule requires",
    severity: High,
    scenarios: [ScenarioA],
    remediation: "Check the rule's ReplicaKmsKeyID and SseKmsEncryptedObjects; re-encrypt the listed replicas under the required key (copy in place with SSE-KMS).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html",
    ],
}

declare_rule! {
    /// No replication status at all: written before the rule, or not picked up by it.
    pub static NEVER_ELIGIBLE;
    id: "reconcile-never-eligible",
    title: "Every source version in the rule's scope was picked up by replication",
    severity: High,
    scenarios: [Step4],
    remediation: "These versions carry no replication status (written before the rule, or while it did not match them): replicate them with S3 Batch Replication (manifest written next to the reports).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-batch-replication-batch.html",
    ],
}

declare_rule! {
    /// A destination version in the rule's scope that no source version explains.
    pub static NO_SOURCE;
    id: "reconcile-no-source",
    title: "Every version at the destination has a source version",
    severity: Low,
    scenarios: [Step4],
    remediation: "Versions at the destination without a source were deleted at the source (deleting a version is not replicated) or written into the destination directly: review them.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html",
    ],
}

declare_rule! {
    /// A destination version with no source in this rule, under the scope of another rule of the
    /// spec that replicates into the same bucket: that rule's replica (judged as that rule's source
    /// version), counted here, not a fail. Counted rather than left out so that every destination
    /// version in scope is accounted for. Two rules that could both claim it are both named in the
    /// detail; the class does not depend on which made it.
    pub static OTHER_SOURCE;
    id: "reconcile-other-source",
    title: "Destination versions of other rules into the same bucket are counted apart",
    severity: Info,
    scenarios: [Step4],
    remediation: "Nothing to repair here: these versions are judged as the source versions of the other rules named (reconcile those rules for their verdicts).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication.html",
    ],
}

declare_rule! {
    /// A source delete marker missing at the destination that an enabled S3 Lifecycle expiration
    /// rule of the source bucket may have made: S3 never replicates those (`LifecycleMarkers`), and
    /// a listing cannot tell it from a user's. Low, in no manifest.
    pub static LIFECYCLE_MARKER;
    id: "reconcile-lifecycle-marker",
    title: "No source delete marker that S3 Lifecycle may have made is missing at the destination",
    severity: Low,
    scenarios: [Step4],
    remediation: "S3 never replicates a delete marker that an S3 Lifecycle expiration rule of the source adds, and a listing cannot tell it from a user's: the keys stay current at the destination. If they should expire there too, give the destination bucket the same lifecycle expiration rule; if a marker was a user's delete, delete the key at the destination without a version id.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html",
    ],
}

declare_rule! {
    /// A HeadObject the verdict needed failed or was not made (`--max-heads`): not seen.
    pub static UNVERIFIED;
    id: "reconcile-unverified",
    title: "Every version's verdict was read, none assumed",
    severity: High,
    scenarios: [Step4],
    remediation: "Grant s3:GetObjectVersion on both buckets, or raise --max-heads; a version whose HeadObject answered 400 is SSE-C, whose metadata is not readable without the customer key: reconcile it from S3 Inventory, which lists its replication status; for a missing delete marker whose lifecycle could not be read, grant s3:GetLifecycleConfiguration on the source (a marker S3 Lifecycle made is never replicated); for a replica whose encryption cannot be decided, state the destination's default_encryption in the spec (an unencrypted source's replica takes it) and grant kms:DescribeKey on a replica key the spec names by alias ARN; re-run reconcile.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html",
    ],
}

declare_rule! {
    /// Both buckets of a replication rule were listed to the end (ListObjectVersions, every page)
    /// or their inventories read: an `error` when a listing or an inventory could not be read
    /// (nothing of the rule was judged: never a pass), a `skip` when the run does not reconcile
    /// that rule (inventories of other buckets).
    pub static LISTING;
    id: "reconcile-listing",
    title: "Both buckets of the rule were listed to the end",
    severity: High,
    scenarios: [Step4],
    remediation: "Grant the permissions of docs/reconcile-readonly-policy.json in both accounts (s3:ListBucketVersions, s3:GetObjectVersion) and re-run; nothing of this rule was judged.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html",
    ],
}

/// Every reconcile check, in report order.
pub static ALL: &[&RuleMeta] = &[
    &REPLICATED,
    &MISSING,
    &FAILED,
    &PENDING,
    &MISMATCHED,
    &ENCRYPTION,
    &NEVER_ELIGIBLE,
    &NO_SOURCE,
    &OTHER_SOURCE,
    &LIFECYCLE_MARKER,
    &UNVERIFIED,
    &LISTING,
];
