//! `--rules` / `--skip-rules`: which rules' findings a run reports (ids or globs, as Prowler's
//! `--checks` / `--excluded-checks` and Checkov's `--check` / `--skip-check`).
//!
//! Rules are pure and cheap, so every rule runs and the selection filters findings: a
//! selected rule reads exactly the state it would read in a full run.

use crate::findings::Finding;
use wildmatch::WildMatch;

/// A checked selection: every pattern names at least one known rule.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    only: Vec<String>,
    skip: Vec<String>,
}

/// A `--rules` / `--skip-rules` pattern that matches no rule (a typo must not pass for a green
/// run).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {pattern}: no rule matches (see `replaudit rules`)")]
pub struct UnknownRule {
    pub flag: &'static str,
    pub pattern: String,
}

impl Selection {
    /// `known` are the rule ids that exist; a pattern matching none of them is a typo, and a
    /// typo in `--skip-rules` silently skipping nothing (or in `--rules` selecting nothing)
    /// must not pass for a green run.
    pub fn new(only: &[String], skip: &[String], known: &[&str]) -> Result<Selection, UnknownRule> {
        for (flag, pats) in [("--rules", only), ("--skip-rules", skip)] {
            for p in pats {
                let w = WildMatch::new(p);
                if !known.iter().any(|id| w.matches(id)) {
                    return Err(UnknownRule {
                        flag,
                        pattern: p.clone(),
                    });
                }
            }
        }
        Ok(Selection {
            only: only.to_vec(),
            skip: skip.to_vec(),
        })
    }

    pub fn includes(&self, rule_id: &str) -> bool {
        let m = |pats: &[String]| pats.iter().any(|p| WildMatch::new(p).matches(rule_id));
        (self.only.is_empty() || m(&self.only)) && !m(&self.skip)
    }

    pub fn apply(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter(|f| self.includes(&f.id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_globs_select_and_skip() {
        let known = [
            "bucket-versioning",
            "bucket-tls-only",
            "role-trust",
            "canary-write",
        ];
        let s = Selection::new(
            &["bucket-*".into(), "role-trust".into()],
            &["bucket-tls-only".into()],
            &known,
        )
        .unwrap();
        assert!(s.includes("bucket-versioning"));
        assert!(!s.includes("bucket-tls-only"));
        assert!(s.includes("role-trust"));
        assert!(!s.includes("canary-write"));
        assert!(Selection::new(&[], &[], &known)
            .unwrap()
            .includes("canary-write"));
        let e = Selection::new(&["buckt-*".into()], &[], &known)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--rules buckt-*: no rule matches"), "{e}");
    }
}
