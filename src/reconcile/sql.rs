//! The one comparison SQL of `replaudit reconcile` from S3 Inventory: the same verdicts as
//! [`compare::classify`], as one SQL text that the embedded engine (Apache DataFusion) runs over
//! local inventory files and Athena (Trino) runs over the inventory tables, so that the local
//! engine tests exactly the query Athena runs.
//!
//! # The two tables the text reads
//!
//! Each engine first exposes each bucket's inventory as a table or view with these **normalised
//! columns** (reading CSV/Parquet, DDL, decoding keys and types is per engine and outside this
//! text):
//!
//! | column               | type      | meaning                                                      |
//! |----------------------|-----------|--------------------------------------------------------------|
//! | `key`                | VARCHAR   | the object key, **decoded** (CSV inventories URL-encode it)  |
//! | `version_id`         | VARCHAR   | the version id; the string `null` for the null version       |
//! | `is_delete_marker`   | BOOLEAN   | never NULL                                                   |
//! | `size`               | BIGINT    | bytes; 0 for a delete marker                                 |
//! | `etag`               | VARCHAR   | quotes removed; NULL when absent                             |
//! | `last_modified`      | TIMESTAMP | UTC, without time zone                                       |
//! | `replication_status` | VARCHAR   | PENDING, COMPLETED, FAILED, REPLICA; NULL when empty         |
//! | `encryption_status`  | VARCHAR   | SSE-S3, SSE-C, SSE-KMS, DSSE-KMS, NOT-SSE; NULL when empty   |
//!
//! The inventory fields behind them are documented in the S3 user guide, "Amazon S3 Inventory
//! list": "Replication status – Set to `PENDING`, `COMPLETED`, `FAILED`, or `REPLICA`",
//! "Encryption status – Set to `SSE-S3`, `SSE-C`, `SSE-KMS`, or `NOT-SSE`" (DSSE-KMS added
//! since), and "When using the CSV file format, the key name is URL-encoded and must be decoded
//! before you can use it".
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html>
//!
//! # Where inventory semantics differ from the live listing
//!
//! - Every inventory row carries its replication and encryption status, so nothing is
//!   `unverified` for want of a HeadObject: the SQL answers [`Class::Unverified`] only for a
//!   replica whose encryption cannot be decided (an unencrypted source and a destination default
//!   the spec does not state, an encryption status that is empty or undocumented).
//! - A replica's encryption follows its source version's, as S3 encrypts it
//!   ([`crate::access::replica_sse::expected_replica`], the function the live path and the
//!   canary apply): the SQL holds one `WHEN` per source `encryption_status`, each built from that
//!   function's answer for that type (the replica's type it requires, "not replicated", or "not
//!   decidable", which is `unverified`).
//! - The inventory has **no KMS key id** (the documented field list has none), so the SQL
//!   compares encryption types only and no key, and an alias ARN in the spec needs no resolving
//!   here: the key ARNs are compared by the live path (HeadObject), with the alias resolved by
//!   DescribeKey before. The findings say so ([`KEY_NOT_IN_INVENTORY`]).
//! - ETags are compared when both are 32 characters (a single-part MD5 digest; multipart ETags
//!   carry a `-N` suffix) and both versions are SSE-S3 or NOT-SSE, as
//!   [`compare`] does with HeadObject's encryption (S3 ETags are hex digests, so the live path's
//!   "32 hex digits" and "32 characters" agree on every ETag S3 produces).
//! - Inventories are snapshots: [`SqlRule::in_flight_cutoff`] comes from the inventories'
//!   creation times, not from "now", and [`SqlRule::dest_unexplained_after`] keeps a destination
//!   replica (status `REPLICA`) written after the source's inventory was taken from being called
//!   "no source". A destination version without that status is not a replica ("The replication
//!   status of a replica will return REPLICA"): no source can be on its way, so it is "no source"
//!   at any age. These destination versions are not source versions in scope: [`counts_sql`]
//!   counts them apart ([`side_counts`]).
//! - Status decides before age, as [`compare::classify`] does: the cutoff spares only PENDING
//!   versions and delete markers (which have no status); FAILED, COMPLETED, none and REPLICA are
//!   final whatever the age.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html>
//!
//! # SQL subset (every construct is in both engines' documentation)
//!
//! - `CASE WHEN .. THEN .. ELSE .. END`, `COALESCE`: Trino "Conditional expressions"
//!   <https://trino.io/docs/current/functions/conditional.html>; DataFusion "Conditional
//!   functions" and "CASE" <https://datafusion.apache.org/user-guide/sql/scalar_functions.html>.
//! - `substr(string, start, length)`: Trino "Returns a substring from string of length length
//!   from the starting position start. Positions start with 1."
//!   <https://trino.io/docs/current/functions/string.html>; DataFusion "Extracts a substring of a
//!   specified number of characters from a specific starting position in a string"
//!   <https://datafusion.apache.org/user-guide/sql/scalar_functions.html#substr>. Both count
//!   characters, so the prefix length is given in characters.
//! - `length(string)`: Trino "Returns the length of string in characters"; DataFusion
//!   `length` (alias of `character_length`), same pages.
//! - `FULL OUTER JOIN .. ON`, subqueries in `FROM`, `GROUP BY`, `count(*)`: Trino "SELECT"
//!   <https://trino.io/docs/current/sql/select.html>; DataFusion "SELECT syntax"
//!   <https://datafusion.apache.org/user-guide/sql/select.html>.
//! - `row_number() OVER (PARTITION BY .. ORDER BY ..)`: Trino "Window functions"
//!   <https://trino.io/docs/current/functions/window.html>; DataFusion "Window functions"
//!   <https://datafusion.apache.org/user-guide/sql/window_functions.html>.
//! - `TIMESTAMP 'YYYY-MM-DD HH:MM:SS.mmm'` literals: Trino "Date and time" literals
//!   <https://trino.io/docs/current/language/types.html#timestamp>; DataFusion
//!   <https://datafusion.apache.org/user-guide/sql/data_types.html>. String literals quote `'`
//!   by doubling it (SQL standard, both engines).
//! - No `WITH`, no engine-specific functions, no `ILIKE`/regex, no `LIKE` (whose `_`/`%` would
//!   need escaping in a prefix).

