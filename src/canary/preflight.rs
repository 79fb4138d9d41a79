//! Before anything is written: make the clients, prove every identity and bucket is the one the
//! spec names, and record what already exists under the run's prefixes.
//!
//! The canary refuses to run (exit 2) when an account's credentials belong to another account,
//! a principal's credentials are another identity, or a bucket is not owned by the spec's
//! account or not in the spec's region: writing test objects into the wrong bucket, or as the
//! wrong identity, is exactly what a verification tool must never do.

use super::plan::{Actor, Plan, Target};
use super::s3ops::Client;
use super::s3ops::{self, CallError};
use super::Refused;
use crate::aws::{self, AwsOptions, Factory, Gated};
use crate::spec::{self, Credentials, Spec};
use aws_config::SdkConfig;
use futures::future::join_all;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(crate) struct Verified {
    pub clients: HashMap<(Actor, String), Client>,
    pub logs: Option<Gated<aws_sdk_cloudwatchlogs::Client>>,
    pub unusable: BTreeMap<Actor, String>,
    pub foreign: BTreeSet<(String, String, String)>,
}

fn credentials(spec: &Spec, who: &Actor) -> Credentials {
    match who {
        Actor::Account(a) => spec
            .accounts
            .get(a)
            .map(|a| a.credentials.clone())
            .unwrap_or_default(),
        Actor::Principal(p) => spec
            .principals
            .get(p)
            .and_then(|p| p.credentials.clone())
            .unwrap_or_default(),
    }
}

fn region_of(spec: &Spec, bucket: &str) -> String {
    spec.buckets
        .get(bucket)
        .map(|b| b.region.get_ref().clone())
        .unwrap_or_else(|| "us-east-1".into())
}

fn owner_of(spec: &Spec, bucket: &str) -> Actor {
    Actor::Account(
        spec.buckets
            .get(bucket)
            .map(|b| b.account.get_ref().clone())
            .unwrap_or_default(),
    )
}

/// (who, region) pairs the run needs a client for.
fn needed(spec: &Spec, plan: &Plan, principals: bool) -> BTreeSet<(Actor, String)> {
    let mut need = BTreeSet::new();
    for (bucket, _) in plan.prefixes() {
        need.insert((owner_of(spec, &bucket), region_of(spec, &bucket)));
    }
    if principals {
        for o in &plan.objects {
            need.insert((o.writer.clone(), region_of(spec, &o.bucket)));
            for c in &o.access {
                let bucket = match &c.target {
                    Target::Source => &o.bucket,
                    Target::Replica(d) => d,
                };
                need.insert((
                    Actor::Principal(c.principal.clone()),
                    region_of(spec, bucket),
                ));
            }
        }
    }
    need
}

/// Does the caller identity `got` (from sts:GetCallerIdentity) act as the spec principal `want`?
/// Users compare by account and name; a role matches any session of it.
pub fn identity_matches(want: &str, got: &str) -> bool {
    if want == got {
        return true;
    }
    match (spec::arn_account(want), spec::arn_account(got)) {
        (Some(a), Some(b)) if a == b => {}
        _ => return false,
    }
    let resource = |arn: &str| crate::arn::Arn::split(arn).map(|a| a.resource.to_string());
    let (Some(w), Some(g)) = (resource(want), resource(got)) else {
        return false;
    };
    match (w.split_once('/'), g.split_once('/')) {
        (Some(("user", w)), Some(("user", g))) => w.rsplit('/').next() == g.rsplit('/').next(),
        (Some(("role", w)), Some(("assumed-role", g))) => {
            w.rsplit('/').next() == g.split('/').next()
        }
        _ => false,
    }
}

/// The account whose gates an actor's calls wait for: AWS throttles per account, so a
/// principal's calls share the gates of the spec account it belongs to (its own name when the
/// spec has no account with its ARN's account id).
fn gate_account(spec: &Spec, who: &Actor) -> String {
    match who {
        Actor::Account(a) => a.clone(),
        Actor::Principal(p) => spec
            .principals
            .get(p)
            .and_then(|x| spec::arn_account(x.arn.get_ref()))
            .and_then(|id| spec.account_alias_for_id(id))
            .map(str::to_string)
            .unwrap_or_else(|| who.label()),
    }
}

async fn configs(
    spec: &Spec,
    aws: &Factory,
    need: &BTreeSet<(Actor, String)>,
) -> Vec<(Actor, String, SdkConfig)> {
    join_all(need.iter().map(|(who, region)| async move {
        let conf = aws.config(&credentials(spec, who), region).await;
        (who.clone(), region.clone(), conf)
    }))
    .await
}

/// The S3 client of each (actor, Region), gated per account.
fn s3_clients(
    spec: &Spec,
    aws: &Factory,
    confs: &[(Actor, String, SdkConfig)],
) -> HashMap<(Actor, String), Client> {
    confs
        .iter()
        .map(|(who, region, conf)| {
            let client = aws.client(&gate_account(spec, who), conf);
            ((who.clone(), region.clone()), client)
        })
        .collect()
}

