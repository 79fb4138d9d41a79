//! `replaudit reconcile`: prove, object version by object version, that what a replication rule
//! covers at the source is at the destination, intact and encrypted as required (issue 13).
//!
//! [`compare`] decides (pure); [`live`] reads the two buckets (ListObjectVersions, bounded
//! HeadObject). This module turns the verdicts into findings of the one findings model, the full
//! list of versions, and an S3 Batch Replication manifest for the versions that need it.
//! S3 Inventory and Athena reach the same verdicts through one comparison SQL ([`sql`]), which
//! the differential test checks against [`compare::classify`].

pub mod athena;
pub mod compare;
pub mod configured;
pub mod engine;
pub mod from_inventory;
pub mod inventory;
pub mod live;
pub mod sql;

use crate::findings::{Finding, Scenario, Severity, Status};
use compare::{Class, Verdict};
use live::RuleOutcome;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Keys per finding's evidence sample; the full list is in the file.
pub const SAMPLE: usize = 20;

const REF_STATUS: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html";
const REF_WHAT: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html";
const REF_BATCH: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-batch-replication-batch.html";
const REF_KMS: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html";
const REF_ETAG: &str = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html";
const REF_LIST: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html";

/// The finding of one class: id, title, severity, scenario, remediation, references.
struct ClassMeta {
    id: &'static str,
    title: &'static str,
    severity: Severity,
    scenario: Scenario,
    remediation: &'static str,
    references: &'static [&'static str],
}

fn meta(c: Class) -> ClassMeta {
    let m = |id, title, severity, scenario, remediation, references| ClassMeta {
        id,
        title,
        severity,
        scenario,
        remediation,
        references,
    };
    use Severity::*;
    match c {
        Class::Intact | Class::InFlight => m(
            "reconcile-replicated",
            "Source versions in the rule's scope are replicated and intact",
            Info,
            Scenario::Step4,
            "",
            &[REF_WHAT],
        ),
        Class::Missing => m(
            "reconcile-missing",
            "No source version is missing at the destination",
            High,
            Scenario::Step4,
            "Replicate the listed versions with S3 Batch Replication (manifest written next to the reports), then find out how the replicas disappeared (a lifecycle rule or a delete at the destination).",
            &[REF_BATCH, REF_WHAT],
        ),
        Class::Failed => m(
            "reconcile-failed",
            "No source version's replication FAILED",
            High,
            Scenario::Step4,
            "Fix the cause (role permissions, KMS key policy, destination bucket policy), then replicate the listed versions with S3 Batch Replication: S3 never retries a FAILED replication.",
            &[REF_STATUS, REF_BATCH],
        ),
        Class::PendingTooLong => m(
            "reconcile-pending",
            "No source version stays PENDING beyond the in-flight window",
            Medium,
            Scenario::Step4,
            "Check the rule's replication metrics (OperationsPendingReplication, ReplicationLatency) and the role's permissions; re-run reconcile later.",
            &[REF_STATUS],
        ),
        Class::Mismatched => m(
            "reconcile-mismatched",
            "Every replica matches its source version (size, ETag where comparable)",
            High,
            Scenario::Step4,
            "Compare the listed replicas with their sources; replace them with S3 Batch Replication or a copy of the source version.",
            &[REF_WHAT, REF_ETAG],
        ),
        Class::EncryptionMismatch => m(
            "reconcile-encryption",
            "Every replica is encrypted as the rule requires",
            High,
            Scenario::ScenarioA,
            "Check the rule's ReplicaKmsKeyID and SseKmsEncryptedObjects; re-encrypt the listed replicas under the required key (copy in place with SSE-KMS).",
            &[REF_KMS],
        ),
        Class::NeverEligible => m(
            "reconcile-never-eligible",
            "Every source version in the rule's scope was picked up by replication",
            High,
            Scenario::Step4,
            "These versions carry no replication status (written before the rule, or while it did not match them): replicate them with S3 Batch Replication (manifest written next to the reports).",
            &[REF_STATUS, REF_BATCH],
        ),
        Class::NoSource => m(
            "reconcile-no-source",
            "Every version at the destination has a source version",
            Low,
            Scenario::Step4,
            "Versions at the destination without a source were deleted at the source (deleting a version is not replicated) or written into the destination directly: review them.",
            &[REF_WHAT],
        ),
        Class::Unverified => m(
            "reconcile-unverified",
            "Every version's verdict was read, none assumed",
            High,
            Scenario::Step4,
            "Grant s3:GetObjectVersion on both buckets, or raise --max-heads; re-run reconcile.",
            &[REF_STATUS],
        ),
    }
}