use super::compare::{self, Class, LifecycleMarkers, OtherRule, RuleScope, Verdict};
use crate::access::replica_sse::{self, Expected, RuleSse, SseKind};
use chrono::{DateTime, NaiveDateTime, Utc};
use std::collections::BTreeMap;
use std::fmt;

/// What the encryption findings say when the rule requires a KMS key: the inventory shows only
/// the encryption type of a replica, not under which key.
pub const KEY_NOT_IN_INVENTORY: &str =
    "S3 Inventory carries the encryption status (SSE-KMS) but no KMS key id: \
     replicas were checked to have the encryption type S3 gives them (SSE-KMS for SSE-KMS \
     sources), not to be under the rule's key (reconcile from the live listing checks the key)";

/// What a replica's encryption type must be, for one source encryption type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaMust {
    Be(SseKind),
    /// S3 does not replicate such a source under this rule: a replica is a mismatch.
    NotReplicated,
    /// Not decidable (`unverified`).
    Undecidable,
}

/// What a rule requires of its replicas' encryption, as far as an inventory can show it (the
/// type; the inventory has no key id): [`replica_sse::expected_replica`] for each source type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaEncryption {
    pub by_source: Vec<(SseKind, ReplicaMust)>,
}

impl ReplicaEncryption {
    /// For a rule whose replicas must be under `replica_key`.
    pub fn of(scope: &RuleScope, replica_key: &str) -> ReplicaEncryption {
        let rule = RuleSse {
            sse_kms_encrypted_objects: scope.encryption.sse_kms_encrypted_objects,
            replica_kms_key: Some(replica_key),
        };
        let by_source = SseKind::ALL
            .into_iter()
            .map(|k| {
                let must = match replica_sse::expected_replica(
                    k,
                    rule,
                    scope.encryption.dest_default.as_ref(),
                ) {
                    Expected::Must { kind, .. } => ReplicaMust::Be(kind),
                    Expected::NotReplicated(_) => ReplicaMust::NotReplicated,
                    Expected::Undecidable(_) => ReplicaMust::Undecidable,
                };
                (k, must)
            })
            .collect();
        ReplicaEncryption { by_source }
    }
}

