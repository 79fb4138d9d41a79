//! A loopback stand-in for AWS for tests that need no emulator: it answers STS
//! `GetCallerIdentity` (so the set-up check passes) and treats every other request as told —
//! held open without a byte of reply (a hanging AWS), or refused at once with AccessDenied.
//! It counts every connection, so a test can assert that nothing was called at all.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Others {
    /// Accept and never answer.
    Hold,
    /// Answer 403 AccessDenied at once.
    Deny,
}

pub struct FakeAws {
    pub port: u16,
    connections: Arc<AtomicUsize>,
}

impl FakeAws {
    /// `accounts`: access key id -> the account id GetCallerIdentity reports for it.
    pub fn start(accounts: &[(&str, &str)], others: Others) -> FakeAws {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let accounts: BTreeMap<String, String> = accounts
            .iter()
            .map(|(k, a)| (k.to_string(), a.to_string()))
            .collect();
        let held = Arc::new(Mutex::new(Vec::new()));
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let accounts = accounts.clone();
                let held = held.clone();
                std::thread::spawn(move || serve(s, &accounts, others, &held));
            }
        });
        FakeAws { port, connections }
    }

    pub fn endpoint(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn serve(
    s: TcpStream,
    accounts: &BTreeMap<String, String>,
    others: Others,
    held: &Mutex<Vec<TcpStream>>,
) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push(line);
        }
        let header = |name: &str| {
            head.iter().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body);
        if body.contains("Action=GetCallerIdentity") {
            let key = header("authorization")
                .and_then(|a| {
                    a.split("Credential=")
                        .nth(1)
                        .map(|c| c.split('/').next().unwrap_or_default().to_string())
                })
                .unwrap_or_default();
            let account = accounts.get(&key).cloned().unwrap_or_default();
            let xml = format!(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
                 <Arn>arn:aws:iam::{account}:user/auditor</Arn><UserId>AIDAEXAMPLE</UserId><Account>{account}</Account>\
                 </GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
            );
            let _ = write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}",
                xml.len()
            );
            continue;
        }
        match others {
            Others::Hold => {
                held.lock().unwrap().push(w);
                return;
            }
            Others::Deny => {
                let xml = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>1</RequestId></Error>";
                let _ = write!(
                    w,
                    "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{xml}",
                    xml.len()
                );
            }
        }
    }
}

/// The seed spec's accounts with static keys: `xyz-audit` and `abcd-audit` (for
/// [`FakeAws::start`]: `KEYS`).
pub const KEYS: [(&str, &str); 2] = [
    ("AKIAEXAMPLEXYZ", "111122223333"),
    ("AKIAEXAMPLEABCD", "271089868719"),
];

/// Write a credentials file with static keys for the given profiles of [`KEYS`].
pub fn credentials(dir: &Path, profiles: &[(&str, &str)]) -> std::path::PathBuf {
    let mut text = String::new();
    for (profile, key) in profiles {
        text.push_str(&format!(
            "[{profile}]\naws_access_key_id={key}\naws_secret_access_key=examplesecret\n"
        ));
    }
    let p = dir.join("credentials");
    std::fs::write(&p, text).unwrap();
    p
}
