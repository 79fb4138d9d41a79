//! AWS's own evidence: AWS Config compliance of the managed rules that cover the scenario,
//! CloudTrail management events that changed audited configuration, and CloudWatch
//! replication metrics.

use super::{fetched, Clients};
use crate::snapshot::*;
use crate::spec::Spec;
use aws_smithy_types::DateTime as SmithyTime;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

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
/// IAM is a global service: its events are recorded in its partition's global Region.
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
    "DeleteBucketOwnershipControls",
    "PutBucketAcl",
];
pub const IAM_CHANGE_EVENTS: &[&str] = &[
    "PutRolePolicy",
    "DeleteRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "UpdateAssumeRolePolicy",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "DeleteRole",
    // A managed policy's new default version changes every principal it is attached to.
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    // The access principals' own (and their groups') policies.
    "PutUserPolicy",
    "DeleteUserPolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "PutUserPermissionsBoundary",
    "DeleteUserPermissionsBoundary",
    "AddUserToGroup",
    "RemoveUserFromGroup",
    "PutGroupPolicy",
    "DeleteGroupPolicy",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
];
pub const KMS_CHANGE_EVENTS: &[&str] = &[
    "PutKeyPolicy",
    "DisableKey",
    "EnableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "CreateGrant",
    "RevokeGrant",
];

/// Whether an event name is one of the changes the audit reports.
pub fn is_change_event(name: &str) -> bool {
    S3_CHANGE_EVENTS.contains(&name)
        || IAM_CHANGE_EVENTS.contains(&name)
        || KMS_CHANGE_EVENTS.contains(&name)
}

/// `LookupEvents` is limited to "two per second, per account, per Region"; successive pages of one
/// lookup are sent at least this far apart (500 ms, plus a margin for the clocks of both ends).
/// <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html>
pub const LOOKUP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(550);

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

/// CloudTrail management events that changed audited configuration since `since`: one paginated
/// `LookupEvents` per Region that matters (the Regions of the account's buckets, its partition's IAM
/// Region, the Regions of its KMS keys), filtered on `ReadOnly = false` and then by event name here —
/// `LookupEvents` takes one lookup attribute per call, so asking per event name would cost dozens
/// of calls at two per second. Regions are read concurrently (the quota is per Region), pages one at
/// a time, [`LOOKUP_INTERVAL`] apart. A call that fails after the SDK's retries ends that Region's
/// lookup: what was read is kept, and the Region is listed as incomplete with the cause.
/// <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html>,
/// <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupAttribute.html>
pub(super) async fn change_events(
    clients: &Clients,
    spec: &Spec,
    alias: &str,
    since: DateTime<Utc>,
    found: &super::Found<'_>,
) -> Fetched<ChangeEvents> {
    if since >= Utc::now() {
        // Nothing can have happened yet; CloudTrail would reject the time range.
        return Fetched::ok(ChangeEvents {
            since: Some(since),
            ..Default::default()
        });
    }
    let Some(account) = spec.accounts.get(alias) else {
        return clients.unavailable(alias);
    };
    if clients.get(alias, account.region.get_ref()).is_none() {
        return clients.unavailable(alias);
    }
    let mut regions: BTreeSet<String> = BTreeSet::new();
    for (b_alias, b) in spec
        .buckets
        .iter()
        .filter(|(_, b)| b.account.get_ref() == alias)
    {
        regions.insert(b.region.get_ref().clone());
        regions.insert(found.bucket_region(spec, b_alias));
    }
    let partition = crate::aws::partition_of_region(account.region.get_ref());
    regions.insert(crate::aws::iam_events_region(partition).to_string());
    for k in spec.kms_key_arns() {
        if crate::spec::arn_account(&k) == Some(account.account_id.get_ref().as_str()) {
            if let Some(r) = crate::spec::arn_region(&k) {
                regions.insert(r.to_string());
            }
        }
    }
    let per_region = futures::future::join_all(regions.iter().map(|region| async move {
        match clients.config_in(spec, alias, region).await {
            Some(conf) => lookup_region(&conf, region, since).await,
            None => (
                vec![],
                Some(incomplete(region, 0, 0, clients.unavailable::<()>(alias))),
            ),
        }
    }))
    .await;
    let mut events: Vec<ChangeEvent> = Vec::new();
    let mut missing = Vec::new();
    for (found_events, gap) in per_region {
        for e in found_events {
            let dup = e.event_id.is_some() && events.iter().any(|x| x.event_id == e.event_id);
            if !dup {
                events.push(e);
            }
        }
        missing.extend(gap);
    }
    events.sort_by_key(|e| e.event_time);
    Fetched::ok(ChangeEvents {
        since: Some(since),
        events,
        regions: regions.into_iter().collect(),
        incomplete: missing,
    })
}

