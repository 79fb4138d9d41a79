//! Hostile or broken state in the accounts, audited offline from a snapshot of the emulated
//! seed set-up with one thing broken at a time: a policy that is not JSON, an unknown condition
//! operator, a 20 KB policy, values nested deeper than any parser should follow, and odd object
//! key names in the spec. Each gives a clear `error` finding naming the policy (or an ordinary
//! verdict), never a panic.

use crate::common;

use common::*;
use serde_json::Value;
use std::path::Path;

struct Offline {
    dir: tempfile::TempDir,
    snapshot: Value,
}

fn offline_base() -> Offline {
    let s = Setup::seed(&[]);
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("state.json");
    s.snapshot(&snap);
    let snapshot = serde_json::from_str(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    Offline { dir, snapshot }
}

/// Audit a (mutated) snapshot with a spec; returns exit code, stderr and the report.
fn audit(o: &Offline, spec: &Path, snap: &Value, name: &str) -> (Option<i32>, String, Value) {
    let path = o.dir.path().join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string(snap).unwrap()).unwrap();
    let reports = o.dir.path().join(format!("{name}-reports"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_replaudit"))
        .args(["audit", "--quiet", "--spec"])
        .arg(spec)
        .arg("--snapshot")
        .arg(&path)
        .arg("--output-dir")
        .arg(&reports)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{name}: panic: {stderr}");
    let report = serde_json::from_str(
        &std::fs::read_to_string(reports.join("audit-latest.json"))
            .unwrap_or_else(|e| panic!("{name}: no report ({e}): {stderr}")),
    )
    .unwrap();
    (out.status.code(), stderr, report)
}

/// The document of tom-cruise's first inline policy, and the source bucket policy.
fn tom_policy(s: &mut Value) -> &mut Value {
    &mut s["principals"]["arn:aws:iam::271089868719:user/tom-cruise"]["details"]["value"]
        ["inline_policies"]["value"][0]["document"]["value"]
}

fn source_policy(s: &mut Value) -> &mut Value {
    &mut s["buckets"]["source"]["policy"]["value"]
}

fn errors_mentioning<'a>(r: &'a Value, needle: &str) -> Vec<&'a Value> {
    with_status(r, "error")
        .into_iter()
        .filter(|f| f["message"].as_str().unwrap_or_default().contains(needle))
        .collect()
}

#[test]
fn broken_policies_in_the_accounts_become_error_findings() {
    let o = offline_base();
    let spec = seed_spec();
    let (code, _, clean) = audit(&o, &spec, &o.snapshot, "clean");
    assert_eq!(code, Some(0), "{}", describe(&clean));

    // 1. Not JSON.
    let mut s = o.snapshot.clone();
    *tom_policy(&mut s) = Value::String("{\"Version\": \"2012-10-17\", \"Statement\": [".into());
    let (code, _, r) = audit(&o, &spec, &s, "not-json");
    assert_eq!(code, Some(1));
    let e = errors_mentioning(&r, "tom-cruise inline policy");
    assert!(
        !e.is_empty(),
        "the broken policy is named: {}",
        describe(&r)
    );
    assert!(
        with_status(&r, "pass")
            .iter()
            .all(|f| !(f["id"] == "access-expectation"
                && f["message"].as_str().unwrap().contains("tom-cruise"))),
        "no verdict on tom from a policy we cannot read"
    );

    // 2. An unknown condition operator in the bucket policy.
    let mut s = o.snapshot.clone();
    let mut p: Value = serde_json::from_str(source_policy(&mut s).as_str().unwrap()).unwrap();
    p["Statement"][0]["Condition"] =
        serde_json::json!({"StringLikeButNotQuite": {"aws:username": "x"}});
    *source_policy(&mut s) = Value::String(p.to_string());
    let (code, _, r) = audit(&o, &spec, &s, "unknown-operator");
    assert_eq!(code, Some(1));
    let e = errors_mentioning(&r, "StringLikeButNotQuite");
    assert!(!e.is_empty(), "operator named: {}", describe(&r));
    assert!(
        e.iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .contains("$.Statement[0].Condition")),
        "JSON path given: {}",
        describe(&r)
    );

    // 3. A 20 KB bucket policy (AWS's limit) of harmless Deny statements: still evaluated.
    let mut s = o.snapshot.clone();
    let mut p: Value = serde_json::from_str(source_policy(&mut s).as_str().unwrap()).unwrap();
    let stmts = p["Statement"].as_array_mut().unwrap();
    let mut i = 0;
    while serde_json::to_string(&stmts).unwrap().len() < 20_000 {
        stmts.push(serde_json::json!({"Sid": format!("Pad{i}"), "Effect": "Deny", "Principal": "*", "Action": "s3:PutBucketWebsite", "Resource": "arn:aws:s3:::rubes-s3-bucket"}));
        i += 1;
    }
    *source_policy(&mut s) = Value::String(p.to_string());
    let (code, _, r) = audit(&o, &spec, &s, "large");
    assert_eq!(
        code,
        Some(0),
        "a large valid policy changes nothing: {}",
        describe(&r)
    );

    // 4. A condition value nested 10,000 levels deep: refused, not followed.
    let mut s = o.snapshot.clone();
    let mut deep = String::from("\"x\"");
    for _ in 0..10_000 {
        deep = format!("[{deep}]");
    }
    let text = source_policy(&mut s).as_str().unwrap().replacen(
        "\"Statement\"",
        &format!("\"Deep\": {deep}, \"Statement\""),
        1,
    );
    *source_policy(&mut s) = Value::String(text);
    let (code, _, r) = audit(&o, &spec, &s, "deep");
    assert_eq!(code, Some(1));
    assert!(
        !errors_mentioning(&r, "bucket policy of rubes-s3-bucket").is_empty(),
        "{}",
        describe(&r)
    );
}

