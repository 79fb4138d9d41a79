//! The one findings model every report renders.

use serde::{Deserialize, Serialize};
use std::fmt;

/// JSON report contract version; other tools read these fields. 2: documents cited by findings
/// are in the report's `documents` once and referenced by id from the evidence; a finding
/// bearing on the replications of a shared resource names them through `replication_set`
/// (issue 22: a finding's size no longer grows with the estate).
pub const REPORT_SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scenario {
    #[serde(rename = "step-1")]
    Step1,
    #[serde(rename = "step-2")]
    Step2,
    #[serde(rename = "step-3")]
    Step3,
    #[serde(rename = "step-4")]
    Step4,
    #[serde(rename = "step-5")]
    Step5,
    #[serde(rename = "scenario-A")]
    ScenarioA,
    #[serde(rename = "scenario-B")]
    ScenarioB,
    #[serde(rename = "scenario-C")]
    ScenarioC,
    #[serde(rename = "scenario-D")]
    ScenarioD,
}

impl Scenario {
    pub const ALL: [Scenario; 9] = [
        Scenario::Step1,
        Scenario::Step2,
        Scenario::Step3,
        Scenario::Step4,
        Scenario::Step5,
        Scenario::ScenarioA,
        Scenario::ScenarioB,
        Scenario::ScenarioC,
        Scenario::ScenarioD,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Scenario::Step1 => "step-1",
            Scenario::Step2 => "step-2",
            Scenario::Step3 => "step-3",
            Scenario::Step4 => "step-4",
            Scenario::Step5 => "step-5",
            Scenario::ScenarioA => "scenario-A",
            Scenario::ScenarioB => "scenario-B",
            Scenario::ScenarioC => "scenario-C",
            Scenario::ScenarioD => "scenario-D",
        }
    }

    /// What the scenario is, for report headings.
    pub fn description(&self) -> &'static str {
        match self {
            Scenario::Step1 => "source bucket",
            Scenario::Step2 => "destination bucket",
            Scenario::Step3 => "replication role",
            Scenario::Step4 => "replication rules and prerequisites",
            Scenario::Step5 => "bucket access",
            Scenario::ScenarioA => "encrypted replicas",
            Scenario::ScenarioB => "prefix-only replication",
            Scenario::ScenarioC => "uploader-restricted replication",
            Scenario::ScenarioD => "logs replicated to a backup bucket",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Error,
    Skip,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Skip => "skip",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub id: String,
    pub title: String,
    pub scenario: Scenario,
    pub status: Status,
    pub severity: Severity,
    pub resource: String,
    pub message: String,
    pub evidence: serde_json::Value,
    pub remediation: String,
    #[serde(default)]
    pub references: Vec<String>,
    /// Measured duration (canary latency), carried into JUnit testcase time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    /// Where the spec declared the expectation this finding checks: CI annotators and code
    /// scanning point the reader at that line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<SpecLocation>,
    /// Set when a mute file entry covers this finding: the status is kept (a muted failure is
    /// still a failure in every report), only the exit code stops counting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted: Option<Muted>,
    /// The spec replication rules this finding bears on (set after the rules ran, from the
    /// spec, by `report::replications::attribute`): with dozens of replicated pairs, the reader
    /// needs each pair's verdict before the list of findings. Empty when the finding concerns no
    /// replication (an account setting, a who-can expectation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replications: Vec<ReplicationRef>,
    /// Instead of `replications` in a report, when the finding bears on the replications of
    /// more than one `[[replication]]` (a role, a key or a destination they share): the
    /// report's `replication_sets` entry naming them, so that the finding's size does not grow
    /// with how many share the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_set: Option<ReplicationSetRef>,
}

/// A reference from a finding to an entry of [`Report::replication_sets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationSetRef {
    pub id: String,
    /// How many replication rules the set names.
    pub count: usize,
}

/// The key under which [`cite_document`] carries a document's body inside a finding's evidence
/// until [`Report::new`] moves it to [`Report::documents`].
const DOCUMENT_BODY: &str = "$document";

