//! Which replication rules of the spec each finding bears on.
//!
//! Rules report resources (bucket and object ARNs, `s3://` URLs, role and key ARNs), not spec
//! replications; this maps them back once, after the rules ran, so that no rule has to carry
//! the replication it is about and every report can summarise by replication before listing
//! findings (see [`crate::findings::replication_summary`]). A finding bears on a replication
//! rule when it is about:
//! - the source bucket (or an object in it): every rule of that replication, unless its message
//!   names one of them (`rule 'ID': ...`, the convention the replication checks follow);
//! - the rule's destination bucket (or an object in it);
//! - the replication's role, or the rule's replica KMS key.
//!
//! Account-level findings (Block Public Access of an account, AWS Config) and who-can
//! expectations bear on no single replication and stay out of the per-replication lines.

use crate::arn::Arn;
use crate::findings::{Finding, ReplicationRef};
use crate::spec::Spec;
use std::collections::HashMap;

/// What identifies one spec replication rule in a finding.
struct Line {
    of: ReplicationRef,
    role_arn: Option<String>,
    replica_key: Option<String>,
    /// The spec rule ids of the same replication (to tell whether a message names one).
    siblings: Vec<String>,
}

fn lines(spec: &Spec) -> Vec<Line> {
    let mut out = Vec::new();
    for r in &spec.replication {
        let refs = crate::rules::replication_refs(spec, r);
        let siblings: Vec<String> = refs.iter().map(|x| x.rule.clone()).collect();
        let role_arn = spec
            .principals
            .get(r.role.get_ref())
            .map(|p| p.arn.get_ref().clone());
        for (of, rule) in refs.into_iter().zip(&r.rules) {
            out.push(Line {
                of,
                role_arn: role_arn.clone(),
                replica_key: rule
                    .replica_kms_key_arn
                    .as_ref()
                    .map(|k| k.get_ref().clone()),
                siblings: siblings.clone(),
            });
        }
    }
    out
}

/// The bucket an S3 ARN (any partition) or `s3://` URL names.
fn bucket_of(resource: &str) -> Option<&str> {
    let rest = match resource.strip_prefix("s3://") {
        Some(r) => r,
        // region and account are empty in S3 ARNs: `arn:aws:s3:::name/key`.
        None => Arn::split(resource).filter(|a| a.service == "s3")?.resource,
    };
    rest.split(['/', ' ']).next().filter(|n| !n.is_empty())
}

