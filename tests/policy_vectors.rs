//! Runs every case file in `tests/vectors/` through the case runner and requires the
//! evaluator to agree with the expected decision written (by hand, from the cited AWS page)
//! into each case. Cases tagged `expect-error` hold malformed policies and must be rejected.

use std::path::PathBuf;

use replaudit::policy::cases::{load_cases, run_case, Summary};

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_vector_agrees_with_the_documented_decision() {
    let files = vector_files();
    assert!(!files.is_empty(), "no vector files found");
    let mut failures = Vec::new();
    let mut total = 0;
    let mut outcomes_all = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable vector file");
        let cases = load_cases(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for v in &cases {
            total += 1;
            let expect_error = v["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == "expect-error"));
            let outcome = run_case(v);
            let name = format!(
                "{}: {}",
                file.file_name().unwrap_or_default().to_string_lossy(),
                outcome.id
            );
            if expect_error {
                if outcome.result.is_ok() {
                    failures.push(format!(
                        "{name}: expected a policy error, got {}",
                        outcome.to_json_line()
                    ));
                }
                continue;
            }
            if outcome.expected.is_none() {
                failures.push(format!("{name}: vector without `expected`"));
            }
            if v["description"]
                .as_str()
                .is_none_or(|d| !d.contains("https://") && !d.contains("docs/policy-cases.md"))
            {
                failures.push(format!("{name}: description cites no source"));
            }
            if outcome.disagrees() {
                failures.push(format!(
                    "{name}: expected {:?}, got {}",
                    outcome.expected,
                    outcome.to_json_line()
                ));
            }
            outcomes_all.push(outcome);
        }
    }
    let summary = Summary::of(&outcomes_all);
    eprintln!("{summary}");
    for f in &failures {
        eprintln!("DISAGREEMENT {f}");
    }
    assert!(total >= 150, "only {total} vectors");
    assert!(
        failures.is_empty(),
        "{} of {total} vectors failed",
        failures.len()
    );
}

#[test]
fn vector_ids_are_unique() {
    let mut seen = std::collections::BTreeSet::new();
    for file in vector_files() {
        let text = std::fs::read_to_string(&file).expect("readable");
        for v in load_cases(&text).expect("array") {
            let id = v["id"].as_str().expect("id").to_string();
            assert!(seen.insert(id.clone()), "duplicate id {id}");
        }
    }
}