/// Evidence quoting a whole document (a policy, a replication configuration), for a rule to put
/// in a finding's evidence: the one way rules cite documents, so that a report carries each
/// document once, under `id` (`doc:<kind>:<owner>`, e.g.
/// `doc:trust-policy:arn:aws:iam::111122223333:role/r`), however many findings cite it, and
/// each finding carries only `{"document": id}` beside the statements that decided it.
pub fn cite_document(kind: &str, owner: &str, document: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "document": format!("doc:{kind}:{owner}"),
        DOCUMENT_BODY: document,
    })
}

/// The document a [`cite_document`] citation carries, before [`Report::new`] moved it out: for
/// rule tests, which look at findings before any report is built.
#[cfg(test)]
pub fn cited(citation: &serde_json::Value) -> &serde_json::Value {
    &citation[DOCUMENT_BODY]
}

/// Moves every document [`cite_document`] put in the findings' evidence into one map, each
/// once. Two different documents cited under one id (a snapshot cannot produce it, but a
/// finding built by hand can) keep both: the later one gets `#2`, `#3`... and its reference is
/// rewritten, so no citation points at the wrong text.
fn hoist_documents(
    findings: &mut [Finding],
) -> std::collections::BTreeMap<String, serde_json::Value> {
    use serde_json::Value;
    fn walk(v: &mut Value, docs: &mut std::collections::BTreeMap<String, Value>) {
        match v {
            Value::Object(m) => {
                if let Some(body) = m.remove(DOCUMENT_BODY) {
                    let id = m
                        .get("document")
                        .and_then(Value::as_str)
                        .unwrap_or("doc:unnamed")
                        .to_string();
                    let mut key = id.clone();
                    let mut k = 1;
                    while docs.get(&key).is_some_and(|d| *d != body) {
                        k += 1;
                        key = format!("{id}#{k}");
                    }
                    if key != id {
                        m.insert("document".into(), Value::String(key.clone()));
                    }
                    docs.entry(key).or_insert(body);
                }
                m.values_mut().for_each(|x| walk(x, docs));
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, docs)),
            _ => {}
        }
    }
    let mut docs = std::collections::BTreeMap::new();
    for f in findings {
        walk(&mut f.evidence, &mut docs);
    }
    docs
}

/// Replaces, on each finding bearing on more than one `[[replication]]`, its list of
/// replication rules by a reference to one shared list: findings about a role shared by 1,000
/// replications would each carry the 1,000 otherwise. A set is named by the resource of the
/// first finding that names it (the shared role, key or bucket), `#2`... when another list
/// comes under that name.
fn share_replications(
    findings: &mut [Finding],
) -> std::collections::BTreeMap<String, Vec<ReplicationRef>> {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    let mut sets: BTreeMap<String, Vec<ReplicationRef>> = BTreeMap::new();
    let mut ids: HashMap<Vec<ReplicationRef>, String> = HashMap::new();
    for f in findings.iter_mut() {
        let distinct: BTreeSet<&str> = f
            .replications
            .iter()
            .map(|r| r.replication.as_str())
            .collect();
        if distinct.len() < 2 {
            continue;
        }
        let refs = std::mem::take(&mut f.replications);
        let count = refs.len();
        let id = match ids.get(&refs) {
            Some(id) => id.clone(),
            None => {
                let mut id = f.resource.clone();
                let mut k = 1;
                while sets.contains_key(&id) {
                    k += 1;
                    id = format!("{}#{k}", f.resource);
                }
                sets.insert(id.clone(), refs.clone());
                ids.insert(refs, id.clone());
                id
            }
        };
        f.replication_set = Some(ReplicationSetRef { id, count });
    }
    sets
}

/// One rule of one `[[replication]]` of the spec: source bucket to destination bucket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReplicationRef {
    /// The spec's `[[replication]]` id.
    pub replication: String,
    /// The rule's `id` in the spec, else `#<n>` (its 1-based position).
    pub rule: String,
    /// Bucket names (not aliases): what the reader sees in the AWS console.
    pub source: String,
    pub destination: String,
}

