//! `scripts/demo --canary` interrupted the way a terminal does it: SIGINT to the whole
//! foreground process group. replaudit must still clean up its canary objects (through the
//! emulator, which must survive the Ctrl-C), and the script must then stop the emulator and
//! remove its temporary folder (it holds the emulator's credentials).

#![cfg(unix)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// GET a harness control endpoint with a bare HTTP/1.0 request (no client library needed).
fn harness_state(port: u16) -> Option<Value> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /_harness/replication HTTP/1.0\r\nHost: localhost\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.split("\r\n\r\n").nth(1)?).ok()
}

fn activity(v: &Value) -> u64 {
    v["counters"]["replicated"].as_u64().unwrap_or(0) + v["pending"].as_u64().unwrap_or(0)
}

#[test]
fn ctrl_c_in_demo_canary_cleans_up_then_stops_the_emulator_and_removes_the_temp_folder() {
    assert!(
        repo().join(".moto/bin/python").exists(),
        "the emulator virtualenv is missing: run scripts/setup-emulator first"
    );
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut child = Command::new("bash")
        .arg(repo().join("scripts/demo"))
        .args([
            "--canary",
            "--quiet",
            "--canary-observe",
            "20",
            "--output-dir",
        ])
        .arg(dir.path().join("reports"))
        .env("TMPDIR", &tmp)
        .env("REPLAUDIT_BIN", env!("CARGO_BIN_EXE_replaudit"))
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .process_group(0) // its own group, as a terminal's foreground job
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scripts/demo");
    let pgid = child.id();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let started = Instant::now();
    let next = |log: &mut Vec<String>| -> String {
        let line = rx
            .recv_timeout(Duration::from_secs(120).saturating_sub(started.elapsed()))
            .unwrap_or_else(|_| panic!("demo stalled: {}", log.join("\n")));
        log.push(line.clone());
        line
    };
    // "emulator at http://localhost:PORT ...; provisioning ..."
    let port: u16 = loop {
        let l = next(&mut log);
        if let Some(rest) = l.strip_prefix("emulator at http://localhost:") {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            break digits.parse().unwrap();
        }
    };
    // Provisioning is done when it has written its outputs into the demo's temp folder (it
    // waits for its sample objects to replicate first); the canary's writes add to that.
    let provisioned = Instant::now() + Duration::from_secs(90);
    while !std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .any(|d| d.path().join("provisioned.json").exists())
    {
        assert!(
            Instant::now() < provisioned,
            "never provisioned: {}",
            log.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    let baseline = activity(&harness_state(port).expect("harness state"));
    let deadline = Instant::now() + Duration::from_secs(90);
    while harness_state(port).map(|v| activity(&v)).unwrap_or(0) <= baseline {
        assert!(
            Instant::now() < deadline,
            "the canary never wrote: {}",
            log.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Ctrl-C: SIGINT to every process of the foreground job. `--` before the negative process
    // group id: procps-ng's kill parses `kill -INT -1234` as `kill(-1, SIGINT)` (every process
    // of the user) and exits 0.
    assert!(pgid > 1);
    let st = Command::new("kill")
        .args(["-s", "INT", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    log.extend(rest);
    let log = log.join("\n");
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(
        log.contains("canary cleanup:") && log.contains(", 0 left behind"),
        "the canary cleaned up through the still-running emulator: {log}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp folder left: {leftovers:?}\n{log}"
    );
    // The emulator is stopped: nothing listens on its port any more.
    let gone = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < gone,
            "the emulator still serves on port {port}\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!log.contains("unbound variable"), "{log}");
}
