//! The canary's checks: what every canary finding carries besides its measurement (title,
//! severity, remediation, references), declared like the rules so that `replaudit rules
//! --explain` documents them and the reports treat canary findings like any other.

use super::RuleMeta;

declare_rule! {
    /// The canary writes a uniquely named object (If-None-Match: *, tagged with the run id)
    /// into the source bucket under each replicated prefix. If that write fails, nothing
    /// downstream can be measured; the finding names the call and the error.
    pub static WRITE;
    id: "canary-write",
    title: "Canary object written into the source bucket",
    severity: High,
    scenarios: [Step4, ScenarioB, ScenarioD],
    remediation: "Give the writing identity (the source account's credentials, or a scenario C uploader for prefixes only uploaders may write) s3:PutObject and s3:PutObjectTagging on the prefix, and kms:GenerateDataKey on the bucket key for SSE-KMS buckets.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html",
    ],
}

declare_rule! {
    /// Time from the canary PutObject acknowledgement to the first poll that lists the replica
    /// in the destination (ListObjectVersions: the canary policy has no s3:ListBucket, without
    /// which HeadObject of a missing key is 403); an upper bound, the previous poll is the lower
    /// bound. The replica's LastModified is not a latency figure: replicas keep the source's
    /// creation time. Fails when no replica appears within the Replication Time Control window
    /// (15 minutes) or --canary-timeout; an error when the run was stopped before.
    pub static LATENCY;
    id: "canary-replication-latency",
    title: "Canary replicated within the RTC window",
    severity: High,
    scenarios: [Step4, ScenarioD],
    remediation: "Check the replication rule (enabled, filter matches the prefix), the role's trust and permissions, the destination bucket policy, versioning on both buckets and the KMS key policies; the replication metrics (OperationsFailedReplication) name the cause.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-time-control.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-troubleshoot.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication.html",
    ],
}

declare_rule! {
    /// The source object's x-amz-replication-status goes to COMPLETED and the replica reports
    /// REPLICA. FAILED, a status stuck at PENDING, or no status at all (no enabled rule
    /// matched) are failures naming the object key. With several destinations the source's status
    /// covers all of them, so a FAILED is attributed only to the destinations without their
    /// replica.
    pub static STATUS;
    id: "canary-replication-status",
    title: "Canary replication status COMPLETED, replica REPLICA",
    severity: High,
    scenarios: [Step4, ScenarioD],
    remediation: "FAILED usually means the role cannot read the source version, write the destination, or use a KMS key; no status means no enabled rule matches the key.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html#replication-status-multiple-destinations",
    ],
}

declare_rule! {
    /// The replica keeps the source object's encryption type: an SSE-KMS source object is re-
    /// encrypted with the rule's replica KMS key, SSE-S3 stays SSE-S3 (the destination's
    /// default encryption is not applied to replicas).
    pub static ENCRYPTION;
    id: "canary-replica-encryption",
    title: "Canary replica encrypted as the spec expects",
    severity: High,
    scenarios: [ScenarioA, Step4, ScenarioD],
    remediation: "Set the rule's Destination.EncryptionConfiguration.ReplicaKmsKeyID to the key the spec names, and SourceSelectionCriteria.SseKmsEncryptedObjects to Enabled.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html",
    ],
}

declare_rule! {
    /// With each principal's own credentials: an allowed principal's GetObject returns the
    /// bytes the canary wrote (ListBucket lists the canary); a denied principal gets
    /// AccessDenied. Any other outcome fails with the error code seen.
    pub static ACCESS;
    id: "canary-access",
    title: "Canary readable by the allowed principals only",
    severity: High,
    scenarios: [Step5, ScenarioA],
    remediation: "Cross-account access needs both the bucket policy and the principal's identity policy to allow the action, and kms:Decrypt in the key policy and identity policy for SSE-KMS objects; a denied principal must be granted by neither.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-walkthroughs-managing-access-example2.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html",
    ],
}

