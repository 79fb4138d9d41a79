//! The list of rules, in report order.

use super::*;
use crate::findings::{Finding, Status};

static RULES: &[&dyn Rule] = &[
    &bucket_location::BucketLocation,
    &bucket_public_access_block::BucketPublicAccessBlock,
    &account_public_access_block::AccountPublicAccessBlock,
    &bucket_default_encryption::BucketDefaultEncryption,
    &bucket_object_ownership::BucketObjectOwnership,
    &bucket_tls_only::BucketTlsOnly,
    &role_exists::RoleExists,
    &role_trust::RoleTrust,
    &role_source_permissions::RoleSourcePermissions,
    &role_destination_permissions::RoleDestinationPermissions,
    &role_least_privilege::RoleLeastPrivilege,
    &bucket_versioning::BucketVersioning,
    &replication_configured::ReplicationConfigured,
    &replication_role_matches::ReplicationRoleMatches,
    &replication_rule_enabled::ReplicationRuleEnabled,
    &replication_filter::ReplicationFilter,
    &replication_unexpected_rules::ReplicationUnexpectedRules,
    &replication_destination::ReplicationDestination,
    &replication_owner_override::ReplicationOwnerOverride,
    &replication_rtc::ReplicationRtc,
    &replication_delete_markers::ReplicationDeleteMarkers,
    &destination_policy_allows_role::DestinationPolicyAllowsRole,
    &access_expectation::AccessExpectation,
    &bucket_policy_grantees::BucketPolicyGrantees,
    &who_can::WhoCanRule,
    &replication_kms::ReplicationKms,
    &replication_kms_permissions::ReplicationKmsPermissions,
    &encrypted_replica_readable::EncryptedReplicaReadable,
    &prefix_scope::PrefixScope,
    &uploader_restriction::UploaderRestriction,
    &log_export_permissions::LogExportPermissions,
    &replication_metrics::ReplicationMetrics,
    &trail_data_events::TrailDataEvents,
    &config_recorder::ConfigRecorder,
    &config_rule_agreement::ConfigRuleAgreement,
];

pub fn all_rules() -> &'static [&'static dyn Rule] {
    RULES
}

/// Metadata of every rule, including those that run after the others and the canary's checks.
pub fn all_metas() -> Vec<&'static RuleMeta> {
    let mut v: Vec<&'static RuleMeta> = RULES.iter().map(|r| r.meta()).collect();
    v.push(&change_history::META);
    v.extend(crate::catalogue::canary::ALL.iter().copied());
    v.extend(crate::catalogue::reconcile::ALL.iter().copied());
    v
}

pub fn find_rule(id: &str) -> Option<&'static RuleMeta> {
    all_metas().into_iter().find(|m| m.id == id)
}

/// Run every rule. A rule that panics (a bug) becomes an `error` finding for that rule rather
/// than taking the audit down: the other rules' verdicts are still worth reporting.
pub fn run_all(cx: &AuditContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for rule in RULES {
        out.extend(guarded(rule.meta(), || rule.check(cx)));
    }
    let later = guarded(&change_history::META, || {
        change_history::check_after(cx, &out)
    });
    out.extend(later);
    out
}

fn guarded(meta: &'static RuleMeta, f: impl FnOnce() -> Vec<Finding>) -> Vec<Finding> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(findings) => findings,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let scenario = meta
                .scenarios
                .first()
                .copied()
                .unwrap_or(crate::findings::Scenario::Step1);
            vec![meta.finding(
                scenario,
                Status::Error,
                "-",
                format!("internal error in rule {}: {msg} (please report)", meta.id),
                serde_json::json!({ "panic": msg }),
            )]
        }
    }
}

