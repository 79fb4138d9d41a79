//! Shared state of one canary run: the spec, the plan, one S3 client per (who, region), the
//! ledger of every version the run created or saw, and the stop signal.

pub use super::observation::VersionRef;
use super::observation::{Interrupt, Sample};
use super::plan::{Actor, Plan};
use super::progress::Progress;
use super::s3ops::Client;
use super::verdict::Judge;
use super::Settings;
use crate::findings::Finding;
use crate::spec::Spec;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// Everything cleanup needs to know. Only what is recorded here is ever deleted (plus, in the
/// drain and the uncertain-write sweep, versions proven to be this run's; see cleanup.rs).
#[derive(Debug, Default)]
pub struct Ledger {
    /// Versions this run created in source buckets (PutObject, simple DeleteObject).
    pub created: BTreeSet<VersionRef>,
    /// Replicas and replicated delete markers of those, seen in destinations.
    pub observed: BTreeSet<VersionRef>,
    /// (bucket alias, key) of PutObjects whose outcome is unknown (timeout, 5xx).
    pub uncertain: BTreeSet<(String, String)>,
    /// (bucket alias, key, version id) found under the run's prefixes before the run wrote
    /// anything: never touched, never counted as left behind.
    pub foreign: BTreeSet<(String, String, String)>,
    /// Keys this run caused to exist without writing them itself (CloudWatch Logs export
    /// objects under the run's own export prefix), so cleanup's sweeps consider them.
    pub extra_keys: BTreeSet<String>,
}

impl Ledger {
    pub fn is_foreign(&self, bucket: &str, key: &str, version_id: &str) -> bool {
        self.foreign
            .contains(&(bucket.to_string(), key.to_string(), version_id.to_string()))
    }

    /// Version ids this run created in a source (replicas keep the source's version id).
    pub fn created_ids(&self) -> BTreeSet<String> {
        self.created.iter().map(|v| v.version_id.clone()).collect()
    }
}

/// Something that may still arrive in a destination after the checks ended (a replication in
/// flight at a timeout or interruption): cleanup watches for it for a bounded time.
#[derive(Debug, Clone)]
pub struct Watch {
    pub bucket: String,
    pub key: String,
    /// Version ids that are this run's (the source version, the source delete marker).
    pub version_ids: Vec<String>,
}

/// What the checks produced: findings, latency samples for the summary, and what cleanup must
/// still watch for.
#[derive(Default)]
pub(crate) struct RunResult {
    pub findings: Vec<Finding>,
    pub watches: Vec<Watch>,
    pub samples: Vec<Sample>,
    pub written: usize,
}

impl RunResult {
    pub(crate) fn merge(&mut self, other: RunResult) {
        self.findings.extend(other.findings);
        self.watches.extend(other.watches);
        self.samples.extend(other.samples);
        self.written += other.written;
    }
}

pub(crate) struct Ctx {
    pub spec: Spec,
    /// The spec's KMS aliases, described (see [`Judge::keys`]).
    pub keys: crate::access::kms::Described,
    pub settings: Settings,
    pub plan: Plan,
    pub clients: HashMap<(Actor, String), Client>,
    /// CloudWatch Logs client of scenario D's log bucket account in the logs region.
    pub logs: Option<crate::aws::Gated<aws_sdk_cloudwatchlogs::Client>>,
    /// Principals whose credentials could not be verified, with the reason.
    pub unusable: BTreeMap<Actor, String>,
    pub ledger: Mutex<Ledger>,
    /// Set once, to why the run stops (signal or deadline); checks end at their next wait.
    pub stop: watch::Receiver<Option<Interrupt>>,
    pub progress: Progress,
}

impl Ctx {
    pub fn run_id(&self) -> &str {
        &self.plan.run_id
    }

    pub fn name<'a>(&'a self, bucket: &'a str) -> &'a str {
        super::plan::bucket_name(&self.spec, bucket)
    }

    pub fn region(&self, bucket: &str) -> &str {
        self.spec
            .buckets
            .get(bucket)
            .map(|b| b.region.get_ref().as_str())
            .unwrap_or("us-east-1")
    }

    pub fn owner(&self, bucket: &str) -> Actor {
        Actor::Account(
            self.spec
                .buckets
                .get(bucket)
                .map(|b| b.account.get_ref().clone())
                .unwrap_or_default(),
        )
    }

    /// The client of `who` in `bucket`'s region.
    pub fn client(&self, who: &Actor, bucket: &str) -> Result<&Client, NoClient> {
        if let Some(why) = self.unusable.get(who) {
            return Err(NoClient::Unusable {
                who: who.label(),
                why: why.clone(),
            });
        }
        self.clients
            .get(&(who.clone(), self.region(bucket).to_string()))
            .ok_or_else(|| NoClient::Missing {
                who: who.label(),
                region: self.region(bucket).to_string(),
            })
    }

    /// The bucket owner's client (reads, deletes, listings).
    pub fn owner_client(&self, bucket: &str) -> Result<&Client, NoClient> {
        self.client(&self.owner(bucket), bucket)
    }

    /// Why the run is stopping, once it is.
    pub fn stopped(&self) -> Option<Interrupt> {
        *self.stop.borrow()
    }

    /// Sleep, waking early on the stop signal. Returns why the run stopped, if it did.
    pub async fn pause(&self, d: Duration) -> Option<Interrupt> {
        pause(&self.stop, d).await
    }

    /// The pure verdicts' view of this run.
    pub fn judge(&self) -> Judge<'_> {
        Judge {
            spec: &self.spec,
            keys: &self.keys,
            run_id: &self.plan.run_id,
            timeout: self.settings.timeout,
            observe: self.settings.observe,
        }
    }

    pub fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // A poisoned lock only means another task panicked while holding it; the data is
        // still the best record of what to clean up.
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sleep for `d` unless `stop` is (or becomes) set; returns the stop's cause when stopped.
pub async fn pause<T: Copy>(stop: &watch::Receiver<Option<T>>, d: Duration) -> Option<T> {
    let mut rx = stop.clone();
    if let Some(i) = *rx.borrow() {
        return Some(i);
    }
    let set = async {
        match rx.wait_for(|s| s.is_some()).await {
            Ok(s) => *s,
            // The sender is gone: nothing can stop us any more, so just sleep.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        i = set => i,
    }
}

/// Why the canary has no client for an actor in a bucket's Region: its credentials did not
/// pass the identity check, or no client was built there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoClient {
    #[error("{who} cannot be used: {why}")]
    Unusable { who: String, why: String },
    #[error("no client for {who} in {region}")]
    Missing { who: String, region: String },
}
