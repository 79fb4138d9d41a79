//! `replaudit reconcile --athena` on the emulator: the inventories are where S3 delivers them (an
//! inventory bucket in each account), Athena is the emulator's (patch 29: result pages, no rows
//! for DDL). Athena does not run SQL there, so the test plays Athena: it runs the very statements
//! replaudit will send ([`athena::plan`]) with the embedded engine over the same inventory files,
//! queues those results as Athena's answers (header row first, as Athena gives a SELECT), then
//! checks that replaudit sent exactly those statements and turned the answers into the same
//! findings and the same Batch Replication manifest as the local inventory path.

use crate::common;
use crate::estate;

use chrono::{DateTime, Duration, Utc};
use common::{python, Setup};
use estate::{created, estate};
use replaudit::reconcile::athena::{self, AthenaInventory};
use replaudit::reconcile::compare::LifecycleMarkers;
use replaudit::reconcile::engine::Engine;
use replaudit::reconcile::inventory::{self, writer, Format};
use replaudit::reconcile::live;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const SRC: &str = "rubes-s3-bucket";
const DST: &str = "clint-s3-bucket";
const SRC_INV_BUCKET: &str = "xyz-inventory-reports";
const DST_INV_BUCKET: &str = "abcd-inventory-reports";
const XYZ: &str = "111122223333";
const SRC_REGION: &str = "ap-southeast-1";
const DST_REGION: &str = "ap-southeast-2";

/// Upload a local folder into a new bucket of an account, keys = paths under the folder.
fn upload(setup: &Setup, profile: &str, region: &str, bucket: &str, root: &Path) {
    let code = r#"
import os, sys, boto3
from botocore.config import Config
profile, region, bucket, root, endpoint = sys.argv[1:6]
s3 = boto3.Session(profile_name=profile).client("s3", region_name=region, endpoint_url=endpoint,
                                               config=Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
for d, _, files in os.walk(root):
    for f in files:
        full = os.path.join(d, f)
        s3.upload_file(full, bucket, os.path.relpath(full, root))
"#;
    py(
        setup,
        &[code, profile, region, bucket, &root.display().to_string()],
    );
}

fn py(setup: &Setup, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .args(args)
        .arg(&setup.emu.endpoint)
        .env("AWS_CONFIG_FILE", setup.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", setup.path("aws-credentials"))
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The queries the XYZ account's Athena received in ap-southeast-1, in order.
fn sent_queries(setup: &Setup) -> Vec<String> {
    let code = r#"
import json, sys, boto3
endpoint = sys.argv[1]
a = boto3.Session(profile_name="xyz-audit").client("athena", region_name="ap-southeast-1", endpoint_url=endpoint)
ids = a.list_query_executions()["QueryExecutionIds"]
print(json.dumps([a.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]))
"#;
    serde_json::from_str(&py(setup, &[code])).unwrap()
}

/// Athena's answer to a SELECT: the labels as the first row, then the data, all strings.
fn athena_result(labels: &[&str], rows: &[Vec<Option<String>>]) -> Value {
    let cell = |v: Option<&str>| match v {
        Some(s) => json!({ "VarCharValue": s }),
        None => json!({}),
    };
    let mut out = vec![json!({ "Data": labels.iter().map(|l| cell(Some(l))).collect::<Vec<_>>() })];
    for r in rows {
        out.push(json!({ "Data": r.iter().map(|c| cell(c.as_deref())).collect::<Vec<_>>() }));
    }
    json!({
        "rows": out,
        "column_info": labels.iter().map(|l| json!({"Name": l, "Label": l, "Type": "varchar"})).collect::<Vec<_>>(),
    })
}

async fn run_local(engine: &Engine, text: &str) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    engine
        .for_each_string_row(text, |r| {
            rows.push(r.iter().map(|c| c.map(str::to_string)).collect());
            Ok(())
        })
        .await
        .unwrap();
    rows
}

fn reconcile_report(setup: &Setup, out_dir: &Path, extra: &[&str]) -> (i32, Value, String) {
    let out = setup
        .cmd()
        .args(["reconcile", "--quiet", "--in-flight", "30m", "--spec"])
        .arg(&setup.spec)
        .arg("--output-dir")
        .arg(out_dir)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = std::fs::read_to_string(out_dir.join("reconcile-latest.json"))
        .unwrap_or_else(|e| panic!("no report ({e}): {stderr}"));
    let manifest = std::fs::read_dir(out_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.contains("batch") && n.ends_with(".csv")
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&text).unwrap(),
        manifest,
    )
}

/// The reconcile findings as (id, status, count, sample keys): what must agree between paths.
fn verdicts(report: &Value) -> Vec<(String, String, String, Vec<String>)> {
    let mut v: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("reconcile-"))
        .map(|f| {
            let keys = f["evidence"]["sample"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| format!("{}@{}", s["key"], s["version_id"]))
                        .collect()
                })
                .unwrap_or_default();
            (
                f["id"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
                f["evidence"]["count"].to_string(),
                keys,
            )
        })
        .collect();
    v.sort();
    v
}

