//! The mute file (`--mute FILE`): accepted exceptions, each with a reason and an expiry date.
//!
//! A muted finding keeps its status (a muted failure still reads `fail` in every report, with
//! the reason beside it); only the exit code stops counting it. Every mute expires: an
//! exception nobody renews must come back, so an expired entry mutes nothing and is reported,
//! as is an entry that matched nothing (a typo must not look like a silenced check).
//!
//! ```toml
//! [[mute]]
//! rule = "bucket-object-ownership"        # rule id or glob (`canary-*`)
//! resource = "arn:aws:s3:::xyz-app-logs*" # glob over the finding's resource; default "*"
//! reason = "SEC-142: ACLs still needed by the log shipper until March"
//! expires = 2027-03-31                    # last day it applies (UTC), TOML date or "YYYY-MM-DD"
//! ```

use crate::findings::{Finding, Muted};
use chrono::NaiveDate;
use serde::Deserialize;
use std::path::Path;
use wildmatch::WildMatch;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MuteFile {
    #[serde(default)]
    mute: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    rule: String,
    #[serde(default = "star")]
    resource: String,
    reason: toml::Spanned<String>,
    expires: toml::Spanned<toml::Value>,
}

fn star() -> String {
    "*".into()
}

/// One parsed mute.
#[derive(Debug, Clone)]
pub struct Mute {
    pub rule: String,
    pub resource: String,
    pub reason: String,
    pub expires: NaiveDate,
}

impl Mute {
    fn matches(&self, f: &Finding) -> bool {
        WildMatch::new(&self.rule).matches(&f.id)
            && WildMatch::new(&self.resource).matches(&f.resource)
    }
}

/// Read and check a mute file; errors name the file, the line and the entry.
pub fn load(path: &Path) -> Result<Vec<Mute>, MuteError> {
    let bytes = std::fs::read(path).map_err(|source| MuteError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        MuteError::NotUtf8 {
            path: path.to_path_buf(),
            line,
        }
    })?;
    parse(&text).map_err(|e| MuteError::In {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// Why a mute file cannot be used: where (file, line, column) and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum MuteError {
    #[error("cannot read mute file {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("mute file {}:{line}: not valid UTF-8", path.display())]
    NotUtf8 {
        path: std::path::PathBuf,
        line: usize,
    },
    /// An error of [`parse`], in this file.
    #[error("mute file {}:{source}", path.display())]
    In {
        path: std::path::PathBuf,
        source: Box<MuteError>,
    },
    /// `LINE:COLUMN: cause`, on one line.
    #[error("{line}:{column}: {message}")]
    At {
        line: usize,
        column: usize,
        message: String,
    },
}

/// Parse mute-file text. An error reads `LINE:COLUMN: cause` on one line, the whole cause
/// included: the TOML library's `Display` spreads it over several lines (position, a
/// source excerpt, then the cause), and only the first line of a fatal error reaches the
/// user. The spec's errors are worded the same way (`crate::spec::parse`).
pub fn parse(text: &str) -> Result<Vec<Mute>, MuteError> {
    let at = |offset: usize, msg: &str| {
        let (line, column) = crate::spec::line_col(text, offset);
        MuteError::At {
            line,
            column,
            message: msg.to_string(),
        }
    };
    let file: MuteFile = toml::from_str(text).map_err(|e| {
        at(
            e.span().map_or(0, |s| s.start),
            &e.message().trim().replace('\n', "; "),
        )
    })?;
    file.mute
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let n = i + 1;
            if e.reason.get_ref().trim().is_empty() {
                return Err(at(
                    e.reason.span().start,
                    &format!("mute #{n} ({}): a reason is required", e.rule),
                ));
            }
            let date = match e.expires.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Datetime(d) => d.to_string(),
                other => other.to_string(),
            };
            let expires = NaiveDate::parse_from_str(date.get(..10).unwrap_or(&date), "%Y-%m-%d")
                .map_err(|_| {
                    at(
                        e.expires.span().start,
                        &format!(
                            "mute #{n} ({}): expires must be a date like 2027-03-31, not {date}",
                            e.rule
                        ),
                    )
                })?;
            Ok(Mute {
                rule: e.rule,
                resource: e.resource,
                reason: e.reason.into_inner(),
                expires,
            })
        })
        .collect()
}

