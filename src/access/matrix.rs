//! `replaudit simulate --spec`: the principal × action matrix over the loaded state.

use super::{bucket_policy, identity_side, restrict_public_buckets, Leg, Query};
use crate::policy::{s3_resource_kind, S3ResourceKind};
use crate::snapshot::Snapshot;
use crate::spec::Spec;
use serde::Serialize;

/// The actions the matrix asks about for every principal and bucket.
pub const MATRIX_ACTIONS: &[&str] = &[
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
];

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub principal: String,
    pub bucket: String,
    pub action: String,
    pub resource: String,
    /// `Allowed`, `ExplicitDeny`, `ImplicitDeny`, or `error: ...` when it cannot be decided.
    pub decision: String,
    pub deciding: Vec<String>,
}

pub fn matrix(spec: &Spec, snap: &Snapshot) -> Vec<Cell> {
    let mut out = Vec::new();
    for p in spec.principals.values() {
        let arn = p.arn.get_ref();
        let who = identity_side(snap, arn);
        for (alias, b) in &spec.buckets {
            let account = spec.bucket_account_id(alias).unwrap_or_default();
            let policy = bucket_policy(snap, alias);
            for action in MATRIX_ACTIONS {
                let partition = crate::aws::partition_of_region(b.region.get_ref());
                let resource = if s3_resource_kind(action) == Some(S3ResourceKind::Bucket) {
                    crate::aws::s3_bucket_arn(partition, b.name.get_ref())
                } else {
                    crate::aws::s3_object_arn(partition, b.name.get_ref(), &sample_key(spec, alias))
                };
                let mut cell = Cell {
                    principal: arn.clone(),
                    bucket: b.name.get_ref().clone(),
                    action: action.to_string(),
                    resource: resource.clone(),
                    decision: String::new(),
                    deciding: vec![],
                };
                let decided = (|| -> Result<_, super::Error> {
                    let who = who.as_ref().map_err(|e| e.clone())?;
                    let policy = policy.as_ref().map_err(|e| e.clone())?;
                    let restrict = restrict_public_buckets(snap, spec, alias, policy.as_ref())?;
                    let q = Query {
                        action,
                        resource: &resource,
                        resource_account: account,
                        resource_policy: policy.as_ref(),
                        restrict_public_buckets: restrict,
                        extra_context: &[],
                    };
                    Ok(super::evaluate(snap, who, &q, Leg::Full))
                })();
                match decided {
                    Ok(e) => {
                        cell.decision = e.decision.to_string();
                        cell.deciding = e.deciding.iter().map(|s| s.to_string()).collect();
                    }
                    Err(e) => cell.decision = format!("error: {e}"),
                }
                out.push(cell);
            }
        }
    }
    out
}

/// The object key the matrix asks about: one the spec says matters in this bucket (an access
/// expectation's sample key, else a replicated prefix), since decisions often depend on the key.
fn sample_key(spec: &Spec, alias: &str) -> String {
    if let Some(a) = spec.access.iter().find(|a| a.bucket.get_ref() == alias) {
        return a.sample_key.clone();
    }
    let prefix = spec
        .replication
        .iter()
        .flat_map(|r| r.rules.iter().map(move |x| (r, x)))
        .find(|(r, x)| r.source.get_ref() == alias || x.destination.get_ref() == alias)
        .map(|(_, x)| x.prefix_or_empty().to_string())
        .unwrap_or_default();
    format!("{prefix}replaudit-sample-object")
}

/// The matrix as a terminal table: one row per principal and bucket, one column per action.
pub fn render_table(cells: &[Cell]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    let mut header = vec!["principal".to_string(), "bucket".to_string()];
    header.extend(MATRIX_ACTIONS.iter().map(|a| a.to_string()));
    t.set_header(header);
    for chunk in cells.chunks(MATRIX_ACTIONS.len()) {
        let mut row = vec![chunk[0].principal.clone(), chunk[0].bucket.clone()];
        row.extend(chunk.iter().map(|c| c.decision.clone()));
        t.add_row(row);
    }
    t.to_string()
}
