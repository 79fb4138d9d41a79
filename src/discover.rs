//! `replaudit discover`: from accounts alone to a posture spec that states today's live state as
//! the expected posture (a baseline). Auditing that spec later reports every drift from it.
//!
//! Pure: the command reads AWS through the collector (`collect::list_buckets`, then
//! `collect::collect` over a provisional spec naming every bucket the accounts own) and hands the
//! snapshot here. Only what the state says is written as an expectation; what the state cannot
//! say (who should read a bucket, which scenario a bucket plays) is left as a comment for a person
//! to fill in.

use crate::arn::Arn;
use crate::snapshot::{BucketState, Fetched, ReplicationRule, Snapshot};
use crate::spec::{self, Account, Credentials};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The part of an input file `discover` uses: its accounts (a full spec or a file with only
/// `[accounts.*]` tables both work; everything else is ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct AccountsFile {
    pub name: Option<String>,
    pub accounts: BTreeMap<String, Account>,
}

/// Why discovery could not run. Each variant prints the sentence users have always read; the
/// TOML and SDK errors are kept as sources.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input file is not TOML of the expected shape.
    #[error("{path}: {source}")]
    Accounts {
        path: String,
        source: toml::de::Error,
    },
    #[error(
        "{path}: expected at least one [accounts.<alias>] table (account_id, region, credentials)"
    )]
    NoAccounts { path: String },
    #[error("the accounts are not valid: {0}")]
    InvalidAccounts(String),
    /// A spec discovery itself wrote that does not parse (a bug of replaudit's).
    #[error("internal error: {0}")]
    Internal(String),
    /// Nothing could be discovered; one sentence per account, with why.
    #[error("{}", .0.join("; "))]
    Nothing(Vec<String>),
    /// An AWS call that failed; `message` names the call, the profile and the fix.
    #[error("{message}")]
    Aws {
        message: String,
        source: crate::aws::CallError,
    },
    #[error("sts:GetCallerIdentity with profile {0} named no account")]
    NoAccountNamed(String),
    /// No ACTIVE member (the text says which are not, if any).
    #[error("the organisation lists no ACTIVE account{0}")]
    NoActiveAccount(String),
}

/// Read the accounts of an input file; errors name the file and say what is expected.
pub fn parse_accounts(path: &std::path::Path, text: &str) -> Result<AccountsFile, Error> {
    #[derive(Deserialize)]
    struct Loose {
        name: Option<String>,
        accounts: Option<BTreeMap<String, Account>>,
    }
    let loose: Loose = toml::from_str(text).map_err(|source| Error::Accounts {
        path: path.display().to_string(),
        source,
    })?;
    match loose.accounts {
        Some(a) if !a.is_empty() => Ok(AccountsFile {
            name: loose.name,
            accounts: a,
        }),
        _ => Err(Error::NoAccounts {
            path: path.display().to_string(),
        }),
    }
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML key: bare when it can be, quoted otherwise (bucket names may contain dots).
fn key(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        s.to_string()
    } else {
        q(s)
    }
}

fn credentials(c: &Credentials) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("profile", &c.profile),
        ("role_arn", &c.role_arn),
        ("external_id", &c.external_id),
        ("session_name", &c.session_name),
        ("source_profile", &c.source_profile),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k} = {}", q(v)));
        }
    }
    format!("{{ {} }}", parts.join(", "))
}

fn accounts_toml(
    out: &mut String,
    accounts: &BTreeMap<String, Account>,
    bpa: &BTreeMap<String, bool>,
) {
    for (alias, a) in accounts {
        let _ = writeln!(out, "[accounts.{}]", key(alias));
        if let Some(d) = &a.description {
            let _ = writeln!(out, "description = {}", q(d));
        }
        let _ = writeln!(out, "account_id = {}", q(a.account_id.get_ref()));
        let _ = writeln!(out, "region = {}", q(a.region.get_ref()));
        let _ = writeln!(out, "credentials = {}", credentials(&a.credentials));
        let on = bpa.get(alias).copied().unwrap_or(a.block_public_access);
        let _ = writeln!(out, "block_public_access = {on}");
        out.push('\n');
    }
}

/// A spec naming every bucket the accounts own (in the account's home Region; the collector
/// finds each bucket's real Region), so that one collection reads them all.
pub fn provisional_spec(
    input: &AccountsFile,
    owned: &BTreeMap<String, BTreeSet<String>>,
) -> String {
    let mut out = String::from("version = 1\nname = \"replaudit discover\"\n\n");
    accounts_toml(&mut out, &input.accounts, &BTreeMap::new());
    out.push_str("[buckets]\n");
    for (alias, names) in owned {
        let region = input.accounts[alias].region.get_ref();
        for n in names {
            let _ = writeln!(
                out,
                "{} = {{ name = {}, account = {}, region = {} }}",
                key(n),
                q(n),
                q(alias),
                q(region)
            );
        }
    }
    out
}