/// The classes reported as their own finding (Intact and InFlight share `reconcile-replicated`).
const REPORTED: [Class; 8] = [
    Class::Missing,
    Class::Failed,
    Class::PendingTooLong,
    Class::Mismatched,
    Class::EncryptionMismatch,
    Class::NeverEligible,
    Class::NoSource,
    Class::Unverified,
];

fn resource(o: &RuleOutcome) -> String {
    format!(
        "s3://{} -> s3://{} ({})",
        o.source_bucket, o.destination_bucket, o.rule.label
    )
}

fn sample(verdicts: &[&Verdict]) -> serde_json::Value {
    json!(verdicts
        .iter()
        .take(SAMPLE)
        .map(|v| json!({
            "bucket": v.bucket, "key": v.key, "version_id": v.version_id,
            "delete_marker": v.delete_marker, "detail": v.detail
        }))
        .collect::<Vec<_>>())
}

/// Findings of one rule: one per reported class (pass with zero, fail/error otherwise), plus
/// `reconcile-replicated` with the counts; or one `reconcile-listing` finding when the rule
/// could not be read (error) or is not reconciled by this slice (skip).
pub fn findings(o: &RuleOutcome, files: &Files) -> Vec<Finding> {
    let res = resource(o);
    let base = |id: &str, title: &str, status, severity, scenario, message: String| Finding {
        id: id.into(),
        title: title.into(),
        scenario,
        status,
        severity,
        resource: res.clone(),
        message,
        evidence: json!({}),
        remediation: String::new(),
        references: vec![],
        duration_secs: None,
        location: None,
        muted: None,
        replications: vec![],
    };
    if let Some(e) = &o.error {
        let mut f = base(
            "reconcile-listing",
            "Both buckets of the rule were listed to the end",
            Status::Error,
            Severity::High,
            Scenario::Step4,
            format!("{}: {e}", o.rule.label),
        );
        f.remediation = "Grant the permissions of docs/reconcile-readonly-policy.json in both accounts (s3:ListBucketVersions, s3:GetObjectVersion) and re-run; nothing of this rule was judged.".into();
        f.references = vec![REF_LIST.into()];
        f.evidence = json!({"requests": o.requests});
        return vec![f];
    }
    if let Some(why) = &o.skipped {
        let mut f = base(
            "reconcile-listing",
            "Both buckets of the rule were listed to the end",
            Status::Skip,
            Severity::Info,
            Scenario::Step4,
            format!("{}: not reconciled: {why}", o.rule.label),
        );
        f.references = vec![REF_LIST.into()];
        return vec![f];
    }
    let counts = o
        .totals
        .clone()
        .unwrap_or_else(|| compare::counts(&o.verdicts));
    let per_1000 = |n: usize| {
        let versions = o.source_versions + o.destination_versions;
        if versions == 0 {
            0.0
        } else {
            (n as f64 * 1000.0 / versions as f64 * 10.0).round() / 10.0
        }
    };
    let common = json!({
        "source_bucket": o.source_bucket,
        "destination_bucket": o.destination_bucket,
        "prefix": o.rule.prefix,
        "in_flight_window_secs": o.rule.in_flight.as_secs(),
        "source_versions": o.source_versions,
        "destination_versions": o.destination_versions,
        "requests": o.requests,
        "requests_per_1000_versions": per_1000(o.requests.total()),
        "heads_not_made": o.heads_not_made,
        "counts": counts.iter().map(|(k, v)| (k.as_str(), *v)).collect::<BTreeMap<_, _>>(),
        "full_list": files.list.as_ref().map(|p| p.display().to_string()),
    });
    let mut common = common;
    if let Some(inv) = &o.inventory {
        common["inventory"] = inv.clone();
    }
    if !o.notes.is_empty() {
        common["notes"] = json!(o.notes);
    }
    let mut out = Vec::new();
    let m = meta(Class::Intact);
    let mut f = base(
        m.id,
        m.title,
        Status::Pass,
        m.severity,
        m.scenario,
        format!(
            "{}: {} of {} source versions in scope replicated and intact, {} in flight (younger than {}s)",
            o.rule.label,
            counts[&Class::Intact],
            counts
                .iter()
                .filter(|(c, _)| **c != Class::NoSource)
                .map(|(_, n)| n)
                .sum::<usize>(),
            counts[&Class::InFlight],
            o.rule.in_flight.as_secs()
        ),
    );
    f.evidence = common.clone();
    f.references = m.references.iter().map(|s| s.to_string()).collect();
    out.push(f);
    for c in REPORTED {
        let m = meta(c);
        let these: Vec<&Verdict> = o.verdicts.iter().filter(|v| v.class == c).collect();
        // The inventory path keeps a sample only: the count is the total's.
        let count = counts[&c];
        // Versions not read that could be in this class: its "none" is not a pass.
        let unread: Vec<&Verdict> = o
            .verdicts
            .iter()
            .filter(|v| v.could_be.contains(&c))
            .collect();
        // What the source of truth could not show (the replica's KMS key in an inventory) is
        // never a pass: none found among what was visible is a skip with the reason.
        let blind = c == Class::EncryptionMismatch && !o.notes.is_empty();
        let status = match (c, count == 0) {
            (_, true) if !unread.is_empty() => Status::Error,
            (_, true) if blind => Status::Skip,
            (_, true) => Status::Pass,
            (Class::Unverified, false) => Status::Error,
            _ => Status::Fail,
        };
        let message = if count == 0 && !unread.is_empty() {
            format!(
                "{}: none {} among the versions read, but {} version(s) that could be were not read, e.g. {} {} ({})",
                o.rule.label,
                c.as_str(),
                unread.len(),
                unread[0].key,
                unread[0].version_id,
                unread[0].detail
            )
        } else if count == 0 {
            format!("{}: none {}", o.rule.label, c.as_str())
        } else {
            format!(
                "{}: {} version(s) {}, e.g. {} {} ({})",
                o.rule.label,
                count,
                c.as_str(),
                these[0].key,
                these[0].version_id,
                these[0].detail
            )
        };
        let message = if blind {
            format!("{message}; {}", o.notes.join("; "))
        } else {
            message
        };
        let mut f = base(m.id, m.title, status, m.severity, m.scenario, message);
        let mut ev = common.clone();
        ev["count"] = json!(count);
        ev["sample"] = sample(&these);
        if c.needs_batch_replication() && count > 0 {
            ev["batch_manifest"] = json!(files.manifest.as_ref().map(|p| p.display().to_string()));
        }
        f.evidence = ev;
        if status != Status::Pass {
            f.remediation = m.remediation.into();
        }
        f.references = m.references.iter().map(|s| s.to_string()).collect();
        out.push(f);
    }
    out
}

