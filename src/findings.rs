//! The one findings model every report renders.

use serde::{Deserialize, Serialize};
use std::fmt;

/// JSON report contract version; other tools read these fields.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

/// The whole result of a run, as written to JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool_version: String,
    pub spec_name: String,
    pub generated_at: chrono::DateTime<chrono::Utc>,
    /// When the audited state was collected (differs from `generated_at` for offline audits).
    pub collected_at: chrono::DateTime<chrono::Utc>,
    pub findings: Vec<Finding>,
    pub summary: Summary,
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
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            spec_name: spec_name.to_string(),
            generated_at: chrono::Utc::now(),
            collected_at,
            findings,
            summary,
        }
    }
}