/// The verdict of one replication rule over every finding that bears on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationSummary {
    #[serde(flatten)]
    pub of: ReplicationRef,
    /// The worst status among its findings (error, then fail, skip, pass: as JUnit ranks them).
    pub worst: Status,
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    pub skip: usize,
    /// Ids of the rules (checks) with a `fail` or `error` finding here, sorted, each once.
    pub not_passing: Vec<String>,
}

/// How bad a status is, for "worst first" orderings: an `error` (not seen) outranks a `fail`.
pub fn status_rank(s: Status) -> u8 {
    match s {
        Status::Pass => 0,
        Status::Skip => 1,
        Status::Fail => 2,
        Status::Error => 3,
    }
}

/// One line per replication rule the findings name: its counts and worst status, worst lines
/// first (then by replication id, rule and destination), so that the pair that needs attention
/// is read first however many pairs the spec has. A finding bearing on several rules (a shared
/// destination bucket, a role used by several replications) counts on each.
pub fn replication_summary(findings: &[Finding]) -> Vec<ReplicationSummary> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut by: BTreeMap<&ReplicationRef, (Summary, BTreeSet<&str>)> = BTreeMap::new();
    for f in findings {
        for r in &f.replications {
            let (s, bad) = by.entry(r).or_default();
            match f.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Error => s.error += 1,
                Status::Skip => s.skip += 1,
            }
            if matches!(f.status, Status::Fail | Status::Error) {
                bad.insert(f.id.as_str());
            }
        }
    }
    let mut out: Vec<ReplicationSummary> = by
        .into_iter()
        .map(|(r, (s, bad))| ReplicationSummary {
            of: r.clone(),
            worst: if s.error > 0 {
                Status::Error
            } else if s.fail > 0 {
                Status::Fail
            } else if s.skip > 0 {
                Status::Skip
            } else {
                Status::Pass
            },
            pass: s.pass,
            fail: s.fail,
            error: s.error,
            skip: s.skip,
            not_passing: bad.into_iter().map(str::to_string).collect(),
        })
        .collect();
    // Stable: equal ranks keep the BTreeMap's (replication, rule, source, destination) order.
    out.sort_by_key(|l| std::cmp::Reverse(status_rank(l.worst)));
    out
}

/// A line of the spec file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecLocation {
    /// The spec path as given on the command line.
    pub file: String,
    /// 1-based.
    pub line: usize,
}

impl fmt::Display for SpecLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Why a finding is muted, from the mute file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Muted {
    pub reason: String,
    /// Last day the mute applies (inclusive), `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl Finding {
    /// `path:line: ` for text consumers (annotators that parse failure text), or nothing.
    pub fn location_prefix(&self) -> String {
        match &self.location {
            Some(l) => format!("{l}: "),
            None => String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    pub skip: usize,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let mut s = Summary::default();
        for f in findings {
            match f.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Error => s.error += 1,
                Status::Skip => s.skip += 1,
            }
        }
        s
    }

    /// A scheduled job must go red on anything it could not prove, not only on failures.
    pub fn is_clean(&self) -> bool {
        self.fail == 0 && self.error == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pass, {} fail, {} error, {} skip",
            self.pass, self.fail, self.error, self.skip
        )
    }
}

/// How a run ended. Only a run that saw everything can be green: a stopped run may have no
/// failing finding only because the check that would have failed never ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunEnd {
    /// Every check ran to its end.
    Completed,
    /// Stopped by SIGINT or SIGTERM.
    Interrupted,
    /// Stopped by `--deadline`.
    Deadline,
    /// Ran to its end but could not see everything (an account whose set-up is unusable).
    Incomplete,
}

/// The `run` object of a report: how the run ended and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStatus {
    pub status: RunEnd,
    /// `SIGINT` or `SIGTERM` for an interrupted run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// What was not seen, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Default for RunStatus {
    fn default() -> Self {
        RunStatus::completed()
    }
}

impl RunStatus {
    pub fn completed() -> RunStatus {
        RunStatus {
            status: RunEnd::Completed,
            signal: None,
            reason: None,
        }
    }