fn incomplete(region: &str, pages: usize, events: usize, f: Fetched<()>) -> IncompleteHistory {
    let (call, code, reason) = match f {
        Fetched::Unknown { call, code, reason } => (call, code, reason),
        Fetched::Absent { reason } => ("cloudtrail:LookupEvents".to_string(), None, reason),
        Fetched::Ok { .. } => ("cloudtrail:LookupEvents".to_string(), None, String::new()),
    };
    IncompleteHistory {
        region: region.to_string(),
        call,
        code,
        reason,
        pages_read: pages,
        events_read: events,
    }
}

/// One Region's write events since `since`, paced; the events read and, if a call failed, what is
/// missing.
async fn lookup_region(
    conf: &aws_config::SdkConfig,
    region: &str,
    since: DateTime<Utc>,
) -> (Vec<ChangeEvent>, Option<IncompleteHistory>) {
    use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
    let ct = aws_sdk_cloudtrail::Client::new(conf);
    let write_events = LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::ReadOnly)
        .attribute_value("false")
        .build()
        .expect("key and value are set");
    let mut pages = ct
        .lookup_events()
        .lookup_attributes(write_events)
        .start_time(to_smithy(since))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    let mut read = 0;
    let mut seen = 0;
    loop {
        if read > 0 {
            tokio::time::sleep(LOOKUP_INTERVAL).await;
        }
        match pages.next().await {
            None => return (out, None),
            Some(Ok(page)) => {
                read += 1;
                for e in page.events() {
                    seen += 1;
                    if let Some(c) = change_event(e, region) {
                        out.push(c);
                    }
                }
            }
            Some(Err(e)) => {
                let f = fetched("cloudtrail:LookupEvents", &[], Err::<(), _>(e), |_| ());
                let kept = out.len();
                tracing::warn!(
                    region,
                    pages = read,
                    events = seen,
                    "LookupEvents stopped early"
                );
                return (out, Some(incomplete(region, read, kept, f)));
            }
        }
    }
}

