//! The collector: the only code that reads AWS for an audit. It reads both accounts
//! concurrently into a [`Snapshot`]; a call that fails is recorded as `Unknown` with its cause
//! and never aborts the collection.

mod account;
pub mod evidence;
mod grants;
pub(crate) mod iam;
pub mod identity;
pub mod kms;
pub(crate) mod s3;

use crate::aws::{self, AwsOptions};
pub(crate) use crate::aws::{limit, Clients};
use crate::snapshot::{
    AccountState, BucketState, Fetched, IamAccount, KmsKeyState, PrincipalState,
    ReplicationMetrics, Snapshot, SCHEMA_VERSION,
};
use crate::spec::{self, Spec};
use crate::stop::Interrupt;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use futures::future::join_all;
use std::collections::BTreeMap;

/// Turn one SDK result into a [`Fetched`]: error codes listed in `absent` mean "not
/// configured" (a known state), any other error is `Unknown` with the call and cause.
pub(crate) fn fetched<T, O, E>(
    call: &str,
    absent: &[&str],
    r: Result<O, SdkError<E, HttpResponse>>,
    f: impl FnOnce(O) -> T,
) -> Fetched<T>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    match r {
        Ok(o) => Fetched::ok(f(o)),
        Err(e) => {
            let (code, msg) = error_parts(&e);
            if code.as_deref().is_some_and(|c| absent.contains(&c)) {
                Fetched::absent(format!("{call}: {}", code.unwrap_or_default()))
            } else {
                tracing::debug!(call, ?code, %msg, "call failed");
                Fetched::unknown(call, code, msg)
            }
        }
    }
}

/// [`aws::error_parts`], plus the HTTP status when the answer carried no readable error code
/// (an empty HEAD body, a proxy's HTML page, an emulator answering a JSON service in XML):
/// "unhandled error" alone names no cause.
pub(crate) fn error_parts<E>(e: &SdkError<E, HttpResponse>) -> (Option<String>, String)
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, msg) = aws::error_parts(e);
    let unreadable = code.is_none() || code.as_deref() == Some("ResponseError");
    match e.raw_response() {
        Some(r) if unreadable => (code, format!("{msg} (HTTP {})", r.status().as_u16())),
        _ => (code, msg),
    }
}

/// What the first pass found: who owns which bucket (one `ListBuckets` per account) and where each
/// spec bucket really is (`HeadBucket`).
pub(crate) struct Found<'a> {
    pub owned: &'a s3::Owned,
    pub regions: &'a BTreeMap<String, Fetched<String>>,
}

impl Found<'_> {
    /// A spec bucket's Region: where S3 says it is, else (not found, unreadable) where the spec says.
    pub fn bucket_region(&self, spec: &Spec, alias: &str) -> String {
        match self.regions.get(alias) {
            Some(Fetched::Ok { value }) => value.clone(),
            _ => spec.buckets[alias].region.get_ref().clone(),
        }
    }

    /// The Regions that matter for an account: its home Region and, for each of its buckets, the
    /// Region the spec names and the one the bucket is really in.
    pub fn regions_of(&self, spec: &Spec, account: &str) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        if let Some(a) = spec.accounts.get(account) {
            out.insert(a.region.get_ref().clone());
        }
        for (alias, b) in spec
            .buckets
            .iter()
            .filter(|(_, b)| b.account.get_ref() == account)
        {
            out.insert(b.region.get_ref().clone());
            out.insert(self.bucket_region(spec, alias));
        }
        out
    }
}

/// What to collect beyond configuration.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub aws: AwsOptions,
    /// Window of CloudWatch replication metrics (`--metrics-window`).
    pub metrics_window: std::time::Duration,
    /// Report CloudTrail configuration changes since then (`--since`).
    pub since: chrono::DateTime<chrono::Utc>,
    /// Accounts the set-up check found unusable (alias -> its one-line cause and fix), when the
    /// caller ran [`identity::check_accounts`] first; `None`: the collection runs the check.
    pub unusable: Option<BTreeMap<String, String>>,
    /// Show "bucket n of N" on stderr (default: when stderr is a terminal).
    pub progress: bool,
}