/// Registry invariants: what keeps the catalogue, the rule files and the documentation in step.
#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    /// Helper modules of `src/rules`: shared code the rules call, not rules. Listed one by one
    /// so that a new file is a rule (and must be registered) unless it is added here on purpose.
    const HELPERS: &[&str] = &[
        "mod",
        "registry",
        "support",
        "verdict",
        "context",
        "kms_support",
    ];

    /// Files of `src/rules` that are not rules: the helpers and the test kit.
    const NOT_RULES: &[&str] = &[
        "mod",
        "registry",
        "support",
        "verdict",
        "context",
        "kms_support",
        "testkit",
    ];

    #[test]
    fn not_rules_are_the_helpers_and_the_testkit() {
        let mut v = HELPERS.to_vec();
        v.push("testkit");
        assert_eq!(v, NOT_RULES);
        for h in NOT_RULES {
            assert!(
                rules_dir().join(format!("{h}.rs")).exists(),
                "{h}.rs is listed as a helper but does not exist"
            );
        }
    }

    fn rules_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules")
    }

    /// `(file stem, text)` of every rule file.
    fn rule_files() -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = std::fs::read_dir(rules_dir())
            .expect("src/rules")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .map(|p| {
                let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
                (stem, std::fs::read_to_string(&p).expect("read rule file"))
            })
            .filter(|(stem, _)| !NOT_RULES.contains(&stem.as_str()))
            .collect();
        v.sort();
        v
    }

    /// Every rule that runs: the registry plus the one that runs after the others.
    fn rule_metas() -> Vec<&'static RuleMeta> {
        let mut v: Vec<_> = all_rules().iter().map(|r| r.meta()).collect();
        v.push(&change_history::META);
        v
    }

    /// The code of a source file without its test module.
    fn non_test(text: &str) -> &str {
        text.split("#[cfg(test)]").next().unwrap_or(text)
    }

    #[test]
    fn every_rule_file_is_a_registered_rule_whose_id_is_its_file_name() {
        let registered: BTreeSet<&str> = rule_metas()
            .iter()
            .map(|m| m.module.rsplit("::").next().unwrap())
            .collect();
        let files: BTreeSet<String> = rule_files().into_iter().map(|(s, _)| s).collect();
        let files: BTreeSet<&str> = files.iter().map(String::as_str).collect();
        assert_eq!(
            files, registered,
            "rule files and registered rules differ (add the rule to RULES in registry.rs)"
        );
        for m in rule_metas() {
            let module = m.module.rsplit("::").next().unwrap();
            assert_eq!(
                m.id,
                module.replace('_', "-"),
                "rule id must be its file name"
            );
            assert!(m.module.starts_with("replaudit::rules::"), "{}", m.module);
        }
    }

    #[test]
    fn ids_are_unique_and_canary_checks_live_in_the_catalogue() {
        let mut seen = BTreeSet::new();
        for m in all_metas() {
            assert!(seen.insert(m.id), "duplicate id {}", m.id);
        }
        for m in crate::catalogue::canary::ALL {
            assert!(m.id.starts_with("canary-"), "{}", m.id);
            assert_eq!(m.module, "replaudit::catalogue::canary");
            assert!(find_rule(m.id).is_some(), "rules --explain {} works", m.id);
        }
        for m in crate::catalogue::reconcile::ALL {
            assert!(m.id.starts_with("reconcile-"), "{}", m.id);
            assert_eq!(m.module, "replaudit::catalogue::reconcile");
            assert!(find_rule(m.id).is_some(), "rules --explain {} works", m.id);
        }
        assert_eq!(
            all_metas().len(),
            rule_metas().len()
                + crate::catalogue::canary::ALL.len()
                + crate::catalogue::reconcile::ALL.len()
        );
        for m in all_metas() {
            assert!(
                std::ptr::eq(find_rule(m.id).unwrap(), m),
                "find_rule({})",
                m.id
            );
        }
        assert!(find_rule("no-such-rule").is_none());
    }

    #[test]
    fn every_check_is_documented() {
        for m in all_metas() {
            assert!(!m.title.is_empty(), "{} has a title", m.id);
            assert!(m.doc.trim().len() > 40, "{} has a doc comment", m.id);
            assert!(!m.remediation.is_empty(), "{} has a remediation", m.id);
            assert!(!m.scenarios.is_empty(), "{} belongs to a scenario", m.id);
            assert!(
                !m.references.is_empty() && m.references.iter().all(|r| r.starts_with("https://")),
                "{} cites https references",
                m.id
            );
        }
    }

    /// Partition fidelity, as a differential test: the seed moved to `aws-cn` (Regions and
    /// ARNs, spec and snapshot alike) must be judged exactly as the seed, rule by rule and
    /// resource by resource. A rule that writes `arn:aws:` where it should use the bucket's or
    /// the account's partition asks about resources that do not exist in China, and its verdict
    /// changes here. ARN partitions: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html
    #[test]
    fn the_seed_moved_to_the_china_partition_is_judged_as_the_seed() {
        use crate::rules::testkit::{seed, seed_in_china};
        let verdicts = |f: crate::rules::testkit::Fixture, china: bool| {
            let cx = AuditContext::new(&f.spec, &f.snap);
            let mut v: Vec<String> = run_all(&cx)
                .iter()
                .map(|x| {
                    let resource = if china {
                        x.resource
                            .replace("arn:aws-cn:", "arn:aws:")
                            .replace("cn-northwest-1", "ap-southeast-2")
                            .replace("cn-north-1", "ap-southeast-1")
                    } else {
                        x.resource.clone()
                    };
                    format!("{} {} {:?}", x.id, resource, x.status)
                })
                .collect();
            v.sort();
            v
        };
        let (home, china) = (verdicts(seed(), false), verdicts(seed_in_china(), true));
        assert!(home.len() > 50, "{home:?}");
        let only_home: Vec<_> = home.iter().filter(|v| !china.contains(v)).collect();
        let only_china: Vec<_> = china.iter().filter(|v| !home.contains(v)).collect();
        assert!(
            only_home.is_empty() && only_china.is_empty(),
            "verdicts that change with the partition:\n  seed: {only_home:#?}\n  aws-cn: {only_china:#?}"
        );
    }

    #[test]
    fn every_rule_file_has_offline_tests_on_the_seed_fixture() {
        for (stem, text) in rule_files() {
            let tests = text.split_once("#[cfg(test)]").map_or("", |(_, t)| t);
            assert!(
                tests.contains("seed()") || tests.contains("seed_with_spec("),
                "src/rules/{stem}.rs has no offline tests on the seed fixture"
            );
            for status in ["Status::Pass", "Status::Fail"] {
                assert!(
                    tests.contains(status),
                    "src/rules/{stem}.rs tests never assert {status}"
                );
            }
        }
    }

    /// Rules refer to each other through their `META` (a typo is then a compile error), never
    /// by an id string.
    #[test]
    fn no_rule_names_another_rule_by_string() {
        let ids: Vec<&str> = all_metas().iter().map(|m| m.id).collect();
        let mut offenders = Vec::new();
        for (stem, text) in rule_files().into_iter().chain(HELPERS.iter().map(|s| {
            let t = std::fs::read_to_string(rules_dir().join(format!("{s}.rs"))).unwrap();
            (s.to_string(), t)
        })) {
            for (n, line) in non_test(&text).lines().enumerate() {
                let code = line.trim_start();
                // `support` names the checks that report what it skips by id (to import no
                // rule); its own test holds each of those constants equal to the rule's META.
                if code.starts_with("//")
                    || code.starts_with("id: \"")
                    || code.starts_with("const REPORTED_BY_")
                {
                    continue;
                }
                for lit in code.split('"').skip(1).step_by(2) {
                    // A documentation URL may share words with an id (…/replication-metrics.html).
                    if lit.starts_with("https://") || lit.starts_with("http://") {
                        continue;
                    }
                    for id in &ids {
                        let hit = lit.match_indices(id).any(|(i, _)| {
                            let before = lit[..i].chars().last();
                            let after = lit[i + id.len()..].chars().next();
                            // `replaudit who-can` names the subcommand, not the rule.
                            let command = lit[..i].ends_with("replaudit ");
                            !command
                                && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
                                && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
                        });
                        if hit {
                            offenders.push(format!("src/rules/{stem}.rs:{}: {id}", n + 1));
                        }
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "rule ids in string literals (use the rule's META instead):\n{}",
            offenders.join("\n")
        );
    }

    /// Ids that prose elsewhere points readers to ("reported by X", "see X", "--explain X",
    /// the README's rule table) exist.
    #[test]
    fn every_rule_id_mentioned_elsewhere_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = vec![(
            "README.md".to_string(),
            std::fs::read_to_string(root.join("README.md")).unwrap(),
        )];
        let mut stack = vec![root.join("src")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let rel = p.strip_prefix(root).unwrap().display().to_string();
                    texts.push((rel, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        let known: BTreeSet<&str> = all_metas().iter().map(|m| m.id).collect();
        let mut unknown = Vec::new();
        for (file, text) in &texts {
            for marker in ["reported by ", "(see ", "--explain "] {
                for (i, _) in text.match_indices(marker) {
                    let rest = &text[i + marker.len()..];
                    let word: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                        .collect();
                    if word.contains('-') && !known.contains(word.as_str()) {
                        unknown.push(format!("{file}: {marker}{word}"));
                    }
                }
            }
        }
        assert!(
            unknown.is_empty(),
            "unknown rule ids:\n{}",
            unknown.join("\n")
        );
    }

    #[test]
    fn the_seed_audits_clean_offline_with_every_rule_reporting() {
        let f = crate::rules::testkit::seed();
        let out = run_all(&AuditContext::new(&f.spec, &f.snap));
        for m in rule_metas() {
            assert!(
                out.iter().any(|x| x.id == m.id),
                "{} reported nothing",
                m.id
            );
        }
        let bad: Vec<String> = out
            .iter()
            .filter(|x| matches!(x.status, Status::Fail | Status::Error))
            .map(|x| format!("{} {} {}: {}", x.status, x.id, x.resource, x.message))
            .collect();
        assert!(
            bad.is_empty(),
            "the seed fixture is a correct set-up:\n{}",
            bad.join("\n")
        );
    }

    #[test]
    fn a_rule_that_panics_is_an_error_finding_not_a_crash() {
        let out = guarded(&role_exists::META, || panic!("boom"));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, Status::Error);
        assert_eq!(out[0].id, "role-exists");
        assert_eq!(
            out[0].message,
            "internal error in rule role-exists: boom (please report)"
        );
        let out = guarded(&role_exists::META, || {
            panic!("{}", String::from("formatted"))
        });
        assert!(out[0].message.contains("formatted"));
        assert!(guarded(&role_exists::META, Vec::new).is_empty());
    }

    #[test]
    fn the_readme_rule_table_lists_exactly_the_rules() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        let section = readme
            .split("\n## Rules\n")
            .nth(1)
            .expect("README has a Rules section");
        let section = section.split("\n## ").next().unwrap();
        let listed: BTreeSet<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| "))
            .filter_map(|l| l.split(" |").next())
            .filter(|id| *id != "id" && !id.starts_with('-'))
            .collect();
        let rules: BTreeSet<&str> = rule_metas().iter().map(|m| m.id).collect();
        assert_eq!(listed, rules, "README's rule table and the registry differ");
    }

    /// `docs/conditions.md` lists, per rule, the conditions that change its verdict with a
    /// failing and a passing test each (principle 3). The list cannot rot: every rule has a
    /// section, every section is a rule, every row names a fail and a pass test, and every
    /// test it names is a `fn` in that rule's file.
    #[test]
    fn every_rule_has_its_conditions_listed_with_tests_that_exist() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/conditions.md");
        let doc = std::fs::read_to_string(&path).expect("docs/conditions.md");
        let files: std::collections::BTreeMap<String, String> = rule_files().into_iter().collect();
        let mut sections: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
        let mut current: Option<String> = None;
        for line in doc.lines() {
            if let Some(id) = line.strip_prefix("## ") {
                current = Some(id.trim().to_string());
                assert!(
                    sections.insert(id.trim().to_string(), vec![]).is_none(),
                    "docs/conditions.md: section {id} twice"
                );
            } else if let (Some(id), true) = (&current, line.starts_with('|')) {
                sections.get_mut(id).unwrap().push(line);
            }
        }
        let ids: Vec<&str> = rule_metas().iter().map(|m| m.id).collect();
        for id in &ids {
            assert!(
                sections.contains_key(*id),
                "docs/conditions.md has no section '## {id}'"
            );
        }
        for (id, rows) in &sections {
            assert!(
                ids.contains(&id.as_str()),
                "docs/conditions.md: '{id}' is no rule"
            );
            let stem = id.replace('-', "_");
            let text = &files[&stem];
            // Header and separator, then at least one condition.
            assert!(
                rows.len() > 2,
                "docs/conditions.md: '{id}' lists no condition"
            );
            for row in &rows[2..] {
                let cells: Vec<&str> = row.trim_matches('|').split('|').collect();
                assert_eq!(cells.len(), 4, "docs/conditions.md '{id}': {row}");
                // A row about the audit's own handling of unread data says so instead.
                assert!(
                    cells[1].contains("https://docs.aws.amazon.com/")
                        || cells[1].trim_start().starts_with("replaudit:"),
                    "docs/conditions.md '{id}': no AWS documentation link in {row}"
                );
                for cell in &cells[2..] {
                    let names: Vec<&str> = cell.split('`').skip(1).step_by(2).collect();
                    assert!(
                        !names.is_empty(),
                        "docs/conditions.md '{id}': a row without a fail and a pass test: {row}"
                    );
                    for name in names {
                        assert!(
                            text.contains(&format!("fn {name}()")),
                            "docs/conditions.md '{id}': no test fn {name}() in src/rules/{stem}.rs"
                        );
                    }
                }
            }
        }
    }
}