/// The reported form of one CloudTrail event, if it is a change the audit reports. The resources are
/// the event's own plus the names its request parameters carry (bucket, role, user, group, policy,
/// key), so a change is matched to audited resources whatever resource list CloudTrail attached.
/// <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>
fn change_event(e: &aws_sdk_cloudtrail::types::Event, region: &str) -> Option<ChangeEvent> {
    let name = e.event_name()?;
    if !is_change_event(name) {
        return None;
    }
    let detail: Option<serde_json::Value> = e
        .cloud_trail_event()
        .and_then(|s| serde_json::from_str(s).ok());
    let mut resources: Vec<String> = e
        .resources()
        .iter()
        .filter_map(|r| r.resource_name().map(str::to_string))
        .collect();
    if let Some(params) = detail.as_ref().and_then(|d| d.get("requestParameters")) {
        for key in [
            "bucketName",
            "roleName",
            "userName",
            "groupName",
            "policyArn",
            "keyId",
        ] {
            if let Some(v) = params.get(key).and_then(|v| v.as_str()) {
                if !v.is_empty() && !resources.iter().any(|r| r == v) {
                    resources.push(v.to_string());
                }
            }
        }
    }
    Some(ChangeEvent {
        event_name: name.to_string(),
        event_source: e.event_source().map(str::to_string),
        event_time: e.event_time().and_then(from_smithy),
        username: e.username().map(str::to_string),
        principal_arn: detail
            .as_ref()
            .and_then(|d| d.pointer("/userIdentity/arn"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        region: region.to_string(),
        resources,
        event_id: e.event_id().map(str::to_string),
    })
}

/// A trail's delivery bucket as the audit could read it.
pub(super) struct Delivery {
    pub public: Fetched<bool>,
    pub public_access_block: Fetched<PublicAccessBlock>,
    /// The spec account that owns it; `Ok(None)` when no audited account does.
    pub owner: Fetched<Option<String>>,
    pub region: Option<String>,
}

impl Delivery {
    pub fn none(why: &str) -> Delivery {
        Delivery {
            public: Fetched::absent(why),
            public_access_block: Fetched::absent(why),
            owner: Fetched::absent(why),
            region: None,
        }
    }
}

/// Whether a trail's delivery bucket is public: policy status and Block Public Access, read in the
/// bucket's own Region (found with HeadBucket) with the credentials of the spec account that owns it.
/// A central log-archive bucket of an account outside the spec is still tried with the trail
/// account's credentials (its policy may grant that), and otherwise recorded with the cause: another
/// account's bucket settings are readable only when its bucket policy allows it.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html>,
/// <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-set-bucket-policy-for-multiple-accounts.html>
pub(super) async fn delivery_bucket(
    spec: &Spec,
    clients: &Clients,
    trail_account: &str,
    bucket: &str,
    found: &super::Found<'_>,
) -> Delivery {
    let owner = super::s3::owner_of(found.owned, bucket);
    let reader = match &owner {
        Fetched::Ok { value: Some(a) } => a.clone(),
        _ => trail_account.to_string(),
    };
    let home = spec.accounts[&reader].region.get_ref().clone();
    let Some(s3) = clients.s3_in(spec, &reader, &home).await else {
        return Delivery {
            public: clients.unavailable(&reader),
            public_access_block: clients.unavailable(&reader),
            owner,
            region: None,
        };
    };
    let region = match super::s3::located(crate::aws::bucket_region(&s3, bucket).await) {
        Fetched::Ok { value } => value,
        f => {
            return Delivery {
                public: f.as_ref().map(|_| false),
                public_access_block: f.as_ref().map(|_| PublicAccessBlock::default()),
                owner,
                region: None,
            }
        }
    };
    let Some(s3) = clients.s3_in(spec, &reader, &region).await else {
        return Delivery {
            public: clients.unavailable(&reader),
            public_access_block: clients.unavailable(&reader),
            owner,
            region: Some(region),
        };
    };
    let (status, pab) = futures::join!(
        s3.get_bucket_policy_status().bucket(bucket).send(),
        super::s3::public_access_block(&s3, bucket),
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
    Delivery {
        public: status,
        public_access_block: pab,
        owner,
        region: Some(region),
    }
}

/// CloudWatch S3 replication metrics of every spec rule that expects metrics, read where S3 publishes
/// them: `ReplicationLatency`, `OperationsPendingReplication` and `BytesPendingReplication` "in the
/// Region of the destination bucket", `OperationsFailedReplication` in the Region of the source
/// bucket, all in the source bucket owner's account (the S3 console shows them on the source
/// bucket's Metrics tab). The `RuleId` dimension is the live rule's ID — S3 generates one when the
/// configuration names none, so the spec's label cannot stand in for it.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/repl-metrics.html>,
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-metrics.html>,
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html>
pub(super) async fn replication_metrics(
    spec: &Spec,
    clients: &Clients,
    window: std::time::Duration,
    buckets: &std::collections::BTreeMap<String, BucketState>,
    found: &super::Found<'_>,
) -> std::collections::BTreeMap<String, Fetched<ReplicationMetrics>> {
    let end = Utc::now();
    let start = end - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::hours(24));
    // One datapoint for the whole window; CloudWatch periods are multiples of 60 s.
    let period = ((window.as_secs() / 60).max(1) * 60).min(i32::MAX as u64) as i32;
    let mut jobs = Vec::new();
    for r in &spec.replication {
        let src_alias = r.source.get_ref();
        let src = &spec.buckets[src_alias];
        let partition = crate::aws::partition_of_region(src.region.get_ref());
        for (i, rule) in r.rules.iter().enumerate() {
            if !rule.metrics_expected() {
                continue;
            }
            let key = format!("{}/{}", r.id.get_ref(), rule.label(i));
            let dest_alias = rule.destination.get_ref();
            let dest_arn =
                crate::aws::s3_bucket_arn(partition, spec.buckets[dest_alias].name.get_ref());
            let live = match buckets.get(src_alias).map(|b| &b.replication) {
                Some(Fetched::Ok { value }) => value
                    .rule_for(rule.id.as_deref(), &dest_arn, rule.prefix_or_empty())
                    .cloned()
                    .ok_or_else(|| {
                        Fetched::absent(format!(
                            "{}: no live replication rule (reported by replication-rule-enabled)",
                            rule.label(i)
                        ))
                    }),
                Some(Fetched::Absent { .. }) => Err(Fetched::absent(
                    "no replication configuration on the source bucket (reported by replication-configured)",
                )),
                Some(Fetched::Unknown { call, code, reason }) => Err(Fetched::unknown(
                    call.clone(),
                    code.clone(),
                    format!("{reason} (the source's replication configuration)"),
                )),
                None => Err(Fetched::unknown(
                    "collection",
                    None,
                    "the source bucket was not collected",
                )),
            };
            let src_account = src.account.get_ref().clone();
            let src_region = found.bucket_region(spec, src_alias);
            let source = src.name.get_ref().clone();
            jobs.push(async move {
                let live = match live {
                    Ok(l) => l,
                    Err(f) => return (key, f),
                };
                let Some(rule_id) = live.id.clone() else {
                    return (
                        key,
                        Fetched::unknown(
                            "s3:GetBucketReplication",
                            None,
                            "the live rule has no ID, so its metrics cannot be addressed",
                        ),
                    );
                };
                let dest = live
                    .destination
                    .bucket
                    .rsplit(":::")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let dest_region = spec
                    .buckets
                    .iter()
                    .find(|(_, b)| b.name.get_ref() == &dest)
                    .map(|(a, _)| found.bucket_region(spec, a))
                    .unwrap_or_else(|| src_region.clone());
                let (at_dest, at_src) = futures::join!(
                    clients.config_in(spec, &src_account, &dest_region),
                    clients.config_in(spec, &src_account, &src_region),
                );
                let (Some(at_dest), Some(at_src)) = (at_dest, at_src) else {
                    return (key, clients.unavailable(&src_account));
                };
                let dims = [
                    ("SourceBucket", source.clone()),
                    ("DestinationBucket", dest.clone()),
                    ("RuleId", rule_id.clone()),
                ];
                let get = |conf: &aws_config::SdkConfig,
                           metric: &'static str,
                           stat: aws_sdk_cloudwatch::types::Statistic| {
                    let mut req = aws_sdk_cloudwatch::Client::new(conf)
                        .get_metric_statistics()
                        .namespace("AWS/S3")
                        .metric_name(metric)
                        .start_time(to_smithy(start))
                        .end_time(to_smithy(end))
                        .period(period)
                        .statistics(stat);
                    for (n, v) in &dims {
                        req = req.dimensions(
                            aws_sdk_cloudwatch::types::Dimension::builder()
                                .name(*n)
                                .value(v)
                                .build(),
                        );
                    }
                    req.send()
                };
                use aws_sdk_cloudwatch::types::Statistic;
                let (lat, pend, failed) = futures::join!(
                    get(&at_dest, "ReplicationLatency", Statistic::Maximum),
                    get(&at_dest, "OperationsPendingReplication", Statistic::Maximum),
                    get(&at_src, "OperationsFailedReplication", Statistic::Sum),
                );
                let result = (|| {
                    let (max_latency_seconds, n1) =
                        stat(lat, |d| d.maximum(), true).map_err(|e| in_region(e, &dest_region))?;
                    let (max_pending_operations, n2) = stat(pend, |d| d.maximum(), true)
                        .map_err(|e| in_region(e, &dest_region))?;
                    let (failed_operations, n3) =
                        stat(failed, |d| d.sum(), false).map_err(|e| in_region(e, &src_region))?;
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
                        latency_region: Some(dest_region.clone()),
                        failures_region: Some(src_region.clone()),
                        latency_datapoints: Some(n1),
                        failure_datapoints: Some(n3),
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

fn in_region(e: (Option<String>, String), region: &str) -> (Option<String>, String) {
    (e.0, format!("{} (in {region})", e.1))
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
