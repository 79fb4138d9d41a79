//! `reconcile` from two S3 Inventory reports: register both as the normalised tables, run the one
//! comparison SQL per rule in DataFusion, and stream its rows into counts, a bounded sample per
//! class (the findings), the full list file and the Batch Replication manifest rows. No more than
//! one batch of rows and the sample are in memory at a time, plus the manifest rows (versions
//! that need Batch Replication), which are sorted before they are written.
//!
//! Stale inventories: an inventory is the bucket as it was when the report began scanning
//! (`creationTimestamp`). The in-flight cutoff is therefore the **older** inventory's creation
//! time minus the rule's in-flight window, not "now": a version written shortly before the older
//! report could not be in the other one yet. A destination version written after the source's
//! inventory was taken is not "no source" either (its source may simply be newer than that
//! report): it is in flight.
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html>

use super::compare::{Class, RuleScope};
use super::engine::Engine;
use super::inventory::{self, LocalInventory};
use super::live::{self, LiveOptions, RuleOutcome};
use super::sql::{self, SqlRule};
use super::Error;
use super::{csv_field, Repairs, SAMPLE};
use crate::spec::Spec;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The two inventories of one replication (source bucket's, destination bucket's).
#[derive(Debug, Clone)]
pub struct InventoryPair {
    pub source: LocalInventory,
    pub dest: LocalInventory,
}

/// Memory given to DataFusion's operators before they spill (joins, sorts, aggregates); defined
/// beside the other reconcile defaults ([`LiveOptions::default`]).
pub use super::live::MEMORY_LIMIT;

/// The cutoff and "no source after" times of a pair: see the module doc.
pub fn cutoffs(
    source_created: DateTime<Utc>,
    dest_created: DateTime<Utc>,
    in_flight: std::time::Duration,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let older = source_created.min(dest_created);
    let window = chrono::Duration::from_std(in_flight).unwrap_or(chrono::Duration::MAX);
    (
        older
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
        source_created,
    )
}

/// Where the versions of every rule go while they stream out.
pub struct Sinks<'a> {
    /// The full list (`rule,class,bucket,key,version_id,delete_marker,detail`, header written
    /// by the caller).
    pub list: &'a mut dyn Write,
    /// The manifest rows of the repair jobs, per source bucket.
    pub batch: &'a mut Repairs,
}

/// What every source of truth does with a classified version as it streams out of the
/// comparison: count it, write it to the full list, add it to the Batch Replication manifest when
/// it needs one, and keep up to [`SAMPLE`] per class (not intact, not in flight) for the findings.
pub(crate) struct Collector<'s, 'a> {
    sinks: &'s mut Sinks<'a>,
    label: String,
    source_bucket: String,
    dest_bucket: String,
    pub counts: BTreeMap<Class, usize>,
    /// Of `counts`' in-flight versions, the destination replicas waiting for a source.
    pub destination_in_flight: usize,
    pub verdicts: Vec<super::compare::Verdict>,
    samples: BTreeMap<Class, usize>,
    /// Why writing the list failed (the comparison is then stopped by the `Err`).
    pub io_error: Option<Error>,
}

impl<'s, 'a> Collector<'s, 'a> {
    pub fn new(sinks: &'s mut Sinks<'a>, out: &RuleOutcome) -> Self {
        Collector {
            sinks,
            label: csv_field(&out.rule.label),
            source_bucket: out.source_bucket.clone(),
            dest_bucket: out.destination_bucket.clone(),
            counts: sql::full_counts([]),
            destination_in_flight: 0,
            verdicts: Vec::new(),
            samples: BTreeMap::new(),
            io_error: None,
        }
    }

    pub fn push(&mut self, row: sql::SqlRow) -> Result<(), Error> {
        *self.counts.entry(row.class).or_default() += 1;
        if row.class == Class::InFlight && row.side == sql::Side::Destination {
            self.destination_in_flight += 1;
        }
        let v = row.verdict(&self.source_bucket, &self.dest_bucket);
        if let Err(e) = writeln!(
            self.sinks.list,
            "{},{},{},{},{},{},{}",
            self.label,
            v.class.as_str(),
            csv_field(&v.bucket),
            csv_field(&v.key),
            csv_field(&v.version_id),
            v.delete_marker,
            csv_field(&v.detail)
        ) {
            self.io_error = Some(Error::List(e));
            return Err(Error::SinkWrite);
        }
        self.sinks.batch.push(&v);
        let n = self.samples.entry(v.class).or_default();
        if *n < SAMPLE && !matches!(v.class, Class::Intact | Class::InFlight) {
            *n += 1;
            self.verdicts.push(v);
        }
        Ok(())
    }
}

async fn count_rows(engine: &Engine, table: &str) -> Result<usize, Error> {
    let mut n = 0usize;
    engine
        .for_each_string_row(&format!("SELECT count(*) FROM {table}"), |r| {
            n = r
                .first()
                .copied()
                .flatten()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Error::Query("count(*) is not a number".into()))?;
            Ok(())
        })
        .await?;
    Ok(n)
}