    /// Stopped by a signal (`SIGINT`, `SIGTERM`).
    pub fn interrupted(signal: &str, reason: impl Into<String>) -> RunStatus {
        RunStatus {
            status: RunEnd::Interrupted,
            signal: Some(signal.to_string()),
            reason: Some(reason.into()),
        }
    }

    pub fn deadline(reason: impl Into<String>) -> RunStatus {
        RunStatus {
            status: RunEnd::Deadline,
            signal: None,
            reason: Some(reason.into()),
        }
    }

    pub fn incomplete(reason: impl Into<String>) -> RunStatus {
        RunStatus {
            status: RunEnd::Incomplete,
            signal: None,
            reason: Some(reason.into()),
        }
    }

    pub fn is_completed(&self) -> bool {
        self.status == RunEnd::Completed
    }

    /// The more serious of two endings: a signal outranks the deadline, which outranks an
    /// incomplete view; the first reason of the winning kind is kept.
    pub fn worst(self, other: RunStatus) -> RunStatus {
        fn rank(e: RunEnd) -> u8 {
            match e {
                RunEnd::Completed => 0,
                RunEnd::Incomplete => 1,
                RunEnd::Deadline => 2,
                RunEnd::Interrupted => 3,
            }
        }
        if rank(other.status) > rank(self.status) {
            other
        } else {
            self
        }
    }

    /// The word the table's summary line and JUnit use.
    pub fn headline(&self) -> String {
        match self.status {
            RunEnd::Completed => "COMPLETED".into(),
            RunEnd::Interrupted => format!(
                "INTERRUPTED by {}",
                self.signal.as_deref().unwrap_or("a signal")
            ),
            RunEnd::Deadline => "DEADLINE reached".into(),
            RunEnd::Incomplete => "INCOMPLETE".into(),
        }
    }
}

/// The whole result of a run, as written to JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool_version: String,
    pub spec_name: String,
    pub generated_at: chrono::DateTime<chrono::Utc>,
    /// When the audited state was collected (differs from `generated_at` for offline audits).
    pub collected_at: chrono::DateTime<chrono::Utc>,
    /// How the run ended (absent in reports of older versions: completed).
    #[serde(default)]
    pub run: RunStatus,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// What the reader must know beside the findings: expired mutes, mutes that matched nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    /// One line per replication rule, worst first ([`replication_summary`] of the findings);
    /// absent when no finding names a replication.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replications: Vec<ReplicationSummary>,
    /// The documents findings cite (policies, replication configurations), each once, by the
    /// id their evidence references (`{"document": "doc:..."}`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub documents: std::collections::BTreeMap<String, serde_json::Value>,
    /// The replication rules of each finding's `replication_set`, by set id.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub replication_sets: std::collections::BTreeMap<String, Vec<ReplicationRef>>,
}

impl Report {
    pub fn new(
        spec_name: &str,
        collected_at: chrono::DateTime<chrono::Utc>,
        mut findings: Vec<Finding>,
    ) -> Report {
        findings.sort_by(|a, b| {
            (a.scenario, &a.id, &a.resource).cmp(&(b.scenario, &b.id, &b.resource))
        });
        let summary = Summary::of(&findings);
        // Counted per replication before the lists are shared.
        let replications = replication_summary(&findings);
        let documents = hoist_documents(&mut findings);
        let replication_sets = share_replications(&mut findings);
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            spec_name: spec_name.to_string(),
            generated_at: chrono::Utc::now(),
            collected_at,
            run: RunStatus::completed(),
            findings,
            summary,
            notices: Vec::new(),
            replications,
            documents,
            replication_sets,
        }
    }

    /// The same report, saying how its run ended.
    pub fn with_run(mut self, run: RunStatus) -> Report {
        self.run = run;
        self
    }

    /// Green only when the run completed and no finding is `fail` or `error`.
    pub fn is_green(&self) -> bool {
        self.run.is_completed() && self.summary.is_clean()
    }

    /// The process exit code for this report (see [`RunStatus::exit_code`]).
    pub fn exit_code(&self) -> u8 {
        self.exit_code_at(None)
    }

    /// The exit code counting only `fail`/`error` findings at or above `fail_on` that are not
    /// muted (`--fail-on`, `--mute`). The reports still show every finding, and a run that did
    /// not complete is never 0 whatever the threshold: what was not seen cannot be below it.
    pub fn exit_code_at(&self, fail_on: Option<Severity>) -> u8 {
        let counted = self.findings.iter().any(|f| {
            matches!(f.status, Status::Fail | Status::Error)
                && f.muted.is_none()
                && fail_on.is_none_or(|min| f.severity >= min)
        });
        self.run.exit_code(!counted)
    }
}

