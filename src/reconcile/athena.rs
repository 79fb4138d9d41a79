//! `reconcile --athena`: the same comparison on Amazon Athena, for buckets whose inventories are
//! too large for one machine. Athena reads the two buckets' S3 Inventory reports where S3
//! delivered them; replaudit only creates the two documented inventory tables (and a view over
//! each that gives them the normalised columns of [`sql`]), sends [`sql::counts_sql`] and
//! [`sql::findings_rows_sql`] — the very texts the embedded engine runs in the tests — and reads
//! the results back into the same findings.
//!
//! What this relies on, from AWS's documentation:
//! - The inventory tables are the S3 user guide's templates, "Querying Amazon S3 Inventory with
//!   Amazon Athena": the column names and types per format (ORC/Parquet: `size bigint`,
//!   `last_modified_date timestamp`, as the current template declares it — an older one said
//!   `bigint`; CSV: `size string`, `last_modified_date string`), the SerDe (CSV
//!   `OpenCSVSerde`, ORC `org.apache.hadoop.hive.ql.io.orc.OrcSerde`, Parquet
//!   `ParquetHiveSerDe`: ORC inventories, which the local engine does not read, are reconciled
//!   here), `PARTITIONED
//!   BY (dt string)`, `SymlinkTextInputFormat`, and `LOCATION` = the inventory's `hive/` folder.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-athena-query.html>
//! - Each delivery has `hive/dt=YYYY-MM-DD-HH-MM/symlink.txt` beside the dated
//!   `YYYY-MM-DDTHH-MMZ/manifest.json`, so one delivery is one `dt` partition.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html>
//! - A CSV inventory URL-encodes keys ("the key name is URL-encoded and must be decoded"); the
//!   view decodes them with Trino's `url_decode`.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html>,
//!   <https://trino.io/docs/current/functions/url.html>
//! - StartQueryExecution runs one statement; GetQueryExecution reports QUEUED, RUNNING,
//!   SUCCEEDED, FAILED or CANCELLED (with `StateChangeReason`); GetQueryResults returns at most
//!   `MaxResults` (1,000) rows a page and a `NextToken`.
//!   <https://docs.aws.amazon.com/athena/latest/APIReference/API_StartQueryExecution.html>,
//!   <https://docs.aws.amazon.com/athena/latest/APIReference/API_QueryExecutionStatus.html>,
//!   <https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryResults.html>
//! - The first row of a SELECT's first page holds the column labels; the API reference does not
//!   say so (client libraries found it: <https://github.com/uber/athenadriver/blob/master/resources/UndocumentedAthena.md>),
//!   so [`data_rows`] drops a first row only when it *is* the labels, and keeps it otherwise.
//!
//! Read-only as far as data goes: the only writes are the Glue Data Catalog entries of the DDL
//! (`CREATE ... IF NOT EXISTS`, one database of replaudit's own) and Athena's own result files
//! in the workgroup's output location.

use super::inventory::Format;
use super::sql::{self, SqlRule};
use super::Error;
use std::time::Duration;

/// The Glue database replaudit's tables and views go into, unless told otherwise.
pub const DEFAULT_DATABASE: &str = "replaudit_reconcile";

/// Rows per GetQueryResults page: the documented maximum.
const PAGE: i32 = 1000;

/// One bucket's S3 Inventory delivery, as Athena reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaInventory {
    /// The bucket the inventory lists (labels only).
    pub bucket: String,
    /// `s3://<inventory bucket>/<prefix>/<source bucket>/<config id>/hive/`.
    pub hive_location: String,
    /// The delivery's partition, `YYYY-MM-DD-HH-MM`.
    pub dt: String,
    pub format: Format,
    /// Field names in file order (the manifest's `fileSchema`, either spelling).
    pub fields: Vec<String>,
}