#[test]
fn odd_object_keys_in_the_spec_are_just_keys() {
    let o = offline_base();
    let long = "k".repeat(1000);
    for (name, key) in [
        ("unicode", "reports/ünïcødé 報告/𝔰𝔞𝔪𝔭𝔩𝔢.txt".to_string()),
        ("dotdot", "reports/../../etc/passwd".to_string()),
        ("long", format!("reports/{long}")),
    ] {
        let text = std::fs::read_to_string(seed_spec()).unwrap().replace(
            "sample_key = \"reports/sample.txt\"",
            &format!("sample_key = {}", toml_string(&key)),
        );
        let spec = o.dir.path().join(format!("{name}.toml"));
        std::fs::write(&spec, text).unwrap();
        let (code, stderr, r) = audit(&o, &spec, &o.snapshot, name);
        assert!(matches!(code, Some(0) | Some(1)), "{name}: {stderr}");
        let access: Vec<&Value> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] == "access-expectation")
            .collect();
        assert!(
            access
                .iter()
                .any(|f| f["resource"].as_str().unwrap().ends_with(&key)),
            "{name}: the key is used as given"
        );
        assert!(
            access.iter().all(|f| f["status"] != "error"),
            "{name}: {}",
            describe(&r)
        );
    }
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The malformed-input group: every parser a user feeds (spec, snapshot, policy cases, mute file,
// S3 Inventory manifest, CSV rows, Parquet data files) with the classes a new user produces by
// accident or an attacker on purpose: truncated, wrong type, missing field, deep nesting, huge
// number, invalid UTF-8, path traversal where a path is read, empty file. Each run is offline
// (the seed snapshot fixture, inventories on disk). What every one must give: never a panic
// (exit 101) nor a crash by signal, never exit 0 on bad input, and output that names the file
// (and the line, where the input has lines). Each `Group::bad` is one case; the counts are
// printed (`--nocapture`).

use crate::estate;
use crate::inventory;

use replaudit::reconcile::engine::NormRow;
use replaudit::reconcile::inventory::{md5_hex, writer, Format};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture_snapshot() -> PathBuf {
    common::repo().join("tests/fixtures/seed-snapshot.json")
}

/// One parser's cases, counted, with every case that broke the rule (all of them are run, so
/// that one failure does not hide the next).
struct Group {
    parser: &'static str,
    dir: tempfile::TempDir,
    cases: usize,
    failures: Vec<String>,
}

/// What one run gave: exit code, and everything it wrote (stdout, stderr, the report).
struct Ran {
    code: Option<i32>,
    stderr: String,
    all: String,
    /// What the run left in its temporary folder (`TMPDIR`).
    left: Vec<String>,
}

impl Group {
    fn new(parser: &'static str) -> Group {
        Group {
            parser,
            dir: tempfile::tempdir().unwrap(),
            cases: 0,
            failures: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Run the binary with its temporary folder inside this group's, and the report (if any)
    /// read into the output.
    fn run(&self, name: &str, args: &[&std::ffi::OsStr]) -> Ran {
        let tmp = self.path(&format!("{name}-tmp"));
        std::fs::create_dir_all(&tmp).unwrap();
        let reports = self.path(&format!("{name}-reports"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_replaudit"));
        cmd.args(args).env("TMPDIR", &tmp);
        // `simulate --cases` writes to stdout only; the others write their reports here.
        if args[0] != "simulate" {
            cmd.arg("--output-dir").arg(&reports);
        }
        let out: Output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // What names the fault: stderr, the case lines of `simulate --cases`, and the messages
        // of the report's `error` findings (not the whole report, which names every file).
        let mut all = stderr.clone();
        if args[0] == "simulate" {
            all.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        if let Ok(text) = std::fs::read_to_string(
            reports.join(format!("{}-latest.json", args[0].to_string_lossy())),
        ) {
            let report: Value = serde_json::from_str(&text).unwrap();
            for f in with_status(&report, "error") {
                all.push('\n');
                all.push_str(f["message"].as_str().unwrap_or_default());
            }
        }
        let left = std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        Ran {
            code: out.status.code(),
            stderr,
            all,
            left,
        }
    }

    /// The group's rule for a bad input: no panic, no signal, not 0, and `names` (the file, and
    /// the line where there is one) in what the run wrote; `in_stderr` when a fatal error's one
    /// line must carry them.
    fn bad(&mut self, class: &str, r: &Ran, in_stderr: bool, names: &[&str]) {
        self.cases += 1;
        let what = format!("{}/{class}", self.parser);
        let text = if in_stderr { &r.stderr } else { &r.all };
        let broken = if r.code.is_none() {
            Some(format!("killed by a signal: {}", r.stderr))
        } else if r.code == Some(101) || r.stderr.contains("panicked at") {
            Some(format!("panicked (exit {:?}): {}", r.code, r.stderr))
        } else if r.code == Some(0) {
            Some(format!("exit 0 on bad input: {}", r.all))
        } else if !r.left.is_empty() {
            Some(format!("left {:?} in its temporary folder", r.left))
        } else {
            names
                .iter()
                .find(|n| !text.contains(**n))
                .map(|n| format!("{n:?} not named in: {text}"))
        };
        match broken {
            Some(why) => self.failures.push(format!("{what}: {why}")),
            None if std::env::var_os("BAD_INPUT_SHOW").is_some() => {
                let line = text
                    .lines()
                    .find(|l| names.first().is_some_and(|n| l.contains(n)))
                    .unwrap_or_default();
                println!("{what}: {}", line.trim());
            }
            None => {}
        }
    }

    fn done(self) {
        println!("malformed input: {} {} cases", self.cases, self.parser);
        let short: Vec<String> = self
            .failures
            .iter()
            .map(|f| f.chars().take(600).collect())
            .collect();
        assert!(
            self.failures.is_empty(),
            "{} of {} {} cases broke the rule:\n{}",
            self.failures.len(),
            self.cases,
            self.parser,
            short.join("\n")
        );
    }
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn deep_json(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn malformed_specs() {
    let mut g = Group::new("spec");
    let seed = std::fs::read_to_string(seed_spec()).unwrap();
    let audit = |g: &Group, name: &str, body: &[u8]| {
        let p = g.path(&format!("{name}.toml"));
        std::fs::write(&p, body).unwrap();
        let r = g.run(
            name,
            &[
                os("audit"),
                os("--quiet"),
                os("--spec"),
                p.as_os_str(),
                os("--snapshot"),
                fixture_snapshot().as_os_str(),
            ],
        );
        (r, format!("{name}.toml:"))
    };
    let cut = seed.char_indices().nth(seed.len() / 2).unwrap().0;
    let (r, f) = audit(&g, "truncated", &seed.as_bytes()[..cut]);
    g.bad("truncated", &r, true, &[&f]);
    let (r, f) = audit(
        &g,
        "wrong-type",
        seed.replacen("versioning = true", "versioning = \"yes\"", 1)
            .as_bytes(),
    );
    g.bad("wrong type", &r, true, &[&f, "invalid type"]);
    let (r, f) = audit(
        &g,
        "missing-field",
        seed.replacen("account_id = \"111122223333\"\n", "", 1)
            .as_bytes(),
    );
    g.bad(
        "missing field",
        &r,
        true,
        &[&f, "missing field `account_id`"],
    );
    let deep = format!(
        "deep = {}\n{seed}",
        "[".repeat(10_000) + &"]".repeat(10_000)
    );
    let (r, f) = audit(&g, "deep", deep.as_bytes());
    g.bad("deep nesting", &r, true, &[&format!("{f}1:")]);
    let (r, f) = audit(
        &g,
        "huge-number",
        seed.replacen("version = 1", "version = 99999999999999999999999", 1)
            .as_bytes(),
    );
    g.bad("huge number", &r, true, &[&f]);
    let mut utf8 = seed.as_bytes().to_vec();
    let at = seed.find("name = ").unwrap();
    utf8.splice(at..at, [0xff, 0xfe]);
    let line = seed[..at].lines().count() + 1;
    let (r, f) = audit(&g, "invalid-utf8", &utf8);
    g.bad(
        "invalid UTF-8",
        &r,
        true,
        &[&format!("{f}{line}:"), "UTF-8"],
    );
    let (r, f) = audit(&g, "empty", b"");
    g.bad("empty file", &r, true, &[&f, "missing field"]);
    g.done();
}

#[test]
fn malformed_snapshots() {
    let mut g = Group::new("snapshot");
    let text = std::fs::read_to_string(fixture_snapshot()).unwrap();
    let good: Value = serde_json::from_str(&text).unwrap();
    let audit = |g: &Group, name: &str, body: &[u8]| {
        let p = g.path(&format!("{name}.json"));
        std::fs::write(&p, body).unwrap();
        g.run(
            name,
            &[
                os("audit"),
                os("--quiet"),
                os("--spec"),
                seed_spec().as_os_str(),
                os("--snapshot"),
                p.as_os_str(),
            ],
        )
    };
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap();
    let r = audit(&g, "truncated", &text.as_bytes()[..text.len() / 2]);
    g.bad("truncated", &r, true, &["truncated.json", "line"]);
    let mut v = good.clone();
    v["spec_name"] = Value::from(5);
    let r = audit(&g, "wrong-type", pretty(&v).as_bytes());
    g.bad(
        "wrong type",
        &r,
        true,
        &["wrong-type.json", "invalid type", "line"],
    );
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("buckets");
    let r = audit(&g, "missing-field", pretty(&v).as_bytes());
    g.bad(
        "missing field",
        &r,
        true,
        &["missing-field.json", "missing field `buckets`"],
    );
    let deep = pretty(&good).replacen(
        "\"accounts\": {",
        &format!("\"accounts\": {{\"deep\": {},", deep_json(10_000)),
        1,
    );
    let r = audit(&g, "deep", deep.as_bytes());
    g.bad("deep nesting", &r, true, &["deep.json", "line"]);
    let huge = pretty(&good).replacen(
        "\"schema_version\": ",
        "\"schema_version\": 1e400, \"x\": ",
        1,
    );
    let r = audit(&g, "huge-number", huge.as_bytes());
    g.bad("huge number", &r, true, &["huge-number.json"]);
    let mut bytes = pretty(&good).into_bytes();
    let at = bytes.len() / 2;
    bytes.splice(at..at, [0xff]);
    let r = audit(&g, "invalid-utf8", &bytes);
    g.bad("invalid UTF-8", &r, true, &["invalid-utf8.json"]);
    let r = audit(&g, "empty", b"");
    g.bad("empty file", &r, true, &["empty.json"]);
    g.done();
}

/// A case of the documented format (docs/policy-cases.md), with `extra` fields merged in.
fn case(id: &str, extra: &str) -> String {
    format!(
        r#"{{"id": "{id}", "request": {{"principal": "arn:aws:iam::111122223333:user/a", "principal_account": "111122223333", "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k", "resource_account": "111122223333", "context": {{}}}}, "identity_policies": [{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}]}}]{extra}}}"#
    )
}

#[test]
fn malformed_policy_cases() {
    let mut g = Group::new("policy cases");
    let simulate = |g: &Group, name: &str, body: &[u8]| {
        let p = g.path(&format!("{name}.json"));
        std::fs::write(&p, body).unwrap();
        g.run(name, &[os("simulate"), os("--cases"), p.as_os_str()])
    };
    let ok = case("ok", r#", "expected": "Allowed""#);
    // The control: a good case agrees, exit 0.
    let r = simulate(&g, "good", format!("[\n{ok}\n]\n").as_bytes());
    assert_eq!(r.code, Some(0), "{}", r.all);
    // Whole-file classes: refused as a whole (exit 2), naming the file.
    let whole = format!("[\n{ok},\n{ok}\n]\n");
    let r = simulate(&g, "truncated", &whole.as_bytes()[..whole.len() / 2]);
    g.bad("truncated", &r, true, &["truncated.json", "line"]);
    let r = simulate(&g, "empty", b"");
    g.bad("empty file", &r, true, &["empty.json"]);
    let mut bytes = whole.clone().into_bytes();
    let at = whole.find("s3:GetObject").unwrap();
    bytes.splice(at..at, [0xc3, 0x28]);
    let r = simulate(&g, "invalid-utf8", &bytes);
    g.bad("invalid UTF-8", &r, true, &["invalid-utf8.json"]);
    let r = simulate(&g, "not-an-array", format!("{ok}\n").as_bytes());
    g.bad(
        "wrong type (file)",
        &r,
        true,
        &["not-an-array.json", "JSON array"],
    );
    // Case classes: each case states `expected`, so each error fails the run (exit 1) and its
    // line names the case (and where it starts, when it could not be read at all).
    let one = |g: &Group, name: &str, c: String| {
        simulate(g, name, format!("[\n{ok},\n{c}\n]\n").as_bytes())
    };
    let r = one(
        &g,
        "expected-not-a-decision",
        case("typo", r#", "expected": "Allow""#),
    );
    g.bad(
        "wrong type (expected)",
        &r,
        false,
        &["\"id\":\"typo\"", "not a decision"],
    );
    let r = one(&g, "expected-a-number", case("num", r#", "expected": 5"#));
    g.bad(
        "wrong type (expected number)",
        &r,
        false,
        &["\"id\":\"num\"", "not a decision"],
    );
    let r = one(
        &g,
        "wrong-type",
        r#"{"id": "wt", "request": "s3:GetObject", "expected": "Allowed"}"#.to_string(),
    );
    g.bad(
        "wrong type (request)",
        &r,
        false,
        &["\"id\":\"wt\"", "invalid type"],
    );
    let r = one(
        &g,
        "missing-field",
        r#"{"id": "mf", "expected": "ImplicitDeny"}"#.to_string(),
    );
    g.bad(
        "missing field",
        &r,
        false,
        &["\"id\":\"mf\"", "missing field `request`"],
    );
    let deep = case(
        "deep",
        &format!(
            r#", "expected": "Allowed", "resource_policy": {}"#,
            deep_json(10_000)
        ),
    );
    let r = one(&g, "deep", deep);
    g.bad(
        "deep nesting",
        &r,
        false,
        &["\"id\":\"deep\"", "line 3 of the case file"],
    );
    let huge = case(
        "huge",
        r#", "expected": "Allowed", "restrict_public_buckets": 1e400"#,
    );
    let r = one(&g, "huge-number", huge);
    g.bad(
        "huge number",
        &r,
        false,
        &["\"id\":\"huge\"", "line 3 of the case file"],
    );
    // A case too deep to read whose id is after the depth: named by its index and line.
    let r = one(
        &g,
        "deep-no-id",
        format!(r#"{{"expected": "Allowed", "x": {}}}"#, deep_json(10_000)),
    );
    g.bad(
        "deep nesting, no id",
        &r,
        false,
        &["\"id\":\"#1\"", "line 3"],
    );
    g.done();
}

#[test]
fn malformed_mute_files() {
    let mut g = Group::new("mute file");
    let audit = |g: &Group, name: &str, body: &[u8]| {
        let p = g.path(&format!("{name}.toml"));
        std::fs::write(&p, body).unwrap();
        g.run(
            name,
            &[
                os("audit"),
                os("--quiet"),
                os("--spec"),
                seed_spec().as_os_str(),
                os("--snapshot"),
                fixture_snapshot().as_os_str(),
                os("--mute"),
                p.as_os_str(),
            ],
        )
    };
    let good =
        "# accepted\n[[mute]]\nrule = \"bucket-*\"\nreason = \"SEC-1\"\nexpires = 2099-03-31\n";
    // Controls: a good file and an empty one (no mutes) audit the clean seed: exit 0.
    for (name, body) in [("good", good), ("empty", "")] {
        let r = audit(&g, name, body.as_bytes());
        assert_eq!(r.code, Some(0), "{name}: {}", r.all);
    }
    let r = audit(&g, "truncated", &good.as_bytes()[..good.len() - 12]);
    g.bad("truncated", &r, true, &["truncated.toml:5:"]);
    let r = audit(&g, "wrong-type", good.replace("\"SEC-1\"", "5").as_bytes());
    g.bad(
        "wrong type",
        &r,
        true,
        &["wrong-type.toml:4:", "invalid type"],
    );
    let r = audit(
        &g,
        "missing-field",
        good.replace("reason = \"SEC-1\"\n", "").as_bytes(),
    );
    g.bad(
        "missing field",
        &r,
        true,
        &["missing-field.toml:2:", "missing field `reason`"],
    );
    let r = audit(&g, "empty-reason", good.replace("SEC-1", " ").as_bytes());
    g.bad(
        "empty reason",
        &r,
        true,
        &["empty-reason.toml:4:", "reason is required"],
    );
    let r = audit(
        &g,
        "bad-date",
        good.replace("2099-03-31", "\"soon\"").as_bytes(),
    );
    g.bad(
        "wrong type (date)",
        &r,
        true,
        &["bad-date.toml:5:", "must be a date"],
    );
    let deep = format!("x = {}\n{good}", "[".repeat(10_000) + &"]".repeat(10_000));
    let r = audit(&g, "deep", deep.as_bytes());
    g.bad("deep nesting", &r, true, &["deep.toml:1:"]);
    let r = audit(
        &g,
        "huge-number",
        good.replace("2099-03-31", "99999999999999999999999")
            .as_bytes(),
    );
    g.bad("huge number", &r, true, &["huge-number.toml:5:"]);
    let mut bytes = good.as_bytes().to_vec();
    let at = good.find("SEC").unwrap();
    bytes.splice(at..at, [0xff]);
    let r = audit(&g, "invalid-utf8", &bytes);
    g.bad("invalid UTF-8", &r, true, &["invalid-utf8.toml:4", "UTF-8"]);
    g.done();
}

// --- S3 Inventory folders --------------------------------------------------------------------

const INV_SRC: &str = "rubes-s3-bucket";
const INV_DST: &str = "clint-s3-bucket";

/// Twelve versions, every one replicated and intact: a clean pair of inventories passes.
fn clean_rows(dest: bool) -> Vec<NormRow> {
    (0..12)
        .map(|i| {
            let mut r = estate::row(
                &format!("reports/{i:04}.pdf"),
                &format!("v{i:04}"),
                120,
                Some(if dest { "REPLICA" } else { "COMPLETED" }),
                "SSE-KMS",
            );
            r.last_modified += chrono::Duration::seconds(i64::from(dest));
            r
        })
        .collect()
}

/// A pair of inventories on disk (source CSV, destination Parquet unless `dst` says), 4
/// versions a data file; returns the two configuration folders.
fn inventories(root: &Path, dst: Format) -> (PathBuf, PathBuf) {
    for (bucket, format, dest) in [(INV_SRC, Format::Csv, false), (INV_DST, dst, true)] {
        writer::write(
            root,
            bucket,
            "all-versions",
            format,
            estate::created(),
            &mut clean_rows(dest).into_iter(),
            4,
        )
        .unwrap();
    }
    (
        root.join(INV_SRC).join("all-versions"),
        root.join(INV_DST).join("all-versions"),
    )
}

fn dated(config: &Path) -> PathBuf {
    std::fs::read_dir(config)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("manifest.json").is_file())
        .unwrap()
}

fn data_files(config: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(config.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Rewrite the manifest (through `edit`) with every listed file's size and MD5 as the files now
/// are, and its checksum, as S3 would have written them for these bytes: a damaged file must
/// be caught by its content, not by a stale MD5.
fn reseal(config: &Path, edit: impl FnOnce(&mut Value)) {
    let d = dated(config);
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("manifest.json")).unwrap()).unwrap();
    let root = config.parent().unwrap().parent().unwrap().to_path_buf();
    edit(&mut m);
    for f in m["files"].as_array_mut().into_iter().flatten() {
        let Some(key) = f["key"].as_str() else {
            continue;
        };
        if let Ok(bytes) = std::fs::read(root.join(key)) {
            f["size"] = Value::from(bytes.len());
            f["MD5checksum"] = Value::from(md5_hex(&bytes));
        }
    }
    let body = serde_json::to_vec_pretty(&m).unwrap();
    std::fs::write(d.join("manifest.json"), &body).unwrap();
    std::fs::write(d.join("manifest.checksum"), md5_hex(&body)).unwrap();
}

fn gunzip(p: &Path) -> String {
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn gzip(p: &Path, bytes: &[u8]) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    std::fs::write(p, gz.finish().unwrap()).unwrap();
}

/// A fresh pair in `g`'s folder named `name`, damaged by `damage(source config, dest config)`,
/// reconciled offline.
fn reconcile_damaged(g: &Group, name: &str, dst: Format, damage: impl FnOnce(&Path, &Path)) -> Ran {
    let root = g.path(name);
    let (s, d) = inventories(&root, dst);
    damage(&s, &d);
    g.run(
        name,
        &[
            os("reconcile"),
            os("--in-flight"),
            os("30m"),
            os("--spec"),
            seed_spec().as_os_str(),
            os("--source-inventory"),
            s.as_os_str(),
            os("--dest-inventory"),
            d.as_os_str(),
        ],
    )
}

#[test]
fn malformed_inventory_manifests() {
    let mut g = Group::new("inventory manifest");
    let r = reconcile_damaged(&g, "clean", Format::Parquet, |_, _| {});
    assert_eq!(r.code, Some(0), "the clean pair passes: {}", r.all);
    let with_manifest = |g: &Group, name: &str, body: &dyn Fn(&str) -> Vec<u8>| {
        reconcile_damaged(g, name, Format::Parquet, |s, _| {
            let m = dated(s).join("manifest.json");
            let text = std::fs::read_to_string(&m).unwrap();
            let new = body(&text);
            std::fs::write(&m, &new).unwrap();
            std::fs::write(m.with_file_name("manifest.checksum"), md5_hex(&new)).unwrap();
        })
    };
    let r = with_manifest(&g, "truncated", &|t| t.as_bytes()[..t.len() / 2].to_vec());
    g.bad("truncated", &r, false, &["manifest.json", "EOF"]);
    let r = with_manifest(&g, "wrong-type", &|t| {
        t.replacen("\"size\": ", "\"size\": \"many\", \"x\": ", 1)
            .into_bytes()
    });
    g.bad("wrong type", &r, false, &["manifest.json", "invalid type"]);
    let r = with_manifest(&g, "missing-field", &|t| {
        let mut v: Value = serde_json::from_str(t).unwrap();
        v.as_object_mut().unwrap().remove("files");
        v.to_string().into_bytes()
    });
    g.bad(
        "missing field",
        &r,
        false,
        &["manifest.json", "missing field `files`"],
    );
    let r = with_manifest(&g, "deep", &|t| {
        t.replacen(
            "\"files\": ",
            &format!("\"files\": {}, \"x\": ", deep_json(10_000)),
            1,
        )
        .into_bytes()
    });
    g.bad("deep nesting", &r, false, &["manifest.json", "line"]);
    let r = with_manifest(&g, "huge-number", &|t| {
        t.replacen("\"size\": ", "\"size\": 1e30, \"x\": ", 1)
            .into_bytes()
    });
    g.bad("huge number", &r, false, &["manifest.json"]);
    let r = with_manifest(&g, "huge-timestamp", &|t| {
        let mut v: Value = serde_json::from_str(t).unwrap();
        v["creationTimestamp"] = Value::from("99999999999999999999");
        v.to_string().into_bytes()
    });
    g.bad(
        "huge number (timestamp)",
        &r,
        false,
        &["manifest.json", "creationTimestamp"],
    );
    let r = with_manifest(&g, "invalid-utf8", &|t| {
        let mut b = t.as_bytes().to_vec();
        let at = t.find(INV_SRC).unwrap();
        b.splice(at..at, [0xff, 0xfe]);
        b
    });
    g.bad("invalid UTF-8", &r, false, &["manifest.json"]);
    let r = with_manifest(&g, "empty", &|_| Vec::new());
    g.bad("empty file", &r, false, &["manifest.json"]);
    // Path traversal: a key with `..` that leads to a real inventory file outside the folder
    // given (the same rows, so reading it would pass).
    let r = reconcile_damaged(&g, "dotdot", Format::Parquet, |s, _| {
        let outside = s
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let first = data_files(s).remove(0);
        std::fs::copy(&first, outside.join(file_name(&first))).unwrap();
        reseal(s, |m| {
            let k = m["files"][0]["key"].as_str().unwrap().to_string();
            m["files"][0]["key"] = Value::from(format!(
                "{INV_SRC}/all-versions/data/../../../../outside/{}",
                k.rsplit('/').next().unwrap()
            ));
        });
        std::fs::remove_file(&first).unwrap();
    });
    g.bad("path traversal (..)", &r, false, &["outside", "refused"]);
    // A data file that is a symbolic link out of the folder given.
    let r = reconcile_damaged(&g, "symlink", Format::Parquet, |s, _| {
        let outside = g.path("symlink-outside");
        std::fs::create_dir_all(&outside).unwrap();
        let first = data_files(s).remove(0);
        let moved = outside.join(file_name(&first));
        std::fs::rename(&first, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &first).unwrap();
    });
    g.bad(
        "path traversal (symlink)",
        &r,
        false,
        &["symlink-outside", "refused"],
    );
    // The manifest itself a link to one outside.
    let r = reconcile_damaged(&g, "manifest-link", Format::Parquet, |s, _| {
        let m = dated(s).join("manifest.json");
        let outside = g.path("manifest-link-outside.json");
        std::fs::rename(&m, &outside).unwrap();
        std::os::unix::fs::symlink(&outside, &m).unwrap();
    });
    g.bad(
        "path traversal (manifest link)",
        &r,
        false,
        &["manifest.json", "refused"],
    );
    // An absolute key is looked up under the folder, never at its absolute place.
    let r = reconcile_damaged(&g, "absolute", Format::Parquet, |s, _| {
        let first = data_files(s).remove(0);
        let outside = g.path("absolute-outside");
        std::fs::create_dir_all(&outside).unwrap();
        let moved = outside.join(file_name(&first));
        std::fs::rename(&first, &moved).unwrap();
        reseal(s, |m| {
            m["files"][0]["key"] = Value::from(moved.to_string_lossy().into_owned());
        });
    });
    g.bad(
        "path traversal (absolute key)",
        &r,
        false,
        &["absolute-outside"],
    );
    g.done();
}

#[test]
fn malformed_csv_rows() {
    let mut g = Group::new("CSV rows");
    let with_lines = |g: &Group, name: &str, edit: &dyn Fn(&mut Vec<String>)| {
        reconcile_damaged(g, name, Format::Parquet, |s, _| {
            let f = data_files(s).remove(1);
            let mut lines: Vec<String> = gunzip(&f).lines().map(str::to_string).collect();
            edit(&mut lines);
            gzip(&f, (lines.join("\n") + "\n").as_bytes());
            reseal(s, |_| {});
        })
    };
    let r = with_lines(&g, "fewer-fields", &|l| {
        let cut = l[1].rfind(',').unwrap();
        l[1].truncate(cut);
    });
    g.bad(
        "missing field",
        &r,
        false,
        &["-00001.csv.gz", "line 2", "fileSchema"],
    );
    let r = with_lines(&g, "more-fields", &|l| l[2].push_str(",\"extra\""));
    g.bad(
        "extra field",
        &r,
        false,
        &["-00001.csv.gz", "line 3", "fileSchema"],
    );
    let r = with_lines(&g, "wrong-type", &|l| {
        l[0] = l[0].replacen("\"10\"", "\"ten\"", 1);
    });
    g.bad(
        "wrong type",
        &r,
        false,
        &["-00001.csv.gz", "line 1", "Size"],
    );
    let r = with_lines(&g, "huge-number", &|l| {
        l[0] = l[0].replacen("\"10\"", "\"99999999999999999999999\"", 1);
    });
    g.bad(
        "huge number",
        &r,
        false,
        &["-00001.csv.gz", "line 1", "Size"],
    );
    let r = with_lines(&g, "bad-key-encoding", &|l| {
        l[3] = l[3].replacen("reports%2F", "reports%2F%FF", 1);
    });
    g.bad(
        "invalid UTF-8 (key)",
        &r,
        false,
        &["-00001.csv.gz", "line 4"],
    );
    let r = reconcile_damaged(&g, "invalid-utf8", Format::Parquet, |s, _| {
        let f = data_files(s).remove(1);
        let mut b = gunzip(&f).into_bytes();
        b.splice(10..10, [0xff, 0xfe]);
        gzip(&f, &b);
        reseal(s, |_| {});
    });
    g.bad("invalid UTF-8", &r, false, &["-00001.csv.gz"]);
    let r = reconcile_damaged(&g, "truncated", Format::Parquet, |s, _| {
        let f = data_files(s).remove(1);
        let b = std::fs::read(&f).unwrap();
        std::fs::write(&f, &b[..b.len() / 2]).unwrap();
        reseal(s, |_| {});
    });
    g.bad("truncated", &r, false, &["-00001.csv.gz"]);
    let r = reconcile_damaged(&g, "empty", Format::Parquet, |s, _| {
        let f = data_files(s).remove(1);
        std::fs::write(&f, b"").unwrap();
        reseal(s, |_| {});
    });
    g.bad("empty file", &r, false, &["-00001.csv.gz"]);
    let r = reconcile_damaged(&g, "deep-quotes", Format::Parquet, |s, _| {
        // CSV has no nesting; the nearest thing: one field of 100,000 doubled quotes.
        let f = data_files(s).remove(1);
        let mut text = gunzip(&f);
        text.insert_str(0, &format!("\"{}\"\n", "\"\"".repeat(100_000)));
        gzip(&f, text.as_bytes());
        reseal(s, |_| {});
    });
    g.bad("deep quoting", &r, false, &["-00001.csv.gz", "line 1"]);
    g.done();
}

/// The footer's offset (the byte after the data pages): a Parquet file ends with the footer, its
/// length (4 bytes, little endian) and `PAR1`.
fn footer_start(b: &[u8]) -> usize {
    let n = b.len();
    let len = u32::from_le_bytes(b[n - 8..n - 4].try_into().unwrap()) as usize;
    n - 8 - len
}

#[test]
fn malformed_parquet_files() {
    let mut g = Group::new("Parquet file");
    let damaged = |g: &Group, name: &str, damage: &dyn Fn(&[u8]) -> Vec<u8>| {
        reconcile_damaged(g, name, Format::Parquet, |_, d| {
            let f = data_files(d).remove(1);
            let b = std::fs::read(&f).unwrap();
            std::fs::write(&f, damage(&b)).unwrap();
            reseal(d, |_| {});
        })
    };
    // Data pages overwritten, `PAR1` at both ends and the footer intact: the decoder itself
    // meets the damage.
    let r = damaged(&g, "corrupt-pages", &|b| {
        let mut v = b.to_vec();
        let end = footer_start(b);
        for (i, x) in v[4..end].iter_mut().enumerate() {
            *x = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        v
    });
    g.bad("corrupt data pages", &r, false, &["-00001.parquet"]);
    // One byte of the data pages changed so that the Parquet decoder itself panics (an index
    // out of bounds, a bit width too large): found by trying bytes in this process, where the
    // panic is caught, then given to the binary, which must not die of it.
    let panicking = |b: &[u8]| -> Option<Vec<u8>> {
        let probe = g.path("probe.parquet");
        let end = footer_start(b);
        for at in 4..end {
            for byte in [0xcb, 0xff, 0x93, 0x02] {
                let mut v = b.to_vec();
                v[at] = byte;
                std::fs::write(&probe, &v).unwrap();
                let decoded = std::panic::catch_unwind(|| {
                    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
                    let Ok(r) = ParquetRecordBatchReaderBuilder::try_new(
                        std::fs::File::open(&probe).unwrap(),
                    )
                    .and_then(|b| b.build()) else {
                        return;
                    };
                    for batch in r {
                        if batch.is_err() {
                            return;
                        }
                    }
                });
                if decoded.is_err() {
                    return Some(v);
                }
            }
        }
        None
    };
    let r = damaged(&g, "decoder-panics", &|b| {
        panicking(b).expect("some one-byte change panics the Parquet decoder")
    });
    g.bad(
        "decoder panic",
        &r,
        false,
        &["-00001.parquet", "cannot be decoded"],
    );
    let r = damaged(&g, "corrupt-footer", &|b| {
        let mut v = b.to_vec();
        let start = footer_start(b);
        let n = v.len();
        for x in &mut v[start..n - 8] {
            *x ^= 0x5a;
        }
        v
    });
    g.bad("corrupt footer", &r, false, &["-00001.parquet"]);
    let r = damaged(&g, "truncated", &|b| b[..b.len() / 2].to_vec());
    g.bad("truncated", &r, false, &["-00001.parquet"]);
    let r = damaged(&g, "empty", &|_| Vec::new());
    g.bad("empty file", &r, false, &["-00001.parquet"]);
    let r = damaged(&g, "huge-footer-length", &|b| {
        let mut v = b.to_vec();
        let n = v.len();
        v[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        v
    });
    g.bad(
        "huge number (footer length)",
        &r,
        false,
        &["-00001.parquet"],
    );
    // Wrong type: a CSV.gz data file listed in a Parquet manifest.
    let r = reconcile_damaged(&g, "csv-in-parquet", Format::Parquet, |s, d| {
        let f = data_files(d).remove(1);
        std::fs::copy(data_files(s).remove(1), &f).unwrap();
        reseal(d, |_| {});
    });
    g.bad("wrong type (not Parquet)", &r, false, &["-00001.parquet"]);
    // Missing field: a Parquet file without the columns the manifest lists.
    let r = reconcile_damaged(&g, "missing-column", Format::Parquet, |_, d| {
        use datafusion::arrow::array::{ArrayRef, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::arrow::record_batch::RecordBatch;
        let f = data_files(d).remove(1);
        let schema =
            std::sync::Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, false)]));
        let col: ArrayRef = std::sync::Arc::new(StringArray::from(vec!["reports/x"]));
        let batch = RecordBatch::try_new(schema.clone(), vec![col]).unwrap();
        let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&f).unwrap(),
            schema,
            None,
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        reseal(d, |_| {});
    });
    g.bad(
        "missing field (column)",
        &r,
        false,
        &["-00001.parquet", "column"],
    );
    g.done();
}

/// An inventory in S3 whose manifest lists a data file under a key that climbs out of the
/// inventory (`../`): S3 Inventory writes data files under the manifest's
/// `destination-prefix/source-bucket/config-ID/data/` (S3 user guide, storage-inventory-
/// location.html), so the key is refused before anything is fetched. It was fetched, and written
/// under its key, which led out of the run's temporary folder.
#[test]
fn an_s3_inventory_key_that_climbs_out_is_refused_and_nothing_is_written_outside() {
    use replaudit::aws::{s3_client, sdk_config, AwsOptions};
    let setup = Setup::seed(&[]);
    inventory::publish(&setup.spec, setup.dir.path(), &setup.emu.endpoint);
    // From the run's copy of a data file (TMPDIR/replaudit-reconcile-*/source/<key>), six `..`
    // reach the folder that holds TMPDIR.
    let top = setup.path("top");
    let tmp = top.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let spec = replaudit::spec::load(&setup.spec).unwrap().spec;
    let opts = AwsOptions {
        endpoint_url: Some(setup.emu.endpoint.clone()),
        ..AwsOptions::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let acct = spec.account("xyz").unwrap();
        let c = s3_client(
            &sdk_config(&acct.credentials, "ap-southeast-1", &opts).await,
            &opts,
        );
        let bucket = "xyz-inventory";
        let listed = c
            .list_objects_v2()
            .bucket(bucket)
            .prefix("rubes-s3-bucket/all-versions/")
            .send()
            .await
            .unwrap();
        let manifest_key = listed
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .find(|k| k.ends_with("/manifest.json"))
            .unwrap()
            .to_string();
        let get = |k: String| {
            let c = c.clone();
            async move {
                c.get_object()
                    .bucket(bucket)
                    .key(k)
                    .send()
                    .await
                    .unwrap()
                    .body
                    .collect()
                    .await
                    .unwrap()
                    .into_bytes()
                    .to_vec()
            }
        };
        let mut m: Value = serde_json::from_slice(&get(manifest_key.clone()).await).unwrap();
        let first = m["files"][0]["key"].as_str().unwrap().to_string();
        let body = get(first.clone()).await;
        let evil = format!(
            "rubes-s3-bucket/all-versions/data/{}escaped/{}",
            "../".repeat(6),
            first.rsplit('/').next().unwrap()
        );
        c.put_object()
            .bucket(bucket)
            .key(&evil)
            .body(body.into())
            .send()
            .await
            .unwrap();
        m["files"][0]["key"] = Value::from(evil);
        let text = serde_json::to_vec_pretty(&m).unwrap();
        let sum = md5_hex(&text);
        for (k, b) in [
            (manifest_key.clone(), text),
            (
                manifest_key.replace("manifest.json", "manifest.checksum"),
                sum.into_bytes(),
            ),
        ] {
            c.put_object()
                .bucket(bucket)
                .key(k)
                .body(b.into())
                .send()
                .await
                .unwrap();
        }
    });
    let reports = setup.path("s3-dotdot-reports");
    let out = setup
        .cmd()
        .args(["reconcile", "--quiet", "--in-flight", "2", "--spec"])
        .arg(&setup.spec)
        .arg("--output-dir")
        .arg(&reports)
        .args([
            "--source-inventory",
            inventory::SOURCE,
            "--dest-inventory",
            inventory::DEST,
        ])
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c != 0 && c != 101),
        "{stderr}"
    );
    assert!(
        !top.join("escaped").exists(),
        "a data file was written outside the run's temporary folder"
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("reconcile-latest.json")).unwrap(),
    )
    .unwrap();
    let errors: Vec<&str> = with_status(&report, "error")
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        errors.iter().any(|m| m.contains("escaped/")
            && m.contains("refused")
            && m.contains("s3://xyz-inventory/rubes-s3-bucket/all-versions/data/")),
        "{errors:?}"
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "temporary folder left"
    );
}
