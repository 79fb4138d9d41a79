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
pub mod error;
pub mod from_inventory;
pub mod inventory;
pub mod live;
pub mod sql;

pub use error::Error;

use crate::findings::{Finding, Severity, Status};
use compare::{Class, Repair, Verdict};
use live::RuleOutcome;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Keys per finding's evidence sample; the full list is in the file.
pub const SAMPLE: usize = 20;

/// The catalogue entry of a class's finding (`crate::catalogue::reconcile`: one declaration
/// serves these findings, `rules --explain` and the SARIF rule list).
fn meta(c: Class) -> &'static crate::catalogue::RuleMeta {
    use crate::catalogue::reconcile as cat;
    match c {
        Class::Intact | Class::InFlight => &cat::REPLICATED,
        Class::Missing => &cat::MISSING,
        Class::Failed => &cat::FAILED,
        Class::PendingTooLong => &cat::PENDING,
        Class::Mismatched => &cat::MISMATCHED,
        Class::EncryptionMismatch => &cat::ENCRYPTION,
        Class::NeverEligible => &cat::NEVER_ELIGIBLE,
        Class::NoSource => &cat::NO_SOURCE,
        Class::OtherSource => &cat::OTHER_SOURCE,
        Class::LifecycleMarker => &cat::LIFECYCLE_MARKER,
        Class::Unverified => &cat::UNVERIFIED,
    }
}