/// The replication rule a message names: `rule 'ID': ...`.
fn named_rule(message: &str) -> Option<&str> {
    message
        .split_once("rule '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(id, _)| id)
}

/// The replication rules `f` bears on, in spec order.
pub fn refs_for(spec: &Spec, f: &Finding) -> Vec<ReplicationRef> {
    let lines = lines(spec);
    refs_in(&lines, &Index::new(&lines), f)
}

/// The lines by what names them, so that attributing stays linear in findings (an estate of
/// 2,000 buckets gives some 50,000 findings and 1,000 replication rules).
struct Index<'a> {
    by_source: HashMap<&'a str, Vec<usize>>,
    by_destination: HashMap<&'a str, Vec<usize>>,
    by_arn: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Index<'a> {
    fn new(lines: &'a [Line]) -> Index<'a> {
        let mut ix = Index {
            by_source: HashMap::new(),
            by_destination: HashMap::new(),
            by_arn: HashMap::new(),
        };
        for (i, l) in lines.iter().enumerate() {
            ix.by_source
                .entry(l.of.source.as_str())
                .or_default()
                .push(i);
            ix.by_destination
                .entry(l.of.destination.as_str())
                .or_default()
                .push(i);
            for arn in [&l.role_arn, &l.replica_key].into_iter().flatten() {
                ix.by_arn.entry(arn.as_str()).or_default().push(i);
            }
        }
        ix
    }
}

fn refs_in(lines: &[Line], ix: &Index, f: &Finding) -> Vec<ReplicationRef> {
    let bucket = bucket_of(&f.resource);
    let named = named_rule(&f.message);
    let none = Vec::new();
    let get = |m: &HashMap<&str, Vec<usize>>, k: Option<&str>| -> Vec<usize> {
        k.and_then(|k| m.get(k)).unwrap_or(&none).clone()
    };
    let mut hits: Vec<usize> = Vec::new();
    for i in get(&ix.by_source, bucket) {
        let l = &lines[i];
        // A finding on the source that names one of its replication's rules bears on that rule.
        let hit = match named {
            Some(n) if l.siblings.iter().any(|s| s == n) => l.of.rule == n,
            _ => true,
        };
        if hit {
            hits.push(i);
        }
    }
    hits.extend(get(&ix.by_destination, bucket));
    hits.extend(get(&ix.by_arn, Some(f.resource.as_str())));
    hits.sort_unstable();
    hits.dedup();
    hits.into_iter().map(|i| lines[i].of.clone()).collect()
}

/// Set `replications` on every finding that has none.
pub fn attribute(spec: &Spec, findings: &mut [Finding]) {
    let lines = lines(spec);
    if lines.is_empty() {
        return;
    }
    let ix = Index::new(&lines);
    for f in findings.iter_mut().filter(|f| f.replications.is_empty()) {
        f.replications = refs_in(&lines, &ix, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{replication_summary, Scenario, Severity, Status};
    use std::path::Path;

    /// Issue 22: a role shared by many replications is the common set-up; a finding about one
    /// replication must not name every replication sharing its role, or each finding grows with
    /// the estate and the report with its square. The seed's replications are copied K times
    /// (same role, same buckets, ids of one length) and the per-replication role and key findings
    /// must weigh the same at K = 1 and K = 8.
    #[test]
    fn a_findings_size_does_not_depend_on_how_many_replications_share_its_role() {
        use crate::rules::testkit::seed;
        use crate::rules::Rule;
        let sized = |k: usize| {
            let mut fx = seed();
            let originals = fx.spec.replication.clone();
            for i in 1..k {
                for r in &originals {
                    let mut c = r.clone();
                    c.id = serde_spanned::Spanned::new(0..0, format!("{}-copy{i}", r.id.get_ref()));
                    fx.spec.replication.push(c);
                }
            }
            for r in fx.spec.replication.iter_mut().take(originals.len()) {
                r.id = serde_spanned::Spanned::new(0..0, format!("{}-copy0", r.id.get_ref()));
            }
            let rules: [&dyn Rule; 3] = [
                &crate::rules::role_source_permissions::RoleSourcePermissions,
                &crate::rules::role_destination_permissions::RoleDestinationPermissions,
                &crate::rules::replication_kms_permissions::ReplicationKmsPermissions,
            ];
            let mut out: Vec<Finding> = rules.iter().flat_map(|r| fx.run(*r)).collect();
            attribute(&fx.spec, &mut out);
            let mut biggest = std::collections::BTreeMap::new();
            for f in &out {
                let n = serde_json::to_string(f).unwrap().len();
                let e = biggest.entry(f.id.clone()).or_insert(0);
                *e = (*e).max(n);
                let rules_of_one: usize = originals.iter().map(|r| r.rules.len()).max().unwrap();
                assert!(
                    f.replications.len() <= rules_of_one,
                    "{}: {:?}",
                    f.id,
                    f.replications
                );
            }
            (out.len(), biggest)
        };
        let (n1, one) = sized(1);
        let (n8, eight) = sized(8);
        assert_eq!(n8, 8 * n1, "one finding set per replication");
        assert_eq!(one.len(), 3);
        assert_eq!(
            one, eight,
            "bytes of the largest finding per rule, K = 1 vs K = 8"
        );
    }

    fn f(id: &str, status: Status, resource: &str, message: &str) -> Finding {
        Finding {
            id: id.into(),
            title: "t".into(),
            scenario: Scenario::Step4,
            status,
            severity: Severity::High,
            resource: resource.into(),
            message: message.into(),
            evidence: serde_json::json!({}),
            remediation: String::new(),
            references: vec![],
            duration_secs: None,
            location: None,
            muted: None,
            replications: vec![],
            replication_set: None,
        }
    }

    fn seed() -> crate::spec::LoadedSpec {
        crate::spec::load(Path::new("checks/seed.toml")).expect("seed spec")
    }

    #[test]
    fn buckets_roles_and_named_rules_map_to_their_replication_rules() {
        let spec = seed();
        let all = lines(&spec);
        assert!(all.len() >= 2, "the seed has two replications");
        let incident = all
            .iter()
            .find(|l| l.of.source == "rubes-s3-bucket")
            .expect("seed's incident replication");
        let logs = all
            .iter()
            .find(|l| l.of.source == "xyz-app-logs")
            .expect("seed's logs replication");
        // Source bucket, object in the destination, role, any partition.
        let on_source = f(
            "bucket-versioning",
            Status::Pass,
            "arn:aws:s3:::rubes-s3-bucket",
            "",
        );
        assert!(refs_for(&spec, &on_source).contains(&incident.of));
        assert!(!refs_for(&spec, &on_source).contains(&logs.of));
        let dest = format!("s3://{}/reports/x", incident.of.destination);
        assert_eq!(
            refs_for(
                &spec,
                &f("canary-replication-status", Status::Fail, &dest, "")
            ),
            vec![incident.of.clone()]
        );
        let role = incident.role_arn.clone().unwrap();
        assert!(refs_for(&spec, &f("role-trust", Status::Pass, &role, "")).contains(&incident.of));
        // Account-level findings name no replication.
        assert!(refs_for(
            &spec,
            &f(
                "config-recorder",
                Status::Pass,
                "arn:aws:iam::111122223333:root",
                ""
            )
        )
        .is_empty());
    }

    #[test]
    fn a_message_naming_a_rule_counts_only_on_that_rule() {
        let spec = crate::spec::parse(
            Path::new("two-rules.toml"),
            r#"
version = 1
name = "two rules"
[accounts.a]
account_id = "111122223333"
region = "eu-west-1"
[buckets]
src = { name = "src-bucket", account = "a", region = "eu-west-1" }
d1 = { name = "dest-one", account = "a", region = "eu-west-1" }
d2 = { name = "dest-two", account = "a", region = "eu-west-1" }
[principals]
role = { arn = "arn:aws:iam::111122223333:role/rep" }
[[replication]]
id = "r"
source = "src"
role = "role"
[[replication.rules]]
id = "one"
priority = 1
destination = "d1"
[[replication.rules]]
id = "two"
priority = 2
destination = "d2"
"#,
        )
        .expect("spec");
        let src = "arn:aws:s3:::src-bucket";
        let mut findings = vec![
            f(
                "replication-rtc",
                Status::Fail,
                src,
                "rule 'two': RTC is off",
            ),
            f(
                "replication-rtc",
                Status::Pass,
                src,
                "rule 'one': RTC is on",
            ),
            f("bucket-versioning", Status::Pass, src, "versioning on"),
            f(
                "bucket-versioning",
                Status::Pass,
                "arn:aws:s3:::dest-two",
                "versioning on",
            ),
        ];
        attribute(&spec, &mut findings);
        assert_eq!(findings[0].replications.len(), 1);
        assert_eq!(findings[0].replications[0].rule, "two");
        assert_eq!(
            findings[2].replications.len(),
            2,
            "the source bears on both rules"
        );
        let lines = replication_summary(&findings);
        assert_eq!(lines.len(), 2);
        // The failing rule first, with its counts; the passing one after.
        assert_eq!(lines[0].of.rule, "two");
        assert_eq!(lines[0].of.destination, "dest-two");
        assert_eq!(lines[0].worst, Status::Fail);
        assert_eq!((lines[0].pass, lines[0].fail), (2, 1));
        assert_eq!(lines[0].not_passing, vec!["replication-rtc".to_string()]);
        assert_eq!(lines[1].of.rule, "one");
        assert_eq!(lines[1].worst, Status::Pass);
        assert_eq!((lines[1].pass, lines[1].fail), (2, 0));
    }
}