/// Mark the findings the mutes in force on `today` cover; returns notices for expired mutes
/// and mutes that matched nothing.
pub fn apply(mutes: &[Mute], findings: &mut [Finding], today: NaiveDate) -> Vec<String> {
    let mut notices = Vec::new();
    for m in mutes {
        let covered = findings.iter().filter(|f| m.matches(f)).count();
        if m.expires < today {
            notices.push(format!(
                "mute of {} on {} expired on {} and no longer mutes {} finding(s): {}",
                m.rule, m.resource, m.expires, covered, m.reason
            ));
            continue;
        }
        if covered == 0 {
            notices.push(format!(
                "mute of {} on {} matched no finding (reason: {})",
                m.rule, m.resource, m.reason
            ));
            continue;
        }
        for f in findings
            .iter_mut()
            .filter(|f| m.matches(f) && f.muted.is_none())
        {
            f.muted = Some(Muted {
                reason: m.reason.clone(),
                expires: Some(m.expires.to_string()),
            });
        }
    }
    notices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Scenario, Severity, Status};

    fn f(id: &str, resource: &str) -> Finding {
        Finding {
            id: id.into(),
            title: String::new(),
            scenario: Scenario::Step1,
            status: Status::Fail,
            severity: Severity::High,
            resource: resource.into(),
            message: String::new(),
            evidence: serde_json::Value::Null,
            remediation: String::new(),
            references: vec![],
            duration_secs: None,
            location: None,
            muted: None,
            replications: vec![],
            replication_set: None,
        }
    }

    #[test]
    fn mutes_by_glob_until_they_expire() {
        let mutes = parse(
            r#"
[[mute]]
rule = "bucket-*"
resource = "arn:aws:s3:::logs*"
reason = "SEC-1"
expires = 2027-03-31

[[mute]]
rule = "role-trust"
reason = "old"
expires = "2020-01-01"

[[mute]]
rule = "nothing-like-this"
reason = "typo"
expires = 2027-03-31
"#,
        )
        .unwrap();
        let mut v = vec![
            f("bucket-versioning", "arn:aws:s3:::logs-backup"),
            f("bucket-versioning", "arn:aws:s3:::source"),
            f("role-trust", "arn:aws:iam::1:role/r"),
        ];
        let today = NaiveDate::from_ymd_opt(2027, 3, 31).unwrap();
        let notices = apply(&mutes, &mut v, today);
        assert_eq!(v[0].muted.as_ref().unwrap().reason, "SEC-1");
        assert_eq!(v[0].status, Status::Fail, "a mute keeps the status");
        assert!(v[1].muted.is_none());
        assert!(v[2].muted.is_none(), "expired: no longer mutes");
        assert_eq!(notices.len(), 2, "{notices:?}");
        assert!(notices[0].contains("expired on 2020-01-01"));
        assert!(notices[1].contains("matched no finding"));
        // The day after its last day, the first mute is over too.
        let mut v = vec![f("bucket-versioning", "arn:aws:s3:::logs-backup")];
        apply(&mutes, &mut v, today.succ_opt().unwrap());
        assert!(v[0].muted.is_none());
    }

    #[test]
    fn a_toml_error_keeps_its_cause_and_line_on_one_line() {
        let e = parse("[[mute]]\nrule = \"x\"\nexpires = 2027-01-01\n")
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("missing field `reason`"), "{e}");
        assert!(e.starts_with("1:1: ") || e.starts_with("2:"), "{e}");
        let e = parse("[[mute]]\nrule = \"x\"\nreason = \"\"\nexpires = 2027-01-01\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("3:") && e.contains("reason is required"),
            "{e}"
        );
    }

    #[test]
    fn a_mute_needs_a_reason_and_a_date() {
        assert!(
            parse("[[mute]]\nrule = \"x\"\nreason = \"\"\nexpires = 2027-01-01\n")
                .unwrap_err()
                .to_string()
                .contains("reason is required")
        );
        assert!(parse("[[mute]]\nrule = \"x\"\nreason = \"r\"\n").is_err());
        assert!(
            parse("[[mute]]\nrule = \"x\"\nreason = \"r\"\nexpires = \"soon\"\n")
                .unwrap_err()
                .to_string()
                .contains("must be a date")
        );
    }
}
