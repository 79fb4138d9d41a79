//! The polling schedule: exponential backoff with jitter, first poll soon, capped interval.
//!
//! Intervals (before jitter) are 0.25 s, 0.5 s, 1 s, 2 s, 4 s, 8 s, then 15 s for ever, so a
//! fast replica is seen within a fraction of a second and a slow one costs about four HEAD
//! requests a minute. Each interval is multiplied by a uniform factor in [0.8, 1.2] so that many
//! canaries (or many concurrent runs) do not poll in lockstep.

use crate::aws::CallError;
use rand::Rng;
use std::time::Duration;

pub const FIRST: Duration = Duration::from_millis(250);
pub const CAP: Duration = Duration::from_secs(15);
const JITTER: f64 = 0.2;

#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// The next interval without jitter, advancing the schedule.
    pub fn next_base(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(CAP);
        base
    }

    /// The next interval with jitter, advancing the schedule.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next_base();
        let factor = rand::rng().random_range((1.0 - JITTER)..=(1.0 + JITTER));
        base.mul_f64(factor)
    }
}

/// Attempts after the first that `retry_delay` allows a call.
pub const RETRIES: u32 = 3;
/// The first retry's delay; each later one doubles it (0.5 s, 1 s, 2 s).
pub const RETRY_FIRST: Duration = Duration::from_millis(500);

/// How long to wait before asking again after `e` failed attempt `attempt` (0 = the first
/// retry), or None to give up: `e` is not transient (a refusal is an answer), the retries are
/// used up, or the wait would not end before the time `left` (the deadline). Each attempt is
/// already bounded by `--timeout` and the SDK's own retries; these few extra ones are for a
/// whole operation lost to a stall or a burst of throttling.
pub fn retry_delay(e: &CallError, attempt: u32, left: Option<Duration>) -> Option<Duration> {
    if !e.is_transient() || attempt >= RETRIES {
        return None;
    }
    let d = RETRY_FIRST * 2u32.pow(attempt);
    match left {
        Some(l) if d >= l => None,
        _ => Some(d),
    }
}

/// Poll times (seconds after the start, no jitter) up to and including the first poll at or
/// after `until`: the schedule a canary follows for a replica that appears at `until`.
pub fn poll_times(until: Duration) -> Vec<f64> {
    let mut b = Backoff::default();
    let mut t = Duration::ZERO;
    let mut out = Vec::new();
    loop {
        t += b.next_base();
        out.push(t.as_secs_f64());
        if t >= until {
            return out;
        }
    }
}

/// Requests one replicated canary (one destination) costs while waiting for a replica that
/// appears after `replica_after`: PutObject, one HeadObject of the source right after it, one
/// ListObjectVersions of the destination per poll (a LIST request, see `s3ops::versions_of` for
/// why not HeadObject), one source HeadObject after every unsuccessful poll (to notice FAILED
/// early), one HeadObject of the replica once listed, and one source HeadObject for the final
/// status.
pub fn requests_for(replica_after: Duration) -> usize {
    let polls = poll_times(replica_after).len();
    1 + 1 + polls + (polls - 1) + 1 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_doubles_then_caps() {
        let mut b = Backoff::default();
        let got: Vec<f64> = (0..9).map(|_| b.next_base().as_secs_f64()).collect();
        assert_eq!(got, vec![0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for _ in 0..200 {
            let mut b = Backoff::default();
            let d = b.next_delay().as_secs_f64();
            assert!((0.2..=0.3).contains(&d), "{d}");
        }
    }

    fn failure(code: Option<&str>, http_status: Option<u16>, uncertain: bool) -> CallError {
        CallError {
            call: "s3:ListObjectVersions".into(),
            code: code.map(str::to_string),
            message: "m".into(),
            http_status,
            service: http_status.is_some(),
            uncertain,
            source: None,
        }
    }

    #[test]
    fn transient_failures_are_retried_a_few_times_then_given_up() {
        let stalled = failure(None, None, true);
        let delays: Vec<Option<f64>> = (0..5)
            .map(|a| retry_delay(&stalled, a, None).map(|d| d.as_secs_f64()))
            .collect();
        assert_eq!(delays, vec![Some(0.5), Some(1.0), Some(2.0), None, None]);
        for transient in [
            failure(Some("InternalError"), Some(500), true),
            failure(Some("SlowDown"), Some(503), true),
            failure(Some("SlowDown"), None, false),
            failure(Some("RequestTimeout"), Some(400), false),
            failure(Some("ThrottlingException"), Some(400), false),
            failure(None, Some(429), false),
            failure(None, Some(502), false),
        ] {
            assert!(transient.is_transient(), "{transient:?}");
            assert_eq!(retry_delay(&transient, 0, None), Some(RETRY_FIRST));
        }
    }

    #[test]
    fn answers_and_local_errors_are_never_retried() {
        for answer in [
            failure(Some("AccessDenied"), Some(403), false),
            failure(Some("NoSuchBucket"), Some(404), false),
            failure(Some("InvalidArgument"), Some(400), false),
            CallError::local("s3:ListObjectVersions", "no client for bucket x"),
        ] {
            assert!(!answer.is_transient(), "{answer:?}");
            assert_eq!(retry_delay(&answer, 0, None), None, "{answer:?}");
        }
    }

    #[test]
    fn a_retry_never_waits_past_the_deadline() {
        let stalled = failure(None, None, true);
        let ms = Duration::from_millis;
        assert_eq!(retry_delay(&stalled, 1, Some(ms(1500))), Some(ms(1000)));
        assert_eq!(retry_delay(&stalled, 1, Some(ms(1000))), None);
        assert_eq!(retry_delay(&stalled, 0, Some(Duration::ZERO)), None);
    }

    #[test]
    fn poll_cost_figures() {
        // A replica after 2 s is seen by the 4th poll (3.75 s).
        assert_eq!(
            poll_times(Duration::from_secs(2)),
            vec![0.25, 0.75, 1.75, 3.75]
        );
        assert_eq!(requests_for(Duration::from_secs(2)), 11);
        // After 60 s: polls at ... 30.75, 45.75, 60.75.
        assert_eq!(poll_times(Duration::from_secs(60)).len(), 9);
        assert_eq!(requests_for(Duration::from_secs(60)), 21);
        // After 15 minutes: 7 polls up to 30.75 s, then one every 15 s.
        assert_eq!(poll_times(Duration::from_secs(900)).len(), 65);
        assert_eq!(requests_for(Duration::from_secs(900)), 133);
    }
}
