//! Cleanup: delete, by version id, exactly the versions the run created or saw replicated, and
//! count what is left under the run's own prefixes.
//!
//! What counts as "this run's" (the only things ever deleted):
//! - object versions and delete markers recorded in the ledger when the run created them
//!   (PutObject / simple DeleteObject responses carry their version ids);
//! - replicas of those, recorded when seen: a replica carries its source version's id (S3
//!   keeps version ids across replication) or, failing that, the run's tag;
//! - in the drain and the final sweep, for versions that arrived after the checks stopped
//!   looking: an object version at one of the run's keys whose version id is one this run
//!   created, or that carries the tag `replaudit-canary=<run id>`; a delete marker at one of the
//!   run's keys. A key of the run is `<prefix>replaudit-canary/<run id>/<n>`, created with
//!   If-None-Match (it did not exist), and only this run deletes it; a delete marker there was
//!   made by the run's own DELETE (or is its replica). Anything listed under the run's prefixes
//!   *before* the run wrote (the "foreign" set) is never touched.
//!
//! Nothing is ever deleted because of its prefix alone.

use super::backoff::Backoff;
use super::context::{self, Ctx, VersionRef, Watch};
use super::plan::{self, Actor, TAG_KEY};
use super::s3ops::{self, CallError, Listed};
use super::Refused;
use crate::aws::AwsOptions;
use crate::catalogue::canary as meta;
use crate::findings::{Finding, Scenario, Status};
use crate::spec::Spec;
use aws_sdk_s3::Client;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Instant;
use tokio::sync::watch;

#[derive(Debug, Default, Serialize)]
pub(crate) struct Cleaned {
    pub deleted: Vec<VersionRef>,
    pub failed: Vec<(VersionRef, CallError)>,
    /// Versions under the run's prefixes after cleanup (foreign ones excluded).
    pub left: Vec<VersionRef>,
    pub foreign_untouched: usize,
    pub listing_errors: Vec<CallError>,
    /// In-flight replications still unresolved when the drain ended.
    pub gave_up_waiting: usize,
    pub drain_secs: f64,
}

async fn delete_one(ctx: &Ctx, v: &VersionRef, out: &mut Cleaned) {
    let r = match ctx.owner_client(&v.bucket) {
        Ok(c) => s3ops::delete_version(c, ctx.name(&v.bucket), &v.key, &v.version_id).await,
        Err(why) => Err(CallError::local("s3:DeleteObject (version)", why)),
    };
    match r {
        Ok(()) => out.deleted.push(v.clone()),
        Err(e) if e.is_not_found() => out.deleted.push(v.clone()), // already gone
        Err(e) => out.failed.push((v.clone(), e)),
    }
}

/// Is this listed version the run's own (see the module documentation)?
async fn is_ours(ctx: &Ctx, bucket: &str, l: &Listed, keys: &BTreeSet<String>) -> bool {
    if !keys.contains(&l.key) {
        return false;
    }
    {
        let ledger = ctx.ledger();
        if ledger.is_foreign(bucket, &l.key, &l.version_id) {
            return false;
        }
        if l.delete_marker || ledger.created_ids().contains(&l.version_id) {
            return true;
        }
    }
    let Ok(c) = ctx.owner_client(bucket) else {
        return false;
    };
    s3ops::tag_value(c, ctx.name(bucket), &l.key, &l.version_id, TAG_KEY)
        .await
        .ok()
        .flatten()
        .is_some_and(|t| t == ctx.run_id())
}

