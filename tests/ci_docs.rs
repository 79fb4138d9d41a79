//! `docs/ci/`: the CI and scheduler examples parse (YAML with PyYAML, the mute file with
//! replaudit's own parser), and every replaudit command line in them is accepted by the real
//! binary's argument parser and uses `--deadline` and `--mute` as documented. actionlint is not
//! run: it is not packaged for this machine (see the track report).

use crate::common;

use serde_json::Value;
use std::process::Command;

/// Parse every YAML file under docs/ci with PyYAML and return the replaudit argument lists
/// the examples run, as JSON: {file: [args...]}.
fn extract() -> Value {
    let py = common::repo().join(".moto/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup-emulator (scripts/test does)",
        py.display()
    );
    let script = r##"
import json, shlex, sys, yaml, pathlib
root = pathlib.Path(sys.argv[1])
out = {}
def cmd_after(line):
    words = shlex.split(line)
    i = next(i for i, w in enumerate(words) if w.endswith("replaudit") and i + 1 < len(words) and words[i + 1] == "audit")
    args = []
    for w in words[i + 1:]:
        if w in ("||", "&&", ";"): break
        args.append(w)
    return args
gh = yaml.safe_load(open(root / "github-actions.yml"))
assert gh[True] if True in gh else gh["on"]  # YAML 1.1 reads `on` as True
job = gh["jobs"]["audit"]
steps = {s.get("name"): s for s in job["steps"]}
assert steps["Upload SARIF to code scanning"]["if"] == "always()"
assert steps["Publish JUnit"]["if"] == "always()"
assert "sarif_file" in steps["Upload SARIF to code scanning"]["with"]
out["github-actions.yml"] = cmd_after("x/replaudit " + steps["Audit"]["run"].split("replaudit ", 1)[1])
out["github-actions.yml:timeout-minutes"] = job["timeout-minutes"]
# The audit job installs a released binary: compiling the AWS SDK there would spend its budget.
assert not any("cargo install" in str(s.get("run", "")) or "cargo build" in str(s.get("run", "")) for s in job["steps"])
assert "sha256sum -c" in steps["Install replaudit"]["run"]
rel = yaml.safe_load(open(root / "release.yml"))
rel_on = rel[True] if True in rel else rel["on"]
assert rel_on["push"]["tags"] == ["v*"]
build = rel["jobs"]["build"]
assert any("cargo build --release --locked" in str(s.get("run", "")) for s in build["steps"])
assert any("sha256" in str(s.get("run", "")) for s in build["steps"])
assert "gh release create" in rel["jobs"]["publish"]["steps"][-1]["run"]
assert {t["target"] for t in build["strategy"]["matrix"]["include"]} >= {"x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"}
gl = yaml.safe_load(open(root / "gitlab-ci.yml"))["replaudit"]
assert gl["artifacts"]["when"] == "always"
assert gl["artifacts"]["reports"]["junit"] == "reports/audit-latest.xml"
out["gitlab-ci.yml"] = cmd_after(gl["script"][0])
cf = yaml.safe_load(open(root / "eventbridge-scheduler.yml"))
assert cf["Resources"]["Schedule"]["Type"] == "AWS::Scheduler::Schedule"
assert cf["Resources"]["Schedule"]["Properties"]["Target"]["EcsParameters"]["LaunchType"] == "FARGATE"
out["eventbridge-scheduler.yml"] = cf["Resources"]["Task"]["Properties"]["ContainerDefinitions"][0]["Command"]
for name in ["cron/replaudit.crontab", "systemd/replaudit-audit.service"]:
    line = next(l for l in open(root / name) if "replaudit audit" in l and not l.startswith("#"))
    out[name] = cmd_after(line.split("ExecStart=", 1)[-1])
print(json.dumps(out))
"##;
    let out = Command::new(py)
        .args(["-c", script])
        .arg(common::repo().join("docs/ci"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docs/ci does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn ci_examples_parse_and_their_command_lines_are_accepted() {
    let cmds = extract();
    let mut checked = 0;
    for (file, args) in cmds.as_object().unwrap() {
        let Some(args) = args.as_array() else {
            continue;
        };
        let mut args: Vec<String> = args
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert_eq!(args[0], "audit", "{file}");
        assert!(
            args.iter().any(|a| a == "--deadline"),
            "{file} bounds the run"
        );
        assert!(
            args.iter().any(|a| a == "--mute"),
            "{file} uses the mute file"
        );
        // Point the spec at a file that does not exist: the flags must all parse, and the
        // run then stops at the spec (exit 2, "invalid spec"), before any AWS call.
        let i = args.iter().position(|a| a == "--spec").unwrap();
        args[i + 1] = "does-not-exist.toml".into();
        let out = Command::new(env!("CARGO_BIN_EXE_replaudit"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(
            err.contains("invalid spec"),
            "{file}: flags rejected: {err}"
        );
        checked += 1;
    }
    assert_eq!(checked, 5, "{cmds}");
    // The job's own timeout is above --deadline (15m), so the reports get written, and honest
    // about what the job does (no compile step hides in it: 20-40 minutes).
    let timeout = cmds["github-actions.yml:timeout-minutes"].as_u64().unwrap();
    assert!(timeout > 15 && timeout <= 25, "{timeout}");
}

#[test]
fn example_mute_file_parses() {
    let text = std::fs::read_to_string(common::repo().join("docs/ci/mutes.example.toml")).unwrap();
    let mutes = replaudit::report::mute::parse(&text).unwrap();
    assert_eq!(mutes.len(), 2);
    assert!(mutes.iter().all(|m| !m.reason.is_empty()));
}

/// `scripts/check-cycles` (run by `.ci/run`) can fail: on a copy of a tiny crate whose two files
/// import each other it exits 1 naming both, and on the real `src/` it exits 0 (no circle is
/// allowed any more).
#[test]
fn check_cycles_fails_on_a_circle_and_passes_on_src() {
    let script = common::repo().join("scripts/check-cycles");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::B;\npub struct A;\n").unwrap();
    std::fs::write(src.join("b.rs"), "use crate::a::A;\npub struct B;\n").unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(&src)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("a.rs") && text.contains("b.rs"), "{text}");

    let out = Command::new("python3").arg(&script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("0 circle(s)"), "{text}");
}

/// The scale bench fails when a per-bucket or per-finding figure grows with the estate (issue
/// 22), and passes rows that grow linearly: checked on rows shaped as its `--out` writes them.
#[test]
fn the_scale_bench_fails_when_a_figure_grows_with_the_estate() {
    let row = |n: u64, rss: u64, json: u64, errors: u64| {
        serde_json::json!({"buckets": n, "replaudit": {"rss_mib": rss, "pass": 20 * n, "fail": 0,
            "error": errors, "skip": 5 * n, "report_bytes": {"json": 40_000 * n, "junit": 4_000 * n + json}}})
    };
    let check = |rows: Value| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rows.json");
        std::fs::write(&file, rows.to_string()).unwrap();
        let out = Command::new("python3")
            .arg(common::repo().join("benches/scale.py"))
            .arg("--check")
            .arg(&file)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let linear = serde_json::json!([
        row(400, 196, 0, 0),
        row(2000, 615, 0, 0),
        row(10000, 2710, 0, 0)
    ]);
    assert_eq!(check(linear), (Some(0), String::new()));
    let (code, err) = check(serde_json::json!([
        row(400, 196, 0, 0),
        row(2000, 615, 0, 0),
        row(10000, 4000, 0, 0)
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("memory:"), "{err}");
    let (code, err) = check(serde_json::json!([
        row(400, 196, 0, 0),
        row(2000, 615, 4_000_000, 0)
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("junit:"), "{err}");
    let (code, err) = check(serde_json::json!([
        row(400, 196, 0, 0),
        row(2000, 615, 0, 3)
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("3 error findings"), "{err}");
}
