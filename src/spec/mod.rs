//! The posture spec: what the audited set-up must look like.
//!
//! Everything about a deployment (account ids, regions, bucket names, principals, prefixes,
//! keys) comes from here; the rules only know the *shape* of a correct set-up. The format is
//! documented in the README; `checks/seed.toml` is the reference example.

mod validate;

// ARNs are read in `arn.rs` only; these names stay for the spec's many callers.
pub use crate::arn::{account_of as arn_account, is_account_id, region_of as arn_region};
pub use validate::{is_iam_principal_arn, is_kms_key_arn, is_org_id, is_service_principal};

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Specs larger than this are rejected before parsing: a posture spec is a few KB, and a
/// multi-megabyte input is a mistake (or hostile) that should not be parsed at all.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// A rejected spec, pointing at the place to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for SpecError {}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub version: Spanned<u32>,
    pub name: String,
    pub accounts: BTreeMap<String, Account>,
    pub buckets: BTreeMap<String, Bucket>,
    #[serde(default)]
    pub principals: BTreeMap<String, Principal>,
    #[serde(default)]
    pub replication: Vec<Replication>,
    #[serde(default)]
    pub access: Vec<AccessExpectation>,
    pub scenario_a: Option<ScenarioA>,
    pub scenario_b: Option<ScenarioB>,
    pub scenario_c: Option<ScenarioC>,
    pub scenario_d: Option<ScenarioD>,
    /// Expectations about AWS's own evidence (CloudTrail, AWS Config).
    pub evidence: Option<EvidenceExpectations>,
    /// Who may read, write and control each bucket, and decrypt with its key (`who-can`).
    #[serde(default)]
    pub who_can: Vec<WhoCanExpectation>,
}

