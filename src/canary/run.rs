//! The canary run: write every planned object, then (concurrently for all of them) watch the
//! replicas arrive, read their status and encryption, try the principals' access, and test
//! delete-marker replication. This module only observes: it records what it saw in the types
//! of `observation.rs` and hands them to the pure verdicts (`verdict/`). Nothing here deletes
//! anything except the one simple DELETE of the delete-marker test (which only adds a marker).

use super::backoff::Backoff;
use super::context::{Ctx, RunResult, VersionRef, Watch};
use super::observation::{
    AccessObs, AccessOutcome, DeleteMarkerObs, Interrupt, MarkerCreate, MarkerObs, MarkerSeen,
    ReplicaObs, ReplicationObs, Seen, Tried, UnreplicatedObs, WriteObs, Written,
};
use super::plan::{self, AccessCheck, Action, Actor, PlannedObject, Purpose, Sse, Target, TAG_KEY};
use super::s3ops::Client;
use super::s3ops::{self, CallError, HeadInfo};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use futures::future::join_all;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::time::{Duration, Instant};

/// How long to keep reading the source status once every replica was seen.
const SETTLE: Duration = Duration::from_secs(5);
/// Consecutive unexpected errors after which polling a destination gives up.
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

/// What only the observing code needs about a written canary: when S3 acknowledged it (every
/// latency is measured from here) and the bytes written (an allowed reader must get them back).
struct Io {
    ack: Instant,
    body: Vec<u8>,
}

/// Every planned object's checks, concurrently, and the latency summary over them.
pub(crate) async fn run_objects(ctx: &Ctx) -> RunResult {
    let results = join_all(ctx.plan.objects.iter().map(|o| run_object(ctx, o))).await;
    let mut all = RunResult::default();
    for r in results {
        all.merge(r);
    }
    if let Some(f) = ctx.judge().latency_summary(&all.samples) {
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

async fn put(ctx: &Ctx, o: &PlannedObject) -> (WriteObs, Option<Io>) {
    if let Some(i) = ctx.stopped() {
        return (WriteObs::Stopped(i), None);
    }
    let client = match ctx.client(&o.writer, &o.bucket) {
        Ok(c) => c,
        Err(why) => return (WriteObs::NotTried(why.to_string()), None),
    };
    let body = format!(
        "replaudit canary\nrun: {}\nobject: {}\nnonce: {}\n",
        ctx.run_id(),
        o.n,
        uuid::Uuid::new_v4().simple()
    )
    .into_bytes();
    // If-None-Match: * makes the write fail (412) instead of overwriting anything.
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
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
    let r = client.run(req.send()).await;
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
            (
                WriteObs::Written(Written {
                    version_id,
                    sse: out.server_side_encryption().map(|s| s.as_str().to_string()),
                    kms_key_id: out.ssekms_key_id().map(str::to_string),
                    source,
                }),
                Some(Io { ack, body }),
            )
        }
        Err(e) => {
            let err = CallError::from_sdk("s3:PutObject", &e);
            if err.is_precondition_failed() {
                // A retried PutObject whose first attempt succeeded also gets 412.
                if let Some(w) = adopt_own_write(ctx, o).await {
                    return (WriteObs::Written(w), Some(Io { ack, body }));
                }
                return (WriteObs::Exists(err), None);
            }
            if err.uncertain {
                ctx.ledger()
                    .uncertain
                    .insert((o.bucket.clone(), o.key.clone()));
            }
            (WriteObs::Failed(err), None)
        }
    }
}

/// After a 412: the object at the key is this run's own only if it did not exist before the run
/// (not in the pre-run listing) and carries this run's tag.
async fn adopt_own_write(ctx: &Ctx, o: &PlannedObject) -> Option<Written> {
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
        sse: head.sse.clone(),
        kms_key_id: head.kms_key_id.clone(),
        source: Some(head),
    })
}

/// HeadObject of the canary in its source bucket (it exists, so s3:GetObject suffices).
async fn source_head(ctx: &Ctx, o: &PlannedObject) -> Result<HeadInfo, CallError> {
    let client = ctx
        .owner_client(&o.bucket)
        .map_err(|why| CallError::local("s3:HeadObject", why))?;
    s3ops::head(client, ctx.name(&o.bucket), &o.key).await
}

// ------------------------------------------------------------------ watching replicas