/// One replication rule as the comparison SQL needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlRule {
    pub prefix: String,
    pub delete_markers: bool,
    /// Source versions without a replica written after this are in flight, not blamed. From an
    /// inventory: the older of the two inventories' creation time minus the in-flight window.
    pub in_flight_cutoff: DateTime<Utc>,
    pub replica_encryption: Option<ReplicaEncryption>,
    /// Destination versions without a source written after this are in flight too (the
    /// source's inventory was taken before they could be seen there); `None` = never (live
    /// semantics). From inventories: the source inventory's creation time.
    pub dest_unexplained_after: Option<DateTime<Utc>>,
    /// The spec's other rules into the same destination bucket ([`Class::OtherSource`]).
    pub other_sources: Vec<OtherRule>,
    /// The source's lifecycle rules that may make delete markers ([`Class::LifecycleMarker`]).
    pub lifecycle: LifecycleMarkers,
}

impl SqlRule {
    /// The SQL rule of a spec rule, or why it cannot be reconciled from an inventory.
    pub fn from_scope(
        scope: &RuleScope,
        in_flight_cutoff: DateTime<Utc>,
        dest_unexplained_after: Option<DateTime<Utc>>,
    ) -> Result<SqlRule, super::Error> {
        if !scope.tags.is_empty() {
            return Err(super::Error::TagFiltered);
        }
        Ok(SqlRule {
            prefix: scope.prefix.clone(),
            delete_markers: scope.delete_markers,
            in_flight_cutoff,
            replica_encryption: scope
                .replica_kms_key_arn
                .as_ref()
                .map(|k| ReplicaEncryption::of(scope, k)),
            dest_unexplained_after,
            other_sources: scope.other_sources.clone(),
            lifecycle: scope.lifecycle.clone(),
        })
    }
}

/// `alias.key` starts with `prefix` (characters, as [`scoped`] counts them).
fn starts_with(alias: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        format!("{alias}.key IS NOT NULL")
    } else {
        format!(
            "substr({alias}.key, 1, {}) = {}",
            prefix.chars().count(),
            lit(prefix)
        )
    }
}

/// `d` is in the scope of one of `others` ([`OtherRule::could_claim`]); `None` if none.
fn claimed_by_others(others: &[OtherRule]) -> Option<String> {
    let each: Vec<String> = others
        .iter()
        .map(|o| {
            if o.delete_markers {
                format!("({})", starts_with("d", &o.prefix))
            } else {
                format!(
                    "({} AND d.is_delete_marker = FALSE)",
                    starts_with("d", &o.prefix)
                )
            }
        })
        .collect();
    (!each.is_empty()).then(|| each.join(" OR "))
}

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL timestamp literal (UTC, milliseconds: inventories carry milliseconds).
fn ts(t: DateTime<Utc>) -> String {
    format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.3f"))
}

/// A table name: a plain identifier, or refused (the names come from code, never from input).
fn table(name: &str) -> &str {
    assert!(
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'),
        "table name {name:?} is not a plain identifier"
    );
    name
}

/// The columns [`comparison_sql`] returns, in order; [`parse_row`] reads them in this order.
pub const COLUMNS: [&str; 13] = [
    "class",
    "side",
    "key",
    "version_id",
    "is_delete_marker",
    "source_size",
    "destination_size",
    "source_etag",
    "destination_etag",
    "source_last_modified",
    "replication_status",
    "source_encryption",
    "destination_encryption",
];

/// The versions of one side in the rule's scope.
fn scoped(rule: &SqlRule, t: &str) -> String {
    let mut w = Vec::new();
    if !rule.prefix.is_empty() {
        w.push(format!(
            "substr(key, 1, {}) = {}",
            rule.prefix.chars().count(),
            lit(&rule.prefix)
        ));
    }
    if !rule.delete_markers {
        w.push("is_delete_marker = FALSE".into());
    }
    let cond = if w.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", w.join(" AND "))
    };
    format!(
        "SELECT key, version_id, is_delete_marker, size, etag, last_modified, replication_status, encryption_status FROM {}{cond}",
        table(t)
    )
}

