//! The canary run: write every planned object, then (concurrently for all of them) watch the
//! replicas arrive, read their status and encryption, try the principals' access, and test
//! delete-marker replication. Every outcome becomes a finding; nothing here deletes anything
//! except the one simple DELETE of the delete-marker test (which only adds a marker).

use super::backoff::Backoff;
use super::context::{Ctx, VersionRef, Watch};
use super::plan::{
    self, AccessCheck, Action, Actor, Expected, PlannedObject, Purpose, Sse, Target, TAG_KEY,
};
use super::s3ops::{self, CallError, HeadInfo};
use crate::catalogue::canary as meta;
use crate::catalogue::RuleMeta;
use crate::findings::{Finding, Scenario, Status};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use futures::future::join_all;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// S3 Replication Time Control's window: 99.99% of objects within 15 minutes.
pub const RTC_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long to keep reading the source status once every replica was seen.
const SETTLE: Duration = Duration::from_secs(5);
/// Consecutive unexpected errors after which polling gives up.
const MAX_POLL_ERRORS: usize = 3;

const TAG_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn tagging(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, TAG_SET),
                utf8_percent_encode(v, TAG_SET)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The object's prefix without the run directory, for progress labels (`reports/`).
fn short_prefix(o: &PlannedObject) -> &str {
    o.run_prefix
        .split(plan::CANARY_DIR)
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("/")
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One latency measurement, for the min / median / max summary.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub secs: Option<f64>,
    pub pass: bool,
    pub interrupted: bool,
}

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

struct Written {
    version_id: String,
    ack: Instant,
    body: Vec<u8>,
    sse: Option<String>,
    kms_key_id: Option<String>,
    /// HeadObject of the source right after the write.
    source: Option<HeadInfo>,
}

enum Put {
    Written(Written),
    /// The key already exists and is not this run's: nothing was written, nothing will be touched.
    Exists(CallError),
    Failed(CallError),
    NotTried(String),
    Stopped,
}

impl Put {
    fn reason(&self) -> String {
        match self {
            Put::Written(_) => "written".into(),
            Put::Exists(_) => {
                "the canary key already existed, so nothing was written (see canary-write)".into()
            }
            Put::Failed(e) => format!("the canary object was not written ({})", e.describe()),
            Put::NotTried(why) => format!("the canary object was not written ({why})"),
            Put::Stopped => "interrupted before the canary object was written".into(),
        }
    }
}

#[derive(Debug)]
enum Seen {
    Found {
        head: HeadInfo,
        latency: f64,
        lower: f64,
    },
    SourceFailed {
        after: f64,
    },
    TimedOut,
    Stopped,
    Error(CallError),
}

struct Observation {
    expected: Expected,
    seen: Seen,
    polls: usize,
    /// Last replication status read from the source, and whether any read succeeded.
    source_status: Option<String>,
    status_read: bool,
}

impl Observation {
    fn found(&self) -> Option<&HeadInfo> {
        match &self.seen {
            Seen::Found { head, .. } => Some(head),
            _ => None,
        }
    }

    /// The replica may still arrive later: cleanup must watch for it.
    fn may_still_arrive(&self) -> bool {
        match self.seen {
            Seen::Found { .. } | Seen::SourceFailed { .. } => false,
            _ => !self.status_read || self.source_status.as_deref() == Some("PENDING"),
        }
    }
}

pub(crate) async fn run_all(ctx: &Ctx) -> RunResult {
    let (results, logs) = futures::join!(
        join_all(ctx.plan.objects.iter().map(|o| run_object(ctx, o))),
        super::logs::run(ctx),
    );
    let mut all = RunResult::default();
    for r in results {
        all.merge(r);
    }
    all.merge(logs);
    if let Some(f) = latency_summary(ctx, &all.samples) {
        all.findings.push(f);
    }
    all
}

async fn run_object(ctx: &Ctx, o: &PlannedObject) -> RunResult {
    match &o.purpose {
        Purpose::Replicated { .. } => run_replicated(ctx, o).await,
        Purpose::Uploader { principal } => run_uploader(ctx, o, principal).await,
        Purpose::NonUploader { principal } => run_non_uploader(ctx, o, principal).await,
        Purpose::Unreplicated { .. } => run_unreplicated(ctx, o).await,
    }
}

// ------------------------------------------------------------------ writing

async fn put(ctx: &Ctx, o: &PlannedObject) -> Put {
    if ctx.stopped() {
        return Put::Stopped;
    }
    let client = match ctx.client(&o.writer, &o.bucket) {
        Ok(c) => c,
        Err(why) => return Put::NotTried(why),
    };
    let body = format!(
        "replaudit canary\nrun: {}\nobject: {}\nnonce: {}\n",
        ctx.run_id(),
        o.n,
        uuid::Uuid::new_v4().simple()
    )
    .into_bytes();
    let mut req = client
        .put_object()
        .bucket(ctx.name(&o.bucket))
        .key(&o.key)
        .if_none_match("*")
        .content_type("text/plain; charset=utf-8")
        .tagging(tagging(&o.tags))
        .body(ByteStream::from(body.clone()));
    match &o.sse {
        Sse::BucketDefault => {}
        Sse::Aes256 => req = req.server_side_encryption(ServerSideEncryption::Aes256),
        Sse::Kms { algorithm, key } => {
            req = req.server_side_encryption(ServerSideEncryption::from(algorithm.as_str()));
            if let Some(k) = key {
                req = req.ssekms_key_id(k);
            }
        }
    }
    let r = req.send().await;
    let ack = Instant::now();
    match r {
        Ok(out) => {
            let version_id = out.version_id().unwrap_or("null").to_string();
            ctx.ledger().created.insert(VersionRef {
                bucket: o.bucket.clone(),
                key: o.key.clone(),
                version_id: version_id.clone(),
                delete_marker: false,
            });
            let source = source_head(ctx, o).await.ok();
            Put::Written(Written {
                version_id,
                ack,
                body,
                sse: out.server_side_encryption().map(|s| s.as_str().to_string()),
                kms_key_id: out.ssekms_key_id().map(str::to_string),
                source,
            })
        }
        Err(e) => {
            let err = CallError::from_sdk("s3:PutObject", &e);
            if err.is_precondition_failed() {
                // A retried PutObject whose first attempt succeeded also gets 412.
                if let Some(w) = adopt_own_write(ctx, o, body).await {
                    return Put::Written(w);
                }
                return Put::Exists(err);
            }
            if err.uncertain {
                ctx.ledger()
                    .uncertain
                    .insert((o.bucket.clone(), o.key.clone()));
            }
            Put::Failed(err)
        }
    }
}