impl AthenaInventory {
    /// The delivery whose `manifest.json` is at `manifest_uri`
    /// (`s3://b/<prefix>/<source bucket>/<config id>/YYYY-MM-DDTHH-MMZ/manifest.json`).
    pub fn from_manifest_uri(
        bucket: &str,
        manifest_uri: &str,
        format: Format,
        fields: &[String],
    ) -> Result<AthenaInventory, Error> {
        let bad = || {
            Error::Inventory(format!(
                "{manifest_uri} is not where S3 delivers an inventory manifest \
                 (…/<source bucket>/<config id>/YYYY-MM-DDTHH-MMZ/manifest.json)"
            ))
        };
        let rest = manifest_uri.strip_prefix("s3://").ok_or_else(bad)?;
        let dated_dir = rest.strip_suffix("/manifest.json").ok_or_else(bad)?;
        let (config_root, dated) = dated_dir.rsplit_once('/').ok_or_else(bad)?;
        let dt = dt_of_dated_folder(dated).ok_or_else(bad)?;
        Ok(AthenaInventory {
            bucket: bucket.to_string(),
            hive_location: format!("s3://{config_root}/hive/"),
            dt,
            format,
            fields: fields.to_vec(),
        })
    }

    /// Table and view names: plain lowercase identifiers, unique per bucket and delivery, so
    /// that a rerun against a newer delivery never reads an older partition.
    pub fn table(&self) -> String {
        let mut s: String = self
            .bucket
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        s.truncate(60);
        format!("inv_{s}_{}", self.dt.replace('-', ""))
    }

    pub fn view(&self) -> String {
        format!("{}_norm", self.table())
    }
}

/// `2026-11-30T01-00Z` -> `2026-11-30-01-00`.
pub fn dt_of_dated_folder(name: &str) -> Option<String> {
    let b = name.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    (b.len() == 17
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b'-'
        && digits(14..16)
        && b[16] == b'Z')
        .then(|| format!("{}-{}", &name[..10], &name[11..16]))
}

/// The documented column of an inventory field: (name, Athena type for ORC/Parquet, for CSV).
/// Fields the documentation's templates do not list are declared `string` under their
/// snake_case name, which is what S3 names the Parquet column.
fn column(field: &str) -> (String, &'static str, &'static str) {
    const KNOWN: [(&str, &str, &str, &str); 17] = [
        ("Bucket", "bucket", "string", "string"),
        ("Key", "key", "string", "string"),
        ("VersionId", "version_id", "string", "string"),
        ("IsLatest", "is_latest", "boolean", "boolean"),
        ("IsDeleteMarker", "is_delete_marker", "boolean", "boolean"),
        ("Size", "size", "bigint", "string"),
        (
            "LastModifiedDate",
            "last_modified_date",
            "timestamp",
            "string",
        ),
        ("ETag", "e_tag", "string", "string"),
        ("StorageClass", "storage_class", "string", "string"),
        (
            "IsMultipartUploaded",
            "is_multipart_uploaded",
            "boolean",
            "boolean",
        ),
        (
            "ReplicationStatus",
            "replication_status",
            "string",
            "string",
        ),
        ("EncryptionStatus", "encryption_status", "string", "string"),
        (
            "ObjectLockRetainUntilDate",
            "object_lock_retain_until_date",
            "bigint",
            "bigint",
        ),
        ("ObjectLockMode", "object_lock_mode", "string", "string"),
        (
            "ObjectLockLegalHoldStatus",
            "object_lock_legal_hold_status",
            "string",
            "string",
        ),
        (
            "IntelligentTieringAccessTier",
            "intelligent_tiering_access_tier",
            "string",
            "string",
        ),
        ("BucketKeyStatus", "bucket_key_status", "string", "string"),
    ];
    let f = field.trim();
    if let Some((_, name, t, csv)) = KNOWN
        .iter()
        .find(|(camel, snake, _, _)| f.eq_ignore_ascii_case(camel) || f == *snake)
    {
        return (name.to_string(), t, csv);
    }
    let mut snake = String::new();
    for (i, c) in f.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            snake.push('_');
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            snake.push(c.to_ascii_lowercase());
        }
    }
    (snake, "string", "string")
}