/// How to obtain credentials for an account or a principal.
///
/// Exactly one of `profile` / `role_arn` may be given; neither means the default
/// `aws-config` chain (environment, web identity, SSO cache, instance role).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub session_name: Option<String>,
    /// Profile whose credentials assume `role_arn` (default chain when absent).
    pub source_profile: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub description: Option<String>,
    pub account_id: Spanned<String>,
    pub region: Spanned<String>,
    #[serde(default)]
    pub credentials: Credentials,
    /// Account-level S3 Block Public Access must be fully on (default: true, as AWS recommends for
    /// every account). `false` for an account that hosts a public bucket on purpose; the buckets'
    /// own `block_public_access` settings are checked either way.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html>
    #[serde(default = "yes")]
    pub block_public_access: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub name: Spanned<String>,
    pub account: Spanned<String>,
    pub region: Spanned<String>,
    #[serde(default = "yes")]
    pub versioning: bool,
    #[serde(default = "yes")]
    pub block_public_access: bool,
    /// `AES256`, `aws:kms` or `aws:kms:dsse`; absent = not checked.
    pub default_encryption: Option<Spanned<String>>,
    pub kms_key_arn: Option<Spanned<String>>,
    /// `BucketOwnerEnforced`, `BucketOwnerPreferred` or `ObjectWriter`; absent = not checked.
    pub object_ownership: Option<Spanned<String>>,
    /// The bucket policy must deny requests not sent over TLS (`bucket-tls-only`). On by
    /// default, as AWS's S3 security best practices recommend
    /// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html>).
    #[serde(default = "yes")]
    pub tls_only: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    pub arn: Spanned<String>,
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replication {
    pub id: Spanned<String>,
    pub source: Spanned<String>,
    pub role: Spanned<String>,
    /// When true, the source may replicate nothing beyond these rules (scenario B).
    #[serde(default)]
    pub exclusive: bool,
    pub rules: Vec<ReplicationRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationRule {
    pub id: Option<String>,
    pub priority: Option<i32>,
    /// Key prefix the rule must filter on; absent or "" = the whole bucket.
    pub prefix: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub destination: Spanned<String>,
    #[serde(default)]
    pub rtc: bool,
    pub metrics: Option<bool>,
    #[serde(default)]
    pub delete_marker_replication: bool,
    #[serde(default)]
    pub owner_override: bool,
    #[serde(default)]
    pub sse_kms_encrypted_objects: bool,
    pub replica_kms_key_arn: Option<Spanned<String>>,
    pub storage_class: Option<String>,
}

impl ReplicationRule {
    /// RTC requires replication metrics, so metrics default to whatever RTC is.
    pub fn metrics_expected(&self) -> bool {
        self.metrics.unwrap_or(self.rtc)
    }

    pub fn prefix_or_empty(&self) -> &str {
        self.prefix.as_deref().unwrap_or("")
    }

    /// Human label used in finding messages.
    pub fn label(&self, index: usize) -> String {
        match &self.id {
            Some(id) => format!("rule '{id}'"),
            None => format!("rule #{}", index + 1),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessExpectation {
    pub principal: Spanned<String>,
    pub bucket: Spanned<String>,
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
    /// Object key used for object-level actions (the decision may depend on the key).
    #[serde(default = "default_sample_key")]
    pub sample_key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioA {
    pub bucket: Spanned<String>,
    pub kms_key_arn: Spanned<String>,
    #[serde(default)]
    pub readers: Vec<Spanned<String>>,
    #[serde(default = "default_sample_key")]
    pub sample_key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioB {
    pub replication: Spanned<String>,
    pub replicated_prefixes: Vec<String>,
    #[serde(default = "default_unreplicated_prefix")]
    pub unreplicated_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioC {
    pub bucket: Spanned<String>,
    pub prefixes: Vec<String>,
    pub uploaders: Vec<Spanned<String>>,
    #[serde(default)]
    pub non_uploaders: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioD {
    pub log_bucket: Spanned<String>,
    pub backup_bucket: Spanned<String>,
    pub replication: Spanned<String>,
    pub export_prefix: String,
    #[serde(default)]
    pub log_groups: Vec<String>,
    pub logs_region: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceExpectations {
    /// A CloudTrail trail must record data events for these bucket aliases.
    #[serde(default)]
    pub data_events_for: Vec<Spanned<String>>,
    /// An AWS Config recorder must be recording in these account aliases.
    #[serde(default)]
    pub config_recording_in: Vec<Spanned<String>>,
}

/// The principals that may read, write and control one bucket, and decrypt its objects with the
/// bucket's KMS key: everyone else who can is a `who-can` failure. A class left out is not
/// checked. Entries are principal aliases, IAM ARNs or ARN patterns (`*`, `?`), service
/// principals (`logs.amazonaws.com`), `anonymous`, or `organization:o-...`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhoCanExpectation {
    pub bucket: Spanned<String>,
    pub read: Option<Vec<Spanned<String>>>,
    pub write: Option<Vec<Spanned<String>>>,
    pub control: Option<Vec<Spanned<String>>>,
    pub decrypt: Option<Vec<Spanned<String>>>,
}

/// The access classes of `who-can`, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessClass {
    Read,
    Write,
    Control,
    Decrypt,
}

impl AccessClass {
    pub const ALL: [AccessClass; 4] = [
        AccessClass::Read,
        AccessClass::Write,
        AccessClass::Control,
        AccessClass::Decrypt,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            AccessClass::Read => "read",
            AccessClass::Write => "write",
            AccessClass::Control => "control",
            AccessClass::Decrypt => "decrypt",
        }
    }
}

impl fmt::Display for AccessClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl WhoCanExpectation {
    /// The entries of one class; `None` when the spec does not constrain that class.
    pub fn class(&self, c: AccessClass) -> Option<&[Spanned<String>]> {
        match c {
            AccessClass::Read => self.read.as_deref(),
            AccessClass::Write => self.write.as_deref(),
            AccessClass::Control => self.control.as_deref(),
            AccessClass::Decrypt => self.decrypt.as_deref(),
        }
    }
}

/// What a `who_can` entry names, once resolved against the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhoCanEntry {
    /// An IAM ARN, or an ARN pattern with `*`/`?` (aliases resolve to their ARN).
    Arn(String),
    Service(String),
    Anonymous,
    Organization(String),
}

impl WhoCanEntry {
    /// Resolve an entry as written: a principal alias, an ARN or pattern, a service principal,
    /// `anonymous`, or `organization:o-...`. `None` when it is none of these.
    pub fn resolve(spec: &Spec, raw: &str) -> Option<WhoCanEntry> {
        if let Some(p) = spec.principals.get(raw) {
            return Some(WhoCanEntry::Arn(p.arn.get_ref().clone()));
        }
        if raw == "anonymous" {
            return Some(WhoCanEntry::Anonymous);
        }
        if let Some(org) = raw.strip_prefix("organization:") {
            return validate::is_org_id(org).then(|| WhoCanEntry::Organization(org.to_string()));
        }
        if raw.starts_with("arn:") {
            return validate::is_principal_arn_pattern(raw).then(|| WhoCanEntry::Arn(raw.into()));
        }
        validate::is_service_principal(raw).then(|| WhoCanEntry::Service(raw.to_string()))
    }

    /// Whether this entry names the principal `id` (an ARN, a service name, `anonymous`, or
    /// `organization:o-...`). IAM user and role names are unique in an account whatever their
    /// path (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html>), so an
    /// ARN written without the path still names the principal.
    pub fn matches(&self, id: &str) -> bool {
        match self {
            WhoCanEntry::Anonymous => id == "anonymous",
            WhoCanEntry::Organization(o) => id.strip_prefix("organization:") == Some(o.as_str()),
            WhoCanEntry::Service(s) => id.eq_ignore_ascii_case(s),
            WhoCanEntry::Arn(a) if a.contains(['*', '?']) => {
                wildmatch::WildMatch::new(a).matches(id)
            }
            WhoCanEntry::Arn(a) => {
                a == id || iam_identity(a).is_some_and(|x| Some(x) == iam_identity(id))
            }
        }
    }
}

/// `(account, "user"|"role", name)` of an IAM user or role ARN, ignoring the path.
fn iam_identity(arn: &str) -> Option<(&str, &str, &str)> {
    let a = crate::arn::Arn::split(arn)?;
    if a.service != "iam" {
        return None;
    }
    let (kind, rest) = a.resource.split_once('/')?;
    if kind != "user" && kind != "role" {
        return None;
    }
    Some((a.account, kind, rest.rsplit('/').next()?))
}

fn yes() -> bool {
    true
}

fn default_sample_key() -> String {
    "replaudit-probe".to_string()
}

fn default_unreplicated_prefix() -> String {
    "replaudit-unreplicated/".to_string()
}

/// A spec that parsed and passed validation, with the source text kept for error positions.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub path: PathBuf,
    pub spec: Spec,
    /// The source text: findings point at the line that declared their expectation.
    pub text: String,
}

impl LoadedSpec {
    /// 1-based line of a byte offset into the spec text.
    pub fn line_of(&self, offset: usize) -> usize {
        line_col(&self.text, offset).0
    }

    /// The spec's lines (1-based index = position in this vector + 1).
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.lines()
    }
}

impl std::ops::Deref for LoadedSpec {
    type Target = Spec;
    fn deref(&self) -> &Spec {
        &self.spec
    }
}

/// Read, parse and validate a spec file.
pub fn load(path: &Path) -> Result<LoadedSpec, SpecError> {
    let at_start = |message: String| SpecError {
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| at_start(format!("cannot read spec: {e}")))?;
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(at_start(format!(
            "spec is {} bytes; the limit is {MAX_SPEC_BYTES} bytes",
            bytes.len()
        )));
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let (line, column) = line_col(&String::from_utf8_lossy(e.as_bytes()), offset);
            return Err(SpecError {
                file: path.to_path_buf(),
                line,
                column,
                message: "spec is not valid UTF-8".into(),
            });
        }
    };
    parse(path, &text)
}

/// Parse and validate spec text; `path` only labels errors.
pub fn parse(path: &Path, text: &str) -> Result<LoadedSpec, SpecError> {
    let mut spec: Spec = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        SpecError {
            file: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })?;
    expand_patterns(&mut spec)
        .and_then(|()| validate::validate(&spec))
        .map_err(|(span, message)| {
            let (line, column) = line_col(text, span.start);
            SpecError {
                file: path.to_path_buf(),
                line,
                column,
                message,
            }
        })?;
    Ok(LoadedSpec {
        path: path.to_path_buf(),
        spec,
        text: text.to_string(),
    })
}

