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
use super::observation::{Cleaned, Interrupt};
use super::plan::{self, Actor, TAG_KEY};
use super::s3ops::Client;
use super::s3ops::{self, CallError, Listed};
use super::Refused;
use crate::aws::AwsOptions;
use crate::spec::Spec;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::watch;

/// Cleanup's progress lives behind a lock, not in a local, so that when a second signal cuts
/// cleanup short (its future is dropped mid-call) what was already deleted is still known and
/// the rest can be named as possibly left.
fn lock(out: &Mutex<Cleaned>) -> MutexGuard<'_, Cleaned> {
    out.lock().unwrap_or_else(|p| p.into_inner())
}

async fn delete_one(ctx: &Ctx, v: &VersionRef, out: &Mutex<Cleaned>) {
    let r = match ctx.owner_client(&v.bucket) {
        Ok(c) => {
            s3ops::retrying(None, || {
                s3ops::delete_version(c, ctx.name(&v.bucket), &v.key, &v.version_id)
            })
            .await
        }
        Err(why) => Err(CallError::local("s3:DeleteObject (version)", why)),
    };
    let mut out = lock(out);
    match r {
        Ok(()) => out.deleted.push(v.clone()),
        Err(e) if e.is_not_found() => out.deleted.push(v.clone()), // already gone
        Err(e) => out.failed.push((v.clone(), e)),
    }
}

/// Whose a listed version is, as far as it can be told without another call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    Ours,
    NotOurs,
    /// At one of the run's keys, neither created by the run nor a delete marker: the run's
    /// only if it carries the run's tag.
    ByTag,
}

/// Whose `l` is (see the module documentation). `foreign`: listed before the run wrote;
/// `created`: its version id is one the run created (replicas keep it). An object the run's
/// export task wrote under the run's own export prefix is the run's even when the listing
/// that would have recorded its key failed: only this run asks CloudWatch Logs to write there
/// (`plan::is_export_object`).
pub(crate) fn claim(
    l: &Listed,
    keys: &BTreeSet<String>,
    export_prefix: Option<&str>,
    foreign: bool,
    created: bool,
) -> Claim {
    if foreign {
        return Claim::NotOurs;
    }
    if export_prefix.is_some_and(|p| plan::is_export_object(p, &l.key)) {
        return Claim::Ours;
    }
    if !keys.contains(&l.key) {
        return Claim::NotOurs;
    }
    if l.delete_marker || created {
        Claim::Ours
    } else {
        Claim::ByTag
    }
}

/// Is this listed version the run's own? Reads its tag only when `claim` cannot tell.
async fn is_ours(ctx: &Ctx, bucket: &str, l: &Listed, keys: &BTreeSet<String>) -> bool {
    let c = {
        let ledger = ctx.ledger();
        let export_prefix = plan::export_prefix(&ctx.spec, ctx.run_id());
        claim(
            l,
            keys,
            export_prefix.as_deref(),
            ledger.is_foreign(bucket, &l.key, &l.version_id),
            ledger.created_ids().contains(&l.version_id),
        )
    };
    match c {
        Claim::Ours => true,
        Claim::NotOurs => false,
        Claim::ByTag => {
            let Ok(c) = ctx.owner_client(bucket) else {
                return false;
            };
            s3ops::retrying(None, || {
                s3ops::tag_value(c, ctx.name(bucket), &l.key, &l.version_id, TAG_KEY)
            })
            .await
            .ok()
            .flatten()
            .is_some_and(|t| t == ctx.run_id())
        }
    }
}

