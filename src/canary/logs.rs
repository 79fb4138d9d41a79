//! Scenario D with real data: CloudWatch Logs exports into the log bucket, replicated to the
//! backup bucket.
//!
//! The canary writes a few events to its own log stream, exports them with CreateExportTask to
//! `<export_prefix>replaudit-canary/<run-id>` in the log bucket (a prefix no one else writes to),
//! waits for the task, then for every exported object's replica in the backup bucket. Every
//! object under that prefix exists because of this run, so all of them (and their replicas, by
//! version id) are recorded for cleanup; the log stream is deleted at the end. This module only
//! observes; `verdict/logs.rs` judges.

use super::backoff::Backoff;
use super::context::{Ctx, RunResult, VersionRef, Watch};
use super::observation::{ExportObs, LogReplicationObs};
use super::plan;
use super::s3ops::{self, CallError};
use aws_sdk_cloudwatchlogs::types::ExportTaskStatusCode;
use std::time::{Duration, Instant};

/// The longest pause between two CreateExportTask attempts while another task is active.
const LIMIT_RETRY_CAP: Duration = Duration::from_secs(30);

pub(crate) async fn run(ctx: &Ctx) -> RunResult {
    let mut out = RunResult::default();
    let j = ctx.judge();
    let (export, replication) = observe(ctx, &mut out).await;
    if let Some(e) = export {
        out.findings.extend(j.log_export(&e));
    }
    if let Some(r) = replication {
        out.findings.extend(j.log_replication(&r));
    }
    out
}

/// The export, then (when it wrote something) the exported objects' replication.
async fn observe(ctx: &Ctx, out: &mut RunResult) -> (Option<ExportObs>, Option<LogReplicationObs>) {
    let Some(d) = &ctx.spec.scenario_d else {
        return (None, None);
    };
    let Some(group) = d.log_groups.first() else {
        return (Some(ExportObs::NoLogGroup), None);
    };
    let Some(logs) = &ctx.logs else {
        return (Some(ExportObs::NoClient), None);
    };
    let Some(dest_prefix) = plan::export_prefix(&ctx.spec, ctx.run_id()) else {
        return (None, None);
    };
    let log_bucket = d.log_bucket.get_ref().clone();
    let backup = d.backup_bucket.get_ref().clone();
    let stream = plan::log_stream(ctx.run_id());

    // 1. Our own stream and a few events.
    if let Err(e) = logs
        .run(
            logs.create_log_stream()
                .log_group_name(group)
                .log_stream_name(&stream)
                .send(),
        )
        .await
    {
        let e = CallError::from_sdk("logs:CreateLogStream", &e);
        return (Some(ExportObs::StreamFailed(e)), None);
    }
    let exported = export(ctx, logs, group, &stream, &log_bucket, &dest_prefix).await;
    // The stream is ours alone; delete it whatever happened to the export.
    if let Err(e) = logs
        .run(
            logs.delete_log_stream()
                .log_group_name(group)
                .log_stream_name(&stream)
                .send(),
        )
        .await
    {
        tracing::warn!(
            "could not delete canary log stream {stream}: {}",
            CallError::from_sdk("logs:DeleteLogStream", &e).describe()
        );
    }
    let (task_id, done_at, limit_waited) = match exported {
        Ok(x) => x,
        Err(e) => return (Some(e), None),
    };

    // 2. What the export wrote: everything under our run's export prefix.
    let owner = match ctx.owner_client(&log_bucket) {
        Ok(c) => c,
        Err(why) => {
            let error = CallError::local("s3:ListObjectVersions", why);
            return (Some(ExportObs::ListFailed { task_id, error }), None);
        }
    };
    let listed = match s3ops::retrying(None, || {
        s3ops::list_versions(owner, ctx.name(&log_bucket), &dest_prefix)
    })
    .await
    {
        Ok(l) => l,
        Err(error) => return (Some(ExportObs::ListFailed { task_id, error }), None),
    };
    // Only what the export task wrote: the logs rule's own canary object lives under the same
    // run prefix and is not an export.
    let exported: Vec<s3ops::Listed> = listed
        .into_iter()
        .filter(|l| !l.delete_marker && plan::is_export_object(&dest_prefix, &l.key))
        .collect();
    {
        let mut ledger = ctx.ledger();
        for l in &exported {
            ledger.extra_keys.insert(l.key.clone());
            ledger.created.insert(VersionRef {
                bucket: log_bucket.clone(),
                key: l.key.clone(),
                version_id: l.version_id.clone(),
                delete_marker: false,
            });
        }
    }
    out.written += exported.len();
    let export_obs = ExportObs::Completed {
        task_id,
        objects: exported.iter().map(|l| l.key.clone()).collect(),
        limit_waited,
    };
    if exported.is_empty() {
        return (Some(export_obs), None);
    }

    // 3. Every exported object must reach the backup bucket.
    let backup_client = match ctx.owner_client(&backup) {
        Ok(c) => c,
        Err(why) => {
            let r = LogReplicationObs {
                no_client: Some(format!(
                    "no client for the backup bucket {}: {why}",
                    ctx.name(&backup)
                )),
                missing: exported.iter().map(|l| l.key.clone()).collect(),
                ..Default::default()
            };
            return (Some(export_obs), Some(r));
        }
    };
    let deadline = done_at + ctx.settings.timeout;
    let mut missing: Vec<&s3ops::Listed> = exported.iter().collect();
    let mut r = LogReplicationObs::default();
    let mut backoff = Backoff::default();
    loop {
        if let Some(i) = ctx.stopped() {
            r.stopped = Some(i);
            break;
        }
        let mut still = Vec::new();
        for l in missing {
            // Listed, not HEAD: see s3ops::versions_of (no s3:ListBucket in the canary policy).
            match s3ops::versions_of(backup_client, ctx.name(&backup), &l.key).await {
                Ok(v) => match v.into_iter().find(|x| !x.delete_marker) {
                    Some(x) => {
                        ctx.ledger().observed.insert(VersionRef {
                            bucket: backup.clone(),
                            key: l.key.clone(),
                            version_id: x.version_id,
                            delete_marker: false,
                        });
                        let after = done_at.elapsed().as_secs_f64();
                        let status = s3ops::head(backup_client, ctx.name(&backup), &l.key)
                            .await
                            .ok()
                            .and_then(|h| h.replication_status);
                        r.arrived.push((l.key.clone(), after, status));
                    }
                    None => still.push(l),
                },
                Err(e) => {
                    r.error = Some(e);
                    still.push(l);
                }
            }
        }
        missing = still;
        if missing.is_empty() || Instant::now() >= deadline {
            break;
        }
        let wait = backoff
            .next_delay()
            .min(deadline.saturating_duration_since(Instant::now()));
        if let Some(i) = ctx.pause(wait).await {
            r.stopped = Some(i);
            break;
        }
    }
    for l in &missing {
        out.watches.push(Watch {
            bucket: backup.clone(),
            key: l.key.clone(),
            version_ids: vec![l.version_id.clone()],
        });
    }
    r.missing = missing.iter().map(|l| l.key.clone()).collect();
    (Some(export_obs), Some(r))
}

