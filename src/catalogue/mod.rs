//! The catalogue: the metadata of every check replaudit reports — the pure rules
//! (`src/rules`) and the canary's checks ([`canary`]) — declared the same way.
//!
//! It is a leaf of the crate (it depends only on [`crate::findings`]), so that the pure rule
//! layer and the canary, which writes to AWS, share one description of their checks without
//! the rules depending on the canary. Every entry is declared with [`declare_rule!`]: its doc
//! comment is written once and serves both rustdoc and `replaudit rules --explain`.

/// Declares a check's metadata with its doc comment as the documentation.
///
/// Two forms, one grammar:
/// - `pub struct Name;` — a rule: declares the rule's struct (carrying the doc comment) and the
///   module's `META` (one rule a file);
/// - `pub static NAME;` — a check that is not a rule type (the canary's): declares the static
///   `NAME` itself, so several checks can live in one file.
///
/// Defined before the modules that use it (`#[macro_use]` in `lib.rs`), so rule files call it
/// without an import.
macro_rules! declare_rule {
    (
        $(#[doc = $doc:literal])*
        pub struct $name:ident;
        $($fields:tt)*
    ) => {
        $(#[doc = $doc])*
        pub struct $name;

        pub static META: $crate::catalogue::RuleMeta = declare_rule!(@meta [$($doc)*] $($fields)*);

        impl $crate::catalogue::Declared for $name {
            fn meta(&self) -> &'static $crate::catalogue::RuleMeta {
                &META
            }
        }
    };
    (
        $(#[doc = $doc:literal])*
        pub static $name:ident;
        $($fields:tt)*
    ) => {
        $(#[doc = $doc])*
        pub static $name: $crate::catalogue::RuleMeta = declare_rule!(@meta [$($doc)*] $($fields)*);
    };
    (
        @meta [$($doc:literal)*]
        id: $id:literal,
        title: $title:literal,
        severity: $sev:ident,
        scenarios: [$($sc:ident),* $(,)?],
        remediation: $rem:literal,
        references: [$($r:literal),* $(,)?] $(,)?
    ) => {
        $crate::catalogue::RuleMeta {
            id: $id,
            module: module_path!(),
            title: $title,
            severity: $crate::findings::Severity::$sev,
            scenarios: &[$($crate::findings::Scenario::$sc),*],
            doc: concat!($($doc, "\n"),*),
            remediation: $rem,
            references: &[$($r),*],
        }
    };
}

// After the macro: textual scope.
pub mod canary;
pub mod reconcile;

use crate::findings::{Finding, Scenario, Severity, Status};

/// A check declared with `declare_rule!`: the macro writes this beside the check's `META`, so
/// no check writes its `fn meta` by hand (and none can return another check's metadata).
pub trait Declared {
    fn meta(&self) -> &'static RuleMeta;
}

/// Static metadata of a check: what reports show beside every finding it produces.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable id; never reused for another meaning. A rule's id is its file name.
    pub id: &'static str,
    /// Where it is declared (`module_path!()`), so tests can hold ids to file names.
    pub module: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub scenarios: &'static [Scenario],
    /// The check's documentation (its doc comment, included as text).
    pub doc: &'static str,
    pub remediation: &'static str,
    pub references: &'static [&'static str],
}

impl RuleMeta {
    pub fn finding(
        &'static self,
        scenario: Scenario,
        status: Status,
        resource: impl Into<String>,
        message: impl Into<String>,
        evidence: serde_json::Value,
    ) -> Finding {
        Finding {
            id: self.id.to_string(),
            title: self.title.to_string(),
            scenario,
            status,
            severity: self.severity,
            resource: resource.into(),
            message: message.into(),
            evidence,
            remediation: self.remediation.to_string(),
            references: self.references.iter().map(|s| s.to_string()).collect(),
            duration_secs: None,
            location: None,
            muted: None,
            replications: vec![],
            replication_set: None,
        }
    }
}
