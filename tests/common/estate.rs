//! One small estate of inventory rows with one version in every reconcile class, shared by the
//! inventory and Athena tests so both judge the same rows (each test file includes it with
//! `#[path]`, as it includes `inventory.rs`).

use chrono::{DateTime, Duration, Utc};
use replaudit::reconcile::engine::NormRow;

pub fn row(key: &str, vid: &str, age_min: i64, status: Option<&str>, enc: &str) -> NormRow {
    NormRow {
        key: key.into(),
        version_id: vid.into(),
        is_delete_marker: false,
        size: 10,
        etag: Some("0123456789abcdef0123456789abcdef".into()),
        last_modified: created() - Duration::minutes(age_min),
        replication_status: status.map(str::to_string),
        encryption_status: Some(enc.into()),
    }
}

pub fn created() -> DateTime<Utc> {
    "2026-11-29T00:00:00Z".parse().unwrap()
}

/// (source rows, destination rows, class -> (key, version id)) of one version per class.
/// Finding id, key and version id of the one version each failing finding must name.
pub type Expected = Vec<(&'static str, String, String)>;

pub fn estate() -> (Vec<NormRow>, Vec<NormRow>, Expected) {
    let replica = |s: &NormRow| NormRow {
        replication_status: Some("REPLICA".into()),
        encryption_status: Some("SSE-KMS".into()),
        last_modified: s.last_modified + Duration::seconds(2),
        ..s.clone()
    };
    let intact = row(
        "reports/intact a+b,ü.pdf",
        "v-intact",
        120,
        Some("COMPLETED"),
        "SSE-KMS",
    );
    let missing = row(
        "reports/missing one.pdf",
        "v-missing",
        120,
        Some("COMPLETED"),
        "SSE-KMS",
    );
    let failed = row("reports/failed", "v-failed", 120, Some("FAILED"), "SSE-KMS");
    let pending = row(
        "reports/pending",
        "v-pending",
        120,
        Some("PENDING"),
        "SSE-KMS",
    );
    let never = row("reports/never", "null", 120, None, "SSE-S3");
    let size = row("reports/size", "v-size", 120, Some("COMPLETED"), "SSE-KMS");
    let enc = row("reports/enc", "v-enc", 120, Some("COMPLETED"), "SSE-KMS");
    let young = row("reports/young", "v-young", 5, Some("PENDING"), "SSE-KMS");
    let mut dm = row("reports/deleted", "v-dm", 120, None, "NOT-SSE");
    dm.is_delete_marker = true;
    dm.size = 0;
    dm.etag = None;
    let out = row("scratch/ignored", "v-out", 120, None, "SSE-S3");
    let mut size_r = replica(&size);
    size_r.size = 11;
    let mut enc_r = replica(&enc);
    enc_r.encryption_status = Some("SSE-S3".into());
    let orphan = row(
        "reports/orphan",
        "v-orphan",
        120,
        Some("REPLICA"),
        "SSE-KMS",
    );
    // Written after the source's inventory was taken: not blamed.
    let late = row("reports/late", "v-late", -30, Some("REPLICA"), "SSE-KMS");
    let src = vec![
        intact.clone(),
        missing.clone(),
        failed.clone(),
        pending.clone(),
        never.clone(),
        size.clone(),
        enc.clone(),
        young,
        dm.clone(),
        out,
    ];
    let mut dm_r = replica(&dm);
    dm_r.replication_status = None;
    let dst = vec![replica(&intact), size_r, enc_r, dm_r, orphan.clone(), late];
    let id = |c: &'static str, r: &NormRow| (c, r.key.clone(), r.version_id.clone());
    let classes = vec![
        id("reconcile-missing", &missing),
        id("reconcile-failed", &failed),
        id("reconcile-pending", &pending),
        id("reconcile-never-eligible", &never),
        id("reconcile-mismatched", &size),
        id("reconcile-encryption", &enc),
        id("reconcile-no-source", &orphan),
    ];
    (src, dst, classes)
}