/// Everything a discovery found, and what it could not read.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The spec text (a valid spec; checked by the caller with [`spec::parse`]).
    pub spec: String,
    /// Things that could not be read or expressed, one line each (also comments in the spec).
    pub problems: Vec<String>,
    pub replications: usize,
    pub buckets: usize,
}

/// The bucket name of an S3 bucket ARN (`arn:aws:s3:::name`), or the text itself when it is
/// not one.
fn bucket_of_arn(arn: &str) -> &str {
    Arn::split(arn).and_then(|a| a.s3_bucket()).unwrap_or(arn)
}

fn enabled(s: Option<&str>) -> bool {
    s == Some("Enabled")
}

/// Options of [`baseline`]: buckets whose policy bucket-tls-only found wanting are written with
/// `tls_only = false` (the second pass, see `main.rs`).
#[derive(Debug, Default, Clone)]
pub struct BaselineOptions {
    pub name: String,
    pub not_tls_only: BTreeSet<String>,
}

/// The baseline spec: every bucket of the accounts with a replication configuration, every
/// destination it names that one of the accounts owns, their replication roles and keys, with
/// today's settings as the expectations.
pub fn baseline(
    input: &AccountsFile,
    owned: &BTreeMap<String, BTreeSet<String>>,
    snap: &Snapshot,
    opts: &BaselineOptions,
) -> Discovery {
    let mut d = Discovery::default();
    let owner = |bucket: &str| {
        owned
            .iter()
            .find(|(_, names)| names.contains(bucket))
            .map(|(a, _)| a.clone())
    };
    let by_name: BTreeMap<&str, &BucketState> = snap
        .buckets
        .values()
        .map(|b| (b.name.as_str(), b))
        .collect();
    // Sources: buckets whose replication configuration was read and has rules.
    let mut sources: Vec<&BucketState> = Vec::new();
    for b in snap.buckets.values() {
        match &b.replication {
            Fetched::Ok { value } if !value.rules.is_empty() => sources.push(b),
            Fetched::Unknown { call, reason, .. } => d.problems.push(format!(
                "bucket {}: its replication configuration could not be read ({call}: {reason}); \
                 it is not in the baseline",
                b.name
            )),
            _ => {}
        }
    }
    let mut buckets: BTreeSet<String> = BTreeSet::new();
    let mut roles: BTreeMap<String, String> = BTreeMap::new();
    let mut reps = String::new();
    for src in &sources {
        let Fetched::Ok { value: conf } = &src.replication else {
            continue;
        };
        buckets.insert(src.name.clone());
        let role_alias = role_alias(&conf.role, &input.accounts);
        roles.insert(role_alias.clone(), conf.role.clone());
        let mut rules = String::new();
        let mut exclusive = true;
        for (i, r) in conf.rules.iter().enumerate() {
            let label = r.id.clone().unwrap_or_else(|| format!("#{}", i + 1));
            if r.status != "Enabled" {
                let _ = writeln!(
                    rules,
                    "# rule {label} is {} in the live configuration: not an expectation\n",
                    r.status
                );
                continue;
            }
            let dest = bucket_of_arn(&r.destination.bucket).to_string();
            if owner(&dest).is_none() || !by_name.contains_key(dest.as_str()) {
                exclusive = false;
                let line = format!(
                    "bucket {}: rule {label} replicates to {dest}, which none of the accounts owns; \
                     add that account to audit it",
                    src.name
                );
                let _ = writeln!(rules, "# {line}\n");
                d.problems.push(line);
                continue;
            }
            buckets.insert(dest.clone());
            rules.push_str(&rule_toml(r, &dest));
        }
        let _ = writeln!(reps, "[[replication]]");
        let _ = writeln!(reps, "id = {}", q(&src.name));
        let _ = writeln!(reps, "source = {}", q(&src.name));
        let _ = writeln!(reps, "role = {}", q(&role_alias));
        let _ = writeln!(
            reps,
            "# The live configuration has exactly these rules: a rule added later is drift."
        );
        let _ = writeln!(reps, "exclusive = {exclusive}\n");
        reps.push_str(&rules);
        d.replications += 1;
    }
    // Accounts: Block Public Access as it is today.
    let bpa: BTreeMap<String, bool> = snap
        .accounts
        .iter()
        .filter_map(|(alias, a)| Some((alias.clone(), all_on(a.public_access_block.value()?))))
        .collect();
    let mut out = String::new();
    let _ =
        writeln!(
        out,
        "# replaudit posture spec written by `replaudit discover` at {} from the live state of {}.",
        snap.collected_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        input.accounts.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    out.push_str(
        "# It states today's settings as the expected posture (a baseline): auditing it reports every\n\
         # change since. Review it: the state cannot say what was intended.\n",
    );
    for p in &d.problems {
        let _ = writeln!(out, "# NOTE: {p}");
    }
    let _ = writeln!(out, "\nversion = 1\nname = {}\n", q(&opts.name));
    accounts_toml(&mut out, &input.accounts, &bpa);
    out.push_str("[buckets]\n");
    for name in &buckets {
        let Some(b) = by_name.get(name.as_str()) else {
            continue;
        };
        let account = owner(name).unwrap_or_else(|| b.read_as.clone());
        let (line, notes) = bucket_toml(b, &account, input, !opts.not_tls_only.contains(name));
        for n in notes {
            let _ = writeln!(out, "# {n}");
            d.problems.push(n);
        }
        out.push_str(&line);
        d.buckets += 1;
    }
    // Who the bucket policies grant today: each becomes an expectation, so a new grantee is drift.
    let mut principals = roles.clone();
    let mut access = String::new();
    let mut scenario_d = String::new();
    for name in &buckets {
        let g = policy_grantees(snap, name, &sources, &roles);
        for ((arn, sample), actions) in &g.iam {
            let alias = role_alias(arn, &input.accounts);
            principals.insert(alias.clone(), arn.clone());
            let _ = writeln!(access, "[[access]]");
            let _ = writeln!(access, "principal = {}", q(&alias));
            let _ = writeln!(access, "bucket = {}", q(name));
            let list: Vec<String> = actions.iter().map(|a| q(a)).collect();
            let _ = writeln!(access, "allow = [{}]", list.join(", "));
            if let Some(k) = sample {
                let _ = writeln!(access, "sample_key = {}", q(k));
            }
            access.push('\n');
        }
        if let Some(service) = &g.logs_service {
            match log_scenario(name, service, &sources) {
                Some(text) if scenario_d.is_empty() => scenario_d = text,
                _ => {
                    let line = format!(
                        "bucket {name}: its policy grants {service}, which only a [scenario_d] \
                         section can expect, and this spec has one already (or {name} replicates \
                         nowhere): bucket-policy-grantees will fail on it"
                    );
                    d.problems.push(line);
                }
            }
        }
    }
    out.push_str("\n[principals]\n");
    for (alias, arn) in &principals {
        let _ = writeln!(out, "{} = {{ arn = {} }}", key(alias), q(arn));
    }
    out.push('\n');
    out.push_str(&reps);
    if !access.is_empty() {
        out.push_str(
            "# Grantees of today's bucket policies (IAM users and roles outside the replication), with\n\
             # what they are granted: each must stay allowed, and anyone else granted is drift.\n",
        );
        out.push_str(&access);
    }
    if !scenario_d.is_empty() {
        out.push_str(&scenario_d);
    }
    out.push_str(
        "# Who may read or write which bucket cannot be read from the state: add [[access]]\n\
         # expectations (principal, bucket, allow, deny) for the people and roles that matter, and the\n\
         # scenario sections (scenario_a .. scenario_d, evidence) where they apply; see checks/seed.toml.\n",
    );
    d.spec = out;
    d
}

/// What a bucket's policy grants, beyond the bucket's own account and its replication roles.
#[derive(Debug, Default)]
struct Grantees {
    /// (IAM user or role ARN, sample key of the grant, `None` for the bucket only) -> actions.
    iam: BTreeMap<(String, Option<String>), BTreeSet<String>>,
    /// `logs.<region>.amazonaws.com` (CloudWatch Logs exports), if granted.
    logs_service: Option<String>,
}

const OBJECT_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
];
const BUCKET_ACTIONS: &[&str] = &["s3:ListBucket", "s3:ListBucketVersions"];