/// Delete whatever of the run's is listed at (bucket, prefix); returns the version ids deleted.
async fn sweep(
    ctx: &Ctx,
    bucket: &str,
    prefix: &str,
    keys: &BTreeSet<String>,
    out: &Mutex<Cleaned>,
) -> Result<Vec<String>, CallError> {
    let client = ctx
        .owner_client(bucket)
        .map_err(|why| CallError::local("s3:ListObjectVersions", why))?;
    let listed = s3ops::retrying(None, || {
        s3ops::list_versions(client, ctx.name(bucket), prefix)
    })
    .await?;
    let mut ids = Vec::new();
    for l in listed {
        let already = lock(out)
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
        let before = lock(out).deleted.len();
        delete_one(ctx, &v, out).await;
        if lock(out).deleted.len() > before {
            ids.push(l.version_id);
        }
    }
    Ok(ids)
}

/// Cleanup after a run. `drain_stop` ends the wait for in-flight replications early (a signal
/// or the deadline); deleting what is known still happens. Progress is recorded in `out`.
pub(crate) async fn after_run(
    ctx: &Ctx,
    watches: Vec<Watch>,
    drain_stop: &watch::Receiver<Option<Interrupt>>,
    out: &Mutex<Cleaned>,
) {
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
    if !pending.is_empty() && drain_stop.borrow().is_none() {
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
            match sweep(ctx, &w.bucket, &w.key, &keys, out).await {
                Ok(ids) => {
                    w.version_ids.retain(|v| !ids.contains(v));
                    if !w.version_ids.is_empty() {
                        still.push(w);
                    }
                }
                Err(e) => {
                    lock(out).listing_errors.push(e);
                    still.push(w);
                }
            }
        }
        pending = still;
        let now = Instant::now();
        if pending.is_empty() || now >= deadline || drain_stop.borrow().is_some() {
            break;
        }
        if context::pause(drain_stop, backoff.next_delay().min(deadline - now))
            .await
            .is_some()
        {
            break;
        }
    }
    {
        let mut o = lock(out);
        o.gave_up_waiting = pending.len();
        o.drain_secs = started.elapsed().as_secs_f64();
    }

    // 2. Everything recorded, by version id (replicas that arrived in the drain are recorded too).
    for v in &recorded(ctx) {
        if !lock(out).deleted.contains(v) {
            delete_one(ctx, v, out).await;
        }
    }

    // 3. Writes whose outcome was unknown: adopt them only by the run's tag.
    let uncertain: Vec<(String, String)> = ctx.ledger().uncertain.iter().cloned().collect();
    for (bucket, key) in uncertain {
        if let Err(e) = sweep(ctx, &bucket, &key, &keys, out).await {
            lock(out).listing_errors.push(e);
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
            if let Err(e) = sweep(ctx, &bucket, &prefix, &keys, out).await {
                errors.push(e);
                continue;
            }
            let Ok(client) = ctx.owner_client(&bucket) else {
                continue;
            };
            match s3ops::retrying(None, || {
                s3ops::list_versions(client, ctx.name(&bucket), &prefix)
            })
            .await
            {
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
        if clean || round == 2 || drain_stop.borrow().is_some() {
            let mut o = lock(out);
            o.left = left;
            o.listing_errors.extend(errors);
            o.foreign_untouched += foreign;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(round) + 1)).await;
    }
    // A delete that failed once and succeeded in a later round is not a failure.
    let mut o = lock(out);
    let deleted: BTreeSet<VersionRef> = o.deleted.iter().cloned().collect();
    o.failed.retain(|(v, _)| !deleted.contains(v));
}

/// Every version the run recorded as its own (created, or seen replicated).
pub(crate) fn recorded(ctx: &Ctx) -> Vec<VersionRef> {
    let l = ctx.ledger();
    l.created.iter().chain(l.observed.iter()).cloned().collect()
}

/// Cleanup was cut short by `i`: mark it, and name the recorded versions it had not deleted.
pub(crate) fn aborted(ctx: &Ctx, out: &Mutex<Cleaned>, i: Interrupt) -> Cleaned {
    let mut c = lock(out).clone();
    c.aborted = Some(i);
    c.may_be_left = recorded(ctx)
        .into_iter()
        .filter(|v| !c.deleted.contains(v))
        .collect();
    c
}