/// The classes reported as their own finding (Intact and InFlight share `reconcile-replicated`).
const REPORTED: [Class; 10] = [
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
        replication_set: None,
    };
    let listing = &crate::catalogue::reconcile::LISTING;
    let listing_refs = || listing.references.iter().map(|r| r.to_string()).collect();
    if let Some(e) = &o.error {
        let mut f = base(
            listing.id,
            listing.title,
            Status::Error,
            listing.severity,
            listing.scenarios[0],
            format!("{}: {e}", o.rule.label),
        );
        f.remediation = listing.remediation.into();
        f.references = listing_refs();
        f.evidence = json!({"requests": o.requests});
        return vec![f];
    }
    if let Some(why) = &o.skipped {
        // A rule this run does not reconcile is information, not a High problem.
        let mut f = base(
            listing.id,
            listing.title,
            Status::Skip,
            Severity::Info,
            listing.scenarios[0],
            format!("{}: not reconciled: {why}", o.rule.label),
        );
        f.references = listing_refs();
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
        "destination_in_flight": o.destination_in_flight,
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
    // Destination replicas newer than the source's inventory are counted in flight, but they
    // are not source versions.
    let waiting = o.destination_in_flight;
    let source_in_scope = counts
        .iter()
        .filter(|(c, _)| !matches!(c, Class::NoSource | Class::OtherSource))
        .map(|(_, n)| n)
        .sum::<usize>()
        .saturating_sub(waiting);
    let mut message = format!(
        "{}: {} of {} source versions in scope replicated and intact, {} in flight (younger than {}s)",
        o.rule.label,
        counts[&Class::Intact],
        source_in_scope,
        counts[&Class::InFlight].saturating_sub(waiting),
        o.rule.in_flight.as_secs()
    );
    if waiting > 0 {
        let _ = write!(
            message,
            "; {waiting} destination replica(s) newer than the source's inventory, not judged"
        );
    }
    let mut f = base(
        m.id,
        m.title,
        Status::Pass,
        m.severity,
        m.scenarios[0],
        message,
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
            // Another rule's replicas: counted, explained, not a fault of this rule.
            (Class::OtherSource, false) => Status::Pass,
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
        let mut f = base(m.id, m.title, status, m.severity, m.scenarios[0], message);
        let mut ev = common.clone();
        ev["count"] = json!(count);
        ev["sample"] = sample(&these);
        let path = |p: &Option<PathBuf>| json!(p.as_ref().map(|p| p.display().to_string()));
        match c.repair(false) {
            Some(Repair::BatchReplication) if count > 0 => {
                ev["batch_manifest"] = path(&files.manifest)
            }
            Some(Repair::CopyInPlace) if count > 0 => {
                ev["copy_in_place_manifest"] = path(&files.copy_manifest)
            }
            _ => {}
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
    /// The Batch Operations Copy (in place) manifest of the versions whose replicas were
    /// deleted (absent when there are none).
    pub copy_manifest: Option<PathBuf>,
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

/// The rows of the S3 Batch Operations CSV manifests (`S3BatchOperations_CSV_20180820`, fields
/// `Bucket`, `Key`, `VersionId`, no header, keys URL-encoded), per job ([`Class::repair`]) and
/// per source bucket (a job reads one manifest of one bucket).
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-create-job.html#create-manifest-file>,
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_JobManifestSpec.html>
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repairs {
    /// S3 Batch Replication: never eligible, FAILED, PENDING past the window.
    pub batch: BTreeMap<String, Vec<String>>,
    /// Batch Operations Copy in place: replicas deleted at the destination.
    pub copy: BTreeMap<String, Vec<String>>,
}

impl Repairs {
    /// Add a verdict's version to the manifest of the job that repairs it, if one does.
    pub fn push(&mut self, v: &Verdict) {
        let rows = match v.class.repair(v.delete_marker) {
            Some(Repair::BatchReplication) => &mut self.batch,
            Some(Repair::CopyInPlace) => &mut self.copy,
            None => return,
        };
        rows.entry(v.bucket.clone()).or_default().push(format!(
            "{},{},{}",
            v.bucket,
            encode_manifest_key(&v.key),
            v.version_id
        ));
    }
}

/// The manifest rows of every verdict, sorted, duplicates dropped.
pub fn manifest_rows(outcomes: &[RuleOutcome]) -> Repairs {
    let mut r = Repairs::default();
    for v in outcomes.iter().flat_map(|o| &o.verdicts) {
        r.push(v);
    }
    for rows in r.batch.values_mut().chain(r.copy.values_mut()) {
        rows.sort();
        rows.dedup();
    }
    r
}

/// A word for a POSIX shell: as is when it has only safe characters, else single-quoted.
fn sh_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The AWS CLI commands that start the job repairing the versions of a manifest (printed, never
/// run), runnable as printed in a POSIX shell once the upper-case placeholders are replaced:
///
/// - The manifest's ETag: `head-object --query ETag --output text` prints the ETag with its
///   double quotes (the ETag header is a quoted string), which would end the JSON string of
///   `--manifest` early; `tr -d '"'` keeps the bare value, as CreateJob's examples give
///   `"ETag":"60e460c9d1046e73f7dde5043ac3ae85"`. The value is spliced in double-quoted.
///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-create-job.html>,
///   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_JobManifestLocation.html>
/// - CreateJob requires AccountId, Operation, Report, Priority, RoleArn and a Manifest (the
///   CLI generates the ClientRequestToken).
///   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_CreateJob.html>
/// - Batch Replication: operation `S3ReplicateObject`, the job in the source bucket's Region.
///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-batch-replication-existing-config.html>,
///   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_S3ReplicateObjectOperation.html>
/// - Copy in place: operation `S3PutObjectCopy` with the source bucket as `TargetResource`, the
///   job in the Region copied to (the source's); objects up to 5 GB; "if preserving current or
///   noncurrent version order is important, copy all noncurrent versions first".
///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-copy-object.html>
pub fn job_command(
    job: Repair,
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
    let (title, operation, prefix) = match job {
        Repair::BatchReplication => (
            format!("# Batch Replication for s3://{bucket} (replaudit never starts it):"),
            json!({"S3ReplicateObject": {}}),
            "batch-replication",
        ),
        Repair::CopyInPlace => (
            format!(
                "# Copy in place (Batch Operations Copy) for s3://{bucket}: replicas deleted at the destination,\n\
                 # which Batch Replication cannot re-replicate; each copy is a new version the rule replicates\n\
                 # (objects up to 5 GB; replaudit never starts it):"
            ),
            json!({"S3PutObjectCopy": {"TargetResource": format!("arn:{partition}:s3:::{bucket}")}}),
            "copy-in-place",
        ),
    };
    const ETAG: &str = "@ETAG@";
    let manifest_json = json!({
        "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key", "VersionId"]},
        "Location": {"ObjectArn": format!("arn:{partition}:s3:::MANIFEST-BUCKET/{name}"), "ETag": ETAG},
    })
    .to_string();
    let (before, after) = manifest_json
        .split_once(ETAG)
        .expect("the placeholder is in the manifest JSON");
    let report = json!({
        "Bucket": format!("arn:{partition}:s3:::REPORT-BUCKET"),
        "Prefix": prefix,
        "Format": "Report_CSV_20180820",
        "Enabled": true,
        "ReportScope": "AllTasks",
    });
    format!(
        "{title}\n\
         aws s3 cp {manifest} s3://MANIFEST-BUCKET/{name}\n\
         ETAG=$(aws s3api head-object --bucket MANIFEST-BUCKET --key {name} --query ETag --output text | tr -d '\"')\n\
         aws s3control create-job --region {region} --account-id {account_id} \\\n  \
         --operation {operation} \\\n  \
         --manifest {before}\"$ETAG\"{after} \\\n  \
         --report {report} \\\n  \
         --priority 1 --role-arn arn:{partition}:iam::{account_id}:role/BATCH-OPERATIONS-ROLE --no-confirmation-required\n",
        manifest = sh_word(&manifest.display().to_string()),
        name = sh_word(&name),
        region = sh_word(region),
        account_id = sh_word(account_id),
        operation = sh_word(&operation.to_string()),
        before = sh_word(before),
        after = sh_word(after),
        report = sh_word(&report.to_string()),
    )
}

/// Write the full list and the manifests into `dir`; returns the files and the commands to print.
pub fn write_files(
    outcomes: &[RuleOutcome],
    dir: &Path,
    stamp: &str,
) -> Result<(Files, Vec<String>), Error> {
    let write = |p: &Path, body: &str| std::fs::write(p, body).map_err(|e| Error::write(p, e));
    let list = dir.join(format!("reconcile-{stamp}-versions.csv"));
    write(&list, &list_csv(outcomes))?;
    let (mut files, commands) = write_manifests(outcomes, manifest_rows(outcomes), dir, stamp)?;
    files.list = Some(list);
    Ok((files, commands))
}

/// Write one manifest per job and source bucket (rows sorted, duplicates dropped): Batch
/// Replication `reconcile-STAMP-batch-manifest-BUCKET.csv`, copy in place
/// `reconcile-STAMP-copy-in-place-BUCKET.csv`; returns the first of each (`list` unset) and the
/// commands to print.
pub fn write_manifests(
    outcomes: &[RuleOutcome],
    repairs: Repairs,
    dir: &Path,
    stamp: &str,
) -> Result<(Files, Vec<String>), Error> {
    let write = |p: &Path, body: &str| std::fs::write(p, body).map_err(|e| Error::write(p, e));
    let mut files = Files::default();
    let mut commands = Vec::new();
    for (job, by_bucket, file, first) in [
        (
            Repair::BatchReplication,
            repairs.batch,
            "batch-manifest",
            &mut files.manifest,
        ),
        (
            Repair::CopyInPlace,
            repairs.copy,
            "copy-in-place",
            &mut files.copy_manifest,
        ),
    ] {
        for (bucket, mut rows) in by_bucket {
            rows.sort();
            rows.dedup();
            let p = dir.join(format!("reconcile-{stamp}-{file}-{bucket}.csv"));
            write(&p, &(rows.join("\n") + "\n"))?;
            if let Some(o) = outcomes.iter().find(|o| o.source_bucket == bucket) {
                commands.push(job_command(
                    job,
                    &p,
                    &bucket,
                    &o.source_account_id,
                    &o.source_region,
                    crate::aws::partition_of_region(&o.source_region),
                ));
            }
            first.get_or_insert(p);
        }
    }
    Ok((files, commands))
}

#[cfg(test)]
mod tests {
    use super::compare::{RuleScope, Verdict};
    use super::live::Requests;
    use super::*;

    /// Issue 19: every finding id reconcile can emit is a check of the catalogue, so that
    /// `rules --explain`, `--rules`/`--skip-rules`, mutes and the SARIF rule list know it.
    #[test]
    fn every_id_reconcile_emits_is_in_the_catalogue() {
        for c in Class::ALL {
            let m = meta(c);
            let found = crate::rules::find_rule(m.id).unwrap_or_else(|| panic!("{c:?}: {}", m.id));
            assert!(std::ptr::eq(found, m), "{c:?}");
        }
        let listing = crate::rules::find_rule("reconcile-listing").expect("reconcile-listing");
        assert!(std::ptr::eq(listing, &crate::catalogue::reconcile::LISTING));
        let emitted: std::collections::BTreeSet<&str> = Class::ALL
            .iter()
            .map(|c| meta(*c).id)
            .chain(["reconcile-listing"])
            .collect();
        let declared: std::collections::BTreeSet<&str> = crate::catalogue::reconcile::ALL
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(
            emitted, declared,
            "no catalogue entry without a class, nor the reverse"
        );
    }
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
                other_sources: vec![],
                lifecycle: compare::LifecycleMarkers::None,
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
            destination_in_flight: 0,
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
            if c == Class::OtherSource {
                // Counted, not a fail.
                assert!(failing.is_empty(), "{failing:?}");
                assert_eq!(status_of(&fs, meta(c).id), Status::Pass);
                let f = fs.iter().find(|f| f.id == meta(c).id).unwrap();
                assert_eq!(f.evidence["count"], 1);
                continue;
            }
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
    fn each_manifest_lists_exactly_what_its_job_repairs_with_encoded_keys() {
        let mut o = outcome(vec![
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
            (Class::Missing, "reports/dm"),
        ]);
        o.verdicts[10].delete_marker = true;
        let rows = manifest_rows(&[o]);
        assert_eq!(rows.batch.len(), 1);
        // Batch Replication: FAILED, never eligible, PENDING past the window.
        assert_eq!(
            rows.batch["src"],
            vec![
                "src,reports/%C3%BC,v-reports/ü",
                "src,reports/old,v-reports/old",
                "src,reports/p,v-reports/p",
            ]
        );
        // A replica deleted at the destination: copied in place, never Batch Replication; a
        // missing delete marker in neither.
        assert_eq!(
            rows.copy["src"],
            vec!["src,reports/a%20b%2Cc.txt,v-reports/a b,c.txt"]
        );
    }

    #[test]
    fn files_are_written_and_the_commands_are_printed_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let o = outcome(vec![
            (Class::Failed, "reports/x"),
            (Class::Intact, "reports/y"),
            (Class::Missing, "reports/z"),
        ]);
        let (files, cmds) = write_files(&[o], dir.path(), "T").unwrap();
        let list = std::fs::read_to_string(files.list.unwrap()).unwrap();
        assert_eq!(list.lines().count(), 4, "{list}");
        let m = std::fs::read_to_string(files.manifest.unwrap()).unwrap();
        assert_eq!(m, "src,reports/x,v-reports/x\n");
        let c = std::fs::read_to_string(files.copy_manifest.unwrap()).unwrap();
        assert_eq!(c, "src,reports/z,v-reports/z\n");
        assert_eq!(cmds.len(), 2);
        for cmd in &cmds {
            assert!(cmd.contains(
                "aws s3control create-job --region ap-southeast-1 --account-id 111122223333"
            ));
        }
        assert!(cmds[0].contains("S3ReplicateObject"));
        assert!(cmds[1].contains("S3PutObjectCopy"));
        // Nothing to repair: no manifest.
        let (files, cmds) =
            write_files(&[outcome(vec![(Class::Intact, "a")])], dir.path(), "U").unwrap();
        assert!(files.manifest.is_none() && files.copy_manifest.is_none() && cmds.is_empty());
    }

    /// A stub `aws` for the printed commands: `s3 cp` checks that the manifest is there,
    /// `s3api head-object --query ETag --output text` prints the ETag as the CLI does (the
    /// header's value, double quotes included), `s3control create-job` writes its arguments,
    /// NUL-separated, into `$ARGS_OUT`; anything else fails.
    const STUB_AWS: &str = r#"#!/bin/sh
case "$1 $2" in
"s3 cp") test -f "$3" || { echo "aws s3 cp: no file $3" >&2; exit 1; } ;;
"s3api head-object")
  case " $* " in *" --query ETag --output text "*) ;; *) echo "unexpected: aws $*" >&2; exit 2 ;; esac
  printf '%s\n' '"9b2cf535f27731c974343645a3985328"' ;;
