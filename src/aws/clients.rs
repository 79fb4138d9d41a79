//! The one client factory: every SDK client of every subcommand is made here, from a shared
//! configuration ([`super::sdk_config`]), and every call it sends waits for its (account, service)
//! gate of the process's [`Limits`] ([`Gated::run`], [`Clients::run`]), so throttling seen by any
//! caller halves that caller's calls in flight.
//!
//! Two front doors: [`Clients`] for the audit's accounts (per spec alias and Region, with the
//! set-up check's verdict), and [`Factory`] for callers that hold credentials rather than a
//! spec alias (the canary's principals, the Organizations management account, reconcile).

use super::limit::{Limits, Service};
use super::AwsOptions;
use crate::snapshot::Fetched;
use crate::spec::{self, Credentials, Spec};
use aws_config::SdkConfig;
use futures::future::join_all;
use std::collections::BTreeMap;
use std::sync::Arc;

/// An SDK client type the factory can make, and the gate its calls wait for.
pub trait SdkClient: Clone {
    const SERVICE: Service;
    fn make(conf: &SdkConfig, opts: &AwsOptions) -> Self;
}

macro_rules! sdk_client {
    ($client:ty, $service:expr) => {
        impl SdkClient for $client {
            const SERVICE: Service = $service;
            fn make(conf: &SdkConfig, _opts: &AwsOptions) -> Self {
                <$client>::new(conf)
            }
        }
    };
}

sdk_client!(aws_sdk_sts::Client, Service::Sts);
sdk_client!(aws_sdk_s3control::Client, Service::S3Control);
sdk_client!(aws_sdk_iam::Client, Service::Iam);
sdk_client!(aws_sdk_kms::Client, Service::Kms);
sdk_client!(aws_sdk_cloudtrail::Client, Service::CloudTrail);
sdk_client!(aws_sdk_config::Client, Service::Config);
sdk_client!(aws_sdk_cloudwatch::Client, Service::CloudWatch);
sdk_client!(aws_sdk_cloudwatchlogs::Client, Service::Logs);
sdk_client!(aws_sdk_athena::Client, Service::Athena);
sdk_client!(aws_sdk_organizations::Client, Service::Organizations);

impl SdkClient for aws_sdk_s3::Client {
    const SERVICE: Service = Service::S3;
    /// Path-style addressing with an endpoint override (see [`super::s3_client`]).
    fn make(conf: &SdkConfig, opts: &AwsOptions) -> Self {
        super::s3_client(conf, opts)
    }
}

/// An SDK client bound to the gate of its account and service: `client.run(client.op()...send())`
/// waits for room before the `send()` future is first polled (its timeout then starts when it is
/// sent) and reports throttled answers back to the gate. Derefs to the SDK client to build requests.
#[derive(Clone)]
pub struct Gated<C> {
    client: C,
    limits: Arc<Limits>,
    account: String,
}

impl<C: SdkClient> Gated<C> {
    pub fn new(client: C, limits: Arc<Limits>, account: impl Into<String>) -> Gated<C> {
        Gated {
            client,
            limits,
            account: account.into(),
        }
    }

    /// Run one call of this client (an SDK `send()` future, not yet polled) through its gate.
    pub async fn run<F: std::future::Future>(&self, call: F) -> F::Output {
        self.limits.run(&self.account, C::SERVICE, call).await
    }

    /// The account key of this client's gates.
    pub fn account(&self) -> &str {
        &self.account
    }
}

impl<C> std::ops::Deref for Gated<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.client
    }
}

impl<C: std::fmt::Debug> std::fmt::Debug for Gated<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gated")
            .field("account", &self.account)
            .field("client", &self.client)
            .finish()
    }
}

/// Clients for callers that hold credentials rather than a spec alias: each client is keyed by
/// an account name for its gates (the spec alias or principal name it acts as).
#[derive(Debug, Clone)]
pub struct Factory {
    pub opts: AwsOptions,
    pub limits: Arc<Limits>,
}

impl Factory {
    pub fn new(opts: &AwsOptions) -> Factory {
        Factory {
            opts: opts.clone(),
            limits: Arc::new(Limits::new(opts.max_concurrency)),
        }
    }