/// The statements that make `inv` queryable, in order: database, table, partition, view.
/// Each is idempotent (`IF NOT EXISTS`, `OR REPLACE`), so a rerun is harmless.
pub fn ddl(inv: &AthenaInventory, database: &str) -> Result<Vec<String>, Error> {
    let cols: Vec<String> = inv
        .fields
        .iter()
        .map(|f| {
            let (name, t, csv) = column(f);
            let ty = if inv.format == Format::Csv { csv } else { t };
            format!("  `{name}` {ty}")
        })
        .collect();
    let have = |n: &str| inv.fields.iter().any(|f| column(f).0 == n);
    // The columns the comparison reads, by their Parquet/Athena names.
    for need in super::inventory::NEEDED.iter().map(|(_, column)| *column) {
        if !have(need) {
            return Err(Error::Inventory(format!(
                "the inventory of {} has no `{need}` field: add it to the inventory configuration \
                 (and list all versions)",
                inv.bucket
            )));
        }
    }
    // The template's SerDe per format; ORC and Parquet share the column types.
    let serde = match inv.format {
        Format::Csv => "org.apache.hadoop.hive.serde2.OpenCSVSerde",
        Format::Parquet => "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        Format::Orc => "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
    };
    let table = format!("{database}.{}", inv.table());
    let (key, size, last_modified) = match inv.format {
        Format::Csv => (
            "url_decode(key)",
            "COALESCE(CAST(NULLIF(size, '') AS bigint), 0)",
            "CAST(from_iso8601_timestamp(last_modified_date) AT TIME ZONE 'UTC' AS timestamp)",
        ),
        Format::Parquet | Format::Orc => (
            "key",
            "COALESCE(size, 0)",
            "CAST(last_modified_date AS timestamp)",
        ),
    };
    Ok(vec![
        format!("CREATE DATABASE IF NOT EXISTS {database}"),
        format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS {table}(\n{}\n) PARTITIONED BY (\n  dt string\n)\n\
             ROW FORMAT SERDE '{serde}'\n\
             STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'\n\
             OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat'\n\
             LOCATION '{}'",
            cols.join(",\n"),
            inv.hive_location
        ),
        format!(
            "ALTER TABLE {table} ADD IF NOT EXISTS PARTITION (dt = '{dt}') LOCATION '{}dt={dt}/'",
            inv.hive_location,
            dt = inv.dt
        ),
        format!(
            "CREATE OR REPLACE VIEW {database}.{view} AS SELECT\n  \
             {key} AS key,\n  \
             COALESCE(NULLIF(version_id, ''), 'null') AS version_id,\n  \
             COALESCE(is_delete_marker, false) AS is_delete_marker,\n  \
             {size} AS size,\n  \
             NULLIF(e_tag, '') AS etag,\n  \
             {last_modified} AS last_modified,\n  \
             NULLIF(replication_status, '') AS replication_status,\n  \
             NULLIF(encryption_status, '') AS encryption_status\n\
             FROM {table} WHERE dt = '{dt}'",
            view = inv.view(),
            dt = inv.dt
        ),
    ])
}

/// The rows of one GetQueryResults page that are data: the first page of a SELECT may begin
/// with the column labels (see the module comment), dropped only when it equals them.
pub fn data_rows<'a>(
    rows: &'a [Vec<Option<String>>],
    labels: &[String],
    first_page: bool,
) -> &'a [Vec<Option<String>>] {
    match rows.first() {
        Some(r)
            if first_page
                && !labels.is_empty()
                && r.len() == labels.len()
                && r.iter()
                    .zip(labels)
                    .all(|(v, l)| v.as_deref() == Some(l.as_str())) =>
        {
            &rows[1..]
        }
        _ => rows,
    }
}

/// Where and how queries run.
#[derive(Debug, Clone)]
pub struct AthenaOptions {
    pub workgroup: String,
    /// `s3://…/` for result files; `None` = the workgroup's own.
    pub output_location: Option<String>,
    pub database: String,
    /// Give up on one query after this long (it is then stopped).
    pub query_timeout: Duration,
}

/// A query's end, as GetQueryExecution reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryEnd {
    Succeeded,
    /// FAILED or CANCELLED, with Athena's reason.
    Failed(String),
}

/// The state names GetQueryExecution answers, to an end or `None` (still running).
pub fn query_end(state: &str, reason: Option<&str>) -> Option<QueryEnd> {
    match state {
        "SUCCEEDED" => Some(QueryEnd::Succeeded),
        "FAILED" | "CANCELLED" => Some(QueryEnd::Failed(format!(
            "{state}: {}",
            reason.unwrap_or("Athena gave no reason")
        ))),
        _ => None,
    }
}

