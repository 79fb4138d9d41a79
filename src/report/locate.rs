//! Which spec line declared the expectation a finding checks.
//!
//! Rules report resources (ARNs, `s3://` URLs) and evidence, not spec positions; this maps them
//! back to the spec's `Spanned` values once, after the rules ran, so that no rule has to carry
//! positions. The most specific line wins: an `[[access]]` action entry, a scenario's
//! uploader, a bucket's `versioning = ...` line; otherwise the declaration of the bucket,
//! principal, account or replication the finding is about; the spec's `version` line when
//! nothing matches (SARIF and annotators need some line, and the file is still right).

use crate::arn::Arn;
use crate::findings::{Finding, SpecLocation};
use crate::spec::{LoadedSpec, Replication, Spec};
use serde_json::Value;
use std::collections::HashMap;
use toml::Spanned;

/// Set `location` on every finding that has none, and the replication rules it bears on
/// ([`super::replications::attribute`]): both map a finding back to the spec, once, after the
/// rules ran.
///
/// Built once per report so that the cost stays linear in findings: an estate spec of 2,000
/// buckets gives some 50,000 findings, and searching the spec's text, buckets and replications
/// from the start for each of them made locating quadratic (44 % of an offline audit of 400
/// buckets; most of the 2,000-bucket run's time).
pub fn annotate(spec: &LoadedSpec, findings: &mut [Finding]) {
    super::replications::attribute(spec, findings);
    let file = spec.path.display().to_string();
    let index = Index::new(spec);
    for f in findings.iter_mut().filter(|f| f.location.is_none()) {
        let offset = locate(spec, &index, f).unwrap_or_else(|| spec.version.span().start);
        f.location = Some(SpecLocation {
            file: file.clone(),
            line: index.line_of(offset),
        });
    }
}

/// Lookups [`locate`] makes for every finding, by name instead of by scan.
struct Index<'a> {
    /// Byte offset where each line starts (line 1 at index 0).
    line_starts: Vec<usize>,
    /// Bucket name -> the spec's alias of it.
    bucket_alias: HashMap<&'a str, &'a str>,
    /// Source bucket alias -> its first `[[replication]]`.
    replication_of: HashMap<&'a str, &'a Replication>,
    /// Principal ARN -> the offset of its `arn = ...`.
    principal_arn: HashMap<&'a str, usize>,
}