impl CollectOptions {
    pub fn new(aws: AwsOptions) -> CollectOptions {
        CollectOptions {
            aws,
            metrics_window: std::time::Duration::from_secs(24 * 3600),
            since: chrono::Utc::now() - chrono::Duration::days(1),
            unusable: None,
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }
}

/// Collect everything the rules need. Never fails: every failure is inside the snapshot.
pub async fn collect(spec: &Spec, copts: &CollectOptions) -> Snapshot {
    collect_until(spec, copts, std::future::pending()).await.0
}

/// What has been read so far; filled as each account, bucket, principal and key completes, so
/// that a stopped collection still yields everything it finished.
#[derive(Default)]
struct Partial {
    accounts: BTreeMap<String, AccountState>,
    buckets: BTreeMap<String, BucketState>,
    principals: BTreeMap<String, PrincipalState>,
    kms_keys: BTreeMap<String, KmsKeyState>,
    metrics: Option<BTreeMap<String, Fetched<ReplicationMetrics>>>,
    iam_accounts: BTreeMap<String, Fetched<IamAccount>>,
}

/// [`collect`], but stop when `stop` resolves: what was read is kept, everything still in
/// flight is recorded as `Unknown` with the stop's cause, so rules report it as `error`.
pub async fn collect_until(
    spec: &Spec,
    copts: &CollectOptions,
    stop: impl std::future::Future<Output = Interrupt>,
) -> (Snapshot, Option<Interrupt>) {
    let opts = &copts.aws;
    let collected_at = chrono::Utc::now();
    let partial = std::sync::Mutex::new(Partial::default());
    let put = |f: &dyn Fn(&mut Partial)| {
        let mut p = partial.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut p);
    };
    let progress = Progress::new(copts.progress, spec.buckets.len());
    let limits_seen = std::sync::Mutex::new(Vec::new());
    let work = async {
        let unusable = match &copts.unusable {
            Some(u) => u.clone(),
            None => unusable_accounts(&identity::check_accounts(spec, opts).await),
        };
        let clients = Clients::new(spec, opts, unusable).await;
        let clients = &clients;
        // First who owns what and where each bucket is; every bucket read then goes to its real
        // Region.
        let (owned, locations) = futures::join!(
            s3::list_owned(spec, clients),
            s3::locate_buckets(spec, clients)
        );
        let found = Found {
            owned: &owned,
            regions: &locations,
        };
        let found = &found;
        let accounts = join_all(spec.accounts.iter().map(|(alias, a)| async {
            let st = account::collect_account(spec, clients, alias, a, copts.since, found).await;
            put(&|p| {
                p.accounts.insert(st.alias.clone(), st.clone());
            });
        }));
        let progress = &progress;
        let buckets = join_all(spec.buckets.keys().map(|alias| {
            let location = locations
                .get(alias)
                .cloned()
                .unwrap_or_else(|| Fetched::unknown("s3:GetBucketLocation", None, "not located"));
            async {
                let st = s3::collect_bucket(spec, clients, alias, location, found.owned).await;
                put(&|p| {
                    p.buckets.insert(st.alias.clone(), st.clone());
                });
                progress.bucket_done();
            }
        }));
        // IAM calls are gated per principal (iam.rs reads one principal's policies concurrently):
        // at most `--max-concurrency` principals of an account are read at once.
        let principals = join_all(spec.principal_arns().into_iter().map(|arn| async {
            let account = spec::arn_account(&arn)
                .and_then(|id| spec.account_alias_for_id(id))
                .unwrap_or_default()
                .to_string();
            let st = clients
                .run(
                    &account,
                    limit::Service::Iam,
                    iam::collect_principal(spec, clients, arn),
                )
                .await;
            put(&|p| {
                p.principals.insert(st.arn.clone(), st.clone());
            });
        }));
        // Metrics name the live rule's ID and the destination's real Region: after the buckets.
        let buckets_then_metrics = async {
            buckets.await;
            let live = partial
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .buckets
                .clone();
            let m =
                evidence::replication_metrics(spec, clients, copts.metrics_window, &live, found)
                    .await;
            put(&|p| p.metrics = Some(m.clone()));
        };
        // Every principal of each account, for `who-can`.
        let authorization = join_all(spec.accounts.keys().map(|alias| async {
            let st = iam::collect_authorization(spec, clients, alias).await;
            put(&|p| {
                p.iam_accounts.insert(alias.clone(), st.clone());
            });
        }));
        futures::join!(accounts, buckets_then_metrics, principals, authorization);
        // KMS keys: those the spec names, plus replica keys the live configurations name.
        let keys = key_arns(
            spec,
            &partial.lock().unwrap_or_else(|e| e.into_inner()).buckets,
        );
        join_all(keys.into_iter().map(|k| async {
            let st = kms::collect_key(spec, clients, k).await;
            put(&|p| {
                p.kms_keys.insert(st.arn.clone(), st.clone());
            });
        }))
        .await;
        *limits_seen.lock().unwrap_or_else(|e| e.into_inner()) = clients.limits.stats();
    };
    let stopped = {
        tokio::pin!(work);
        tokio::pin!(stop);
        tokio::select! {
            _ = &mut work => None,
            s = &mut stop => Some(s),
        }
    };
    progress.finish();
    report_throttling(&limits_seen.lock().unwrap_or_else(|e| e.into_inner()));
    let mut p = partial.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = &stopped {
        tracing::warn!("collection stopped: {}", s.unread_reason());
        fill_stopped(spec, &mut p, s);
    }
    let snap = Snapshot {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        collected_at,
        spec_name: spec.name.clone(),
        endpoint_url: opts.endpoint_url.clone(),
        accounts: p.accounts,
        buckets: p.buckets,
        principals: p.principals,
        kms_keys: p.kms_keys,
        replication_metrics: p.metrics.unwrap_or_default(),
        iam_accounts: p.iam_accounts,
    };
    (snap, stopped)
}

