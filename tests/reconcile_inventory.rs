//! `replaudit reconcile --source-inventory/--dest-inventory` from inventories on disk, written
//! the way S3 writes them (manifest.json, manifest.checksum, CSV.gz or Parquet data files) by
//! `reconcile::inventory::writer`: one version per class, each reported exactly once, the Batch
//! Replication manifest with exactly the versions it repairs, CSV against Parquet both ways, and
//! the inventory errors (ORC, a damaged file) as `error` findings.

use crate::estate;

use chrono::{DateTime, Duration, Utc};
use estate::{created, estate};
use replaudit::reconcile::engine::NormRow;
use replaudit::reconcile::inventory::{writer, Format};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const SRC: &str = "rubes-s3-bucket";
const DST: &str = "clint-s3-bucket";
const RULE: &str = "reports-to-abcd";

fn write(
    root: &Path,
    bucket: &str,
    format: Format,
    at: DateTime<Utc>,
    rows: Vec<NormRow>,
) -> PathBuf {
    writer::write(
        root,
        bucket,
        "all-versions",
        format,
        at,
        &mut rows.into_iter(),
        4,
    )
    .unwrap();
    root.join(bucket).join("all-versions")
}

fn reconcile(dir: &Path, src: &Path, dst: &Path) -> (std::process::Output, Value) {
    reconcile_with(dir, src, dst, &[])
}

fn reconcile_with(
    dir: &Path,
    src: &Path,
    dst: &Path,
    extra: &[&str],
) -> (std::process::Output, Value) {
    let out_dir = dir.join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_replaudit"))
        .args(["reconcile", "--quiet", "--in-flight", "30m"])
        .args(extra)
        .arg("--spec")
        .arg(repo().join("checks/seed.toml"))
        .arg("--output-dir")
        .arg(&out_dir)
        .arg("--source-inventory")
        .arg(src)
        .arg("--dest-inventory")
        .arg(dst)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(out_dir.join("reconcile-latest.json"))
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out, serde_json::from_str(&text).unwrap())
}

fn finding<'a>(report: &'a Value, id: &str, part: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id && f["resource"].as_str().unwrap().contains(part))
        .unwrap_or_else(|| panic!("no {id} for {part}: {report}"))
}

fn check_every_class(src_format: Format, dst_format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, classes) = estate();
    let s = write(dir.path(), SRC, src_format, created(), src);
    // The destination's inventory is an hour newer than the source's.
    let d = write(
        dir.path(),
        DST,
        dst_format,
        created() + Duration::hours(1),
        dst,
    );
    let (out, report) = reconcile(dir.path(), &s, &d);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "failures found: {stderr}");
    for (id, key, vid) in &classes {
        let f = finding(&report, id, RULE);
        assert_eq!(f["status"], "fail", "{id}: {f}");
        assert_eq!(f["evidence"]["count"], 1, "{id}: {f}");
        assert_eq!(f["evidence"]["sample"][0]["key"], key.as_str(), "{id}: {f}");
        assert_eq!(
            f["evidence"]["sample"][0]["version_id"],
            vid.as_str(),
            "{id}"
        );
    }
    let enc = finding(&report, "reconcile-encryption", RULE);
    assert!(
        enc["message"].as_str().unwrap().contains("no KMS key id"),
        "{enc}"
    );
    assert_eq!(
        finding(&report, "reconcile-unverified", RULE)["status"],
        "pass"
    );
    let ok = finding(&report, "reconcile-replicated", RULE);
    let counts = &ok["evidence"]["counts"];
    // The intact object and the replicated delete marker; the young version and the
    // destination version newer than the source's inventory are in flight.
    assert_eq!(counts["intact"], 2, "{ok}");
    assert_eq!(counts["in-flight"], 2, "{ok}");
    assert_eq!(
        ok["evidence"]["inventory"]["in_flight_cutoff"],
        (created() - Duration::minutes(30)).to_rfc3339()
    );
    // Every version in scope is in the full list once.
    let list = std::fs::read_to_string(ok["evidence"]["full_list"].as_str().unwrap()).unwrap();
    // 9 source versions in scope, 2 destination versions without a source.
    assert_eq!(list.lines().count(), 1 + 11, "{list}");
    assert!(!list.contains("scratch/ignored"));
    // The Batch Replication manifest: exactly FAILED, never eligible and (by choice) pending too
    // long; the replica deleted at the destination in the copy-in-place manifest alone (Batch
    // Replication cannot re-replicate it); keys encoded.
    let rows = |id: &str, field: &str| -> BTreeSet<String> {
        let path = finding(&report, id, RULE)["evidence"][field]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: no {field}"))
            .to_string();
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let want: BTreeSet<String> = [
        format!("{SRC},reports/failed,v-failed"),
        format!("{SRC},reports/never,null"),
        format!("{SRC},reports/pending,v-pending"),
    ]
    .into();
    assert_eq!(rows("reconcile-failed", "batch_manifest"), want);
    let want: BTreeSet<String> = [format!("{SRC},reports/missing%20one.pdf,v-missing")].into();
    assert_eq!(rows("reconcile-missing", "copy_in_place_manifest"), want);
    assert!(stderr.contains("aws s3control create-job"), "{stderr}");
    // The other replication of the spec has no inventory here: skipped, never a pass.
    let logs = finding(&report, "reconcile-listing", "logs-to-backup");
    assert_eq!(logs["status"], "skip", "{logs}");
}

