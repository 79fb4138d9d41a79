//! Generates two S3 Inventory reports (source `rubes-s3-bucket`, destination `clint-s3-bucket`
//! of `checks/seed.toml`) of `--versions N` versions each, with a few percent of every class,
//! for the `reconcile --source-inventory/--dest-inventory` benchmark (benches/README.md).
//! Not a timed benchmark itself: time `replaudit reconcile` on its output.
//!
//! `cargo bench --bench reconcile_inventory -- --out DIR --versions 10000000 --format parquet`

use chrono::{DateTime, Duration, Utc};
use replaudit::reconcile::engine::NormRow;
use replaudit::reconcile::inventory::{writer, Format};
use std::path::PathBuf;

/// Per 100 versions: 2 missing, 1 failed, 1 pending, 1 never eligible, 1 mismatched, 1 with the
/// wrong encryption, 1 without a source, 1 replicated delete marker, 91 intact.
fn class(i: u64) -> u64 {
    i % 100
}

fn source_row(i: u64, created: DateTime<Utc>) -> Option<NormRow> {
    let c = class(i);
    if c == 7 {
        return None;
    }
    Some(NormRow {
        key: format!("reports/{:02}/{i:010}.pdf", i % 64),
        version_id: format!("{:032x}", (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        is_delete_marker: c == 8,
        size: if c == 8 { 0 } else { 1000 + (i % 5000) as i64 },
        etag: (c != 8).then(|| format!("{:032x}", (i as u128).wrapping_mul(2_654_435_761))),
        last_modified: created - Duration::days(2) + Duration::milliseconds(i as i64),
        replication_status: match c {
            2 => Some("FAILED".into()),
            3 => Some("PENDING".into()),
            4 | 8 => None,
            _ => Some("COMPLETED".into()),
        },
        encryption_status: Some(if c == 8 { "NOT-SSE" } else { "SSE-KMS" }.into()),
    })
}

fn dest_row(i: u64, created: DateTime<Utc>) -> Option<NormRow> {
    let c = class(i);
    if matches!(c, 0..=4) {
        return None;
    }
    let mut r = source_row(i, created).unwrap_or_else(|| {
        let mut r = source_row(i + 10, created).unwrap();
        r.key = format!("reports/{:02}/{i:010}.pdf", i % 64);
        r.version_id = format!("orphan{i:026}");
        r
    });
    r.replication_status = (c != 8).then(|| "REPLICA".into());
    if c == 5 {
        r.size += 1;
    }
    if c == 6 {
        r.encryption_status = Some("SSE-S3".into());
    }
    Some(r)
}

fn main() {
    let mut out = PathBuf::from("target/reconcile-bench");
    let mut n: u64 = 1_000_000;
    let mut format = Format::Parquet;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().expect("--out DIR").into(),
            "--versions" => {
                n = args
                    .next()
                    .expect("--versions N")
                    .parse()
                    .expect("a number")
            }
            "--format" => {
                format = match args.next().as_deref() {
                    Some("csv") => Format::Csv,
                    _ => Format::Parquet,
                }
            }
            _ => {} // cargo bench passes --bench
        }
    }
    let created: DateTime<Utc> = Utc::now();
    let t = std::time::Instant::now();
    let per_file = 1_000_000;
    writer::write(
        &out,
        "rubes-s3-bucket",
        "all-versions",
        format,
        created,
        &mut (0..n).filter_map(|i| source_row(i, created)),
        per_file,
    )
    .unwrap();
    writer::write(
        &out,
        "clint-s3-bucket",
        "all-versions",
        format,
        created,
        &mut (0..n).filter_map(|i| dest_row(i, created)),
        per_file,
    )
    .unwrap();
    println!(
        "wrote {n} versions a side ({format:?}) under {} in {:.1}s; expected per 100: 2 missing, 1 failed, 1 pending, 1 never-eligible, 1 mismatched, 1 encryption-mismatch, 1 no-source, 92 intact",
        out.display(),
        t.elapsed().as_secs_f64()
    );
}