/// Delete whatever of the run's is listed at (bucket, prefix); returns the version ids deleted.
async fn sweep(
    ctx: &Ctx,
    bucket: &str,
    prefix: &str,
    keys: &BTreeSet<String>,
    out: &mut Cleaned,
) -> Result<Vec<String>, CallError> {
    let client = ctx
        .owner_client(bucket)
        .map_err(|why| CallError::local("s3:ListObjectVersions", why))?;
    let listed = s3ops::list_versions(client, ctx.name(bucket), prefix).await?;
    let mut ids = Vec::new();
    for l in listed {
        let already = out
            .deleted
            .iter()
            .any(|d| d.bucket == bucket && d.key == l.key && d.version_id == l.version_id);
        if already || !is_ours(ctx, bucket, &l, keys).await {
            continue;
        }
        let v = VersionRef {
            bucket: bucket.to_string(),
            key: l.key.clone(),
            version_id: l.version_id.clone(),
            delete_marker: l.delete_marker,
        };
        let before = out.deleted.len();
        delete_one(ctx, &v, out).await;
        if out.deleted.len() > before {
            ids.push(l.version_id);
        }
    }
    Ok(ids)
}

pub(crate) async fn after_run(
    ctx: &Ctx,
    watches: Vec<Watch>,
    drain_stop: &watch::Receiver<bool>,
) -> Cleaned {
    let mut out = Cleaned::default();
    let mut keys: BTreeSet<String> = ctx.plan.objects.iter().map(|o| o.key.clone()).collect();
    keys.extend(ctx.ledger().extra_keys.iter().cloned());

    // 1. Drain first: replications (objects, delete markers) that may still be in flight get a
    //    bounded time to land while their source versions still exist, then both sides go.
    //    (Deleting the source first would leave it to S3 whether a late replica still appears.)
    let mut pending: Vec<Watch> = Vec::new();
    for w in watches {
        match pending
            .iter_mut()
            .find(|p| p.bucket == w.bucket && p.key == w.key)
        {
            Some(p) => p.version_ids.extend(w.version_ids),
            None => pending.push(w),
        }
    }
    let started = Instant::now();
    if !pending.is_empty() {
        ctx.progress.println(&format!(
            "replaudit: waiting up to {:.0} s for {} in-flight replication(s) to clean them up",
            ctx.settings.observe.as_secs_f64(),
            pending.len()
        ));
    }
    let deadline = started + ctx.settings.observe;
    let mut backoff = Backoff::default();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for mut w in std::mem::take(&mut pending) {
            match sweep(ctx, &w.bucket, &w.key, &keys, &mut out).await {
                Ok(ids) => {
                    w.version_ids.retain(|v| !ids.contains(v));
                    if !w.version_ids.is_empty() {
                        still.push(w);
                    }
                }
                Err(e) => {
                    out.listing_errors.push(e);
                    still.push(w);
                }
            }
        }
        pending = still;
        let now = Instant::now();
        if pending.is_empty() || now >= deadline {
            break;
        }
        if context::pause(drain_stop, backoff.next_delay().min(deadline - now)).await {
            break;
        }
    }
    out.gave_up_waiting = pending.len();
    out.drain_secs = started.elapsed().as_secs_f64();

    // 2. Everything recorded, by version id (replicas that arrived in the drain are recorded too).
    let recorded: Vec<VersionRef> = {
        let l = ctx.ledger();
        l.created.iter().chain(l.observed.iter()).cloned().collect()
    };
    for v in &recorded {
        if !out.deleted.contains(v) {
            delete_one(ctx, v, &mut out).await;
        }
    }

    // 3. Writes whose outcome was unknown: adopt them only by the run's tag.
    let uncertain: Vec<(String, String)> = ctx.ledger().uncertain.iter().cloned().collect();
    for (bucket, key) in uncertain {
        if let Err(e) = sweep(ctx, &bucket, &key, &keys, &mut out).await {
            out.listing_errors.push(e);
        }
    }

    // 4. Final sweep and count, under the run's own prefixes in every bucket it touched. A
    //    delete or listing can fail transiently past the SDK's retries (throttling storms,
    //    stalls past --timeout): up to two more rounds, a little apart, before anything is
    //    reported as left behind.
    for round in 0..3u32 {
        let mut left = Vec::new();
        let mut errors = Vec::new();
        let mut foreign = 0;
        for (bucket, prefix) in ctx.plan.prefixes() {
            if let Err(e) = sweep(ctx, &bucket, &prefix, &keys, &mut out).await {
                errors.push(e);
                continue;
            }
            let Ok(client) = ctx.owner_client(&bucket) else {
                continue;
            };
            match s3ops::list_versions(client, ctx.name(&bucket), &prefix).await {
                Ok(listed) => {
                    let l = ctx.ledger();
                    for x in listed {
                        if l.is_foreign(&bucket, &x.key, &x.version_id) {
                            foreign += 1;
                        } else {
                            left.push(VersionRef {
                                bucket: bucket.clone(),
                                key: x.key,
                                version_id: x.version_id,
                                delete_marker: x.delete_marker,
                            });
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        let clean = left.is_empty() && errors.is_empty();
        if clean || round == 2 || *drain_stop.borrow() {
            out.left = left;
            out.listing_errors.extend(errors);
            out.foreign_untouched += foreign;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(round) + 1)).await;
    }
    // A delete that failed once and succeeded in a later round is not a failure.
    let deleted: BTreeSet<VersionRef> = out.deleted.iter().cloned().collect();
    out.failed.retain(|(v, _)| !deleted.contains(v));
    out
}

pub(crate) fn finding(ctx: &Ctx, c: &Cleaned, spec_path_hint: &str) -> Finding {
    let name = |v: &VersionRef| {
        json!({
            "object": ctx.url(&v.bucket, &v.key),
            "version_id": v.version_id,
            "delete_marker": v.delete_marker,
        })
    };
    let ev = json!({
        "run_id": ctx.run_id(),
        "deleted": c.deleted.iter().map(name).collect::<Vec<_>>(),
        "left_behind": c.left.iter().map(name).collect::<Vec<_>>(),
        "left_behind_count": c.left.len(),
        "delete_errors": c.failed.iter().map(|(v, e)| json!({"version": name(v), "error": e.evidence()})).collect::<Vec<_>>(),
        "listing_errors": c.listing_errors.iter().map(|e| e.evidence()).collect::<Vec<_>>(),
        "pre_existing_untouched": c.foreign_untouched,
        "in_flight_unresolved": c.gave_up_waiting,
        "drain_secs": (c.drain_secs * 1000.0).round() / 1000.0,
    });
    let sources = c
        .deleted
        .iter()
        .filter(|v| ctx.plan.objects.iter().any(|o| o.bucket == v.bucket))
        .count();
    let untouched = if c.foreign_untouched > 0 {
        format!(
            "; {} pre-existing version(s) under the run prefix left untouched",
            c.foreign_untouched
        )
    } else {
        String::new()
    };
    let resource = format!("canary run {}", ctx.run_id());
    if !c.left.is_empty() {
        return meta::CLEANUP.finding(
            Scenario::Step4,
            Status::Fail,
            resource,
            format!(
                "{} canary version(s) left behind after deleting {}; run `replaudit canary cleanup --spec {spec_path_hint} --run-id {}` once replication settles{untouched}",
                c.left.len(),
                c.deleted.len(),
                ctx.run_id()
            ),
            ev,
        );
    }
    if !c.listing_errors.is_empty() || !c.failed.is_empty() {
        let first = c
            .listing_errors
            .first()
            .or(c.failed.first().map(|(_, e)| e))
            .map(|e| e.describe())
            .unwrap_or_default();
        return meta::CLEANUP.finding(
            Scenario::Step4,
            Status::Error,
            resource,
            format!("cleanup could not be verified: {first}"),
            ev,
        );
    }
    meta::CLEANUP.finding(
        Scenario::Step4,
        Status::Pass,
        resource,
        format!(
            "deleted {} canary version(s) ({} in sources, {} in destinations); 0 left behind{untouched}",
            c.deleted.len(),
            sources,
            c.deleted.len() - sources
        ),
        ev,
    )
}

// ------------------------------------------------------------------ `replaudit canary cleanup`

/// What `replaudit canary cleanup` did.
#[derive(Debug, Default, Serialize)]
pub struct CleanupReport {
    pub run_id: String,
    pub deleted: Vec<String>,
    /// Object versions under the run prefix that do not carry the run's tag: left alone.
    pub kept: Vec<String>,
    pub errors: Vec<String>,
    /// Versions still under the run's prefixes afterwards (kept ones included).
    pub remaining: usize,
}

/// Clean up a run that could not clean up after itself (crash, kill -9, lost connection).
///
/// Lists versions under `<prefix>replaudit-canary/<run id>/` in every bucket the spec's canary
/// writes to or replicates into, and deletes by version id: object versions whose tag
/// `replaudit-canary` equals the run id (or whose version id is one of those, for replicas whose
/// tags did not replicate), and delete markers under that exact run prefix — delete markers carry
/// no tags, but only a canary run with this id writes below this prefix, so a marker there is
/// the run's own DELETE or its replica.
pub async fn cleanup_run(
    spec: &Spec,
    opts: &AwsOptions,
    run_id: &str,
) -> Result<CleanupReport, Refused> {
    plan::validate_run_id(run_id).map_err(Refused)?;
    let plan = plan::build(spec, run_id);
    let clients = super::preflight::verify_owners(spec, opts, &plan).await?;
    let mut report = CleanupReport {
        run_id: run_id.to_string(),
        ..Default::default()
    };
    let client = |bucket: &str| -> Option<&Client> {
        let b = spec.buckets.get(bucket)?;
        clients.get(&(
            Actor::Account(b.account.get_ref().clone()),
            b.region.get_ref().clone(),
        ))
    };
    let prefixes = plan.prefixes();
    // Pass 1: list everything, and find the object versions tagged with the run id.
    let mut listed: Vec<(String, Listed)> = Vec::new();
    for (bucket, prefix) in &prefixes {
        let name = plan::bucket_name(spec, bucket);
        let Some(c) = client(bucket) else {
            report.errors.push(format!("no client for bucket {name}"));
            continue;
        };
        match s3ops::list_versions(c, name, prefix).await {
            Ok(l) => listed.extend(l.into_iter().map(|x| (bucket.clone(), x))),
            Err(e) => report.errors.push(e.describe()),
        }
    }
    let mut tagged: BTreeSet<(String, String)> = BTreeSet::new(); // (bucket, version id)
    let mut tagged_ids: BTreeSet<String> = BTreeSet::new();
    for (bucket, l) in listed.iter().filter(|(_, l)| !l.delete_marker) {
        let Some(c) = client(bucket) else { continue };
        match s3ops::tag_value(
            c,
            plan::bucket_name(spec, bucket),
            &l.key,
            &l.version_id,
            TAG_KEY,
        )
        .await
        {
            Ok(Some(t)) if t == run_id => {
                tagged.insert((bucket.clone(), l.version_id.clone()));
                tagged_ids.insert(l.version_id.clone());
            }
            Ok(_) => {}
            Err(e) => report.errors.push(e.describe()),
        }
    }
    // Pass 2: delete by version id.
    let export_prefix = super::logs::export_prefix(spec, run_id);
    for (bucket, l) in &listed {
        let name = plan::bucket_name(spec, bucket);
        let url = format!("s3://{name}/{} (version {})", l.key, l.version_id);
        let ours = l.delete_marker
            || tagged.contains(&(bucket.clone(), l.version_id.clone()))
            || tagged_ids.contains(&l.version_id)
            || export_prefix
                .as_deref()
                .is_some_and(|p| super::logs::is_export_object(p, &l.key));
        if !ours {
            report.kept.push(url);
            continue;
        }
        let Some(c) = client(bucket) else { continue };
        match s3ops::delete_version(c, name, &l.key, &l.version_id).await {
            Ok(()) => report.deleted.push(url),
            Err(e) if e.is_not_found() => report.deleted.push(url),
            Err(e) => report.errors.push(format!("{url}: {}", e.describe())),
        }
    }
    for (bucket, prefix) in &prefixes {
        let Some(c) = client(bucket) else { continue };
        match s3ops::list_versions(c, plan::bucket_name(spec, bucket), prefix).await {
            Ok(l) => report.remaining += l.len(),
            Err(e) => report.errors.push(e.describe()),
        }
    }
    Ok(report)
}