    /// The process's factory for these options: one set of gates shared by every caller that has
    /// no handle of its own threaded through (reconcile's rule jobs, discover, Organizations), so
    /// their concurrent calls to one account and service wait for the same gate, as AWS throttles
    /// per account. One per `--max-concurrency` value (in practice one per process).
    pub fn shared(opts: &AwsOptions) -> Factory {
        use std::sync::{Mutex, OnceLock};
        static SHARED: OnceLock<Mutex<BTreeMap<usize, Arc<Limits>>>> = OnceLock::new();
        let limits = SHARED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(opts.max_concurrency)
            .or_insert_with(|| Arc::new(Limits::new(opts.max_concurrency)))
            .clone();
        Factory {
            opts: opts.clone(),
            limits,
        }
    }

    /// The SDK configuration for a set of credentials in a Region (see [`super::sdk_config`]).
    pub async fn config(&self, creds: &Credentials, region: &str) -> SdkConfig {
        super::sdk_config(creds, region, &self.opts).await
    }

    /// A client of `account` made from `conf`, its calls gated by this factory's limits.
    pub fn client<C: SdkClient>(&self, account: &str, conf: &SdkConfig) -> Gated<C> {
        Gated::new(C::make(conf, &self.opts), self.limits.clone(), account)
    }

    /// An SDK client made elsewhere (a test's), its calls gated by this factory's limits.
    pub fn wrap<C: SdkClient>(&self, account: &str, client: C) -> Gated<C> {
        Gated::new(client, self.limits.clone(), account)
    }

    /// [`Factory::config`] then [`Factory::client`].
    pub async fn client_for<C: SdkClient>(
        &self,
        account: &str,
        creds: &Credentials,
        region: &str,
    ) -> Gated<C> {
        let conf = self.config(creds, region).await;
        self.client(account, &conf)
    }
}

/// Per-account SDK configurations, keyed by (account alias, region).
pub struct Clients {
    configs: BTreeMap<(String, String), SdkConfig>,
    /// Configurations for Regions found while collecting (a bucket's real Region, a trail's home
    /// Region, a trail's delivery bucket), loaded on first use.
    found: std::sync::Mutex<BTreeMap<(String, String), SdkConfig>>,
    /// Accounts the set-up check found unusable, with its one line (cause and fix). Checked
    /// once up front: the first failure carries the useful message ("profile X is not
    /// defined", "run aws sso login"); later ones from the SDK only say it failed again, after
    /// waiting out their retries.
    credential_errors: BTreeMap<String, String>,
    pub opts: AwsOptions,
    /// Calls in flight per account and service (see [`super::limit`]).
    pub limits: Arc<Limits>,
}

impl Clients {
    /// `unusable`: the set-up check's verdict (`collect::identity::check_accounts`), alias ->
    /// its one line.
    pub async fn new(
        spec: &Spec,
        opts: &AwsOptions,
        unusable: BTreeMap<String, String>,
    ) -> Clients {
        // Every (account, region) pair the spec touches: the account's home region, each
        // bucket's region, each KMS key's region.
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (alias, a) in &spec.accounts {
            let region = a.region.get_ref();
            pairs.push((alias.clone(), region.clone()));
            // IAM's CloudTrail events are in its partition's global Region.
            let iam = super::iam_events_region(super::partition_of_region(region));
            pairs.push((alias.clone(), iam.to_string()));
        }
        for b in spec.buckets.values() {
            pairs.push((b.account.get_ref().clone(), b.region.get_ref().clone()));
        }
        // Replication metrics are read in the source account, partly in the destination's Region.
        for r in &spec.replication {
            let src = spec.buckets[r.source.get_ref()].account.get_ref();
            for rule in &r.rules {
                let dest = &spec.buckets[rule.destination.get_ref()];
                pairs.push((src.clone(), dest.region.get_ref().clone()));
            }
        }
        for k in spec.kms_key_arns() {
            if let (Some(acct), Some(region)) = (spec::arn_account(&k), spec::arn_region(&k)) {
                if let Some(alias) = spec.account_alias_for_id(acct) {
                    pairs.push((alias.to_string(), region.to_string()));
                }
            }
        }
        pairs.sort();
        pairs.dedup();
        let loaded = join_all(pairs.iter().map(|(alias, region)| {
            let creds = spec.accounts[alias].credentials.clone();
            async move { super::sdk_config(&creds, region, opts).await }
        }))
        .await;
        let configs: BTreeMap<(String, String), SdkConfig> =
            pairs.into_iter().zip(loaded).collect();
        Clients {
            configs,
            found: std::sync::Mutex::new(BTreeMap::new()),
            credential_errors: unusable,
            opts: opts.clone(),
            limits: Arc::new(Limits::new(opts.max_concurrency)),
        }
    }

