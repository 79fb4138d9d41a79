//! The terminal report: what needs attention first, everything else counted.
//!
//! Order: the header and (for a stopped run) the RUN line; a summary by scenario and rule;
//! every failure and error with its message and spec line; skips with their reasons;
//! notices (expired mutes); passes only when asked (`--show pass` / `-v`), as the full table
//! per scenario; the summary line last, where a CI log's tail shows it. The seed audit fits
//! one screen when nothing fails. Each block is its own function so that other sections (a
//! per-replication summary, say) slot in without touching the rest.

use crate::findings::{Finding, Report, RunEnd, Scenario, Status};
use comfy_table::{presets, Cell, Color, ContentArrangement, Table};

/// How the table is drawn.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// ANSI colours (only for a terminal that wants them: `--color`, NO_COLOR, TERM=dumb).
    pub color: bool,
    /// List every passing finding too.
    pub show_pass: bool,
    /// Columns available; wrapped to fit. `None` on a terminal: its own width.
    pub width: Option<u16>,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            color: false,
            show_pass: false,
            width: Some(100),
        }
    }
}

/// `color` only when writing to a terminal; files and pipes get plain text.
pub fn render(report: &Report, color: bool) -> String {
    render_with(
        report,
        &TableOptions {
            color,
            ..TableOptions::default()
        },
    )
}

pub fn render_with(report: &Report, o: &TableOptions) -> String {
    let mut out = String::new();
    header(&mut out, report);
    by_scenario(&mut out, report);
    by_replication(&mut out, report);
    problems(&mut out, report, o);
    skips(&mut out, report, o);
    notices(&mut out, report);
    if o.show_pass {
        passes(&mut out, report, o);
    }
    summary(&mut out, report, o);
    out
}

fn header(out: &mut String, report: &Report) {
    out.push_str(&format!(
        "replaudit {} — {} (state collected {})\n",
        report.tool_version,
        report.spec_name,
        report.collected_at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    // A stopped run says so before any row: a table of passes above must not read as green.
    if !report.run.is_completed() {
        out.push_str(&format!("RUN {}\n", run_line(report)));
    }
}

/// One line per scenario: its counts, and the rules that did not pass.
fn by_scenario(out: &mut String, report: &Report) {
    out.push('\n');
    for l in super::scenario_summary(&report.findings) {
        let c = l.counts;
        let mut line = format!(
            "{} — {}: {} pass, {} fail, {} error, {} skip",
            l.scenario,
            l.scenario.description(),
            c.pass,
            c.fail,
            c.error,
            c.skip
        );
        if !l.not_passing.is_empty() {
            line.push_str(&format!(" (not passing: {})", l.not_passing.join(", ")));
        }
        out.push_str(&line);
        out.push('\n');
    }
}

/// One line per replication rule (source -> destination), worst first, before any finding:
/// with dozens of pairs the reader first needs to know which pair is in trouble.
fn by_replication(out: &mut String, report: &Report) {
    if report.replications.is_empty() {
        return;
    }
    out.push_str(&format!(
        "\nReplications ({}, worst first):\n",
        report.replications.len()
    ));
    for l in &report.replications {
        let mut line = format!(
            "{:<5} {} -> {} (replication {}, rule {}): {} pass, {} fail, {} error, {} skip",
            l.worst.as_str().to_uppercase(),
            l.of.source,
            l.of.destination,
            l.of.replication,
            l.of.rule,
            l.pass,
            l.fail,
            l.error,
            l.skip
        );
        if !l.not_passing.is_empty() {
            line.push_str(&format!(" (not passing: {})", l.not_passing.join(", ")));
        }
        out.push_str(&line);
        out.push('\n');
    }
}

fn status_cell(f: &Finding, color: bool) -> Cell {
    let mut word = f.status.as_str().to_uppercase();
    if f.muted.is_some() {
        word.push_str(" (muted)");
    }
    let c = Cell::new(word);
    if !color {
        return c;
    }
    c.fg(match f.status {
        Status::Pass => Color::Green,
        Status::Fail => Color::Red,
        Status::Error => Color::Magenta,
        Status::Skip => Color::Yellow,
    })
}

fn new_table(o: &TableOptions, header: Vec<&str>) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    // With no width given, comfy-table asks the terminal.
    if let Some(w) = o.width {
        t.set_width(w.max(40));
        if !o.color {
            t.force_no_tty();
        }
    }
    t
}

/// Failures and errors first, errors (what could not be seen) before failures, the most severe
/// first, each with its message, spec line and mute.
fn problems(out: &mut String, report: &Report, o: &TableOptions) {
    let mut bad: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Error))
        .collect();
    if bad.is_empty() {
        return;
    }
    bad.sort_by(|a, b| {
        (b.status == Status::Error, b.severity, a.scenario).cmp(&(
            a.status == Status::Error,
            a.severity,
            b.scenario,
        ))
    });
    let mut t = new_table(o, vec!["status", "severity", "rule", "what"]);
    for f in &bad {
        let mut what = format!("{}\n{}", f.resource, f.message);
        if let Some(l) = &f.location {
            what.push_str(&format!("\nspec: {l}"));
        }
        if let Some(m) = &f.muted {
            what.push_str(&format!("\nmuted: {}", m.reason));
        }
        t.add_row(vec![
            status_cell(f, o.color),
            Cell::new(f.severity.as_str()),
            Cell::new(format!("{}\n({})", f.id, f.scenario)),
            Cell::new(what),
        ]);
    }
    out.push_str(&format!("\nNot passing ({}):\n{t}\n", bad.len()));
}