/// The canary's version in `dest`, if it is there yet: found by listing (see
/// [`s3ops::versions_of`] for why not HeadObject), then read with HeadObject for its status
/// and encryption. Recorded for cleanup when it is provably this run's.
async fn find_replica(
    ctx: &Ctx,
    client: &Client,
    o: &PlannedObject,
    w: &Written,
    dest: &str,
) -> Result<Option<(String, Result<HeadInfo, CallError>)>, CallError> {
    let listed = s3ops::versions_of(client, ctx.name(dest), &o.key).await?;
    let candidate = listed
        .iter()
        .filter(|l| !l.delete_marker)
        .find(|l| l.version_id == w.version_id)
        .or_else(|| {
            let ledger = ctx.ledger();
            listed
                .iter()
                .find(|l| !l.delete_marker && !ledger.is_foreign(dest, &l.key, &l.version_id))
        });
    let Some(v) = candidate else {
        return Ok(None);
    };
    record_replica(ctx, o, w, dest, &v.version_id).await;
    let head = s3ops::head(client, ctx.name(dest), &o.key).await;
    Ok(Some((v.version_id.clone(), head)))
}

/// Remember a replica for cleanup when it is provably this run's: it carries the source
/// version's id (replicas keep it: "retain all metadata, such as ... version IDs",
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication.html>) or this run's tag.
async fn record_replica(ctx: &Ctx, o: &PlannedObject, w: &Written, dest: &str, v: &str) {
    let mut ours = v == w.version_id;
    if !ours {
        if let Ok(c) = ctx.owner_client(dest) {
            ours = s3ops::tag_value(c, ctx.name(dest), &o.key, v, TAG_KEY)
                .await
                .ok()
                .flatten()
                .is_some_and(|t| t == ctx.run_id());
        }
    }
    let mut l = ctx.ledger();
    if ours && !l.is_foreign(dest, &o.key, v) {
        l.observed.insert(VersionRef {
            bucket: dest.to_string(),
            key: o.key.clone(),
            version_id: v.to_string(),
            delete_marker: false,
        });
    }
}