/// Reconcile one rule from the registered tables `src` and `dst`.
async fn one_rule(
    engine: &Engine,
    pair: &InventoryPair,
    mut out: RuleOutcome,
    sinks: &mut Sinks<'_>,
) -> RuleOutcome {
    let (cutoff, after) = cutoffs(
        pair.source.manifest.created,
        pair.dest.manifest.created,
        out.rule.in_flight,
    );
    let rule = match SqlRule::from_scope(&out.rule, cutoff, Some(after)) {
        Ok(r) => r,
        Err(why) => {
            out.skipped = Some(why.to_string());
            return out;
        }
    };
    let text = sql::comparison_sql(&rule, "src", "dst");
    let mut c = Collector::new(sinks, &out);
    let r = engine.for_each_row(&text, |row| c.push(row)).await;
    if let Err(e) = r {
        let why = match c.io_error.take() {
            Some(io) => io.to_string(),
            None => match inventory::unreadable(&[&pair.source, &pair.dest]).await {
                Some(file) => format!("{file} (the comparison of the inventories stopped: {e})"),
                None => format!("the comparison of the inventories failed: {e}"),
            },
        };
        out.error = Some(why);
        return out;
    }
    out.totals = Some(c.counts);
    out.destination_in_flight = c.destination_in_flight;
    out.verdicts = c.verdicts;
    out.inventory = Some(json!({
        "source_inventory": pair.source.manifest_path.display().to_string(),
        "source_inventory_created": pair.source.manifest.created.to_rfc3339(),
        "destination_inventory": pair.dest.manifest_path.display().to_string(),
        "destination_inventory_created": pair.dest.manifest.created.to_rfc3339(),
        "in_flight_cutoff": cutoff.to_rfc3339(),
        "kms_key_checked": rule.replica_encryption.is_none(),
        "sql": text,
    }));
    if rule.replica_encryption.is_some() {
        out.notes.push(sql::KEY_NOT_IN_INVENTORY.to_string());
    }
    out
}

/// Reconcile every rule of the spec whose source and destination buckets are the buckets of the
/// two inventories; the spec's other rules are skipped with the reason (never a pass).
pub async fn reconcile(
    spec: &Spec,
    opts: &LiveOptions,
    pair: &InventoryPair,
    work: &Path,
    sinks: &mut Sinks<'_>,
) -> Vec<RuleOutcome> {
    let mut outcomes: Vec<RuleOutcome> = live::scopes(spec, opts)
        .into_iter()
        .map(|(id, s, d, rule): (String, String, String, RuleScope)| {
            RuleOutcome::new(spec, id, &s, &d, rule)
        })
        .collect();
    let ours = |o: &RuleOutcome| {
        o.source_bucket == pair.source.manifest.source_bucket
            && o.destination_bucket == pair.dest.manifest.source_bucket
    };
    for o in outcomes.iter_mut().filter(|o| !ours(o)) {
        o.skipped = Some(format!(
            "the inventories given are of s3://{} and s3://{}, not of this rule's buckets; \
             reconcile it from its own inventories or from the live listing",
            pair.source.manifest.source_bucket, pair.dest.manifest.source_bucket
        ));
    }
    if !outcomes.iter().any(ours) {
        return outcomes;
    }
    let prepared = async {
        let engine = Engine::new(opts.engine_memory.max(16 << 20), Some(work))?;
        inventory::register(&engine, "src", &pair.source, work).await?;
        inventory::register(&engine, "dst", &pair.dest, work).await?;
        let s = count_rows(&engine, "src").await?;
        let d = count_rows(&engine, "dst").await?;
        Ok::<_, Error>((engine, s, d))
    };
    // A library panic while the files are registered is an error of this rule, like any other.
    let prepared = {
        use futures::FutureExt;
        match std::panic::AssertUnwindSafe(prepared).catch_unwind().await {
            Ok(r) => r,
            Err(p) => Err(Error::RegisterPanic(super::engine::panic_message(&*p))),
        }
    };
    let prepared = match prepared {
        Err(e) if !e.names_a_file() => {
            match inventory::unreadable(&[&pair.source, &pair.dest]).await {
                Some(file) => Err(Error::Stopped {
                    file: Box::new(file),
                    source: Box::new(e),
                }),
                None => Err(e),
            }
        }
        other => other,
    };
    let (engine, s, d) = match prepared {
        Ok(p) => p,
        Err(e) => {
            for o in outcomes.iter_mut().filter(|o| ours(o)) {
                o.error = Some(e.to_string());
            }
            return outcomes;
        }
    };
    // Where the joins spill and how much: said before they run, refused when it cannot fit.
    let rows = (s + d) as u64;
    let need = super::engine::spill_estimate(rows, opts.engine_memory);
    let free = super::engine::free_bytes(work);
    eprintln!(
        "replaudit: {}",
        super::engine::spill_line(work, rows, need, free)
    );
    if let Err(e) = super::engine::check_spill_room(work, need, free) {
        for o in outcomes.iter_mut().filter(|o| ours(o)) {
            o.error = Some(e.to_string());
        }
        return outcomes;
    }
    let mut done = Vec::with_capacity(outcomes.len());
    for mut o in outcomes {
        if ours(&o) {
            o.source_versions = s;
            o.destination_versions = d;
            o = one_rule(&engine, pair, o, sinks).await;
        }
        done.push(o);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_the_older_inventory_minus_the_window() {
        let s: DateTime<Utc> = "2026-01-02T00:00:00Z".parse().unwrap();
        let d: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let (cut, after) = cutoffs(s, d, std::time::Duration::from_secs(3600));
        assert_eq!(
            cut,
            "2025-12-31T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(after, s);
        let (cut, _) = cutoffs(d, s, std::time::Duration::from_secs(3600));
        assert_eq!(
            cut,
            "2025-12-31T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