    /// Run one AWS call of an account once its (account, service) gate has room: `call` is the
    /// SDK's `send()` future, not yet polled, so its timeout starts when it is sent.
    pub async fn run<F: std::future::Future>(
        &self,
        account: &str,
        service: Service,
        call: F,
    ) -> F::Output {
        self.limits.run(account, service, call).await
    }

    /// A client of the spec account `alias` made from `conf`, its calls gated by these limits
    /// (for callers outside the collector that hold a `Clients`: `fix --apply`).
    pub fn client<C: SdkClient>(&self, alias: &str, conf: &SdkConfig) -> Gated<C> {
        Gated::new(C::make(conf, &self.opts), self.limits.clone(), alias)
    }

    /// State for anything of an account that cannot be read with its configuration.
    pub fn unavailable<T>(&self, alias: &str) -> Fetched<T> {
        match self.credential_errors.get(alias) {
            // Named as the call it is, so every finding says which call failed and why.
            Some(line) => Fetched::unknown(
                "sts:GetCallerIdentity",
                Some("AccountUnusable".into()),
                line.clone(),
            ),
            None => unconfigured(),
        }
    }

    /// The configuration for an account in any Region, loading one the first time a Region
    /// comes up that the spec does not name (a bucket found elsewhere, a trail's home Region).
    /// `None` when the account's credentials are unusable (see [`Clients::unavailable`]).
    pub async fn config_in(&self, spec: &Spec, alias: &str, region: &str) -> Option<SdkConfig> {
        if self.credential_errors.contains_key(alias) || !spec.accounts.contains_key(alias) {
            return None;
        }
        let key = (alias.to_string(), region.to_string());
        if let Some(c) = self.configs.get(&key) {
            return Some(c.clone());
        }
        if let Some(c) = self
            .found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Some(c.clone());
        }
        let c = super::sdk_config(&spec.accounts[alias].credentials, region, &self.opts).await;
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        Some(found.entry(key).or_insert(c).clone())
    }

    /// An S3 client of an account in a Region (see [`Clients::config_in`]).
    pub async fn s3_in(
        &self,
        spec: &Spec,
        alias: &str,
        region: &str,
    ) -> Option<aws_sdk_s3::Client> {
        let conf = self.config_in(spec, alias, region).await?;
        Some(super::s3_client(&conf, &self.opts))
    }

    pub fn get(&self, alias: &str, region: &str) -> Option<&SdkConfig> {
        if self.credential_errors.contains_key(alias) {
            return None;
        }
        self.configs.get(&(alias.to_string(), region.to_string()))
    }
}

/// State for anything of an account whose SDK configuration could not be made.
pub fn unconfigured<T>() -> Fetched<T> {
    Fetched::unknown(
        "configuration",
        None,
        "no SDK configuration for this account and region",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throttled answer to a call made through the factory cuts that account's gate for the
    /// service, and only that gate.
    #[tokio::test]
    async fn a_throttled_answer_cuts_the_callers_gate() {
        let opts =
            super::super::testing::options(super::super::testing::throttling_endpoint().await);
        let aws = Factory::new(&opts);
        let conf = super::super::testing::config(&opts, "us-east-1").await;
        let s3: Gated<aws_sdk_s3::Client> = aws.client("src", &conf);
        let r = s3.run(s3.get_bucket_versioning().bucket("b").send()).await;
        assert!(r.is_err());
        let g = aws.limits.gate("src", Service::S3).stats();
        assert_eq!((g.throttled, g.allowed), (1, 4), "{g:?}");
        let other = aws.limits.gate("dst", Service::S3).stats();
        assert_eq!((other.throttled, other.allowed), (0, 8), "{other:?}");
    }

    /// Every SDK client outside the AWS layer (and the collector, which uses [`Clients`]) comes
    /// from the factory, so its calls can wait for their gates: no module makes its own.
    #[test]
    fn clients_are_made_only_by_the_factory() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        assert!(files.len() > 50, "src/ not found: {}", src.display());
        let allowed = [src.join("aws"), src.join("collect")];
        let mut found = Vec::new();
        for f in files
            .iter()
            .filter(|f| !allowed.iter().any(|a| f.starts_with(a)))
        {
            let text = std::fs::read_to_string(f).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                let sdk_client = code.contains("aws_sdk_")
                    && (code.contains("::Client::new(") || code.contains("::Client::from_conf("));
                let config = ["aws::sdk_config(", "aws::s3_client("]
                    .iter()
                    .any(|c| code.contains(c));
                if sdk_client || config {
                    found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "clients made outside src/aws/:\n{}",
            found.join("\n")
        );
    }
}
