//! AWS's own evidence: AWS Config compliance of the managed rules that cover the scenario,
//! CloudTrail management events that changed audited configuration, and CloudWatch
//! replication metrics.

use super::{fetched, Clients};
use crate::snapshot::*;
use crate::spec::Spec;
use aws_smithy_types::DateTime as SmithyTime;
use chrono::{DateTime, Utc};

/// The AWS Config managed rules whose verdicts the audit shows beside its own.
/// <https://docs.aws.amazon.com/config/latest/developerguide/managed-rules-by-aws-config.html>
pub const CONFIG_MANAGED_RULES: &[&str] = &[
    "S3_BUCKET_REPLICATION_ENABLED",
    "S3_BUCKET_VERSIONING_ENABLED",
    "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED",
    "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
    "S3_BUCKET_SSL_REQUESTS_ONLY",
];

/// Management events that change what the audit checks, by the service that logs them.
/// IAM is a global service: its events are recorded in us-east-1.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html#cloudtrail-integration_examples-iam>
pub const S3_CHANGE_EVENTS: &[&str] = &[
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketReplication",
    "DeleteBucketReplication",
    "PutBucketPublicAccessBlock",
    "DeleteBucketPublicAccessBlock",
    "PutAccountPublicAccessBlock",
    "DeleteAccountPublicAccessBlock",
    "PutBucketVersioning",
    "PutBucketEncryption",
    "DeleteBucketEncryption",
    "PutBucketOwnershipControls",
];
pub const IAM_CHANGE_EVENTS: &[&str] = &[
    "PutRolePolicy",
    "DeleteRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "UpdateAssumeRolePolicy",
    "PutRolePermissionsBoundary",
    "DeleteRole",
];
pub const KMS_CHANGE_EVENTS: &[&str] = &["PutKeyPolicy", "DisableKey", "ScheduleKeyDeletion"];