fn policy_grantees(
    snap: &Snapshot,
    name: &str,
    sources: &[&BucketState],
    roles: &BTreeMap<String, String>,
) -> Grantees {
    use crate::policy::PrincipalEntry;
    let mut g = Grantees::default();
    let Ok(Some(policy)) = crate::access::bucket_policy(snap, name) else {
        return g;
    };
    let region = snap
        .buckets
        .get(name)
        .and_then(|b| b.region.value().cloned())
        .unwrap_or_default();
    let partition = crate::aws::partition_of_region(&region);
    // Keys worth asking about: the bucket's root and every replicated prefix it takes part in.
    let mut prefixes: BTreeSet<String> = BTreeSet::from([String::new()]);
    for src in sources {
        let Fetched::Ok { value } = &src.replication else {
            continue;
        };
        for r in &value.rules {
            if src.name == name || bucket_of_arn(&r.destination.bucket) == name {
                prefixes.insert(r.filter.prefix.clone().unwrap_or_default());
            }
        }
    }
    let replication_roles: BTreeSet<&String> = roles.values().collect();
    let mut wanted = |p: &PrincipalEntry, not: bool| -> Option<String> {
        if not {
            return None;
        }
        match p {
            PrincipalEntry::Arn(a)
                if spec::is_iam_principal_arn(a) && !replication_roles.contains(a) =>
            {
                Some(a.clone())
            }
            PrincipalEntry::Service(s) if s.starts_with("logs.") => {
                g.logs_service.get_or_insert_with(|| s.clone());
                None
            }
            _ => None,
        }
    };
    let mut iam: BTreeMap<(String, Option<String>), BTreeSet<String>> = BTreeMap::new();
    for prefix in &prefixes {
        let key = format!("{prefix}replaudit-sample-object");
        let obj = crate::aws::s3_object_arn(partition, name, &key);
        for grant in crate::policy::grants(&policy, OBJECT_ACTIONS, &obj) {
            if let Some(a) = wanted(&grant.principal, grant.not_principal) {
                iam.entry((a, Some(key.clone())))
                    .or_default()
                    .extend(grant.actions.iter().cloned());
            }
        }
    }
    let bucket_arn = crate::aws::s3_bucket_arn(partition, name);
    let mut bucket_level: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for grant in crate::policy::grants(&policy, BUCKET_ACTIONS, &bucket_arn) {
        if let Some(a) = wanted(&grant.principal, grant.not_principal) {
            bucket_level
                .entry(a)
                .or_default()
                .extend(grant.actions.iter().cloned());
        }
    }
    g.iam = iam;
    for (a, actions) in bucket_level {
        let mut placed = false;
        for ((arn, _), acts) in g.iam.iter_mut() {
            if *arn == a {
                acts.extend(actions.iter().cloned());
                placed = true;
            }
        }
        if !placed {
            g.iam.insert((a, None), actions);
        }
    }
    g
}

