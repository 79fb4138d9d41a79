//! `replaudit what-if`: what a proposed change would do, before anyone deploys it. The change
//! set ([`crate::change`]) is applied to a copy of the snapshot, the whole audit and the access
//! matrix are run on both, and every difference is reported: each finding whose status
//! changes, and each principal × bucket × action whose decision changes, with the statements
//! that decide it after the change. Pure: reads a spec, a snapshot and changes only.
//!
//! The change breaks the spec when a finding that passed (or did not exist) no longer passes,
//! or when AWS would refuse the change: the command then exits non-zero, so a pull request that
//! edits a policy can be gated on it.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::access::matrix::{matrix, Cell};
use crate::change::{apply_all, Change, ChangeError};
use crate::findings::{status_rank, Finding, ReplicationRef, Status};
use crate::rules::{run_all, AuditContext};
use crate::snapshot::Snapshot;
use crate::spec::Spec;

/// Everything a change would change.
#[derive(Debug, Clone, Serialize)]
pub struct WhatIf {
    /// One line per change applied, in order.
    pub applied: Vec<String>,
    /// Findings whose status changes, worse first.
    pub findings: Vec<FindingDelta>,
    /// Decisions of the access matrix (the spec's principals) that change.
    pub access: Vec<AccessDelta>,
    /// Who-can grants that appear, go or change level: every principal of the accounts, the
    /// roles they can become, and the keys' decrypters, beyond the spec's principals.
    pub who_can: Vec<WhoCanDelta>,
    /// Some finding gets worse: the change breaks an expectation of the spec.
    pub breaks: bool,
    /// The changed findings as the audit would report them after the change (the one before
    /// it, when the change makes a finding go away), for the CI report formats.
    #[serde(skip)]
    pub changed: Vec<Finding>,
}

/// One finding (rule, resource, replication) before and after. `None`: no such finding.
#[derive(Debug, Clone, Serialize)]
pub struct FindingDelta {
    pub id: String,
    pub title: String,
    pub resource: String,
    pub before: Option<Status>,
    pub after: Option<Status>,
    /// The finding's message after the change (before it, when the finding is gone).
    pub message: String,
    /// The replication rules the finding bears on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replications: Vec<ReplicationRef>,
    /// Passed (or was not there) before, does not pass after.
    pub worse: bool,
}

/// One principal × bucket × action whose decision changes.
#[derive(Debug, Clone, Serialize)]
pub struct AccessDelta {
    pub principal: String,
    pub bucket: String,
    pub action: String,
    pub resource: String,
    pub before: String,
    pub after: String,
    /// `gains` (now allowed), `loses` (no longer allowed) or `changes` (another outcome).
    pub change: &'static str,
    /// The statements that decide it after the change (before it, for a loss to an implicit deny).
    pub deciding: Vec<String>,
}

/// Checks left out of the comparison because they restate others against state the change
/// does not carry: `change-history` blames past changes (CloudTrail) for what fails now, and the
/// proposed change is not in that history; `config-rule-agreement` compares with AWS Config's
/// last evaluation, which Config runs again when the resource changes (change-triggered rules,
/// <https://docs.aws.amazon.com/config/latest/developerguide/evaluate-config-rules.html>), so
/// on the copy it would only report the old evaluation as a disagreement.
pub const RESTATING: &[&str] = &["change-history", "config-rule-agreement"];

/// One who-can grant (subject × bucket × action) that the change adds, removes or changes.
#[derive(Debug, Clone, Serialize)]
pub struct WhoCanDelta {
    pub subject: String,
    pub bucket: String,
    pub action: String,
    /// `gains`, `loses`, or `changes` (conditional <-> unconditional, another path).
    pub change: &'static str,
    /// How it is granted after the change (before it, for a loss).
    pub path: String,
    pub deciding: Vec<String>,
}