/// The comparison: one row per version in the rule's scope (each source version, and each
/// destination version without a source), with its `class` (`Class::as_str`) and the fields
/// the verdict's detail needs ([`COLUMNS`]).
pub fn comparison_sql(rule: &SqlRule, source_table: &str, dest_table: &str) -> String {
    let plain = "('SSE-S3', 'NOT-SSE')";
    let etag_differs = format!(
        "length(s.etag) = 32 AND length(d.etag) = 32 AND s.encryption_status IN {plain} \
         AND d.encryption_status IN {plain} AND s.etag <> d.etag"
    );
    let encryption = match &rule.replica_encryption {
        Some(e) => {
            let known = SseKind::ALL
                .iter()
                .map(|k| lit(k.inventory()))
                .collect::<Vec<_>>()
                .join(", ");
            let mut w = format!(
                "\n      WHEN COALESCE(s.encryption_status, '') NOT IN ({known}) OR COALESCE(d.encryption_status, '') NOT IN ({known}) THEN '{}'",
                Class::Unverified.as_str()
            );
            for (src, must) in &e.by_source {
                let s_is = format!("s.encryption_status = {}", lit(src.inventory()));
                w.push_str(&match must {
                    ReplicaMust::Be(k) => format!(
                        "\n      WHEN {s_is} AND d.encryption_status <> {} THEN '{}'",
                        lit(k.inventory()),
                        Class::EncryptionMismatch.as_str()
                    ),
                    ReplicaMust::NotReplicated => format!(
                        "\n      WHEN {s_is} THEN '{}'",
                        Class::EncryptionMismatch.as_str()
                    ),
                    ReplicaMust::Undecidable => {
                        format!("\n      WHEN {s_is} THEN '{}'", Class::Unverified.as_str())
                    }
                });
            }
            w
        }
        None => String::new(),
    };
    let other_source = match claimed_by_others(&rule.other_sources) {
        Some(cond) => format!(
            "\n    WHEN s.key IS NULL AND ({cond}) THEN '{}'",
            Class::OtherSource.as_str()
        ),
        None => String::new(),
    };
    // A missing delete marker: S3 Lifecycle's are never replicated (compare::LifecycleMarkers).
    let lifecycle = match &rule.lifecycle {
        LifecycleMarkers::None => String::new(),
        LifecycleMarkers::Unknown(_) => format!(
            "\n    WHEN s.is_delete_marker THEN '{}'",
            Class::Unverified.as_str()
        ),
        LifecycleMarkers::Expiring(rules) => format!(
            "\n    WHEN s.is_delete_marker AND ({}) THEN '{}'",
            rules
                .iter()
                .map(|(_, p)| format!("({})", starts_with("s", p)))
                .collect::<Vec<_>>()
                .join(" OR "),
            Class::LifecycleMarker.as_str()
        ),
    };
    let unexplained = match rule.dest_unexplained_after {
        Some(t) => format!(
            "\n    WHEN s.key IS NULL AND d.replication_status = 'REPLICA' AND d.last_modified > {} THEN '{}'",
            ts(t),
            Class::InFlight.as_str()
        ),
        None => String::new(),
    };
    format!(
        "SELECT
  CASE{unexplained}{other_source}
    WHEN s.key IS NULL THEN '{no_source}'
    WHEN d.key IS NOT NULL THEN CASE
      WHEN s.is_delete_marker <> d.is_delete_marker THEN '{mismatched}'
      WHEN s.is_delete_marker THEN '{intact}'
      WHEN s.size <> d.size THEN '{mismatched}'
      WHEN {etag_differs} THEN '{mismatched}'{encryption}
      ELSE '{intact}' END
    WHEN s.is_delete_marker AND s.last_modified > {cutoff} THEN '{in_flight}'{lifecycle}
    WHEN s.is_delete_marker THEN '{missing}'
    WHEN s.replication_status = 'FAILED' THEN '{failed}'
    WHEN s.replication_status = 'PENDING' AND s.last_modified > {cutoff} THEN '{in_flight}'
    WHEN s.replication_status = 'PENDING' THEN '{pending}'
    WHEN s.replication_status IS NULL OR s.replication_status = 'REPLICA' THEN '{never}'
    ELSE '{missing}' END AS class,
  CASE WHEN s.key IS NULL THEN 'destination' ELSE 'source' END AS side,
  COALESCE(s.key, d.key) AS key,
  COALESCE(s.version_id, d.version_id) AS version_id,
  COALESCE(s.is_delete_marker, d.is_delete_marker) AS is_delete_marker,
  s.size AS source_size,
  d.size AS destination_size,
  s.etag AS source_etag,
  d.etag AS destination_etag,
  COALESCE(s.last_modified, d.last_modified) AS source_last_modified,
  s.replication_status AS replication_status,
  s.encryption_status AS source_encryption,
  d.encryption_status AS destination_encryption
FROM ({src}) s
FULL OUTER JOIN ({dst}) d
  ON s.key = d.key AND s.version_id = d.version_id",
        no_source = Class::NoSource.as_str(),
        mismatched = Class::Mismatched.as_str(),
        intact = Class::Intact.as_str(),
        in_flight = Class::InFlight.as_str(),
        missing = Class::Missing.as_str(),
        failed = Class::Failed.as_str(),
        pending = Class::PendingTooLong.as_str(),
        never = Class::NeverEligible.as_str(),
        cutoff = ts(rule.in_flight_cutoff),
        src = scoped(rule, source_table),
        dst = scoped(rule, dest_table),
    )
}