/// A `[scenario_d]` for a log bucket whose policy lets CloudWatch Logs export into it: the
/// replication of that bucket and its first rule's prefix and destination.
fn log_scenario(name: &str, service: &str, sources: &[&BucketState]) -> Option<String> {
    let src = sources.iter().find(|b| b.name == name)?;
    let Fetched::Ok { value } = &src.replication else {
        return None;
    };
    let rule = value.rules.iter().find(|r| r.status == "Enabled")?;
    let logs_region = service
        .strip_prefix("logs.")
        .and_then(|r| r.strip_suffix(".amazonaws.com"))
        .map(str::to_string)
        .or_else(|| src.region.value().cloned())?;
    Some(format!(
        "# The policy of {name} lets CloudWatch Logs ({service}) export into it: scenario D.\n\
         # Which log groups export there cannot be read from the bucket: list them in log_groups.\n\
         [scenario_d]\nlog_bucket = {}\nbackup_bucket = {}\nreplication = {}\nexport_prefix = {}\nlogs_region = {}\n\n",
        q(name),
        q(bucket_of_arn(&rule.destination.bucket)),
        q(name),
        q(rule.filter.prefix.as_deref().unwrap_or("")),
        q(&logs_region)
    ))
}

fn all_on(p: &crate::snapshot::PublicAccessBlock) -> bool {
    p.block_public_acls
        && p.ignore_public_acls
        && p.block_public_policy
        && p.restrict_public_buckets
}

/// `<account alias>-<role name>` for a role of a known account, else the role name.
fn role_alias(arn: &str, accounts: &BTreeMap<String, Account>) -> String {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    match spec::arn_account(arn)
        .and_then(|id| accounts.iter().find(|(_, a)| a.account_id.get_ref() == id))
    {
        Some((alias, _)) => format!("{alias}-{name}"),
        None => name.to_string(),
    }
}

fn rule_toml(r: &ReplicationRule, dest: &str) -> String {
    let mut s = String::from("[[replication.rules]]\n");
    if let Some(id) = &r.id {
        let _ = writeln!(s, "id = {}", q(id));
    }
    if let Some(p) = r.priority {
        let _ = writeln!(s, "priority = {p}");
    }
    if let Some(p) = &r.filter.prefix {
        let _ = writeln!(s, "prefix = {}", q(p));
    }
    if !r.filter.tags.is_empty() {
        let tags: Vec<String> = r
            .filter
            .tags
            .iter()
            .map(|(k, v)| format!("{} = {}", key(k), q(v)))
            .collect();
        let _ = writeln!(s, "tags = {{ {} }}", tags.join(", "));
    }
    let _ = writeln!(s, "destination = {}", q(dest));
    let dst = &r.destination;
    let rtc = dst
        .replication_time
        .as_ref()
        .is_some_and(|t| t.status == "Enabled");
    let metrics = dst.metrics.as_ref().is_some_and(|t| t.status == "Enabled");
    let _ = writeln!(s, "rtc = {rtc}");
    let _ = writeln!(s, "metrics = {metrics}");
    let _ = writeln!(
        s,
        "delete_marker_replication = {}",
        enabled(r.delete_marker_replication.as_deref())
    );
    let _ = writeln!(
        s,
        "owner_override = {}",
        dst.access_control_owner.as_deref() == Some("Destination")
    );
    let _ = writeln!(
        s,
        "sse_kms_encrypted_objects = {}",
        enabled(r.sse_kms_encrypted_objects.as_deref())
    );
    if let Some(k) = dst
        .replica_kms_key_id
        .as_deref()
        .filter(|k| spec::is_kms_key_arn(k))
    {
        let _ = writeln!(s, "replica_kms_key_arn = {}", q(k));
    }
    if let Some(c) = &dst.storage_class {
        let _ = writeln!(s, "storage_class = {}", q(c));
    }
    s.push('\n');
    s
}