fn skips(out: &mut String, report: &Report, o: &TableOptions) {
    let skipped: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Skip)
        .collect();
    if skipped.is_empty() {
        return;
    }
    out.push_str(&format!("\nSkipped ({}):\n", skipped.len()));
    let width = o.width.unwrap_or(120).max(40) as usize;
    for f in skipped {
        let line = format!("  {} [{}] {}", f.id, f.scenario, f.message);
        out.push_str(&truncate(&line, width));
        out.push('\n');
    }
}

fn notices(out: &mut String, report: &Report) {
    if report.notices.is_empty() {
        return;
    }
    out.push_str("\nNotices:\n");
    for n in &report.notices {
        out.push_str(&format!("  {n}\n"));
    }
}

/// Every passing finding, one table per scenario (`--show pass`).
fn passes(out: &mut String, report: &Report, o: &TableOptions) {
    for scenario in Scenario::ALL {
        let rows: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.scenario == scenario && f.status == Status::Pass)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let mut t = new_table(o, vec!["status", "rule", "resource", "message"]);
        for f in rows {
            t.add_row(vec![
                status_cell(f, o.color),
                Cell::new(&f.id),
                Cell::new(&f.resource),
                Cell::new(&f.message),
            ]);
        }
        out.push_str(&format!(
            "\nPassed in {} — {}:\n{t}\n",
            scenario,
            scenario.description()
        ));
    }
}

fn summary(out: &mut String, report: &Report, o: &TableOptions) {
    let s = &report.summary;
    let verdict = match report.run.status {
        RunEnd::Completed if s.is_clean() => "PASSED".to_string(),
        RunEnd::Completed => "FAILED (fail or error findings present)".to_string(),
        _ => run_line(report),
    };
    if !o.show_pass && s.pass > 0 {
        out.push_str(&format!(
            "\n{} passing findings not listed (--show pass lists them).\n",
            s.pass
        ));
    }
    out.push_str(&format!(
        "\nSummary: {} findings — {}. {}\n",
        report.findings.len(),
        s,
        verdict
    ));
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// "INTERRUPTED by SIGINT: <reason> — not a pass" for a run that did not complete.
fn run_line(report: &Report) -> String {
    let r = &report.run;
    match &r.reason {
        Some(why) => format!("{}: {why} — not a pass", r.headline()),
        None => format!("{} — not a pass", r.headline()),
    }
}