/// Versions per class and side: `class`, `side`, `n` (BIGINT). The side keeps destination
/// versions (in flight: newer than the source's inventory) out of "source versions in scope".
pub fn counts_sql(rule: &SqlRule, source_table: &str, dest_table: &str) -> String {
    format!(
        "SELECT class, side, count(*) AS n FROM ({}) c GROUP BY class, side",
        comparison_sql(rule, source_table, dest_table)
    )
}

/// The rows that are not intact or in flight, in [`COLUMNS`] order: at most `per_class` per
/// class (the findings' sample), or all of them (`None`, streamed into the full list).
pub fn findings_rows_sql(
    rule: &SqlRule,
    source_table: &str,
    dest_table: &str,
    per_class: Option<u64>,
) -> String {
    let cols = COLUMNS.join(", ");
    let not_ok = format!(
        "class NOT IN ('{}', '{}')",
        Class::Intact.as_str(),
        Class::InFlight.as_str()
    );
    let cmp = comparison_sql(rule, source_table, dest_table);
    match per_class {
        None => format!("SELECT {cols} FROM ({cmp}) c WHERE {not_ok}"),
        Some(n) => format!(
            "SELECT {cols} FROM (SELECT {cols}, row_number() OVER (PARTITION BY class ORDER BY key, version_id) AS rn FROM ({cmp}) c WHERE {not_ok}) r WHERE rn <= {n} ORDER BY class, key, version_id"
        ),
    }
}

/// Which bucket a row's version is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Source,
    Destination,
}

/// One row of [`comparison_sql`], read back from strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlRow {
    pub class: Class,
    pub side: Side,
    pub key: String,
    pub version_id: String,
    pub delete_marker: bool,
    /// Why, in the words of the live path.
    pub detail: String,
}

impl SqlRow {
    /// The verdict of the live path's shape (`could_be` only for a replica whose encryption
    /// was not decidable, as the live path says it).
    pub fn verdict(&self, source_bucket: &str, dest_bucket: &str) -> Verdict {
        Verdict {
            class: self.class,
            bucket: match self.side {
                Side::Source => source_bucket,
                Side::Destination => dest_bucket,
            }
            .to_string(),
            key: self.key.clone(),
            version_id: self.version_id.clone(),
            delete_marker: self.delete_marker,
            detail: self.detail.clone(),
            could_be: match self.class {
                Class::Unverified if self.delete_marker => vec![Class::Missing],
                Class::Unverified => vec![Class::EncryptionMismatch],
                _ => vec![],
            },
        }
    }
}

/// A result row that does not have the shape [`comparison_sql`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError(pub String);

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected reconcile query result: {}", self.0)
    }
}

impl std::error::Error for SqlError {}

/// The class of a `class` column value.
pub fn parse_class(s: &str) -> Option<Class> {
    Class::ALL.into_iter().find(|c| c.as_str() == s)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "TRUE" | "True" | "1" => Some(true),
        "false" | "FALSE" | "False" | "0" => Some(false),
        _ => None,
    }
}

/// A timestamp as either engine renders it: Athena `2026-01-01 12:00:00.000`, Arrow's cast to
/// Utf8 `2026-01-01T12:00:00` (optionally with fractions).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim().trim_end_matches('Z').trim_end_matches(" UTC");
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|n| n.and_utc())
}