/// One bucket's line, and notes on what could not be read (those settings are left unchecked).
fn bucket_toml(
    b: &BucketState,
    account: &str,
    input: &AccountsFile,
    tls_only: bool,
) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    let mut unread = |what: &str, f: &dyn Fn() -> Option<(String, String)>| {
        if let Some((call, reason)) = f() {
            notes.push(format!(
                "bucket {}: {what} could not be read ({call}: {reason}); not checked",
                b.name
            ));
        }
    };
    fn why<T>(f: &Fetched<T>) -> Option<(String, String)> {
        match f {
            Fetched::Unknown { call, reason, .. } => Some((call.clone(), reason.clone())),
            _ => None,
        }
    }
    let region = match &b.region {
        Fetched::Ok { value } => value.clone(),
        _ => input.accounts[account].region.get_ref().clone(),
    };
    unread("its Region", &|| why(&b.region));
    let mut fields = vec![
        format!("name = {}", q(&b.name)),
        format!("account = {}", q(account)),
        format!("region = {}", q(&region)),
    ];
    unread("versioning", &|| why(&b.versioning));
    if let Fetched::Ok { value } = &b.versioning {
        fields.push(format!("versioning = {}", value == "Enabled"));
    }
    unread("Block Public Access", &|| why(&b.public_access_block));
    let bpa = match &b.public_access_block {
        Fetched::Ok { value } => all_on(value),
        _ => false,
    };
    if !matches!(b.public_access_block, Fetched::Unknown { .. }) {
        fields.push(format!("block_public_access = {bpa}"));
    }
    unread("default encryption", &|| why(&b.encryption));
    if let Some(rule) = b.encryption.value().and_then(|r| r.first()) {
        fields.push(format!("default_encryption = {}", q(&rule.sse_algorithm)));
        if let Some(k) = rule.kms_master_key_id.as_deref() {
            let same_region = spec::arn_region(k) == Some(region.as_str());
            if spec::is_kms_key_arn(k) && same_region {
                fields.push(format!("kms_key_arn = {}", q(k)));
            }
        }
    }
    unread("object ownership", &|| why(&b.ownership_controls));
    if let Fetched::Ok { value } = &b.ownership_controls {
        fields.push(format!("object_ownership = {}", q(value)));
    }
    unread("the bucket policy", &|| why(&b.policy));
    fields.push(format!(
        "tls_only = {}",
        tls_only && !matches!(b.policy, Fetched::Unknown { .. })
    ));
    (
        format!("{} = {{ {} }}\n", key(&b.name), fields.join(", ")),
        notes,
    )
}