/// The actors whose credentials cannot be used, each with why (not an error: their checks
/// become `error` findings and the run goes on).
type Unusable = BTreeMap<Actor, String>;

/// sts:GetCallerIdentity for each actor; accounts must be the spec's account, principals the
/// spec's identity. A principal whose credentials do not work is only marked unusable (its
/// checks become `error` findings); an account that cannot be verified refuses the run.
async fn check_identities(
    spec: &Spec,
    aws: &Factory,
    confs: &[(Actor, String, SdkConfig)],
) -> Result<Unusable, Refused> {
    let mut first: BTreeMap<Actor, &SdkConfig> = BTreeMap::new();
    for (who, _, conf) in confs {
        first.entry(who.clone()).or_insert(conf);
    }
    let answers = join_all(first.into_iter().map(|(who, conf)| async move {
        let sts: Gated<aws_sdk_sts::Client> = aws.client(&gate_account(spec, &who), conf);
        let r = sts
            .run(sts.get_caller_identity().send())
            .await
            .map(|o| {
                (
                    o.account().unwrap_or_default().to_string(),
                    o.arn().unwrap_or_default().to_string(),
                )
            })
            .map_err(|e| CallError::from_sdk("sts:GetCallerIdentity", &e));
        (who, r)
    }))
    .await;
    let mut unusable = BTreeMap::new();
    for (who, r) in answers {
        match (&who, r) {
            (Actor::Account(a), Ok((account, _))) => {
                let want = spec
                    .accounts
                    .get(a)
                    .map(|x| x.account_id.get_ref().as_str())
                    .unwrap_or_default();
                if account != want {
                    return Err(Refused(format!(
                        "the credentials of account '{a}' belong to account {account}, the spec says {want}"
                    )));
                }
            }
            (Actor::Account(a), Err(e)) => {
                return Err(Refused(format!(
                    "cannot verify the credentials of account '{a}': {}",
                    e.describe()
                )))
            }
            (Actor::Principal(p), Ok((_, arn))) => {
                let want = spec
                    .principals
                    .get(p)
                    .map(|x| x.arn.get_ref().as_str())
                    .unwrap_or_default();
                if !identity_matches(want, &arn) {
                    return Err(Refused(format!(
                        "the credentials of principal '{p}' are {arn}, the spec says {want}"
                    )));
                }
            }
            (Actor::Principal(_), Err(e)) => {
                unusable.insert(who.clone(), e.describe());
            }
        }
    }
    Ok(unusable)
}

/// Every bucket must be in its owner's ListBuckets and in the spec's region.
async fn check_buckets(
    spec: &Spec,
    clients: &HashMap<(Actor, String), Client>,
    buckets: &BTreeSet<String>,
) -> Result<(), Refused> {
    // One ListBuckets per owning account.
    let mut by_owner: BTreeMap<Actor, (&Client, Vec<&String>)> = BTreeMap::new();
    for b in buckets {
        let owner = owner_of(spec, b);
        let Some(c) = clients.get(&(owner.clone(), region_of(spec, b))) else {
            return Err(Refused(format!("no client for the owner of bucket '{b}'")));
        };
        by_owner.entry(owner).or_insert((c, Vec::new())).1.push(b);
    }
    for (owner, (client, aliases)) in by_owner {
        let names = list_bucket_names(client).await.map_err(|e| {
            Refused(format!(
                "cannot list the buckets of {} to verify ownership: {}",
                owner.label(),
                e.describe()
            ))
        })?;
        for alias in aliases {
            let name = spec::Spec::bucket(spec, alias)
                .map(|b| b.name.get_ref().as_str())
                .unwrap_or_default();
            if !names.iter().any(|n| n == name) {
                return Err(Refused(format!(
                    "bucket '{name}' ({alias}) is not owned by {} (not in its ListBuckets); refusing to write canaries into it",
                    owner.label()
                )));
            }
            // HeadBucket names the Region in `x-amz-bucket-region` "regardless of the permissions on
            // the bucket" (a 403 included), so the canary policy needs neither s3:ListBucket nor the
            // legacy GetBucketLocation, which "is no longer a best practice".
            // <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html>
            let actual = match client.run(aws::bucket_region(client, name)).await {
                aws::BucketRegion::In(r) => r,
                aws::BucketRegion::Missing => {
                    return Err(Refused(format!(
                        "bucket '{name}' ({alias}) does not exist (s3:HeadBucket: 404)"
                    )))
                }
                aws::BucketRegion::Unknown { code, reason } => {
                    return Err(Refused(format!(
                        "cannot verify the region of bucket '{name}': s3:HeadBucket failed: {}: {reason}",
                        code.as_deref().unwrap_or("no answer")
                    )))
                }
            };
            let want = region_of(spec, alias);
            if actual != want {
                return Err(Refused(format!(
                    "bucket '{name}' ({alias}) is in {actual}, the spec says {want}; refusing to run"
                )));
            }
        }
    }
    Ok(())
}

