//! The embedded engine of `reconcile` from S3 Inventory: Apache DataFusion runs the one
//! comparison SQL ([`super::sql`]) over the two inventories, exposed as tables with the
//! normalised columns that SQL reads. Results stream out batch by batch, cast to strings and read
//! by [`sql::parse_row`], the parser the Athena path uses on GetQueryResults' strings, so that
//! ten million rows never become ten million Rust structs at once.
//!
//! Memory: a bounded DataFusion memory pool ([`Engine::new`]) with spilling to a temporary
//! directory; joins are planned as sort-merge joins, which spill, rather than hash joins, which
//! hold the whole build side in memory.
//! <https://datafusion.apache.org/user-guide/configs.html>

use super::compare::Class;
use super::sql::{self, SqlRow};
use super::Error;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One inventory row with the normalised columns of [`super::sql`] (see its table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormRow {
    pub key: String,
    pub version_id: String,
    pub is_delete_marker: bool,
    pub size: i64,
    pub etag: Option<String>,
    pub last_modified: DateTime<Utc>,
    pub replication_status: Option<String>,
    pub encryption_status: Option<String>,
}

/// The schema of the normalised tables.
pub fn normalised_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("version_id", DataType::Utf8, false),
        Field::new("is_delete_marker", DataType::Boolean, false),
        Field::new("size", DataType::Int64, false),
        Field::new("etag", DataType::Utf8, true),
        Field::new(
            "last_modified",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("replication_status", DataType::Utf8, true),
        Field::new("encryption_status", DataType::Utf8, true),
    ]))
}

/// Normalised rows as one Arrow batch.
pub fn rows_batch(rows: &[NormRow]) -> Result<RecordBatch, Error> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.key.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.version_id.as_str()),
        )),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.is_delete_marker).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.size))),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.etag.as_deref()),
        )),
        Arc::new(TimestampMillisecondArray::from_iter_values(
            rows.iter().map(|r| r.last_modified.timestamp_millis()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.replication_status.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.encryption_status.as_deref()),
        )),
    ];
    Ok(RecordBatch::try_new(normalised_schema(), cols)?)
}

/// The text of a caught panic's payload (`panic!` gives a `&str` or a `String`).
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Keeps the default panic hook from printing a panic raised inside the Parquet or Arrow
/// decoders (a damaged data file whose footer still reads): every such panic happens under the
/// engine's catch ([`Engine::for_each_string_row`], the blocking tasks of
/// [`super::inventory`]) and becomes an `error` naming the file with the panic's message, so
/// the hook's "thread panicked" text would only look like a crash. Any other panic still goes
/// to the default hook. Installed once, by the first engine.
pub(crate) fn quiet_decoder_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_decoder = info.location().is_some_and(|l| {
                Path::new(l.file()).components().any(|c| {
                    let c = c.as_os_str().to_string_lossy();
                    c.starts_with("parquet-") || c.starts_with("arrow-")
                })
            });
            if !in_decoder {
                default(info);
            }
        }));
    });
}

/// A DataFusion session with a bounded memory pool.
pub struct Engine {
    pub ctx: SessionContext,
}

/// Bytes the joins wrote to the spill directory per inventory row at their peak, measured with
/// the default pool (1 GiB): 0.35 GiB for 1 M versions a side and 3.5 GiB for 10 M a side, both
/// about 188 bytes a row (benches/README.md, "reconcile from inventories").
pub const SPILL_BYTES_PER_ROW: u64 = 188;

/// The spill room one comparison of `rows` inventory rows (both sides) needs: none while the
/// rows fit in half the pool (nothing spills; measured: 100 k a side never spilled), else the
/// measured peak with a quarter on top, since spill files are written before older ones are
/// removed.
pub fn spill_estimate(rows: u64, memory_limit: usize) -> u64 {
    let peak = rows.saturating_mul(SPILL_BYTES_PER_ROW);
    if peak <= memory_limit as u64 / 2 {
        0
    } else {
        peak.saturating_add(peak / 4)
    }
}

/// Free bytes for an unprivileged writer on the file system holding `dir`, when the OS says.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    rustix::fs::statvfs(dir)
        .ok()
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// One line for the progress output: where the joins spill and how much they may write.
pub fn spill_line(dir: &Path, rows: u64, need: u64, free: Option<u64>) -> String {
    let free = free.map_or_else(
        || "free space unknown".to_string(),
        |f| format!("{} free", gib(f)),
    );
    if need == 0 {
        format!(
            "inventory engine: {rows} rows fit in its memory; nothing should spill to {} ({free})",
            dir.display()
        )
    } else {
        format!(
            "inventory engine: {rows} rows; its joins may spill up to {} to {} ({free})",
            gib(need),
            dir.display()
        )
    }
}