// ------------------------------------------------------------------ `replaudit canary cleanup`

/// What `replaudit canary cleanup` did.
#[derive(Debug, Default, Serialize)]
pub struct CleanupReport {
    pub run_id: String,
    pub deleted: Vec<String>,
    /// Object versions under the run prefix that are not the run's (no run tag): left alone.
    pub kept: Vec<String>,
    pub errors: Vec<String>,
    /// How many of the run's versions are still under its prefixes afterwards (kept ones are
    /// not counted: they are not the run's).
    pub remaining: usize,
    /// Those versions, by name (`s3://bucket/key (version v)`).
    pub left: Vec<String>,
    /// Why cleanup stopped before it finished (`--deadline`); then `left` is what was known to
    /// be the run's and not yet deleted, and more may remain.
    pub stopped: Option<String>,
}

impl CleanupReport {
    /// Cleanup did its whole job: nothing of the run's is left, every call succeeded, and it
    /// was not stopped. Anything else must not exit 0.
    pub fn succeeded(&self) -> bool {
        self.errors.is_empty()
            && self.remaining == 0
            && self.left.is_empty()
            && self.stopped.is_none()
    }

    /// The closing line for stderr.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "canary cleanup of run {}: {} deleted, {} not the run's kept, {} of the run's version(s) remain",
            self.run_id,
            self.deleted.len(),
            self.kept.len(),
            self.remaining
        );
        if let Some(why) = &self.stopped {
            s.push_str(&format!(
                "; {why}: more may remain, run the same command again"
            ));
        } else if !self.succeeded() {
            s.push_str("; not clean: run the same command again once replication has settled");
        }
        s
    }
}

/// `f`, unless the deadline comes first (None).
async fn until<F: std::future::Future>(
    deadline: Option<tokio::time::Instant>,
    f: F,
) -> Option<F::Output> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, f).await.ok(),
        None => Some(f.await),
    }
}

const DEADLINE: &str = "stopped at --deadline";