/// Queue, as the emulator's Athena answers, what the embedded engine gives for the plan replaudit
/// will follow: the tables are those of the manifests in `manifest_src` / `local_dst` (as
/// delivered at `src_loc` / `dst_loc`), the rows those of the data files of `data_src` /
/// `local_dst` (the same versions; an ORC manifest's data are read here from a Parquet copy,
/// since Athena, not replaudit, reads ORC). Returns the plan.
async fn play_athena(
    setup: &Setup,
    src_loc: &str,
    manifest_src: &Path,
    data_src: &Path,
    dst_loc: &str,
    local_dst: &Path,
) -> athena::Plan {
    let dir = setup.dir.path().to_path_buf();
    let dated = |c: DateTime<Utc>| c.format("%Y-%m-%dT%H-%MZ").to_string();
    let newest = |p: &Path| {
        let mut d: Vec<PathBuf> = std::fs::read_dir(p)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("manifest.json").is_file())
            .collect();
        d.sort();
        d.pop().unwrap().join("manifest.json")
    };
    let s_manifest =
        inventory::parse_manifest(&std::fs::read(newest(manifest_src)).unwrap(), None).unwrap();
    let s = inventory::open_local(data_src).unwrap();
    let d = inventory::open_local(local_dst).unwrap();
    let s_inv = AthenaInventory::from_manifest_uri(
        SRC,
        &format!("{src_loc}{}/manifest.json", dated(s_manifest.created)),
        s_manifest.format,
        &s_manifest.columns,
    )
    .unwrap();
    let d_inv = AthenaInventory::from_manifest_uri(
        DST,
        &format!("{dst_loc}{}/manifest.json", dated(d.manifest.created)),
        d.manifest.format,
        &d.manifest.columns,
    )
    .unwrap();
    let spec = replaudit::spec::load(&setup.spec).unwrap();
    let opts = live::LiveOptions {
        aws: Default::default(),
        in_flight_rtc: std::time::Duration::from_secs(1800),
        in_flight_other: std::time::Duration::from_secs(1800),
        max_heads: 10_000,
        engine_memory: replaudit::reconcile::from_inventory::MEMORY_LIMIT,
    };
    let (_, _, _, mut scope) = live::scopes(&spec, &opts)
        .into_iter()
        .find(|(_, s, d, _)| {
            spec.bucket(s).unwrap().name.get_ref() == SRC
                && spec.bucket(d).unwrap().name.get_ref() == DST
        })
        .expect("the seed replicates rubes to clint");
    // replaudit reads the source's lifecycle configuration before planning on Athena
    // (GetBucketLifecycleConfiguration); the seed gives rubes none, so no delete marker can be
    // S3 Lifecycle's. Were it read otherwise, the statements sent would differ from these.
    scope.lifecycle = LifecycleMarkers::None;
    let plan = athena::plan(
        &scope,
        &s_inv,
        s_manifest.created,
        &d_inv,
        d.manifest.created,
        athena::DEFAULT_DATABASE,
    )
    .unwrap();
    let engine = Engine::new(1 << 28, Some(&dir)).unwrap();
    inventory::register(&engine, &s_inv.view(), &s, &dir)
        .await
        .unwrap();
    inventory::register(&engine, &d_inv.view(), &d, &dir)
        .await
        .unwrap();
    let results = vec![
        athena_result(&["_col0"], &run_local(&engine, &plan.source_count).await),
        athena_result(&["_col0"], &run_local(&engine, &plan.dest_count).await),
        athena_result(&["class", "n"], &run_local(&engine, &plan.counts).await),
        athena_result(
            &replaudit::reconcile::sql::COLUMNS,
            &run_local(&engine, &plan.rows).await,
        ),
    ];
    setup.emu.control(
        "/moto-api/static/athena/query-results",
        &json!({ "account_id": XYZ, "region": SRC_REGION, "results": results }).to_string(),
    );
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn athena_sends_the_tested_sql_and_reads_its_answers_into_the_same_findings() {
    let setup = Setup::seed(&[]);
    let dir = setup.dir.path().to_path_buf();
    let (src_rows, dst_rows, _) = estate();
    // The source's inventory is Parquet, the destination's CSV: both documented table templates.
    let src_root = dir.join("inv-src");
    let dst_root = dir.join("inv-dst");
    writer::write(
        &src_root,
        SRC,
        "all-versions",
        Format::Parquet,
        created(),
        &mut src_rows.into_iter(),
        3,
    )
    .unwrap();
    writer::write(
        &dst_root,
        DST,
        "all-versions",
        Format::Csv,
        created() + Duration::hours(1),
        &mut dst_rows.into_iter(),
        3,
    )
    .unwrap();
    upload(&setup, "xyz-audit", SRC_REGION, SRC_INV_BUCKET, &src_root);
    upload(&setup, "abcd-audit", DST_REGION, DST_INV_BUCKET, &dst_root);
    let src_loc = format!("s3://{SRC_INV_BUCKET}/{SRC}/all-versions/");
    let dst_loc = format!("s3://{DST_INV_BUCKET}/{DST}/all-versions/");

    // Play Athena: the plan replaudit will follow, run here by the embedded engine.
    let local_src: PathBuf = src_root.join(SRC).join("all-versions");
    let local_dst: PathBuf = dst_root.join(DST).join("all-versions");
    let plan = play_athena(
        &setup, &src_loc, &local_src, &local_src, &dst_loc, &local_dst,
    )
    .await;

    let athena_dir = dir.join("athena-reports");
    let (code, athena_report, athena_manifest) = reconcile_report(
        &setup,
        &athena_dir,
        &[
            "--athena",
            "--source-inventory",
            &src_loc,
            "--dest-inventory",
            &dst_loc,
        ],
    );

    // 1. Exactly the planned statements, in order: DDL, then the four queries run above.
    let sent = sent_queries(&setup);
    let mut want = plan.ddl.clone();
    want.extend([
        plan.source_count.clone(),
        plan.dest_count.clone(),
        plan.counts.clone(),
        plan.rows.clone(),
    ]);
    assert_eq!(sent, want, "statements sent to Athena");
    assert!(
        sent.iter().any(|q| q.contains("ParquetHiveSerDe"))
            && sent.iter().any(|q| q.contains("OpenCSVSerde")),
        "{sent:?}"
    );

    // 2. The same findings and Batch manifest as the embedded engine over the same files.
    let local_dir = dir.join("local-reports");
    let (local_code, local_report, local_manifest) = reconcile_report(
        &setup,
        &local_dir,
        &["--source-inventory", &src_loc, "--dest-inventory", &dst_loc],
    );
    assert_eq!(code, 1, "failures found: {athena_report}");
    assert_eq!(local_code, 1);
    let (a, l) = (verdicts(&athena_report), verdicts(&local_report));
    assert_eq!(a, l, "Athena vs embedded engine");
    for id in [
        "reconcile-missing",
        "reconcile-failed",
        "reconcile-pending",
        "reconcile-never-eligible",
        "reconcile-mismatched",
        "reconcile-encryption",
        "reconcile-no-source",
    ] {
        let f = a
            .iter()
            .find(|f| f.0 == id)
            .unwrap_or_else(|| panic!("no {id}: {a:?}"));
        assert_eq!((f.1.as_str(), f.2.as_str()), ("fail", "1"), "{id}: {f:?}");
    }
    assert!(!athena_manifest.is_empty(), "a Batch manifest is written");
    assert_eq!(athena_manifest, local_manifest);
}