/// A glob (`*`, `?`) rather than an alias.
fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?'])
}

type Located = (std::ops::Range<usize>, String);

/// The aliases whose alias or name (bucket name, principal ARN, account id) matches `pattern`,
/// in alias order, each spanned at the pattern; `pattern` itself when it is no glob. A pattern
/// matching nothing is an error: a typo must not silently expect nothing.
fn matching(
    pattern: &Spanned<String>,
    names: &[(&String, &String)],
    (field, noun, named): (&str, &str, &str),
) -> Result<Vec<Spanned<String>>, Located> {
    if !is_pattern(pattern.get_ref()) {
        return Ok(vec![pattern.clone()]);
    }
    let w = wildmatch::WildMatch::new(pattern.get_ref());
    let found: Vec<Spanned<String>> = names
        .iter()
        .filter(|(alias, name)| w.matches(alias) || w.matches(name))
        .map(|(alias, _)| Spanned::new(pattern.span(), (*alias).clone()))
        .collect();
    if found.is_empty() {
        return Err((
            pattern.span(),
            format!(
                "{field}: the pattern '{}' matches no {noun} alias or {named}",
                pattern.get_ref()
            ),
        ));
    }
    Ok(found)
}

/// Names given by pattern stand for every match: with dozens of replicated pairs, "this
/// principal must not read any estate bucket" is one entry, not one per bucket.
/// - `[[access]]` `principal` and `bucket`: one expectation per matching principal and bucket;
/// - `[[who_can]]` `bucket`: one expectation per matching bucket;
/// - `[evidence]` `data_events_for` (buckets) and `config_recording_in` (accounts): each match.
///
/// Expanded entries keep the pattern's position, so findings point at the line that says it.
fn expand_patterns(spec: &mut Spec) -> Result<(), Located> {
    let buckets: Vec<(&String, &String)> = spec
        .buckets
        .iter()
        .map(|(k, b)| (k, b.name.get_ref()))
        .collect();
    let principals: Vec<(&String, &String)> = spec
        .principals
        .iter()
        .map(|(k, p)| (k, p.arn.get_ref()))
        .collect();
    let accounts: Vec<(&String, &String)> = spec
        .accounts
        .iter()
        .map(|(k, a)| (k, a.account_id.get_ref()))
        .collect();
    let mut access = Vec::new();
    for a in &spec.access {
        let ps = matching(
            &a.principal,
            &principals,
            ("access.principal", "principal", "ARN"),
        )?;
        let bs = matching(&a.bucket, &buckets, ("access.bucket", "bucket", "name"))?;
        for p in &ps {
            for b in &bs {
                let mut one = a.clone();
                one.principal = p.clone();
                one.bucket = b.clone();
                access.push(one);
            }
        }
    }
    let mut who_can = Vec::new();
    for w in &spec.who_can {
        for b in matching(&w.bucket, &buckets, ("who_can.bucket", "bucket", "name"))? {
            let mut one = w.clone();
            one.bucket = b;
            who_can.push(one);
        }
    }
    let mut evidence = spec.evidence.clone();
    if let Some(e) = evidence.as_mut() {
        let mut data = Vec::new();
        for d in &e.data_events_for {
            data.extend(matching(
                d,
                &buckets,
                ("evidence.data_events_for", "bucket", "name"),
            )?);
        }
        let mut config = Vec::new();
        for c in &e.config_recording_in {
            config.extend(matching(
                c,
                &accounts,
                ("evidence.config_recording_in", "account", "id"),
            )?);
        }
        e.data_events_for = data;
        e.config_recording_in = config;
    }
    spec.access = access;
    spec.who_can = who_can;
    spec.evidence = evidence;
    Ok(())
}