/// Files written next to the reports.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// Every verdict: `rule,class,bucket,key,version_id,delete_marker,detail`.
    pub list: Option<PathBuf>,
    /// The Batch Replication manifest (absent when nothing needs it).
    pub manifest: Option<PathBuf>,
}

/// A CSV field, quoted when it needs to be (RFC 4180).
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The full list of verdicts as CSV.
pub fn list_csv(outcomes: &[RuleOutcome]) -> String {
    let mut s = String::from("rule,class,bucket,key,version_id,delete_marker,detail\n");
    for o in outcomes {
        for v in &o.verdicts {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{}",
                csv_field(&o.rule.label),
                v.class.as_str(),
                csv_field(&v.bucket),
                csv_field(&v.key),
                csv_field(&v.version_id),
                v.delete_marker,
                csv_field(&v.detail)
            );
        }
    }
    s
}

/// Characters of a key escaped in the manifest: everything but unreserved characters and `/`
/// (the manifest's keys "must be URL-encoded").
const KEY_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// A key as the Batch Operations manifest wants it (URL-encoded).
pub(crate) fn encode_manifest_key(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, KEY_ENCODE).to_string()
}

/// The S3 Batch Operations CSV manifest (`S3BatchOperations_CSV_20180820`, fields `Bucket`,
/// `Key`, `VersionId`, no header, keys URL-encoded) of the versions S3 Batch Replication must
/// replicate: missing, FAILED and never eligible. One manifest per source bucket would be needed
/// for one job per bucket; rows name their bucket, so `rows_by_bucket` splits it.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-create-job.html#create-manifest-file>,
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_JobManifestSpec.html>
pub fn manifest_rows(outcomes: &[RuleOutcome]) -> BTreeMap<String, Vec<String>> {
    let mut by_bucket: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in outcomes {
        for v in o
            .verdicts
            .iter()
            .filter(|v| v.class.needs_batch_replication())
        {
            let key = encode_manifest_key(&v.key);
            by_bucket
                .entry(v.bucket.clone())
                .or_default()
                .push(format!("{},{},{}", v.bucket, key, v.version_id));
        }
    }
    for rows in by_bucket.values_mut() {
        rows.sort();
        rows.dedup();
    }
    by_bucket
}