"s3control create-job") shift 2; for a in "$@"; do printf '%s\0' "$a"; done > "$ARGS_OUT" ;;
*) echo "unexpected: aws $*" >&2; exit 2 ;;
esac
"#;

    /// Run a printed command in `sh` with the stub `aws` first on PATH: the arguments
    /// `create-job` got, as the shell split and expanded them (`--flag value`; a flag without a
    /// value maps to "").
    fn run_printed(cmd: &str, dir: &Path) -> BTreeMap<String, String> {
        use std::os::unix::fs::PermissionsExt;
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let aws = bin.join("aws");
        std::fs::write(&aws, STUB_AWS).unwrap();
        std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out_file = dir.join("create-job.args");
        let _ = std::fs::remove_file(&out_file);
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new("sh")
            .args(["-e", "-c", cmd])
            .env("PATH", path)
            .env("ARGS_OUT", &out_file)
            .output()
            .expect("run sh");
        assert!(
            out.status.success(),
            "the printed command failed: {}\n{cmd}",
            String::from_utf8_lossy(&out.stderr)
        );
        let raw = std::fs::read(&out_file).expect("create-job was run");
        let words: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8(w.to_vec()).unwrap())
            .collect();
        let mut args = BTreeMap::new();
        let mut i = 0;
        while i < words.len() {
            let flag = &words[i];
            assert!(
                flag.starts_with("--"),
                "{flag:?} is not an option: {words:?}"
            );
            match words.get(i + 1).filter(|w| !w.starts_with("--")) {
                Some(v) => {
                    args.insert(flag.clone(), v.clone());
                    i += 2;
                }
                None => {
                    args.insert(flag.clone(), String::new());
                    i += 1;
                }
            }
        }
        args
    }

    /// Issue 21 item 7: the printed `create-job` runs as printed (in a folder whose name needs
    /// quoting), and every JSON argument parses with the fields CreateJob requires
    /// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_CreateJob.html>): the
    /// manifest's bare ETag, its format and fields, the operation, an enabled report, a
    /// priority and a role.
    #[test]
    fn the_printed_create_job_commands_run_as_printed_with_valid_json() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out dir's");
        std::fs::create_dir_all(&dir).unwrap();
        let o = outcome(vec![
            (Class::Failed, "reports/x"),
            (Class::Missing, "reports/z"),
        ]);
        let (files, cmds) = write_files(&[o], &dir, "T").unwrap();
        let manifests = [files.manifest.unwrap(), files.copy_manifest.unwrap()];
        assert_eq!(cmds.len(), 2);
        for (cmd, manifest) in cmds.iter().zip(&manifests) {
            let args = run_printed(cmd, tmp.path());
            let keys: Vec<&str> = args.keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                [
                    "--account-id",
                    "--manifest",
                    "--no-confirmation-required",
                    "--operation",
                    "--priority",
                    "--region",
                    "--report",
                    "--role-arn"
                ]
            );
            let json = |k: &str| -> serde_json::Value {
                serde_json::from_str(&args[k])
                    .unwrap_or_else(|e| panic!("{k} is not JSON ({e}): {}", args[k]))
            };
            assert_eq!(args["--account-id"], "111122223333");
            assert_eq!(args["--region"], "ap-southeast-1");
            let m = json("--manifest");
            assert_eq!(
                m["Location"]["ETag"], "9b2cf535f27731c974343645a3985328",
                "{m}"
            );
            let name = manifest.file_name().unwrap().to_str().unwrap();
            assert_eq!(
                m["Location"]["ObjectArn"],
                format!("arn:aws:s3:::MANIFEST-BUCKET/{name}"),
                "{m}"
            );
            assert_eq!(m["Spec"]["Format"], "S3BatchOperations_CSV_20180820");
            assert_eq!(m["Spec"]["Fields"], json!(["Bucket", "Key", "VersionId"]));
            let op = json("--operation");
            if manifest == &manifests[0] {
                assert_eq!(op, json!({"S3ReplicateObject": {}}));
            } else {
                assert_eq!(
                    op,
                    json!({"S3PutObjectCopy": {"TargetResource": "arn:aws:s3:::src"}})
                );
            }
            let r = json("--report");
            assert_eq!(r["Enabled"], true, "{r}");
            assert_eq!(r["Format"], "Report_CSV_20180820", "{r}");
            assert!(
                r["Bucket"].as_str().unwrap().starts_with("arn:aws:s3:::"),
                "{r}"
            );
            assert!(
                ["AllTasks", "FailedTasksOnly"].contains(&r["ReportScope"].as_str().unwrap()),
                "{r}"
            );
            assert!(args["--priority"].parse::<u32>().is_ok());
            assert!(args["--role-arn"].starts_with("arn:aws:iam::111122223333:role/"));
        }
    }
}