pub(super) async fn config_compliance(
    cfg: &aws_sdk_config::Client,
    rules: &Fetched<ConfigState>,
) -> Fetched<Vec<ConfigCompliance>> {
    let state = match rules {
        Fetched::Ok { value } => value,
        // Name the call that actually failed (DescribeConfigRules or a recorder call), not
        // the compliance call that was never made.
        Fetched::Unknown { call, code, reason } => {
            return Fetched::unknown(
                call.clone(),
                code.clone(),
                format!(
                    "{reason} (AWS Config rules could not be listed, so no compliance was read)"
                ),
            )
        }
        Fetched::Absent { .. } => {
            return Fetched::unknown(
                "config:GetComplianceDetailsByConfigRule",
                None,
                "AWS Config rules could not be listed",
            )
        }
    };
    let mut out = Vec::new();
    for rule in &state.rules {
        let Some(src) = rule.source_identifier.as_deref() else {
            continue;
        };
        if !CONFIG_MANAGED_RULES.contains(&src) {
            continue;
        }
        let results = cfg
            .get_compliance_details_by_config_rule()
            .config_rule_name(&rule.name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        let results = match results {
            Ok(r) => r,
            Err(e) => {
                return fetched(
                    "config:GetComplianceDetailsByConfigRule",
                    &[],
                    Err::<(), _>(e),
                    |_| vec![],
                )
            }
        };
        for r in results {
            let q = r
                .evaluation_result_identifier()
                .and_then(|i| i.evaluation_result_qualifier());
            out.push(ConfigCompliance {
                rule_name: rule.name.clone(),
                source_identifier: src.to_string(),
                resource_type: q
                    .and_then(|q| q.resource_type())
                    .unwrap_or_default()
                    .to_string(),
                resource_id: q
                    .and_then(|q| q.resource_id())
                    .unwrap_or_default()
                    .to_string(),
                compliance: r
                    .compliance_type()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
            });
        }
    }
    Fetched::ok(out)
}

fn to_smithy(t: DateTime<Utc>) -> SmithyTime {
    SmithyTime::from_secs(t.timestamp())
}

fn from_smithy(t: &SmithyTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// `LookupEvents` for each change event name, one name per call (the API takes one lookup
/// attribute), sequentially because LookupEvents is limited to 2 requests per second per
/// account and region.
/// <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html>
pub(super) async fn change_events(
    clients: &Clients,
    spec: &Spec,
    alias: &str,
    since: DateTime<Utc>,
) -> Fetched<ChangeEvents> {
    if since >= Utc::now() {
        // Nothing can have happened yet; CloudTrail would reject the time range.
        return Fetched::ok(ChangeEvents {
            since: Some(since),
            events: vec![],
        });
    }
    let mut regions: Vec<(String, &[&str])> = Vec::new();
    for b in spec
        .buckets
        .values()
        .filter(|b| b.account.get_ref() == alias)
    {
        if !regions.iter().any(|(r, _)| r == b.region.get_ref()) {
            regions.push((b.region.get_ref().clone(), S3_CHANGE_EVENTS));
        }
    }
    regions.push(("us-east-1".to_string(), IAM_CHANGE_EVENTS));
    for k in spec.kms_key_arns() {
        if crate::spec::arn_account(&k)
            == spec
                .accounts
                .get(alias)
                .map(|a| a.account_id.get_ref().as_str())
        {
            if let Some(r) = crate::spec::arn_region(&k) {
                regions.push((r.to_string(), KMS_CHANGE_EVENTS));
            }
        }
    }
    let mut events = Vec::new();
    for (region, names) in regions {
        let Some(conf) = clients.get(alias, &region) else {
            continue;
        };
        let ct = aws_sdk_cloudtrail::Client::new(conf);
        for name in names {
            let r = ct
                .lookup_events()
                .lookup_attributes(
                    aws_sdk_cloudtrail::types::LookupAttribute::builder()
                        .attribute_key(aws_sdk_cloudtrail::types::LookupAttributeKey::EventName)
                        .attribute_value(*name)
                        .build()
                        .expect("key and value are set"),
                )
                .start_time(to_smithy(since))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await;
            let found = match r {
                Ok(f) => f,
                Err(e) => {
                    return fetched("cloudtrail:LookupEvents", &[], Err::<(), _>(e), |_| {
                        ChangeEvents::default()
                    })
                }
            };
            for e in found {
                let detail: Option<serde_json::Value> = e
                    .cloud_trail_event()
                    .and_then(|s| serde_json::from_str(s).ok());
                events.push(ChangeEvent {
                    event_name: e.event_name().unwrap_or(name).to_string(),
                    event_source: e.event_source().map(str::to_string),
                    event_time: e.event_time().and_then(from_smithy),
                    username: e.username().map(str::to_string),
                    principal_arn: detail
                        .as_ref()
                        .and_then(|d| d.pointer("/userIdentity/arn"))
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    region: region.clone(),
                    resources: e
                        .resources()
                        .iter()
                        .filter_map(|r| r.resource_name().map(str::to_string))
                        .collect(),
                });
            }
        }
    }
    events.sort_by_key(|e| e.event_time);
    Fetched::ok(ChangeEvents {
        since: Some(since),
        events,
    })
}

/// Whether a trail's delivery bucket is public: policy status and Block Public Access.
pub(super) async fn delivery_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> (Fetched<bool>, Fetched<PublicAccessBlock>) {
    let (status, pab) = futures::join!(
        s3.get_bucket_policy_status().bucket(bucket).send(),
        super::s3::public_access_block(s3, bucket),
    );
    let status = match status {
        Err(e) if crate::aws::error_parts(&e).0.as_deref() == Some("NoSuchBucketPolicy") => {
            Fetched::ok(false)
        }
        r => fetched("s3:GetBucketPolicyStatus", &[], r, |o| {
            o.policy_status()
                .and_then(|s| s.is_public())
                .unwrap_or(false)
        }),
    };
    (status, pab)
}

/// CloudWatch S3 replication metrics of every spec rule that expects metrics.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/repl-metrics.html>
pub(super) async fn replication_metrics(
    spec: &Spec,
    clients: &Clients,
    window: std::time::Duration,
) -> std::collections::BTreeMap<String, Fetched<ReplicationMetrics>> {
    let end = Utc::now();
    let start = end - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::hours(24));
    // One datapoint for the whole window; CloudWatch periods are multiples of 60 s.
    let period = ((window.as_secs() / 60).max(1) * 60).min(i32::MAX as u64) as i32;
    let mut jobs = Vec::new();
    for r in &spec.replication {
        let src = &spec.buckets[r.source.get_ref()];
        for (i, rule) in r.rules.iter().enumerate() {
            if !rule.metrics_expected() {
                continue;
            }
            let key = format!("{}/{}", r.id.get_ref(), rule.label(i));
            let dest = spec.buckets[rule.destination.get_ref()]
                .name
                .get_ref()
                .clone();
            let rule_id = rule.id.clone().unwrap_or_default();
            let conf = clients
                .get(src.account.get_ref(), src.region.get_ref())
                .cloned();
            let unavailable = clients.unavailable(src.account.get_ref());
            let source = src.name.get_ref().clone();
            jobs.push(async move {
                let Some(conf) = conf else {
                    return (key, unavailable);
                };
                let cw = aws_sdk_cloudwatch::Client::new(&conf);
                let dims = [
                    ("SourceBucket", source.as_str()),
                    ("DestinationBucket", dest.as_str()),
                    ("RuleId", rule_id.as_str()),
                ];
                let get = |metric: &'static str, stat: aws_sdk_cloudwatch::types::Statistic| {
                    let mut req = cw
                        .get_metric_statistics()
                        .namespace("AWS/S3")
                        .metric_name(metric)
                        .start_time(to_smithy(start))
                        .end_time(to_smithy(end))
                        .period(period)
                        .statistics(stat);
                    for (n, v) in dims {
                        req = req.dimensions(
                            aws_sdk_cloudwatch::types::Dimension::builder()
                                .name(n)
                                .value(v)
                                .build(),
                        );
                    }
                    req.send()
                };
                use aws_sdk_cloudwatch::types::Statistic;
                let (lat, pend, failed) = futures::join!(
                    get("ReplicationLatency", Statistic::Maximum),
                    get("OperationsPendingReplication", Statistic::Maximum),
                    get("OperationsFailedReplication", Statistic::Sum),
                );
                let result = (|| {
                    let (max_latency_seconds, n1) = stat(lat, |d| d.maximum(), true)?;
                    let (max_pending_operations, n2) = stat(pend, |d| d.maximum(), true)?;
                    let (failed_operations, n3) = stat(failed, |d| d.sum(), false)?;
                    Ok::<_, (Option<String>, String)>(ReplicationMetrics {
                        source_bucket: source.clone(),
                        destination_bucket: dest.clone(),
                        rule_id: rule_id.clone(),
                        window_start: start,
                        window_end: end,
                        max_latency_seconds,
                        max_pending_operations,
                        failed_operations,
                        datapoints: n1 + n2 + n3,
                    })
                })();
                (
                    key,
                    match result {
                        Ok(m) => Fetched::ok(m),
                        Err((code, msg)) => {
                            Fetched::unknown("cloudwatch:GetMetricStatistics", code, msg)
                        }
                    },
                )
            });
        }
    }
    futures::future::join_all(jobs).await.into_iter().collect()
}

type MetricResult = Result<
    aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput,
    aws_sdk_cloudwatch::error::SdkError<
        aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsError,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
>;

/// The maximum (or the sum) of one statistic over the datapoints, and how many there were.
fn stat(
    r: MetricResult,
    f: fn(&aws_sdk_cloudwatch::types::Datapoint) -> Option<f64>,
    max: bool,
) -> Result<(Option<f64>, usize), (Option<String>, String)> {
    match r {
        Ok(o) => {
            let vals: Vec<f64> = o.datapoints().iter().filter_map(f).collect();
            let v = if vals.is_empty() {
                None
            } else if max {
                vals.iter().copied().reduce(f64::max)
            } else {
                Some(vals.iter().sum())
            };
            Ok((v, o.datapoints().len()))
        }
        Err(e) => Err(super::error_parts(&e)),
    }
}
