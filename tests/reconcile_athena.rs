//! `replaudit reconcile --athena` on the emulator: the inventories are where S3 delivers them (an
//! inventory bucket in each account), Athena is the emulator's (patch 29: result pages, no rows
//! for DDL). Athena does not run SQL there, so the test plays Athena: it runs the very statements
//! replaudit will send ([`athena::plan`]) with the embedded engine over the same inventory files,
//! queues those results as Athena's answers (header row first, as Athena gives a SELECT), then
//! checks that replaudit sent exactly those statements and turned the answers into the same
//! findings and the same Batch Replication manifest as the local inventory path.

mod common;
#[path = "common/estate.rs"]
mod estate;

use chrono::{DateTime, Duration, Utc};
use common::{python, Setup};
use estate::{created, estate};
use replaudit::reconcile::athena::{self, AthenaInventory};
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
    let s = inventory::open_local(&local_src).unwrap();
    let d = inventory::open_local(&local_dst).unwrap();
    let dated = |c: DateTime<Utc>| c.format("%Y-%m-%dT%H-%MZ").to_string();
    let s_inv = AthenaInventory::from_manifest_uri(
        SRC,
        &format!("{src_loc}{}/manifest.json", dated(s.manifest.created)),
        s.manifest.format,
        &s.manifest.columns,
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
    let (_, _, _, scope) = live::scopes(&spec, &opts)
        .into_iter()
        .find(|(_, s, d, _)| {
            spec.bucket(s).unwrap().name.get_ref() == SRC
                && spec.bucket(d).unwrap().name.get_ref() == DST
        })
        .expect("the seed replicates rubes to clint");
    let plan = athena::plan(
        &scope,
        &s_inv,
        s.manifest.created,
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
