//! `replaudit rules`: the catalogue of checks, as a table or JSON, or one check's documentation.

use crate::cli::{RulesArgs, TableOrJson};
use crate::report;
use crate::rules;
use crate::run::{emit, table_width, Fatal, Outcome};
use std::io::IsTerminal;

pub struct RulesSettings {
    /// `--explain ID`: one rule's documentation instead of the list.
    pub explain: Option<String>,
    pub format: TableOrJson,
}

impl From<&RulesArgs> for RulesSettings {
    fn from(a: &RulesArgs) -> Self {
        RulesSettings {
            explain: a.explain.clone(),
            format: a.format,
        }
    }
}

pub fn run(s: &RulesSettings) -> Outcome {
    match &s.explain {
        Some(id) => {
            let m = rules::find_rule(id).ok_or_else(|| Fatal(format!("no rule '{id}'")))?;
            let out = report::explain(m);
            emit(&out)?;
        }
        None if s.format == TableOrJson::Json => {
            let list: Vec<serde_json::Value> = rules::all_metas()
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": m.id,
                        "title": m.title,
                        "severity": m.severity,
                        "scenarios": m.scenarios,
                        "remediation": m.remediation,
                        "references": m.references,
                    })
                })
                .collect();
            emit(&format!("{}\n", serde_json::to_string_pretty(&list)?))?;
        }
        None => {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
            // Wrapped to COLUMNS or the terminal (was a fixed ~164 columns).
            if let Some(w) = table_width(std::io::stdout().is_terminal()) {
                t.set_width(w).force_no_tty();
            }
            t.set_header(vec!["id", "severity", "scenarios", "title"]);
            for m in rules::all_metas() {
                t.add_row(vec![
                    m.id.to_string(),
                    m.severity.to_string(),
                    m.scenarios
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    m.title.to_string(),
                ]);
            }
            emit(&format!("{t}\n"))?;
        }
    }
    Ok(0)
}