/// The AWS CLI commands that start a Batch Replication job from a manifest (printed, never run).
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-batch-replication-existing-config.html>,
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_S3ReplicateObjectOperation.html>
pub fn batch_command(
    manifest: &Path,
    bucket: &str,
    account_id: &str,
    region: &str,
    partition: &str,
) -> String {
    let name = manifest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(
        "# Batch Replication for s3://{bucket} (replaudit never starts it):\n\
         aws s3 cp {manifest} s3://MANIFEST-BUCKET/{name}\n\
         ETAG=$(aws s3api head-object --bucket MANIFEST-BUCKET --key {name} --query ETag --output text)\n\
         aws s3control create-job --region {region} --account-id {account_id} \\\n  \
         --operation '{{\"S3ReplicateObject\":{{}}}}' \\\n  \
         --manifest '{{\"Spec\":{{\"Format\":\"S3BatchOperations_CSV_20180820\",\"Fields\":[\"Bucket\",\"Key\",\"VersionId\"]}},\"Location\":{{\"ObjectArn\":\"arn:{partition}:s3:::MANIFEST-BUCKET/{name}\",\"ETag\":\"'$ETAG'\"}}}}' \\\n  \
         --report '{{\"Bucket\":\"arn:{partition}:s3:::REPORT-BUCKET\",\"Prefix\":\"batch-replication\",\"Format\":\"Report_CSV_20180820\",\"Enabled\":true,\"ReportScope\":\"AllTasks\"}}' \\\n  \
         --priority 1 --role-arn arn:{partition}:iam::{account_id}:role/BATCH-OPERATIONS-ROLE --no-confirmation-required\n",
        manifest = manifest.display(),
    )
}