impl<'a> Index<'a> {
    fn new(spec: &'a LoadedSpec) -> Index<'a> {
        let line_starts = std::iter::once(0)
            .chain(spec.text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let mut bucket_alias = HashMap::new();
        for (alias, b) in &spec.buckets {
            bucket_alias
                .entry(b.name.get_ref().as_str())
                .or_insert(alias.as_str());
        }
        let mut replication_of = HashMap::new();
        for r in &spec.replication {
            replication_of
                .entry(r.source.get_ref().as_str())
                .or_insert(r);
        }
        let mut principal_arn = HashMap::new();
        for p in spec.principals.values() {
            principal_arn
                .entry(p.arn.get_ref().as_str())
                .or_insert(start(&p.arn));
        }
        Index {
            line_starts,
            bucket_alias,
            replication_of,
            principal_arn,
        }
    }

    /// The 1-based line of a byte offset ([`LoadedSpec::line_of`] without the scan).
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }
}

fn start<T>(s: &Spanned<T>) -> usize {
    s.span().start
}

/// Byte offset of the most specific declaration for `f`.
fn locate(spec: &LoadedSpec, index: &Index, f: &Finding) -> Option<usize> {
    let ev = &f.evidence;
    let principal = ev
        .get("principal")
        .and_then(Value::as_str)
        .map(str::to_string);
    let action = ev
        .get("action")
        .or_else(|| ev.pointer("/s3/action"))
        .and_then(Value::as_str);
    let bucket = bucket_alias_of(index, &f.resource);
    match f.id.as_str() {
        "access-expectation" | "canary-access" => {
            let p = principal.as_deref()?;
            for a in &spec.access {
                if !principal_matches(spec, a.principal.get_ref(), p) {
                    continue;
                }
                if bucket
                    .as_deref()
                    .is_some_and(|b| b != a.bucket.get_ref().as_str())
                {
                    continue;
                }
                let entry = a
                    .allow
                    .iter()
                    .chain(a.deny.iter())
                    .find(|x| Some(x.get_ref().as_str()) == action);
                return Some(entry.map(start).unwrap_or_else(|| start(&a.principal)));
            }
            None
        }
        "uploader-restriction" | "canary-uploaders" => {
            let c = spec.scenario_c.as_ref()?;
            let p = principal.as_deref();
            c.uploaders
                .iter()
                .chain(c.non_uploaders.iter())
                .find(|u| p.is_some_and(|p| principal_matches(spec, u.get_ref(), p)))
                .map(start)
                .or(Some(start(&c.bucket)))
        }
        "encrypted-replica-readable" | "canary-replica-encryption"
            if spec.scenario_a.is_some() && f.scenario == crate::findings::Scenario::ScenarioA =>
        {
            let a = spec.scenario_a.as_ref()?;
            let p = principal.as_deref();
            a.readers
                .iter()
                .find(|r| p.is_some_and(|p| principal_matches(spec, r.get_ref(), p)))
                .map(start)
                .or(Some(start(&a.kms_key_arn)))
        }
        "prefix-scope" | "canary-prefix-filter" => {
            spec.scenario_b.as_ref().map(|b| start(&b.replication))
        }
        "log-export-permissions" | "canary-log-export" | "canary-log-replication" => {
            spec.scenario_d.as_ref().map(|d| start(&d.log_bucket))
        }
        "trail-data-events" => {
            let b = bucket.as_deref()?;
            let e = spec.evidence.as_ref()?;
            e.data_events_for
                .iter()
                .find(|x| x.get_ref() == b)
                .map(start)
        }
        "config-recorder" => {
            let acct = crate::arn::account_of(&f.resource)?;
            let alias = spec
                .accounts
                .iter()
                .find(|(_, a)| a.account_id.get_ref() == acct)
                .map(|(k, _)| k.clone())?;
            let e = spec.evidence.as_ref();
            e.and_then(|e| {
                e.config_recording_in
                    .iter()
                    .find(|x| *x.get_ref() == alias)
                    .map(start)
            })
            .or_else(|| spec.accounts.get(&alias).map(|a| start(&a.account_id)))
        }
        "account-public-access-block" => {
            let acct = f.resource.rsplit('/').next()?;
            let (_, a) = spec
                .accounts
                .iter()
                .find(|(_, a)| a.account_id.get_ref() == acct)?;
            Some(
                key_line_in_table(spec, start(&a.account_id), "block_public_access")
                    .unwrap_or(start(&a.account_id)),
            )
        }
        id if id.starts_with("replication-") || id.starts_with("canary-replication") => {
            let b = bucket.as_deref()?;
            let r = index.replication_of.get(b)?;
            // "rule 'ID': ..." names the replication rule the finding is about.
            let rule = f
                .message
                .split_once("rule '")
                .and_then(|(_, rest)| rest.split_once('\''))
                .map(|(id, _)| id);
            let declared = r
                .rules
                .iter()
                .find(|x| x.id.is_some() && x.id.as_deref() == rule);
            Some(
                declared
                    .map(|x| start(&x.destination))
                    .unwrap_or(start(&r.id)),
            )
        }
        id if id.starts_with("role-") => role_line(index, &f.resource),
        id => {
            let key = match id {
                "bucket-versioning" => Some("versioning"),
                "bucket-public-access-block" => Some("block_public_access"),
                "bucket-default-encryption" => Some("default_encryption"),
                "bucket-object-ownership" => Some("object_ownership"),
                "bucket-tls-only" => Some("tls_only"),
                "bucket-location" => Some("region"),
                _ => None,
            };
            if let Some(b) = bucket.as_deref().and_then(|b| spec.buckets.get(b)) {
                let name = start(&b.name);
                return Some(
                    key.and_then(|k| key_line_in_table(spec, name, k))
                        .unwrap_or(name),
                );
            }
            role_line(index, &f.resource).or_else(|| account_line(spec, &f.resource))
        }
    }
}

/// The alias of the bucket an ARN (any partition) or `s3://` URL names
/// (`arn:aws:s3:::name/key`, `s3://name/key`).
fn bucket_alias_of(index: &Index, resource: &str) -> Option<String> {
    let rest = match Arn::split(resource) {
        Some(a) if a.service == "s3" && a.region.is_empty() && a.account.is_empty() => a.resource,
        _ => resource.strip_prefix("s3://")?,
    };
    let name = rest.split(['/', ' ']).next().filter(|n| !n.is_empty())?;
    index.bucket_alias.get(name).map(|a| a.to_string())
}

/// `p` (an ARN or an alias) is the principal the spec calls `alias`.
fn principal_matches(spec: &Spec, alias: &str, p: &str) -> bool {
    alias == p
        || spec
            .principals
            .get(alias)
            .is_some_and(|x| x.arn.get_ref() == p)
}

fn role_line(index: &Index, resource: &str) -> Option<usize> {
    index.principal_arn.get(resource).copied()
}

/// An account named by id anywhere in an ARN-like resource.
fn account_line(spec: &Spec, resource: &str) -> Option<usize> {
    spec.accounts
        .values()
        .find(|a| resource.contains(a.account_id.get_ref().as_str()))
        .map(|a| start(&a.account_id))
}

/// The offset of `key = ...` in the TOML table that contains `from` (searching forward to the
/// next table header): booleans such as `versioning` carry no span of their own.
fn key_line_in_table(spec: &LoadedSpec, from: usize, key: &str) -> Option<usize> {
    let text = &spec.text;
    let table_start = text[..from.min(text.len())].rfind("\n[").map(|i| i + 1)?;
    let mut offset = table_start;
    for (i, line) in text[table_start..].split_inclusive('\n').enumerate() {
        let t = line.trim_start();
        if i > 0 && t.starts_with('[') {
            break;
        }
        if let Some(rest) = t.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return Some(offset);
            }
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Scenario, Severity, Status};

