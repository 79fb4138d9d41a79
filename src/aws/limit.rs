//! How many AWS calls are in flight, per account and service, and how that number
//! adapts to throttling.
//!
//! Why not just start everything at once: hundreds of buckets times ten reads each used to open
//! thousands of connections at once, and since the SDK's operation timeout runs from the moment a
//! call is polled ("the maximum amount of time to wait before receiving a response from the SDK for
//! Rust, including all retries", <https://docs.aws.amazon.com/sdk-for-rust/latest/dg/timeouts.html>),
//! calls queued behind the others timed out without ever being sent. Here a call waits for a permit
//! of its (account, service) [`Gate`] — and of the process-wide open-files budget — *before* its SDK
//! future is first polled, so its timeout starts when it is sent.
//!
//! Why not the SDK's adaptive retry mode (`RetryConfig::adaptive()`): its client-side rate limiter
//! "can delay [the] initial request" (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>),
//! and that delay is spent inside the operation timeout (aws-smithy-runtime 1.16,
//! `StandardRetryStrategy::should_attempt_initial_request` returns `YesAfterDelay`), so a
//! throttled audit would again turn waiting into timeouts. Its rate is also shared per service
//! and Region by every account of the process, while AWS throttles per account. Instead each gate
//! halves its concurrency when an answer says the caller is throttled (S3 `503 SlowDown`, IAM/STS
//! `Throttling`, `ThrottlingException`, ...: see [`super::throttling_code`]) and grows it back
//! by one after a full window of unthrottled answers (additive increase, multiplicative decrease,
//! as TCP does). The SDK's standard retries (backoff with jitter) still retry the throttled call.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use super::DEFAULT_MAX_CONCURRENCY;

/// File descriptors kept free for everything that is not a connection: the runtime's own, config
/// and credential files, DNS lookups.
const FD_RESERVE: u64 = 16;

/// One (account, service) queue of calls.
#[derive(Debug)]
pub struct Gate {
    name: String,
    sem: Arc<Semaphore>,
    state: Mutex<GateState>,
}

#[derive(Debug)]
struct GateState {
    max: usize,
    /// Calls allowed in flight now (`1..=max`).
    allowed: usize,
    /// Permits still to be withdrawn when in-flight calls return (after a cut).
    debt: usize,
    /// Bumped at every cut: a throttled answer to a call sent before the last cut does not cut again.
    generation: u64,
    /// Unthrottled answers since the last change of `allowed`.
    successes: usize,
    throttled: u64,
    answered: u64,
    lowest: usize,
}

/// What a gate has seen, for logs and the benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateStats {
    pub name: String,
    pub answered: u64,
    pub throttled: u64,
    pub allowed: usize,
    pub lowest: usize,
}