/// After a 412: the object at the key is this run's own only if it did not exist before the run
/// (not in the pre-run listing) and carries this run's tag.
async fn adopt_own_write(ctx: &Ctx, o: &PlannedObject, body: Vec<u8>) -> Option<Written> {
    let client = ctx.owner_client(&o.bucket).ok()?;
    let head = s3ops::head(client, ctx.name(&o.bucket), &o.key)
        .await
        .ok()?;
    let v = head.version_id.clone()?;
    if ctx.ledger().is_foreign(&o.bucket, &o.key, &v) {
        return None;
    }
    let tag = s3ops::tag_value(client, ctx.name(&o.bucket), &o.key, &v, TAG_KEY)
        .await
        .ok()
        .flatten()?;
    if tag != ctx.run_id() {
        return None;
    }
    ctx.ledger().created.insert(VersionRef {
        bucket: o.bucket.clone(),
        key: o.key.clone(),
        version_id: v.clone(),
        delete_marker: false,
    });
    Some(Written {
        version_id: v,
        ack: Instant::now(),
        body,
        sse: head.sse.clone(),
        kms_key_id: head.kms_key_id.clone(),
        source: Some(head),
    })
}

async fn source_head(ctx: &Ctx, o: &PlannedObject) -> Result<HeadInfo, CallError> {
    let client = ctx
        .owner_client(&o.bucket)
        .map_err(|why| CallError::local("s3:HeadObject", why))?;
    s3ops::head(client, ctx.name(&o.bucket), &o.key).await
}