declare_rule! {
    /// A canary written under scenario_b.unreplicated_prefix must not appear in any destination
    /// of the replication within the observation window (--canary-observe).
    pub static PREFIX_FILTER;
    id: "canary-prefix-filter",
    title: "Canary outside the replicated prefixes is not replicated",
    severity: Medium,
    scenarios: [ScenarioB],
    remediation: "Narrow the replication rules' filters to the prefixes that may leave the source.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-add-config.html",
    ],
}

declare_rule! {
    /// As each scenario_c uploader, PutObject into each replicated prefix succeeds and the
    /// object replicates; as each non-uploader it gets AccessDenied. S3 replication cannot
    /// filter on the uploader, so this is what enforces scenario C.
    pub static UPLOADERS;
    id: "canary-uploaders",
    title: "Only the permitted uploaders can write into replicated prefixes",
    severity: High,
    scenarios: [ScenarioC],
    remediation: "Deny s3:PutObject on the replicated prefixes in the bucket policy to every principal except the uploaders (e.g. ArnNotEquals aws:PrincipalArn).",
    references: [
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn",
    ],
}

declare_rule! {
    /// A simple DELETE (no version id) of the canary creates a delete marker in the source; it
    /// must appear in the destination when the rule replicates delete markers (within the
    /// timeout) and must not appear within the observation window when it does not.
    pub static DELETE_MARKER;
    id: "canary-delete-marker",
    title: "Canary delete marker replicated as the spec expects",
    severity: Medium,
    scenarios: [Step4, ScenarioD],
    remediation: "Set the rule's DeleteMarkerReplication Status to the value the spec expects.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html",
    ],
}

declare_rule! {
    /// After the run (success, failure, timeout or interruption) the canary deletes, by version
    /// id, every object version and delete marker it created or saw replicated, then lists the
    /// run's own prefixes in every bucket it touched: what is left there is reported.
    pub static CLEANUP;
    id: "canary-cleanup",
    title: "Canary left no object versions behind",
    severity: Medium,
    scenarios: [Step4],
    remediation: "Run `replaudit canary cleanup --spec F --run-id ID` once replication has settled; it deletes only versions tagged with the run id and delete markers under the run prefix.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeletingObjectVersions.html",
    ],
}

declare_rule! {
    /// Scenario D: the canary writes a few events to a dedicated log stream (`replaudit-
    /// canary-<run- id>`) of the spec's first log group, runs CreateExportTask into the log
    /// bucket under `<export_prefix>replaudit-canary/<run-id>`, and waits for the task to
    /// complete and its objects to appear. CloudWatch Logs allows one active export task per
    /// account: while another is active the canary waits (up to --canary-timeout) and retries; if
    /// it stays active, the finding is an error naming LimitExceededException.
    pub static LOG_EXPORT;
    id: "canary-log-export",
    title: "CloudWatch Logs export reaches the log bucket",
    severity: High,
    scenarios: [ScenarioD],
    remediation: "Let the CloudWatch Logs service principal of the region write to the log bucket (s3:GetBucketAcl on the bucket, s3:PutObject under the export prefix, with aws:SourceAccount / aws:SourceArn conditions), and check the log group exists.",
    references: [
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/S3ExportTasks.html",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateExportTask.html",
    ],
}

declare_rule! {
    /// Scenario D: every object the canary's export task wrote under the export prefix appears
    /// in the backup bucket within the RTC window or --canary-timeout; the latency is measured
    /// from the export's completion.
    pub static LOG_REPLICATION;
    id: "canary-log-replication",
    title: "Exported logs replicated to the backup bucket",
    severity: High,
    scenarios: [ScenarioD],
    remediation: "Check the log replication rule covers the export prefix, versioning on both buckets, and the role's permissions.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication.html",
    ],
}

/// Every canary check, for `replaudit rules` listings.
pub static ALL: [&RuleMeta; 11] = [
    &WRITE,
    &LATENCY,
    &STATUS,
    &ENCRYPTION,
    &ACCESS,
    &PREFIX_FILTER,
    &UPLOADERS,
    &DELETE_MARKER,
    &CLEANUP,
    &LOG_EXPORT,
    &LOG_REPLICATION,
];