/// The buckets each account of `spec` owns (one `ListBuckets` per account), for `discover`, which
/// starts from accounts alone.
pub async fn list_buckets(
    spec: &Spec,
    opts: &AwsOptions,
) -> BTreeMap<String, Fetched<std::collections::BTreeSet<String>>> {
    let unusable = unusable_accounts(&identity::check_accounts(spec, opts).await);
    let clients = Clients::new(spec, opts, unusable).await;
    s3::list_owned(spec, &clients).await
}

/// One line on stderr when AWS throttled the collection: how often, and how far each throttled
/// (account, service) was slowed down, so a slow run is explained.
fn report_throttling(gates: &[limit::GateStats]) {
    let throttled: u64 = gates.iter().map(|g| g.throttled).sum();
    if throttled == 0 {
        return;
    }
    let answered: u64 = gates.iter().map(|g| g.answered + g.throttled).sum();
    let slowed: Vec<String> = gates
        .iter()
        .filter(|g| g.throttled > 0)
        .map(|g| {
            format!(
                "{} {} throttled, down to {} in flight",
                g.name, g.throttled, g.lowest
            )
        })
        .collect();
    tracing::warn!(
        "AWS throttled {throttled} of {answered} answers; the collector slowed down ({}); \
         every throttled call was retried",
        slowed.join("; ")
    );
}

/// "bucket n of N" on stderr while the buckets are read, only when stderr is a terminal: a
/// redirected stderr (CI logs, files) gets nothing.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(enabled: bool, buckets: usize) -> Progress {
        if !enabled || buckets == 0 {
            return Progress(None);
        }
        let pb = indicatif::ProgressBar::with_draw_target(
            Some(buckets as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        let style = indicatif::ProgressStyle::with_template(
            "collecting: bucket {pos} of {len} [{bar:30}] {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        pb.set_style(style);
        Progress(Some(pb))
    }

    fn bucket_done(&self) {
        if let Some(pb) = &self.0 {
            pb.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

/// Every KMS key to read: the spec's, plus the keys live configurations name (aliases too).
fn key_arns(spec: &Spec, buckets: &BTreeMap<String, BucketState>) -> Vec<String> {
    kms::key_references(spec, buckets)
}

/// States for everything a stopped collection did not finish.
fn fill_stopped(spec: &Spec, p: &mut Partial, s: &Interrupt) {
    fn u<T>(s: &Interrupt) -> Fetched<T> {
        Fetched::unknown("collection", Some(s.code().to_string()), s.unread_reason())
    }
    for (alias, a) in &spec.accounts {
        p.accounts
            .entry(alias.clone())
            .or_insert_with(|| AccountState {
                alias: alias.clone(),
                expected_account_id: a.account_id.get_ref().clone(),
                caller: u(s),
                public_access_block: u(s),
                trails: u(s),
                config: u(s),
                config_compliance: u(s),
                change_events: u(s),
                config_by_region: BTreeMap::new(),
            });
    }
    for (alias, b) in &spec.buckets {
        p.buckets
            .entry(alias.clone())
            .or_insert_with(|| BucketState {
                alias: alias.clone(),
                name: b.name.get_ref().clone(),
                read_as: b.account.get_ref().clone(),
                owned_by_expected_account: u(s),
                region: u(s),
                versioning: u(s),
                public_access_block: u(s),
                ownership_controls: u(s),
                policy: u(s),
                policy_is_public: u(s),
                encryption: u(s),
                replication: u(s),
                tags: u(s),
            });
    }
    for arn in spec.principal_arns() {
        let (kind, name) = iam::kind_and_name(&arn);
        p.principals
            .entry(arn.clone())
            .or_insert_with(|| PrincipalState {
                account_id: spec::arn_account(&arn).unwrap_or_default().to_string(),
                read_as: None,
                details: u(s),
                kind,
                name,
                arn,
            });
    }
    for k in key_arns(spec, &p.buckets) {
        p.kms_keys.entry(k.clone()).or_insert_with(|| KmsKeyState {
            arn: k,
            read_as: None,
            metadata: u(s),
            key_policy: u(s),
            grants: u(s),
        });
    }
    for alias in spec.accounts.keys() {
        p.iam_accounts.entry(alias.clone()).or_insert_with(|| u(s));
    }
    if p.metrics.is_none() {
        let mut m = BTreeMap::new();
        for r in &spec.replication {
            for (i, rule) in r.rules.iter().enumerate() {
                if rule.metrics_expected() {
                    m.insert(format!("{}/{}", r.id.get_ref(), rule.label(i)), u(s));
                }
            }
        }
        p.metrics = Some(m);
    }
}

/// A state for something the spec cannot read because no account in it owns the ARN.
pub(crate) fn no_account<T>(what: &str, account_id: &str) -> Fetched<T> {
    Fetched::unknown(
        what,
        Some("NoCredentials".into()),
        format!("the spec has no account {account_id} to read it with"),
    )
}

/// The accounts a set-up check found unusable, with the one line that says why: every
/// finding about them then carries that one cause instead of each call's own failure.
pub fn unusable_accounts(checks: &[identity::AccountCheck]) -> BTreeMap<String, String> {
    checks
        .iter()
        .filter(|c| !c.is_usable())
        .filter_map(|c| c.problem_line().map(|l| (c.alias.clone(), l)))
        .collect()
}