fn base_evidence(ctx: &Ctx, o: &PlannedObject) -> Value {
    json!({
        "run_id": ctx.run_id(),
        "object": ctx.url(&o.bucket, &o.key),
        "writer": o.writer.label(),
    })
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

fn write_finding(ctx: &Ctx, o: &PlannedObject, put: &Put) -> Finding {
    let resource = ctx.url(&o.bucket, &o.key);
    let ev = base_evidence(ctx, o);
    let f = |status, msg: String, ev| {
        meta::WRITE.finding(o.scenario, status, resource.clone(), msg, ev)
    };
    match put {
        Put::Written(w) => f(
            Status::Pass,
            format!(
                "wrote the canary as {} (version {}, {})",
                o.writer.label(),
                w.version_id,
                w.sse.as_deref().unwrap_or("no SSE reported")
            ),
            with(ev, json!({"version_id": w.version_id, "sse": w.sse, "kms_key_id": w.kms_key_id})),
        ),
        Put::Exists(e) => f(
            Status::Error,
            format!("an object already exists at the canary key; it was not overwritten and will not be touched ({})", e.describe()),
            with(ev, json!({"error": e.evidence()})),
        ),
        Put::Failed(e) => {
            let status = if e.service { Status::Fail } else { Status::Error };
            f(
                status,
                format!("{} could not write the canary: {}", o.writer.label(), e.describe()),
                with(ev, json!({"error": e.evidence()})),
            )
        }
        Put::NotTried(why) => f(Status::Error, format!("canary not written: {why}"), ev),
        Put::Stopped => f(Status::Skip, "interrupted before the canary was written".into(), ev),
    }
}

// ------------------------------------------------------------------ watching replicas

async fn observe(ctx: &Ctx, o: &PlannedObject, w: &Written, e: &Expected) -> Observation {
    let mut obs = Observation {
        expected: e.clone(),
        seen: Seen::TimedOut,
        polls: 0,
        source_status: w.source.as_ref().and_then(|h| h.replication_status.clone()),
        status_read: w.source.is_some(),
    };
    let dest_client = match ctx.owner_client(&e.dest) {
        Ok(c) => c,
        Err(why) => {
            obs.seen = Seen::Error(CallError::local("s3:HeadObject", why));
            return obs;
        }
    };
    let src_client = ctx.owner_client(&o.bucket).ok();
    let timeout = ctx.settings.timeout;
    let deadline = w.ack + timeout;
    let bar = ctx.progress.bar(
        format!("#{} {} -> {}", o.n, short_prefix(o), ctx.name(&e.dest)),
        timeout,
    );
    let mut backoff = Backoff::default();
    let mut lower = 0.0;
    let mut errors = 0;
    obs.seen = loop {
        let now = Instant::now();
        if now >= deadline {
            break Seen::TimedOut;
        }
        if ctx.pause(backoff.next_delay().min(deadline - now)).await {
            break Seen::Stopped;
        }
        obs.polls += 1;
        match s3ops::head(dest_client, ctx.name(&e.dest), &o.key).await {
            Ok(head) => {
                let latency = w.ack.elapsed().as_secs_f64();
                record_replica(ctx, o, w, &e.dest, &head).await;
                break Seen::Found {
                    head,
                    latency,
                    lower,
                };
            }
            Err(err) if err.is_not_found() => {
                errors = 0;
                lower = w.ack.elapsed().as_secs_f64();
            }
            Err(err) => {
                errors += 1;
                if errors >= MAX_POLL_ERRORS {
                    break Seen::Error(err);
                }
            }
        }
        // Read the source too, so that a FAILED replication ends the wait at once.
        if let Some(c) = src_client {
            if let Ok(h) = s3ops::head(c, ctx.name(&o.bucket), &o.key).await {
                obs.status_read = true;
                obs.source_status = h.replication_status;
                if obs.source_status.as_deref() == Some("FAILED") {
                    break Seen::SourceFailed {
                        after: w.ack.elapsed().as_secs_f64(),
                    };
                }
            }
        }
        bar.update(
            w.ack.elapsed(),
            format!(
                "poll {}, source {}",
                obs.polls,
                obs.source_status.as_deref().unwrap_or("no status")
            ),
        );
    };
    bar.finish(match &obs.seen {
        Seen::Found { latency, .. } => format!("replicated in {latency:.2} s"),
        Seen::SourceFailed { .. } => "replication FAILED".into(),
        Seen::TimedOut => "no replica before the timeout".into(),
        Seen::Stopped => "interrupted".into(),
        Seen::Error(e) => e.describe(),
    });
    obs
}

/// Remember a replica for cleanup when it is provably this run's: it carries the source
/// version's id (S3 replicas keep it) or this run's tag.
async fn record_replica(ctx: &Ctx, o: &PlannedObject, w: &Written, dest: &str, head: &HeadInfo) {
    let Some(v) = head.version_id.clone() else {
        return;
    };
    let mut ours = v == w.version_id;
    if !ours {
        if let Ok(c) = ctx.owner_client(dest) {
            ours = s3ops::tag_value(c, ctx.name(dest), &o.key, &v, TAG_KEY)
                .await
                .ok()
                .flatten()
                .is_some_and(|t| t == ctx.run_id());
        }
    }
    let mut l = ctx.ledger();
    if ours && !l.is_foreign(dest, &o.key, &v) {
        l.observed.insert(VersionRef {
            bucket: dest.to_string(),
            key: o.key.clone(),
            version_id: v,
            delete_marker: false,
        });
    }
}

/// Once every replica is there, the source should say COMPLETED; give it a few seconds.
async fn settle_status(ctx: &Ctx, o: &PlannedObject) -> Result<Option<String>, CallError> {
    let deadline = Instant::now() + SETTLE;
    let mut backoff = Backoff::default();
    loop {
        let status = source_head(ctx, o).await?.replication_status;
        let now = Instant::now();
        if status.as_deref() != Some("PENDING") || now >= deadline || ctx.stopped() {
            return Ok(status);
        }
        if ctx.pause(backoff.next_delay().min(deadline - now)).await {
            return Ok(status);
        }
    }
}

fn pair_resource(ctx: &Ctx, o: &PlannedObject, dest: &str) -> String {
    format!("{} -> s3://{}", ctx.url(&o.bucket, &o.key), ctx.name(dest))
}

fn timeout_words(ctx: &Ctx) -> String {
    let t = ctx.settings.timeout;
    if t < RTC_WINDOW {
        format!("{} s (--canary-timeout)", r3(t.as_secs_f64()))
    } else {
        format!("{} s (the RTC window)", r3(t.as_secs_f64()))
    }
}

fn latency_finding(
    ctx: &Ctx,
    o: &PlannedObject,
    w: &Written,
    ob: &Observation,
) -> (Finding, Sample) {
    let e = &ob.expected;
    let rule = plan::rule_label(&ctx.spec, e.replication, e.rule);
    let resource = pair_resource(ctx, o, &e.dest);
    let ev = with(
        base_evidence(ctx, o),
        json!({
            "rule": rule,
            "destination": format!("s3://{}", ctx.name(&e.dest)),
            "polls": ob.polls,
            "threshold_secs": RTC_WINDOW.as_secs(),
            "timeout_secs": r3(ctx.settings.timeout.as_secs_f64()),
            "source_version_id": w.version_id,
            "source_replication_status": ob.source_status,
        }),
    );
    let mk = |status, msg: String, ev| {
        meta::LATENCY.finding(o.scenario, status, resource.clone(), msg, ev)
    };
    match &ob.seen {
        Seen::Found {
            head,
            latency,
            lower,
        } => {
            let delta = match (
                w.source.as_ref().and_then(|s| s.last_modified),
                head.last_modified,
            ) {
                (Some(s), Some(d)) => Some(r3(d - s)),
                _ => None,
            };
            let within = *latency <= RTC_WINDOW.as_secs_f64();
            let mut f = mk(
                if within { Status::Pass } else { Status::Fail },
                format!(
                    "{rule}: replica in s3://{} after {:.2} s ({}), LastModified delta {}{}",
                    ctx.name(&e.dest),
                    latency,
                    if ob.polls <= 1 {
                        "seen at the first poll".to_string()
                    } else {
                        format!("not there at {lower:.2} s")
                    },
                    delta
                        .map(|d| format!("{d} s"))
                        .unwrap_or_else(|| "unknown".into()),
                    if within {
                        ""
                    } else {
                        "; past the 15-minute RTC window"
                    }
                ),
                with(
                    ev,
                    json!({
                        "latency_secs": r3(*latency),
                        "latency_lower_bound_secs": r3(*lower),
                        "last_modified_delta_secs": delta,
                        "replica_version_id": head.version_id,
                    }),
                ),
            );
            f.duration_secs = Some(r3(*latency));
            (
                f,
                Sample {
                    secs: Some(*latency),
                    pass: within,
                    interrupted: false,
                },
            )
        }
        Seen::SourceFailed { after } => (
            mk(
                Status::Fail,
                format!(
                    "{rule}: replication of {} FAILED after {after:.2} s; no replica in s3://{}",
                    ctx.url(&o.bucket, &o.key),
                    ctx.name(&e.dest)
                ),
                ev,
            ),
            Sample {
                secs: None,
                pass: false,
                interrupted: false,
            },
        ),
        Seen::TimedOut => (
            mk(
                Status::Fail,
                format!(
                    "{rule}: no replica in s3://{} within {}; source replication status {}",
                    ctx.name(&e.dest),
                    timeout_words(ctx),
                    ob.source_status.as_deref().unwrap_or("absent")
                ),
                ev,
            ),
            Sample {
                secs: None,
                pass: false,
                interrupted: false,
            },
        ),
        Seen::Stopped => (
            mk(
                Status::Skip,
                format!("{rule}: interrupted before the replica was seen"),
                ev,
            ),
            Sample {
                secs: None,
                pass: false,
                interrupted: true,
            },
        ),
        Seen::Error(err) => (
            mk(
                Status::Error,
                format!("{rule}: cannot read the destination: {}", err.describe()),
                with(ev, json!({"error": err.evidence()})),
            ),
            Sample {
                secs: None,
                pass: false,
                interrupted: false,
            },
        ),
    }
}

fn status_finding(
    ctx: &Ctx,
    o: &PlannedObject,
    obs: &[Observation],
    final_status: &Result<Option<String>, CallError>,
) -> Finding {
    let resource = ctx.url(&o.bucket, &o.key);
    let replicas: Vec<Value> = obs
        .iter()
        .map(|ob| {
            json!({
                "destination": format!("s3://{}", ctx.name(&ob.expected.dest)),
                "replica_status": ob.found().and_then(|h| h.replication_status.clone()),
                "seen": ob.found().is_some(),
            })
        })
        .collect();
    let source = final_status.as_ref().ok().cloned().flatten();
    let ev = with(
        base_evidence(ctx, o),
        json!({"source_replication_status": source, "replicas": replicas}),
    );
    let mk = |status, msg: String| {
        meta::STATUS.finding(o.scenario, status, resource.clone(), msg, ev.clone())
    };
    if obs.iter().any(|ob| matches!(ob.seen, Seen::Stopped)) {
        return mk(
            Status::Skip,
            "interrupted before the replication status settled".into(),
        );
    }
    let source = match final_status {
        Ok(s) => s.clone(),
        Err(e) => {
            return mk(
                Status::Error,
                format!("cannot read the source status: {}", e.describe()),
            )
        }
    };
    match source.as_deref() {
        Some("FAILED") => mk(
            Status::Fail,
            format!("replication status FAILED for {resource}"),
        ),
        Some("PENDING") => mk(
            Status::Fail,
            format!(
                "replication status still PENDING for {resource} after {}",
                timeout_words(ctx)
            ),
        ),
        None => mk(
            Status::Fail,
            format!("no replication status on {resource}: no enabled replication rule matched it"),
        ),
        Some("COMPLETED" | "COMPLETE") => {
            let bad: Vec<String> = obs
                .iter()
                .filter_map(|ob| match ob.found() {
                    Some(h) if h.replication_status.as_deref() == Some("REPLICA") => None,
                    Some(h) => Some(format!(
                        "replica in s3://{} reports {}",
                        ctx.name(&ob.expected.dest),
                        h.replication_status.as_deref().unwrap_or("no status")
                    )),
                    None => Some(format!(
                        "no replica seen in s3://{}",
                        ctx.name(&ob.expected.dest)
                    )),
                })
                .collect();
            if bad.is_empty() {
                mk(
                    Status::Pass,
                    format!("{resource} COMPLETED; replica REPLICA"),
                )
            } else {
                mk(
                    Status::Fail,
                    format!("{resource} COMPLETED but {}", bad.join("; ")),
                )
            }
        }
        Some(other) => mk(
            Status::Fail,
            format!("unexpected replication status {other} on {resource}"),
        ),
    }
}

fn encryption_finding(ctx: &Ctx, o: &PlannedObject, w: &Written, ob: &Observation) -> Finding {
    let e = &ob.expected;
    let scenario = match &ctx.spec.scenario_a {
        Some(a) if a.bucket.get_ref() == &e.dest => Scenario::ScenarioA,
        _ => o.scenario,
    };
    let resource = pair_resource(ctx, o, &e.dest);
    let Some(head) = ob.found() else {
        return meta::ENCRYPTION.finding(
            scenario,
            Status::Skip,
            resource,
            "no replica was seen, so its encryption was not measured",
            base_evidence(ctx, o),
        );
    };
    let src = w.source.as_ref();
    let src_alg = w.sse.clone().or_else(|| src.and_then(|h| h.sse.clone()));
    let src_key = w
        .kms_key_id
        .clone()
        .or_else(|| src.and_then(|h| h.kms_key_id.clone()));
    let rule = ctx
        .spec
        .replication
        .get(e.replication)
        .and_then(|r| r.rules.get(e.rule));
    let dest_bucket = ctx.spec.buckets.get(&e.dest);
    let (want_alg, want_key, basis): (Option<String>, Option<String>, &str) = match src_alg
        .as_deref()
    {
        Some(a) if a.starts_with("aws:kms") => (
            Some(a.to_string()),
            rule.and_then(|r| r.replica_kms_key_arn.as_ref().map(|k| k.get_ref().clone())),
            "SSE-KMS source objects are re-encrypted with the rule's replica KMS key",
        ),
        Some("AES256") => (Some("AES256".into()), None, "SSE-S3 replicas stay SSE-S3"),
        _ => (
            dest_bucket.and_then(|b| b.default_encryption.as_ref().map(|x| x.get_ref().clone())),
            dest_bucket.and_then(|b| b.kms_key_arn.as_ref().map(|x| x.get_ref().clone())),
            "unencrypted source objects get the destination's default encryption",
        ),
    };
    let ev = with(
        base_evidence(ctx, o),
        json!({
            "destination": format!("s3://{}", ctx.name(&e.dest)),
            "basis": basis,
            "source_sse": src_alg, "source_kms_key_id": src_key,
            "expected_sse": want_alg, "expected_kms_key_id": want_key,
            "replica_sse": head.sse, "replica_kms_key_id": head.kms_key_id,
        }),
    );
    let Some(want_alg) = want_alg else {
        return meta::ENCRYPTION.finding(
            scenario,
            Status::Skip,
            resource,
            "the source object is unencrypted and the spec gives no default encryption for the destination; nothing to compare",
            ev,
        );
    };
    let mut problems = Vec::new();
    if head.sse.as_deref() != Some(want_alg.as_str()) {
        problems.push(format!(
            "algorithm {} (expected {want_alg})",
            head.sse.as_deref().unwrap_or("none")
        ));
    }
    if let Some(k) = &want_key {
        if want_alg.starts_with("aws:kms") {
            match head.kms_key_id.as_deref() {
                Some(actual) if s3ops::kms_key_matches(k, actual) => {}
                actual => problems.push(format!(
                    "KMS key {} (expected {k})",
                    actual.unwrap_or("none")
                )),
            }
        }
    }
    if problems.is_empty() {
        meta::ENCRYPTION.finding(
            scenario,
            Status::Pass,
            resource,
            format!(
                "replica encrypted with {want_alg}{}",
                want_key.map(|k| format!(" under {k}")).unwrap_or_default()
            ),
            ev,
        )
    } else {
        meta::ENCRYPTION.finding(
            scenario,
            Status::Fail,
            resource,
            format!("replica encrypted with {}", problems.join(", ")),
            ev,
        )
    }
}

// ------------------------------------------------------------------ access

enum Tried {
    /// The call succeeded; `ok` = it returned the canary's bytes / listed the canary.
    Succeeded {
        ok: bool,
        detail: String,
    },
    Failed(CallError),
}

async fn access_check(
    ctx: &Ctx,
    o: &PlannedObject,
    w: &Written,
    c: &AccessCheck,
    obs: &[Observation],
) -> Finding {
    let bucket = match &c.target {
        Target::Source => o.bucket.clone(),
        Target::Replica(d) => d.clone(),
    };
    let url = ctx.url(&bucket, &o.key);
    let resource = format!("{url} as {}", c.principal);
    let arn = ctx
        .spec
        .principal(&c.principal)
        .map(|p| p.arn.get_ref().clone())
        .unwrap_or_default();
    let ev = json!({
        "run_id": ctx.run_id(),
        "principal": c.principal, "principal_arn": arn,
        "action": c.action.as_str(),
        "expected": if c.allowed { "allowed" } else { "denied" },
        "object": url,
        "expectation": c.origin,
    });
    let mk = |status, msg: String, ev: Value| {
        meta::ACCESS.finding(c.scenario, status, resource.clone(), msg, ev)
    };
    if let Target::Replica(d) = &c.target {
        if !obs
            .iter()
            .any(|ob| &ob.expected.dest == d && ob.found().is_some())
        {
            return mk(
                Status::Skip,
                format!(
                    "{}: no replica appeared in s3://{}, nothing to read",
                    c.origin,
                    ctx.name(d)
                ),
                ev,
            );
        }
    }
    if ctx.stopped() {
        return mk(
            Status::Skip,
            "interrupted before the access check".into(),
            ev,
        );
    }
    let client = match ctx.client(&Actor::Principal(c.principal.clone()), &bucket) {
        Ok(cl) => cl,
        Err(why) => return mk(Status::Error, format!("{}: {why}", c.origin), ev),
    };
    let tried = match c.action {
        Action::GetObject => {
            match client
                .get_object()
                .bucket(ctx.name(&bucket))
                .key(&o.key)
                .send()
                .await
            {
                Ok(out) => match out.body.collect().await {
                    Ok(bytes) => {
                        let same = bytes.into_bytes().as_ref() == w.body.as_slice();
                        Tried::Succeeded {
                            ok: same,
                            detail: if same {
                                "read the canary's exact bytes".into()
                            } else {
                                "read different bytes than the canary wrote".into()
                            },
                        }
                    }
                    Err(e) => Tried::Failed(CallError::local("s3:GetObject (body)", e.to_string())),
                },
                Err(e) => Tried::Failed(CallError::from_sdk("s3:GetObject", &e)),
            }
        }
        Action::ListBucket => {
            match client
                .list_objects_v2()
                .bucket(ctx.name(&bucket))
                .prefix(&o.run_prefix)
                .send()
                .await
            {
                Ok(out) => {
                    let listed = out
                        .contents()
                        .iter()
                        .any(|x| x.key() == Some(o.key.as_str()));
                    Tried::Succeeded {
                        ok: listed,
                        detail: if listed {
                            "the listing includes the canary".into()
                        } else {
                            "the listing succeeded but does not include the canary".into()
                        },
                    }
                }
                Err(e) => Tried::Failed(CallError::from_sdk("s3:ListObjectsV2", &e)),
            }
        }
    };
    let who = format!("{} ({})", c.principal, c.action.as_str());
    match (c.allowed, tried) {
        (true, Tried::Succeeded { ok: true, detail }) => {
            mk(Status::Pass, format!("{who}: allowed, {detail}"), ev)
        }
        (true, Tried::Succeeded { ok: false, detail }) => {
            mk(Status::Fail, format!("{who}: {detail}"), ev)
        }
        (false, Tried::Succeeded { detail, .. }) => mk(
            Status::Fail,
            format!("{who}: expected AccessDenied but the call succeeded ({detail})"),
            ev,
        ),
        (false, Tried::Failed(e)) if e.is_access_denied() => mk(
            Status::Pass,
            format!("{who}: AccessDenied, as expected"),
            with(ev, json!({"error": e.evidence()})),
        ),
        (allowed, Tried::Failed(e)) => {
            let status = if e.service {
                Status::Fail
            } else {
                Status::Error
            };
            let expected = if allowed {
                "expected access"
            } else {
                "expected AccessDenied"
            };
            mk(
                status,
                format!("{who}: {expected}, got {}", e.describe()),
                with(ev, json!({"error": e.evidence()})),
            )
        }
    }
}

// ------------------------------------------------------------------ delete markers

/// A delete marker this run may count as its own: at one of its keys, not there before the run.
fn find_marker(ctx: &Ctx, bucket: &str, key: &str, listed: &[s3ops::Listed]) -> Option<String> {
    let l = ctx.ledger();
    listed
        .iter()
        .find(|x| x.delete_marker && x.key == key && !l.is_foreign(bucket, key, &x.version_id))
        .map(|x| x.version_id.clone())
}

async fn delete_marker_test(
    ctx: &Ctx,
    o: &PlannedObject,
    obs: &[Observation],
) -> (Vec<Finding>, Vec<Watch>) {
    let found: Vec<&Observation> = obs.iter().filter(|ob| ob.found().is_some()).collect();
    let skip_all = |msg: &str| -> Vec<Finding> {
        obs.iter()
            .map(|ob| {
                meta::DELETE_MARKER.finding(
                    o.scenario,
                    Status::Skip,
                    pair_resource(ctx, o, &ob.expected.dest),
                    msg.to_string(),
                    base_evidence(ctx, o),
                )
            })
            .collect()
    };
    if ctx.stopped() {
        return (
            skip_all("interrupted before the delete-marker test"),
            vec![],
        );
    }
    if found.is_empty() {
        return (
            skip_all("no replica appeared, so delete-marker replication was not measured"),
            vec![],
        );
    }
    let client = match ctx.owner_client(&o.bucket) {
        Ok(c) => c,
        Err(why) => return (skip_all(&why), vec![]),
    };
    // A simple DELETE: adds a delete marker, removes nothing.
    let r = client
        .delete_object()
        .bucket(ctx.name(&o.bucket))
        .key(&o.key)
        .send()
        .await;
    let marker = match r {
        Ok(out) if out.delete_marker() == Some(true) => out.version_id().map(str::to_string),
        Ok(_) => None,
        Err(e) => {
            let err = CallError::from_sdk("s3:DeleteObject", &e);
            if err.uncertain {
                // It may have happened: look for a marker at the key.
                if let Ok(listed) = s3ops::list_versions(client, ctx.name(&o.bucket), &o.key).await
                {
                    if let Some(v) = find_marker(ctx, &o.bucket, &o.key, &listed) {
                        ctx.ledger().created.insert(VersionRef {
                            bucket: o.bucket.clone(),
                            key: o.key.clone(),
                            version_id: v,
                            delete_marker: true,
                        });
                    }
                }
            }
            let findings = found
                .iter()
                .map(|ob| {
                    meta::DELETE_MARKER.finding(
                        o.scenario,
                        Status::Error,
                        pair_resource(ctx, o, &ob.expected.dest),
                        format!(
                            "cannot delete the canary to create a delete marker: {}",
                            err.describe()
                        ),
                        with(base_evidence(ctx, o), json!({"error": err.evidence()})),
                    )
                })
                .collect();
            return (findings, vec![]);
        }
    };
    let Some(marker) = marker else {
        return (
            skip_all(
                "DeleteObject created no delete marker (is versioning enabled on the source?)",
            ),
            vec![],
        );
    };
    ctx.ledger().created.insert(VersionRef {
        bucket: o.bucket.clone(),
        key: o.key.clone(),
        version_id: marker.clone(),
        delete_marker: true,
    });
    let deleted_at = Instant::now();
    let results = join_all(found.iter().map(|ob| {
        let marker = marker.clone();
        async move {
            let e = &ob.expected;
            let want = ctx
                .spec
                .replication
                .get(e.replication)
                .and_then(|r| r.rules.get(e.rule))
                .is_some_and(|r| r.delete_marker_replication);
            let limit = if want { ctx.settings.timeout } else { ctx.settings.observe };
            let resource = pair_resource(ctx, o, &e.dest);
            let rule = plan::rule_label(&ctx.spec, e.replication, e.rule);
            let mut ev = with(
                base_evidence(ctx, o),
                json!({
                    "rule": rule,
                    "destination": format!("s3://{}", ctx.name(&e.dest)),
                    "expected": if want { "replicated" } else { "not replicated" },
                    "source_delete_marker_version_id": marker,
                    "waited_secs_limit": r3(limit.as_secs_f64()),
                }),
            );
            let watch = Watch {
                bucket: e.dest.clone(),
                key: o.key.clone(),
                version_ids: vec![marker.clone()],
            };
            let dest_client = match ctx.owner_client(&e.dest) {
                Ok(c) => c,
                Err(why) => {
                    return (
                        meta::DELETE_MARKER.finding(o.scenario, Status::Error, resource, why, ev),
                        None,
                    )
                }
            };
            let deadline = deleted_at + limit;
            let mut backoff = Backoff::default();
            let mut polls = 0;
            let mut errors = 0;
            let mut last_err = None;
            let seen: Result<Option<(String, f64)>, ()> = loop {
                let now = Instant::now();
                if now >= deadline {
                    break Ok(None);
                }
                if ctx.pause(backoff.next_delay().min(deadline - now)).await {
                    break Err(());
                }
                polls += 1;
                match s3ops::list_versions(dest_client, ctx.name(&e.dest), &o.key).await {
                    Ok(listed) => {
                        errors = 0;
                        if let Some(v) = find_marker(ctx, &e.dest, &o.key, &listed) {
                            ctx.ledger().observed.insert(VersionRef {
                                bucket: e.dest.clone(),
                                key: o.key.clone(),
                                version_id: v.clone(),
                                delete_marker: true,
                            });
                            break Ok(Some((v, deleted_at.elapsed().as_secs_f64())));
                        }
                    }
                    Err(err) => {
                        errors += 1;
                        last_err = Some(err);
                        if errors >= MAX_POLL_ERRORS {
                            break Ok(None);
                        }
                    }
                }
            };
            if let Some(obj) = ev.as_object_mut() {
                obj.insert("polls".into(), json!(polls));
            }
            let dest = ctx.name(&e.dest).to_string();
            match (want, seen) {
                (_, Err(())) => (
                    meta::DELETE_MARKER.finding(o.scenario, Status::Skip, resource, "interrupted while waiting for the delete marker".to_string(), ev),
                    Some(watch),
                ),
                (_, Ok(None)) if errors >= MAX_POLL_ERRORS => {
                    let err = last_err.map(|e| e.describe()).unwrap_or_default();
                    (
                        meta::DELETE_MARKER.finding(o.scenario, Status::Error, resource, format!("cannot list the destination: {err}"), ev),
                        Some(watch),
                    )
                }
                (true, Ok(Some((v, after)))) => {
                    ev = with(ev, json!({"replica_delete_marker_version_id": v, "after_secs": r3(after)}));
                    (
                        meta::DELETE_MARKER.finding(o.scenario, Status::Pass, resource, format!("{rule}: delete marker replicated to s3://{dest} after {after:.2} s, as expected"), ev),
                        None,
                    )
                }
                (true, Ok(None)) => (
                    meta::DELETE_MARKER.finding(o.scenario, Status::Fail, resource, format!("{rule}: no delete marker in s3://{dest} within {}; the spec expects delete markers to replicate", timeout_words(ctx)), ev),
                    Some(watch),
                ),
                (false, Ok(Some((v, after)))) => {
                    ev = with(ev, json!({"replica_delete_marker_version_id": v, "after_secs": r3(after)}));
                    (
                        meta::DELETE_MARKER.finding(o.scenario, Status::Fail, resource, format!("{rule}: delete marker replicated to s3://{dest} after {after:.2} s; the spec expects delete markers not to replicate"), ev),
                        None,
                    )
                }
                (false, Ok(None)) => (
                    meta::DELETE_MARKER.finding(o.scenario, Status::Pass, resource, format!("{rule}: no delete marker in s3://{dest} within the {:.1} s observation window, as expected", ctx.settings.observe.as_secs_f64()), ev),
                    None,
                ),
            }
        }
    }))
    .await;
    let mut findings = Vec::new();
    let mut watches = Vec::new();
    for (f, w) in results {
        findings.push(f);
        watches.extend(w);
    }
    (findings, watches)
}

// ------------------------------------------------------------------ per purpose

fn skip(
    meta: &'static RuleMeta,
    scenario: Scenario,
    resource: String,
    msg: String,
    ev: Value,
) -> Finding {
    meta.finding(scenario, Status::Skip, resource, msg, ev)
}

fn uploader_finding(
    ctx: &Ctx,
    o: &PlannedObject,
    principal: &str,
    put: &Put,
    obs: &[Observation],
) -> Finding {
    let resource = format!("{} as {principal}", ctx.url(&o.bucket, &o.key));
    let ev = with(
        base_evidence(ctx, o),
        json!({"principal": principal, "expected": "may upload, and it replicates"}),
    );
    let mk = |status, msg: String, ev| {
        meta::UPLOADERS.finding(Scenario::ScenarioC, status, resource.clone(), msg, ev)
    };
    match put {
        Put::Written(w) => {
            if obs.iter().any(|ob| matches!(ob.seen, Seen::Stopped)) {
                return mk(
                    Status::Skip,
                    format!(
                        "uploader '{principal}' wrote the object; interrupted before it replicated"
                    ),
                    ev,
                );
            }
            let missing: Vec<String> = obs
                .iter()
                .filter(|ob| ob.found().is_none())
                .map(|ob| format!("s3://{}", ctx.name(&ob.expected.dest)))
                .collect();
            let ev = with(
                ev,
                json!({"version_id": w.version_id, "not_replicated_to": missing}),
            );
            if missing.is_empty() {
                mk(
                    Status::Pass,
                    format!("uploader '{principal}' wrote into the replicated prefix and the object replicated"),
                    ev,
                )
            } else {
                mk(
                    Status::Fail,
                    format!("uploader '{principal}' wrote into the replicated prefix but the object did not replicate to {}", missing.join(", ")),
                    ev,
                )
            }
        }
        Put::Failed(e) if e.is_access_denied() => mk(
            Status::Fail,
            format!(
                "uploader '{principal}' was denied writing into the replicated prefix: {}",
                e.describe()
            ),
            with(ev, json!({"error": e.evidence()})),
        ),
        Put::Failed(e) => mk(
            if e.service {
                Status::Fail
            } else {
                Status::Error
            },
            format!("uploader '{principal}' could not write: {}", e.describe()),
            with(ev, json!({"error": e.evidence()})),
        ),
        Put::Exists(e) => mk(
            Status::Error,
            format!(
                "the canary key already existed; not overwritten ({})",
                e.describe()
            ),
            ev,
        ),
        Put::NotTried(why) => mk(Status::Error, why.clone(), ev),
        Put::Stopped => mk(Status::Skip, "interrupted before the upload".into(), ev),
    }
}

fn watches_for(o: &PlannedObject, w: &Written, obs: &[Observation]) -> Vec<Watch> {
    obs.iter()
        .filter(|ob| ob.may_still_arrive())
        .map(|ob| Watch {
            bucket: ob.expected.dest.clone(),
            key: o.key.clone(),
            version_ids: vec![w.version_id.clone()],
        })
        .collect()
}

async fn run_replicated(ctx: &Ctx, o: &PlannedObject) -> RunResult {
    let mut r = RunResult::default();
    let p = put(ctx, o).await;
    r.findings.push(write_finding(ctx, o, &p));
    let Put::Written(w) = &p else {
        let why = p.reason();
        let ev = base_evidence(ctx, o);
        let interrupted = matches!(p, Put::Stopped);
        for e in &o.expected {
            let res = pair_resource(ctx, o, &e.dest);
            r.findings.push(skip(
                &meta::LATENCY,
                o.scenario,
                res.clone(),
                why.clone(),
                ev.clone(),
            ));
            r.findings.push(skip(
                &meta::ENCRYPTION,
                o.scenario,
                res.clone(),
                why.clone(),
                ev.clone(),
            ));
            r.findings.push(skip(
                &meta::DELETE_MARKER,
                o.scenario,
                res,
                why.clone(),
                ev.clone(),
            ));
            r.samples.push(Sample {
                secs: None,
                pass: false,
                interrupted,
            });
        }
        r.findings.push(skip(
            &meta::STATUS,
            o.scenario,
            ctx.url(&o.bucket, &o.key),
            why.clone(),
            ev.clone(),
        ));
        for c in &o.access {
            r.findings.push(skip(
                &meta::ACCESS,
                c.scenario,
                format!("{} as {}", ctx.url(&o.bucket, &o.key), c.principal),
                why.clone(),
                ev.clone(),
            ));
        }
        for u in &o.serves_uploaders {
            r.findings.push(uploader_finding(ctx, o, u, &p, &[]));
        }
        return r;
    };
    r.written += 1;
    if o.expected.is_empty() {
        r.findings.push(skip(
            &meta::LATENCY,
            o.scenario,
            ctx.url(&o.bucket, &o.key),
            "no rule of the spec matches the canary (tag filter?); nothing to measure".into(),
            base_evidence(ctx, o),
        ));
        return r;
    }
    let obs = join_all(o.expected.iter().map(|e| observe(ctx, o, w, e))).await;
    for ob in &obs {
        let (f, s) = latency_finding(ctx, o, w, ob);
        r.findings.push(f);
        r.samples.push(s);
    }
    let all_found = obs.iter().all(|ob| ob.found().is_some());
    let final_status = if all_found {
        settle_status(ctx, o).await
    } else {
        Ok(obs.iter().find_map(|ob| ob.source_status.clone()))
    };
    r.findings.push(status_finding(ctx, o, &obs, &final_status));
    for ob in &obs {
        r.findings.push(encryption_finding(ctx, o, w, ob));
    }
    let access = join_all(o.access.iter().map(|c| access_check(ctx, o, w, c, &obs))).await;
    r.findings.extend(access);
    for u in &o.serves_uploaders {
        r.findings.push(uploader_finding(ctx, o, u, &p, &obs));
    }
    if o.delete_marker_test {
        let (f, wts) = delete_marker_test(ctx, o, &obs).await;
        r.findings.extend(f);
        r.watches.extend(wts);
    }
    r.watches.extend(watches_for(o, w, &obs));
    r
}

async fn run_uploader(ctx: &Ctx, o: &PlannedObject, principal: &str) -> RunResult {
    let mut r = RunResult::default();
    let p = put(ctx, o).await;
    let obs = match &p {
        Put::Written(w) => {
            r.written += 1;
            join_all(o.expected.iter().map(|e| observe(ctx, o, w, e))).await
        }
        _ => Vec::new(),
    };
    r.findings
        .push(uploader_finding(ctx, o, principal, &p, &obs));
    if let Put::Written(w) = &p {
        r.watches.extend(watches_for(o, w, &obs));
    }
    r
}

async fn run_non_uploader(ctx: &Ctx, o: &PlannedObject, principal: &str) -> RunResult {
    let mut r = RunResult::default();
    let p = put(ctx, o).await;
    let resource = format!("{} as {principal}", ctx.url(&o.bucket, &o.key));
    let ev = with(
        base_evidence(ctx, o),
        json!({"principal": principal, "expected": "AccessDenied"}),
    );
    let mk = |status, msg: String, ev| {
        meta::UPLOADERS.finding(Scenario::ScenarioC, status, resource.clone(), msg, ev)
    };
    let f = match &p {
        Put::Failed(e) if e.is_access_denied() => mk(
            Status::Pass,
            format!("non-uploader '{principal}' got AccessDenied writing into the replicated prefix, as expected"),
            with(ev, json!({"error": e.evidence()})),
        ),
        Put::Written(w) => {
            r.written += 1;
            // It may replicate: watch every destination a rule would send it to.
            let expected = plan::matching_rules(&ctx.spec, &o.bucket, &o.key, &o.tags);
            for e in expected {
                r.watches.push(Watch {
                    bucket: e.dest,
                    key: o.key.clone(),
                    version_ids: vec![w.version_id.clone()],
                });
            }
            mk(
                Status::Fail,
                format!("non-uploader '{principal}' could write into the replicated prefix (version {}); only the uploaders may", w.version_id),
                with(ev, json!({"version_id": w.version_id})),
            )
        }
        Put::Failed(e) => mk(
            if e.service { Status::Fail } else { Status::Error },
            format!("non-uploader '{principal}': expected AccessDenied, got {}", e.describe()),
            with(ev, json!({"error": e.evidence()})),
        ),
        Put::Exists(e) => mk(Status::Error, format!("the canary key already existed; not overwritten ({})", e.describe()), ev),
        Put::NotTried(why) => mk(Status::Error, why.clone(), ev),
        Put::Stopped => mk(Status::Skip, "interrupted before the upload".into(), ev),
    };
    r.findings.push(f);
    r
}

async fn run_unreplicated(ctx: &Ctx, o: &PlannedObject) -> RunResult {
    let mut r = RunResult::default();
    let p = put(ctx, o).await;
    r.findings.push(write_finding(ctx, o, &p));
    let resource = ctx.url(&o.bucket, &o.key);
    let Put::Written(w) = &p else {
        r.findings.push(skip(
            &meta::PREFIX_FILTER,
            Scenario::ScenarioB,
            resource,
            p.reason(),
            base_evidence(ctx, o),
        ));
        return r;
    };
    r.written += 1;
    let observe_for = ctx.settings.observe;
    let deadline = w.ack + observe_for;
    let bar = ctx.progress.bar(
        format!("#{} {} (must not replicate)", o.n, short_prefix(o)),
        observe_for,
    );
    let mut backoff = Backoff::default();
    let mut polls = 0;
    let mut appeared: Vec<(String, f64)> = Vec::new();
    let mut errors: Vec<CallError> = Vec::new();
    let mut stopped = false;
    loop {
        let now = Instant::now();
        if now >= deadline || appeared.len() == o.forbidden.len() {
            break;
        }
        if ctx.pause(backoff.next_delay().min(deadline - now)).await {
            stopped = true;
            break;
        }
        polls += 1;
        for d in &o.forbidden {
            if appeared.iter().any(|(x, _)| x == d) {
                continue;
            }
            let Ok(c) = ctx.owner_client(d) else { continue };
            match s3ops::head(c, ctx.name(d), &o.key).await {
                Ok(h) => {
                    record_replica(ctx, o, w, d, &h).await;
                    appeared.push((d.clone(), w.ack.elapsed().as_secs_f64()));
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => errors.push(e),
            }
        }
        bar.update(
            w.ack.elapsed(),
            format!("poll {polls}, not replicated so far"),
        );
    }
    bar.finish(if appeared.is_empty() {
        "not replicated".into()
    } else {
        "REPLICATED".into()
    });
    let status = source_head(ctx, o)
        .await
        .ok()
        .and_then(|h| h.replication_status);
    let ev = with(
        base_evidence(ctx, o),
        json!({
            "observe_secs": r3(observe_for.as_secs_f64()),
            "polls": polls,
            "destinations": o.forbidden.iter().map(|d| format!("s3://{}", ctx.name(d))).collect::<Vec<_>>(),
            "appeared_in": appeared.iter().map(|(d, t)| json!({"destination": format!("s3://{}", ctx.name(d)), "after_secs": r3(*t)})).collect::<Vec<_>>(),
            "source_replication_status": status,
        }),
    );
    let mk = |st, msg: String| {
        meta::PREFIX_FILTER.finding(Scenario::ScenarioB, st, resource.clone(), msg, ev.clone())
    };
    let f = if !appeared.is_empty() {
        let list: Vec<String> = appeared
            .iter()
            .map(|(d, t)| format!("s3://{} after {t:.2} s", ctx.name(d)))
            .collect();
        mk(
            Status::Fail,
            format!(
                "a canary outside the replicated prefixes was replicated: {}",
                list.join(", ")
            ),
        )
    } else if matches!(
        status.as_deref(),
        Some("PENDING" | "COMPLETED" | "COMPLETE" | "FAILED")
    ) {
        mk(
            Status::Fail,
            format!("not replicated within {:.1} s, but its replication status is {}: a replication rule matches this prefix", observe_for.as_secs_f64(), status.as_deref().unwrap_or_default()),
        )
    } else if stopped {
        mk(
            Status::Skip,
            "interrupted during the observation window".into(),
        )
    } else if errors.len() >= polls.max(1) {
        mk(
            Status::Error,
            format!(
                "cannot read the destination: {}",
                errors.last().map(|e| e.describe()).unwrap_or_default()
            ),
        )
    } else {
        mk(
            Status::Pass,
            format!("not replicated within the {:.1} s observation window; no replication status on the source", observe_for.as_secs_f64()),
        )
    };
    r.findings.push(f);
    if appeared.len() < o.forbidden.len() && status.is_some() {
        for d in &o.forbidden {
            if !appeared.iter().any(|(x, _)| x == d) {
                r.watches.push(Watch {
                    bucket: d.clone(),
                    key: o.key.clone(),
                    version_ids: vec![w.version_id.clone()],
                });
            }
        }
    }
    r
}

// ------------------------------------------------------------------ summary

fn latency_summary(ctx: &Ctx, samples: &[Sample]) -> Option<Finding> {
    if samples.is_empty() {
        return None;
    }
    let mut secs: Vec<f64> = samples.iter().filter_map(|s| s.secs).collect();
    secs.sort_by(|a, b| a.total_cmp(b));
    let stats = (!secs.is_empty()).then(|| {
        let n = secs.len();
        let median = if n % 2 == 1 {
            secs[n / 2]
        } else {
            (secs[n / 2 - 1] + secs[n / 2]) / 2.0
        };
        (secs[0], median, secs[n - 1])
    });
    let failed = samples.iter().filter(|s| !s.pass && !s.interrupted).count();
    let interrupted = samples.iter().any(|s| s.interrupted);
    let ev = json!({
        "run_id": ctx.run_id(),
        "canaries": samples.len(),
        "replicated": secs.len(),
        "min_secs": stats.map(|s| r3(s.0)),
        "median_secs": stats.map(|s| r3(s.1)),
        "max_secs": stats.map(|s| r3(s.2)),
        "threshold_secs": RTC_WINDOW.as_secs(),
        "timeout_secs": r3(ctx.settings.timeout.as_secs_f64()),
    });
    let figures = stats
        .map(|(a, b, c)| format!("min {a:.2} s, median {b:.2} s, max {c:.2} s"))
        .unwrap_or_else(|| "no replica seen".into());
    let (status, msg) = if failed > 0 {
        (
            Status::Fail,
            format!(
                "{failed} of {} canaries did not replicate within {}; {figures}",
                samples.len(),
                timeout_words(ctx)
            ),
        )
    } else if interrupted {
        (Status::Skip, format!("interrupted; {figures}"))
    } else {
        (
            Status::Pass,
            format!("{} canaries replicated: {figures}", samples.len()),
        )
    };
    let mut f = meta::LATENCY.finding(Scenario::Step4, status, "all canaries", msg, ev);
    f.duration_secs = stats.map(|s| r3(s.2));
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::tagging;

    #[test]
    fn tag_header_is_url_encoded() {
        let t = vec![
            (
                "replaudit-canary".to_string(),
                "20250101T000000Z-ab12".to_string(),
            ),
            ("team name".to_string(), "a&b=c".to_string()),
        ];
        assert_eq!(
            tagging(&t),
            "replaudit-canary=20250101T000000Z-ab12&team%20name=a%26b%3Dc"
        );
    }
}