/// Write the full list and the manifests into `dir`; returns the files and the commands to print.
pub fn write_files(
    outcomes: &[RuleOutcome],
    dir: &Path,
    stamp: &str,
) -> Result<(Files, Vec<String>), String> {
    let write = |p: &Path, body: &str| {
        std::fs::write(p, body).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    let list = dir.join(format!("reconcile-{stamp}-versions.csv"));
    write(&list, &list_csv(outcomes))?;
    let (manifest, commands) = write_manifests(outcomes, manifest_rows(outcomes), dir, stamp)?;
    Ok((
        Files {
            list: Some(list),
            manifest,
        },
        commands,
    ))
}

/// Write one Batch Replication manifest per source bucket (rows sorted, duplicates dropped);
/// returns the first manifest and the commands to print.
pub fn write_manifests(
    outcomes: &[RuleOutcome],
    mut by_bucket: BTreeMap<String, Vec<String>>,
    dir: &Path,
    stamp: &str,
) -> Result<(Option<PathBuf>, Vec<String>), String> {
    let write = |p: &Path, body: &str| {
        std::fs::write(p, body).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    for rows in by_bucket.values_mut() {
        rows.sort();
        rows.dedup();
    }
    let mut first = None;
    let mut commands = Vec::new();
    for (bucket, rows) in by_bucket {
        let p = dir.join(format!("reconcile-{stamp}-batch-manifest-{bucket}.csv"));
        write(&p, &(rows.join("\n") + "\n"))?;
        if let Some(o) = outcomes.iter().find(|o| o.source_bucket == bucket) {
            commands.push(batch_command(
                &p,
                &bucket,
                &o.source_account_id,
                &o.source_region,
                crate::aws::partition_of_region(&o.source_region),
            ));
        }
        first.get_or_insert(p);
    }
    Ok((first, commands))
}

#[cfg(test)]
mod tests {
    use super::compare::{RuleScope, Verdict};
    use super::live::Requests;
    use super::*;
    use std::time::Duration;

    fn outcome(verdicts: Vec<(Class, &str)>) -> RuleOutcome {
        RuleOutcome {
            replication_id: "incident-reports".into(),
            rule: RuleScope {
                label: "incident-reports rule 'r'".into(),
                prefix: "reports/".into(),
                tags: Default::default(),
                delete_markers: true,
                in_flight: Duration::from_secs(1800),
                replica_kms_key_arn: None,
                encryption: Default::default(),
            },
            source_bucket: "src".into(),
            source_account_id: "111122223333".into(),
            source_region: "ap-southeast-1".into(),
            destination_bucket: "dst".into(),
            source_versions: verdicts.len(),
            destination_versions: 0,
            verdicts: verdicts
                .into_iter()
                .map(|(class, key)| Verdict {
                    class,
                    bucket: if class == Class::NoSource {
                        "dst"
                    } else {
                        "src"
                    }
                    .into(),
                    key: key.into(),
                    version_id: format!("v-{key}"),
                    delete_marker: false,
                    detail: "d".into(),
                    could_be: vec![],
                })
                .collect(),
            requests: Requests::default(),
            error: None,
            skipped: None,
            heads_not_made: 0,
            totals: None,
            inventory: None,
            notes: vec![],
        }
    }

    fn status_of(fs: &[Finding], id: &str) -> Status {
        fs.iter().find(|f| f.id == id).unwrap().status
    }

    #[test]
    fn each_class_fails_its_own_finding_only() {
        for c in REPORTED {
            let o = outcome(vec![(Class::Intact, "reports/ok"), (c, "reports/bad")]);
            let fs = findings(&o, &Files::default());
            let failing: Vec<&str> = fs
                .iter()
                .filter(|f| f.status != Status::Pass)
                .map(|f| f.id.as_str())
                .collect();
            assert_eq!(failing, vec![meta(c).id], "{c:?}");
            let want = if c == Class::Unverified {
                Status::Error
            } else {
                Status::Fail
            };
            assert_eq!(status_of(&fs, meta(c).id), want);
            let f = fs.iter().find(|f| f.id == meta(c).id).unwrap();
            assert_eq!(f.evidence["count"], 1);
            assert_eq!(f.evidence["sample"][0]["key"], "reports/bad");
        }
        let clean = findings(&outcome(vec![(Class::Intact, "a")]), &Files::default());
        assert!(clean.iter().all(|f| f.status == Status::Pass));
        assert_eq!(clean.len(), 1 + REPORTED.len());
    }

    #[test]
    fn a_class_that_unread_versions_could_be_in_is_an_error_not_a_pass() {
        let mut o = outcome(vec![
            (Class::Intact, "reports/ok"),
            (Class::Unverified, "reports/u"),
        ]);
        o.verdicts[1].could_be = vec![Class::EncryptionMismatch];
        o.verdicts[1].detail =
            "s3:HeadObject failed: AccessDenied (needs s3:GetObjectVersion)".into();
        let fs = findings(&o, &Files::default());
        let f = fs.iter().find(|f| f.id == "reconcile-encryption").unwrap();
        assert_eq!(f.status, Status::Error, "{}", f.message);
        assert!(f.message.contains("s3:HeadObject failed"), "{}", f.message);
        assert_eq!(status_of(&fs, "reconcile-failed"), Status::Pass);
    }

    #[test]
    fn an_encryption_key_the_inventory_cannot_show_is_never_a_pass() {
        let mut o = outcome(vec![(Class::Intact, "reports/ok")]);
        o.notes = vec![super::sql::KEY_NOT_IN_INVENTORY.to_string()];
        let fs = findings(&o, &Files::default());
        let f = fs.iter().find(|f| f.id == "reconcile-encryption").unwrap();
        assert_eq!(f.status, Status::Skip, "{}", f.message);
        assert!(f.message.contains("no KMS key id"), "{}", f.message);
        o.verdicts.push(o.verdicts[0].clone());
        o.verdicts[1].class = Class::EncryptionMismatch;
        let fs = findings(&o, &Files::default());
        let f = fs.iter().find(|f| f.id == "reconcile-encryption").unwrap();
        assert_eq!(f.status, Status::Fail);
    }

    #[test]
    fn a_listing_that_failed_is_one_error_and_no_pass() {
        let mut o = outcome(vec![]);
        o.error = Some("s3:ListObjectVersions on src failed: AccessDenied: denied".into());
        let fs = findings(&o, &Files::default());
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].status, Status::Error);
        assert!(fs[0].message.contains("s3:ListObjectVersions"));
        let mut o = outcome(vec![]);
        o.skipped = Some("tags".into());
        let fs = findings(&o, &Files::default());
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].status, Status::Skip);
    }

    #[test]
    fn the_sample_is_bounded() {
        let many: Vec<(Class, String)> = (0..100)
            .map(|i| (Class::Missing, format!("reports/{i}")))
            .collect();
        let o = outcome(many.iter().map(|(c, k)| (*c, k.as_str())).collect());
        let fs = findings(&o, &Files::default());
        let f = fs.iter().find(|f| f.id == "reconcile-missing").unwrap();
        assert_eq!(f.evidence["count"], 100);
        assert_eq!(f.evidence["sample"].as_array().unwrap().len(), SAMPLE);
    }

    #[test]
    fn the_manifest_lists_exactly_what_batch_replication_repairs_with_encoded_keys() {
        let o = outcome(vec![
            (Class::Missing, "reports/a b,c.txt"),
            (Class::Failed, "reports/ü"),
            (Class::NeverEligible, "reports/old"),
            (Class::Intact, "reports/ok"),
            (Class::PendingTooLong, "reports/p"),
            (Class::Mismatched, "reports/m"),
            (Class::EncryptionMismatch, "reports/e"),
            (Class::NoSource, "reports/n"),
            (Class::Unverified, "reports/u"),
            (Class::InFlight, "reports/f"),
        ]);
        let rows = manifest_rows(&[o]);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows["src"],
            vec![
                "src,reports/%C3%BC,v-reports/ü",
                "src,reports/a%20b%2Cc.txt,v-reports/a b,c.txt",
                "src,reports/old,v-reports/old",
            ]
        );
    }

    #[test]
    fn files_are_written_and_the_command_is_printed_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let o = outcome(vec![
            (Class::Failed, "reports/x"),
            (Class::Intact, "reports/y"),
        ]);
        let (files, cmds) = write_files(&[o], dir.path(), "T").unwrap();
        let list = std::fs::read_to_string(files.list.unwrap()).unwrap();
        assert_eq!(list.lines().count(), 3, "{list}");
        let m = std::fs::read_to_string(files.manifest.unwrap()).unwrap();
        assert_eq!(m, "src,reports/x,v-reports/x\n");
        assert_eq!(cmds.len(), 1);
        assert!(cmds[0].contains(
            "aws s3control create-job --region ap-southeast-1 --account-id 111122223333"
        ));
        assert!(cmds[0].contains("S3ReplicateObject"));
        // Nothing to repair: no manifest.
        let (files, cmds) =
            write_files(&[outcome(vec![(Class::Intact, "a")])], dir.path(), "U").unwrap();
        assert!(files.manifest.is_none() && cmds.is_empty());
    }
}