/// Wait for the replica in every expected destination at once.
///
/// Each poll lists every destination still without its replica, then reads the source's
/// status. A source FAILED ends the wait early only when it can be attributed: the status
/// covers every destination ("If one or more destinations fail replication, the header returns
/// FAILED", <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html#replication-status-multiple-destinations>),
/// so it says which destination failed only when exactly one is still without its replica.
async fn observe(ctx: &Ctx, o: &PlannedObject, w: &Written, io: &Io) -> ReplicationObs {
    let n = o.expected.len();
    let mut seen: Vec<Option<Seen>> = vec![None; n];
    let mut polls = vec![0usize; n];
    let mut lower = vec![0.0f64; n];
    let mut errors = vec![0usize; n];
    let clients: Vec<Option<&Client>> = o
        .expected
        .iter()
        .enumerate()
        .map(|(i, e)| match ctx.owner_client(&e.dest) {
            Ok(c) => Some(c),
            Err(why) => {
                seen[i] = Some(Seen::Error(CallError::local("s3:ListObjectVersions", why)));
                None
            }
        })
        .collect();
    let src_client = ctx.owner_client(&o.bucket).ok();
    let mut waiting_status = w.source.as_ref().and_then(|h| h.replication_status.clone());
    let mut status_read = w.source.is_some();
    let mut source_error: Option<CallError> = None;
    let timeout = ctx.settings.timeout;
    let deadline = io.ack + timeout;
    let dests: Vec<&str> = o.expected.iter().map(|e| ctx.name(&e.dest)).collect();
    let bar = ctx.progress.bar(
        format!("#{} {} -> {}", o.n, short_prefix(o), dests.join(", ")),
        timeout,
    );
    let open = |seen: &[Option<Seen>]| -> Vec<usize> {
        (0..seen.len()).filter(|i| seen[*i].is_none()).collect()
    };
    let mut backoff = Backoff::default();
    loop {
        let waiting = open(&seen);
        if waiting.is_empty() {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            let waited = io.ack.elapsed().as_secs_f64();
            for i in waiting {
                seen[i] = Some(Seen::Missing {
                    waited,
                    source_failed: false,
                });
            }
            break;
        }
        if let Some(interrupt) = ctx.pause(backoff.next_delay().min(deadline - now)).await {
            let waited = io.ack.elapsed().as_secs_f64();
            for i in waiting {
                seen[i] = Some(Seen::Stopped { interrupt, waited });
            }
            break;
        }
        for i in waiting {
            let Some(client) = clients[i] else { continue };
            polls[i] += 1;
            match find_replica(ctx, client, o, w, &o.expected[i].dest).await {
                Ok(Some((version_id, head))) => {
                    seen[i] = Some(Seen::Found {
                        latency: io.ack.elapsed().as_secs_f64(),
                        lower: lower[i],
                        version_id,
                        head,
                    });
                }
                Ok(None) => {
                    errors[i] = 0;
                    lower[i] = io.ack.elapsed().as_secs_f64();
                }
                Err(err) => {
                    errors[i] += 1;
                    if errors[i] >= MAX_POLL_ERRORS {
                        seen[i] = Some(Seen::Error(err));
                    }
                }
            }
        }
        let waiting = open(&seen);
        if waiting.is_empty() {
            break;
        }
        // Read the source too, so that a FAILED replication ends the wait at once.
        if let Some(c) = src_client {
            match s3ops::head(c, ctx.name(&o.bucket), &o.key).await {
                Ok(h) => {
                    status_read = true;
                    waiting_status = h.replication_status;
                    if waiting_status.as_deref() == Some("FAILED") && waiting.len() == 1 {
                        seen[waiting[0]] = Some(Seen::Missing {
                            waited: io.ack.elapsed().as_secs_f64(),
                            source_failed: true,
                        });
                    }
                }
                Err(e) => source_error = Some(e),
            }
        }
        bar.update(
            io.ack.elapsed(),
            format!(
                "poll {}, source {}",
                polls.iter().max().copied().unwrap_or(0),
                waiting_status.as_deref().unwrap_or("no status")
            ),
        );
    }
    let replicas: Vec<ReplicaObs> = o
        .expected
        .iter()
        .zip(seen)
        .zip(polls)
        .map(|((e, s), p)| ReplicaObs {
            expected: e.clone(),
            seen: s.unwrap_or(Seen::Missing {
                waited: 0.0,
                source_failed: false,
            }),
            polls: p,
        })
        .collect();
    bar.finish(
        replicas
            .iter()
            .map(|r| match &r.seen {
                Seen::Found { latency, .. } => format!("replicated in {latency:.2} s"),
                Seen::Missing {
                    source_failed: true,
                    ..
                } => "replication FAILED".into(),
                Seen::Missing { .. } => "no replica before the timeout".into(),
                Seen::Stopped { interrupt, .. } => interrupt.describe(),
                Seen::Error(e) => e.describe(),
            })
            .collect::<Vec<_>>()
            .join("; "),
    );
    let all_found = replicas.iter().all(|r| r.found().is_some());
    let (final_status, settle_stopped) = if all_found {
        settle_status(ctx, o).await
    } else if status_read {
        (Ok(waiting_status.clone()), None)
    } else {
        (
            Err(source_error.unwrap_or_else(|| {
                CallError::local("s3:HeadObject", "the source's status was never read")
            })),
            None,
        )
    };
    ReplicationObs {
        replicas,
        waiting_status,
        status_read,
        final_status,
        settle_stopped,
    }
}

/// Once every replica is there, the source should say COMPLETED; give it a few seconds.
async fn settle_status(
    ctx: &Ctx,
    o: &PlannedObject,
) -> (Result<Option<String>, CallError>, Option<Interrupt>) {
    let deadline = Instant::now() + SETTLE;
    let mut backoff = Backoff::default();
    loop {
        let status = match source_head(ctx, o).await {
            Ok(h) => h.replication_status,
            Err(e) => return (Err(e), None),
        };
        let now = Instant::now();
        if status.as_deref() != Some("PENDING") || now >= deadline {
            return (Ok(status), None);
        }
        if let Some(i) = ctx.pause(backoff.next_delay().min(deadline - now)).await {
            return (Ok(status), Some(i));
        }
    }
}