impl RunStatus {
    /// The process exit code of a run that ended this way: 130/143 (128 + signal number) when
    /// SIGINT/SIGTERM stopped it, 1 for any other run that is not green (`clean` is false: a
    /// finding failed or errored; or `--deadline` stopped it; or something could not be seen),
    /// 0 otherwise.
    pub fn exit_code(&self, clean: bool) -> u8 {
        match (self.status, self.signal.as_deref()) {
            (RunEnd::Interrupted, Some("SIGTERM")) => 143,
            (RunEnd::Interrupted, _) => 130,
            (RunEnd::Completed, _) if clean => 0,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass() -> Finding {
        Finding {
            id: "bucket-versioning".into(),
            title: "t".into(),
            scenario: Scenario::Step1,
            status: Status::Pass,
            severity: Severity::High,
            resource: "arn:aws:s3:::b".into(),
            message: "ok".into(),
            evidence: serde_json::json!({}),
            remediation: String::new(),
            references: vec![],
            duration_secs: None,
            location: None,
            muted: None,
            replications: vec![],
            replication_set: None,
        }
    }

    fn on(replication: &str, rule: &str) -> ReplicationRef {
        ReplicationRef {
            replication: replication.into(),
            rule: rule.into(),
            source: format!("{replication}-src"),
            destination: format!("{replication}-dst"),
        }
    }

    /// Issue 22: a document cited by many findings is in the report once; each finding keeps
    /// only its id, and a different document under a taken id is kept apart, not dropped.
    #[test]
    fn cited_documents_are_in_the_report_once_and_referenced() {
        let policy =
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]});
        let cite = |doc: &serde_json::Value| Finding {
            evidence: serde_json::json!({"checks": [{"decision": "Allowed",
                "policy": cite_document("trust-policy", "arn:aws:iam::1:role/r", doc.clone())}]}),
            ..pass()
        };
        let other = serde_json::json!({"Version": "2012-10-17", "Statement": []});
        let r = Report::new(
            "s",
            chrono::Utc::now(),
            vec![cite(&policy), cite(&policy), cite(&other)],
        );
        let id = "doc:trust-policy:arn:aws:iam::1:role/r";
        assert_eq!(r.documents.len(), 2, "{:?}", r.documents);
        assert_eq!(r.documents[id], policy);
        let refs: Vec<&serde_json::Value> = r
            .findings
            .iter()
            .map(|f| &f.evidence["checks"][0]["policy"])
            .collect();
        let other_id = refs
            .iter()
            .map(|v| v["document"].as_str().unwrap())
            .find(|d| *d != id)
            .expect("the other document has an id of its own");
        assert_eq!(r.documents[other_id], other);
        for v in refs {
            assert_eq!(v.as_object().unwrap().len(), 1, "only the reference: {v}");
        }
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains(DOCUMENT_BODY), "{text}");
        assert_eq!(text.matches("\"Statement\":[{").count(), 1, "{text}");
    }

    /// Issue 22: a finding bearing on many replications (their shared role) names them through
    /// one shared list; the per-replication summary still counts it on each.
    #[test]
    fn findings_on_a_shared_resource_reference_one_list_of_replications() {
        let shared: Vec<ReplicationRef> = (0..50).map(|i| on(&format!("r{i:02}"), "#1")).collect();
        let role = |status| Finding {
            resource: "arn:aws:iam::1:role/r".into(),
            status,
            replications: shared.clone(),
            ..pass()
        };
        let one = Finding {
            replications: vec![on("r07", "a"), on("r07", "b")],
            ..pass()
        };
        let r = Report::new(
            "s",
            chrono::Utc::now(),
            vec![role(Status::Pass), role(Status::Fail), one],
        );
        assert_eq!(r.replication_sets.len(), 1);
        assert_eq!(r.replication_sets["arn:aws:iam::1:role/r"], shared);
        for f in r.findings.iter().filter(|f| f.resource.contains("role")) {
            assert!(f.replications.is_empty());
            let set = f.replication_set.as_ref().expect("a set");
            assert_eq!((set.id.as_str(), set.count), ("arn:aws:iam::1:role/r", 50));
        }
        let single = r
            .findings
            .iter()
            .find(|f| f.resource.contains("s3"))
            .unwrap();
        assert_eq!(
            single.replications.len(),
            2,
            "one replication's rules stay inline"
        );
        assert!(single.replication_set.is_none());
        assert_eq!(r.replications.len(), 52);
        let r00 = r
            .replications
            .iter()
            .find(|l| l.of.replication == "r00")
            .unwrap();
        assert_eq!((r00.pass, r00.fail), (1, 1));
    }

    #[test]
    fn only_a_completed_clean_run_is_green() {
        let r = Report::new("s", chrono::Utc::now(), vec![pass()]);
        assert!(r.is_green());
        assert_eq!(r.exit_code(), 0);
        for (run, code) in [
            (RunStatus::interrupted("SIGINT", "stopped"), 130),
            (RunStatus::interrupted("SIGTERM", "stopped"), 143),
            (RunStatus::deadline("--deadline reached"), 1),
            (RunStatus::incomplete("account 'abcd' unusable"), 1),
        ] {
            let r = Report::new("s", chrono::Utc::now(), vec![pass()]).with_run(run.clone());
            assert!(!r.is_green(), "{run:?} with only passes is not green");
            assert_eq!(r.exit_code(), code, "{run:?}");
        }
    }

    #[test]
    fn fail_on_counts_only_unmuted_findings_at_or_above_the_threshold() {
        let low_fail = Finding {
            status: Status::Fail,
            severity: Severity::Low,
            ..pass()
        };
        let r = Report::new("s", chrono::Utc::now(), vec![pass(), low_fail.clone()]);
        assert_eq!(r.exit_code(), 1);
        assert_eq!(r.exit_code_at(Some(Severity::Low)), 1);
        assert_eq!(r.exit_code_at(Some(Severity::Medium)), 0);
        // An incomplete run is never 0, whatever the threshold.
        let stopped = r.clone().with_run(RunStatus::deadline("d"));
        assert_eq!(stopped.exit_code_at(Some(Severity::Critical)), 1);
        // A muted failure keeps its status but no longer counts.
        let muted = Finding {
            muted: Some(Muted {
                reason: "accepted".into(),
                expires: None,
            }),
            ..low_fail
        };
        let r = Report::new("s", chrono::Utc::now(), vec![muted]);
        assert_eq!(r.summary.fail, 1);
        assert_eq!(r.exit_code(), 0);
    }

    #[test]
    fn the_worse_ending_wins() {
        let d = RunStatus::deadline("d");
        let i = RunStatus::interrupted("SIGINT", "i");
        assert_eq!(RunStatus::completed().worst(d.clone()), d);
        assert_eq!(d.clone().worst(i.clone()), i);
        assert_eq!(i.clone().worst(d.clone()), i);
        assert_eq!(
            RunStatus::incomplete("x")
                .worst(RunStatus::completed())
                .status,
            RunEnd::Incomplete
        );
    }

    #[test]
    fn old_reports_without_run_read_as_completed() {
        let r = Report::new("s", chrono::Utc::now(), vec![]);
        let mut v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["run"], serde_json::json!({"status": "completed"}));
        v.as_object_mut().unwrap().remove("run");
        let back: Report = serde_json::from_value(v).unwrap();
        assert!(back.run.is_completed());
    }
}
