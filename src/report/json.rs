//! The JSON report: the stable contract other tools read (`schema_version` 1).

use crate::findings::Report;

pub fn render(report: &Report) -> Result<String, String> {
    serde_json::to_string_pretty(report)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| format!("cannot serialise report: {e}"))
}