    fn seed() -> LoadedSpec {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/seed.toml");
        crate::spec::load(&p).unwrap()
    }

    fn finding(id: &str, resource: &str, evidence: Value, message: &str) -> Finding {
        Finding {
            id: id.into(),
            title: "t".into(),
            scenario: Scenario::Step1,
            status: Status::Fail,
            severity: Severity::High,
            resource: resource.into(),
            message: message.into(),
            evidence,
            remediation: String::new(),
            references: vec![],
            duration_secs: None,
            location: None,
            muted: None,
            replications: vec![],
            replication_set: None,
        }
    }

    /// The line (1-based) of the first line of the seed spec matching `pred` after the line
    /// matching `after`.
    fn seed_line(after: &str, pred: &str) -> usize {
        let s = seed();
        let lines: Vec<&str> = s.lines().collect();
        let from = lines.iter().position(|l| l.contains(after)).unwrap();
        from + 1 + lines[from..].iter().position(|l| l.contains(pred)).unwrap()
    }

    fn line(f: Finding) -> usize {
        let s = seed();
        let mut v = vec![f];
        annotate(&s, &mut v);
        let l = v[0].location.clone().unwrap();
        assert!(l.file.ends_with("checks/seed.toml"));
        l.line
    }

    #[test]
    fn bucket_settings_point_at_their_own_line() {
        let f = finding(
            "bucket-versioning",
            "arn:aws:s3:::clint-s3-bucket",
            Value::Null,
            "",
        );
        assert_eq!(line(f), seed_line("[buckets.destination]", "versioning ="));
        let f = finding(
            "bucket-policy-grantees",
            "arn:aws:s3:::clint-s3-bucket",
            Value::Null,
            "",
        );
        assert_eq!(
            line(f),
            seed_line("[buckets.destination]", "name = \"clint-s3-bucket\"")
        );
    }

    /// Which partition the ARN names does not change which bucket it is: the bucket is read
    /// with `arn.rs`, not by matching three hard-coded prefixes.
    #[test]
    fn bucket_arns_of_any_partition_point_at_the_bucket() {
        let want = seed_line("[buckets.destination]", "versioning =");
        for arn in [
            "arn:aws-cn:s3:::clint-s3-bucket",
            "arn:aws-iso-b:s3:::clint-s3-bucket",
        ] {
            let f = finding("bucket-versioning", arn, Value::Null, "");
            assert_eq!(line(f), want, "{arn}");
        }
    }

    #[test]
    fn access_findings_point_at_the_action_entry() {
        let ev = serde_json::json!({
            "principal": "arn:aws:iam::271089868719:user/clint-eastwood",
            "s3": {"action": "s3:GetObject"}
        });
        let f = finding(
            "access-expectation",
            "arn:aws:s3:::rubes-s3-bucket/reports/sample.txt",
            ev,
            "",
        );
        let want = seed_line("principal = \"clint\"", "s3:GetObject");
        assert_eq!(line(f), want);
        // The canary names principals by alias.
        let ev = serde_json::json!({"principal": "clint", "action": "s3:GetObject"});
        let f = finding(
            "canary-access",
            "s3://rubes-s3-bucket/reports/replaudit-canary/x/0 as clint",
            ev,
            "",
        );
        assert_eq!(line(f), want);
    }

    #[test]
    fn replication_findings_point_at_the_named_rule() {
        let f = finding(
            "replication-rtc",
            "arn:aws:s3:::rubes-s3-bucket",
            Value::Null,
            "rule 'reports-to-abcd': RTC is off",
        );
        assert_eq!(
            line(f),
            seed_line("id = \"reports-to-abcd\"", "destination =")
        );
    }

    #[test]
    fn unknown_resources_fall_back_to_the_version_line() {
        let f = finding("mystery", "somewhere", Value::Null, "");
        assert_eq!(line(f), seed_line("version = 1", "version = 1"));
    }
}