/// Replications that may still land after the checks ended: cleanup watches for them.
fn watches_for(o: &PlannedObject, w: &Written, obs: &ReplicationObs) -> Vec<Watch> {
    obs.replicas
        .iter()
        .filter(|r| match r.seen {
            Seen::Found { .. } => false,
            Seen::Missing {
                source_failed: true,
                ..
            } => false,
            _ => !obs.status_read || obs.waiting_status.as_deref() != Some("COMPLETED"),
        })
        .map(|r| Watch {
            bucket: r.expected.dest.clone(),
            key: o.key.clone(),
            version_ids: vec![w.version_id.clone()],
        })
        .collect()
}

// ------------------------------------------------------------------ access

async fn access_check(
    ctx: &Ctx,
    o: &PlannedObject,
    io: &Io,
    c: &AccessCheck,
    replicas: &[ReplicaObs],
) -> AccessObs {
    let outcome = try_access(ctx, o, io, c, replicas).await;
    AccessObs {
        check: c.clone(),
        outcome,
    }
}

async fn try_access(
    ctx: &Ctx,
    o: &PlannedObject,
    io: &Io,
    c: &AccessCheck,
    replicas: &[ReplicaObs],
) -> AccessOutcome {
    let bucket = match &c.target {
        Target::Source => o.bucket.as_str(),
        Target::Replica(d) => {
            let r = replicas.iter().find(|r| &r.expected.dest == d);
            if let Some(i) = r.and_then(|r| r.stopped()) {
                return AccessOutcome::Stopped(i);
            }
            if r.is_none_or(|r| r.found().is_none()) {
                return AccessOutcome::NoReplica;
            }
            d.as_str()
        }
    };
    if let Some(i) = ctx.stopped() {
        return AccessOutcome::Stopped(i);
    }
    let client = match ctx.client(&Actor::Principal(c.principal.clone()), bucket) {
        Ok(cl) => cl,
        Err(why) => return AccessOutcome::NoClient(why.to_string()),
    };
    let tried = match c.action {
        Action::GetObject => {
            match client
                .run(
                    client
                        .get_object()
                        .bucket(ctx.name(bucket))
                        .key(&o.key)
                        .send(),
                )
                .await
            {
                Ok(out) => match out.body.collect().await {
                    Ok(bytes) => {
                        let same = bytes.into_bytes().as_ref() == io.body.as_slice();
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
                .run(
                    client
                        .list_objects_v2()
                        .bucket(ctx.name(bucket))
                        .prefix(&o.run_prefix)
                        .send(),
                )
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
    AccessOutcome::Tried(tried)
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

/// A simple DELETE of the canary (adds a delete marker, removes nothing), then a wait for the
/// marker in every destination that has the replica. None when no replica was seen.
async fn delete_marker_test(
    ctx: &Ctx,
    o: &PlannedObject,
    replicas: &[ReplicaObs],
) -> (Option<DeleteMarkerObs>, Vec<Watch>) {
    let found: Vec<&ReplicaObs> = replicas.iter().filter(|r| r.found().is_some()).collect();
    if found.is_empty() {
        return (None, vec![]);
    }
    let only = |create| {
        (
            Some(DeleteMarkerObs {
                create,
                waits: vec![],
            }),
            vec![],
        )
    };
    if let Some(i) = ctx.stopped() {
        return only(MarkerCreate::Stopped(i));
    }
    let client = match ctx.owner_client(&o.bucket) {
        Ok(c) => c,
        Err(why) => return only(MarkerCreate::NoClient(why.to_string())),
    };
    let r = client
        .run(
            client
                .delete_object()
                .bucket(ctx.name(&o.bucket))
                .key(&o.key)
                .send(),
        )
        .await;
    let marker = match r {
        Ok(out) if out.delete_marker() == Some(true) => out.version_id().map(str::to_string),
        Ok(_) => None,
        Err(e) => {
            let err = CallError::from_sdk("s3:DeleteObject", &e);
            if err.uncertain {
                // It may have happened: look for a marker at the key.
                if let Ok(listed) = s3ops::versions_of(client, ctx.name(&o.bucket), &o.key).await {
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
            return only(MarkerCreate::Failed(err));
        }
    };
    let Some(marker) = marker else {
        return only(MarkerCreate::NoMarker);
    };
    ctx.ledger().created.insert(VersionRef {
        bucket: o.bucket.clone(),
        key: o.key.clone(),
        version_id: marker.clone(),
        delete_marker: true,
    });
    let deleted_at = Instant::now();
    let results = join_all(
        found
            .iter()
            .map(|r| wait_marker(ctx, o, r, &marker, deleted_at)),
    )
    .await;
    let mut waits = Vec::new();
    let mut watches = Vec::new();
    for (m, w) in results {
        waits.push(m);
        watches.extend(w);
    }
    (
        Some(DeleteMarkerObs {
            create: MarkerCreate::Created(marker),
            waits,
        }),
        watches,
    )
}

/// Watch one destination for the replicated delete marker: for the timeout when the rule
/// replicates delete markers, for the observation window when it must not.
async fn wait_marker(
    ctx: &Ctx,
    o: &PlannedObject,
    r: &ReplicaObs,
    marker: &str,
    deleted_at: Instant,
) -> (MarkerObs, Option<Watch>) {
    let e = &r.expected;
    let want = ctx
        .spec
        .replication
        .get(e.replication)
        .and_then(|r| r.rules.get(e.rule))
        .is_some_and(|r| r.delete_marker_replication);
    let limit = if want {
        ctx.settings.timeout
    } else {
        ctx.settings.observe
    };
    let watch = Watch {
        bucket: e.dest.clone(),
        key: o.key.clone(),
        version_ids: vec![marker.to_string()],
    };
    let obs = |seen, polls| MarkerObs {
        expected: e.clone(),
        seen,
        polls,
    };
    let dest_client = match ctx.owner_client(&e.dest) {
        Ok(c) => c,
        Err(why) => {
            return (
                obs(
                    MarkerSeen::Error(CallError::local("s3:ListObjectVersions", why)),
                    0,
                ),
                Some(watch),
            )
        }
    };
    let deadline = deleted_at + limit;
    let mut backoff = Backoff::default();
    let mut polls = 0;
    let mut errors = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return (obs(MarkerSeen::NotSeen, polls), want.then_some(watch));
        }
        if let Some(i) = ctx.pause(backoff.next_delay().min(deadline - now)).await {
            return (obs(MarkerSeen::Stopped(i), polls), Some(watch));
        }
        polls += 1;
        match s3ops::versions_of(dest_client, ctx.name(&e.dest), &o.key).await {
            Ok(listed) => {
                errors = 0;
                if let Some(v) = find_marker(ctx, &e.dest, &o.key, &listed) {
                    ctx.ledger().observed.insert(VersionRef {
                        bucket: e.dest.clone(),
                        key: o.key.clone(),
                        version_id: v.clone(),
                        delete_marker: true,
                    });
                    let after = deleted_at.elapsed().as_secs_f64();
                    return (
                        obs(
                            MarkerSeen::Seen {
                                version_id: v,
                                after,
                            },
                            polls,
                        ),
                        None,
                    );
                }
            }
            Err(err) => {
                errors += 1;
                if errors >= MAX_POLL_ERRORS {
                    return (obs(MarkerSeen::Error(err), polls), Some(watch));
                }
            }
        }
    }
}

// ------------------------------------------------------------------ per purpose

async fn run_replicated(ctx: &Ctx, o: &PlannedObject) -> RunResult {
    let j = ctx.judge();
    let mut r = RunResult::default();
    let (w, io) = put(ctx, o).await;
    r.findings.push(j.write(o, &w));
    let (WriteObs::Written(written), Some(io)) = (&w, &io) else {
        let (findings, samples) = j.unwritten(o, &w);
        r.findings.extend(findings);
        r.samples.extend(samples);
        return r;
    };
    r.written += 1;
    if o.expected.is_empty() {
        r.findings.push(j.no_matching_rule(o));
        return r;
    }
    let obs = observe(ctx, o, written, io).await;
    for rep in &obs.replicas {
        let (f, s) = j.latency(o, written, &obs, rep);
        r.findings.push(f);
        r.samples.push(s);
    }
    r.findings.push(j.status(o, &obs));
    for rep in &obs.replicas {
        r.findings.push(j.encryption(o, written, rep));
    }
    let access = join_all(
        o.access
            .iter()
            .map(|c| access_check(ctx, o, io, c, &obs.replicas)),
    )
    .await;
    r.findings.extend(access.iter().map(|a| j.access(o, a)));
    for u in &o.serves_uploaders {
        r.findings.push(j.uploader(o, u, &w, &obs.replicas));
    }
    if o.delete_marker_test {
        let (d, watches) = delete_marker_test(ctx, o, &obs.replicas).await;
        r.findings
            .extend(j.delete_markers(o, &obs.replicas, d.as_ref()));
        r.watches.extend(watches);
    }
    r.watches.extend(watches_for(o, written, &obs));
    r
}

async fn run_uploader(ctx: &Ctx, o: &PlannedObject, principal: &str) -> RunResult {
    let mut r = RunResult::default();
    let (w, io) = put(ctx, o).await;
    let obs = match (&w, &io) {
        (WriteObs::Written(written), Some(io)) => {
            r.written += 1;
            Some(observe(ctx, o, written, io).await)
        }
        _ => None,
    };
    let replicas = obs.as_ref().map(|x| x.replicas.as_slice()).unwrap_or(&[]);
    r.findings
        .push(ctx.judge().uploader(o, principal, &w, replicas));
    if let (WriteObs::Written(written), Some(obs)) = (&w, &obs) {
        r.watches.extend(watches_for(o, written, obs));
    }
    r
}

async fn run_non_uploader(ctx: &Ctx, o: &PlannedObject, principal: &str) -> RunResult {
    let mut r = RunResult::default();
    let (w, _) = put(ctx, o).await;
    if let WriteObs::Written(written) = &w {
        r.written += 1;
        // It may replicate: watch every destination a rule would send it to.
        for e in plan::matching_rules(&ctx.spec, &o.bucket, &o.key, &o.tags) {
            r.watches.push(Watch {
                bucket: e.dest,
                key: o.key.clone(),
                version_ids: vec![written.version_id.clone()],
            });
        }
    }
    r.findings.push(ctx.judge().non_uploader(o, principal, &w));
    r
}

async fn run_unreplicated(ctx: &Ctx, o: &PlannedObject) -> RunResult {
    let j = ctx.judge();
    let mut r = RunResult::default();
    let (w, io) = put(ctx, o).await;
    r.findings.push(j.write(o, &w));
    let (WriteObs::Written(written), Some(io)) = (&w, &io) else {
        r.findings.push(j.prefix_filter(o, &w, None));
        return r;
    };
    r.written += 1;
    let u = watch_unreplicated(ctx, o, written, io).await;
    r.findings.push(j.prefix_filter(o, &w, Some(&u)));
    if u.appeared.len() < o.forbidden.len() && u.source_status.is_some() {
        for d in &o.forbidden {
            if !u.appeared.iter().any(|(x, _)| x == d) {
                r.watches.push(Watch {
                    bucket: d.clone(),
                    key: o.key.clone(),
                    version_ids: vec![written.version_id.clone()],
                });
            }
        }
    }
    r
}

/// Scenario B: watch every destination of the replication for the observation window.
async fn watch_unreplicated(ctx: &Ctx, o: &PlannedObject, w: &Written, io: &Io) -> UnreplicatedObs {
    let observe_for = ctx.settings.observe;
    let deadline = io.ack + observe_for;
    let bar = ctx.progress.bar(
        format!("#{} {} (must not replicate)", o.n, short_prefix(o)),
        observe_for,
    );
    let mut u = UnreplicatedObs::default();
    let mut backoff = Backoff::default();
    loop {
        let now = Instant::now();
        if now >= deadline || u.appeared.len() == o.forbidden.len() {
            break;
        }
        if let Some(i) = ctx.pause(backoff.next_delay().min(deadline - now)).await {
            u.stopped = Some(i);
            break;
        }
        u.polls += 1;
        for d in &o.forbidden {
            if u.appeared.iter().any(|(x, _)| x == d) {
                continue;
            }
            let c = match ctx.owner_client(d) {
                Ok(c) => c,
                Err(why) => {
                    u.errors
                        .push((d.clone(), CallError::local("s3:ListObjectVersions", why)));
                    continue;
                }
            };
            match find_replica(ctx, c, o, w, d).await {
                Ok(Some(_)) => u.appeared.push((d.clone(), io.ack.elapsed().as_secs_f64())),
                Ok(None) => {}
                Err(e) => u.errors.push((d.clone(), e)),
            }
        }
        bar.update(
            io.ack.elapsed(),
            format!("poll {}, not replicated so far", u.polls),
        );
    }
    bar.finish(if u.appeared.is_empty() {
        "not replicated".into()
    } else {
        "REPLICATED".into()
    });
    u.source_status = source_head(ctx, o)
        .await
        .ok()
        .and_then(|h| h.replication_status);
    u
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
