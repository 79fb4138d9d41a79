//! Reports as their real consumers read them: JUnit validated against the Jenkins xUnit and Ant
//! schemas with `xmllint`, SARIF against the OASIS 2.1.0 schema with Python's `jsonschema`,
//! HTML loaded in headless Chromium. The validators are system tools that `.ci/run` installs;
//! a missing one fails the test (a skipped validation would be a green run that proved nothing).

use crate::common;

use replaudit::findings::{
    Finding, Muted, Report, RunStatus, Scenario, Severity, SpecLocation, Status,
};
use replaudit::report::{junit, locate};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

fn schema(name: &str) -> PathBuf {
    common::repo().join("tests/schemas").join(name)
}

/// `xmllint --schema`; panics with the validator's output when the file is invalid.
pub fn xmllint(schema_file: &Path, xml: &Path) {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema_file)
        .arg(xml)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint is needed to validate JUnit ({e}): apt-get install libxml2-utils (.ci/run does)")
        });
    assert!(
        out.status.success(),
        "{} is not valid against {}:\n{}",
        xml.display(),
        schema_file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn finding(
    id: &str,
    scenario: Scenario,
    status: Status,
    resource: &str,
    evidence: serde_json::Value,
) -> Finding {
    Finding {
        id: id.into(),
        title: format!("{id} title"),
        scenario,
        status,
        severity: Severity::High,
        resource: resource.into(),
        message: format!("{id} is {status}: <&> \"quoted\" \u{1b}[31m"),
        evidence,
        remediation: "fix it".into(),
        references: vec![],
        duration_secs: None,
        location: None,
        muted: None,
        replications: vec![],
        replication_set: None,
    }
}

fn seed() -> replaudit::spec::LoadedSpec {
    replaudit::spec::load(Path::new("checks/seed.toml")).expect("seed spec")
}

/// Every status, a muted failure, a canary finding with a run id and a duration, huge evidence,
/// located in the seed spec.
fn sample(run: RunStatus) -> Report {
    let spec = seed();
    let big = json!({"policy": "x".repeat(20_000)});
    let mut muted = finding(
        "bucket-versioning",
        Scenario::Step2,
        Status::Fail,
        "arn:aws:s3:::clint-s3-bucket",
        json!({}),
    );
    muted.muted = Some(Muted {
        reason: "ticket SEC-1: versioning is being enabled".into(),
        expires: Some("2099-01-01".into()),
    });
    let mut canary = finding(
        "canary-access",
        Scenario::Step5,
        Status::Fail,
        "s3://rubes-s3-bucket/reports/replaudit-canary/20261130T052507Z-6b846a97/0 as clint",
        json!({"run_id": "20261130T052507Z-6b846a97", "principal": "clint", "action": "s3:GetObject"}),
    );
    canary.duration_secs = Some(0.807);
    let mut findings = vec![
        finding(
            "bucket-versioning",
            Scenario::Step1,
            Status::Pass,
            "arn:aws:s3:::rubes-s3-bucket",
            big.clone(),
        ),
        finding(
            "bucket-tls-only",
            Scenario::Step1,
            Status::Fail,
            "arn:aws:s3:::rubes-s3-bucket",
            big,
        ),
        finding(
            "role-trust",
            Scenario::Step3,
            Status::Error,
            "arn:aws:iam::111122223333:role/s3_replication_role",
            json!({"call": "iam:GetRole"}),
        ),
        finding(
            "bucket-object-ownership",
            Scenario::Step1,
            Status::Skip,
            "arn:aws:s3:::rubes-s3-bucket",
            json!({}),
        ),
        finding(
            "access-expectation",
            Scenario::Step5,
            Status::Fail,
            "arn:aws:s3:::rubes-s3-bucket/reports/sample.txt",
            json!({"principal": "arn:aws:iam::271089868719:user/clint-eastwood", "s3": {"action": "s3:GetObject"}}),
        ),
        muted,
        canary,
    ];
    locate::annotate(&spec, &mut findings);
    Report::new(&spec.name, chrono::Utc::now(), findings).with_run(run)
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn default_junit_validates_against_jenkins_xunit_and_ant_schemas() {
    let dir = tempfile::tempdir().unwrap();
    for (i, run) in [
        RunStatus::completed(),
        RunStatus::interrupted("SIGTERM", "stopped during collection"),
    ]
    .into_iter()
    .enumerate()
    {
        let xml = junit::render(&sample(run)).unwrap();
        let p = write(dir.path(), &format!("junit-{i}.xml"), &xml);
        xmllint(&schema("junit-10.xsd"), &p);
        xmllint(&schema("JUnit.xsd"), &p);
        // Evidence only where something is wrong, and bounded.
        assert!(
            xml.len() < 30_000,
            "evidence is bounded: {} bytes",
            xml.len()
        );
        assert!(xml.contains("(cut; the JSON report has the whole evidence)"));
        // Skip reasons in the element text, where GitLab shows them.
        let skipped = xml.split("<skipped ").nth(1).unwrap();
        let text = skipped.split_once('>').unwrap().1;
        assert!(
            text.starts_with("checks/seed.toml:")
                && text.contains(": bucket-object-ownership is skip"),
            "{skipped}"
        );
        // A muted finding keeps its status and says why it is muted.
        assert!(xml.contains("[muted: ticket SEC-1: versioning is being enabled]"));
        // Names carry no run id.
        assert!(!xml
            .contains("name=\"canary-access [s3://rubes-s3-bucket/reports/replaudit-canary/2026"));
        assert!(xml.contains("canary-access [s3://rubes-s3-bucket/reports/replaudit-canary/&lt;run&gt;/0 as clint] s3:GetObject"));
    }
    // The validator really rejects what the schemas forbid: the annotated flavour.
    let xml =
        junit::render_family(&sample(RunStatus::completed()), junit::Family::Annotated).unwrap();
    let p = write(dir.path(), "annotated.xml", &xml);
    for s in ["junit-10.xsd", "JUnit.xsd"] {
        let out = Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(schema(s))
            .arg(&p)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{s} rejects file/line on testcase");
    }
}

/// The opt-in flavour's `file`/`line`, and every failure text's `path:line:` (in every
/// flavour), point at the spec line that declared the finding's expectation.
#[test]
fn junit_locations_point_at_the_expectation_line() {
    let report = sample(RunStatus::completed());
    let spec_text = std::fs::read_to_string("checks/seed.toml").unwrap();
    let spec_line = |n: usize| spec_text.lines().nth(n - 1).unwrap().to_string();
    let expected: Vec<(&str, &str)> = vec![
        // (case name prefix, text the expectation's line must contain)
        (
            "bucket-tls-only [arn:aws:s3:::rubes-s3-bucket]",
            "name = \"rubes-s3-bucket\"",
        ),
        (
            "access-expectation [arn:aws:s3:::rubes-s3-bucket/reports/sample.txt]",
            "deny = [\"s3:ListBucket\", \"s3:GetObject\"]",
        ),
        (
            "canary-access [",
            "deny = [\"s3:ListBucket\", \"s3:GetObject\"]",
        ),
        (
            "bucket-versioning [arn:aws:s3:::clint-s3-bucket]",
            "versioning = true",
        ),
        (
            "role-trust [",
            "arn = \"arn:aws:iam::111122223333:role/s3_replication_role\"",
        ),
    ];
    for family in [junit::Family::Strict, junit::Family::Annotated] {
        let xml = junit::render_family(&report, family).unwrap();
        let cases = parse_cases(&xml);
        for (prefix, line_text) in &expected {
            let c = cases
                .iter()
                .find(|c| c.name.starts_with(prefix))
                .unwrap_or_else(|| panic!("no case {prefix} in {xml}"));
            let (path, line) = c
                .text
                .split_once(": ")
                .and_then(|(loc, _)| loc.rsplit_once(':'))
                .map(|(p, l)| (p.to_string(), l.parse::<usize>().unwrap()))
                .unwrap_or_else(|| {
                    panic!("{prefix}: text does not start with path:line: {:?}", c.text)
                });
            assert_eq!(path, "checks/seed.toml");
            assert!(
                spec_line(line).contains(line_text),
                "{prefix}: line {line} is {:?}",
                spec_line(line)
            );
            if family == junit::Family::Annotated {
                assert_eq!(c.file.as_deref(), Some("checks/seed.toml"), "{prefix}");
                assert_eq!(c.line, Some(line), "{prefix}");
            } else {
                assert!(c.file.is_none() && c.line.is_none());
            }
        }
    }
}

struct Case {
    name: String,
    file: Option<String>,
    line: Option<usize>,
    text: String,
}

/// Testcases with the text of their failure/error/skipped element, read with an XML parser.
fn parse_cases(xml: &str) -> Vec<Case> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut cases: Vec<Case> = Vec::new();
    let mut in_result = false;
    loop {
        match r.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "testcase" => {
                let get = |k: &str| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == k)
                        .map(|a| {
                            #[allow(deprecated)]
                            let v = a.unescape_value().unwrap().into_owned();
                            v
                        })
                };
                cases.push(Case {
                    name: get("name").unwrap(),
                    file: get("file"),
                    line: get("line").map(|l| l.parse().unwrap()),
                    text: String::new(),
                });
            }
            Event::Start(e) if matches!(e.name().as_ref(), "failure" | "error" | "skipped") => {
                in_result = true;
            }
            Event::End(e) if matches!(e.name().as_ref(), "failure" | "error" | "skipped") => {
                in_result = false;
            }
            Event::Text(t) if in_result => {
                let s = AsRef::<str>::as_ref(&t).to_string();
                cases.last_mut().unwrap().text.push_str(&s);
            }
            Event::GeneralRef(g) if in_result => {
                let name = AsRef::<str>::as_ref(&g).to_string();
                let s = quick_xml::escape::unescape(&format!("&{name};"))
                    .unwrap()
                    .into_owned();
                cases.last_mut().unwrap().text.push_str(&s);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    cases
}

#[test]
fn location_is_in_the_json_report() {
    let r = sample(RunStatus::completed());
    let v: serde_json::Value =
        serde_json::from_str(&replaudit::report::json::render(&r).unwrap()).unwrap();
    let f = &v["findings"][0];
    let loc: SpecLocation = serde_json::from_value(f["location"].clone()).unwrap();
    assert_eq!(loc.file, "checks/seed.toml");
    assert!(loc.line > 1);
}

/// Validate a JSON document against a JSON schema with Python's `jsonschema` (in
/// the project's virtualenv `.moto/`, which scripts/test sets up from tests/harness/requirements.lock).
pub fn jsonschema_validate(schema_file: &Path, doc: &Path) {
    let py = common::repo().join(".moto/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup-emulator (scripts/test does)",
        py.display()
    );
    let script = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
errors = sorted(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(doc), key=lambda e: list(e.path))
for e in errors[:20]:
    print("/".join(map(str, e.path)), ":", e.message)
sys.exit(1 if errors else 0)
"#;
    let out = Command::new(py)
        .args(["-c", script])
        .arg(schema_file)
        .arg(doc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} is not valid against {}:\n{}{}",
        doc.display(),
        schema_file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sarif_validates_against_the_2_1_0_schema_and_locates_results() {
    let dir = tempfile::tempdir().unwrap();
    for (i, run) in [
        RunStatus::completed(),
        RunStatus::deadline("--deadline reached during collection"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = sample(run);
        let body = replaudit::report::sarif::render(&r).unwrap();
        let p = write(dir.path(), &format!("r{i}.sarif"), &body);
        jsonschema_validate(&schema("sarif-schema-2.1.0.json"), &p);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let run = &v["runs"][0];
        let results = run["results"].as_array().unwrap();
        // One result per fail or error finding; passes and skips are not problems.
        let non_passing = r
            .findings
            .iter()
            .filter(|f| matches!(f.status, Status::Fail | Status::Error))
            .count();
        assert_eq!(results.len(), non_passing);
        for res in results {
            let loc = &res["locations"][0]["physicalLocation"];
            assert_eq!(loc["artifactLocation"]["uri"], "checks/seed.toml");
            assert!(loc["region"]["startLine"].as_u64().unwrap() > 1);
            assert!(res["partialFingerprints"]["replauditFinding/v1"].is_string());
            let rule = &run["tool"]["driver"]["rules"][res["ruleIndex"].as_u64().unwrap() as usize];
            assert_eq!(rule["id"], res["ruleId"]);
        }
        // Help text is the `rules --explain` text.
        let tls = run["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "bucket-tls-only")
            .unwrap();
        let meta = replaudit::rules::find_rule("bucket-tls-only").unwrap();
        assert_eq!(tls["help"]["text"], replaudit::report::explain(meta));
        assert_eq!(tls["properties"]["security-severity"], "8.0");
        // The muted failure is a suppressed result carrying the reason.
        let muted = results
            .iter()
            .find(|r| r["suppressions"].is_array())
            .expect("a suppressed result");
        assert_eq!(
            muted["suppressions"][0]["justification"],
            "ticket SEC-1: versioning is being enabled"
        );
        assert_eq!(
            run["invocations"][0]["executionSuccessful"],
            i == 0,
            "a stopped run is not a successful execution"
        );
    }
    // Fingerprints are stable across runs: the canary's run id is not part of them.
    let a = sample(RunStatus::completed());
    let mut b = sample(RunStatus::completed());
    for f in &mut b.findings {
        f.resource = f
            .resource
            .replace("20261130T052507Z-6b846a97", "20261201T000000Z-0a1b2c3d");
        if let Some(o) = f.evidence.as_object_mut() {
            if o.contains_key("run_id") {
                o.insert("run_id".into(), json!("20261201T000000Z-0a1b2c3d"));
            }
        }
    }
    let fp = |r: &Report| -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_str(&replaudit::report::sarif::render(r).unwrap()).unwrap();
        let mut x: Vec<String> = v["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["partialFingerprints"]["replauditFinding/v1"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        x.sort();
        x
    };
    assert_eq!(fp(&a), fp(&b));
    // The validator really rejects an invalid log.
    let bad = write(
        dir.path(),
        "bad.sarif",
        r#"{"version": "2.1.0", "runs": [{"results": []}]}"#,
    );
    let py = common::repo().join(".moto/bin/python");
    let out = Command::new(py)
        .args(["-c", "import json,sys,jsonschema;jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))"])
        .arg(schema("sarif-schema-2.1.0.json"))
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a run without tool is rejected");
}

/// The HTML page in real headless Chromium (Debian's `chromium`): it loads with no script
/// error, shows the failures first and draws the latency chart with the RTC line.
#[test]
fn html_loads_in_headless_chromium_with_failures_and_chart() {
    let mut r = sample(RunStatus::completed());
    // Canary latencies: one well inside RTC, one beyond it.
    for (key, secs, status) in [("0", 0.807, Status::Pass), ("1", 1200.0, Status::Fail)] {
        let mut f = finding(
            "canary-replication-latency",
            Scenario::Step4,
            status,
            &format!("s3://rubes-s3-bucket/reports/replaudit-canary/20261130T052507Z-6b846a97/{key} -> s3://clint-s3-bucket"),
            json!({"run_id": "20261130T052507Z-6b846a97"}),
        );
        f.duration_secs = Some(secs);
        r.findings.push(f);
    }
    let html = replaudit::report::html::render(&r).unwrap();
    assert!(
        !html.contains("http://")
            || html.matches("http://").count()
                == html.matches("http://www.w3.org/2000/svg").count(),
        "no network references"
    );
    assert!(!html.contains("https://"), "no network references");
    let failures_at = html.find("id=\"failures\"").unwrap();
    let all_at = html.find("id=\"all\"").unwrap();
    assert!(failures_at < all_at, "failures before the full list");
    let dir = tempfile::tempdir().unwrap();
    let page = write(dir.path(), "report.html", &html);
    let profile = dir.path().join("profile");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("chromium is needed for the HTML test ({e}): apt-get install chromium (.ci/run does)"));
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let body_tag = &dom[dom.find("<body").expect("a body")..];
    let body_tag = &body_tag[..body_tag.find('>').unwrap()];
    assert!(
        body_tag.contains("data-ready=\"yes\""),
        "the script ran to its end: {body_tag}"
    );
    assert!(
        !body_tag.contains("data-script-errors"),
        "script errors: {body_tag}"
    );
    let fails = r
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Error))
        .count();
    assert!(
        body_tag.contains(&format!("data-failures=\"{fails}\"")),
        "{body_tag}"
    );
    assert!(body_tag.contains("data-bars=\"2\""), "{body_tag}");
    assert!(dom.contains("id=\"rtc-line\"") && dom.contains("RTC 15 min"));
    assert!(
        dom.contains("ticket SEC-1: versioning is being enabled"),
        "mute shown"
    );
}

fn case_names(xml: &str) -> std::collections::BTreeSet<String> {
    parse_cases(xml).into_iter().map(|c| c.name).collect()
}

/// The seed audit with the canary, twice on two fresh emulated set-ups (as on two machines):
/// the same set of testcase names, every format valid, and the sizes of each report.
#[test]
fn seed_audit_with_canary_gives_stable_names_and_valid_reports() {
    let mut names = Vec::new();
    for run in 0..2 {
        let s = common::Setup::seed(&[]);
        let (out, report) = s.audit(&[
            "--quiet",
            "--canary",
            "--canary-observe",
            "2s",
            "--format",
            "table,json,junit,sarif,html",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            common::describe(&report)
        );
        let dir = s.reports_dir();
        let xml_path = dir.join("audit-latest.xml");
        let xml = std::fs::read_to_string(&xml_path).unwrap();
        xmllint(&schema("junit-10.xsd"), &xml_path);
        xmllint(&schema("JUnit.xsd"), &xml_path);
        jsonschema_validate(
            &schema("sarif-schema-2.1.0.json"),
            &dir.join("audit-latest.sarif"),
        );
        assert!(
            report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["id"] == "canary-replication-latency"),
            "the canary ran"
        );
        let n = case_names(&xml);
        assert!(n.iter().all(|c| !c.contains("#2")), "no ordinals: {n:?}");
        if run == 0 {
            for ext in ["txt", "json", "xml", "sarif", "html"] {
                let len = std::fs::metadata(dir.join(format!("audit-latest.{ext}")))
                    .unwrap()
                    .len();
                eprintln!("seed audit with canary: audit-latest.{ext} is {len} bytes");
            }
            eprintln!(
                "{} findings, {} testcases",
                report["findings"].as_array().unwrap().len(),
                n.len()
            );
        }
        names.push(n);
    }
    let only0: Vec<_> = names[0].difference(&names[1]).collect();
    let only1: Vec<_> = names[1].difference(&names[0]).collect();
    assert!(
        only0.is_empty() && only1.is_empty(),
        "testcase names differ between runs:\nonly in the first: {only0:#?}\nonly in the second: {only1:#?}"
    );
}

/// A spec with ten replicated pairs (the generated estate): every report format opens with one
/// line per replication, the failing pair first and marked fail, the passing pairs after.
#[test]
fn many_pairs_are_summarised_by_replication_failing_first() {
    let dir = tempfile::tempdir().unwrap();
    let gen = Command::new(common::python())
        .arg(common::repo().join("benches/estate.py"))
        .args(["--buckets", "20", "--pairs-per-role", "5"])
        .output()
        .expect("run benches/estate.py");
    assert!(gen.status.success());
    let path = write(
        dir.path(),
        "estate.toml",
        &String::from_utf8_lossy(&gen.stdout),
    );
    let spec = replaudit::spec::load(&path).expect("estate spec");
    assert_eq!(spec.replication.len(), 10);
    let mut findings = Vec::new();
    for b in spec.buckets.values() {
        let arn = format!("arn:aws:s3:::{}", b.name.get_ref());
        findings.push(finding(
            "bucket-versioning",
            Scenario::Step1,
            Status::Pass,
            &arn,
            json!({}),
        ));
    }
    // The 7th pair's destination lost versioning (the sort must not rely on spec order).
    let bad_src = "estate-src-00007";
    let bad_dst = "estate-dst-00007";
    assert!(
        spec.buckets.values().any(|b| b.name.get_ref() == bad_dst),
        "{:?}",
        spec.buckets.keys()
    );
    findings.push(finding(
        "bucket-versioning",
        Scenario::Step2,
        Status::Fail,
        &format!("arn:aws:s3:::{bad_dst}"),
        json!({}),
    ));
    locate::annotate(&spec, &mut findings);
    let report = Report::new(&spec.name, chrono::Utc::now(), findings);

    assert_eq!(report.replications.len(), 10);
    let first = &report.replications[0];
    assert_eq!(
        (first.of.source.as_str(), first.of.destination.as_str()),
        (bad_src, bad_dst)
    );
    assert_eq!(first.worst, Status::Fail);
    assert_eq!((first.pass, first.fail), (2, 1));
    assert!(report.replications[1..]
        .iter()
        .all(|l| l.worst == Status::Pass && l.fail == 0));

    let v: serde_json::Value =
        serde_json::from_str(&replaudit::report::json::render(&report).unwrap()).unwrap();
    let lines = v["replications"].as_array().expect("replications array");
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[0]["source"], bad_src);
    assert_eq!(lines[0]["destination"], bad_dst);
    assert_eq!(lines[0]["worst"], "fail");
    assert_eq!(lines[0]["not_passing"], json!(["bucket-versioning"]));
    assert_eq!(lines[1]["worst"], "pass");
    assert!(
        v["summary"].get("pass").is_some(),
        "summary keeps its fields"
    );
    let bad_finding = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["status"] == "fail")
        .unwrap();
    assert_eq!(bad_finding["replications"][0]["destination"], bad_dst);

    let t = replaudit::report::table::render(&report, false);
    let head = t.find("Replications (10, worst first):").expect(&t);
    let first_line = t[head..].lines().nth(1).unwrap();
    assert!(
        first_line.starts_with("FAIL") && first_line.contains(&format!("{bad_src} -> {bad_dst}")),
        "{t}"
    );
    assert_eq!(
        t[head..]
            .lines()
            .skip(1)
            .take(10)
            .filter(|l| l.starts_with("PASS"))
            .count(),
        9
    );
    assert!(
        head < t.find("Not passing (1):").unwrap(),
        "summary before the findings: {t}"
    );

    let h = replaudit::report::html::render(&report).unwrap();
    let table = h.find("id=\"replications\"").expect("replications table");
    assert!(
        table < h.find("id=\"failures\"").unwrap(),
        "before the findings"
    );
    let first_row = &h[table..][h[table..].find("<tr class=").unwrap()..];
    assert!(
        first_row.starts_with("<tr class=\"fail\">") && first_row[..400].contains(bad_dst),
        "{first_row}"
    );
}
