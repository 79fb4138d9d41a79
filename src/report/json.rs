//! The JSON report: the stable contract other tools read (`schema_version` 1).

use crate::findings::Report;

pub fn render(report: &Report) -> Result<String, super::Error> {
    serde_json::to_string_pretty(report)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(super::Error::Json)
}
