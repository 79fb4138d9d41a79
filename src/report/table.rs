//! The terminal table: findings grouped by scenario, then a summary line.

use crate::findings::{Report, Scenario, Status};
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
    out.push_str(&format!(
        "\nSummary: {} findings — {}. {}\n",
        report.findings.len(),
        s,
        if s.is_clean() {
            "PASSED"
        } else {
            "FAILED (fail or error findings present)"
        }
    ));
    out
}
