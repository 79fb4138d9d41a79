//! What the canary will write and check, derived from the spec alone (pure, no AWS).
//!
//! One canary object per replication rule (under the rule's prefix, in the rule's source
//! bucket), one per scenario C uploader/non-uploader and prefix that no rule canary already
//! covers, and one under scenario B's unreplicated prefix. Keys are
//! `<prefix>replaudit-canary/<run-id>/<n>`; `n` numbers the objects of one run. The plan is a
//! function of (spec, run id) only, so `replaudit canary cleanup` can recompute exactly which
//! prefixes a crashed run may have written to.

use crate::catalogue::RuleMeta;
use crate::findings::{Finding, Scenario, Status};
use crate::spec::Spec;
use serde_json::json;
use std::collections::BTreeMap;

use crate::catalogue::canary as meta;

/// Directory-like path segment under each prefix that holds every canary run.
pub const CANARY_DIR: &str = "replaudit-canary";
/// Object tag carrying the run id on every canary object.
pub const TAG_KEY: &str = "replaudit-canary";

/// Who makes a call: a spec account (its `credentials`) or a spec principal (its `credentials`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Actor {
    Account(String),
    Principal(String),
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Actor::Account(a) => format!("account '{a}'"),
            Actor::Principal(p) => format!("principal '{p}'"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Purpose {
    /// Proves replication of this `[[replication]]` rule end to end.
    Replicated { replication: usize, rule: usize },
    /// Scenario C: a permitted uploader's write (that no rule canary already makes).
    Uploader { principal: String },
    /// Scenario C: a write that must be denied.
    NonUploader { principal: String },
    /// Scenario B: a write outside every replicated prefix that must not replicate.
    Unreplicated { replication: usize },
}

/// Server-side encryption requested on the canary PutObject (the source bucket's default).
#[derive(Debug, Clone, PartialEq)]
pub enum Sse {
    /// Nothing requested; the bucket's default (if any) applies.
    BucketDefault,
    Aes256,
    Kms {
        algorithm: String,
        key: Option<String>,
    },
}

/// A destination the object must replicate to, and the rule that sends it there.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub dest: String,
    pub replication: usize,
    pub rule: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The canary object in its source bucket.
    Source,
    /// Its replica in this destination bucket alias.
    Replica(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    GetObject,
    ListBucket,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::GetObject => "s3:GetObject",
            Action::ListBucket => "s3:ListBucket",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccessCheck {
    pub principal: String,
    pub target: Target,
    pub action: Action,
    /// true: must succeed (and return the canary's bytes); false: must be AccessDenied.
    pub allowed: bool,
    pub scenario: Scenario,
    /// Where the expectation comes from, for messages (`[[access]] #1`, `scenario_a.readers`).
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedObject {
    pub n: usize,
    /// Bucket alias written to.
    pub bucket: String,
    /// `<prefix>replaudit-canary/<run-id>/`: only this run ever writes below it.
    pub run_prefix: String,
    pub key: String,
    pub writer: Actor,
    pub purpose: Purpose,
    pub sse: Sse,
    pub tags: Vec<(String, String)>,
    /// Where the spec says this object replicates to (empty for scenario B / non-uploaders).
    pub expected: Vec<Expected>,
    /// Scenario B: destinations where the object must not appear.
    pub forbidden: Vec<String>,
    pub access: Vec<AccessCheck>,
    /// Scenario C uploaders whose "may write and it replicates" check this object's write is.
    pub serves_uploaders: Vec<String>,
    pub delete_marker_test: bool,
    pub scenario: Scenario,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub run_id: String,
    pub objects: Vec<PlannedObject>,
    /// Checks the spec asks for that the canary cannot make (no credentials, no canary there).
    pub skipped: Vec<Finding>,
}

impl Plan {
    /// Every (bucket alias, run prefix) the run may have written to, replicas included.
    pub fn prefixes(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for o in &self.objects {
            out.push((o.bucket.clone(), o.run_prefix.clone()));
            for d in o.expected.iter().map(|e| &e.dest).chain(o.forbidden.iter()) {
                out.push((d.clone(), o.run_prefix.clone()));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Run ids end up in object keys and in the prefix `replaudit canary cleanup` deletes under, so
/// they are restricted to a safe alphabet and must be non-empty.
pub fn validate_run_id(id: &str) -> Result<(), InvalidRunId> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(InvalidRunId(id.to_string()))
    }
}

/// A run id outside the safe alphabet (it would end up in object keys and cleanup prefixes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid run id '{0}': 1-64 characters A-Z a-z 0-9 . _ -, starting with a letter or digit")]
pub struct InvalidRunId(pub String);

/// A fresh run id: UTC time plus 8 random hex digits (sortable, never reused).
pub fn new_run_id() -> String {
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &rand[..8]
    )
}

pub fn run_prefix(prefix: &str, run_id: &str) -> String {
    format!("{prefix}{CANARY_DIR}/{run_id}/")
}

pub fn bucket_name<'a>(spec: &'a Spec, alias: &'a str) -> &'a str {
    spec.buckets
        .get(alias)
        .map(|b| b.name.get_ref().as_str())
        .unwrap_or(alias)
}

pub fn object_url(spec: &Spec, alias: &str, key: &str) -> String {
    format!("s3://{}/{}", bucket_name(spec, alias), key)
}

/// The command that removes what a run left behind (printed before the run writes anything,
/// and whenever something may be left). The spec path is quoted for a POSIX shell when needed.
pub fn cleanup_command(spec_path: &str, run_id: &str) -> String {
    format!(
        "replaudit canary cleanup --spec {} --run-id {}",
        shell_word(spec_path),
        shell_word(run_id)
    )
}

/// `s` as one POSIX shell word: unchanged when it is made of safe characters, else in single
/// quotes (a `'` inside becomes `'\''`).
fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,@=".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Where a run's export task writes: `<export_prefix>replaudit-canary/<run-id>` (CloudWatch
/// Logs adds the `/`; a trailing slash in the prefix would make an empty key segment).
pub fn export_prefix(spec: &Spec, run_id: &str) -> Option<String> {
    let d = spec.scenario_d.as_ref()?;
    Some(format!(
        "{}/{CANARY_DIR}/{run_id}",
        d.export_prefix.trim_end_matches('/')
    ))
}

/// The run's own CloudWatch Logs stream (scenario D).
pub fn log_stream(run_id: &str) -> String {
    format!("replaudit-canary-{run_id}")
}

/// Whether a key under a run's export prefix was written by its export task:
/// `<prefix>/<export task id (a UUID)>/…`, or CloudWatch's `<prefix>/aws-logs-write-test`.
/// Only a run with this id asks CloudWatch Logs to write below this prefix, so such objects are
/// the run's even without its tag (CloudWatch cannot tag them), which lets `canary cleanup`
/// remove a crashed run's exports.
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/S3ExportTasks.html>
pub fn is_export_object(prefix: &str, key: &str) -> bool {
    let Some(rest) = key.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    let first = rest.split('/').next().unwrap_or_default();
    first == "aws-logs-write-test" || (rest.contains('/') && is_uuid(first))
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Label of a replication rule for messages: `replication 'x' rule 'y'`.
pub fn rule_label(spec: &Spec, replication: usize, rule: usize) -> String {
    let Some(rep) = spec.replication.get(replication) else {
        return "replication ?".into();
    };
    let r = rep
        .rules
        .get(rule)
        .map(|r| r.label(rule))
        .unwrap_or_else(|| "rule ?".into());
    format!("replication '{}' {r}", rep.id.get_ref())
}

/// The rules that replicate an object with this key and these tags out of `bucket`: among
/// matching enabled rules, the highest priority per destination bucket (S3's choice).
pub fn matching_rules(
    spec: &Spec,
    bucket: &str,
    key: &str,
    tags: &[(String, String)],
) -> Vec<Expected> {
    let mut best: BTreeMap<String, (i32, Expected)> = BTreeMap::new();
    for (ri, rep) in spec.replication.iter().enumerate() {
        if rep.source.get_ref() != bucket {
            continue;
        }
        for (ui, rule) in rep.rules.iter().enumerate() {
            if !key.starts_with(rule.prefix_or_empty()) {
                continue;
            }
            if !rule
                .tags
                .iter()
                .all(|(k, v)| tags.iter().any(|(tk, tv)| tk == k && tv == v))
            {
                continue;
            }
            let prio = rule.priority.unwrap_or(0);
            let dest = rule.destination.get_ref().clone();
            let e = Expected {
                dest: dest.clone(),
                replication: ri,
                rule: ui,
            };
            match best.get(&dest) {
                Some((p, _)) if *p >= prio => {}
                _ => {
                    best.insert(dest, (prio, e));
                }
            }
        }
    }
    best.into_values().map(|(_, e)| e).collect()
}

fn has_credentials(spec: &Spec, principal: &str) -> bool {
    spec.principal(principal)
        .is_some_and(|p| p.credentials.is_some())
}

fn sse_for(spec: &Spec, bucket: &str) -> Sse {
    let Some(b) = spec.bucket(bucket) else {
        return Sse::BucketDefault;
    };
    match b.default_encryption.as_ref().map(|e| e.get_ref().as_str()) {
        Some("AES256") => Sse::Aes256,
        Some(alg @ ("aws:kms" | "aws:kms:dsse")) => Sse::Kms {
            algorithm: alg.to_string(),
            key: b.kms_key_arn.as_ref().map(|k| k.get_ref().clone()),
        },
        _ => Sse::BucketDefault,
    }
}

fn owner(spec: &Spec, bucket: &str) -> Actor {
    Actor::Account(
        spec.bucket(bucket)
            .map(|b| b.account.get_ref().clone())
            .unwrap_or_default(),
    )
}

struct Builder<'a> {
    spec: &'a Spec,
    run_id: &'a str,
    objects: Vec<PlannedObject>,
    skipped: Vec<Finding>,
}

impl Builder<'_> {
    fn skip(&mut self, meta: &'static RuleMeta, scenario: Scenario, resource: String, msg: String) {
        self.skipped.push(meta.finding(
            scenario,
            Status::Skip,
            resource,
            msg,
            json!({"run_id": self.run_id}),
        ));
    }

    /// Scenario C governs writes to this key: only the uploaders may write it.
    fn uploader_only(&self, bucket: &str, key: &str) -> bool {
        self.spec.scenario_c.as_ref().is_some_and(|c| {
            c.bucket.get_ref() == bucket && c.prefixes.iter().any(|p| key.starts_with(p.as_str()))
        })
    }

    fn first_uploader_with_credentials(&self) -> Option<String> {
        let c = self.spec.scenario_c.as_ref()?;
        c.uploaders
            .iter()
            .map(|u| u.get_ref())
            .find(|u| has_credentials(self.spec, u))
            .cloned()
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        bucket: &str,
        prefix: &str,
        writer: Actor,
        purpose: Purpose,
        extra_tags: &[(String, String)],
        expected: Vec<Expected>,
        scenario: Scenario,
    ) -> usize {
        let n = self.objects.len();
        let run_prefix = run_prefix(prefix, self.run_id);
        let mut tags = vec![(TAG_KEY.to_string(), self.run_id.to_string())];
        tags.extend(extra_tags.iter().cloned());
        self.objects.push(PlannedObject {
            n,
            bucket: bucket.to_string(),
            key: format!("{run_prefix}{n}"),
            run_prefix,
            writer,
            purpose,
            sse: sse_for(self.spec, bucket),
            tags,
            expected,
            forbidden: Vec::new(),
            access: Vec::new(),
            serves_uploaders: Vec::new(),
            delete_marker_test: false,
            scenario,
        });
        n
    }
}

pub fn build(spec: &Spec, run_id: &str) -> Plan {
    let mut b = Builder {
        spec,
        run_id,
        objects: Vec::new(),
        skipped: Vec::new(),
    };
    let uploader = b.first_uploader_with_credentials();
    let scenario_d_rep = spec
        .scenario_d
        .as_ref()
        .map(|d| d.replication.get_ref().clone());

    // 1. One canary per replication rule.
    for (ri, rep) in spec.replication.iter().enumerate() {
        let src = rep.source.get_ref().as_str();
        let scenario = if scenario_d_rep.as_deref() == Some(rep.id.get_ref().as_str()) {
            Scenario::ScenarioD
        } else {
            Scenario::Step4
        };
        for (ui, rule) in rep.rules.iter().enumerate() {
            let prefix = rule.prefix_or_empty();
            let key = format!("{}{}", run_prefix(prefix, run_id), b.objects.len());
            // Where only scenario C's uploaders may write, the canary writes as one of them
            // (the source account itself is denied there, correctly).
            let writer = match (&uploader, b.uploader_only(src, &key)) {
                (Some(u), true) => Actor::Principal(u.clone()),
                _ => owner(spec, src),
            };
            let rule_tags: Vec<(String, String)> = rule
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut all_tags = vec![(TAG_KEY.to_string(), run_id.to_string())];
            all_tags.extend(rule_tags.iter().cloned());
            let expected = matching_rules(spec, src, &key, &all_tags);
            let n = b.push(
                src,
                prefix,
                writer.clone(),
                Purpose::Replicated {
                    replication: ri,
                    rule: ui,
                },
                &rule_tags,
                expected,
                scenario,
            );
            let o = &mut b.objects[n];
            o.delete_marker_test = true;
            if let Actor::Principal(p) = &writer {
                o.serves_uploaders.push(p.clone());
            }
        }
    }

    // 2. Scenario C: uploaders (unless a rule canary already wrote as them there) and non-uploaders.
    if let Some(c) = &spec.scenario_c {
        let bucket = c.bucket.get_ref().as_str();
        for u in &c.uploaders {
            let u = u.get_ref();
            if !has_credentials(spec, u) {
                b.skip(
                    &meta::UPLOADERS,
                    Scenario::ScenarioC,
                    format!("principal '{u}'"),
                    format!(
                        "uploader '{u}' has no credentials in the spec; its write was not tried"
                    ),
                );
                continue;
            }
            for p in &c.prefixes {
                let served = b.objects.iter().any(|o| {
                    o.bucket == bucket
                        && o.run_prefix == run_prefix(p, run_id)
                        && o.serves_uploaders.iter().any(|s| s == u)
                });
                if served {
                    continue;
                }
                let key = format!("{}{}", run_prefix(p, run_id), b.objects.len());
                let tags = vec![(TAG_KEY.to_string(), run_id.to_string())];
                let expected = matching_rules(spec, bucket, &key, &tags);
                let n = b.push(
                    bucket,
                    p,
                    Actor::Principal(u.clone()),
                    Purpose::Uploader {
                        principal: u.clone(),
                    },
                    &[],
                    expected,
                    Scenario::ScenarioC,
                );
                b.objects[n].serves_uploaders.push(u.clone());
            }
        }
        for u in &c.non_uploaders {
            let u = u.get_ref();
            if !has_credentials(spec, u) {
                b.skip(
                    &meta::UPLOADERS,
                    Scenario::ScenarioC,
                    format!("principal '{u}'"),
                    format!(
                        "non-uploader '{u}' has no credentials in the spec; its denial was not tried"
                    ),
                );
                continue;
            }
            for p in &c.prefixes {
                b.push(
                    bucket,
                    p,
                    Actor::Principal(u.clone()),
                    Purpose::NonUploader {
                        principal: u.clone(),
                    },
                    &[],
                    Vec::new(),
                    Scenario::ScenarioC,
                );
            }
        }
    }

    // 3. Scenario B: a canary outside the replicated prefixes.
    if let Some(sb) = &spec.scenario_b {
        if let Some((ri, rep)) = spec
            .replication
            .iter()
            .enumerate()
            .find(|(_, r)| r.id.get_ref() == sb.replication.get_ref())
        {
            let src = rep.source.get_ref().as_str();
            let prefix = sb.unreplicated_prefix.as_str();
            let key = format!("{}{}", run_prefix(prefix, run_id), b.objects.len());
            let writer = match (&uploader, b.uploader_only(src, &key)) {
                (Some(u), true) => Actor::Principal(u.clone()),
                _ => owner(spec, src),
            };
            let mut forbidden: Vec<String> = rep
                .rules
                .iter()
                .map(|r| r.destination.get_ref().clone())
                .collect();
            forbidden.sort();
            forbidden.dedup();
            let n = b.push(
                src,
                prefix,
                writer,
                Purpose::Unreplicated { replication: ri },
                &[],
                Vec::new(),
                Scenario::ScenarioB,
            );
            b.objects[n].forbidden = forbidden;
        }
    }

    attach_access_checks(&mut b);

    if spec.replication.is_empty() {
        b.skip(
            &meta::LATENCY,
            Scenario::Step4,
            "spec".into(),
            "the spec declares no [[replication]]; nothing to replicate".into(),
        );
    }
    Plan {
        run_id: run_id.to_string(),
        objects: b.objects,
        skipped: b.skipped,
    }
}

/// The rule canary whose object (or replica) lands in `bucket`, preferring one whose prefix
/// also covers `sample_key` (access can depend on the key).
fn find_target(
    objects: &[PlannedObject],
    spec: &Spec,
    bucket: &str,
    sample_key: &str,
) -> Option<(usize, Target)> {
    let rule_prefix = |o: &PlannedObject| -> String {
        match o.purpose {
            Purpose::Replicated { replication, rule } => spec
                .replication
                .get(replication)
                .and_then(|r| r.rules.get(rule))
                .map(|r| r.prefix_or_empty().to_string())
                .unwrap_or_default(),
            _ => String::new(),
        }
    };
    let replicated = || {
        objects
            .iter()
            .filter(|o| matches!(o.purpose, Purpose::Replicated { .. }))
    };
    let in_source = |o: &&PlannedObject| o.bucket == bucket;
    let in_dest = |o: &&PlannedObject| o.expected.iter().any(|e| e.dest == bucket);
    let covers = |o: &&PlannedObject| sample_key.starts_with(&rule_prefix(o));
    if let Some(o) = replicated().filter(in_source).find(covers) {
        return Some((o.n, Target::Source));
    }
    if let Some(o) = replicated().find(in_source) {
        return Some((o.n, Target::Source));
    }
    if let Some(o) = replicated().filter(in_dest).find(covers) {
        return Some((o.n, Target::Replica(bucket.to_string())));
    }
    replicated()
        .find(in_dest)
        .map(|o| (o.n, Target::Replica(bucket.to_string())))
}

fn attach_access_checks(b: &mut Builder) {
    let spec = b.spec;
    for (i, entry) in spec.access.iter().enumerate() {
        let principal = entry.principal.get_ref().clone();
        let bucket = entry.bucket.get_ref().clone();
        let origin = format!("[[access]] #{}", i + 1);
        let resource = format!("s3://{} as {principal}", bucket_name(spec, &bucket));
        if !has_credentials(spec, &principal) {
            b.skip(
                &meta::ACCESS,
                Scenario::Step5,
                resource,
                format!("{origin}: principal '{principal}' has no credentials in the spec; its access was not tried"),
            );
            continue;
        }
        let Some((n, target)) = find_target(&b.objects, spec, &bucket, &entry.sample_key) else {
            b.skip(
                &meta::ACCESS,
                Scenario::Step5,
                resource,
                format!("{origin}: no canary object lands in bucket '{bucket}' (it is neither a replication source nor a destination)"),
            );
            continue;
        };
        let wanted = entry
            .allow
            .iter()
            .map(|a| (a.get_ref().as_str(), true))
            .chain(entry.deny.iter().map(|a| (a.get_ref().as_str(), false)));
        for (action, allowed) in wanted {
            let action = match action {
                "s3:GetObject" => Action::GetObject,
                "s3:ListBucket" => Action::ListBucket,
                other => {
                    b.skip(
                        &meta::ACCESS,
                        Scenario::Step5,
                        resource.clone(),
                        format!("{origin}: {other} is not exercised by the canary (only s3:GetObject and s3:ListBucket are)"),
                    );
                    continue;
                }
            };
            b.objects[n].access.push(AccessCheck {
                principal: principal.clone(),
                target: target.clone(),
                action,
                allowed,
                scenario: Scenario::Step5,
                origin: origin.clone(),
            });
        }
    }
    if let Some(a) = &spec.scenario_a {
        let bucket = a.bucket.get_ref().clone();
        for r in &a.readers {
            let reader = r.get_ref().clone();
            let resource = format!("s3://{} as {reader}", bucket_name(spec, &bucket));
            if !has_credentials(spec, &reader) {
                b.skip(
                    &meta::ACCESS,
                    Scenario::ScenarioA,
                    resource,
                    format!("scenario_a.readers: '{reader}' has no credentials in the spec; reading the replica was not tried"),
                );
                continue;
            }
            let target = b
                .objects
                .iter()
                .filter(|o| matches!(o.purpose, Purpose::Replicated { .. }))
                .find(|o| o.expected.iter().any(|e| e.dest == bucket))
                .map(|o| o.n);
            match target {
                Some(n) => b.objects[n].access.push(AccessCheck {
                    principal: reader,
                    target: Target::Replica(bucket.clone()),
                    action: Action::GetObject,
                    allowed: true,
                    scenario: Scenario::ScenarioA,
                    origin: "scenario_a.readers".into(),
                }),
                None => b.skip(
                    &meta::ACCESS,
                    Scenario::ScenarioA,
                    resource,
                    format!("scenario_a: no replication rule replicates into '{bucket}'; no replica to read"),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> crate::spec::LoadedSpec {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/seed.toml");
        crate::spec::load(&p).expect("seed spec loads")
    }

    #[test]
    fn cleanup_command_is_one_shell_line() {
        assert_eq!(
            cleanup_command("checks/seed.toml", "20250101T000000Z-ab12"),
            "replaudit canary cleanup --spec checks/seed.toml --run-id 20250101T000000Z-ab12"
        );
        assert_eq!(
            cleanup_command("my specs/it's.toml", "r1"),
            "replaudit canary cleanup --spec 'my specs/it'\\''s.toml' --run-id r1"
        );
        assert_eq!(
            cleanup_command("", "r1"),
            "replaudit canary cleanup --spec '' --run-id r1"
        );
    }

    #[test]
    fn export_objects_are_recognised_only_under_the_run_prefix() {
        let p = "exports/replaudit-canary/run-1";
        assert!(is_export_object(
            p,
            "exports/replaudit-canary/run-1/deaaf155-be19-4bd7-8df9-674bd15b92d8/stream/000000.gz"
        ));
        assert!(is_export_object(
            p,
            "exports/replaudit-canary/run-1/aws-logs-write-test"
        ));
        assert!(
            !is_export_object(p, "exports/replaudit-canary/run-1/99"),
            "canary objects are found by tag"
        );
        assert!(!is_export_object(
            p,
            "exports/replaudit-canary/run-12/deaaf155-be19-4bd7-8df9-674bd15b92d8/s/0.gz"
        ));
        assert!(!is_export_object(
            p,
            "exports/other/deaaf155-be19-4bd7-8df9-674bd15b92d8/s/0.gz"
        ));
        assert!(
            !is_export_object(
                p,
                "exports/replaudit-canary/run-1/deaaf155-be19-4bd7-8df9-674bd15b92d8"
            ),
            "a bare UUID key is not an export"
        );
        assert_eq!(
            export_prefix(&seed(), "run-1").as_deref(),
            Some("exports/replaudit-canary/run-1")
        );
    }

    #[test]
    fn run_ids_are_restricted() {
        assert!(validate_run_id("20250101T000000Z-1a2b3c4d").is_ok());
        assert!(validate_run_id(&new_run_id()).is_ok());
        for bad in ["", "a/b", "../x", "-x", "a b", "*", &"x".repeat(65)] {
            assert!(validate_run_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seed_plan() {
        let spec = seed();
        let plan = build(&spec, "RUN");
        let keys: Vec<(&str, &str)> = plan
            .objects
            .iter()
            .map(|o| (o.bucket.as_str(), o.key.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("source", "reports/replaudit-canary/RUN/0"),
                ("logs", "exports/replaudit-canary/RUN/1"),
                ("source", "reports/replaudit-canary/RUN/2"),
                ("source", "scratch/replaudit-canary/RUN/3"),
            ]
        );
        let o = &plan.objects[0];
        // Only scenario C's uploaders may write reports/: the canary writes as one.
        assert_eq!(o.writer, Actor::Principal("l2-engineer".into()));
        assert_eq!(o.serves_uploaders, vec!["l2-engineer".to_string()]);
        assert_eq!(
            o.sse,
            Sse::Kms {
                algorithm: "aws:kms".into(),
                key: Some("arn:aws:kms:ap-southeast-1:111122223333:key/6f1e3c2a-0b7d-4e8f-9a51-2c3d4e5f6a7b".into())
            }
        );
        assert_eq!(
            o.expected,
            vec![Expected {
                dest: "destination".into(),
                replication: 0,
                rule: 0
            }]
        );
        assert!(o.delete_marker_test);
        let checks: Vec<(&str, Action, bool, &Target)> = o
            .access
            .iter()
            .map(|c| (c.principal.as_str(), c.action, c.allowed, &c.target))
            .collect();
        assert_eq!(
            checks,
            vec![
                ("tom", Action::ListBucket, true, &Target::Source),
                ("tom", Action::GetObject, true, &Target::Source),
                ("clint", Action::ListBucket, false, &Target::Source),
                ("clint", Action::GetObject, false, &Target::Source),
                (
                    "tom",
                    Action::GetObject,
                    true,
                    &Target::Replica("destination".into())
                ),
            ]
        );
        let logs = &plan.objects[1];
        assert_eq!(logs.writer, Actor::Account("xyz".into()));
        assert_eq!(logs.scenario, Scenario::ScenarioD);
        assert_eq!(logs.sse, Sse::Aes256);
        assert_eq!(
            plan.objects[2].purpose,
            Purpose::NonUploader {
                principal: "xyz-intern".into()
            }
        );
        let b = &plan.objects[3];
        assert_eq!(b.purpose, Purpose::Unreplicated { replication: 0 });
        assert_eq!(b.writer, Actor::Account("xyz".into()));
        assert_eq!(b.forbidden, vec!["destination".to_string()]);
        assert!(b.expected.is_empty());
        assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
        assert_eq!(
            plan.prefixes(),
            vec![
                (
                    "destination".to_string(),
                    "reports/replaudit-canary/RUN/".to_string()
                ),
                (
                    "destination".to_string(),
                    "scratch/replaudit-canary/RUN/".to_string()
                ),
                (
                    "logs".to_string(),
                    "exports/replaudit-canary/RUN/".to_string()
                ),
                (
                    "logs-backup".to_string(),
                    "exports/replaudit-canary/RUN/".to_string()
                ),
                (
                    "source".to_string(),
                    "reports/replaudit-canary/RUN/".to_string()
                ),
                (
                    "source".to_string(),
                    "scratch/replaudit-canary/RUN/".to_string()
                ),
            ]
        );
    }

    #[test]
    fn highest_priority_rule_per_destination_wins() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/seed.toml"),
        )
        .unwrap();
        let text = text.replace(
            "[[replication]]\nid = \"app-logs\"",
            "[[replication.rules]]\nid = \"all\"\npriority = 5\nprefix = \"\"\ndestination = \"destination\"\n\n[[replication]]\nid = \"app-logs\"",
        );
        let spec = crate::spec::parse(std::path::Path::new("t.toml"), &text).expect("parses");
        let got = matching_rules(&spec, "source", "reports/x", &[]);
        assert_eq!(
            got,
            vec![Expected {
                dest: "destination".into(),
                replication: 0,
                rule: 1
            }]
        );
        let got = matching_rules(&spec, "source", "other/x", &[]);
        assert_eq!(
            got,
            vec![Expected {
                dest: "destination".into(),
                replication: 0,
                rule: 1
            }]
        );
    }
}