async fn list_bucket_names(client: &Client) -> Result<Vec<String>, CallError> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let r = client
            .run(
                client
                    .list_buckets()
                    .set_continuation_token(token.take())
                    .send(),
            )
            .await
            .map_err(|e| CallError::from_sdk("s3:ListBuckets", &e))?;
        names.extend(
            r.buckets()
                .iter()
                .filter_map(|b| b.name().map(str::to_string)),
        );
        match r.continuation_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(names),
        }
    }
    Ok(names)
}

/// What exists under the run's prefixes before the run: never touched, never "left behind".
async fn list_foreign(
    spec: &Spec,
    clients: &HashMap<(Actor, String), Client>,
    plan: &Plan,
) -> Result<BTreeSet<(String, String, String)>, Refused> {
    let mut out = BTreeSet::new();
    for (bucket, prefix) in plan.prefixes() {
        let Some(c) = clients.get(&(owner_of(spec, &bucket), region_of(spec, &bucket))) else {
            return Err(Refused(format!(
                "no client for the owner of bucket '{bucket}'"
            )));
        };
        let name = super::plan::bucket_name(spec, &bucket);
        let listed = s3ops::list_versions(c, name, &prefix).await.map_err(|e| {
            Refused(format!(
                "cannot list versions under s3://{name}/{prefix} (needed to clean up safely): {}",
                e.describe()
            ))
        })?;
        for l in listed {
            out.insert((bucket.clone(), l.key, l.version_id));
        }
    }
    Ok(out)
}

/// Clients, identities, buckets and pre-existing versions for a canary run.
pub(crate) async fn verify(
    spec: &Spec,
    opts: &AwsOptions,
    plan: &Plan,
) -> Result<Verified, Refused> {
    let aws = Factory::shared(opts);
    let need = needed(spec, plan, true);
    let confs = configs(spec, &aws, &need).await;
    let unusable = check_identities(spec, &aws, &confs).await?;
    let clients = s3_clients(spec, &aws, &confs);
    let buckets: BTreeSet<String> = plan.prefixes().into_iter().map(|(b, _)| b).collect();
    check_buckets(spec, &clients, &buckets).await?;
    let foreign = list_foreign(spec, &clients, plan).await?;
    let logs = match &spec.scenario_d {
        Some(d) => {
            let account = &spec.buckets[d.log_bucket.get_ref()].account;
            let who = Actor::Account(account.get_ref().clone());
            let creds = credentials(spec, &who);
            Some(
                aws.client_for(&gate_account(spec, &who), &creds, d.logs_region.get_ref())
                    .await,
            )
        }
        None => None,
    };
    Ok(Verified {
        clients,
        logs,
        unusable,
        foreign,
    })
}

/// The bucket owners' clients only, verified the same way (for `canary cleanup`).
pub(crate) async fn verify_owners(
    spec: &Spec,
    opts: &AwsOptions,
    plan: &Plan,
) -> Result<HashMap<(Actor, String), Client>, Refused> {
    let aws = Factory::shared(opts);
    let need = needed(spec, plan, false);
    let confs = configs(spec, &aws, &need).await;
    check_identities(spec, &aws, &confs).await?;
    let clients = s3_clients(spec, &aws, &confs);
    let buckets: BTreeSet<String> = plan.prefixes().into_iter().map(|(b, _)| b).collect();
    check_buckets(spec, &clients, &buckets).await?;
    Ok(clients)
}

#[cfg(test)]
mod tests {
    use super::identity_matches;

    #[test]
    fn identities() {
        let tom = "arn:aws:iam::271089868719:user/tom-cruise";
        assert!(identity_matches(tom, tom));
        assert!(!identity_matches(
            tom,
            "arn:aws:iam::271089868719:user/clint-eastwood"
        ));
        assert!(!identity_matches(
            tom,
            "arn:aws:iam::111122223333:user/tom-cruise"
        ));
        assert!(identity_matches(
            "arn:aws:iam::271089868719:user/staff/tom-cruise",
            "arn:aws:iam::271089868719:user/staff/tom-cruise"
        ));
        let role = "arn:aws:iam::111122223333:role/ops/auditor";
        assert!(identity_matches(
            role,
            "arn:aws:sts::111122223333:assumed-role/auditor/replaudit"
        ));
        assert!(!identity_matches(
            role,
            "arn:aws:sts::111122223333:assumed-role/other/replaudit"
        ));
        assert!(!identity_matches(
            role,
            "arn:aws:iam::111122223333:user/auditor"
        ));
    }
}