/// An ORC inventory as S3 delivers it: `manifest.json` with `fileFormat` ORC and the ORC struct
/// `fileSchema` (the S3 user guide's ORC example manifest,
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html>),
/// written beside a Parquet inventory of the same versions under the configuration `to`. The
/// data files are the Parquet ones renamed: Athena, which reads them, does not run on the
/// emulator, and replaudit reads only the manifest of an ORC inventory.
fn orc_copy(root: &Path, bucket: &str, from: &str, to: &str) {
    const ORC_SCHEMA: &str = "struct<bucket:string,key:string,version_id:string,is_latest:boolean,is_delete_marker:boolean,size:bigint,last_modified_date:timestamp,e_tag:string,storage_class:string,is_multipart_uploaded:boolean,replication_status:string,encryption_status:string>";
    let src = root.join(bucket).join(from);
    let dst = root.join(bucket).join(to);
    std::fs::create_dir_all(dst.join("data")).unwrap();
    for e in std::fs::read_dir(src.join("data")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().replace(".parquet", ".orc");
        std::fs::copy(e.path(), dst.join("data").join(name)).unwrap();
    }
    for e in std::fs::read_dir(&src).unwrap() {
        let dated = e.unwrap().path();
        let Ok(json) = std::fs::read(dated.join("manifest.json")) else {
            continue;
        };
        let mut m: Value = serde_json::from_slice(&json).unwrap();
        m["fileFormat"] = json!("ORC");
        m["fileSchema"] = json!(ORC_SCHEMA);
        for f in m["files"].as_array_mut().unwrap() {
            let k = f["key"]
                .as_str()
                .unwrap()
                .replace(&format!("/{from}/"), &format!("/{to}/"))
                .replace(".parquet", ".orc");
            f["key"] = json!(k);
        }
        let out = dst.join(dated.file_name().unwrap());
        std::fs::create_dir_all(&out).unwrap();
        let body = serde_json::to_vec_pretty(&m).unwrap();
        std::fs::write(out.join("manifest.json"), &body).unwrap();
        std::fs::write(out.join("manifest.checksum"), inventory::md5_hex(&body)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orc_inventory_is_reconciled_on_athena_and_refused_locally_naming_athena() {
    let setup = Setup::seed(&[]);
    let dir = setup.dir.path().to_path_buf();
    let (src_rows, dst_rows, _) = estate();
    let src_root = dir.join("inv-src");
    let dst_root = dir.join("inv-dst");
    writer::write(
        &src_root,
        SRC,
        "all-versions",
        Format::Parquet,
        created(),
        &mut src_rows.into_iter(),
        3,
    )
    .unwrap();
    orc_copy(&src_root, SRC, "all-versions", "orc-versions");
    writer::write(
        &dst_root,
        DST,
        "all-versions",
        Format::Csv,
        created() + Duration::hours(1),
        &mut dst_rows.into_iter(),
        3,
    )
    .unwrap();
    upload(&setup, "xyz-audit", SRC_REGION, SRC_INV_BUCKET, &src_root);
    upload(&setup, "abcd-audit", DST_REGION, DST_INV_BUCKET, &dst_root);
    let orc_loc = format!("s3://{SRC_INV_BUCKET}/{SRC}/orc-versions/");
    let pq_loc = format!("s3://{SRC_INV_BUCKET}/{SRC}/all-versions/");
    let dst_loc = format!("s3://{DST_INV_BUCKET}/{DST}/all-versions/");

    // Locally: refused before any data file is fetched, naming --athena and CSV/Parquet.
    let (_, refused, _) = reconcile_report(
        &setup,
        &dir.join("orc-local"),
        &["--source-inventory", &orc_loc, "--dest-inventory", &dst_loc],
    );
    let text = refused.to_string();
    assert!(
        text.contains("is in ORC, which replaudit does not read locally")
            && text.contains("with --athena")
            && text.contains("in CSV or Parquet"),
        "{refused}"
    );

    // On Athena: the documented ORC table, and the same findings as the Parquet copy read here.
    let plan = play_athena(
        &setup,
        &orc_loc,
        &src_root.join(SRC).join("orc-versions"),
        &src_root.join(SRC).join("all-versions"),
        &dst_loc,
        &dst_root.join(DST).join("all-versions"),
    )
    .await;
    let (code, athena_report, athena_manifest) = reconcile_report(
        &setup,
        &dir.join("orc-athena"),
        &[
            "--athena",
            "--source-inventory",
            &orc_loc,
            "--dest-inventory",
            &dst_loc,
        ],
    );
    let sent = sent_queries(&setup);
    let mut want = plan.ddl.clone();
    want.extend([
        plan.source_count.clone(),
        plan.dest_count.clone(),
        plan.counts.clone(),
        plan.rows.clone(),
    ]);
    assert_eq!(sent, want, "statements sent to Athena");
    let table = sent
        .iter()
        .find(|q| q.contains("CREATE EXTERNAL TABLE") && q.contains("OrcSerde"))
        .unwrap_or_else(|| panic!("{sent:?}"));
    assert!(
        table.contains("ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.orc.OrcSerde'")
            && table.contains("`last_modified_date` timestamp")
            && table.contains("/orc-versions/hive/'"),
        "{table}"
    );
    let (local_code, local_report, local_manifest) = reconcile_report(
        &setup,
        &dir.join("parquet-local"),
        &["--source-inventory", &pq_loc, "--dest-inventory", &dst_loc],
    );
    assert_eq!((code, local_code), (1, 1), "{athena_report}");
    assert_eq!(verdicts(&athena_report), verdicts(&local_report));
    assert_eq!(athena_manifest, local_manifest);
}
