//! The canary's verdicts: pure functions from (spec, plan, observations) to findings.
//!
//! Nothing here talks to AWS or reads a clock: the code that observes (`run.rs`, `logs.rs`,
//! `cleanup.rs`) measures and records what it saw in the types of `observation.rs`, and these
//! functions decide pass / fail / error / skip. That is what lets every canary check be tested
//! offline with a failing and a passing situation (`tests.rs`).
//!
//! Honesty rules every verdict follows:
//! - a check that was still waiting when the run was stopped (SIGINT, SIGTERM, `--deadline`) is
//!   `error` naming the stop, never `pass` or `skip`;
//! - a check that could not be made because its precondition failed (no replica, nothing
//!   written) is `skip` naming that cause, which is itself reported as `fail` or `error`
//!   elsewhere; when the precondition was cut short by a stop it is `error` instead;
//! - what was not read (an unreadable destination, a failed call) is `error` naming the call.

mod logs;
mod objects;

#[cfg(test)]
mod tests;

use super::observation::{Cleaned, Interrupt, VersionRef};
use super::plan::{self, Expected, PlannedObject};
use crate::catalogue::canary as meta;
use crate::findings::{Finding, Scenario, Status};
use crate::spec::Spec;
use serde_json::{json, Value};
use std::time::Duration;

/// S3 Replication Time Control's window: "replicates 99.99 percent of new objects stored in
/// Amazon S3 within 15 minutes".
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-time-control.html>
pub const RTC_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The context every verdict needs: the spec (names, rules, expectations), the run id, and the
/// run's time limits. Built from the run's settings; tests build it from the seed spec.
#[derive(Clone, Copy)]
pub struct Judge<'a> {
    pub spec: &'a Spec,
    /// What DescribeKey said of the spec's KMS aliases (key ARNs need no entry), so that a
    /// replica key named by alias ARN is compared by the key ARN S3 reports.
    pub keys: &'a crate::access::kms::Described,
    pub run_id: &'a str,
    /// How long each replica / replicated delete marker / export was waited for.
    pub timeout: Duration,
    /// How long things that must not arrive were watched for.
    pub observe: Duration,
}

pub(crate) fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `base` with the keys of `extra` added (both JSON objects).
pub(crate) fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

impl<'a> Judge<'a> {
    pub fn name(&self, bucket: &'a str) -> &'a str {
        plan::bucket_name(self.spec, bucket)
    }

    pub fn url(&self, bucket: &str, key: &str) -> String {
        plan::object_url(self.spec, bucket, key)
    }

    /// The bucket's ARN in the partition of its Region (`arn:aws-cn:s3:::…` in China): S3
    /// bucket ARNs carry the partition, no Region or account.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-arn-format.html>
    pub fn bucket_arn(&self, bucket: &str) -> String {
        let region = self
            .spec
            .buckets
            .get(bucket)
            .map(|b| b.region.get_ref().as_str())
            .unwrap_or_default();
        crate::aws::s3_bucket_arn(
            crate::aws::partition_of_region(region),
            plan::bucket_name(self.spec, bucket),
        )
    }

    fn bucket_url(&self, bucket: &str) -> String {
        format!("s3://{}", plan::bucket_name(self.spec, bucket))
    }

    fn pair_resource(&self, o: &PlannedObject, dest: &str) -> String {
        format!(
            "{} -> {}",
            self.url(&o.bucket, &o.key),
            self.bucket_url(dest)
        )
    }

    fn rule_label(&self, e: &Expected) -> String {
        plan::rule_label(self.spec, e.replication, e.rule)
    }

    fn rule(&self, e: &Expected) -> Option<&'a crate::spec::ReplicationRule> {
        self.spec
            .replication
            .get(e.replication)
            .and_then(|r| r.rules.get(e.rule))
    }