/// Refuses, before any join runs, a spill directory that cannot hold `need` bytes: a join that
/// runs out of disk half way fails late and leaves the disk full; this says where, how much, and
/// what to do. Unknown free space is not refused (the engine's own error then names the cause).
pub fn check_spill_room(dir: &Path, need: u64, free: Option<u64>) -> Result<(), Error> {
    match free {
        Some(free) if free < need => Err(Error::NoRoom(format!(
            "the spill directory {} has {} free, and comparing these inventories may write up to \
             {} there ({SPILL_BYTES_PER_ROW} bytes a row, measured) — fix: free space there, pass \
             --spill-dir DIR on a larger disk, or raise --engine-memory",
            dir.display(),
            gib(free),
            gib(need)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod spill_tests {
    use super::*;

    #[test]
    fn spill_room_is_refused_before_the_joins_when_the_disk_is_too_small() {
        let gib = 1u64 << 30;
        // 10 M versions a side with the default pool: the measured 3.5 GiB, plus a quarter.
        let need = spill_estimate(20_000_000, 1 << 30);
        assert!(need > 3 * gib && need < 5 * gib, "{need}");
        assert_eq!(
            spill_estimate(200_000, 1 << 30),
            0,
            "fits in memory: no spill"
        );
        let dir = Path::new("/spill");
        let e = check_spill_room(dir, need, Some(gib))
            .unwrap_err()
            .to_string();
        assert!(
            e.to_string().contains("/spill has 1.00 GiB free")
                && e.to_string().contains("--spill-dir"),
            "{e}"
        );
        assert!(check_spill_room(dir, need, Some(10 * gib)).is_ok());
        assert!(
            check_spill_room(dir, need, None).is_ok(),
            "unknown free space: not refused"
        );
        assert!(free_bytes(&std::env::temp_dir()).is_some());
        assert!(spill_line(dir, 20_000_000, need, Some(gib)).contains("may spill up to"));
    }
}

impl Engine {
    /// `memory_limit` bytes for the engine's operators (sorts, joins, aggregates); beyond it
    /// they spill to `spill_dir` (the OS temporary directory when `None`).
    pub fn new(memory_limit: usize, spill_dir: Option<&Path>) -> Result<Engine, Error> {
        quiet_decoder_panics();
        // A fair pool, not DataFusion's default greedy one: the join sorts both inventories in
        // every partition at once, and with a greedy pool one sorter took 706 MB of the 1 GiB
        // while another's merge (which cannot spill) found nothing left, failing the 10 M vs
        // 10 M benchmark. The fair pool gives each spilling operator an even share.
        // https://docs.rs/datafusion-execution/latest/datafusion_execution/memory_pool/struct.FairSpillPool.html
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(memory_limit),
            std::num::NonZeroUsize::new(5).expect("5 is not zero"),
        );
        let mut rt = RuntimeEnvBuilder::new().with_memory_pool(Arc::new(pool));
        if let Some(d) = spill_dir {
            rt = rt.with_temp_file_path(d);
        }
        let rt = rt.build_arc()?;
        // DataFusion's own `DATAFUSION_*` variables (e.g. DATAFUSION_EXECUTION_TARGET_PARTITIONS)
        // tune the engine for an unusual machine; what the comparison depends on is set below.
        // https://datafusion.apache.org/user-guide/configs.html
        let mut config = SessionConfig::from_env()?;
        // Sort-merge joins spill; hash joins keep the build side in memory.
        config.options_mut().optimizer.prefer_hash_join = false;
        Ok(Engine {
            ctx: SessionContext::new_with_config_rt(config, rt),
        })
    }

    /// Register normalised rows held in memory as table `name` (tests, small inventories).
    pub fn register_rows(&self, name: &str, rows: &[NormRow]) -> Result<(), Error> {
        let batch = rows_batch(rows)?;
        let t = MemTable::try_new(normalised_schema(), vec![vec![batch]])?;
        self.ctx.register_table(name, Arc::new(t))?;
        Ok(())
    }

    /// Run a query and hand every row, cast to strings, to `f` (the same strings the Athena
    /// path reads), one batch at a time. A panic inside the engine (the Parquet decoder on a
    /// damaged data file that still has a valid footer) is an error here, never the end of
    /// the process: the caller then finds the file ([`super::inventory::unreadable`]).
    pub async fn for_each_string_row(
        &self,
        sql_text: &str,
        f: impl FnMut(&[Option<&str>]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        use futures::FutureExt;
        std::panic::AssertUnwindSafe(self.string_rows(sql_text, f))
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(Error::EnginePanic(panic_message(&*p))))
    }

    async fn string_rows(
        &self,
        sql_text: &str,
        mut f: impl FnMut(&[Option<&str>]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let df = self.ctx.sql(sql_text).await?;
        let mut stream = df.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let cols: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .map(|c| cast(c, &DataType::Utf8))
                .collect::<Result<_, _>>()
                .map_err(Error::EngineArrow)?;
            let strs: Vec<&datafusion::arrow::array::GenericStringArray<i32>> =
                cols.iter().map(|c| c.as_string::<i32>()).collect();
            let mut row: Vec<Option<&str>> = Vec::with_capacity(strs.len());
            for i in 0..batch.num_rows() {
                row.clear();
                row.extend(strs.iter().map(|a| (!a.is_null(i)).then(|| a.value(i))));
                f(&row)?;
            }
        }
        Ok(())
    }

    /// Run [`sql::counts_sql`]: versions per class (zeros included), and the destination
    /// versions among the in-flight ones ([`sql::side_counts`]).
    pub async fn counts(&self, sql_text: &str) -> Result<(BTreeMap<Class, usize>, usize), Error> {
        let mut got = Vec::new();
        self.for_each_string_row(sql_text, |r| {
            got.push(sql::parse_count(r)?);
            Ok(())
        })
        .await?;
        Ok(sql::side_counts(got))
    }

    /// Run [`sql::comparison_sql`] or [`sql::findings_rows_sql`], one [`SqlRow`] at a time.
    pub async fn for_each_row(
        &self,
        sql_text: &str,
        mut f: impl FnMut(SqlRow) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.for_each_string_row(sql_text, |r| f(sql::parse_row(r)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    //! The differential test: the SQL run by DataFusion and [`compare::classify`] give the same
    //! class to every (side, key, version id), over generated inventories.
    use super::*;
    use crate::access::replica_sse::{ObjectSse, SseKind};
    use crate::reconcile::compare::EncryptionScope;
    use crate::reconcile::compare::{self, Head, HeadInfo, RuleScope, Version};
    use crate::reconcile::sql::{Side, SqlRule};
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::time::Duration;

    const KMS_KEY: &str = "arn:aws:kms:ap-southeast-2:271089868719:key/replica";
    const WINDOW: i64 = 1800;

    fn now() -> DateTime<Utc> {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    /// An inventory row as the live path would know it: every row's status and encryption
    /// are "seen". The inventory has no KMS key id: an SSE-KMS replica is taken to be under the
    /// rule's key (the inventory-visible fields only; see `sql`'s module doc). SSE-C versions
    /// cannot be HEADed without the customer key, so the live path never sees their encryption:
    /// the generators below leave SSE-C out of the differential comparison (the SQL's SSE-C case
    /// has its own test).
    fn as_version(r: &NormRow, kms_key: Option<&str>) -> Version {
        let sse = r.encryption_status.as_deref().and_then(|e| match e {
            "SSE-S3" => Some("AES256".to_string()),
            "SSE-KMS" => Some("aws:kms".to_string()),
            "DSSE-KMS" => Some("aws:kms:dsse".to_string()),
            "NOT-SSE" => None,
            other => Some(other.to_string()),
        });
        let kms = matches!(sse.as_deref(), Some("aws:kms" | "aws:kms:dsse"));
        Version {
            key: r.key.clone(),
            version_id: r.version_id.clone(),
            size: r.size as u64,
            etag: r.etag.clone(),
            last_modified: r.last_modified,
            delete_marker: r.is_delete_marker,
            head: Head::Seen(HeadInfo {
                replication_status: r.replication_status.clone(),
                sse,
                kms_key_id: kms.then(|| kms_key.map(str::to_string)).flatten(),
            }),
        }
    }

    type Verdicts = BTreeMap<(String, String, String), Class>;

    fn classify_live(scope: &RuleScope, src: &[NormRow], dst: &[NormRow]) -> Verdicts {
        let key = scope.replica_kms_key_arn.as_deref();
        let s: Vec<Version> = src.iter().map(|r| as_version(r, key)).collect();
        let d: Vec<Version> = dst.iter().map(|r| as_version(r, key)).collect();
        compare::classify(scope, "s", &s, "d", &d, now())
            .into_iter()
            .map(|v| ((v.bucket, v.key, v.version_id), v.class))
            .collect()
    }

    fn run_sql(
        scope: &RuleScope,
        src: &[NormRow],
        dst: &[NormRow],
        mutate: &dyn Fn(String) -> String,
    ) -> Verdicts {
        let rule =
            SqlRule::from_scope(scope, now() - chrono::Duration::seconds(WINDOW), None).unwrap();
        let text = mutate(sql::comparison_sql(&rule, "src", "dst"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let e = Engine::new(64 << 20, None).unwrap();
            e.register_rows("src", src).unwrap();
            e.register_rows("dst", dst).unwrap();
            let mut out = Verdicts::new();
            e.for_each_row(&text, |r| {
                let b = if r.side == Side::Source { "s" } else { "d" };
                let prev = out.insert((b.into(), r.key, r.version_id), r.class);
                assert!(prev.is_none(), "a version got two rows");
                Ok(())
            })
            .await
            .unwrap();
            out
        })
    }

    fn scope(prefix: &str, delete_markers: bool, kms: bool) -> RuleScope {
        RuleScope {
            label: "r".into(),
            prefix: prefix.into(),
            tags: Default::default(),
            delete_markers,
            in_flight: Duration::from_secs(WINDOW as u64),
            replica_kms_key_arn: kms.then(|| KMS_KEY.to_string()),
            encryption: EncryptionScope {
                sse_kms_encrypted_objects: kms,
                dest_default: Some(ObjectSse::new(SseKind::S3, None)),
                key_arns: Default::default(),
            },
            other_sources: vec![],
            lifecycle: compare::LifecycleMarkers::None,
        }
    }

    const ETAGS: [Option<&str>; 4] = [
        Some("0123456789abcdef0123456789abcdef"),
        Some("fedcba9876543210fedcba9876543210"),
        Some("0123456789abcdef0123456789abcdef-2"),
        None,
    ];
    const STATUSES: [Option<&str>; 5] = [
        None,
        Some("PENDING"),
        Some("COMPLETED"),
        Some("FAILED"),
        Some("REPLICA"),
    ];
    const ENCS: [&str; 5] = ["SSE-S3", "NOT-SSE", "SSE-KMS", "DSSE-KMS", "SSE-C"];

    prop_compose! {
        fn row()(
            dir in prop::sample::select(vec!["reports/", "reports-old/", "scratch/", "", "rép'/"]),
            name in prop::sample::select(vec!["a", "b", "c d", "é"]),
            vid in prop::sample::select(vec!["v1", "v2", "null"]),
            dm in prop::bool::weighted(0.2),
            size in 0i64..3,
            etag in 0usize..4,
            age in -400i64..400,
            status in 0usize..5,
            enc in 0usize..4,
        ) -> NormRow {
            NormRow {
                key: format!("{dir}{name}"),
                version_id: vid.into(),
                is_delete_marker: dm,
                size: if dm { 0 } else { size },
                etag: if dm { None } else { ETAGS[etag].map(str::to_string) },
                // Around the in-flight cutoff, the cutoff itself included.
                last_modified: now() - chrono::Duration::seconds(WINDOW + age),
                replication_status: if dm { None } else { STATUSES[status].map(str::to_string) },
                encryption_status: Some(ENCS[enc].to_string()),
            }
        }
    }

    /// A replica of `s`, possibly changed in one field.
    fn replica(s: &NormRow, change: usize, enc: usize) -> NormRow {
        let mut d = s.clone();
        d.replication_status = Some("REPLICA".into());
        d.encryption_status = Some(ENCS[enc].to_string());
        d.last_modified = s.last_modified + chrono::Duration::seconds(1);
        match change {
            0 => d.size += 1,
            1 => d.etag = ETAGS[1].map(str::to_string),
            2 => d.is_delete_marker = !d.is_delete_marker,
            _ => {}
        }
        d
    }

    fn dedup(rows: Vec<NormRow>) -> Vec<NormRow> {
        let mut seen = BTreeSet::new();
        rows.into_iter()
            .filter(|r| seen.insert((r.key.clone(), r.version_id.clone())))
            .collect()
    }

    prop_compose! {
        fn case()(
            src in prop::collection::vec(row(), 0..25),
            extra in prop::collection::vec(row(), 0..6),
            picks in prop::collection::vec((any::<bool>(), 0usize..8, 0usize..4), 25),
            prefix in prop::sample::select(vec!["reports/", "", "reports", "rép'/"]),
            dms in any::<bool>(),
            kms in any::<bool>(),
        ) -> (RuleScope, Vec<NormRow>, Vec<NormRow>) {
            let src = dedup(src);
            let mut dst: Vec<NormRow> = src
                .iter()
                .zip(&picks)
                .filter(|(_, (take, _, _))| *take)
                .map(|(s, (_, change, enc))| replica(s, *change, *enc))
                .collect();
            dst.extend(extra);
            (scope(prefix, dms, kms), src, dedup(dst))
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
        #[test]
        fn the_sql_agrees_with_classify_on_every_version((scope, src, dst) in case()) {
            let live = classify_live(&scope, &src, &dst);
            let sql = run_sql(&scope, &src, &dst, &|s| s);
            prop_assert_eq!(live, sql);
        }
    }

    /// One version of every kind, so that a mutation of any branch changes some verdict.
    fn rich() -> (RuleScope, Vec<NormRow>, Vec<NormRow>) {
        let old = now() - chrono::Duration::seconds(WINDOW + 60);
        let base = |key: &str, status: Option<&str>| NormRow {
            key: format!("reports/{key}"),
            version_id: "v1".into(),
            is_delete_marker: false,
            size: 1,
            etag: ETAGS[0].map(str::to_string),
            last_modified: old,
            replication_status: status.map(str::to_string),
            encryption_status: Some("SSE-KMS".into()),
        };
        let mut src = vec![
            base("intact", Some("COMPLETED")),
            base("young", Some("PENDING")),
            base("missing", Some("COMPLETED")),
            base("failed", Some("FAILED")),
            base("pending", Some("PENDING")),
            base("never", None),
            base("size", Some("COMPLETED")),
            base("etag", Some("COMPLETED")),
            base("enc", Some("COMPLETED")),
            base("dm", None),
            base("dm-missing", None),
            base("out", None),
        ];
        src[1].last_modified = now() - chrono::Duration::seconds(60);
        src[9].is_delete_marker = true;
        src[10].is_delete_marker = true;
        src[11].key = "scratch/out".into();
        // ETags are compared only between SSE-S3 (or unencrypted) versions.
        src[7].encryption_status = Some("SSE-S3".into());
        let mut dst: Vec<NormRow> = [0usize, 6, 7, 8, 9]
            .iter()
            .map(|&i| replica(&src[i], 9, 2))
            .collect();
        dst[1].size = 2;
        dst[2].etag = ETAGS[1].map(str::to_string);
        dst[2].encryption_status = Some("SSE-S3".into());
        dst[3].encryption_status = Some("SSE-S3".into());
        let mut orphan = base("orphan", Some("REPLICA"));
        orphan.version_id = "x".into();
        dst.push(orphan);
        // Another version of a missing key: not its replica (replicas keep the version id).
        let mut other = base("missing", Some("REPLICA"));
        other.version_id = "other".into();
        dst.push(other);
        // A marker an S3 Lifecycle expiration rule may have made (never replicated), and a
        // replica of another rule into the same bucket.
        let mut lc = base("expired/dm", None);
        lc.is_delete_marker = true;
        src.push(lc);
        dst.push(base("app/replica", Some("REPLICA")));
        let mut scope = scope("reports/", true, true);
        scope.lifecycle =
            compare::LifecycleMarkers::Expiring(vec![("expire".into(), "reports/expired/".into())]);
        scope.other_sources = vec![compare::OtherRule {
            label: "app".into(),
            prefix: "reports/app/".into(),
            delete_markers: true,
        }];
        (scope, src, dst)
    }

    #[test]
    fn the_rich_case_has_every_class_the_sql_can_answer_and_agrees() {
        let (scope, src, dst) = rich();
        let live = classify_live(&scope, &src, &dst);
        let got: BTreeSet<Class> = live.values().copied().collect();
        let want: BTreeSet<Class> = Class::ALL
            .into_iter()
            .filter(|c| *c != Class::Unverified)
            .collect();
        assert_eq!(got, want);
        assert_eq!(run_sql(&scope, &src, &dst, &|s| s), live);
    }

    /// The SSE-C case the differential test leaves out (the live path cannot HEAD SSE-C
    /// versions): SSE-C sources replicate as SSE-C, whatever the replica key.
    #[test]
    fn sse_c_sources_need_sse_c_replicas_in_the_sql() {
        let s = |key: &str| NormRow {
            key: format!("reports/{key}"),
            version_id: "v1".into(),
            is_delete_marker: false,
            size: 1,
            etag: ETAGS[2].map(str::to_string),
            last_modified: now() - chrono::Duration::seconds(WINDOW + 60),
            replication_status: Some("COMPLETED".into()),
            encryption_status: Some("SSE-C".into()),
        };
        let src = vec![s("same"), s("other")];
        let dst = vec![replica(&src[0], 9, 4), replica(&src[1], 9, 0)];
        let got = run_sql(&scope("reports/", true, true), &src, &dst, &|s| s);
        assert_eq!(
            got[&("s".into(), "reports/same".into(), "v1".into())],
            Class::Intact
        );
        assert_eq!(
            got[&("s".into(), "reports/other".into(), "v1".into())],
            Class::EncryptionMismatch
        );
    }

    #[test]
    fn a_mutated_sql_fails_the_differential_test() {
        let (scope, src, dst) = rich();
        let live = classify_live(&scope, &src, &dst);
        type Mutation = Box<dyn Fn(String) -> String>;
        let mutations: Vec<(&str, Mutation)> = vec![
            (
                "FAILED and PENDING branches swapped",
                Box::new(|s: String| {
                    s.replace(
                        "= 'FAILED' THEN 'failed'",
                        "= 'FAILED' THEN 'pending-too-long'",
                    )
                }),
            ),
            (
                "in-flight compares the other way",
                Box::new(|s: String| s.replace("s.last_modified >", "s.last_modified <")),
            ),
            (
                "size not compared",
                Box::new(|s: String| s.replace("s.size <> d.size", "s.size <> s.size")),
            ),
            (
                "ETag not compared",
                Box::new(|s: String| s.replace("s.etag <> d.etag", "s.etag <> s.etag")),
            ),
            (
                "join on key only",
                Box::new(|s: String| s.replace(" AND s.version_id = d.version_id", "")),
            ),
            (
                "delete markers never missing",
                Box::new(|s: String| {
                    s.replace(
                        "WHEN s.is_delete_marker THEN 'missing'",
                        "WHEN s.is_delete_marker THEN 'intact'",
                    )
                }),
            ),
            (
                "lifecycle markers taken as missing",
                Box::new(|s: String| s.replace("THEN 'lifecycle-marker'", "THEN 'missing'")),
            ),
            (
                "other sources taken as no source",
                Box::new(|s: String| s.replace("THEN 'other-source'", "THEN 'no-source'")),
            ),
            (
                "encryption not checked",
                Box::new(|s: String| s.replace("THEN 'encryption-mismatch'", "THEN 'intact'")),
            ),
        ];
        for (what, m) in mutations {
            let text = m(sql::comparison_sql(
                &SqlRule::from_scope(&scope, now() - chrono::Duration::seconds(WINDOW), None)
                    .unwrap(),
                "src",
                "dst",
            ));
            assert_ne!(
                text,
                sql::comparison_sql(
                    &SqlRule::from_scope(&scope, now() - chrono::Duration::seconds(WINDOW), None)
                        .unwrap(),
                    "src",
                    "dst"
                ),
                "mutation {what} did not apply"
            );
            let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_sql(&scope, &src, &dst, &|s| m(s))
            }));
            assert!(
                got.map(|g| g != live).unwrap_or(true),
                "mutation {what} went unnoticed"
            );
        }
    }

    #[test]
    fn counts_and_bounded_findings_rows_match_the_comparison() {
        let (scope, src, dst) = rich();
        let rule =
            SqlRule::from_scope(&scope, now() - chrono::Duration::seconds(WINDOW), None).unwrap();
        let live = classify_live(&scope, &src, &dst);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let e = Engine::new(64 << 20, None).unwrap();
            e.register_rows("src", &src).unwrap();
            e.register_rows("dst", &dst).unwrap();
            let (counts, waiting) = e
                .counts(&sql::counts_sql(&rule, "src", "dst"))
                .await
                .unwrap();
            assert_eq!(
                waiting, 0,
                "no destination version is newer than the source's"
            );
            let mut want = sql::full_counts([]);
            for c in live.values() {
                *want.get_mut(c).unwrap() += 1;
            }
            assert_eq!(counts, want);
            let mut rows = Vec::new();
            e.for_each_row(&sql::findings_rows_sql(&rule, "src", "dst", Some(1)), |r| {
                rows.push(r);
                Ok(())
            })
            .await
            .unwrap();
            // One per non-intact class; Missing has two versions but the sample holds one.
            assert_eq!(counts[&Class::Missing], 2);
            let classes: Vec<Class> = rows.iter().map(|r| r.class).collect();
            let mut expect: Vec<Class> = want
                .iter()
                .filter(|(c, n)| **n > 0 && !matches!(c, Class::Intact | Class::InFlight))
                .map(|(c, _)| *c)
                .collect();
            expect.sort_by_key(|c| c.as_str());
            assert_eq!(classes, expect);
            let mut all = 0;
            e.for_each_row(&sql::findings_rows_sql(&rule, "src", "dst", None), |_| {
                all += 1;
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(
                all,
                want.iter()
                    .filter(|(c, _)| !matches!(c, Class::Intact | Class::InFlight))
                    .map(|(_, n)| n)
                    .sum::<usize>()
            );
        });
    }

    #[test]
    fn a_destination_version_newer_than_the_source_inventory_is_not_blamed() {
        let (scope, src, mut dst) = rich();
        let source_inventory_taken = now() - chrono::Duration::seconds(600);
        let mut late = dst.last().unwrap().clone();
        late.key = "reports/written-after-the-source-inventory".into();
        late.last_modified = now() - chrono::Duration::seconds(300);
        dst.push(late);
        let run = |after: Option<DateTime<Utc>>| {
            let rule =
                SqlRule::from_scope(&scope, now() - chrono::Duration::seconds(WINDOW), after)
                    .unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let e = Engine::new(64 << 20, None).unwrap();
                e.register_rows("src", &src).unwrap();
                e.register_rows("dst", &dst).unwrap();
                let mut got = BTreeMap::new();
                e.for_each_row(&sql::comparison_sql(&rule, "src", "dst"), |r| {
                    got.insert(r.key.clone(), r.class);
                    Ok(())
                })
                .await
                .unwrap();
                got
            })
        };
        let k = "reports/written-after-the-source-inventory";
        assert_eq!(run(None)[k], Class::NoSource);
        let stale = run(Some(source_inventory_taken));
        assert_eq!(stale[k], Class::InFlight);
        // An older orphan is still blamed.
        assert_eq!(stale["reports/orphan"], Class::NoSource);
    }

    /// A source version's kind in the state matrix: its replication status as HeadObject and
    /// the inventory give it, or a delete marker (which carries none): one a request made
    /// (`DeleteMarker`), or one S3 Lifecycle made, under a lifecycle expiration rule of the
    /// source (`LifecycleMarker`; [`LIFECYCLE_PREFIX`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Status(Option<&'static str>),
        DeleteMarker,
        LifecycleMarker,
    }

    impl Kind {
        fn is_marker(self) -> bool {
            matches!(self, Kind::DeleteMarker | Kind::LifecycleMarker)
        }
    }

    const KINDS: [Kind; 6] = [
        Kind::Status(None),
        Kind::Status(Some("PENDING")),
        Kind::Status(Some("COMPLETED")),
        Kind::Status(Some("FAILED")),
        Kind::Status(Some("REPLICA")),
        Kind::DeleteMarker,
    ];

    /// The keys the source's S3 Lifecycle expiration rule covers in the full-product test.
    const LIFECYCLE_PREFIX: &str = "reports/expiring/";
    /// A KMS key that is not the rule's replica key.
    const OTHER_KEY: &str = "arn:aws:kms:ap-southeast-2:271089868719:key/other";

    /// The source version's encryption (the encryption dimension of the full-product test).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum SrcEnc {
        NotSse,
        S3,
        /// SSE-KMS under the rule's ReplicaKmsKeyID.
        KmsRuleKey,
        /// SSE-KMS under another key.
        KmsOtherKey,
        /// DSSE-KMS (under another key: the rule's key re-encrypts it all the same).
        Dsse,
        C,
    }

    const SRC_ENCS: [SrcEnc; 6] = [
        SrcEnc::NotSse,
        SrcEnc::S3,
        SrcEnc::KmsRuleKey,
        SrcEnc::KmsOtherKey,
        SrcEnc::Dsse,
        SrcEnc::C,
    ];

    impl SrcEnc {
        fn sse(self) -> ObjectSse {
            match self {
                SrcEnc::NotSse => ObjectSse::new(SseKind::None, None),
                SrcEnc::S3 => ObjectSse::new(SseKind::S3, None),
                SrcEnc::KmsRuleKey => ObjectSse::new(SseKind::Kms, Some(KMS_KEY)),
                SrcEnc::KmsOtherKey => ObjectSse::new(SseKind::Kms, Some(OTHER_KEY)),
                SrcEnc::Dsse => ObjectSse::new(SseKind::Dsse, Some(OTHER_KEY)),
                SrcEnc::C => ObjectSse::new(SseKind::C, None),
            }
        }
    }

    /// The destination side of a source version: no replica, or a replica encrypted as S3
    /// encrypts it (`Right`), as another type (`WrongKind`), or as the right type under another
    /// KMS key (`WrongKey`, KMS types only).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Replica {
        Absent,
        Right,
        WrongKind,
        WrongKey,
    }

    /// The encryption S3 gives the replica of a source version under the test's rule
    /// (SseKmsEncryptedObjects enabled, ReplicaKmsKeyID [`KMS_KEY`], the destination's default
    /// SSE-S3), written from the S3 user guide independently of `access::replica_sse`:
    /// - "If objects in the source bucket are encrypted by using SSE-S3, SSE-KMS, or DSSE-KMS,
    ///   the replica objects in the destination bucket use the same type of encryption as the
    ///   source objects", SSE-KMS and DSSE-KMS ones under the rule's ReplicaKmsKeyID ("Amazon S3
    ///   uses this key to encrypt replica objects");
    /// - "If objects in the source bucket are not encrypted, the replica objects in the
    ///   destination bucket are encrypted by using the default encryption settings of the
    ///   destination bucket";
    /// - SSE-C objects replicate as SSE-C.
    ///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html>
    fn documented_replica(enc: SrcEnc) -> ObjectSse {
        match enc {
            SrcEnc::NotSse | SrcEnc::S3 => ObjectSse::new(SseKind::S3, None),
            SrcEnc::KmsRuleKey | SrcEnc::KmsOtherKey => ObjectSse::new(SseKind::Kms, Some(KMS_KEY)),
            SrcEnc::Dsse => ObjectSse::new(SseKind::Dsse, Some(KMS_KEY)),
            SrcEnc::C => ObjectSse::new(SseKind::C, None),
        }
    }

    /// The replica's encryption for a [`Replica`] variant (`None`: no replica).
    fn replica_sse_of(enc: SrcEnc, r: Replica) -> Option<ObjectSse> {
        let right = documented_replica(enc);
        match r {
            Replica::Absent => None,
            Replica::Right => Some(right),
            Replica::WrongKind => Some(match right.kind {
                SseKind::S3 => ObjectSse::new(SseKind::Kms, Some(KMS_KEY)),
                SseKind::Kms => ObjectSse::new(SseKind::Dsse, Some(KMS_KEY)),
                SseKind::Dsse => ObjectSse::new(SseKind::Kms, Some(KMS_KEY)),
                SseKind::C | SseKind::None => ObjectSse::new(SseKind::S3, None),
            }),
            Replica::WrongKey => Some(ObjectSse::new(right.kind, Some(OTHER_KEY))),
        }
    }

    /// The class AWS's documentation gives a source version, independently of every path:
    /// status decides before age, and the in-flight window only spares a version whose status
    /// says it may still arrive.
    /// - FAILED: "If object replication fails after you upload an object, you can't retry
    ///   replication" (S3 user guide, replication status): failed at any age.
    /// - no status: S3 "returns the x-amz-replication-status header if the object in your request
    ///   is eligible for replication" (same page): never eligible at any age; a replica
    ///   (REPLICA) at the source is not replicated again ("What isn't replicated").
    /// - COMPLETED without a replica: it arrived and was deleted since, nothing is on its way.
    /// - PENDING and delete markers (which have no status): in flight inside the window.
    ///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html>,
    ///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html>
    /// - A delete marker older than the window without a replica: missing when a request made it
    ///   (the rule replicates delete markers); when an S3 Lifecycle expiration rule of the source
    ///   covers its key, "the delete markers added by the S3 Lifecycle expiration rule won't be
    ///   replicated", and a listing cannot tell it from a request's: `lifecycle-marker`, not
    ///   blamed. Inside the window it may still be a request's on its way: in flight.
    ///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html>
    /// - A replica: intact when it is encrypted as S3 encrypts it ([`documented_replica`]), an
    ///   encryption mismatch otherwise (wrong type, or an SSE-KMS/DSSE-KMS replica under a key
    ///   that is not the rule's ReplicaKmsKeyID). A delete marker carries no encryption: its
    ///   replica is intact whatever the source's encryption says.
    ///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html>
    fn documented_class(kind: Kind, young: bool, replica: Replica, enc: SrcEnc) -> Class {
        match (kind, replica) {
            (k, Replica::Absent) => match k {
                _ if k.is_marker() && young => Class::InFlight,
                Kind::DeleteMarker => Class::Missing,
                Kind::LifecycleMarker => Class::LifecycleMarker,
                Kind::Status(Some("FAILED")) => Class::Failed,
                Kind::Status(Some("PENDING")) if young => Class::InFlight,
                Kind::Status(Some("PENDING")) => Class::PendingTooLong,
                Kind::Status(Some("COMPLETED")) => Class::Missing,
                Kind::Status(None | Some("REPLICA")) => Class::NeverEligible,
                Kind::Status(Some(other)) => unreachable!("{other} is not in KINDS"),
            },
            (k, _) if k.is_marker() => Class::Intact,
            (_, r) if replica_sse_of(enc, r) == Some(documented_replica(enc)) => Class::Intact,
            (_, _) => Class::EncryptionMismatch,
        }
    }

    /// The live path as `live::one_rule` runs it: the listing carries no status; HeadObject is
    /// made only where [`compare::plan_heads`] plans it (and answers what the version's row
    /// says); then [`compare::classify`].
    fn live_pipeline(scope: &RuleScope, src: &[NormRow], dst: &[NormRow]) -> Verdicts {
        let key = scope.replica_kms_key_arn.as_deref();
        live_pipeline_with(scope, src, dst, &|_, r| as_version(r, key).head)
    }

    /// [`live_pipeline`] with HeadObject answering `head(is_source, row)`.
    fn live_pipeline_with(
        scope: &RuleScope,
        src: &[NormRow],
        dst: &[NormRow],
        head: &dyn Fn(bool, &NormRow) -> Head,
    ) -> Verdicts {
        let listed = |rows: &[NormRow], source: bool| -> (Vec<Version>, Vec<Version>) {
            let seen: Vec<Version> = rows
                .iter()
                .map(|r| Version {
                    head: head(source, r),
                    ..as_version(r, None)
                })
                .collect();
            let bare = seen
                .iter()
                .cloned()
                .map(|mut v| {
                    v.head = Head::NotAsked;
                    v
                })
                .collect();
            (seen, bare)
        };
        let (s_seen, mut s) = listed(src, true);
        let (d_seen, mut d) = listed(dst, false);
        let plan = compare::plan_heads(scope, &s, &d, now());
        for i in plan.source {
            s[i].head = s_seen[i].head.clone();
        }
        for i in plan.destination {
            d[i].head = d_seen[i].head.clone();
        }
        compare::classify(scope, "s", &s, "d", &d, now())
            .into_iter()
            .map(|v| ((v.bucket, v.key, v.version_id), v.class))
            .collect()
    }

    /// The differential test of issue 21: for every replication status (none, PENDING,
    /// COMPLETED, FAILED, REPLICA, and delete markers) x age (inside / outside the in-flight
    /// window) x replica (present / absent), the live path (listing, planned HeadObjects,
    /// classify) and the comparison SQL on DataFusion (the text Athena runs) give the same
    /// class, and it is the class the AWS documentation gives ([`documented_class`]).
    #[test]
    fn live_and_sql_give_the_documented_class_for_every_status_age_and_replica() {
        let mut src = Vec::new();
        let mut dst = Vec::new();
        let mut want = Verdicts::new();
        for (k, kind) in KINDS.iter().enumerate() {
            for young in [true, false] {
                for has_replica in [true, false] {
                    let age = if young { 60 } else { WINDOW + 60 };
                    let s = NormRow {
                        key: format!("reports/{k}-{kind:?}-young={young}-replica={has_replica}"),
                        version_id: "v1".into(),
                        is_delete_marker: *kind == Kind::DeleteMarker,
                        size: if *kind == Kind::DeleteMarker { 0 } else { 1 },
                        etag: (*kind != Kind::DeleteMarker).then(|| ETAGS[0].unwrap().to_string()),
                        last_modified: now() - chrono::Duration::seconds(age),
                        replication_status: match kind {
                            Kind::Status(st) => st.map(str::to_string),
                            Kind::DeleteMarker | Kind::LifecycleMarker => None,
                        },
                        encryption_status: Some("SSE-S3".into()),
                    };
                    want.insert(
                        ("s".into(), s.key.clone(), s.version_id.clone()),
                        documented_class(
                            *kind,
                            young,
                            if has_replica {
                                Replica::Right
                            } else {
                                Replica::Absent
                            },
                            SrcEnc::S3,
                        ),
                    );
                    if has_replica {
                        dst.push(replica(&s, 9, 0));
                    }
                    src.push(s);
                }
            }
        }
        let scope = scope("reports/", true, false);
        let live = live_pipeline(&scope, &src, &dst);
        let sql = run_sql(&scope, &src, &dst, &|s| s);
        let table = |got: &Verdicts| -> Vec<String> {
            want.iter()
                .filter(|(k, c)| got.get(*k) != Some(*c))
                .map(|(k, c)| format!("{}: want {}, got {:?}", k.1, c.as_str(), got.get(k)))
                .collect()
        };
        assert_eq!(table(&live), Vec::<String>::new(), "live path");
        assert_eq!(table(&sql), Vec::<String>::new(), "comparison SQL");
        assert_eq!(live, want, "live path: no other verdicts");
        assert_eq!(sql, live, "SQL and live path");
    }

    /// The four paths of [`every_path_gives_the_documented_class_for_the_full_product`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Path4 {
        Live,
        InventoryCsv,
        InventoryParquet,
        AthenaPlan,
    }

    /// One source version of the full product: status or delete-marker kind, age, source
    /// encryption, and its replica.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Case {
        kind: Kind,
        young: bool,
        enc: SrcEnc,
        replica: Replica,
    }

    impl Case {
        fn key(&self) -> String {
            let (dir, what) = match self.kind {
                Kind::Status(None) => ("reports/objects/", "no-status".to_string()),
                Kind::Status(Some(s)) => ("reports/objects/", s.to_lowercase()),
                Kind::DeleteMarker => ("reports/user-markers/", "marker".into()),
                Kind::LifecycleMarker => (LIFECYCLE_PREFIX, "marker".into()),
            };
            format!(
                "{dir}{what}-{}-{:?}-{:?}",
                if self.young { "young" } else { "old" },
                self.enc,
                self.replica
            )
        }

        /// The class each path must give: the documented one, except where a path cannot see
        /// what decides it, written out here (never skipped):
        /// - live, SSE-C objects: HeadObject of an SSE-C version without the customer key
        ///   answers 400 ("If you encrypt an object by using server-side encryption with
        ///   customer-provided encryption keys (SSE-C) ... you must use the following
        ///   headers"), so neither its replication status nor its encryption is read: the
        ///   documented "cannot be decided" class (`unverified`), or in flight while young
        ///   (a young version whose status was not read is not blamed).
        ///   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>
        /// - inventories and Athena, a replica of the right type under another KMS key: S3
        ///   Inventory has no KMS key id field, so these paths check the type only and say so
        ///   ([`sql::KEY_NOT_IN_INVENTORY`]): the class of the same replica under the rule's
        ///   key. <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html>
        fn class_on(&self, path: Path4) -> Class {
            let documented = documented_class(self.kind, self.young, self.replica, self.enc);
            match path {
                Path4::Live if self.enc == SrcEnc::C && !self.kind.is_marker() => {
                    match self.replica {
                        Replica::Absent if self.young => Class::InFlight,
                        _ => Class::Unverified,
                    }
                }
                Path4::Live => documented,
                _ if self.replica == Replica::WrongKey => {
                    documented_class(self.kind, self.young, Replica::Right, self.enc)
                }
                _ => documented,
            }
        }
    }

    /// Every combination of status (none, PENDING, COMPLETED, FAILED, REPLICA) or delete-marker
    /// kind (a request's, S3 Lifecycle's) x age x source encryption x replica. Two dimensions
    /// do not combine, by what they are: a delete marker has no encryption of its own (its
    /// replica is a delete marker, present or absent, never of a "wrong" encryption), and only
    /// SSE-KMS and DSSE-KMS replicas name a key (`WrongKey`).
    fn full_product() -> Vec<Case> {
        let mut out = Vec::new();
        for kind in KINDS.into_iter().chain([Kind::LifecycleMarker]) {
            for young in [true, false] {
                for enc in SRC_ENCS {
                    for replica in [
                        Replica::Absent,
                        Replica::Right,
                        Replica::WrongKind,
                        Replica::WrongKey,
                    ] {
                        let exists = match replica {
                            Replica::Absent | Replica::Right => true,
                            Replica::WrongKind => !kind.is_marker(),
                            Replica::WrongKey => {
                                !kind.is_marker() && documented_replica(enc).kind.is_kms()
                            }
                        };
                        if exists {
                            out.push(Case {
                                kind,
                                young,
                                enc,
                                replica,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// Run `text` (a comparison) and collect one class per version.
    async fn collect(e: &Engine, text: &str) -> Verdicts {
        let mut out = Verdicts::new();
        e.for_each_row(text, |r| {
            let b = if r.side == Side::Source { "s" } else { "d" };
            let prev = out.insert((b.into(), r.key, r.version_id), r.class);
            assert!(prev.is_none(), "a version got two rows");
            Ok(())
        })
        .await
        .unwrap();
        out
    }

    /// Path (b)/(c): the rows written as S3 writes inventories (manifest.json, checksum, data
    /// files) under `dir`, opened, verified and registered by the inventory engine, and compared
    /// with the cutoffs `from_inventory` uses. Returns the inventories too.
    async fn inventory_classes(
        scope: &RuleScope,
        src: &[NormRow],
        dst: &[NormRow],
        format: crate::reconcile::inventory::Format,
        dir: &Path,
    ) -> (Verdicts, [crate::reconcile::inventory::LocalInventory; 2]) {
        use crate::reconcile::{from_inventory, inventory};
        let open = |bucket: &str, rows: &[NormRow]| {
            let dated = inventory::writer::write(
                dir,
                bucket,
                "all-versions",
                format,
                now(),
                &mut rows.iter().cloned(),
                64,
            )
            .unwrap();
            inventory::open_local(&dated).unwrap()
        };
        let (s, d) = (open("src-bucket", src), open("dst-bucket", dst));
        assert!(s.files.len() > 1, "more than one data file a side");
        let e = Engine::new(64 << 20, None).unwrap();
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        inventory::register(&e, "src", &s, &work).await.unwrap();
        inventory::register(&e, "dst", &d, &work).await.unwrap();
        let (cutoff, after) =
            from_inventory::cutoffs(s.manifest.created, d.manifest.created, scope.in_flight);
        let rule = SqlRule::from_scope(scope, cutoff, Some(after)).unwrap();
        let got = collect(&e, &sql::comparison_sql(&rule, "src", "dst")).await;
        (got, [s, d])
    }

    /// Path (d): the plan `reconcile --athena` sends for these inventories, its queries run on
    /// DataFusion over tables named as its views, holding the normalised rows its views give
    /// (the Trino DDL itself does not run here). Per-version classes come from the comparison
    /// inside its counts query; its rows query and its counts must agree with them.
    async fn athena_classes(
        scope: &RuleScope,
        invs: &[crate::reconcile::inventory::LocalInventory; 2],
        src: &[NormRow],
        dst: &[NormRow],
    ) -> Verdicts {
        use crate::reconcile::athena::{self, AthenaInventory};
        let table = |inv: &crate::reconcile::inventory::LocalInventory| {
            let m = &inv.manifest;
            AthenaInventory::from_manifest_uri(
                &m.source_bucket,
                &format!(
                    "s3://inventory/{}/all-versions/{}/manifest.json",
                    m.source_bucket,
                    m.created.format("%Y-%m-%dT%H-%MZ")
                ),
                m.format,
                &m.columns,
            )
            .unwrap()
        };
        let (s, d) = (table(&invs[0]), table(&invs[1]));
        let p = athena::plan(
            scope,
            &s,
            invs[0].manifest.created,
            &d,
            invs[1].manifest.created,
            athena::DEFAULT_DATABASE,
        )
        .unwrap();
        let e = Engine::new(64 << 20, None).unwrap();
        e.register_rows(&s.view(), src).unwrap();
        e.register_rows(&d.view(), dst).unwrap();
        let comparison = p
            .counts
            .strip_prefix("SELECT class, side, count(*) AS n FROM (")
            .and_then(|t| t.strip_suffix(") c GROUP BY class, side"))
            .expect("the counts query wraps the comparison");
        let all = collect(&e, comparison).await;
        let not_ok: Verdicts = all
            .iter()
            .filter(|(_, c)| !matches!(c, Class::Intact | Class::InFlight))
            .map(|(k, c)| (k.clone(), *c))
            .collect();
        assert_eq!(collect(&e, &p.rows).await, not_ok, "the plan's rows query");
        let (counts, waiting) = e.counts(&p.counts).await.unwrap();
        assert_eq!(
            counts,
            sql::full_counts(all.values().map(|c| (*c, 1))),
            "the plan's counts query"
        );
        assert_eq!(waiting, 0);
        all
    }

    /// The differential test of issue 21 over the full product: replication status (none,
    /// PENDING, COMPLETED, FAILED, REPLICA) or delete-marker kind (a request's, one an S3
    /// Lifecycle expiration rule of the source made) x age (inside / outside the window) x
    /// source encryption (none, SSE-S3, SSE-KMS under the rule's key, SSE-KMS under another,
    /// DSSE-KMS, SSE-C) x replica (absent; encrypted as S3 does, of another type, under another
    /// key). Four paths — live (listing, planned HeadObjects, classify), CSV and Parquet
    /// inventories read by the inventory engine, and the Athena plan's queries — give every
    /// version the class [`documented_class`] gives, but where a path cannot see what decides it
    /// ([`Case::class_on`] says which and why).
    #[test]
    fn every_path_gives_the_documented_class_for_the_full_product() {
        use crate::access::replica_sse::{self, Judged, RuleSse};
        use crate::reconcile::compare::LifecycleMarkers;
        use crate::reconcile::inventory::Format;
        let mut scope = scope("reports/", true, true);
        scope.lifecycle =
            LifecycleMarkers::Expiring(vec![("expire-current".into(), LIFECYCLE_PREFIX.into())]);
        let cases = full_product();
        let (mut src, mut dst) = (Vec::new(), Vec::new());
        let mut sse: BTreeMap<(bool, String), ObjectSse> = BTreeMap::new();
        for c in &cases {
            let dm = c.kind.is_marker();
            let s = NormRow {
                key: c.key(),
                version_id: "v1".into(),
                is_delete_marker: dm,
                size: if dm { 0 } else { 1 },
                etag: (!dm).then(|| ETAGS[0].unwrap().to_string()),
                last_modified: now()
                    - chrono::Duration::seconds(if c.young { 60 } else { WINDOW + 60 }),
                replication_status: match c.kind {
                    Kind::Status(st) => st.map(str::to_string),
                    Kind::DeleteMarker | Kind::LifecycleMarker => None,
                },
                encryption_status: Some(c.enc.sse().kind.inventory().into()),
            };
            sse.insert((true, s.key.clone()), c.enc.sse());
            if let Some(r) = replica_sse_of(c.enc, c.replica) {
                // The one statement of replica encryption judges the replicas built here as
                // the documentation does.
                let expected = replica_sse::expected_replica(
                    c.enc.sse().kind,
                    RuleSse {
                        sse_kms_encrypted_objects: true,
                        replica_kms_key: Some(KMS_KEY),
                    },
                    scope.encryption.dest_default.as_ref(),
                );
                let judged = replica_sse::judge_replica(&expected, &r, &|k| Ok(k.to_string()));
                assert_eq!(
                    matches!(judged, Judged::Pass(_)),
                    c.replica == Replica::Right,
                    "{c:?}: {judged:?}"
                );
                let mut d = replica(&s, 9, 0);
                d.encryption_status = Some(r.kind.inventory().into());
                sse.insert((false, d.key.clone()), r);
                dst.push(d);
            }
            src.push(s);
        }
        // HeadObject answers what the row says, with the KMS key; an SSE-C version answers 400.
        let head = |source: bool, r: &NormRow| -> Head {
            let e = &sse[&(source, r.key.clone())];
            if e.kind == SseKind::C {
                return Head::Failed(format!(
                    "s3:HeadObject failed: HTTP 400 Bad Request: {}",
                    crate::reconcile::live::SSE_C_UNREADABLE
                ));
            }
            Head::Seen(HeadInfo {
                replication_status: r.replication_status.clone(),
                sse: e.kind.header().map(str::to_string),
                kms_key_id: e.kms_key.clone(),
            })
        };
        let live = live_pipeline_with(&scope, &src, &dst, &head);
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (csv, parquet, athena) = rt.block_on(async {
            let (csv, _) =
                inventory_classes(&scope, &src, &dst, Format::Csv, &dir.path().join("csv")).await;
            let (parquet, invs) = inventory_classes(
                &scope,
                &src,
                &dst,
                Format::Parquet,
                &dir.path().join("parquet"),
            )
            .await;
            let athena = athena_classes(&scope, &invs, &src, &dst).await;
            (csv, parquet, athena)
        });
        let mut wrong = Vec::new();
        for (path, got) in [
            (Path4::Live, &live),
            (Path4::InventoryCsv, &csv),
            (Path4::InventoryParquet, &parquet),
            (Path4::AthenaPlan, &athena),
        ] {
            assert_eq!(got.len(), cases.len(), "{path:?}: one verdict per version");
            for c in &cases {
                let want = c.class_on(path);
                let had = got.get(&("s".to_string(), c.key(), "v1".to_string()));
                if had != Some(&want) {
                    wrong.push(format!(
                        "{path:?} {}: want {}, got {had:?}",
                        c.key(),
                        want.as_str()
                    ));
                }
            }
        }
        assert_eq!(wrong, Vec::<String>::new(), "{} disagreements", wrong.len());
        // The product reaches every class a source version can be in on these paths.
        let seen: BTreeSet<Class> = [&live, &csv, &parquet, &athena]
            .iter()
            .flat_map(|v| v.values().copied())
            .collect();
        let want: BTreeSet<Class> = Class::ALL
            .into_iter()
            .filter(|c| !matches!(c, Class::Mismatched | Class::NoSource | Class::OtherSource))
            .collect();
        assert_eq!(seen, want);
    }

    /// Issue 21 items 3 and 4, live and SQL alike: a source delete marker missing at the
    /// destination is `lifecycle-marker` when an S3 Lifecycle expiration rule of the source covers
    /// its key (S3 never replicates such markers), `missing` when none does, `unverified` (could
    /// be missing) when the lifecycle was not read; a destination version under another rule into
    /// the same bucket is `other-source`, one under none `no-source`.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html>
    #[test]
    fn live_and_sql_agree_on_lifecycle_markers_and_other_sources() {
        use crate::reconcile::compare::{LifecycleMarkers, OtherRule};
        let lifecycles = [
            ("none", LifecycleMarkers::None),
            (
                "expiring",
                LifecycleMarkers::Expiring(vec![("expire-logs".into(), "reports/logs/".into())]),
            ),
            ("unknown", LifecycleMarkers::Unknown("AccessDenied".into())),
        ];
        let row = |key: String, dm: bool, status: Option<&str>, age: i64| NormRow {
            key,
            version_id: "v1".into(),
            is_delete_marker: dm,
            size: if dm { 0 } else { 1 },
            etag: (!dm).then(|| ETAGS[0].unwrap().to_string()),
            last_modified: now() - chrono::Duration::seconds(age),
            replication_status: status.map(str::to_string),
            encryption_status: Some("SSE-S3".into()),
        };
        for (name, lifecycle) in lifecycles {
            let mut scope = scope("reports/", true, false);
            scope.lifecycle = lifecycle.clone();
            scope.other_sources = vec![OtherRule {
                label: "app-logs rule 'logs'".into(),
                prefix: "reports/logs/".into(),
                delete_markers: false,
            }];
            let (mut src, mut dst, mut want) = (vec![], vec![], Verdicts::new());
            for dir in ["logs", "other"] {
                for young in [true, false] {
                    for has_replica in [true, false] {
                        let m = row(
                            format!("reports/{dir}/young={young}-replica={has_replica}"),
                            true,
                            None,
                            if young { 60 } else { WINDOW + 60 },
                        );
                        let class = match (young, has_replica, &lifecycle) {
                            (_, true, _) => Class::Intact,
                            (true, false, _) => Class::InFlight,
                            (false, false, LifecycleMarkers::None) => Class::Missing,
                            (false, false, LifecycleMarkers::Unknown(_)) => Class::Unverified,
                            (false, false, LifecycleMarkers::Expiring(_)) if dir == "logs" => {
                                Class::LifecycleMarker
                            }
                            (false, false, LifecycleMarkers::Expiring(_)) => Class::Missing,
                        };
                        want.insert(("s".into(), m.key.clone(), "v1".into()), class);
                        if has_replica {
                            dst.push(replica(&m, 9, 0));
                        }
                        src.push(m);
                    }
                }
            }
            for (key, dm, class) in [
                ("reports/logs/from-app", false, Class::OtherSource),
                ("reports/logs/app-marker", true, Class::NoSource),
                ("reports/orphan", false, Class::NoSource),
            ] {
                dst.push(row(key.into(), dm, (!dm).then_some("REPLICA"), WINDOW + 60));
                want.insert(("d".into(), key.into(), "v1".into()), class);
            }
            let live = live_pipeline(&scope, &src, &dst);
            let sql = run_sql(&scope, &src, &dst, &|s| s);
            assert_eq!(live, want, "live path, lifecycle {name}");
            assert_eq!(sql, want, "comparison SQL, lifecycle {name}");
        }
    }

    /// Issue 21 items 1 and 5, from inventories: a destination replica newer than the source's
    /// inventory waits for its source (in flight) but is not a source version in scope; a
    /// destination version without replication status is not a replica ("The replication
    /// status of a replica will return REPLICA"), so no source can be on its way: no source,
    /// at any age. The local path (rows into the Collector) and Athena's (counts_sql) agree.
    #[test]
    fn destination_versions_newer_than_the_source_inventory_are_counted_apart() {
        use crate::reconcile::from_inventory::{Collector, Sinks};
        use crate::reconcile::live::{Requests, RuleOutcome};
        let scope = scope("reports/", true, false);
        let row = |key: &str, status: Option<&str>, secs: i64| NormRow {
            key: key.into(),
            version_id: "v1".into(),
            is_delete_marker: false,
            size: 1,
            etag: ETAGS[0].map(str::to_string),
            last_modified: now() - chrono::Duration::seconds(secs),
            replication_status: status.map(str::to_string),
            encryption_status: Some("SSE-S3".into()),
        };
        let src = vec![row("reports/a", Some("COMPLETED"), WINDOW + 60)];
        let dst = vec![
            replica(&src[0], 9, 0),
            row("reports/late-replica", Some("REPLICA"), 60),
            row("reports/late-direct", None, 60),
        ];
        let taken = now() - chrono::Duration::seconds(600);
        let rule = SqlRule::from_scope(
            &scope,
            now() - chrono::Duration::seconds(WINDOW),
            Some(taken),
        )
        .unwrap();
        let mut o = RuleOutcome {
            replication_id: "r".into(),
            rule: scope.clone(),
            source_bucket: "s".into(),
            source_account_id: "111122223333".into(),
            source_region: "ap-southeast-1".into(),
            destination_bucket: "d".into(),
            source_versions: src.len(),
            destination_versions: dst.len(),
            verdicts: vec![],
            requests: Requests::default(),
            error: None,
            skipped: None,
            heads_not_made: 0,
            totals: None,
            destination_in_flight: 0,
            inventory: None,
            notes: vec![],
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (counts, waiting, classes, verdicts) = rt.block_on(async {
            let e = Engine::new(64 << 20, None).unwrap();
            e.register_rows("src", &src).unwrap();
            e.register_rows("dst", &dst).unwrap();
            let mut list = Vec::new();
            let mut repairs = crate::reconcile::Repairs::default();
            let mut sinks = Sinks {
                list: &mut list,
                batch: &mut repairs,
            };
            let mut c = Collector::new(&mut sinks, &o);
            let mut classes = BTreeMap::new();
            e.for_each_row(&sql::comparison_sql(&rule, "src", "dst"), |r| {
                classes.insert(r.key.clone(), r.class);
                c.push(r)
            })
            .await
            .unwrap();
            let (counts, waiting) = e
                .counts(&sql::counts_sql(&rule, "src", "dst"))
                .await
                .unwrap();
            assert_eq!(counts, c.counts, "counts_sql and the streamed rows");
            assert_eq!(waiting, c.destination_in_flight);
            (counts, waiting, classes, c.verdicts)
        });
        assert_eq!(classes["reports/late-replica"], Class::InFlight);
        assert_eq!(classes["reports/late-direct"], Class::NoSource);
        assert_eq!(waiting, 1);
        o.totals = Some(counts);
        o.destination_in_flight = waiting;
        o.verdicts = verdicts;
        let fs = crate::reconcile::findings(&o, &crate::reconcile::Files::default());
        let ok = fs.iter().find(|f| f.id == "reconcile-replicated").unwrap();
        assert!(
            ok.message
                .contains("1 of 1 source versions in scope replicated and intact, 0 in flight"),
            "{}",
            ok.message
        );
        assert!(
            ok.message
                .contains("1 destination replica(s) newer than the source's inventory"),
            "{}",
            ok.message
        );
    }
}