/// Clean up a run that could not clean up after itself (crash, kill -9, lost connection).
///
/// Lists versions under `<prefix>replaudit-canary/<run id>/` in every bucket the spec's canary
/// writes to or replicates into, and deletes by version id: object versions whose tag
/// `replaudit-canary` equals the run id (or whose version id is one of those, for replicas whose
/// tags did not replicate), and delete markers under that exact run prefix — delete markers carry
/// no tags, but only a canary run with this id writes below this prefix, so a marker there is
/// the run's own DELETE or its replica. With a `deadline`, it stops there and says so.
pub async fn cleanup_run(
    spec: &Spec,
    opts: &AwsOptions,
    run_id: &str,
    deadline: Option<tokio::time::Instant>,
) -> Result<CleanupReport, Refused> {
    plan::validate_run_id(run_id).map_err(|e| Refused(e.to_string()))?;
    let plan = plan::build(spec, run_id);
    let mut report = CleanupReport {
        run_id: run_id.to_string(),
        ..Default::default()
    };
    let Some(clients) = until(deadline, super::preflight::verify_owners(spec, opts, &plan)).await
    else {
        report.stopped = Some(format!("{DEADLINE} before the buckets were verified"));
        return Ok(report);
    };
    let clients = clients?;
    let client = |bucket: &str| -> Option<&Client> {
        let b = spec.buckets.get(bucket)?;
        clients.get(&(
            Actor::Account(b.account.get_ref().clone()),
            b.region.get_ref().clone(),
        ))
    };
    let url = |bucket: &str, l: &Listed| {
        format!(
            "s3://{}/{} (version {})",
            plan::bucket_name(spec, bucket),
            l.key,
            l.version_id
        )
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
        match until(
            deadline,
            s3ops::retrying(deadline, || s3ops::list_versions(c, name, prefix)),
        )
        .await
        {
            None => {
                report.stopped = Some(format!("{DEADLINE} while listing s3://{name}/{prefix}"));
                return Ok(report);
            }
            Some(Ok(l)) => listed.extend(l.into_iter().map(|x| (bucket.clone(), x))),
            Some(Err(e)) => report.errors.push(e.describe()),
        }
    }
    let mut tagged: BTreeSet<(String, String)> = BTreeSet::new(); // (bucket, version id)
    let mut tagged_ids: BTreeSet<String> = BTreeSet::new();
    for (bucket, l) in listed.iter().filter(|(_, l)| !l.delete_marker) {
        let Some(c) = client(bucket) else { continue };
        let name = plan::bucket_name(spec, bucket);
        match until(
            deadline,
            s3ops::retrying(deadline, || {
                s3ops::tag_value(c, name, &l.key, &l.version_id, TAG_KEY)
            }),
        )
        .await
        {
            None => {
                report.stopped = Some(format!("{DEADLINE} while reading tags"));
                return Ok(report);
            }
            Some(Ok(Some(t))) if t == run_id => {
                tagged.insert((bucket.clone(), l.version_id.clone()));
                tagged_ids.insert(l.version_id.clone());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => report.errors.push(e.describe()),
        }
    }
    // Pass 2: delete by version id.
    let export_prefix = plan::export_prefix(spec, run_id);
    let mut kept: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut ours: Vec<(&String, &Listed)> = Vec::new();
    for (bucket, l) in &listed {
        let is_ours = l.delete_marker
            || tagged.contains(&(bucket.clone(), l.version_id.clone()))
            || tagged_ids.contains(&l.version_id)
            || export_prefix
                .as_deref()
                .is_some_and(|p| plan::is_export_object(p, &l.key));
        if is_ours {
            ours.push((bucket, l));
        } else {
            report.kept.push(url(bucket, l));
            kept.insert((bucket.clone(), l.key.clone(), l.version_id.clone()));
        }
    }
    for (i, (bucket, l)) in ours.iter().enumerate() {
        let Some(c) = client(bucket) else { continue };
        let name = plan::bucket_name(spec, bucket);
        match until(
            deadline,
            s3ops::retrying(deadline, || {
                s3ops::delete_version(c, name, &l.key, &l.version_id)
            }),
        )
        .await
        {
            None => {
                report.stopped = Some(format!(
                    "{DEADLINE} after deleting {} of {} version(s)",
                    report.deleted.len(),
                    ours.len()
                ));
                report.left = ours[i..].iter().map(|(b, l)| url(b, l)).collect();
                report.remaining = report.left.len();
                return Ok(report);
            }
            Some(Ok(())) => report.deleted.push(url(bucket, l)),
            Some(Err(e)) if e.is_not_found() => report.deleted.push(url(bucket, l)),
            Some(Err(e)) => report
                .errors
                .push(format!("{}: {}", url(bucket, l), e.describe())),
        }
    }
    // Pass 3: what of the run's is still there (a replica may have landed meanwhile).
    for (bucket, prefix) in &prefixes {
        let Some(c) = client(bucket) else { continue };
        let name = plan::bucket_name(spec, bucket);
        match until(
            deadline,
            s3ops::retrying(deadline, || s3ops::list_versions(c, name, prefix)),
        )
        .await
        {
            None => {
                report.stopped = Some(format!("{DEADLINE} while counting what remains"));
                break;
            }
            Some(Ok(l)) => {
                for x in l {
                    if !kept.contains(&(bucket.clone(), x.key.clone(), x.version_id.clone())) {
                        report.left.push(url(bucket, &x));
                    }
                }
            }
            Some(Err(e)) => report.errors.push(e.describe()),
        }
    }
    report.remaining = report.left.len();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::{claim, Claim, CleanupReport};
    use crate::canary::s3ops::Listed;
    use std::collections::BTreeSet;

    fn listed(key: &str, delete_marker: bool) -> Listed {
        Listed {
            key: key.into(),
            version_id: "v1".into(),
            delete_marker,
        }
    }

    /// The export task's objects are the run's although their keys were never recorded (the
    /// listing after the export failed): before, they were left behind under faults.
    #[test]
    fn export_objects_are_the_runs_without_a_recorded_key() {
        let prefix = "exports/replaudit-canary/r1";
        let keys: BTreeSet<String> = BTreeSet::new();
        let export = listed(
            "exports/replaudit-canary/r1/0b9f2a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b/s/000000.gz",
            false,
        );
        assert_eq!(
            claim(&export, &keys, Some(prefix), false, false),
            Claim::Ours
        );
        assert_eq!(
            claim(
                &listed("exports/replaudit-canary/r1/aws-logs-write-test", false),
                &keys,
                Some(prefix),
                false,
                false
            ),
            Claim::Ours
        );
        // Another run's exports, an object that is no export, or anything listed before the
        // run wrote: not the run's.
        let other = listed(
            "exports/replaudit-canary/r2/0b9f2a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b/s/000000.gz",
            false,
        );
        assert_eq!(
            claim(&other, &keys, Some(prefix), false, false),
            Claim::NotOurs
        );
        assert_eq!(
            claim(
                &listed("exports/replaudit-canary/r1/note.txt", false),
                &keys,
                Some(prefix),
                false,
                false
            ),
            Claim::NotOurs
        );
        assert_eq!(
            claim(&export, &keys, Some(prefix), true, false),
            Claim::NotOurs
        );
        // Without scenario D there is no export prefix.
        assert_eq!(claim(&export, &keys, None, false, false), Claim::NotOurs);
    }

    #[test]
    fn run_keys_are_ours_when_created_or_delete_markers_else_by_tag() {
        let key = "data/replaudit-canary/r1/0";
        let keys: BTreeSet<String> = [key.to_string()].into();
        assert_eq!(
            claim(&listed(key, false), &keys, None, false, true),
            Claim::Ours
        );
        assert_eq!(
            claim(&listed(key, true), &keys, None, false, false),
            Claim::Ours
        );
        assert_eq!(
            claim(&listed(key, false), &keys, None, false, false),
            Claim::ByTag
        );
        assert_eq!(
            claim(&listed(key, true), &keys, None, true, false),
            Claim::NotOurs
        );
        assert_eq!(
            claim(
                &listed("data/replaudit-canary/r1/9", true),
                &keys,
                None,
                false,
                true
            ),
            Claim::NotOurs
        );
    }

    #[test]
    fn cleanup_succeeds_only_when_nothing_of_the_run_remains() {
        let clean = CleanupReport {
            run_id: "r1".into(),
            deleted: vec!["s3://b/k (version 1)".into()],
            kept: vec!["s3://b/other (version 2)".into()],
            ..Default::default()
        };
        assert!(clean.succeeded(), "kept versions are not the run's");
        assert!(
            !clean.summary().contains("not clean"),
            "{}",
            clean.summary()
        );

        let left = CleanupReport {
            remaining: 1,
            left: vec!["s3://b/k (version 3)".into()],
            ..CleanupReport::default()
        };
        assert!(!left.succeeded());
        assert!(
            left.summary().contains("1 of the run's version(s) remain"),
            "{}",
            left.summary()
        );
        assert!(left.summary().contains("not clean"), "{}", left.summary());

        let errors = CleanupReport {
            errors: vec!["s3:DeleteObject (version): AccessDenied".into()],
            ..CleanupReport::default()
        };
        assert!(!errors.succeeded());

        let stopped = CleanupReport {
            stopped: Some("stopped at --deadline while reading tags".into()),
            ..CleanupReport::default()
        };
        assert!(!stopped.succeeded(), "a stopped cleanup is never a success");
        assert!(
            stopped.summary().contains("more may remain"),
            "{}",
            stopped.summary()
        );
    }
}