/// Read one result row of [`comparison_sql`] (or [`findings_rows_sql`]): the columns of
/// [`COLUMNS`], as strings, NULL as `None`. Athena's GetQueryResults gives strings; DataFusion
/// batches are cast to Utf8 and read by the same function.
pub fn parse_row(columns: &[Option<&str>]) -> Result<SqlRow, SqlError> {
    if columns.len() != COLUMNS.len() {
        return Err(SqlError(format!(
            "{} columns, expected {} ({})",
            columns.len(),
            COLUMNS.len(),
            COLUMNS.join(", ")
        )));
    }
    let get = |i: usize| columns[i].filter(|s| !s.is_empty());
    let need = |i: usize| get(i).ok_or_else(|| SqlError(format!("{} is NULL", COLUMNS[i])));
    let class_s = need(0)?;
    let class = parse_class(class_s)
        .ok_or_else(|| SqlError(format!("class {class_s:?} is not a reconcile class")))?;
    let side = parse_side(need(1)?)?;
    let key = columns[2]
        .ok_or_else(|| SqlError("key is NULL".into()))?
        .to_string();
    let version_id = need(3)?.to_string();
    let dm_s = need(4)?;
    let delete_marker =
        parse_bool(dm_s).ok_or_else(|| SqlError(format!("is_delete_marker {dm_s:?}")))?;
    let num = |i: usize| -> Result<Option<i64>, SqlError> {
        get(i)
            .map(|s| {
                s.parse::<i64>()
                    .map_err(|_| SqlError(format!("{} {s:?} is not an integer", COLUMNS[i])))
            })
            .transpose()
    };
    let (ssize, dsize) = (num(5)?, num(6)?);
    let (setag, detag) = (get(7), get(8));
    let lm = get(9)
        .map(|s| parse_timestamp(s).ok_or_else(|| SqlError(format!("last_modified {s:?}"))))
        .transpose()?;
    let status = get(10);
    let senc = get(11);
    let denc = get(12);
    let detail = match class {
        Class::Intact if delete_marker => "delete marker replicated".to_string(),
        Class::Intact => "replica matches".to_string(),
        Class::InFlight => match side {
            Side::Source => format!(
                "no replica yet, written {} (after the in-flight cutoff)",
                lm.map(|t| t.to_rfc3339()).unwrap_or_default()
            ),
            Side::Destination => format!(
                "no source version in the source's inventory, written {} (after that inventory was taken)",
                lm.map(|t| t.to_rfc3339()).unwrap_or_default()
            ),
        },
        Class::Missing if delete_marker => {
            "delete marker not at the destination although the rule replicates delete markers"
                .into()
        }
        Class::Missing => format!(
            "replication status {} but no replica at the destination (it arrived and was deleted since)",
            status.unwrap_or("(none)")
        ),
        Class::Failed => "replication status FAILED: S3 does not retry it".into(),
        Class::PendingTooLong => {
            "replication status still PENDING after the in-flight window".into()
        }
        Class::NeverEligible if status == Some("REPLICA") => {
            "the source version is itself a replica: live replication does not replicate replicas"
                .into()
        }
        Class::NeverEligible => {
            "no replication status: written before the rule, or not picked up by it".into()
        }
        Class::Mismatched if ssize != dsize => format!(
            "size {} at the source, {} at the destination",
            ssize.unwrap_or_default(),
            dsize.unwrap_or_default()
        ),
        Class::Mismatched if setag != detag => format!(
            "ETag {} at the source, {} at the destination (both MD5 digests of the data)",
            setag.unwrap_or_default(),
            detag.unwrap_or_default()
        ),
        Class::Mismatched => "one side is a delete marker, the other an object".into(),
        Class::EncryptionMismatch => format!(
            "source {}: replica is {}, not the encryption S3 gives the replica of such a source under this rule",
            senc.unwrap_or("(none)"),
            denc.unwrap_or("(none)")
        ),
        Class::NoSource => compare::NO_SOURCE.into(),
        Class::OtherSource => compare::OTHER_SOURCE.into(),
        Class::LifecycleMarker => compare::LIFECYCLE_MARKER.into(),
        Class::Unverified if side == Side::Source && delete_marker => {
            compare::LIFECYCLE_UNKNOWN.into()
        }
        Class::Unverified if side == Side::Source && ssize.is_some() && dsize.is_some() => format!(
            "source {}, replica {}: the replica's encryption cannot be decided (an unencrypted source gets the destination's default encryption, which the spec does not state; or an encryption status S3 Inventory does not document)",
            senc.unwrap_or("(empty)"),
            denc.unwrap_or("(empty)")
        ),
        Class::Unverified => return Err(SqlError("class unverified is answered by the comparison SQL only for a replica's encryption".into())),
    };
    Ok(SqlRow {
        class,
        side,
        key,
        version_id,
        delete_marker,
        detail,
    })
}

