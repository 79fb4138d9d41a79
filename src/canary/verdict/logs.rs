//! Verdicts on scenario D: the CloudWatch Logs export into the log bucket, and the exported
//! objects' replication into the backup bucket.

use super::{r3, stopped_before, with, Judge};
use crate::canary::observation::{ExportObs, LogReplicationObs};
use crate::canary::plan;
use crate::catalogue::canary as meta;
use crate::findings::{Finding, Scenario, Status};
use serde_json::{json, Value};

/// CloudWatch Logs error codes that say "try again later", not "the set-up is wrong".
/// <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/CommonErrors.html>
const TRANSIENT: &[&str] = &[
    "ThrottlingException",
    "ServiceUnavailableException",
    "OperationAbortedException",
    "InternalFailure",
];

impl Judge<'_> {
    /// Scenario D's names: (log bucket alias, backup bucket alias, first log group, the run's
    /// export prefix); None without scenario D.
    fn scenario_d(&self) -> Option<(&str, &str, Option<&str>, String)> {
        let d = self.spec.scenario_d.as_ref()?;
        Some((
            d.log_bucket.get_ref().as_str(),
            d.backup_bucket.get_ref().as_str(),
            d.log_groups.first().map(String::as_str),
            plan::export_prefix(self.spec, self.run_id)?,
        ))
    }

    fn logs_evidence(&self) -> Value {
        let Some((log_bucket, backup, group, prefix)) = self.scenario_d() else {
            return json!({});
        };
        json!({
            "log_group": group,
            "log_stream": plan::log_stream(self.run_id),
            "destination": format!("s3://{}/{prefix}", self.name(log_bucket)),
            "backup_bucket": self.name(backup),
        })
    }

    /// `canary-log-export` (scenario D): the canary's own export task ran and wrote under the
    /// run's export prefix. CloudWatch Logs allows one active export task per account ("Each
    /// account can only have one active (RUNNING or PENDING) export task at a time"): another
    /// task that stays active for the whole wait is an `error` naming it, never a `fail` of the
    /// set-up. <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateExportTask.html>
    pub fn log_export(&self, e: &ExportObs) -> Option<Finding> {
        let (log_bucket, _, group, prefix) = self.scenario_d()?;
        let scenario = Scenario::ScenarioD;
        let resource = self.bucket_arn(log_bucket);
        let target = format!("s3://{}/{prefix}", self.name(log_bucket));
        let group = group.unwrap_or("(none)");
        let base = self.logs_evidence();
        let mk = |status, msg: String, extra: Value| {
            meta::LOG_EXPORT.finding(scenario, status, &resource, msg, with(base.clone(), extra))
        };
        Some(match e {
            ExportObs::NoLogGroup => mk(
                Status::Skip,
                "scenario_d names no log group to export".into(),
                json!({}),
            ),
            ExportObs::NoClient => mk(
                Status::Error,
                "no CloudWatch Logs client for scenario D".into(),
                json!({}),
            ),
            ExportObs::StreamFailed(err) => mk(
                Status::Error,
                format!("cannot create the canary log stream in {group}: {}", err.describe()),
                json!({"error": err.evidence()}),
            ),
            ExportObs::EventsFailed(err) => mk(
                Status::Error,
                format!("cannot write canary log events: {}", err.describe()),
                json!({"error": err.evidence()}),
            ),
            ExportObs::Refused { error, waited } => {
                let transient = !error.service
                    || error.uncertain
                    || error
                        .code
                        .as_deref()
                        .is_some_and(|c| TRANSIENT.contains(&c));
                mk(
                    if transient { Status::Error } else { Status::Fail },
                    format!(
                        "CloudWatch Logs {} export {group} to {target}: {}",
                        if transient { "did not" } else { "cannot" },
                        error.describe()
                    ),
                    json!({"error": error.evidence(), "waited_for_other_task_secs": r3(*waited)}),
                )
            }
            ExportObs::LimitPersisted {
                error,
                attempts,
                waited,
                active,
            } => mk(
                Status::Error,
                format!(
                    "another CloudWatch Logs export task of the account stayed active for {waited:.0} s ({attempts} CreateExportTask attempts, {}): only one may be active at a time, so the canary's export did not run{}; run the canary again when it has finished",
                    error.code_or_status(),
                    if active.is_empty() {
                        String::new()
                    } else {
                        format!(" (active: {})", active.join(", "))
                    }
                ),
                json!({"error": error.evidence(), "attempts": attempts, "waited_secs": r3(*waited), "active_tasks": active}),
            ),
            ExportObs::FollowFailed { task_id, error } => mk(
                Status::Error,
                format!("cannot follow export task {task_id}: {}", error.describe()),
                json!({"task_id": task_id, "error": error.evidence()}),
            ),
            ExportObs::Ended { task_id, status } => mk(
                Status::Fail,
                format!("export task {task_id} ended {status}"),
                json!({"task_id": task_id, "status": status}),
            ),
            ExportObs::TimedOut {
                task_id,
                status,
                waited,
            } => mk(
                Status::Error,
                format!("export task {task_id} still {status} after {waited:.0} s; its outcome was not seen"),
                json!({"task_id": task_id, "status": status}),
            ),
            ExportObs::Stopped { task_id, interrupt } => mk(
                Status::Error,
                match task_id {
                    Some(t) => format!("{} while export task {t} was running", interrupt.describe()),
                    None => stopped_before(*interrupt, "the export task was created"),
                },
                json!({"task_id": task_id, "stopped_by": interrupt.name()}),
            ),
            ExportObs::ListFailed { task_id, error } => mk(
                Status::Error,
                format!(
                    "export task {task_id} completed, but its objects cannot be listed: {}",
                    error.describe()
                ),
                json!({"task_id": task_id, "error": error.evidence()}),
            ),
            ExportObs::Completed {
                task_id,
                objects,
                limit_waited,
            } => {
                let waited = if *limit_waited > 0.0 {
                    format!(
                        " (after waiting {limit_waited:.1} s for another export task: one may be active at a time)"
                    )
                } else {
                    String::new()
                };
                let extra = json!({"task_id": task_id, "objects": objects, "waited_for_other_task_secs": r3(*limit_waited)});
                if objects.is_empty() {
                    mk(
                        Status::Fail,
                        format!("export task {task_id} completed but wrote nothing under {target}{waited}"),
                        extra,
                    )
                } else {
                    mk(
                        Status::Pass,
                        format!(
                            "export task {task_id} wrote {} object(s) under {target}{waited}",
                            objects.len()
                        ),
                        extra,
                    )
                }
            }
        })
    }

    /// `canary-log-replication` (scenario D): every object the export wrote reaches the backup
    /// bucket within the timeout, measured from the export's completion.
    pub fn log_replication(&self, r: &LogReplicationObs) -> Option<Finding> {
        let (_, backup, _, _) = self.scenario_d()?;
        let scenario = Scenario::ScenarioD;
        let backup_name = self.name(backup);
        let resource = self.bucket_arn(backup);
        let slowest = r.arrived.iter().map(|a| a.1).fold(0.0_f64, f64::max);
        let ev = with(
            self.logs_evidence(),
            json!({
                "arrived": r.arrived.iter().map(|(k, s, st)| json!({"key": k, "seconds_after_export": r3(*s), "replication_status": st})).collect::<Vec<_>>(),
                "missing": r.missing,
                "timeout_seconds": self.timeout.as_secs_f64(),
                "error": r.error.as_ref().map(|e| e.evidence()),
            }),
        );
        let mk = |status, msg: String| {
            meta::LOG_REPLICATION.finding(scenario, status, &resource, msg, ev.clone())
        };
        let total = r.arrived.len() + r.missing.len();
        if let Some(why) = &r.no_client {
            return Some(mk(Status::Error, why.clone()));
        }
        let mut f = if r.missing.is_empty() && !r.arrived.is_empty() {
            mk(
                Status::Pass,
                format!(
                    "{} exported object(s) replicated to {backup_name} within {slowest:.1} s of the export",
                    r.arrived.len()
                ),
            )
        } else if r.missing.is_empty() {
            mk(
                Status::Skip,
                "the export wrote nothing, so nothing could replicate (see canary-log-export)"
                    .into(),
            )
        } else if let Some(i) = r.stopped {
            mk(
                Status::Error,
                format!(
                    "{} before the exported logs replicated ({} of {total} arrived)",
                    i.describe(),
                    r.arrived.len()
                ),
            )
        } else if let Some(e) = &r.error {
            mk(
                Status::Error,
                format!("cannot check the backup bucket: {}", e.describe()),
            )
        } else {
            mk(
                Status::Fail,
                format!(
                    "{} of {total} exported object(s) did not reach {backup_name} within {:.0} s",
                    r.missing.len(),
                    self.timeout.as_secs_f64()
                ),
            )
        };
        if f.status == Status::Pass {
            f.duration_secs = Some(r3(slowest));
        }
        Some(f)
    }
}
