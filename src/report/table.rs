//! The terminal table: findings grouped by scenario, then a summary line.

use crate::findings::{Report, RunEnd, Scenario, Status};
use comfy_table::{presets, Cell, Color, ContentArrangement, Table};

/// `color` only when writing to a terminal; files and pipes get plain text.
pub fn render(report: &Report, color: bool) -> String {
    let mut out = String::new();
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
    for scenario in Scenario::ALL {
        let rows: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.scenario == scenario)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let mut t = Table::new();
        t.load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(140)
            .set_header(vec!["status", "rule", "severity", "resource", "message"]);
        if !color {
            t.force_no_tty();
        }
        for f in rows {
            let mut status = Cell::new(f.status.as_str().to_uppercase());
            if color {
                status = status.fg(match f.status {
                    Status::Pass => Color::Green,
                    Status::Fail => Color::Red,
                    Status::Error => Color::Magenta,
                    Status::Skip => Color::Yellow,
                });
            }
            t.add_row(vec![
                status,
                Cell::new(&f.id),
                Cell::new(f.severity.as_str()),
                Cell::new(&f.resource),
                Cell::new(&f.message),
            ]);
        }
        out.push_str(&format!("\n{} — {}\n", scenario, scenario.description()));
        out.push_str(&t.to_string());
        out.push('\n');
    }
    let s = &report.summary;
    let verdict = match report.run.status {
        RunEnd::Completed if s.is_clean() => "PASSED".to_string(),
        RunEnd::Completed => "FAILED (fail or error findings present)".to_string(),
        _ => run_line(report),
    };
    out.push_str(&format!(
        "\nSummary: {} findings — {}. {}\n",
        report.findings.len(),
        s,
        verdict
    ));
    out
}

/// "INTERRUPTED by SIGINT: <reason> — not a pass" for a run that did not complete.
fn run_line(report: &Report) -> String {
    let r = &report.run;
    match &r.reason {
        Some(why) => format!("{}: {why} — not a pass", r.headline()),
        None => format!("{} — not a pass", r.headline()),
    }
}
