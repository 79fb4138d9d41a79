//! Test harness: starts the emulator (tests/harness/emulator.py, moto in-process with the
//! documented patches) on a free loopback port, provisions a spec into it, and runs the real
//! `replaudit` binary against it.
//!
//! The emulator needs the repo's virtualenv (`.moto/`, created by `.ci/run` or
//! `scripts/setup-emulator`). Tests fail loudly without it rather than skip: a green run must
//! mean the tests ran.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn python() -> PathBuf {
    let p = repo().join(".moto/bin/python");
    assert!(
        p.exists(),
        "the emulator virtualenv is missing: run scripts/setup-emulator (or .ci/run) first ({} not found)",
        p.display()
    );
    p
}

pub fn seed_spec() -> PathBuf {
    repo().join("checks/seed.toml")
}

/// A running emulator; killed when dropped (and it exits by itself when our end of its stdin
/// closes, so a crashed test never leaves it behind).
pub struct Emulator {
    child: Child,
    _stdin: ChildStdin,
    pub endpoint: String,
}

impl Emulator {
    pub fn start() -> Emulator {
        let mut child = Command::new(python())
            .arg(repo().join("tests/harness/emulator.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start emulator");
        let stdin = child.stdin.take().expect("emulator stdin");
        let stdout = child.stdout.take().expect("emulator stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read emulator banner");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("emulator banner is not JSON ({e}): {line:?}"));
        let endpoint = v["endpoint"].as_str().expect("endpoint").to_string();
        Emulator {
            child,
            _stdin: stdin,
            endpoint,
        }
    }

    /// POST a JSON body to a harness control endpoint.
    pub fn control(&self, path: &str, body: &str) -> String {
        let out = Command::new(python())
            .args([
                "-c",
                "import sys,urllib.request as u;r=u.urlopen(u.Request(sys.argv[1],data=sys.argv[2].encode(),headers={'Content-Type':'application/json'},method='POST'));print(r.read().decode())",
                &format!("{}{}", self.endpoint, path),
                body,
            ])
            .output()
            .expect("control request");
        assert!(
            out.status.success(),
            "control {path} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A provisioned set-up: the emulator plus the AWS config files for its accounts.
pub struct Setup {
    pub emu: Emulator,
    pub dir: tempfile::TempDir,
    pub spec: PathBuf,
}

impl Setup {
    /// Start an emulator and provision `spec` into it with the given planted defects.
    pub fn new(spec: &Path, defects: &[&str]) -> Setup {
        let emu = Emulator::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(python());
        cmd.arg(repo().join("tests/harness/provision.py"))
            .args(["--endpoint", &emu.endpoint])
            .arg("--spec")
            .arg(spec)
            .arg("--out-dir")
            .arg(dir.path());
        for d in defects {
            cmd.args(["--defect", d]);
        }
        let out = cmd.output().expect("run provision.py");
        assert!(
            out.status.success(),
            "provisioning failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Setup {
            emu,
            dir,
            spec: spec.to_path_buf(),
        }
    }

    pub fn seed(defects: &[&str]) -> Setup {
        Setup::new(&seed_spec(), defects)
    }

    /// A `replaudit` command with the emulator's credentials files and endpoint.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_replaudit"));
        c.env("AWS_CONFIG_FILE", self.dir.path().join("aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("aws-credentials"),
            )
            .env("AWS_ENDPOINT_URL", &self.emu.endpoint)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        c
    }

    /// A file in the set-up's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `replaudit snapshot` of the set-up into `out`.
    pub fn snapshot(&self, out: &Path) {
        let o = self
            .cmd()
            .args(["snapshot", "--spec"])
            .arg(&self.spec)
            .arg("-o")
            .arg(out)
            .output()
            .expect("run replaudit snapshot");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    pub fn reports_dir(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    /// Run `replaudit audit` on the set-up's spec; returns the process output and the JSON report.
    pub fn audit(&self, extra: &[&str]) -> (Output, Value) {
        let out = self
            .cmd()
            .arg("audit")
            .arg("--spec")
            .arg(&self.spec)
            .arg("--output-dir")
            .arg(self.reports_dir())
            .args(extra)
            .output()
            .expect("run replaudit");
        let json = std::fs::read_to_string(self.reports_dir().join("audit-latest.json"))
            .unwrap_or_else(|e| {
                panic!(
                    "no JSON report ({e}); stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        (out, serde_json::from_str(&json).expect("report is JSON"))
    }
}

/// Findings of a report with the given status.
pub fn with_status<'a>(report: &'a Value, status: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["status"] == status)
        .collect()
}

/// Rule ids that have at least one finding with this status, sorted and deduplicated.
pub fn rule_ids(report: &Value, status: &str) -> Vec<String> {
    let mut ids: Vec<String> = with_status(report, status)
        .iter()
        .map(|f| f["id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// One line per non-passing finding, for assertion messages.
pub fn describe(report: &Value) -> String {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["status"] == "fail" || f["status"] == "error")
                .map(|f| {
                    format!(
                        "  {} {} {}: {}",
                        f["status"], f["id"], f["resource"], f["message"]
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}