/// Read one row of [`counts_sql`]: `class`, `side`, `n`.
pub fn parse_count(columns: &[Option<&str>]) -> Result<(Class, Side, usize), SqlError> {
    match columns {
        [Some(c), Some(s), Some(n)] => Ok((
            parse_class(c).ok_or_else(|| SqlError(format!("class {c:?}")))?,
            parse_side(s)?,
            n.parse()
                .map_err(|_| SqlError(format!("count {n:?} is not a number")))?,
        )),
        _ => Err(SqlError(format!(
            "a counts row has 3 non-NULL columns (class, side, n), got {columns:?}"
        ))),
    }
}

fn parse_side(s: &str) -> Result<Side, SqlError> {
    match s {
        "source" => Ok(Side::Source),
        "destination" => Ok(Side::Destination),
        other => Err(SqlError(format!("side {other:?}"))),
    }
}

/// Counts of [`counts_sql`]'s rows: versions per class (every class, as [`full_counts`]), and
/// how many of the in-flight ones are destination versions (a replica newer than the source's
/// inventory), which are not source versions in scope.
pub fn side_counts(
    rows: impl IntoIterator<Item = (Class, Side, usize)>,
) -> (BTreeMap<Class, usize>, usize) {
    let mut waiting = 0;
    let c = full_counts(rows.into_iter().map(|(c, side, n)| {
        if c == Class::InFlight && side == Side::Destination {
            waiting += n;
        }
        (c, n)
    }));
    (c, waiting)
}

/// Counts per class with every class present (zeros included), as [`compare::counts`] gives.
pub fn full_counts(rows: impl IntoIterator<Item = (Class, usize)>) -> BTreeMap<Class, usize> {
    let mut c: BTreeMap<Class, usize> = Class::ALL.iter().map(|k| (*k, 0)).collect();
    for (k, n) in rows {
        *c.entry(k).or_default() += n;
    }
    c
}