    /// `2 s (--canary-timeout)` or `900 s (the RTC window)`.
    fn timeout_words(&self) -> String {
        let t = self.timeout;
        if t < RTC_WINDOW {
            format!("{} s (--canary-timeout)", r3(t.as_secs_f64()))
        } else {
            format!("{} s (the RTC window)", r3(t.as_secs_f64()))
        }
    }

    fn base_evidence(&self, o: &PlannedObject) -> Value {
        json!({
            "run_id": self.run_id,
            "object": self.url(&o.bucket, &o.key),
            "writer": o.writer.label(),
        })
    }

    /// The `canary-cleanup` finding: what cleanup deleted, what is left, and the command that
    /// removes what is left. `spec_path` is only used to print that command.
    pub fn cleanup(&self, c: &Cleaned, spec_path: &str) -> Finding {
        let name = |v: &VersionRef| {
            json!({
                "object": self.url(&v.bucket, &v.key),
                "version_id": v.version_id,
                "delete_marker": v.delete_marker,
            })
        };
        let command = plan::cleanup_command(spec_path, self.run_id);
        let ev = json!({
            "run_id": self.run_id,
            "deleted": c.deleted.iter().map(name).collect::<Vec<_>>(),
            "left_behind": c.left.iter().map(name).collect::<Vec<_>>(),
            "left_behind_count": c.left.len(),
            "may_be_left": c.may_be_left.iter().map(name).collect::<Vec<_>>(),
            "delete_errors": c.failed.iter().map(|(v, e)| json!({"version": name(v), "error": e.evidence()})).collect::<Vec<_>>(),
            "listing_errors": c.listing_errors.iter().map(|e| e.evidence()).collect::<Vec<_>>(),
            "pre_existing_untouched": c.foreign_untouched,
            "in_flight_unresolved": c.gave_up_waiting,
            "drain_secs": r3(c.drain_secs),
            "aborted_by": c.aborted.map(|i| i.name()),
            "cleanup_command": command,
        });
        let resource = format!("canary run {}", self.run_id);
        let mk = |status, msg: String| {
            meta::CLEANUP.finding(Scenario::Step4, status, resource.clone(), msg, ev.clone())
        };
        let untouched = if c.foreign_untouched > 0 {
            format!(
                "; {} pre-existing version(s) under the run prefix left untouched",
                c.foreign_untouched
            )
        } else {
            String::new()
        };
        if let Some(i) = c.aborted {
            return mk(
                Status::Error,
                format!(
                    "cleanup {} after deleting {} version(s); {} recorded version(s) may be left{}, and replicas still in flight were not waited for; run `{command}`",
                    i.describe(),
                    c.deleted.len(),
                    c.may_be_left.len(),
                    if c.may_be_left.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({})",
                            c.may_be_left
                                .iter()
                                .map(|v| format!("{} {}", self.url(&v.bucket, &v.key), v.version_id))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
            );
        }
        if !c.left.is_empty() {
            return mk(
                Status::Fail,
                format!(
                    "{} canary version(s) left behind after deleting {}; run `{command}` once replication settles{untouched}",
                    c.left.len(),
                    c.deleted.len(),
                ),
            );
        }
        if !c.listing_errors.is_empty() || !c.failed.is_empty() {
            let first = c
                .listing_errors
                .first()
                .or(c.failed.first().map(|(_, e)| e))
                .map(|e| e.describe())
                .unwrap_or_default();
            return mk(
                Status::Error,
                format!("cleanup could not be verified: {first}; run `{command}`"),
            );
        }
        let sources = c
            .deleted
            .iter()
            .filter(|v| {
                self.spec
                    .replication
                    .iter()
                    .any(|r| r.source.get_ref() == &v.bucket)
            })
            .count();
        mk(
            Status::Pass,
            format!(
                "deleted {} canary version(s) ({} in sources, {} in destinations); 0 left behind{untouched}",
                c.deleted.len(),
                sources,
                c.deleted.len() - sources
            ),
        )
    }
}

/// The message part for a check that did not run because the run stopped.
fn stopped_before(i: Interrupt, what: &str) -> String {
    format!("{} before {what}", i.describe())
}