/// Apply `changes` to a copy of `snap` and compare the audits.
pub fn evaluate(spec: &Spec, snap: &Snapshot, changes: &[Change]) -> Result<WhatIf, ChangeError> {
    let mut after = snap.clone();
    let applied = apply_all(spec, &mut after, changes)?;
    let audit = |s: &Snapshot| -> Vec<Finding> {
        run_all(&AuditContext::new(spec, s))
            .into_iter()
            .filter(|f| !RESTATING.contains(&f.id.as_str()))
            .collect()
    };
    let (findings, changed) = finding_deltas(&audit(snap), &audit(&after));
    let access = access_deltas(&matrix(spec, snap), &matrix(spec, &after));
    let who_can = who_can_deltas(spec, snap, &after);
    let breaks = findings.iter().any(|f| f.worse);
    Ok(WhatIf {
        applied,
        findings,
        access,
        who_can,
        breaks,
        changed,
    })
}

type Key = (String, String, Vec<String>);

fn key(f: &Finding) -> Key {
    (
        f.id.clone(),
        f.resource.clone(),
        f.replications
            .iter()
            .map(|r| format!("{}/{}", r.replication, r.rule))
            .collect(),
    )
}

/// The worst finding of each key: several findings of one rule on one resource count as one
/// line, at their worst.
fn worst_by_key(fs: &[Finding]) -> BTreeMap<Key, &Finding> {
    let mut m: BTreeMap<Key, &Finding> = BTreeMap::new();
    for f in fs {
        m.entry(key(f))
            .and_modify(|w| {
                if status_rank(f.status) > status_rank(w.status) {
                    *w = f;
                }
            })
            .or_insert(f);
    }
    m
}

fn passes(s: Option<Status>) -> bool {
    matches!(s, None | Some(Status::Pass) | Some(Status::Skip))
}

fn finding_deltas(before: &[Finding], after: &[Finding]) -> (Vec<FindingDelta>, Vec<Finding>) {
    let b = worst_by_key(before);
    let a = worst_by_key(after);
    let mut keys: Vec<&Key> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut changed = Vec::new();
    let mut out: Vec<FindingDelta> = keys
        .into_iter()
        .filter_map(|k| {
            let (fb, fa) = (b.get(k), a.get(k));
            let (sb, sa) = (fb.map(|f| f.status), fa.map(|f| f.status));
            if sb == sa {
                return None;
            }
            let f = fa.or(fb).expect("one side has it");
            changed.push((*f).clone());
            Some(FindingDelta {
                id: f.id.clone(),
                title: f.title.clone(),
                resource: f.resource.clone(),
                before: sb,
                after: sa,
                message: f.message.clone(),
                replications: f.replications.clone(),
                worse: passes(sb) && !passes(sa),
            })
        })
        .collect();
    out.sort_by_key(|d| (!d.worse, d.id.clone(), d.resource.clone()));
    (out, changed)
}

fn who_can_deltas(spec: &Spec, before: &Snapshot, after: &Snapshot) -> Vec<WhoCanDelta> {
    use crate::access::whocan::{analyze, Grant, Options, WhoCan};
    let (wb, wa) = (
        analyze(spec, before, &Options::default()),
        analyze(spec, after, &Options::default()),
    );
    let index = |w: &WhoCan| -> BTreeMap<(String, String, String), (Grant, String)> {
        w.grants
            .iter()
            .map(|g| {
                (
                    (g.subject.clone(), g.bucket.clone(), g.action.clone()),
                    (g.clone(), w.path(g)),
                )
            })
            .collect()
    };
    let (b, a) = (index(&wb), index(&wa));
    let mut keys: Vec<&(String, String, String)> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (change, (g, path)) = match (b.get(k), a.get(k)) {
                (None, Some(x)) => ("gains", x),
                (Some(x), None) => ("loses", x),
                (Some(x), Some(y)) if x.0.level != y.0.level || x.1 != y.1 => ("changes", y),
                _ => return None,
            };
            Some(WhoCanDelta {
                subject: k.0.clone(),
                bucket: k.1.clone(),
                action: k.2.clone(),
                change,
                path: path.clone(),
                deciding: g.deciding.clone(),
            })
        })
        .collect()
}

fn allowed(decision: &str) -> bool {
    decision == "Allowed"
}