/// Put the events, create the export task (waiting while another task of the account is
/// active), and follow it; returns the task id, when it completed, and how long the canary
/// waited for another task first.
///
/// "Each account can only have one active (RUNNING or PENDING) export task at a time"; another
/// CreateExportTask meanwhile fails with LimitExceededException. That is a reason to wait and
/// retry within the canary's timeout, not a failure of the set-up.
/// <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateExportTask.html>
///
/// The SDK's own retries are off for this one call: the AWS SDK for Rust classifies
/// LimitExceededException as throttling and would retry it inside `send()` (aws-runtime
/// `retries/classifiers.rs`, THROTTLING_ERRORS), hiding the wait from the report (it said "waited
/// 0 s") and spending attempts meant for real throttling. This loop retries what was certainly
/// refused (the limit, throttling answered by the service); a timeout or 5xx may have created a
/// task, so it is not sent again.
// ExportObs holds its CallError (with the SDK error behind it) by value; it is made once a run.
#[allow(clippy::result_large_err)]
async fn export(
    ctx: &Ctx,
    logs: &crate::aws::Gated<aws_sdk_cloudwatchlogs::Client>,
    group: &str,
    stream: &str,
    bucket: &str,
    dest_prefix: &str,
) -> Result<(String, Instant, f64), ExportObs> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let events: Vec<_> = (0..3)
        .map(|i| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now_ms + i)
                .message(format!("replaudit canary {} event {i}", ctx.run_id()))
                .build()
                .map_err(|e| {
                    ExportObs::EventsFailed(CallError::local(
                        "logs:PutLogEvents",
                        format!("cannot build a log event: {e}"),
                    ))
                })
        })
        .collect::<Result<_, _>>()?;
    logs.run(
        logs.put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(events))
            .send(),
    )
    .await
    .map_err(|e| ExportObs::EventsFailed(CallError::from_sdk("logs:PutLogEvents", &e)))?;

    let started = Instant::now();
    let limit_deadline = started + ctx.settings.timeout;
    let mut backoff = Backoff::default();
    let mut attempts = 0;
    let mut limited = false;
    let mut said = false;
    let mut throttled = 0;
    let task = loop {
        if let Some(interrupt) = ctx.stopped() {
            return Err(ExportObs::Stopped {
                task_id: None,
                interrupt,
            });
        }
        attempts += 1;
        let r = logs
            .run(
                logs.create_export_task()
                    .task_name(plan::log_stream(ctx.run_id()))
                    .log_group_name(group)
                    .log_stream_name_prefix(stream)
                    .from(now_ms - 1000)
                    .to(now_ms + 60_000)
                    .destination(ctx.name(bucket))
                    .destination_prefix(dest_prefix)
                    .customize()
                    .config_override(
                        aws_sdk_cloudwatchlogs::config::Builder::default().retry_config(
                            aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(1),
                        ),
                    )
                    .send(),
            )
            .await;
        let error = match r {
            Ok(t) => break t,
            Err(e) => CallError::from_sdk("logs:CreateExportTask", &e),
        };
        let waited = started.elapsed().as_secs_f64();
        let limit = error.code.as_deref() == Some("LimitExceededException");
        let throttling = error.service
            && !error.uncertain
            && matches!(
                error.code.as_deref(),
                Some("ThrottlingException" | "Throttling" | "TooManyRequestsException")
            );
        if throttling {
            throttled += 1;
        }
        if !(limit || (throttling && throttled < 5)) {
            return Err(ExportObs::Refused { error, waited });
        }
        limited |= limit;
        let now = Instant::now();
        if now >= limit_deadline && !limit {
            return Err(ExportObs::Refused { error, waited });
        }
        if now >= limit_deadline {
            return Err(ExportObs::LimitPersisted {
                active: active_tasks(logs).await,
                error,
                attempts,
                waited,
            });
        }
        if limit && !std::mem::replace(&mut said, true) {
            ctx.progress.println(&format!(
                "replaudit: another CloudWatch Logs export task of the account is active (only one may be); waiting up to {:.0} s",
                ctx.settings.timeout.as_secs_f64()
            ));
        }
        let wait = backoff
            .next_delay()
            .min(LIMIT_RETRY_CAP)
            .min(limit_deadline - now);
        if let Some(interrupt) = ctx.pause(wait).await {
            return Err(ExportObs::Stopped {
                task_id: None,
                interrupt,
            });
        }
    };
    let limit_waited = if limited {
        started.elapsed().as_secs_f64()
    } else {
        0.0
    };
    let task_id = task.task_id().unwrap_or_default().to_string();
    let created = Instant::now();
    let deadline = created + ctx.settings.timeout;
    let mut backoff = Backoff::default();
    loop {
        let d = logs
            .run(logs.describe_export_tasks().task_id(&task_id).send())
            .await
            .map_err(|e| ExportObs::FollowFailed {
                task_id: task_id.clone(),
                error: CallError::from_sdk("logs:DescribeExportTasks", &e),
            })?;
        let status = d
            .export_tasks()
            .first()
            .and_then(|t| t.status())
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())
            .unwrap_or_default();
        match status.as_str() {
            "COMPLETED" => return Ok((task_id, Instant::now(), limit_waited)),
            "FAILED" | "CANCELLED" => return Err(ExportObs::Ended { task_id, status }),
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(ExportObs::TimedOut {
                task_id,
                status,
                waited: created.elapsed().as_secs_f64(),
            });
        }
        if let Some(interrupt) = ctx
            .pause(backoff.next_delay().min(Duration::from_secs(30)))
            .await
        {
            return Err(ExportObs::Stopped {
                task_id: Some(task_id),
                interrupt,
            });
        }
    }
}

/// The account's active export tasks (`id (name)`), for the message; empty when they cannot
/// be read.
async fn active_tasks(logs: &crate::aws::Gated<aws_sdk_cloudwatchlogs::Client>) -> Vec<String> {
    let mut out = Vec::new();
    for code in [ExportTaskStatusCode::Pending, ExportTaskStatusCode::Running] {
        if let Ok(r) = logs
            .run(
                logs.describe_export_tasks()
                    .status_code(code.clone())
                    .send(),
            )
            .await
        {
            let active = |t: &aws_sdk_cloudwatchlogs::types::ExportTask| {
                t.status().and_then(|s| s.code()) == Some(&code)
            };
            for t in r.export_tasks().iter().filter(|t| active(t)) {
                out.push(format!(
                    "{} ({})",
                    t.task_id().unwrap_or("?"),
                    t.task_name().unwrap_or("unnamed")
                ));
            }
        }
    }
    out
}