impl Gate {
    pub fn new(name: impl Into<String>, max: usize) -> Arc<Gate> {
        let max = max.max(1);
        Arc::new(Gate {
            name: name.into(),
            sem: Arc::new(Semaphore::new(max)),
            state: Mutex::new(GateState {
                max,
                allowed: max,
                debt: 0,
                generation: 0,
                successes: 0,
                throttled: 0,
                answered: 0,
                lowest: max,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait for room, then hold it until the permit is dropped.
    pub async fn acquire(self: &Arc<Gate>) -> GatePermit {
        let permit = self
            .sem
            .clone()
            .acquire_owned()
            .await
            .expect("gate semaphores are never closed");
        GatePermit {
            permit: Some(permit),
            generation: self.state().generation,
            gate: self.clone(),
        }
    }

    /// A throttled answer to a call sent in `generation`: halve the calls in flight (once per
    /// generation, never below one).
    pub fn throttled(&self, generation: u64) {
        let mut s = self.state();
        s.throttled += 1;
        if generation != s.generation {
            return;
        }
        let new = (s.allowed / 2).max(1);
        let cut = s.allowed - new;
        s.allowed = new;
        s.lowest = s.lowest.min(new);
        s.generation += 1;
        s.successes = 0;
        let withdrawn = self.sem.forget_permits(cut);
        s.debt += cut - withdrawn;
        tracing::debug!(gate = %self.name, allowed = new, "throttled: fewer calls in flight");
    }

    /// An answer that was not throttling: after `allowed` of them, allow one more call.
    pub fn answered(&self) {
        let mut s = self.state();
        s.answered += 1;
        s.successes += 1;
        if s.successes >= s.allowed && s.allowed < s.max {
            s.allowed += 1;
            s.successes = 0;
            if s.debt > 0 {
                s.debt -= 1;
            } else {
                self.sem.add_permits(1);
            }
        }
    }

    pub fn stats(&self) -> GateStats {
        let s = self.state();
        GateStats {
            name: self.name.clone(),
            answered: s.answered,
            throttled: s.throttled,
            allowed: s.allowed,
            lowest: s.lowest,
        }
    }

    /// Run `call` (an SDK `send()` future, not yet polled) once the gate has room, with throttled
    /// answers reported back to this gate.
    pub async fn run<F: std::future::Future>(self: &Arc<Gate>, call: F) -> F::Output {
        let permit = self.acquire().await;
        permit.run(call).await
    }
}

/// Room for one call; given back (or withdrawn, after a cut) when dropped.
#[derive(Debug)]
pub struct GatePermit {
    permit: Option<OwnedSemaphorePermit>,
    generation: u64,
    gate: Arc<Gate>,
}

impl GatePermit {
    /// Run `call` under this permit, its throttled answers reported to the permit's gate.
    pub async fn run<F: std::future::Future>(self, call: F) -> F::Output {
        let observer: Arc<dyn super::AttemptObserver> = Arc::new(CallObserver {
            gate: self.gate.clone(),
            generation: self.generation,
        });
        let out = super::observe_attempts(observer, call).await;
        drop(self);
        out
    }
}

impl Drop for GatePermit {
    fn drop(&mut self) {
        let Some(p) = self.permit.take() else { return };
        let mut s = self.gate.state();
        if s.debt > 0 {
            s.debt -= 1;
            p.forget();
        }
    }
}

struct CallObserver {
    gate: Arc<Gate>,
    generation: u64,
}

impl super::AttemptObserver for CallObserver {
    fn throttled(&self) {
        self.gate.throttled(self.generation);
    }
    fn answered(&self) {
        self.gate.answered();
    }
}

/// The services replaudit calls, each with its own gate per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    S3,
    S3Control,
    Sts,
    Iam,
    Kms,
    CloudTrail,
    Config,
    CloudWatch,
    Logs,
    Athena,
    Organizations,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::S3Control => "s3control",
            Service::Sts => "sts",
            Service::Iam => "iam",
            Service::Kms => "kms",
            Service::CloudTrail => "cloudtrail",
            Service::Config => "config",
            Service::CloudWatch => "cloudwatch",
            Service::Logs => "logs",
            Service::Athena => "athena",
            Service::Organizations => "organizations",
        }
    }
}

/// Every gate of a collection, plus the process-wide budget of open connections.
#[derive(Debug)]
pub struct Limits {
    max: usize,
    gates: Mutex<BTreeMap<(String, Service), Arc<Gate>>>,
    /// Calls in flight across all gates, bounded by the open-files limit (see [`fd_budget`]).
    files: Arc<Gate>,
}

impl Limits {
    pub fn new(max_per_gate: usize) -> Limits {
        let budget = fd_budget();
        if let Some(b) = &budget {
            if b.connections < max_per_gate * 2 {
                tracing::warn!(
                    "the open-files limit is {} ({} already open): at most {} AWS calls at once \
                     (raise it with `ulimit -n` for more)",
                    b.limit,
                    b.open,
                    b.connections
                );
            }
        }
        let connections = budget.map(|b| b.connections).unwrap_or(usize::MAX >> 4);
        Limits {
            max: max_per_gate.max(1),
            gates: Mutex::new(BTreeMap::new()),
            files: Gate::new("open files", connections),
        }
    }

    /// The gate of an account's calls to a service.
    pub fn gate(&self, account: &str, service: Service) -> Arc<Gate> {
        let mut g = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        g.entry((account.to_string(), service))
            .or_insert_with(|| Gate::new(format!("{account}/{}", service.as_str()), self.max))
            .clone()
    }

    /// Run one call through its gate and the open-files budget.
    pub async fn run<F: std::future::Future>(
        &self,
        account: &str,
        service: Service,
        call: F,
    ) -> F::Output {
        // The service's gate first: a call waiting for its own service holds no connection room
        // that another account or service could use.
        let permit = self.gate(account, service).acquire().await;
        let _file = self.files.acquire().await;
        permit.run(call).await
    }

    pub fn stats(&self) -> Vec<GateStats> {
        self.gates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|g| g.stats())
            .collect()
    }

    pub fn max_per_gate(&self) -> usize {
        self.max
    }
}

/// How many connections the open-files limit leaves room for.
#[derive(Debug, Clone, Copy)]
pub struct FdBudget {
    pub limit: u64,
    pub open: u64,
    pub connections: usize,
}

/// The soft `RLIMIT_NOFILE` minus what is open and a reserve, halved: idle pooled connections to
/// other hosts (S3 in each Region, IAM, STS, ...) hold descriptors too. `None` where unknown.
pub fn fd_budget() -> Option<FdBudget> {
    let limit = super::open_files_limit()?;
    let open = super::open_files_now().unwrap_or(FD_RESERVE);
    let free = limit.saturating_sub(open + FD_RESERVE);
    Some(FdBudget {
        limit,
        open,
        connections: ((free / 2) as usize).max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Starts `n` calls through `gate`, each taking `ms`, and returns the most seen in flight.
    async fn peak(gate: &Arc<Gate>, n: usize, ms: u64) -> usize {
        let now = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let calls = (0..n).map(|_| {
            let (now, max) = (now.clone(), max.clone());
            gate.run(async move {
                let c = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(c, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                now.fetch_sub(1, Ordering::SeqCst);
            })
        });
        futures::future::join_all(calls).await;
        max.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_gate_bounds_calls_in_flight() {
        let g = Gate::new("t", 3);
        assert_eq!(peak(&g, 20, 5).await, 3);
        let one = Gate::new("t", 1);
        assert_eq!(peak(&one, 10, 1).await, 1);
    }

    #[tokio::test]
    async fn throttling_halves_and_answers_grow_back() {
        let g = Gate::new("t", 8);
        let p = g.acquire().await;
        g.throttled(p.generation);
        assert_eq!(g.stats().allowed, 4);
        // An answer to a call sent before that cut does not cut again.
        g.throttled(p.generation);
        assert_eq!(g.stats().allowed, 4);
        drop(p);
        let p = g.acquire().await;
        g.throttled(p.generation);
        drop(p);
        assert_eq!(g.stats().allowed, 2);
        assert_eq!(peak(&g, 10, 2).await, 2, "a cut is enforced");
        for _ in 0..2 {
            g.answered();
        }
        assert_eq!(g.stats().allowed, 3);
        assert_eq!(g.stats().lowest, 2);
        assert_eq!(peak(&g, 12, 2).await, 3, "growth is enforced");
    }

    #[tokio::test]
    async fn a_cut_while_calls_are_in_flight_is_enforced_when_they_return() {
        let g = Gate::new("t", 4);
        let held: Vec<GatePermit> = futures::future::join_all((0..4).map(|_| g.acquire())).await;
        g.throttled(held[0].generation);
        assert_eq!(g.stats().allowed, 2);
        drop(held);
        assert_eq!(peak(&g, 10, 2).await, 2);
    }

    #[tokio::test]
    async fn never_below_one() {
        let g = Gate::new("t", 2);
        for _ in 0..5 {
            let p = g.acquire().await;
            g.throttled(p.generation);
        }
        assert_eq!(g.stats().allowed, 1);
        assert_eq!(peak(&g, 5, 1).await, 1);
    }
}