#[test]
fn csv_source_against_parquet_destination_reports_every_class_once() {
    check_every_class(Format::Csv, Format::Parquet);
}

#[test]
fn parquet_source_against_csv_destination_reports_every_class_once() {
    check_every_class(Format::Parquet, Format::Csv);
}

#[test]
fn a_damaged_file_or_an_orc_inventory_is_an_error_never_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, _) = estate();
    let s = write(dir.path(), SRC, Format::Parquet, created(), src);
    let d = write(dir.path(), DST, Format::Csv, created(), dst);
    // Damage one destination data file after its MD5 went into the manifest.
    let data = d.join("data");
    let victim = std::fs::read_dir(&data)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes.push(0);
    std::fs::write(&victim, bytes).unwrap();
    let (out, report) = reconcile(dir.path(), &s, &d);
    assert_ne!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = finding(&report, "reconcile-listing", RULE);
    assert_eq!(f["status"], "error", "{f}");
    assert!(f["message"].as_str().unwrap().contains("MD5"), "{f}");
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["status"] != "pass" || !f["resource"].as_str().unwrap().contains(RULE)));
    // ORC (as S3 writes its manifest: an ORC struct fileSchema): refused locally, naming --athena,
    // which reads ORC, and CSV/Parquet.
    let dated = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("manifest.json").is_file())
        .unwrap();
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dated.join("manifest.json")).unwrap()).unwrap();
    json["fileFormat"] = "ORC".into();
    json["fileSchema"] = "struct<bucket:string,key:string,version_id:string,is_latest:boolean,is_delete_marker:boolean,size:bigint,last_modified_date:timestamp,e_tag:string,storage_class:string,is_multipart_uploaded:boolean,replication_status:string,encryption_status:string>".into();
    let m = serde_json::to_string(&json).unwrap();
    std::fs::write(dated.join("manifest.json"), &m).unwrap();
    std::fs::write(
        dated.join("manifest.checksum"),
        replaudit::reconcile::inventory::md5_hex(m.as_bytes()),
    )
    .unwrap();
    let (_, report) = reconcile(dir.path(), &s, &d);
    let f = finding(&report, "reconcile-listing", RULE);
    assert_eq!(f["status"], "error", "{f}");
    assert!(
        f["message"].as_str().unwrap().contains(
            "is in ORC, which replaudit does not read locally: reconcile it with --athena"
        ),
        "{f}"
    );
}

/// An engine pool too small for the inventories is an `error` naming DataFusion's resource
/// error, never a pass; the same inventories with the default pool are judged. (2,000 versions a
/// side already need more than the 16 MiB floor of `--engine-memory`: each sort that holds data
/// reserves 10 MB for its merge.)
#[test]
fn an_engine_pool_too_small_is_an_error_never_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |dest: bool| -> Vec<NormRow> {
        (0..2_000)
            .map(|i| {
                let mut r = estate::row(
                    &format!("reports/{i:08}.pdf"),
                    &format!("v{i:030}"),
                    120,
                    Some(if dest { "REPLICA" } else { "COMPLETED" }),
                    "SSE-KMS",
                );
                r.last_modified += Duration::seconds(i64::from(dest));
                r
            })
            .collect()
    };
    let put = |bucket: &str, dest: bool| {
        writer::write(
            dir.path(),
            bucket,
            "all-versions",
            Format::Parquet,
            created(),
            &mut rows(dest).into_iter(),
            1_000,
        )
        .unwrap();
        dir.path().join(bucket).join("all-versions")
    };
    let (s, d) = (put(SRC, false), put(DST, true));
    let (out, report) = reconcile_with(dir.path(), &s, &d, &["--engine-memory", "16"]);
    assert_eq!(out.status.code(), Some(1));
    let f = finding(&report, "reconcile-listing", RULE);
    assert_eq!(f["status"], "error", "{f}");
    let m = f["message"].as_str().unwrap();
    assert!(
        m.contains("the comparison of the inventories failed: DataFusion:") && m.contains("memory"),
        "{m}"
    );
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["resource"].as_str().unwrap().contains(RULE))
            .all(|f| f["status"] != "pass"),
        "a pass from an unfinished comparison: {report}"
    );
    let dir2 = tempfile::tempdir().unwrap();
    let (out, report) = reconcile(dir2.path(), &s, &d);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let f = finding(&report, "reconcile-replicated", RULE);
    assert_eq!(f["status"], "pass", "{f}");
    assert!(
        f["message"].as_str().unwrap().contains("2000 of 2000"),
        "{f}"
    );
}