/// 1-based line and column (in characters) of a byte offset (also the mute file's positions).
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut line = 1;
    let mut col = 1;
    for (i, ch) in text.char_indices() {
        if i >= offset {
            break;
        }
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

impl Spec {
    pub fn account(&self, alias: &str) -> Option<&Account> {
        self.accounts.get(alias)
    }

    pub fn bucket(&self, alias: &str) -> Option<&Bucket> {
        self.buckets.get(alias)
    }

    pub fn principal(&self, alias: &str) -> Option<&Principal> {
        self.principals.get(alias)
    }

    pub fn replication_by_id(&self, id: &str) -> Option<&Replication> {
        self.replication.iter().find(|r| r.id.get_ref() == id)
    }

    /// The account alias whose account id owns this ARN's account field, if the spec knows it.
    pub fn account_alias_for_id(&self, account_id: &str) -> Option<&str> {
        self.accounts
            .iter()
            .find(|(_, a)| a.account_id.get_ref() == account_id)
            .map(|(k, _)| k.as_str())
    }

    /// Account id of a bucket alias (from the account it names).
    pub fn bucket_account_id(&self, alias: &str) -> Option<&str> {
        let b = self.buckets.get(alias)?;
        self.accounts
            .get(b.account.get_ref())
            .map(|a| a.account_id.get_ref().as_str())
    }

    /// Every KMS key ARN the spec mentions (bucket keys, replica keys, scenario A).
    pub fn kms_key_arns(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for b in self.buckets.values() {
            if let Some(k) = &b.kms_key_arn {
                keys.push(k.get_ref().clone());
            }
        }
        for r in &self.replication {
            for rule in &r.rules {
                if let Some(k) = &rule.replica_kms_key_arn {
                    keys.push(k.get_ref().clone());
                }
            }
        }
        if let Some(a) = &self.scenario_a {
            keys.push(a.kms_key_arn.get_ref().clone());
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// Principal aliases of the spec's principals that are mentioned anywhere in expectations
    /// (plus every replication role), i.e. whose IAM state must be collected.
    pub fn principal_arns(&self) -> Vec<String> {
        let mut arns: Vec<String> = self
            .principals
            .values()
            .map(|p| p.arn.get_ref().clone())
            .collect();
        arns.sort();
        arns.dedup();
        arns
    }
}

/// The fuzz body (cargo-fuzz target `spec_parse`, and `tests/spec_fuzz.rs` on stable): any
/// bytes must give a spec or a positioned error, never a panic; errors must point inside the
/// input.
pub fn fuzz_one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = parse(Path::new("fuzz.toml"), text) {
        let lines = text.split('\n').count().max(1);
        assert!(
            e.line >= 1 && e.line <= lines,
            "error line {} outside input ({lines} lines): {e}",
            e.line
        );
        assert!(e.column >= 1);
    }
}

#[cfg(test)]
mod tests;