/// The per-class counts of a list of verdicts (the live path's), for comparisons in tests.
pub fn counts_of(verdicts: &[Verdict]) -> BTreeMap<Class, usize> {
    compare::counts(verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> SqlRule {
        SqlRule {
            prefix: "rep'orts/".into(),
            delete_markers: false,
            in_flight_cutoff: "2026-01-01T11:30:00Z".parse().unwrap(),
            replica_encryption: Some(ReplicaEncryption::of(
                &RuleScope {
                    label: "r".into(),
                    prefix: "rep'orts/".into(),
                    tags: BTreeMap::new(),
                    delete_markers: false,
                    in_flight: std::time::Duration::from_secs(60),
                    replica_kms_key_arn: Some(KEY.into()),
                    encryption: compare::EncryptionScope {
                        sse_kms_encrypted_objects: true,
                        ..Default::default()
                    },
                    other_sources: vec![],
                    lifecycle: compare::LifecycleMarkers::None,
                },
                KEY,
            )),
            dest_unexplained_after: None,
            other_sources: vec![],
            lifecycle: LifecycleMarkers::None,
        }
    }

    const KEY: &str = "arn:aws:kms:ap-southeast-2:271089868719:alias/replicas";

    #[test]
    fn the_encryption_cases_are_the_shared_functions_answers() {
        let e = rule().replica_encryption.unwrap();
        let must = |k: SseKind| e.by_source.iter().find(|(s, _)| *s == k).unwrap().1;
        assert_eq!(must(SseKind::S3), ReplicaMust::Be(SseKind::S3));
        assert_eq!(must(SseKind::Kms), ReplicaMust::Be(SseKind::Kms));
        assert_eq!(must(SseKind::Dsse), ReplicaMust::Be(SseKind::Dsse));
        assert_eq!(must(SseKind::C), ReplicaMust::Be(SseKind::C));
        // No destination default in the scope: an unencrypted source's replica is undecidable.
        assert_eq!(must(SseKind::None), ReplicaMust::Undecidable);
        let sql = comparison_sql(&rule(), "src", "dst");
        assert!(
            sql.contains("WHEN s.encryption_status = 'SSE-S3' AND d.encryption_status <> 'SSE-S3' THEN 'encryption-mismatch'"),
            "{sql}"
        );
        assert!(
            sql.contains("WHEN s.encryption_status = 'NOT-SSE' THEN 'unverified'"),
            "{sql}"
        );
    }

    #[test]
    fn the_text_quotes_the_prefix_counts_characters_and_names_every_class() {
        let mut r = rule();
        r.prefix = "ü'/".into();
        r.other_sources = vec![OtherRule {
            label: "o".into(),
            prefix: "lö'gs/".into(),
            delete_markers: false,
        }];
        r.lifecycle = LifecycleMarkers::Expiring(vec![("x".into(), "ü'/old/".into())]);
        let sql = comparison_sql(&r, "src", "dst");
        assert!(sql.contains("substr(key, 1, 3) = 'ü''/'"), "{sql}");
        assert!(
            sql.contains("(substr(d.key, 1, 6) = 'lö''gs/' AND d.is_delete_marker = FALSE)"),
            "{sql}"
        );
        assert!(sql.contains("(substr(s.key, 1, 7) = 'ü''/old/')"), "{sql}");
        assert!(sql.contains("is_delete_marker = FALSE"));
        assert!(sql.contains("TIMESTAMP '2026-01-01 11:30:00.000'"));
        for c in Class::ALL {
            if c != Class::Unverified {
                assert!(sql.contains(&format!("'{}'", c.as_str())), "{c:?}");
            }
        }
        assert!(!sql.contains("WITH "));
        let all = SqlRule {
            prefix: String::new(),
            delete_markers: true,
            replica_encryption: None,
            ..rule()
        };
        let sql = comparison_sql(&all, "src", "dst");
        assert!(!sql.contains("WHERE"), "{sql}");
        assert!(!sql.contains("encryption-mismatch"));
    }

    #[test]
    #[should_panic(expected = "not a plain identifier")]
    fn table_names_are_identifiers() {
        comparison_sql(&rule(), "src; DROP", "dst");
    }

    #[test]
    fn rows_parse_from_either_engines_strings() {
        let row = [
            Some("mismatched"),
            Some("source"),
            Some("reports/a"),
            Some("v1"),
            Some("false"),
            Some("10"),
            Some("11"),
            Some("0123456789abcdef0123456789abcdef"),
            Some("0123456789abcdef0123456789abcdef"),
            Some("2026-01-01 10:00:00.000"),
            Some("COMPLETED"),
            Some("SSE-S3"),
            Some("SSE-KMS"),
        ];
        let r = parse_row(&row).unwrap();
        assert_eq!(r.class, Class::Mismatched);
        assert_eq!(r.side, Side::Source);
        assert_eq!(r.detail, "size 10 at the source, 11 at the destination");
        assert_eq!(
            parse_timestamp("2026-01-01T10:00:00"),
            parse_timestamp("2026-01-01 10:00:00.000")
        );
        let mut bad = row;
        bad[0] = Some("lost");
        assert!(parse_row(&bad).unwrap_err().0.contains("lost"));
        assert!(parse_row(&row[..3]).is_err());
        let mut u = row;
        u[0] = Some("unverified");
        let r = parse_row(&u).unwrap();
        assert!(r.detail.contains("cannot be decided"), "{}", r.detail);
        assert_eq!(
            r.verdict("s", "d").could_be,
            vec![Class::EncryptionMismatch]
        );
        u[1] = Some("destination");
        assert!(parse_row(&u).is_err());
        assert_eq!(
            parse_count(&[Some("failed"), Some("source"), Some("3")]).unwrap(),
            (Class::Failed, Side::Source, 3)
        );
        assert!(parse_count(&[Some("failed"), Some("source"), None]).is_err());
        assert!(parse_count(&[Some("failed"), Some("both"), Some("3")]).is_err());
        assert!(parse_count(&[Some("failed"), Some("3")]).is_err());
    }

    #[test]
    fn tag_rules_are_refused() {
        let scope = RuleScope {
            label: "r".into(),
            prefix: "p/".into(),
            tags: [("a".to_string(), "b".to_string())].into(),
            delete_markers: true,
            in_flight: std::time::Duration::from_secs(60),
            replica_kms_key_arn: None,
            encryption: Default::default(),
            other_sources: vec![],
            lifecycle: compare::LifecycleMarkers::None,
        };
        let e = SqlRule::from_scope(&scope, Utc::now(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tags") && !e.contains("next slice"), "{e}");
    }
}
