//! Scenario D with real data: CloudWatch Logs exports into the log bucket, replicated to the
//! backup bucket.
//!
//! The canary writes a few events to its own log stream, exports them with CreateExportTask to
//! `<export_prefix>replaudit-canary/<run-id>` in the log bucket (a prefix no one else writes to),
//! waits for the task, then for every exported object's replica in the backup bucket. Every
//! object under that prefix exists because of this run, so all of them (and their replicas, by
//! version id) are recorded for cleanup; the log stream is deleted at the end.

use super::backoff::Backoff;
use super::context::{Ctx, VersionRef, Watch};
use super::run::RunResult;
use super::s3ops::{self, CallError};
use crate::catalogue::canary as meta;
use crate::findings::{Scenario, Status};
use serde_json::json;
use std::time::{Duration, Instant};

pub(crate) async fn run(ctx: &Ctx) -> RunResult {
    let mut out = RunResult::default();
    let Some(d) = &ctx.spec.scenario_d else {
        return out;
    };
    let scenario = Scenario::ScenarioD;
    let log_bucket = d.log_bucket.get_ref().clone();
    let resource = format!("arn:aws:s3:::{}", ctx.name(&log_bucket));
    let skip = |m: &'static crate::rules::RuleMeta, why: String| {
        m.finding(
            scenario,
            Status::Skip,
            &resource,
            why.clone(),
            json!({"skipped": why}),
        )
    };
    let Some(group) = d.log_groups.first() else {
        out.findings.push(skip(
            &meta::LOG_EXPORT,
            "scenario_d names no log group to export".into(),
        ));
        return out;
    };
    let Some(logs) = &ctx.logs else {
        out.findings.push(skip(
            &meta::LOG_EXPORT,
            "no CloudWatch Logs client for scenario D".into(),
        ));
        return out;
    };
    // The replication of the spec that covers the export prefix decides where replicas go.
    let backup = d.backup_bucket.get_ref().clone();
    let Some(dest_prefix) = export_prefix(&ctx.spec, ctx.run_id()) else {
        return out;
    };
    let stream = format!("replaudit-canary-{}", ctx.run_id());
    let evidence = json!({
        "log_group": group,
        "log_stream": stream,
        "destination": format!("s3://{}/{}", ctx.name(&log_bucket), dest_prefix),
        "backup_bucket": ctx.name(&backup),
    });

    // 1. Our own stream and a few events.
    if let Err(e) = logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(&stream)
        .send()
        .await
    {
        let e = CallError::from_sdk("logs:CreateLogStream", &e);
        out.findings.push(meta::LOG_EXPORT.finding(
            scenario,
            Status::Error,
            &resource,
            format!(
                "cannot create the canary log stream in {group}: {}",
                e.describe()
            ),
            with(&evidence, json!({"error": e.evidence()})),
        ));
        return out;
    }
    let started = chrono::Utc::now();
    let export = export(
        ctx,
        logs,
        group,
        &stream,
        &log_bucket,
        &dest_prefix,
        started,
    )
    .await;
    // The stream is ours alone; delete it whatever happened to the export.
    if let Err(e) = logs
        .delete_log_stream()
        .log_group_name(group)
        .log_stream_name(&stream)
        .send()
        .await
    {
        tracing::warn!(
            "could not delete canary log stream {stream}: {}",
            CallError::from_sdk("logs:DeleteLogStream", &e).describe()
        );
    }
    let (task_id, done_at) = match export {
        Ok(x) => x,
        Err((status, msg, ev)) => {
            out.findings.push(meta::LOG_EXPORT.finding(
                scenario,
                status,
                &resource,
                msg,
                with(&evidence, ev),
            ));
            return out;
        }
    };

    // 2. What the export wrote: everything under our run's export prefix.
    let owner = match ctx.owner_client(&log_bucket) {
        Ok(c) => c,
        Err(why) => {
            out.findings.push(meta::LOG_EXPORT.finding(
                scenario,
                Status::Error,
                &resource,
                why,
                evidence,
            ));
            return out;
        }
    };
    let listed = match s3ops::list_versions(owner, ctx.name(&log_bucket), &dest_prefix).await {
        Ok(l) => l,
        Err(e) => {
            out.findings.push(meta::LOG_EXPORT.finding(
                scenario,
                Status::Error,
                &resource,
                format!(
                    "export task {task_id} completed, but its objects cannot be listed: {}",
                    e.describe()
                ),
                with(&evidence, json!({"error": e.evidence()})),
            ));
            return out;
        }
    };
    let exported: Vec<s3ops::Listed> = listed.into_iter().filter(|l| !l.delete_marker).collect();
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
    let keys: Vec<&str> = exported.iter().map(|l| l.key.as_str()).collect();
    let export_ev = with(&evidence, json!({"task_id": task_id, "objects": keys}));
    if exported.is_empty() {
        out.findings.push(meta::LOG_EXPORT.finding(
            scenario,
            Status::Fail,
            &resource,
            format!(
                "export task {task_id} completed but wrote nothing under s3://{}/{dest_prefix}",
                ctx.name(&log_bucket)
            ),
            export_ev,
        ));
        return out;
    }
    out.written += exported.len();
    out.findings.push(meta::LOG_EXPORT.finding(
        scenario,
        Status::Pass,
        &resource,
        format!(
            "export task {task_id} wrote {} object(s) under s3://{}/{dest_prefix}",
            exported.len(),
            ctx.name(&log_bucket)
        ),
        export_ev,
    ));

    // 3. Every exported object must reach the backup bucket.
    let Ok(backup_client) = ctx.owner_client(&backup) else {
        out.findings.push(skip(
            &meta::LOG_REPLICATION,
            format!("no client for the backup bucket {}", ctx.name(&backup)),
        ));
        return out;
    };
    let deadline = done_at + ctx.settings.timeout;
    let mut missing: Vec<&s3ops::Listed> = exported.iter().collect();
    let mut arrived = Vec::new();
    let mut backoff = Backoff::default();
    let mut error: Option<CallError> = None;
    while !missing.is_empty() && !ctx.stopped() {
        let mut still = Vec::new();
        for l in missing {
            match s3ops::head(backup_client, ctx.name(&backup), &l.key).await {
                Ok(h) => {
                    let version_id = h.version_id.clone().unwrap_or_else(|| l.version_id.clone());
                    ctx.ledger().observed.insert(VersionRef {
                        bucket: backup.clone(),
                        key: l.key.clone(),
                        version_id,
                        delete_marker: false,
                    });
                    arrived.push((
                        l.key.clone(),
                        done_at.elapsed().as_secs_f64(),
                        h.replication_status,
                    ));
                }
                Err(e) if e.is_not_found() => still.push(l),
                Err(e) => {
                    error = Some(e);
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
        if ctx.pause(wait).await {
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
    let slowest = arrived.iter().map(|a| a.1).fold(0.0_f64, f64::max);
    let rep_ev = with(
        &evidence,
        json!({
            "arrived": arrived.iter().map(|(k, s, st)| json!({"key": k, "seconds_after_export": (s * 1000.0).round() / 1000.0, "replication_status": st})).collect::<Vec<_>>(),
            "missing": missing.iter().map(|l| l.key.clone()).collect::<Vec<_>>(),
            "timeout_seconds": ctx.settings.timeout.as_secs_f64(),
            "error": error.as_ref().map(|e| e.evidence()),
        }),
    );
    let backup_arn = format!("arn:aws:s3:::{}", ctx.name(&backup));
    let mut f = if missing.is_empty() {
        meta::LOG_REPLICATION.finding(
            scenario,
            Status::Pass,
            &backup_arn,
            format!(
                "{} exported object(s) replicated to {} within {slowest:.1} s of the export",
                arrived.len(),
                ctx.name(&backup)
            ),
            rep_ev,
        )
    } else if ctx.stopped() {
        meta::LOG_REPLICATION.finding(
            scenario,
            Status::Skip,
            &backup_arn,
            "interrupted before the exported logs replicated",
            rep_ev,
        )
    } else if let Some(e) = &error {
        meta::LOG_REPLICATION.finding(
            scenario,
            Status::Error,
            &backup_arn,
            format!("cannot check the backup bucket: {}", e.describe()),
            rep_ev,
        )
    } else {
        meta::LOG_REPLICATION.finding(
            scenario,
            Status::Fail,
            &backup_arn,
            format!(
                "{} of {} exported object(s) did not reach {} within {:.0} s",
                missing.len(),
                exported.len(),
                ctx.name(&backup),
                ctx.settings.timeout.as_secs_f64()
            ),
            rep_ev,
        )
    };
    if missing.is_empty() {
        f.duration_secs = Some(slowest);
    }
    out.findings.push(f);
    out
}

/// Where the run's export task writes: `<export_prefix>replaudit-canary/<run-id>` (CloudWatch
/// Logs adds the `/`; a trailing slash in the prefix would make an empty key segment).
pub(crate) fn export_prefix(spec: &crate::spec::Spec, run_id: &str) -> Option<String> {
    let d = spec.scenario_d.as_ref()?;
    Some(format!(
        "{}/replaudit-canary/{run_id}",
        d.export_prefix.trim_end_matches('/')
    ))
}

/// Whether a key under a run's export prefix was written by its export task:
/// `<prefix>/<export task id (a UUID)>/…`, or CloudWatch's `<prefix>/aws-logs-write-test`.
/// Only a run with this id asks CloudWatch Logs to write below this prefix, so such objects are
/// the run's even without its tag (CloudWatch cannot tag them), which lets `canary cleanup`
/// remove a crashed run's exports.
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/S3ExportTasks.html>
pub(crate) fn is_export_object(prefix: &str, key: &str) -> bool {
    let Some(rest) = key.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    let first = rest.split('/').next().unwrap_or_default();
    first == "aws-logs-write-test" || (rest.contains('/') && is_uuid(first))
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

type ExportError = (Status, String, serde_json::Value);

/// Put the events, run the export task, and wait for it; returns the task id and when it
/// completed.
async fn export(
    ctx: &Ctx,
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    bucket: &str,
    dest_prefix: &str,
    started: chrono::DateTime<chrono::Utc>,
) -> Result<(String, Instant), ExportError> {
    let now_ms = started.timestamp_millis();
    let events: Vec<_> = (0..3)
        .map(|i| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now_ms + i)
                .message(format!("replaudit canary {} event {i}", ctx.run_id()))
                .build()
                .map_err(|e| {
                    (
                        Status::Error,
                        format!("cannot build a log event: {e}"),
                        json!({}),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .map_err(|e| {
            let e = CallError::from_sdk("logs:PutLogEvents", &e);
            (
                Status::Error,
                format!("cannot write canary log events: {}", e.describe()),
                json!({"error": e.evidence()}),
            )
        })?;
    let task = logs
        .create_export_task()
        .task_name(format!("replaudit-canary-{}", ctx.run_id()))
        .log_group_name(group)
        .log_stream_name_prefix(stream)
        .from(now_ms - 1000)
        .to(now_ms + 60_000)
        .destination(ctx.name(bucket))
        .destination_prefix(dest_prefix)
        .send()
        .await
        .map_err(|e| {
            let e = CallError::from_sdk("logs:CreateExportTask", &e);
            (
                Status::Fail,
                format!(
                    "CloudWatch Logs cannot export {group} to s3://{}/{dest_prefix}: {}",
                    ctx.name(bucket),
                    e.describe()
                ),
                json!({"error": e.evidence()}),
            )
        })?;
    let task_id = task.task_id().unwrap_or_default().to_string();
    let deadline = Instant::now() + ctx.settings.timeout;
    let mut backoff = Backoff::default();
    loop {
        let d = logs
            .describe_export_tasks()
            .task_id(&task_id)
            .send()
            .await
            .map_err(|e| {
                let e = CallError::from_sdk("logs:DescribeExportTasks", &e);
                (
                    Status::Error,
                    format!("cannot follow export task {task_id}: {}", e.describe()),
                    json!({"error": e.evidence()}),
                )
            })?;
        let status = d
            .export_tasks()
            .first()
            .and_then(|t| t.status())
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())
            .unwrap_or_default();
        match status.as_str() {
            "COMPLETED" => return Ok((task_id, Instant::now())),
            "FAILED" | "CANCELLED" => {
                return Err((
                    Status::Fail,
                    format!("export task {task_id} ended {status}"),
                    json!({"task_id": task_id, "status": status}),
                ))
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err((
                Status::Fail,
                format!(
                    "export task {task_id} still {status} after {:.0} s",
                    ctx.settings.timeout.as_secs_f64()
                ),
                json!({"task_id": task_id, "status": status}),
            ));
        }
        if ctx
            .pause(backoff.next_delay().min(Duration::from_secs(30)))
            .await
        {
            return Err((
                Status::Skip,
                format!("interrupted while export task {task_id} was {status}"),
                json!({"task_id": task_id}),
            ));
        }
    }
}

fn with(base: &serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    let mut b = base.clone();
    if let (Some(m), serde_json::Value::Object(e)) = (b.as_object_mut(), extra) {
        m.extend(e);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_objects_are_recognised_only_under_the_run_prefix() {
        let p = "exports/replaudit-canary/run-1";
        assert!(is_export_object(
            p,
            "exports/replaudit-canary/run-1/deaaf155-be19-4bd7-8df9-674bd15b92d8/stream/000000.gz"
        ));
        assert!(is_export_object(
            p,
            "exports/replaudit-canary/run-1/aws-logs-write-test"
        ));
        assert!(
            !is_export_object(p, "exports/replaudit-canary/run-1/99"),
            "canary objects are found by tag"
        );
        assert!(!is_export_object(
            p,
            "exports/replaudit-canary/run-12/deaaf155-be19-4bd7-8df9-674bd15b92d8/s/0.gz"
        ));
        assert!(!is_export_object(
            p,
            "exports/other/deaaf155-be19-4bd7-8df9-674bd15b92d8/s/0.gz"
        ));
        assert!(
            !is_export_object(
                p,
                "exports/replaudit-canary/run-1/deaaf155-be19-4bd7-8df9-674bd15b92d8"
            ),
            "a bare UUID key is not an export"
        );
    }
}