/// The Athena client of one account and Region, with the queries it sent (for `-v` and tests).
pub struct Athena {
    client: crate::aws::Gated<aws_sdk_athena::Client>,
    opts: AthenaOptions,
    pub sent: Vec<(String, String)>,
}

impl Athena {
    pub fn new(client: crate::aws::Gated<aws_sdk_athena::Client>, opts: AthenaOptions) -> Athena {
        Athena {
            client,
            opts,
            sent: vec![],
        }
    }

    /// Run one statement to its end; the query execution id.
    pub async fn run(&mut self, text: &str) -> Result<String, Error> {
        let mut req = self
            .client
            .start_query_execution()
            .query_string(text)
            .work_group(&self.opts.workgroup)
            .query_execution_context(
                aws_sdk_athena::types::QueryExecutionContext::builder()
                    .database(&self.opts.database)
                    .build(),
            );
        if let Some(out) = &self.opts.output_location {
            req = req.result_configuration(
                aws_sdk_athena::types::ResultConfiguration::builder()
                    .output_location(out)
                    .build(),
            );
        }
        let id = self
            .client
            .run(req.send())
            .await
            .map_err(|e| call_err("athena:StartQueryExecution", e))?
            .query_execution_id
            .ok_or_else(|| {
                Error::Aws("athena:StartQueryExecution answered no QueryExecutionId".into())
            })?;
        self.sent.push((id.clone(), text.to_string()));
        let started = tokio::time::Instant::now();
        let mut wait = Duration::from_millis(100);
        loop {
            let q = self
                .client
                .run(
                    self.client
                        .get_query_execution()
                        .query_execution_id(&id)
                        .send(),
                )
                .await
                .map_err(|e| call_err("athena:GetQueryExecution", e))?;
            let status = q.query_execution.and_then(|e| e.status);
            let state = status
                .as_ref()
                .and_then(|s| s.state.as_ref())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            let reason = status.as_ref().and_then(|s| s.state_change_reason.clone());
            match query_end(&state, reason.as_deref()) {
                Some(QueryEnd::Succeeded) => return Ok(id),
                Some(QueryEnd::Failed(why)) => {
                    return Err(Error::Aws(format!("the Athena query {id} ended {why}")))
                }
                None => {}
            }
            if started.elapsed() >= self.opts.query_timeout {
                // Best effort: do not leave a query running (and billing) behind.
                let _ = self
                    .client
                    .run(
                        self.client
                            .stop_query_execution()
                            .query_execution_id(&id)
                            .send(),
                    )
                    .await;
                return Err(Error::Aws(format!(
                    "the Athena query {id} was still {state} after {}s (stopped); raise --athena-timeout",
                    self.opts.query_timeout.as_secs()
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }

    /// Every data row of a finished query, page by page, as strings (NULL = `None`).
    pub async fn for_each_row(
        &self,
        id: &str,
        mut f: impl FnMut(&[Option<&str>]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut token: Option<String> = None;
        let mut first = true;
        loop {
            let page = self
                .client
                .run(
                    self.client
                        .get_query_results()
                        .query_execution_id(id)
                        .max_results(PAGE)
                        .set_next_token(token.take())
                        .send(),
                )
                .await
                .map_err(|e| call_err("athena:GetQueryResults", e))?;
            let Some(set) = page.result_set else {
                return Err(Error::Aws(format!(
                    "athena:GetQueryResults of {id} answered no ResultSet"
                )));
            };
            let labels: Vec<String> = set
                .result_set_metadata
                .map(|m| {
                    m.column_info
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| c.label.unwrap_or(c.name))
                        .collect()
                })
                .unwrap_or_default();
            let rows: Vec<Vec<Option<String>>> = set
                .rows
                .unwrap_or_default()
                .into_iter()
                .map(|r| {
                    r.data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|d| d.var_char_value)
                        .collect()
                })
                .collect();
            for r in data_rows(&rows, &labels, first) {
                let cells: Vec<Option<&str>> = r.iter().map(|c| c.as_deref()).collect();
                f(&cells)?;
            }
            first = false;
            match page.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(()),
            }
        }
    }
}

fn call_error<E, R>(
    call: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let (code, msg) = crate::aws::error_parts(e);
    match code {
        Some(c) => format!("{call} failed: {c}: {msg}"),
        None => format!("{call} failed: {msg}"),
    }
}

/// [`call_error`]'s sentence, with the call error (and the SDK error behind it) as the source.
fn call_err<E>(
    call: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    let message = call_error(call, &e);
    Error::aws_call(message, crate::aws::CallError::from_sdk_owned(call, e))
}

/// Everything sent to Athena for one rule, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Database, tables, partitions and views (no result rows).
    pub ddl: Vec<String>,
    /// `SELECT count(*)` of each side's view (the versions each inventory holds).
    pub source_count: String,
    pub dest_count: String,
    /// [`sql::counts_sql`]: versions per class.
    pub counts: String,
    /// [`sql::findings_rows_sql`] without a bound: every version that is not intact or in flight.
    pub rows: String,
    pub rule: SqlRule,
}

/// The plan of one rule. Views are named without the database (the query runs in it), so the
/// comparison texts are byte for byte what the embedded engine runs over tables of those names.
pub fn plan(
    scope: &super::compare::RuleScope,
    source: &AthenaInventory,
    source_created: chrono::DateTime<chrono::Utc>,
    dest: &AthenaInventory,
    dest_created: chrono::DateTime<chrono::Utc>,
    database: &str,
) -> Result<Plan, Error> {
    let (cutoff, after) =
        super::from_inventory::cutoffs(source_created, dest_created, scope.in_flight);
    let rule = SqlRule::from_scope(scope, cutoff, Some(after))?;
    let mut statements = ddl(source, database)?;
    // The database statement once.
    statements.extend(ddl(dest, database)?.into_iter().skip(1));
    let (s, d) = (source.view(), dest.view());
    Ok(Plan {
        ddl: statements,
        source_count: format!("SELECT count(*) FROM {s}"),
        dest_count: format!("SELECT count(*) FROM {d}"),
        counts: sql::counts_sql(&rule, &s, &d),
        rows: sql::findings_rows_sql(&rule, &s, &d, None),
        rule,
    })
}

/// The credentials and Region Athena runs with: the account and Region of the spec's first
/// replication's source bucket (the account that owns the source inventory).
async fn athena_client(
    spec: &crate::spec::Spec,
    opts: &crate::aws::AwsOptions,
) -> Result<crate::aws::Gated<aws_sdk_athena::Client>, Error> {
    let r = spec
        .replication
        .first()
        .ok_or_else(|| Error::Spec("the spec has no replication to reconcile".into()))?;
    let b = spec.bucket(r.source.get_ref()).ok_or_else(|| {
        Error::Spec(format!(
            "bucket alias '{}' is not in the spec",
            r.source.get_ref()
        ))
    })?;
    let acct = spec.account(b.account.get_ref()).ok_or_else(|| {
        Error::Spec(format!(
            "account '{}' is not in the spec",
            b.account.get_ref()
        ))
    })?;
    let aws = crate::aws::Factory::shared(opts);
    Ok(aws
        .client_for(b.account.get_ref(), &acct.credentials, b.region.get_ref())
        .await)
}

async fn count(athena: &mut Athena, text: &str) -> Result<usize, Error> {
    let id = athena.run(text).await?;
    let mut n = None;
    athena
        .for_each_row(&id, |r| {
            n = r.first().copied().flatten().and_then(|s| s.parse().ok());
            Ok(())
        })
        .await?;
    n.ok_or_else(|| Error::Aws(format!("the Athena query {id} ({text}) answered no count")))
}

/// `reconcile --athena`: the rules whose buckets are the two inventories' are reconciled on
/// Athena; the spec's other rules are skipped with the reason (never a pass).
pub async fn reconcile(
    spec: &crate::spec::Spec,
    opts: &super::live::LiveOptions,
    athena_opts: &AthenaOptions,
    source_location: &str,
    dest_location: &str,
    work: &std::path::Path,
    sinks: &mut super::from_inventory::Sinks<'_>,
) -> Vec<super::live::RuleOutcome> {
    use super::inventory;
    use super::live::{self, RuleOutcome};
    let mut scopes = live::scopes(spec, opts);
    live::read_lifecycles(spec, opts, &mut scopes).await;
    let mut outcomes: Vec<RuleOutcome> = scopes
        .into_iter()
        .map(|(id, s, d, rule)| RuleOutcome::new(spec, id, &s, &d, rule))
        .collect();
    let located = async {
        let s =
            inventory::s3_manifest(spec, source_location, true, &opts.aws, &work.join("source"))
                .await?;
        let d = inventory::s3_manifest(spec, dest_location, false, &opts.aws, &work.join("dest"))
            .await?;
        let conf = athena_client(spec, &opts.aws).await?;
        Ok::<_, Error>((s, d, conf))
    }
    .await;
    let ((s_uri, s_manifest), (d_uri, d_manifest), conf) = match located {
        Ok(x) => x,
        Err(e) => {
            for o in &mut outcomes {
                o.error = Some(e.to_string());
            }
            return outcomes;
        }
    };
    let ours = |o: &RuleOutcome| {
        o.source_bucket == s_manifest.source_bucket
            && o.destination_bucket == d_manifest.source_bucket
    };
    let tables = AthenaInventory::from_manifest_uri(
        &s_manifest.source_bucket,
        &s_uri,
        s_manifest.format,
        &s_manifest.columns,
    )
    .and_then(|s| {
        AthenaInventory::from_manifest_uri(
            &d_manifest.source_bucket,
            &d_uri,
            d_manifest.format,
            &d_manifest.columns,
        )
        .map(|d| (s, d))
    });
    let mut athena = Athena::new(conf, athena_opts.clone());
    let mut done = Vec::with_capacity(outcomes.len());
    for mut o in outcomes {
        if !ours(&o) {
            o.skipped = Some(format!(
                "the inventories given are of s3://{} and s3://{}, not of this rule's buckets; \
                 reconcile it from its own inventories or from the live listing",
                s_manifest.source_bucket, d_manifest.source_bucket
            ));
            done.push(o);
            continue;
        }
        let (src, dst) = match &tables {
            Ok(t) => t,
            Err(e) => {
                o.error = Some(e.to_string());
                done.push(o);
                continue;
            }
        };
        let p = match plan(
            &o.rule,
            src,
            s_manifest.created,
            dst,
            d_manifest.created,
            &athena_opts.database,
        ) {
            Ok(p) => p,
            Err(why) if !o.rule.tags.is_empty() => {
                o.skipped = Some(why.to_string());
                done.push(o);
                continue;
            }
            Err(e) => {
                o.error = Some(e.to_string());
                done.push(o);
                continue;
            }
        };
        let sent_before = athena.sent.len();
        let r = async {
            for stmt in &p.ddl {
                athena.run(stmt).await?;
            }
            let s = count(&mut athena, &p.source_count).await?;
            let d = count(&mut athena, &p.dest_count).await?;
            let id = athena.run(&p.counts).await?;
            let mut counts = Vec::new();
            athena
                .for_each_row(&id, |r| {
                    counts.push(sql::parse_count(r)?);
                    Ok(())
                })
                .await?;
            let id = athena.run(&p.rows).await?;
            let mut c = super::from_inventory::Collector::new(sinks, &o);
            let rows = athena.for_each_row(&id, |row| c.push(sql::parse_row(row)?));
            match rows.await {
                Ok(()) => Ok((s, d, sql::side_counts(counts), c.verdicts)),
                Err(e) => Err(c.io_error.take().unwrap_or(e)),
            }
        }
        .await;
        match r {
            Ok((s, d, (counts, waiting), verdicts)) => {
                o.source_versions = s;
                o.destination_versions = d;
                o.totals = Some(counts);
                o.destination_in_flight = waiting;
                o.verdicts = verdicts;
                o.inventory = Some(serde_json::json!({
                    "engine": "athena",
                    "source_inventory": s_uri,
                    "source_inventory_created": s_manifest.created.to_rfc3339(),
                    "destination_inventory": d_uri,
                    "destination_inventory_created": d_manifest.created.to_rfc3339(),
                    "in_flight_cutoff": p.rule.in_flight_cutoff.to_rfc3339(),
                    "kms_key_checked": p.rule.replica_encryption.is_none(),
                    "query_execution_ids": athena.sent[sent_before..].iter().map(|(id, _)| id).collect::<Vec<_>>(),
                    "sql": p.counts,
                }));
                if p.rule.replica_encryption.is_some() {
                    o.notes.push(sql::KEY_NOT_IN_INVENTORY.to_string());
                }
                o.notes.push(
                    "reconciled on Athena: the version list holds the versions that are not intact or in flight; intact and in-flight versions are counted only"
                        .to_string(),
                );
            }
            Err(e) => o.error = Some(e.to_string()),
        }
        done.push(o);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::compare::RuleScope;
    use std::collections::BTreeMap;

    fn inv(format: Format, fields: &[&str]) -> AthenaInventory {
        AthenaInventory::from_manifest_uri(
            "rubes-s3-bucket",
            "s3://inv/reports/rubes-s3-bucket/all/2026-11-29T00-00Z/manifest.json",
            format,
            &fields.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    const CSV_FIELDS: [&str; 12] = [
        "Bucket",
        "Key",
        "VersionId",
        "IsLatest",
        "IsDeleteMarker",
        "Size",
        "LastModifiedDate",
        "ETag",
        "StorageClass",
        "IsMultipartUploaded",
        "ReplicationStatus",
        "EncryptionStatus",
    ];

    #[test]
    fn the_manifest_address_gives_the_hive_folder_and_the_partition() {
        let i = inv(Format::Csv, &CSV_FIELDS);
        assert_eq!(
            i.hive_location,
            "s3://inv/reports/rubes-s3-bucket/all/hive/"
        );
        assert_eq!(i.dt, "2026-11-29-00-00");
        assert_eq!(i.table(), "inv_rubes_s3_bucket_202611290000");
        assert_eq!(i.view(), "inv_rubes_s3_bucket_202611290000_norm");
        for bad in [
            "inv/x/2026-11-29T00-00Z/manifest.json",
            "s3://inv/x/2026-11-29T00-00Z/manifest.checksum",
            "s3://inv/x/latest/manifest.json",
        ] {
            assert!(
                AthenaInventory::from_manifest_uri("b", bad, Format::Csv, &[]).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            dt_of_dated_folder("2026-11-29T00-00Z").as_deref(),
            Some("2026-11-29-00-00")
        );
        assert_eq!(dt_of_dated_folder("2026-11-29T00:00Z"), None);
    }

    #[test]
    fn the_tables_follow_the_documented_templates_per_format() {
        let csv = ddl(&inv(Format::Csv, &CSV_FIELDS), "db").unwrap();
        assert_eq!(csv.len(), 4);
        assert_eq!(csv[0], "CREATE DATABASE IF NOT EXISTS db");
        assert!(csv[1].contains("OpenCSVSerde"), "{}", csv[1]);
        assert!(csv[1].contains("`size` string") && csv[1].contains("`last_modified_date` string"));
        assert!(csv[1].contains("SymlinkTextInputFormat") && csv[1].contains("PARTITIONED BY"));
        assert!(csv[1].contains("LOCATION 's3://inv/reports/rubes-s3-bucket/all/hive/'"));
        assert!(
            csv[2].contains("PARTITION (dt = '2026-11-29-00-00')"),
            "{}",
            csv[2]
        );
        assert!(csv[3].contains("url_decode(key) AS key"), "{}", csv[3]);
        assert!(csv[3].contains("from_iso8601_timestamp"));
        let parquet_fields = [
            "bucket",
            "key",
            "version_id",
            "is_latest",
            "is_delete_marker",
            "size",
            "last_modified_date",
            "e_tag",
            "replication_status",
            "encryption_status",
        ];
        let pq = ddl(&inv(Format::Parquet, &parquet_fields), "db").unwrap();
        assert!(pq[1].contains("ParquetHiveSerDe"));
        assert!(
            pq[1].contains("`size` bigint") && pq[1].contains("`last_modified_date` timestamp")
        );
        assert!(
            pq[3].contains("  key AS key")
                && pq[3].contains("CAST(last_modified_date AS timestamp) AS last_modified")
                && !pq[3].contains("from_unixtime"),
            "{}",
            pq[3]
        );
        // ORC: the template's OrcSerde, the Parquet column types and view.
        let orc = ddl(&inv(Format::Orc, &parquet_fields), "db").unwrap();
        assert!(
            orc[1].contains("ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.orc.OrcSerde'")
                && orc[1].contains("SymlinkTextInputFormat")
                && orc[1].contains("`size` bigint")
                && orc[1].contains("`last_modified_date` timestamp")
                && orc[1].contains("LOCATION 's3://inv/reports/rubes-s3-bucket/all/hive/'"),
            "{}",
            orc[1]
        );
        assert_eq!(orc[2], pq[2]);
        assert_eq!(orc[3], pq[3]);
        // Columns follow the file's order (OpenCSVSerde maps by position).
        let b = csv[1].find("`bucket`").unwrap();
        let k = csv[1].find("`key`").unwrap();
        let e = csv[1].find("`encryption_status`").unwrap();
        assert!(b < k && k < e);
    }

    #[test]
    fn an_inventory_without_a_needed_field_is_refused_naming_it() {
        let fields: Vec<&str> = CSV_FIELDS
            .iter()
            .copied()
            .filter(|f| *f != "ReplicationStatus")
            .collect();
        let e = ddl(&inv(Format::Csv, &fields), "db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("replication_status"), "{e}");
    }

    #[test]
    fn only_a_first_row_that_is_the_labels_is_dropped() {
        let labels = vec!["class".to_string(), "n".to_string()];
        let s = |v: &str| Some(v.to_string());
        let header = vec![s("class"), s("n")];
        let data = vec![s("missing"), s("3")];
        let rows = vec![header.clone(), data.clone()];
        assert_eq!(data_rows(&rows, &labels, true), &rows[1..]);
        // Not on later pages, and not when the first row is data.
        assert_eq!(data_rows(&rows, &labels, false), &rows[..]);
        let only_data = vec![data.clone()];
        assert_eq!(data_rows(&only_data, &labels, true), &only_data[..]);
        assert_eq!(data_rows(&[], &labels, true), &[] as &[Vec<Option<String>>]);
    }

    #[test]
    fn only_succeeded_is_success_and_failures_carry_athenas_reason() {
        assert_eq!(query_end("SUCCEEDED", None), Some(QueryEnd::Succeeded));
        assert_eq!(query_end("RUNNING", None), None);
        assert_eq!(query_end("QUEUED", None), None);
        match query_end("FAILED", Some("TABLE_NOT_FOUND: x")) {
            Some(QueryEnd::Failed(w)) => assert!(w.contains("TABLE_NOT_FOUND"), "{w}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            query_end("CANCELLED", None),
            Some(QueryEnd::Failed(_))
        ));
    }

    fn scope(tags: BTreeMap<String, String>) -> RuleScope {
        RuleScope {
            label: "r".into(),
            prefix: "reports/".into(),
            tags,
            delete_markers: false,
            in_flight: std::time::Duration::from_secs(1800),
            replica_kms_key_arn: None,
            encryption: Default::default(),
            other_sources: vec![],
            lifecycle: crate::reconcile::compare::LifecycleMarkers::None,
        }
    }

    #[test]
    fn the_plan_sends_the_engine_tested_texts_over_unqualified_views() {
        let s = inv(Format::Csv, &CSV_FIELDS);
        let mut d = inv(Format::Csv, &CSV_FIELDS);
        d.bucket = "clint-s3-bucket".into();
        let created: chrono::DateTime<chrono::Utc> = "2026-11-29T00:00:00Z".parse().unwrap();
        let p = plan(&scope(BTreeMap::new()), &s, created, &d, created, "db").unwrap();
        assert_eq!(
            p.ddl.len(),
            7,
            "the database once, then table, partition, view each"
        );
        assert_eq!(p.counts, sql::counts_sql(&p.rule, &s.view(), &d.view()));
        assert_eq!(
            p.rows,
            sql::findings_rows_sql(&p.rule, &s.view(), &d.view(), None)
        );
        assert!(!p.counts.contains("db."), "{}", p.counts);
        let tagged = BTreeMap::from([("k".to_string(), "v".to_string())]);
        assert!(plan(&scope(tagged), &s, created, &d, created, "db").is_err());
    }
}