/// Discover the replications of `input`'s accounts: list their buckets, read them all, write the
/// baseline, then audit the baseline against a fresh read of what it names. Buckets whose policy
/// does not deny every plain-HTTP request get `tls_only = false` (today's state); any other
/// finding that does not pass is a problem of the discovery, listed in the spec and returned.
///
/// `earlier`: problems found before (member accounts whose role could not be assumed): listed
/// first, in the spec and in the result, so the run is not green.
pub async fn discover(
    input: &AccountsFile,
    copts: &crate::collect::CollectOptions,
    name: &str,
    earlier: Vec<String>,
) -> Result<Discovery, Error> {
    let here = std::path::Path::new("<discover>");
    let accounts_only = spec::parse(here, &provisional_spec(input, &BTreeMap::new()))
        .map_err(|e| Error::InvalidAccounts(e.message))?;
    let listed = crate::collect::list_buckets(&accounts_only, &copts.aws).await;
    let mut problems = earlier;
    let mut unlisted = 0;
    let mut owned: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (alias, f) in listed {
        match f {
            Fetched::Ok { value } => {
                owned.insert(alias, value);
            }
            Fetched::Unknown { call, reason, .. } => {
                unlisted += 1;
                problems.push(format!(
                    "account {alias}: its buckets could not be listed ({call}: {reason})"
                ));
                owned.insert(alias, BTreeSet::new());
            }
            Fetched::Absent { .. } => {
                owned.insert(alias, BTreeSet::new());
            }
        }
    }
    if owned.values().all(|b| b.is_empty()) && unlisted > 0 {
        return Err(Error::Nothing(problems));
    }
    let provisional = spec::parse(here, &provisional_spec(input, &owned))
        .map_err(|e| Error::Internal(format!("provisional spec rejected: {e}")))?;
    let mut quick = copts.clone();
    quick.since = chrono::Utc::now();
    let snap = crate::collect::collect(&provisional, &quick).await;
    let mut opts = BaselineOptions {
        name: name.to_string(),
        not_tls_only: BTreeSet::new(),
    };
    let first = baseline(input, &owned, &snap, &opts);
    let parsed = spec::parse(here, &first.spec)
        .map_err(|e| Error::Internal(format!("the discovered spec is not valid: {e}")))?;
    // Read what the baseline names (its roles and keys too) and audit it.
    let check = crate::collect::collect(&parsed, &quick).await;
    let cx = crate::rules::AuditContext::new(&parsed, &check);
    let findings = crate::rules::run_all(&cx);
    let mut unexpected = Vec::new();
    for f in &findings {
        let bad = matches!(
            f.status,
            crate::findings::Status::Fail | crate::findings::Status::Error
        );
        if !bad {
            continue;
        }
        if f.id == "bucket-tls-only" && f.status == crate::findings::Status::Fail {
            opts.not_tls_only
                .insert(bucket_of_arn(&f.resource).to_string());
        } else {
            unexpected.push(format!(
                "the state it was read from does not pass {} on {}: {}",
                f.id, f.resource, f.message
            ));
        }
    }
    let mut d = baseline(input, &owned, &snap, &opts);
    spec::parse(here, &d.spec)
        .map_err(|e| Error::Internal(format!("the discovered spec is not valid: {e}")))?;
    let before: Vec<&String> = problems.iter().chain(&unexpected).collect();
    if !before.is_empty() {
        let mut notes = String::new();
        for u in before {
            let _ = writeln!(notes, "# NOTE: {u}");
        }
        d.spec = format!("{notes}{}", d.spec);
    }
    problems.extend(d.problems);
    problems.extend(unexpected);
    d.problems = problems;
    Ok(d)
}

/// `discover --organization-profile P --member-role NAME`: the accounts come from AWS
/// Organizations instead of a file.
#[derive(Debug, Clone)]
pub struct Organization {
    /// A profile of the organisation's management account or of a delegated administrator:
    /// "This operation can be called only from the organization's management account or by a
    /// member account that is a delegated administrator"
    /// (<https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html>).
    pub profile: String,
    /// The role assumed (from `profile`) in every member account but the one `profile` itself
    /// signs in to, which is read with `profile` (see [`member_accounts`]).
    pub member_role: String,
    /// The home Region written for every member account (the collector finds each bucket's
    /// real Region); also decides the partition of the role ARNs.
    pub region: String,
}

impl Organization {
    /// A client of the organisation profile itself, its calls gated under the profile's name.
    async fn client<C: crate::aws::SdkClient>(
        &self,
        aws: &crate::aws::AwsOptions,
    ) -> crate::aws::Gated<C> {
        let creds = Credentials {
            profile: Some(self.profile.clone()),
            ..Credentials::default()
        };
        crate::aws::Factory::shared(aws)
            .client_for(&format!("profile {}", self.profile), &creds, &self.region)
            .await
    }
}

/// One account as `ListAccounts` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub name: String,
    /// `State` (`ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, ...), else the retired `Status`.
    pub state: String,
}

/// Every account of the organisation (`organizations:ListAccounts`, every page).
///
/// "Always check the NextToken response parameter for a null value when calling a List*
/// operation. These operations can occasionally return an empty set of results even when there
/// are more results available" (<https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html>):
/// pages are followed until the token is absent, never until a page is empty.
/// Account state: "The Status parameter in the API response will be retired on September 9,
/// 2026 ... we recommend that you update your scripts or other code to use the State parameter
/// instead of Status" (<https://docs.aws.amazon.com/organizations/latest/APIReference/API_Account.html>):
/// `State` is read, `Status` only when `State` is absent.
pub async fn list_members(
    org: &Organization,
    aws: &crate::aws::AwsOptions,
) -> Result<Vec<Member>, Error> {
    let client: crate::aws::Gated<aws_sdk_organizations::Client> = org.client(aws).await;
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        // 20: the largest page AWS's API model allows for ListAccounts (`MaxResults`, min 1,
        // max 20, in the Organizations 2016-11-28 service model that botocore ships).
        let page = client
            .run(
                client
                    .list_accounts()
                    .max_results(20)
                    .set_next_token(token.clone())
                    .send(),
            )
            .await
            .map_err(|e| {
                let (code, msg) = crate::aws::error_parts(&e);
                let message = format!(
                    "organizations:ListAccounts with profile {} failed ({}: {msg}) — fix: use a \
                     profile of the organisation's management account or of a delegated \
                     administrator, allowed organizations:ListAccounts \
                     (docs/auditor-organizations-policy.json)",
                    org.profile,
                    code.as_deref().unwrap_or("error")
                );
                Error::Aws {
                    message,
                    source: crate::aws::CallError::from_sdk_owned("organizations:ListAccounts", e),
                }
            })?;
        for a in page.accounts() {
            let state = a
                .state()
                .map(|s| s.as_str().to_string())
                .or_else(|| {
                    #[allow(deprecated)]
                    a.status().map(|s| s.as_str().to_string())
                })
                .unwrap_or_default();
            out.push(Member {
                id: a.id().unwrap_or_default().to_string(),
                name: a.name().unwrap_or_default().to_string(),
                state,
            });
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// A spec alias for an account name: lower case, `-` for anything else than letters and digits.
fn alias_of(name: &str) -> String {
    let mut a = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            a.push(c.to_ascii_lowercase());
        } else if !a.ends_with('-') {
            a.push('-');
        }
    }
    let a = a.trim_matches('-').to_string();
    if a.is_empty() {
        "account".into()
    } else {
        a
    }
}

