//! The spec parser under mutation, on stable Rust (the same body as the cargo-fuzz target
//! `fuzz/fuzz_targets/spec_parse.rs`): byte flips, insertions, deletions and splices of the
//! seed spec. Any panic fails the test. `REPLAUDIT_FUZZ_SECS=N cargo test --release --test
//! it -- --ignored spec_fuzz::mutation_fuzz_loop` runs the long version and prints how many inputs it tried.
//!
//! The other parsers a user feeds get the same mutations of a good input, with the bodies of
//! their cargo-fuzz targets: policy cases (`cases_parse`), the snapshot (`snapshot_parse`), the
//! S3 Inventory manifest (`inventory_manifest`) and CSV rows (`inventory_csv`).

use proptest::prelude::*;

const SEED: &str = include_str!("../checks/seed.toml");

fn mutate(seed: &[u8], ops: &[(u8, usize, u8)]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for &(op, at, byte) in ops {
        if v.is_empty() {
            v.push(byte);
            continue;
        }
        let i = at % v.len();
        match op % 5 {
            0 => v[i] = byte,
            1 => v.insert(i, byte),
            2 => {
                v.remove(i);
            }
            3 => {
                // Duplicate a line-sized chunk: duplicate keys and tables.
                let end = (i + 40).min(v.len());
                let chunk = v[i..end].to_vec();
                v.splice(i..i, chunk);
            }
            _ => v.truncate(i),
        }
    }
    v
}

const CASES: &str = include_str!("vectors/seed_scenario.json");
const SNAPSHOT: &str = include_str!("fixtures/seed-snapshot.json");

/// A manifest and the CSV lines of a small inventory, as `writer` writes them.
fn inventory_seed() -> (Vec<u8>, Vec<u8>) {
    use replaudit::reconcile::engine::NormRow;
    use replaudit::reconcile::inventory::{writer, Format};
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let at: chrono::DateTime<chrono::Utc> = "2026-11-29T00:00:00Z".parse().unwrap();
    let rows = (0..5).map(|i| NormRow {
        key: format!("reports/a b+{i}ü.pdf"),
        version_id: if i == 0 {
            "null".into()
        } else {
            format!("v{i}")
        },
        is_delete_marker: i == 3,
        size: 10 * i,
        etag: Some("0123456789abcdef0123456789abcdef".into()),
        last_modified: at,
        replication_status: Some("COMPLETED".into()),
        encryption_status: Some("SSE-KMS".into()),
    });
    let dated = writer::write(
        dir.path(),
        "b",
        "c",
        Format::Csv,
        at,
        &mut rows.into_iter(),
        10,
    )
    .unwrap();
    let manifest = std::fs::read(dated.join("manifest.json")).unwrap();
    let data = std::fs::read_dir(dir.path().join("b/c/data"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut csv = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(data).unwrap())
        .read_to_end(&mut csv)
        .unwrap();
    (manifest, csv)
}

fn inventory_seeds() -> &'static (Vec<u8>, Vec<u8>) {
    static SEEDS: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    SEEDS.get_or_init(inventory_seed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
    #[test]
    fn mutated_case_files_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..8)) {
        replaudit::policy::cases::fuzz_one(&mutate(CASES.as_bytes(), &ops));
    }

    #[test]
    fn mutated_manifests_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..8)) {
        replaudit::reconcile::inventory::fuzz_manifest(&mutate(&inventory_seeds().0, &ops));
    }

    #[test]
    fn mutated_csv_rows_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..8)) {
        replaudit::reconcile::inventory::fuzz_csv(&mutate(&inventory_seeds().1, &ops));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, ..ProptestConfig::default() })]
    #[test]
    fn mutated_snapshots_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..8)) {
        replaudit::snapshot::Snapshot::fuzz_one(&mutate(SNAPSHOT.as_bytes(), &ops));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
    #[test]
    fn mutated_specs_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..8)) {
        replaudit::spec::fuzz_one(&mutate(SEED.as_bytes(), &ops));
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        replaudit::spec::fuzz_one(text.as_bytes());
    }
}

#[test]
#[ignore]
fn mutation_fuzz_loop() {
    let secs: u64 = std::env::var("REPLAUDIT_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut n: u64 = 0;
    let mut state: u64 = 0x9E3779B97F4A7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    while std::time::Instant::now() < deadline {
        for _ in 0..1000 {
            let k = (next() % 6 + 1) as usize;
            let ops: Vec<(u8, usize, u8)> = (0..k)
                .map(|_| (next() as u8, next() as usize, next() as u8))
                .collect();
            let (manifest, csv) = inventory_seeds();
            match n % 5 {
                0 => replaudit::spec::fuzz_one(&mutate(SEED.as_bytes(), &ops)),
                1 => replaudit::policy::cases::fuzz_one(&mutate(CASES.as_bytes(), &ops)),
                2 => replaudit::reconcile::inventory::fuzz_manifest(&mutate(manifest, &ops)),
                3 => replaudit::reconcile::inventory::fuzz_csv(&mutate(csv, &ops)),
                _ => replaudit::snapshot::Snapshot::fuzz_one(&mutate(SNAPSHOT.as_bytes(), &ops)),
            }
            n += 1;
        }
    }
    println!(
        "parser fuzz (spec, cases, manifest, CSV rows, snapshot): {n} inputs in {secs} s, no panic"
    );
}
