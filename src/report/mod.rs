//! Renderers of one [`Report`](crate::findings::Report): terminal table, JSON, JUnit XML,
//! SARIF, HTML. They only format; every verdict is decided before a report is rendered.

pub mod html;
pub mod json;
pub mod junit;
pub mod locate;
pub mod mute;
pub mod replications;
pub mod sarif;
pub mod select;
pub mod table;

use crate::findings::{Finding, Report, Scenario, Status, Summary};

/// Why a report could not be rendered or written; the serde or I/O error is the source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot serialise report: {0}")]
    Json(#[source] serde_json::Error),
    #[error("cannot serialise SARIF: {0}")]
    Sarif(#[source] serde_json::Error),
    #[error("cannot create output directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    fn write(path: &Path, source: std::io::Error) -> Self {
        Error::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One scenario's line of a report's summary: its counts and the rules not passing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioLine {
    pub scenario: Scenario,
    pub counts: Summary,
    /// Ids of the rules with a `fail` or `error` finding in this scenario, sorted, each once
    /// (findings are not always sorted by id: a report read back from JSON, a hand-built list).
    pub not_passing: Vec<String>,
}

/// The per-scenario summary every human-facing format prints (table, HTML), in scenario
/// order, scenarios without findings left out.
pub fn scenario_summary(findings: &[Finding]) -> Vec<ScenarioLine> {
    Scenario::ALL
        .iter()
        .filter_map(|&scenario| {
            let mut counts = Summary::default();
            let mut not_passing: BTreeSet<&str> = BTreeSet::new();
            let mut any = false;
            for f in findings.iter().filter(|f| f.scenario == scenario) {
                any = true;
                match f.status {
                    Status::Pass => counts.pass += 1,
                    Status::Fail => counts.fail += 1,
                    Status::Error => counts.error += 1,
                    Status::Skip => counts.skip += 1,
                }
                if matches!(f.status, Status::Fail | Status::Error) {
                    not_passing.insert(f.id.as_str());
                }
            }
            any.then(|| ScenarioLine {
                scenario,
                counts,
                not_passing: not_passing.into_iter().map(str::to_string).collect(),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Junit,
    /// SARIF 2.1.0 for code scanning (GitHub, Azure DevOps, DefectDojo).
    Sarif,
    /// A single self-contained HTML page for people.
    Html,
}

/// How the renderers that have choices render.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    pub junit_family: junit::Family,
    /// For the table written to a file: no colour, whatever the terminal.
    pub table: table::TableOptions,
}

impl Format {
    pub fn extension(&self) -> &'static str {
        match self {
            Format::Table => "txt",
            Format::Json => "json",
            Format::Junit => "xml",
            Format::Sarif => "sarif",
            Format::Html => "html",
        }
    }

    pub fn render(&self, report: &Report) -> Result<String, Error> {
        self.render_with(report, &RenderOptions::default())
    }

    pub fn render_with(&self, report: &Report, o: &RenderOptions) -> Result<String, Error> {
        match self {
            Format::Table => Ok(table::render_with(
                report,
                &table::TableOptions {
                    color: false,
                    ..o.table
                },
            )),
            Format::Json => json::render(report),
            Format::Junit => junit::render_family(report, o.junit_family),
            Format::Sarif => sarif::render(report),
            Format::Html => html::render(report),
        }
    }
}

/// A rule's full documentation, as `replaudit rules --explain` prints it and SARIF carries it
/// as help.
pub fn explain(m: &crate::rules::RuleMeta) -> String {
    let mut out = format!(
        "{} — {}\nseverity: {}\nscenarios: {}\n\n",
        m.id,
        m.title,
        m.severity,
        m.scenarios
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str(
        &m.doc
            .lines()
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    out.push_str(&format!(
        "\nRemediation: {}\n\nReferences:\n",
        m.remediation
    ));
    for r in m.references {
        out.push_str(&format!("- {r}\n"));
    }
    out
}

/// Write each format to `<dir>/<stem>-<timestamp>.<ext>` and to the stable `<dir>/<stem>-latest.<ext>`.
///
/// The timestamped file is written first and the `latest` copy replaced atomically (rename), so
/// a CI job reading `latest` never sees a half-written report.
pub fn write_all(
    report: &Report,
    formats: &[Format],
    dir: &Path,
    stem: &str,
) -> Result<Vec<PathBuf>, Error> {
    write_all_with(report, formats, dir, stem, &RenderOptions::default())
}

pub fn write_all_with(
    report: &Report,
    formats: &[Format],
    dir: &Path,
    stem: &str,
    options: &RenderOptions,
) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let stamp = report.generated_at.format("%Y%m%dT%H%M%SZ");
    let mut written = Vec::new();
    for f in formats {
        let body = f.render_with(report, options)?;
        let ext = f.extension();
        let stamped = dir.join(format!("{stem}-{stamp}.{ext}"));
        std::fs::write(&stamped, &body).map_err(|e| Error::write(&stamped, e))?;
        let latest = dir.join(format!("{stem}-latest.{ext}"));
        let tmp = dir.join(format!(".{stem}-latest.{ext}.tmp"));
        std::fs::write(&tmp, &body).map_err(|e| Error::write(&tmp, e))?;
        std::fs::rename(&tmp, &latest).map_err(|e| Error::write(&latest, e))?;
        written.push(stamped);
        written.push(latest);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Finding, Scenario, Severity, Status};

    fn finding(id: &str, scenario: Scenario, status: Status, resource: &str) -> Finding {
        Finding {
            id: id.into(),
            title: "t".into(),
            scenario,
            status,
            severity: Severity::High,
            resource: resource.into(),
            message: format!("{id} is {status} <&>"),
            evidence: serde_json::json!({"k": "v"}),
            remediation: "fix it".into(),
            references: vec![],
            duration_secs: Some(1.5),
            location: None,
            muted: None,
            replications: vec![],
            replication_set: None,
        }
    }

    fn sample() -> Report {
        Report::new(
            "spec",
            chrono::Utc::now(),
            vec![
                finding("a", Scenario::Step5, Status::Pass, "arn:aws:s3:::b"),
                finding("a", Scenario::Step5, Status::Fail, "arn:aws:s3:::b"),
                finding("c", Scenario::Step1, Status::Error, "arn:aws:s3:::b"),
                finding("d", Scenario::ScenarioA, Status::Skip, "-"),
            ],
        )
    }

    /// A document cited by evidence is rendered once in the HTML page, under its id.
    #[test]
    fn html_lists_each_cited_document_once() {
        let mut f = finding(
            "role-trust",
            Scenario::Step3,
            Status::Fail,
            "arn:aws:iam::1:role/r",
        );
        f.evidence = serde_json::json!({"trust_policy": crate::findings::cite_document(
            "trust-policy", "arn:aws:iam::1:role/r",
            serde_json::json!({"Statement": [{"Sid": "OnlyS3"}]}))});
        let r = Report::new("spec", chrono::Utc::now(), vec![f.clone(), f]);
        let page = html::render(&r).unwrap();
        assert_eq!(page.matches("OnlyS3").count(), 1, "{page}");
        assert!(page.contains("<summary>doc:trust-policy:arn:aws:iam::1:role/r</summary>"));
    }

    #[test]
    fn json_keeps_the_contract_fields() {
        let v: serde_json::Value = serde_json::from_str(&json::render(&sample()).unwrap()).unwrap();
        assert_eq!(v["schema_version"], 2);
        assert_eq!(
            v["summary"],
            serde_json::json!({"pass": 1, "fail": 1, "error": 1, "skip": 1})
        );
        let f = &v["findings"][0];
        for k in [
            "id",
            "title",
            "scenario",
            "status",
            "severity",
            "resource",
            "message",
            "evidence",
            "remediation",
        ] {
            assert!(f.get(k).is_some(), "missing {k}");
        }
        assert_eq!(f["scenario"], "step-1", "findings sorted by scenario");
    }

    #[test]
    fn junit_has_a_suite_per_scenario_and_unique_case_names() {
        let xml = junit::render(&sample()).unwrap();
        assert_eq!(xml.matches("<testsuite ").count(), 3);
        // A pass and a fail of one rule on one resource share a name: one testcase, the
        // worse status, never an order-dependent `#2`.
        assert!(xml.contains("name=\"a [arn:aws:s3:::b]\""), "{xml}");
        assert!(!xml.contains("#2"), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert_eq!(xml.matches("<failure").count(), 1);
        assert_eq!(
            xml.matches("<error").count(),
            1,
            "the completed run is no error"
        );
        assert_eq!(xml.matches("<skipped").count(), 1);
        assert!(xml.contains("&lt;&amp;&gt;"), "message escaped");
        assert!(
            xml.contains("time=\"1.500\""),
            "duration carried as testcase time"
        );
    }

    #[test]
    fn table_groups_by_scenario_and_summarises() {
        let t = table::render(&sample(), false);
        let s1 = t.find("step-1 — source bucket").unwrap();
        let s5 = t.find("step-5 — bucket access").unwrap();
        let a = t.find("scenario-A — encrypted replicas").unwrap();
        assert!(s1 < s5 && s5 < a);
        assert!(t.contains("Summary: 4 findings — 1 pass, 1 fail, 1 error, 1 skip. FAILED"));
        assert!(!t.contains('\u{1b}'), "no colour codes when not a terminal");
    }

    /// Every format says a stopped run is not green, even when every finding passed.
    #[test]
    fn a_stopped_run_is_not_green_in_any_format() {
        use crate::findings::RunStatus;
        let only_pass = || {
            Report::new(
                "spec",
                chrono::Utc::now(),
                vec![finding(
                    "a",
                    Scenario::Step1,
                    Status::Pass,
                    "arn:aws:s3:::b",
                )],
            )
        };
        let green = only_pass();
        assert!(table::render(&green, false).contains(". PASSED\n"));
        for (run, word) in [
            (
                RunStatus::interrupted("SIGINT", "interrupted by SIGINT"),
                "INTERRUPTED by SIGINT",
            ),
            (RunStatus::deadline("--deadline reached"), "DEADLINE"),
            (
                RunStatus::incomplete("account 'abcd' unusable"),
                "INCOMPLETE",
            ),
        ] {
            let r = only_pass().with_run(run.clone());
            let t = table::render(&r, false);
            let summary = t.lines().last().unwrap();
            assert!(summary.contains(word), "{summary}");
            assert!(
                summary.contains("not a pass") && !t.contains("PASSED"),
                "{t}"
            );
            assert!(t.lines().nth(1).unwrap().starts_with("RUN "), "{t}");
            let v: serde_json::Value = serde_json::from_str(&json::render(&r).unwrap()).unwrap();
            assert_eq!(
                v["run"]["status"],
                serde_json::to_value(run.status).unwrap()
            );
            assert!(v["run"]["reason"].is_string());
            let xml = junit::render(&r).unwrap();
            assert_eq!(
                xml.matches("<error").count(),
                1,
                "the run's own testcase: {xml}"
            );
            assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
            assert!(xml.contains(word), "{xml}");
        }
    }

    /// Findings in any order (a report read back from JSON, a hand-built list): a rule failing
    /// twice with another rule between is named once, in the table and in the HTML.
    #[test]
    fn a_rule_not_passing_twice_is_named_once_per_scenario() {
        let mut r = sample();
        r.findings = vec![
            finding("a", Scenario::Step1, Status::Fail, "arn:aws:s3:::x"),
            finding("b", Scenario::Step1, Status::Error, "arn:aws:s3:::x"),
            finding("a", Scenario::Step1, Status::Fail, "arn:aws:s3:::y"),
        ];
        let t = table::render(&r, false);
        assert!(t.contains("(not passing: a, b)"), "{t}");
        let h = html::render(&r).unwrap();
        assert!(h.contains("<td>a, b</td>"), "{h}");
        assert!(!h.contains("a, b, a"), "{h}");
    }

    #[test]
    fn write_all_writes_timestamped_and_latest() {
        let dir = tempfile::tempdir().unwrap();
        let r = sample();
        let files = write_all(&r, &[Format::Json, Format::Junit], dir.path(), "audit").unwrap();
        assert_eq!(files.len(), 4);
        assert!(dir.path().join("audit-latest.json").exists());
        assert!(dir.path().join("audit-latest.xml").exists());
        assert!(write_all(
            &r,
            &[Format::Json],
            &dir.path().join("audit-latest.json"),
            "x"
        )
        .is_err());
    }
}
