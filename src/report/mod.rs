//! Renderers of one [`Report`](crate::findings::Report): terminal table, JSON, JUnit XML.
//! They only format; every verdict is decided before a report is rendered.

pub mod json;
pub mod junit;
pub mod table;

use crate::findings::Report;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Junit,
}

impl Format {
    fn extension(&self) -> &'static str {
        match self {
            Format::Table => "txt",
            Format::Json => "json",
            Format::Junit => "xml",
        }
    }

    pub fn render(&self, report: &Report) -> Result<String, String> {
        match self {
            Format::Table => Ok(table::render(report, false)),
            Format::Json => json::render(report),
            Format::Junit => junit::render(report),
        }
    }
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
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create output directory {}: {e}", dir.display()))?;
    let stamp = report.generated_at.format("%Y%m%dT%H%M%SZ");
    let mut written = Vec::new();
    for f in formats {
        let body = f.render(report)?;
        let ext = f.extension();
        let stamped = dir.join(format!("{stem}-{stamp}.{ext}"));
        std::fs::write(&stamped, &body)
            .map_err(|e| format!("cannot write {}: {e}", stamped.display()))?;
        let latest = dir.join(format!("{stem}-latest.{ext}"));
        let tmp = dir.join(format!(".{stem}-latest.{ext}.tmp"));
        std::fs::write(&tmp, &body).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &latest)
            .map_err(|e| format!("cannot write {}: {e}", latest.display()))?;
        written.push(stamped);
        written.push(latest);
    }
    Ok(written)
}
