//! Decisions per second on a realistic mix: every valid case of `tests/vectors/`.
//!
//! - `evaluate`: policies parsed once up front, then only `evaluate` per decision (the audit's
//!   inner loop: one parsed bucket policy, many principals and actions);
//! - `parse_evaluate`: every policy of the case parsed from JSON text, then one decision.
//!
//! Throughput is reported per decision (one case = one decision).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::Value;

use replaudit::policy::cases::{load_cases, Case, CompiledCase};
use replaudit::policy::{evaluate, OrgLevel, Policy, PolicySet};

fn load() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/vectors")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable");
        for v in load_cases(&text).expect("case array") {
            if let Ok(case) = serde_json::from_value::<Case>(v) {
                if case.compile().is_ok() {
                    out.push(case);
                }
            }
        }
    }
    out
}

/// A case with its policies kept as JSON text, for the parse+evaluate measurement.
struct TextCase {
    compiled: CompiledCase,
    identity: Vec<String>,
    resource: Option<String>,
    boundary: Option<String>,
    session: Option<String>,
    scps: Vec<(String, Vec<String>)>,
    rcps: Vec<(String, Vec<String>)>,
    vpce: Vec<String>,
}

fn text(v: &Value) -> String {
    v.to_string()
}

fn parse_all(list: &[String]) -> Vec<Policy> {
    list.iter()
        .filter_map(|t| Policy::parse("p", t).ok())
        .collect()
}

fn levels(list: &[(String, Vec<String>)]) -> Vec<OrgLevel> {
    list.iter()
        .map(|(t, ps)| OrgLevel {
            target: t.clone(),
            policies: parse_all(ps),
        })
        .collect()
}

fn parse_and_evaluate(c: &TextCase) -> replaudit::policy::Decision {
    let identity = parse_all(&c.identity);
    let resource = c.resource.as_ref().and_then(|t| Policy::parse("r", t).ok());
    let boundary = c.boundary.as_ref().and_then(|t| Policy::parse("b", t).ok());
    let session = c.session.as_ref().and_then(|t| Policy::parse("s", t).ok());
    let scps = levels(&c.scps);
    let rcps = levels(&c.rcps);
    let vpce = parse_all(&c.vpce);
    let set = PolicySet {
        identity: &identity,
        resource: resource.as_ref(),
        permission_boundary: boundary.as_ref(),
        session: session.as_ref(),
        scps: &scps,
        rcps: &rcps,
        vpc_endpoint: &vpce,
        restrict_public_buckets: c.compiled.restrict_public_buckets,
        federated_by: c.compiled.federated_by.as_deref(),
    };
    evaluate(&c.compiled.request, &set).decision
}

fn bench(c: &mut Criterion) {
    let cases = load();
    assert!(
        cases.len() >= 150,
        "expected the vector mix, got {}",
        cases.len()
    );
    let compiled: Vec<CompiledCase> = cases.iter().filter_map(|c| c.compile().ok()).collect();
    let texts: Vec<TextCase> = cases
        .iter()
        .filter_map(|c| {
            Some(TextCase {
                compiled: c.compile().ok()?,
                identity: c.identity_policies.iter().map(text).collect(),
                resource: c.resource_policy.as_ref().map(text),
                boundary: c.permission_boundary.as_ref().map(text),
                session: c.session_policy.as_ref().map(text),
                scps: c
                    .scps
                    .iter()
                    .map(|l| (l.target.clone(), l.policies.iter().map(text).collect()))
                    .collect(),
                rcps: c
                    .rcps
                    .iter()
                    .map(|l| (l.target.clone(), l.policies.iter().map(text).collect()))
                    .collect(),
                vpce: c.vpc_endpoint_policies.iter().map(text).collect(),
            })
        })
        .collect();

    let mut g = c.benchmark_group("policy");
    g.throughput(Throughput::Elements(compiled.len() as u64));
    g.bench_function("evaluate", |b| {
        b.iter(|| {
            for case in &compiled {
                black_box(evaluate(black_box(&case.request), &case.policy_set()));
            }
        })
    });
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("parse_evaluate", |b| {
        b.iter(|| {
            for case in &texts {
                black_box(parse_and_evaluate(black_box(case)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
