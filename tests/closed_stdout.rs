//! A closed stdout (`replaudit rules | head -1`, `replaudit audit ... | true`) ends the output
//! quietly: no "Broken pipe" panic (exit 101); the exit code is the one the run would have had
//! with stdout open, and the report files are still written.

use crate::fake_aws;

use fake_aws::{FakeAws, Others, KEYS};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Run with stdout a pipe whose reading end is already closed: the first write fails with
/// EPIPE, whatever the size of the output.
fn with_closed_stdout(c: &mut Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    c.stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn replaudit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_replaudit"))
}

fn assert_quiet(out: &Output, code: i32) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.to_lowercase().contains("broken pipe"),
        "{stderr}"
    );
}

#[test]
fn rules_into_a_closed_pipe_exits_0_quietly() {
    let out = with_closed_stdout(replaudit().arg("rules"));
    assert_quiet(&out, 0);
    assert!(out.stderr.is_empty());
    let out = with_closed_stdout(replaudit().args(["rules", "--explain", "bucket-versioning"]));
    assert_quiet(&out, 0);
}

#[test]
fn simulate_cases_into_a_closed_pipe_keeps_its_exit_code() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/grammar.json");
    let out = with_closed_stdout(replaudit().arg("simulate").arg("--cases").arg(&cases));
    assert_quiet(&out, 0);
}

/// The audit's verdict does not depend on whether anyone reads the table.
#[test]
fn audit_into_a_closed_pipe_writes_its_reports_and_keeps_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    fake_aws::credentials(
        dir.path(),
        &[("xyz-audit", KEYS[0].0), ("abcd-audit", KEYS[1].0)],
    );
    // A snapshot of accounts that deny every read: collected in a second, then audited offline.
    let fake = FakeAws::start(&KEYS, Others::Deny);
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/seed.toml");
    let snap = dir.path().join("state.json");
    let out = replaudit()
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("credentials"),
        )
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", fake.endpoint())
        .env_remove("AWS_PROFILE")
        .args(["snapshot", "--max-attempts", "1", "--spec"])
        .arg(&seed)
        .arg("-o")
        .arg(&snap)
        .output()
        .unwrap();
    assert!(snap.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    let audit = |stdout_closed: bool| {
        let mut c = replaudit();
        c.args(["audit", "--spec"])
            .arg(&seed)
            .arg("--snapshot")
            .arg(&snap)
            .arg("--output-dir")
            .arg(
                dir.path()
                    .join(if stdout_closed { "closed" } else { "open" }),
            );
        if stdout_closed {
            with_closed_stdout(&mut c)
        } else {
            c.output().unwrap()
        }
    };
    let open = audit(false);
    assert_eq!(open.status.code(), Some(1), "every read was denied: errors");
    let closed = audit(true);
    assert_quiet(&closed, 1);
    assert!(dir.path().join("closed/audit-latest.json").exists());
    assert!(dir.path().join("closed/audit-latest.txt").exists());
}