fn access_deltas(before: &[Cell], after: &[Cell]) -> Vec<AccessDelta> {
    let index = |cs: &[Cell]| -> BTreeMap<(String, String, String), Cell> {
        cs.iter()
            .map(|c| {
                (
                    (c.principal.clone(), c.bucket.clone(), c.action.clone()),
                    c.clone(),
                )
            })
            .collect()
    };
    let (b, a) = (index(before), index(after));
    a.iter()
        .filter_map(|(k, ca)| {
            let cb = b.get(k)?;
            if cb.decision == ca.decision {
                return None;
            }
            let change = match (allowed(&cb.decision), allowed(&ca.decision)) {
                (false, true) => "gains",
                (true, false) => "loses",
                _ => "changes",
            };
            let deciding = if ca.deciding.is_empty() {
                cb.deciding.clone()
            } else {
                ca.deciding.clone()
            };
            Some(AccessDelta {
                principal: ca.principal.clone(),
                bucket: ca.bucket.clone(),
                action: ca.action.clone(),
                resource: ca.resource.clone(),
                before: cb.decision.clone(),
                after: ca.decision.clone(),
                change,
                deciding,
            })
        })
        .collect()
}

/// A table that wraps long cells to a readable width.
fn table() -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_width(160);
    t
}

impl WhatIf {
    /// 1 when the change breaks the spec, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.breaks)
    }

    /// The terminal rendering.
    pub fn render_table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for a in &self.applied {
            let _ = writeln!(s, "applied: {a}");
        }
        if self.findings.is_empty() && self.access.is_empty() && self.who_can.is_empty() {
            let _ = writeln!(s, "\nno finding and no access decision changes");
            return s;
        }
        if !self.findings.is_empty() {
            let mut t = table();
            t.set_header(vec!["", "check", "resource", "before", "after", "why"]);
            for f in &self.findings {
                let why = match f.replications.as_slice() {
                    [] => f.message.clone(),
                    rs => format!(
                        "{} [replication {}]",
                        f.message,
                        rs.iter()
                            .map(|r| format!("{}/{}", r.replication, r.rule))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                t.add_row(vec![
                    if f.worse { "WORSE" } else { "" }.to_string(),
                    f.id.clone(),
                    f.resource.clone(),
                    f.before.map_or("-".into(), |s| s.to_string()),
                    f.after.map_or("-".into(), |s| s.to_string()),
                    why,
                ]);
            }
            let _ = writeln!(s, "\nfindings that change:\n{t}");
        }
        if !self.access.is_empty() {
            let mut t = table();
            t.set_header(vec![
                "principal",
                "",
                "action",
                "bucket",
                "before -> after",
                "deciding (for a loss: what granted it)",
            ]);
            for a in &self.access {
                t.add_row(vec![
                    a.principal.clone(),
                    a.change.to_string(),
                    a.action.clone(),
                    a.bucket.clone(),
                    format!("{} -> {}", a.before, a.after),
                    a.deciding.join("; "),
                ]);
            }
            let _ = writeln!(s, "\naccess that changes:\n{t}");
        }
        if !self.who_can.is_empty() {
            let mut t = table();
            t.set_header(vec![
                "who",
                "",
                "action",
                "bucket",
                "how: own policies or the roles it becomes (for a loss: before)",
            ]);
            for d in &self.who_can {
                t.add_row(vec![
                    d.subject.clone(),
                    d.change.to_string(),
                    d.action.clone(),
                    d.bucket.clone(),
                    if d.path.is_empty() {
                        d.deciding.join("; ")
                    } else {
                        d.path.clone()
                    },
                ]);
            }
            let _ = writeln!(s, "\nwho-can grants that change:\n{t}");
        }
        let worse = self.findings.iter().filter(|f| f.worse).count();
        let _ = writeln!(
            s,
            "\n{}",
            if self.breaks {
                format!("BREAKS the spec: {worse} finding(s) would stop passing")
            } else {
                "breaks nothing the spec expects".to_string()
            }
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::parse;

    fn seed() -> (Spec, Snapshot) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let spec = crate::spec::load(&root.join("checks/seed.toml"))
            .unwrap()
            .spec;
        let text = std::fs::read_to_string(root.join("tests/fixtures/seed-snapshot.json")).unwrap();
        (spec, Snapshot::from_json(&text).unwrap())
    }

    fn source_policy(snap: &Snapshot) -> serde_json::Value {
        serde_json::from_str(snap.bucket("source").unwrap().policy.value().unwrap()).unwrap()
    }

    fn put_source_policy(p: &serde_json::Value) -> Vec<Change> {
        parse(
            "t",
            &serde_json::json!({"operation": "PutBucketPolicy",
                "request": {"Bucket": "rubes-s3-bucket", "Policy": p}})
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn removing_toms_statement_loses_his_read_and_breaks_the_spec() {
        let (spec, snap) = seed();
        let mut p = source_policy(&snap);
        p["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["Sid"] != "Grant0Objects");
        let w = evaluate(&spec, &snap, &put_source_policy(&p)).unwrap();
        assert!(w.breaks, "{}", w.render_table());
        assert_eq!(w.exit_code(), 1);
        let lost: Vec<_> = w
            .access
            .iter()
            .filter(|a| a.change == "loses")
            .map(|a| (a.principal.as_str(), a.action.as_str(), a.bucket.as_str()))
            .collect();
        assert_eq!(
            lost,
            vec![(
                "arn:aws:iam::271089868719:user/tom-cruise",
                "s3:GetObject",
                "rubes-s3-bucket"
            )],
            "{}",
            w.render_table()
        );
        // who-can, over every principal of both accounts, says the same of tom.
        assert!(
            w.who_can.iter().any(|d| d.change == "loses"
                && d.subject.ends_with("user/tom-cruise")
                && d.action == "s3:GetObject"),
            "{}",
            w.render_table()
        );
        assert!(
            w.findings
                .iter()
                .any(|f| f.worse && f.id == "access-expectation" && f.message.contains("tom")),
            "{}",
            w.render_table()
        );
    }

    #[test]
    fn a_deny_for_the_replication_role_names_the_replications_it_breaks() {
        let (spec, snap) = seed();
        let mut p = source_policy(&snap);
        p["Statement"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
            "Sid": "DenyReplicationRole", "Effect": "Deny",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/s3_replication_role"},
            "Action": "s3:GetObjectVersionForReplication",
            "Resource": "arn:aws:s3:::rubes-s3-bucket/*"}));
        let w = evaluate(&spec, &snap, &put_source_policy(&p)).unwrap();
        assert!(w.breaks, "{}", w.render_table());
        let broken: Vec<_> = w
            .findings
            .iter()
            .filter(|f| f.worse)
            .flat_map(|f| f.replications.iter().map(|r| r.rule.clone()))
            .collect();
        assert!(
            broken.iter().any(|r| r == "reports-to-abcd"),
            "{}",
            w.render_table()
        );
        // The logs replication reads another bucket: the deny does not touch it.
        assert!(
            !broken.iter().any(|r| r == "logs-to-backup"),
            "{}",
            w.render_table()
        );
    }

    #[test]
    fn an_unrelated_change_reports_nothing() {
        let (spec, snap) = seed();
        let mut p = source_policy(&snap);
        p["Id"] = serde_json::json!("reviewed-2026-12");
        p["Statement"][3]["Sid"] = serde_json::json!("DenyPlainHttp");
        let w = evaluate(&spec, &snap, &put_source_policy(&p)).unwrap();
        assert!(!w.breaks);
        assert!(w.findings.is_empty(), "{}", w.render_table());
        assert!(w.access.is_empty(), "{}", w.render_table());
        assert!(w.who_can.is_empty(), "{}", w.render_table());
        assert!(w
            .render_table()
            .contains("no finding and no access decision changes"));
    }

    #[test]
    fn a_change_that_cures_is_not_a_break() {
        // Suspending versioning breaks; enabling it again (the inverse) cures.
        let (spec, snap) = seed();
        let suspend = parse(
            "t",
            r#"{"operation":"PutBucketVersioning","request":{"Bucket":"clint-s3-bucket","VersioningConfiguration":{"Status":"Suspended"}}}"#,
        )
        .unwrap();
        let w = evaluate(&spec, &snap, &suspend).unwrap();
        assert!(w.breaks, "{}", w.render_table());
        let mut broken = snap.clone();
        apply_all(&spec, &mut broken, &suspend).unwrap();
        let enable = parse(
            "t",
            r#"{"operation":"PutBucketVersioning","request":{"Bucket":"clint-s3-bucket","VersioningConfiguration":{"Status":"Enabled"}}}"#,
        )
        .unwrap();
        let w = evaluate(&spec, &broken, &enable).unwrap();
        assert!(!w.breaks, "{}", w.render_table());
        assert!(w
            .findings
            .iter()
            .any(|f| f.before == Some(Status::Fail) && f.after == Some(Status::Pass)));
    }

    #[test]
    fn what_aws_would_refuse_is_refused() {
        let (spec, snap) = seed();
        // A public policy under BlockPublicPolicy (on in the seed).
        let public = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::rubes-s3-bucket/*"}]});
        let e = evaluate(&spec, &snap, &put_source_policy(&public)).unwrap_err();
        assert!(matches!(e, ChangeError::Refused { .. }), "{e}");
        assert!(e.to_string().contains("BlockPublicPolicy"), "{e}");
        // A key policy through an alias.
        let c = parse("t", r#"{"operation":"PutKeyPolicy","request":{"KeyId":"alias/x","Policy":"{\"Version\":\"2012-10-17\",\"Statement\":[]}"}}"#).unwrap();
        assert!(evaluate(&spec, &snap, &c)
            .unwrap_err()
            .to_string()
            .contains("alias"));
        // Replication on an unversioned bucket: versioning first.
        let mut unversioned = snap.clone();
        unversioned.buckets.get_mut("logs").unwrap().versioning =
            crate::snapshot::Fetched::ok("Suspended".into());
        let cfg = crate::change::aws_shape::ReplicationConfigurationJson::from(
            unversioned
                .bucket("logs")
                .unwrap()
                .replication
                .value()
                .unwrap(),
        );
        let c = parse(
            "t",
            &serde_json::json!({"operation": "PutBucketReplication",
                "request": {"Bucket": "xyz-app-logs", "ReplicationConfiguration": cfg}})
            .to_string(),
        )
        .unwrap();
        let e = evaluate(&spec, &unversioned, &c).unwrap_err();
        assert!(e.to_string().contains("PutBucketVersioning first"), "{e}");
    }

    #[test]
    fn malformed_change_sets_are_errors_never_a_silent_pass() {
        let (spec, snap) = seed();
        for (text, want) in [
            ("", "not a change set"),
            ("[]", "empty"),
            ("{\"changes\": []}", "empty"),
            ("{\"operation\": \"PutBucketPolicy\"}", "not a change set"),
            ("{\"operation\": \"PutBucketPolicy\", \"request\": {}, \"extra\": 1}", "not a change set"),
            ("{\"operation\": \"PutObject\", \"request\": {}}", "cannot apply this operation"),
            ("{\"operation\": \"PutBucketPolicy\", \"request\": {\"Bucket\": \"rubes-s3-bucket\", \"Policy\": \"{}\"}}", "MalformedPolicy"),
            ("{\"operation\": \"PutBucketPolicy\", \"request\": {\"Bucket\": \"nope\", \"Policy\": {\"Version\": \"2012-10-17\", \"Statement\": []}}}", "not in the spec"),
            ("{\"operation\": \"PutBucketPolicy\", \"request\": {\"Bucket\": \"rubes-s3-bucket\", \"Polcy\": \"{}\"}}", "unknown field"),
            ("{\"operation\": \"PutRolePolicy\", \"request\": {\"RoleName\": \"ghost\", \"PolicyName\": \"p\", \"PolicyDocument\": {\"Version\": \"2012-10-17\", \"Statement\": []}}}", "not a principal of the spec"),
            ("{\"operation\": \"DeleteRolePolicy\", \"request\": {\"RoleName\": \"s3_replication_role\", \"PolicyName\": \"no-such\"}}", "NoSuchEntity"),
            ("{\"operation\": \"PutBucketVersioning\", \"request\": {\"Bucket\": \"rubes-s3-bucket\", \"VersioningConfiguration\": {\"Status\": \"On\"}}}", "Enabled or Suspended"),
            ("{\"operation\": \"PutBucketPolicy\", \"request\": {\"Bucket\": \"rubes-s3-bucket\", \"ExpectedBucketOwner\": \"999999999999\", \"Policy\": {\"Version\": \"2012-10-17\", \"Statement\": []}}}", "403"),
        ] {
            let got = parse("t", text).and_then(|c| evaluate(&spec, &snap, &c));
            match got {
                Ok(w) => panic!("{text:?} was accepted: {}", w.render_table()),
                Err(e) => assert!(e.to_string().contains(want), "{text:?}: {e}"),
            }
        }
    }
}