/// The account the organisation profile itself signs in to (`sts:GetCallerIdentity`, which needs
/// no permission): usually the management account.
pub async fn profile_account(
    org: &Organization,
    aws: &crate::aws::AwsOptions,
) -> Result<String, Error> {
    let sts: crate::aws::Gated<aws_sdk_sts::Client> = org.client(aws).await;
    let out = sts
        .run(sts.get_caller_identity().send())
        .await
        .map_err(|e| {
            let (code, msg) = crate::aws::error_parts(&e);
            let message = format!(
                "sts:GetCallerIdentity with profile {} failed ({}: {msg}) — fix: check the \
                 profile's credentials (e.g. `aws sts get-caller-identity --profile {}`)",
                org.profile,
                code.as_deref().unwrap_or("error"),
                org.profile
            );
            Error::Aws {
                message,
                source: crate::aws::CallError::from_sdk_owned("sts:GetCallerIdentity", e),
            }
        })?;
    out.account()
        .map(str::to_string)
        .ok_or_else(|| Error::NoAccountNamed(org.profile.clone()))
}

/// The accounts file of the organisation's ACTIVE members, and one line per member left out
/// because it is not ACTIVE (a suspended or closing account cannot be signed in to:
/// <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_account_state.html>).
///
/// Each member is read by assuming `arn:<partition>:iam::<id>:role/<member role>` from the
/// organisation profile, except `own_account`, the account the profile itself signs in to
/// (normally the management account), which is read with the profile's own credentials: AWS
/// Organizations creates its access role only in the accounts it creates ("When you create an
/// account in your organization, AWS Organizations automatically creates an IAM role that is by
/// default named OrganizationAccountAccessRole ... AWS Organizations doesn't create any other users
/// or roles", <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access.html>),
/// so the management account, which created the organisation rather than being created by it,
/// normally has no such role, and assuming one there would fail in a typical organisation.
pub fn member_accounts(
    org: &Organization,
    members: &[Member],
    own_account: Option<&str>,
) -> Result<(AccountsFile, Vec<String>), Error> {
    let partition = crate::aws::partition_of_region(&org.region);
    let mut text = String::new();
    let mut skipped = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for m in members {
        if m.state != "ACTIVE" {
            skipped.push(format!(
                "account {} ({}) is {} in the organisation: not discovered",
                m.name,
                m.id,
                if m.state.is_empty() {
                    "of unknown state"
                } else {
                    &m.state
                }
            ));
            continue;
        }
        let mut alias = alias_of(&m.name);
        if !used.insert(alias.clone()) {
            alias = format!("{alias}-{}", m.id);
            used.insert(alias.clone());
        }
        let _ = writeln!(text, "[accounts.{}]", key(&alias));
        let own = own_account == Some(m.id.as_str());
        let description = if own {
            format!(
                "AWS Organizations member {} ({}), read with the organisation profile's own credentials",
                m.name, m.id
            )
        } else {
            format!("AWS Organizations member {} ({})", m.name, m.id)
        };
        let _ = writeln!(text, "description = {}", q(&description));
        let _ = writeln!(text, "account_id = {}", q(&m.id));
        let _ = writeln!(text, "region = {}", q(&org.region));
        if own {
            let _ = writeln!(text, "credentials = {{ profile = {} }}\n", q(&org.profile));
            continue;
        }
        let role = format!("arn:{partition}:iam::{}:role/{}", m.id, org.member_role);
        let _ = writeln!(
            text,
            "credentials = {{ role_arn = {}, source_profile = {}, session_name = \"replaudit-discover\" }}\n",
            q(&role),
            q(&org.profile)
        );
    }
    if text.is_empty() {
        return Err(Error::NoActiveAccount(if skipped.is_empty() {
            String::new()
        } else {
            format!(" ({})", skipped.join("; "))
        }));
    }
    let here = std::path::Path::new("<organization>");
    let file = parse_accounts(here, &text)?;
    Ok((file, skipped))
}

/// Keep the accounts whose member role can be assumed; one line per other account naming the
/// account, the role and the fix. Discovery goes on with the others.
pub async fn assumable(
    org: &Organization,
    input: AccountsFile,
    aws: &crate::aws::AwsOptions,
) -> Result<(AccountsFile, Vec<String>), Error> {
    let here = std::path::Path::new("<organization>");
    let spec = spec::parse(here, &provisional_spec(&input, &BTreeMap::new()))
        .map_err(|e| Error::Internal(format!("member accounts rejected: {}", e.message)))?;
    let checks = crate::collect::identity::check_accounts(&spec, aws).await;
    let mut keep = input;
    let mut problems = Vec::new();
    for c in checks {
        let Err(p) = &c.result else { continue };
        if p.transient {
            continue;
        }
        let Some(role) = keep.accounts[&c.alias].credentials.role_arn.clone() else {
            // The profile's own account: the same credentials that just listed the organisation.
            problems.push(format!(
                "account {} ({}): the organisation profile {} cannot read it ({}); the other accounts \
                 were discovered, this one was not",
                c.alias, c.account_id, org.profile, p.cause
            ));
            keep.accounts.remove(&c.alias);
            continue;
        };
        problems.push(format!(
            "account {} ({}): the role {role} cannot be assumed from profile {} ({}) — fix: create \
             the role {} in that account with a trust policy allowing the organisation profile's \
             account to sts:AssumeRole it and the auditor policy \
             (docs/auditor-readonly-policy.json) attached; the other accounts were discovered, this \
             one was not",
            c.alias, c.account_id, org.profile, p.cause, org.member_role
        ));
        keep.accounts.remove(&c.alias);
    }
    if keep.accounts.is_empty() {
        return Err(Error::Nothing(problems));
    }
    Ok((keep, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(region: &str) -> Organization {
        Organization {
            profile: "mgmt".into(),
            member_role: "replaudit-audit".into(),
            region: region.into(),
        }
    }

    fn member(id: &str, name: &str, state: &str) -> Member {
        Member {
            id: id.into(),
            name: name.into(),
            state: state.into(),
        }
    }

    #[test]
    fn only_active_members_become_accounts_reached_through_the_member_role() {
        let members = [
            member("111122223333", "Log Archive", "ACTIVE"),
            member("444455556666", "Old", "SUSPENDED"),
            member("777788889999", "log archive", "ACTIVE"),
            member("222233334444", "Closing", "PENDING_CLOSURE"),
            member("555566667777", "?", ""),
        ];
        let (file, skipped) = member_accounts(&org("cn-north-1"), &members, None).unwrap();
        assert_eq!(
            file.accounts.keys().cloned().collect::<Vec<_>>(),
            vec!["log-archive", "log-archive-777788889999"],
            "aliases from the names, made unique"
        );
        let a = &file.accounts["log-archive"];
        assert_eq!(a.account_id.get_ref(), "111122223333");
        assert_eq!(a.region.get_ref(), "cn-north-1");
        assert_eq!(
            a.credentials.role_arn.as_deref(),
            Some("arn:aws-cn:iam::111122223333:role/replaudit-audit"),
            "the partition follows the Region"
        );
        assert_eq!(a.credentials.source_profile.as_deref(), Some("mgmt"));
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(skipped[0].contains("Old (444455556666) is SUSPENDED"));
        assert!(skipped[1].contains("PENDING_CLOSURE"));
        assert!(skipped[2].contains("of unknown state"));
    }

    #[test]
    fn the_profiles_own_account_is_read_with_the_profile_not_a_member_role() {
        let members = [
            member("111122223333", "Management", "ACTIVE"),
            member("271089868719", "ABCD", "ACTIVE"),
        ];
        let (file, _) =
            member_accounts(&org("ap-southeast-1"), &members, Some("111122223333")).unwrap();
        let mgmt = &file.accounts["management"];
        assert_eq!(mgmt.credentials.profile.as_deref(), Some("mgmt"));
        assert_eq!(
            mgmt.credentials.role_arn, None,
            "no member role in the management account"
        );
        let member = &file.accounts["abcd"];
        assert_eq!(
            member.credentials.role_arn.as_deref(),
            Some("arn:aws:iam::271089868719:role/replaudit-audit")
        );
    }

    #[test]
    fn an_organisation_without_active_members_is_an_error() {
        let e = member_accounts(&org("eu-west-1"), &[member("1", "x", "SUSPENDED")], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no ACTIVE account"), "{e}");
    }
}
