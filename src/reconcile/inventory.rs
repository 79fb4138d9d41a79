//! S3 Inventory reports as `reconcile`'s source of truth: the manifest, its checksum, the data
//! files in CSV (gzip) or Parquet, each file's MD5, and their registration as the normalised
//! tables the comparison SQL ([`super::sql`]) reads.
//!
//! What is relied on, from the S3 user guide:
//! - Layout: `destination-prefix/source-bucket/config-ID/YYYY-MM-DDTHH-MMZ/manifest.json`, with
//!   `manifest.checksum` ("the MD5 of the content of the `manifest.json` file") beside it and a
//!   `hive/dt=.../symlink.txt`; the manifest holds `sourceBucket`, `creationTimestamp` ("in the
//!   epoch date format that consists of the start time and the date when the inventory report
//!   generation begins scanning the bucket"), `fileFormat`, `fileSchema` and `files` (`key`,
//!   `size`, `MD5checksum`).
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html>
//! - Files: "a CSV file compressed with GZIP, ... an Apache optimized row columnar (ORC) file
//!   compressed with ZLIB, or ... an Apache Parquet (Parquet) file compressed with Snappy"; the
//!   CSV columns are in `fileSchema` order (no header); Parquet columns are named as in the
//!   documented `message s3.inventory { ... }` schema.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html>
//! - "When using the CSV file format, the key name is URL-encoded and must be decoded before you
//!   can use it" (same page). S3 encodes a space as `+` (form encoding; observed by users,
//!   cloud-custodian issue 1997), so CSV keys are decoded with `+` as a space and `%XX` escapes;
//!   Parquet keys are stored as they are. Both sides are decoded to the real key before the
//!   comparison, so a CSV source can be reconciled against a Parquet destination.
//! - "Version ID ... (This field is not included if the list is only for the current version of
//!   objects.)": an inventory without VersionId lists current versions only and cannot show
//!   what replicated, version by version.
//!
//! - An ORC manifest's `fileSchema` is an ORC struct type,
//!   `struct<bucket:string,key:string,version_id:string,...>`, whose field names are the Parquet
//!   column names (the ORC example manifest, [`REF_LOCATION`]).
//!
//! ORC data files are not read here (the Rust ORC reader, `orc-rust`, is young and not a
//! dependency): an ORC manifest is parsed, so `--athena` can reconcile it (Athena's documented ORC
//! table), and the local engine refuses it by name ([`readable_locally`]).

use super::engine::{normalised_schema, rows_batch, Engine, NormRow};
use super::live::S3;
use super::Error;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde::Deserialize;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// The S3 Inventory pages the messages cite; they live with the errors that quote them.
pub use super::error::{REF_FIELDS, REF_LOCATION};

/// The fields the comparison needs: (CSV `fileSchema` name, Parquet column name).
pub const NEEDED: [(&str, &str); 8] = [
    ("Key", "key"),
    ("VersionId", "version_id"),
    ("IsDeleteMarker", "is_delete_marker"),
    ("Size", "size"),
    ("LastModifiedDate", "last_modified_date"),
    ("ETag", "e_tag"),
    ("ReplicationStatus", "replication_status"),
    ("EncryptionStatus", "encryption_status"),
];

/// How the inventory files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
    /// Read by Athena only ([`readable_locally`]).
    Orc,
}

/// One data file of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub key: String,
    pub size: u64,
    pub md5: String,
}

/// A parsed `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub source_bucket: String,
    pub created: DateTime<Utc>,
    pub format: Format,
    /// Column names in file order (CSV: the `fileSchema` names; Parquet and ORC: the column
    /// names).
    pub columns: Vec<String>,
    pub files: Vec<DataFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    source_bucket: String,
    creation_timestamp: String,
    file_format: String,
    file_schema: String,
    files: Vec<RawFile>,
}

#[derive(Deserialize)]
struct RawFile {
    key: String,
    size: u64,
    #[serde(rename = "MD5checksum")]
    md5: String,
}

/// The lowercase hex MD5 of some bytes.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The column names of a Parquet `fileSchema` (`message s3.inventory { required binary bucket
/// (UTF8); ... }`).
fn parquet_columns(schema: &str) -> Result<Vec<String>, Error> {
    let inner = schema
        .split_once('{')
        .and_then(|(_, r)| r.rsplit_once('}'))
        .map(|(i, _)| i)
        .ok_or_else(|| {
            Error::Inventory(format!(
                "fileSchema {schema:?} is not a Parquet message schema"
            ))
        })?;
    Ok(inner
        .split(';')
        .filter_map(|f| {
            // `optional binary key (UTF8)`: repetition, type, name, annotation.
            f.split_whitespace().nth(2).map(str::to_string)
        })
        .collect())
}

/// The field names of an ORC `fileSchema` (`struct<bucket:string,key:string,...>`, the S3 user
/// guide's ORC example manifest, [`REF_LOCATION`]). The inventory's types are all scalar, so a
/// nested type (`<` inside the struct) is not an S3 Inventory schema.
fn orc_columns(schema: &str) -> Result<Vec<String>, Error> {
    let bad = || {
        Error::Inventory(format!("fileSchema {schema:?} is not an ORC struct schema (struct<name:type,...>) ({REF_LOCATION})"))
    };
    let inner = schema
        .trim()
        .strip_prefix("struct<")
        .and_then(|r| r.strip_suffix('>'))
        .filter(|i| !i.contains('<'))
        .ok_or_else(bad)?;
    inner
        .split(',')
        .map(|f| match f.split_once(':') {
            Some((name, ty)) if !name.trim().is_empty() && !ty.trim().is_empty() => {
                Ok(name.trim().to_string())
            }
            _ => Err(bad()),
        })
        .collect()
}

/// Whether the local engine can read this inventory's data files: CSV and Parquet. An ORC
/// inventory is refused before any data file is fetched, naming the two ways that work.
pub fn readable_locally(m: &Manifest) -> Result<(), Error> {
    match m.format {
        Format::Csv | Format::Parquet => Ok(()),
        Format::Orc => Err(Error::Inventory(format!(
            "the inventory of {} is in ORC, which replaudit does not read locally: reconcile it \
             with --athena (Athena reads ORC inventories where S3 delivered them), or configure \
             the inventory in CSV or Parquet and wait for the next report ({REF_FIELDS})",
            m.source_bucket
        ))),
    }
}

/// Parse `manifest.json`, checking it against `manifest.checksum` when given, and check that
/// the inventory can decide every verdict (all versions, every field the comparison reads).
pub fn parse_manifest(json: &[u8], checksum: Option<&[u8]>) -> Result<Manifest, Error> {
    if let Some(c) = checksum {
        let want = String::from_utf8_lossy(c).trim().to_ascii_lowercase();
        let got = md5_hex(json);
        if want != got {
            return Err(Error::Inventory(format!(
                "manifest.json does not match manifest.checksum (MD5 {got}, checksum says {want}): \
                 the manifest is damaged or was replaced while it was read; read it again ({REF_LOCATION})"
            )));
        }
    }
    let raw: RawManifest = serde_json::from_slice(json).map_err(Error::NotManifest)?;
    let millis: i64 = raw.creation_timestamp.trim().parse().map_err(|_| {
        Error::Inventory(format!(
            "manifest.json creationTimestamp {:?} is not epoch milliseconds",
            raw.creation_timestamp
        ))
    })?;
    let created = DateTime::from_timestamp_millis(millis).ok_or_else(|| {
        Error::Inventory(format!(
            "manifest.json creationTimestamp {millis} is out of range"
        ))
    })?;
    let (format, columns) = match raw.file_format.to_ascii_lowercase().as_str() {
        "csv" => (
            Format::Csv,
            raw.file_schema
                .split(',')
                .map(|s| s.trim().to_string())
                .collect::<Vec<_>>(),
        ),
        "parquet" => (Format::Parquet, parquet_columns(&raw.file_schema)?),
        "orc" => (Format::Orc, orc_columns(&raw.file_schema)?),
        other => {
            return Err(Error::InventoryFile(format!(
                "inventory fileFormat {other:?} is not CSV, ORC or Parquet ({REF_LOCATION})"
            )))
        }
    };
    let has = |i: usize| {
        let name = match format {
            Format::Csv => NEEDED[i].0,
            Format::Parquet | Format::Orc => NEEDED[i].1,
        };
        columns.iter().any(|c| c == name)
    };
    if !has(1) {
        return Err(Error::Inventory(format!(
            "the inventory of {} lists current versions only (no VersionId field): replication is \
             judged version by version; edit the inventory configuration to include all versions \
             (IncludedObjectVersions=All) ({REF_FIELDS})",
            raw.source_bucket
        )));
    }
    let missing: Vec<&str> = (0..NEEDED.len())
        .filter(|&i| !has(i))
        .map(|i| NEEDED[i].0)
        .collect();
    if !missing.is_empty() {
        return Err(Error::Inventory(format!(
            "the inventory of {} lacks the field(s) {} that reconcile needs: edit the inventory \
             configuration's optional fields to include {} and wait for the next report ({REF_FIELDS})",
            raw.source_bucket,
            missing.join(", "),
            missing.join(", ")
        )));
    }
    Ok(Manifest {
        source_bucket: raw.source_bucket,
        created,
        format,
        columns,
        files: raw
            .files
            .into_iter()
            .map(|f| DataFile {
                key: f.key,
                size: f.size,
                md5: f.md5.to_ascii_lowercase(),
            })
            .collect(),
    })
}

/// Is this folder name a manifest's dated folder (`YYYY-MM-DDTHH-MMZ`)?
pub fn is_dated(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 17
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b'-'
        && b[16] == b'Z'
        && name
            .bytes()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16) || c.is_ascii_digit())
}

/// A manifest found on disk, with where its data files are.
#[derive(Debug, Clone)]
pub struct LocalInventory {
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    /// Each data file's local path, in manifest order.
    pub files: Vec<PathBuf>,
}

/// Find the manifest of a local directory: the directory itself holds `manifest.json`, or the
/// newest dated folder (`YYYY-MM-DDTHH-MMZ`) under it (or under a `hive`-less config folder)
/// does. The data files are looked up by their key, relative to the directory or a parent of
/// the manifest's folder that is still inside the inventory folder ([`Root`]), so a
/// copy of the whole bucket, of the config folder or of the dated folder works, and nothing
/// outside the folder given is ever read (a key with `..`, or a symbolic link that leads out, is
/// refused).
pub fn open_local(dir: &Path) -> Result<LocalInventory, Error> {
    let manifest_dir = if dir.join("manifest.json").is_file() {
        dir.to_path_buf()
    } else {
        let mut dated: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::read_dir(dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(is_dated)
                    && p.join("manifest.json").is_file()
            })
            .collect();
        dated.sort();
        dated.pop().ok_or_else(|| {
            Error::Inventory(format!(
                "no manifest.json in {} nor in a dated folder (YYYY-MM-DDTHH-MMZ) under it ({REF_LOCATION})",
                dir.display()
            ))
        })?
    };
    let root = Root::of(dir, &manifest_dir)?;
    let manifest_path = root.inside(&manifest_dir.join("manifest.json"), "manifest.json")?;
    let json = std::fs::read(&manifest_path).map_err(|e| Error::read(&manifest_path, e))?;
    let checksum_path = manifest_dir.join("manifest.checksum");
    let checksum = if checksum_path.exists() {
        let p = root.inside(&checksum_path, "manifest.checksum")?;
        std::fs::read(&p).ok()
    } else {
        None
    };
    let manifest = parse_manifest(&json, checksum.as_deref())
        .and_then(|m| readable_locally(&m).map(|()| m))
        .map_err(|e| e.at(manifest_path.display()))?;
    let files = manifest
        .files
        .iter()
        .map(|f| find_file(&root, &manifest_dir, &manifest_path, &f.key))
        .collect::<Result<_, _>>()?;
    Ok(LocalInventory {
        manifest,
        manifest_path,
        files,
    })
}

/// The folder an inventory given on disk may be read from: the folder given, or, when that is a
/// report's dated folder itself, the configuration folder above it, since S3 writes the data
/// files beside the dated folders (`destination-prefix/source-bucket/config-ID/data/...`,
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html>).
struct Root {
    /// As given (joined paths stay comparable with it).
    given: PathBuf,
    /// With every symbolic link resolved: what a file's own canonical path must start with.
    canonical: PathBuf,
}

impl Root {
    fn of(dir: &Path, manifest_dir: &Path) -> Result<Root, Error> {
        let dated_given = manifest_dir == dir
            && dir
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_dated);
        let given = match dir.parent() {
            Some(p) if dated_given && !p.as_os_str().is_empty() => p.to_path_buf(),
            _ if dated_given => PathBuf::from("."),
            _ => dir.to_path_buf(),
        };
        let canonical = std::fs::canonicalize(&given).map_err(|e| Error::read_dir(&given, e))?;
        Ok(Root { given, canonical })
    }

    /// `path` with its links resolved, if it stays inside the inventory folder.
    fn inside(&self, path: &Path, what: &str) -> Result<PathBuf, Error> {
        let real = std::fs::canonicalize(path).map_err(|e| Error::read(path, e))?;
        if real.starts_with(&self.canonical) {
            Ok(real)
        } else {
            Err(Error::Inventory(format!(
                "{what} {} leads to {}, outside the inventory folder {}: refused (a symbolic link \
                 out of the folder given is never followed)",
                path.display(),
                real.display(),
                self.given.display()
            )))
        }
    }
}

fn find_file(
    root: &Root,
    manifest_dir: &Path,
    manifest_path: &Path,
    key: &str,
) -> Result<PathBuf, Error> {
    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
    // S3 writes data keys under the configuration folder; `..` would climb out of the folder
    // given (REF_LOCATION), and `.` can only be there to confuse the lookup.
    if parts.iter().any(|p| matches!(*p, ".." | ".")) || key.contains('\\') {
        return Err(Error::Inventory(format!(
            "inventory data file key {key:?} (listed in {}) has a `.`/`..` segment or a backslash: \
             S3 Inventory writes keys under destination-prefix/source-bucket/config-ID/data/; \
             refused, nothing outside the inventory folder {} is read ({REF_LOCATION})",
            manifest_path.display(),
            root.given.display()
        )));
    }
    // Links resolved first, so that "inside" compares real paths (and `..` in the folder given
    // cannot make a parent look like a child).
    let manifest_dir =
        std::fs::canonicalize(manifest_dir).map_err(|e| Error::read(manifest_dir, e))?;
    for base in manifest_dir
        .ancestors()
        .take(6)
        .filter(|b| b.starts_with(&root.canonical))
    {
        for skip in 0..parts.len() {
            let p = parts[skip..]
                .iter()
                .fold(base.to_path_buf(), |acc, s| acc.join(s));
            if p.is_file() {
                return root.inside(&p, &format!("inventory data file {key:?}: the file"));
            }
        }
    }
    Err(Error::Inventory(format!(
        "inventory data file {key} (listed in {}) is not on disk under the inventory folder {}",
        manifest_path.display(),
        root.given.display()
    )))
}

/// A data file's key of an inventory read from S3 must lie under the configuration folder of
/// the manifest it is listed in (`destination-prefix/source-bucket/config-ID/data/...`, beside
/// `.../config-ID/YYYY-MM-DDTHH-MMZ/manifest.json`), with no `.`/`..` segment: anything else is
/// not what S3 writes, would be fetched from elsewhere in the bucket, and would be written
/// outside the run's temporary folder.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html>
pub fn check_s3_data_key(bucket: &str, manifest_key: &str, key: &str) -> Result<(), Error> {
    let config = manifest_key
        .strip_suffix("manifest.json")
        .map(|d| d.trim_end_matches('/'))
        .and_then(|d| {
            d.rsplit_once('/')
                .map(|(c, _)| format!("{c}/"))
                .or(Some(String::new()))
        })
        .unwrap_or_default();
    let data = format!("{config}data/");
    let bad_segment = key.split('/').any(|p| matches!(p, ".." | ".")) || key.contains('\\');
    if bad_segment || !key.starts_with(&data) || key.len() == data.len() {
        return Err(Error::Inventory(format!(
            "s3://{bucket}/{manifest_key} lists the data file {key:?}, which is not under \
             s3://{bucket}/{data} where S3 Inventory writes this report's data files: refused, \
             nothing outside the inventory is read ({REF_LOCATION})"
        )));
    }
    Ok(())
}

/// Check a data file against the manifest's MD5 (streamed, never the whole file in memory).
pub fn verify_md5(path: &Path, want: &str) -> Result<(), Error> {
    let f = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf).map_err(|e| Error::read(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let got = hex(&h.finalize());
    if got != want.to_ascii_lowercase() {
        return Err(Error::InventoryFile(format!(
            "inventory file {} has MD5 {got}, its manifest says {want}: the file is damaged or \
             not the one the manifest lists; fetch it again ({REF_LOCATION})",
            path.display()
        )));
    }
    Ok(())
}

/// Decode a CSV inventory key: `%XX` escapes, and `+` for a space.
pub fn decode_csv_key(s: &str) -> Result<String, Error> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| Error::Inventory(format!("CSV inventory key {s:?} does not decode to UTF-8")))
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim().trim_matches('"');
    (!t.is_empty()).then(|| t.to_string())
}

/// One CSV record as a normalised row; `idx` = the index of each [`NEEDED`] field in the record.
fn csv_row(rec: &csv::StringRecord, idx: &[usize; 8], file: &Path) -> Result<NormRow, Error> {
    let f = |i: usize| rec.get(idx[i]).unwrap_or("");
    let bad = |what: &str, v: &str| {
        Error::InventoryFile(format!(
            "inventory file {}: {what} {v:?} on line {} is not what S3 Inventory writes",
            file.display(),
            rec.position().map(|p| p.line()).unwrap_or(0)
        ))
    };
    let dm = match f(2).to_ascii_lowercase().as_str() {
        "true" => true,
        "false" | "" => false,
        v => return Err(bad("IsDeleteMarker", v)),
    };
    let size = match f(3).trim() {
        "" => 0,
        v => v.parse::<i64>().map_err(|_| bad("Size", v))?,
    };
    let lm = DateTime::parse_from_rfc3339(f(4).trim())
        .map_err(|_| bad("LastModifiedDate", f(4)))?
        .with_timezone(&Utc);
    Ok(NormRow {
        key: decode_csv_key(f(0)).map_err(|e| Error::BadKey {
            path: file.to_path_buf(),
            line: rec.position().map(|p| p.line()).unwrap_or(0),
            source: Box::new(e),
        })?,
        version_id: opt(f(1)).unwrap_or_else(|| "null".into()),
        is_delete_marker: dm,
        size,
        etag: opt(f(5)),
        last_modified: lm,
        replication_status: opt(f(6)),
        encryption_status: opt(f(7)),
    })
}

/// Rows per batch when converting CSV.
const BATCH: usize = 65_536;

/// The index in a CSV record of each [`NEEDED`] field, from the manifest's `fileSchema`.
fn csv_indexes(columns: &[String]) -> Result<[usize; 8], Error> {
    let mut idx = [0usize; 8];
    for (i, (name, _)) in NEEDED.iter().enumerate() {
        idx[i] = columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| Error::Inventory(format!("fileSchema lacks {name}")))?;
    }
    Ok(idx)
}

/// Every record of one (decompressed) CSV inventory file, as normalised rows handed to `sink`.
/// S3 writes every field of `fileSchema` on every line (REF_FIELDS), so a line with fewer or
/// more fields is a damaged or foreign file: reading it anyway would judge versions from the
/// wrong columns.
fn csv_records(
    input: impl Read,
    file: &Path,
    columns: usize,
    idx: &[usize; 8],
    mut sink: impl FnMut(NormRow) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut rec = csv::StringRecord::new();
    loop {
        match r.read_record(&mut rec) {
            Ok(true) => {
                if rec.len() != columns {
                    return Err(Error::InventoryFile(format!(
                        "inventory file {}: line {} has {} field(s), the manifest's fileSchema \
                         has {columns}: the file is damaged or not of this inventory ({REF_FIELDS})",
                        file.display(),
                        rec.position().map(|p| p.line()).unwrap_or(0),
                        rec.len()
                    )));
                }
                sink(csv_row(&rec, idx, file)?)?;
            }
            Ok(false) => return Ok(()),
            Err(e) => {
                return Err(Error::NotCsv {
                    path: file.to_path_buf(),
                    source: e,
                })
            }
        }
    }
}

/// The fuzz body of the CSV row reader (cargo-fuzz target `inventory_csv`, and a proptest in
/// `tests/bad_input.rs`): any bytes, as one decompressed data file of the documented CSV
/// `fileSchema`, give rows or an error naming the file, never a panic.
#[doc(hidden)]
pub fn fuzz_csv(data: &[u8]) {
    let columns: Vec<String> = writer::CSV_SCHEMA
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let idx = csv_indexes(&columns).expect("the documented schema has every needed field");
    let file = Path::new("fuzz.csv");
    if let Err(e) = csv_records(data, file, columns.len(), &idx, |_| Ok(())) {
        assert!(
            e.to_string().contains("fuzz.csv"),
            "an error that does not name the file: {e}"
        );
    }
}

/// The fuzz body of the manifest reader (cargo-fuzz target `inventory_manifest`): any bytes
/// give a manifest or an error, never a panic.
#[doc(hidden)]
pub fn fuzz_manifest(data: &[u8]) {
    let _ = parse_manifest(data, None);
    let _ = parse_manifest(data, Some(md5_hex(data).as_bytes()));
}

/// Convert the CSV.gz files of an inventory into one Parquet file of normalised rows, streamed
/// batch by batch (bounded memory), and return its path.
fn csv_to_parquet(inv: &LocalInventory, out: &Path) -> Result<(), Error> {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::Compression;
    use datafusion::parquet::file::properties::WriterProperties;
    let idx = csv_indexes(&inv.manifest.columns)?;
    let f = std::fs::File::create(out).map_err(|e| Error::write(out, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut w = ArrowWriter::try_new(f, normalised_schema(), Some(props))?;
    let mut rows = Vec::with_capacity(BATCH);
    for path in &inv.files {
        let mut file = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
        // A gzip stream starts with its magic bytes (RFC 1952): checked first, so that the
        // error says what the file is (empty, or not gzip) rather than a decoder's message.
        let mut magic = [0u8; 2];
        let n = file.read(&mut magic).unwrap_or(0);
        if n < 2 || magic != [0x1f, 0x8b] {
            return Err(Error::InventoryFile(format!(
                "inventory file {} is {}, not a gzip CSV file as S3 Inventory writes them \
                 ({REF_FIELDS})",
                path.display(),
                if n == 0 { "empty" } else { "not gzip" }
            )));
        }
        let head = std::io::Cursor::new(magic);
        let gz =
            flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, head.chain(file)));
        csv_records(gz, path, inv.manifest.columns.len(), &idx, |row| {
            rows.push(row);
            if rows.len() == BATCH {
                w.write(&rows_batch(&rows)?)?;
                rows.clear();
            }
            Ok(())
        })?;
    }
    if !rows.is_empty() {
        w.write(&rows_batch(&rows)?)?;
    }
    w.close()?;
    Ok(())
}

/// Run `f` on a blocking thread; a panic in it (a library's decoder on a damaged file) is an
/// error naming `file`, never the end of the process.
async fn blocking_on<T: Send + 'static>(
    file: &Path,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(Error::DecoderPanic {
            path: file.to_path_buf(),
            message: super::engine::panic_message(&*e.into_panic()),
        }),
        Err(e) => Err(Error::Task {
            path: file.to_path_buf(),
            source: e,
        }),
    }
}

fn not_parquet(path: &Path, e: impl Into<super::error::BoxError>) -> Error {
    Error::NotParquet {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// The footer of a Parquet data file (cheap: the metadata only) and the columns the comparison
/// reads, checked before the engine plans over the files, so a damaged footer or a foreign file
/// is named here rather than failing somewhere inside the query.
fn check_parquet_footer(path: &Path) -> Result<(), Error> {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let f = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
    let r = SerializedFileReader::new(f).map_err(|e| not_parquet(path, e))?;
    let schema = r.metadata().file_metadata().schema_descr();
    for (_, col) in NEEDED {
        if !schema.columns().iter().any(|c| c.name() == col) {
            return Err(Error::InventoryFile(format!(
                "inventory file {} has no column {col}, which its manifest's fileSchema lists: \
                 the file is damaged or not of this inventory ({REF_FIELDS})",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Every page of the columns the comparison reads, decoded: the whole file, for
/// [`unreadable`].
fn decode_parquet(path: &Path) -> Result<(), Error> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use datafusion::parquet::arrow::ProjectionMask;
    let f = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| not_parquet(path, e))?;
    let leaves: Vec<usize> = b
        .parquet_schema()
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| NEEDED.iter().any(|(_, n)| *n == c.name()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::leaves(b.parquet_schema(), leaves);
    let r = b
        .with_projection(mask)
        .build()
        .map_err(|e| not_parquet(path, e))?;
    for batch in r {
        batch.map_err(|e| not_parquet(path, e))?;
    }
    Ok(())
}

/// After the engine failed or panicked over Parquet inventories: the first data file that does
/// not decode, named, with why. Only on that path, since it reads every file once more; `None`
/// when every file decodes (the failure was the engine's own, e.g. its memory pool).
pub async fn unreadable(invs: &[&LocalInventory]) -> Option<Error> {
    super::engine::quiet_decoder_panics();
    for inv in invs {
        if inv.manifest.format != Format::Parquet {
            continue;
        }
        for p in &inv.files {
            let path = p.clone();
            if let Err(e) = blocking_on(p, move || decode_parquet(&path)).await {
                return Some(e);
            }
        }
    }
    None
}

/// Verify every data file of `inv` and register it as table `name` with the normalised
/// columns. CSV files are converted to a normalised Parquet file in `work` first; Parquet files
/// are read where they are, through a view that normalises them.
pub async fn register(
    engine: &Engine,
    name: &str,
    inv: &LocalInventory,
    work: &Path,
) -> Result<(), Error> {
    use datafusion::prelude::ParquetReadOptions;
    for (f, p) in inv.manifest.files.iter().zip(&inv.files) {
        verify_md5(p, &f.md5)?;
    }
    match inv.manifest.format {
        Format::Csv => {
            let out = work.join(format!("{name}-normalised.parquet"));
            let (inv2, out2) = (inv.clone(), out.clone());
            blocking_on(&inv.manifest_path, move || csv_to_parquet(&inv2, &out2)).await?;
            engine
                .ctx
                .register_parquet(name, out.to_string_lossy(), ParquetReadOptions::default())
                .await?;
        }
        Format::Parquet => {
            let raw = format!("{name}_raw");
            let paths: Vec<String> = inv
                .files
                .iter()
                .map(|p| {
                    std::path::absolute(p)
                        .unwrap_or(p.clone())
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            if paths.is_empty() {
                engine.register_rows(name, &[])?;
                return Ok(());
            }
            for p in &inv.files {
                let path = p.clone();
                blocking_on(p, move || check_parquet_footer(&path)).await?;
            }
            let df = engine
                .ctx
                .read_parquet(paths, ParquetReadOptions::default())
                .await?;
            engine.ctx.register_table(raw.as_str(), df.into_view())?;
            let view = engine
                .ctx
                .sql(&format!(
                    "SELECT key, COALESCE(NULLIF(version_id, ''), 'null') AS version_id, \
                     COALESCE(is_delete_marker, FALSE) AS is_delete_marker, COALESCE(size, 0) AS size, \
                     NULLIF(e_tag, '') AS etag, CAST(last_modified_date AS TIMESTAMP) AS last_modified, \
                     NULLIF(replication_status, '') AS replication_status, \
                     NULLIF(encryption_status, '') AS encryption_status FROM {raw}"
                ))
                .await
                ?;
            engine.ctx.register_table(name, view.into_view())?;
        }
        Format::Orc => readable_locally(&inv.manifest)?,
    }
    Ok(())
}

/// A client for the inventory bucket `bucket`, with the credentials of the account that owns
/// the spec's first replication's source (`source`) or first rule's destination bucket, in the
/// inventory bucket's Region (HeadBucket).
async fn inventory_client(
    spec: &crate::spec::Spec,
    source: bool,
    bucket: &str,
    opts: &crate::aws::AwsOptions,
) -> Result<S3, Error> {
    use crate::aws::{self, BucketRegion};
    let r = spec
        .replication
        .first()
        .ok_or_else(|| Error::Spec("the spec has no replication to reconcile".into()))?;
    let alias = if source {
        r.source.get_ref().clone()
    } else {
        r.rules
            .first()
            .map(|x| x.destination.get_ref().clone())
            .ok_or_else(|| Error::Spec("the spec's replication has no rule".into()))?
    };
    let b = spec
        .bucket(&alias)
        .ok_or_else(|| Error::Spec(format!("bucket alias '{alias}' is not in the spec")))?;
    let acct = spec.account(b.account.get_ref()).ok_or_else(|| {
        Error::Spec(format!(
            "account '{}' is not in the spec",
            b.account.get_ref()
        ))
    })?;
    let region = b.region.get_ref().clone();
    let aws = aws::Factory::shared(opts);
    let account = b.account.get_ref();
    let client: S3 = aws.client_for(account, &acct.credentials, &region).await;
    match client.run(aws::bucket_region(&client, bucket)).await {
        BucketRegion::In(r) if !r.is_empty() && r != region => {
            Ok(aws.client_for(account, &acct.credentials, &r).await)
        }
        BucketRegion::Missing => Err(Error::Aws(format!(
            "s3:HeadBucket failed: inventory bucket {bucket} does not exist (404)"
        ))),
        _ => Ok(client),
    }
}

fn s3_error<E>(
    call: &str,
    permission: &str,
    bucket: &str,
    key: &str,
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
    let (code, msg) = crate::aws::error_parts(&e);
    let message = format!(
        "{call} failed: {}{msg} (s3://{bucket}/{key}: the caller needs {permission} on the inventory location)",
        code.map(|c| format!("{c}: ")).unwrap_or_default()
    );
    Error::aws_call(message, crate::aws::CallError::from_sdk_owned(call, e))
}

/// Where S3 Inventory's SSE-KMS encryption, and what S3 needs to use the key, are documented.
const REF_KMS: &str = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/configure-inventory.html#configure-inventory-kms-key-policy";

/// The error of a failed GetObject of an inventory file (manifest, checksum or data file).
///
/// S3 Inventory can encrypt its files with SSE-KMS (the configuration's `Encryption`,
/// [`REF_KMS`]; `SSEKMS.KeyId`, <https://docs.aws.amazon.com/AmazonS3/latest/API/API_SSEKMS.html>),
/// and reading such a file makes S3 call kms:Decrypt on the reader's behalf. S3 reports a key
/// it could not use with a `KMS.`-prefixed code (`KMS.DisabledException`,
/// `KMS.KMSInvalidStateException`, `KMS.NotFoundException`, ...) and a caller without
/// kms:Decrypt as a plain `AccessDenied`
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html>), which
/// cannot be told apart from a missing s3:GetObject, so an AccessDenied names both.
pub fn get_object_error(bucket: &str, key: &str, code: Option<&str>, msg: &str) -> String {
    let what = format!(
        "s3:GetObject failed: {}{msg} (s3://{bucket}/{key}",
        code.map(|c| format!("{c}: ")).unwrap_or_default()
    );
    let decrypt = "kms:Decrypt on that KMS key (statement ReconcileDecryptInventories of \
                   docs/reconcile-readonly-policy.json, and a key policy that lets the caller use it)";
    match code {
        Some(c) if c.starts_with("KMS.") => format!(
            "{what}: the inventory file is encrypted with SSE-KMS and S3 could not use its key: \
             the key named in the inventory configuration's Encryption (SSE-KMS KeyId) must be \
             Enabled, and the caller needs {decrypt}; {REF_KMS})"
        ),
        Some("AccessDenied") => format!(
            "{what}: the caller needs s3:GetObject on the inventory location, and, when the \
             inventory is encrypted with SSE-KMS (the inventory configuration's Encryption), \
             {decrypt}: S3 reports a missing kms:Decrypt as AccessDenied too; {REF_KMS})"
        ),
        _ => format!("{what}: the caller needs s3:GetObject on the inventory location)"),
    }
}

async fn get_to(c: &S3, bucket: &str, key: &str, to: impl AsRef<Path>) -> Result<(), Error> {
    use tokio::io::AsyncWriteExt;
    let to = to.as_ref();
    let o = c
        .run(c.get_object().bucket(bucket).key(key).send())
        .await
        .map_err(|e| {
            let (code, msg) = crate::aws::error_parts(&e);
            Error::aws_call(
                get_object_error(bucket, key, code.as_deref(), &msg),
                crate::aws::CallError::from_sdk_owned("s3:GetObject", e),
            )
        })?;
    if let Some(p) = to.parent() {
        std::fs::create_dir_all(p).map_err(|e| Error::create(p, e))?;
    }
    let mut f = tokio::fs::File::create(to)
        .await
        .map_err(|e| Error::write(to, e))?;
    let mut body = o.body;
    while let Some(chunk) = body.try_next().await.map_err(|e| {
        Error::aws_call(
            format!("s3:GetObject of s3://{bucket}/{key} broke off: {e}"),
            crate::aws::CallError::local("s3:GetObject (body)", &e).caused_by(e),
        )
    })? {
        f.write_all(&chunk).await.map_err(|e| Error::write(to, e))?;
    }
    f.flush().await.map_err(|e| Error::write(to, e))?;
    Ok(())
}

/// The newest manifest.json under `prefix` (the prefix itself, or a dated folder under it).
async fn newest_manifest(c: &S3, bucket: &str, prefix: &str) -> Result<String, Error> {
    let mut token = None;
    let mut best: Option<String> = None;
    loop {
        let r = c
            .run(
                c.list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_continuation_token(token.take())
                    .send(),
            )
            .await
            .map_err(|e| s3_error("s3:ListObjectsV2", "s3:ListBucket", bucket, prefix, e))?;
        for o in r.contents() {
            let k = o.key().unwrap_or_default();
            let Some(dir) = k.strip_suffix("/manifest.json") else {
                continue;
            };
            let rest = &dir[prefix.len().min(dir.len())..];
            let dated = dir.rsplit('/').next().is_some_and(is_dated);
            // The prefix's own manifest, or one dated folder directly under it.
            let here = rest.is_empty() || (dated && !rest.trim_start_matches('/').contains('/'));
            if here && best.as_deref().is_none_or(|b| k > b) {
                best = Some(k.to_string());
            }
        }
        match r.next_continuation_token() {
            Some(t) if r.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    best.ok_or_else(|| {
        Error::Inventory(format!(
            "no manifest.json at s3://{bucket}/{prefix} nor in a dated folder (YYYY-MM-DDTHH-MMZ) under it ({REF_LOCATION})"
        ))
    })
}

/// Open an inventory given as a local directory or `s3://BUCKET/PREFIX/`; an S3 inventory is
/// copied into `work` first (manifest, checksum, data files: read-only GetObject calls). The
/// data files are fetched `--max-concurrency` at a time: a large bucket's inventory is many
/// files, and one at a time would leave the connection idle between them.
pub async fn open(
    spec: &crate::spec::Spec,
    location: &str,
    source: bool,
    opts: &crate::aws::AwsOptions,
    work: &Path,
) -> Result<LocalInventory, Error> {
    let Some(rest) = location.strip_prefix("s3://") else {
        return tokio::task::spawn_blocking({
            let p = PathBuf::from(location);
            move || open_local(&p)
        })
        .await?;
    };
    let (c, bucket, manifest_key, m) = s3_manifest_of(spec, rest, source, opts, work).await?;
    readable_locally(&m).map_err(|e| e.at(format!("s3://{bucket}/{manifest_key}")))?;
    let local_dir = work.join(manifest_key.trim_end_matches("manifest.json"));
    for f in &m.files {
        check_s3_data_key(&bucket, &manifest_key, &f.key)?;
    }
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(&m.files)
        .map(|f| get_to(&c, &bucket, &f.key, work.join(&f.key)))
        .buffer_unordered(opts.max_concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    open_local(&local_dir)
}

/// The newest manifest of an inventory at `s3://BUCKET/PREFIX/`, checked against its
/// `manifest.checksum`, without its data files (Athena reads those where they are): the
/// manifest's `s3://` address and the parsed manifest.
pub async fn s3_manifest(
    spec: &crate::spec::Spec,
    location: &str,
    source: bool,
    opts: &crate::aws::AwsOptions,
    work: &Path,
) -> Result<(String, Manifest), Error> {
    let rest = location
        .strip_prefix("s3://")
        .ok_or_else(|| Error::Inventory(format!("{location} is not an s3:// address")))?;
    let (_, bucket, key, m) = s3_manifest_of(spec, rest, source, opts, work).await?;
    Ok((format!("s3://{bucket}/{key}"), m))
}

/// `rest` = `BUCKET/PREFIX`: client, bucket, manifest key, manifest (copied into `work`).
async fn s3_manifest_of(
    spec: &crate::spec::Spec,
    rest: &str,
    source: bool,
    opts: &crate::aws::AwsOptions,
    work: &Path,
) -> Result<(S3, String, String, Manifest), Error> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let c = inventory_client(spec, source, bucket, opts).await?;
    let prefix = prefix.strip_suffix("manifest.json").unwrap_or(prefix);
    let manifest_key = newest_manifest(&c, bucket, prefix).await?;
    if manifest_key.starts_with('/') || manifest_key.split('/').any(|p| matches!(p, ".." | ".")) {
        // Copied into the run's temporary folder under its key: a `..` or a leading `/` would
        // leave it.
        return Err(Error::Inventory(format!(
            "s3://{bucket}/{manifest_key}: a manifest key with a leading `/` or a `.`/`..` \
             segment is not where S3 Inventory writes manifests; refused ({REF_LOCATION})"
        )));
    }
    let dir_key = manifest_key.trim_end_matches("manifest.json");
    let local_dir = work.join(dir_key);
    get_to(&c, bucket, &manifest_key, &local_dir.join("manifest.json")).await?;
    get_to(
        &c,
        bucket,
        &format!("{dir_key}manifest.checksum"),
        &local_dir.join("manifest.checksum"),
    )
    .await?;
    let json = std::fs::read(local_dir.join("manifest.json"))?;
    let sum = std::fs::read(local_dir.join("manifest.checksum"))?;
    let m = parse_manifest(&json, Some(&sum))
        .map_err(|e| e.at(format!("s3://{bucket}/{manifest_key}")))?;
    Ok((c, bucket.to_string(), manifest_key, m))
}

/// Writes inventories the way S3 does (manifest.json, manifest.checksum, CSV.gz or Parquet data
/// files), for the emulator tests and the benchmark: the emulator does not produce inventories.
#[doc(hidden)]
pub mod writer {
    use super::*;
    use datafusion::arrow::array::{
        ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    };
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::io::Write;
    use std::sync::Arc;

    /// The CSV `fileSchema` written (the documented order of the example manifest).
    pub const CSV_SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus";
    /// The Parquet `fileSchema` written (the documented example).
    pub const PARQUET_SCHEMA: &str = "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional binary version_id (UTF8); optional boolean is_latest; optional boolean is_delete_marker;  optional int64 size;  optional int64 last_modified_date (TIMESTAMP_MILLIS);  optional binary e_tag (UTF8);  optional binary storage_class (UTF8);  optional boolean is_multipart_uploaded;  optional binary replication_status (UTF8);  optional binary encryption_status (UTF8);}";

    /// Key characters left as they are in a CSV key (everything else is `%XX`, a space `+`).
    const CSV_KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'*')
        .remove(b' ');

    pub fn encode_csv_key(k: &str) -> String {
        percent_encoding::utf8_percent_encode(k, CSV_KEY)
            .to_string()
            .replace(' ', "+")
    }

    fn csv_field(s: &str) -> String {
        format!("\"{}\"", s.replace('"', "\"\""))
    }

    fn parquet_schema() -> Arc<Schema> {
        let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
        Arc::new(Schema::new(vec![
            s("bucket", false),
            s("key", false),
            s("version_id", true),
            Field::new("is_latest", DataType::Boolean, true),
            Field::new("is_delete_marker", DataType::Boolean, true),
            Field::new("size", DataType::Int64, true),
            Field::new(
                "last_modified_date",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            s("e_tag", true),
            s("storage_class", true),
            Field::new("is_multipart_uploaded", DataType::Boolean, true),
            s("replication_status", true),
            s("encryption_status", true),
        ]))
    }

    /// Write one inventory of `bucket` (rows in the order given, `rows_per_file` per data file)
    /// under `root` as `root/<bucket>/<config>/data/...` and
    /// `root/<bucket>/<config>/<YYYY-MM-DDTHH-MMZ>/manifest.json`; returns the dated folder.
    /// `version_id` "null" is written as an empty field, as S3 does for the null version.
    pub fn write(
        root: &Path,
        bucket: &str,
        config: &str,
        format: Format,
        created: DateTime<Utc>,
        rows: &mut dyn Iterator<Item = NormRow>,
        rows_per_file: usize,
    ) -> Result<PathBuf, Error> {
        if format == Format::Orc {
            return Err(Error::Inventory(
                "the inventory writer writes CSV and Parquet data files only".into(),
            ));
        }
        let io = Error::Io;
        let cfg = root.join(bucket).join(config);
        let data = cfg.join("data");
        std::fs::create_dir_all(&data).map_err(io)?;
        let dated = cfg.join(created.format("%Y-%m-%dT%H-%MZ").to_string());
        std::fs::create_dir_all(&dated).map_err(io)?;
        let mut files = Vec::new();
        let mut n = 0;
        loop {
            let chunk: Vec<NormRow> = rows.take(rows_per_file.max(1)).collect();
            if chunk.is_empty() && n > 0 {
                break;
            }
            let ext = match format {
                Format::Csv => "csv.gz",
                Format::Parquet => "parquet",
                Format::Orc => "orc",
            };
            let name = format!("{bucket}-{}-{n:05}.{ext}", created.timestamp_millis());
            let path = data.join(&name);
            match format {
                Format::Csv => {
                    let f = std::fs::File::create(&path).map_err(io)?;
                    let mut gz = flate2::write::GzEncoder::new(
                        std::io::BufWriter::new(f),
                        flate2::Compression::fast(),
                    );
                    for r in &chunk {
                        let vid = if r.version_id == "null" {
                            ""
                        } else {
                            &r.version_id
                        };
                        writeln!(
                            gz,
                            "{},{},{},{},{},{},{},{},{},{},{},{}",
                            csv_field(bucket),
                            csv_field(&encode_csv_key(&r.key)),
                            csv_field(vid),
                            csv_field("true"),
                            csv_field(if r.is_delete_marker { "true" } else { "false" }),
                            if r.is_delete_marker {
                                String::new()
                            } else {
                                csv_field(&r.size.to_string())
                            },
                            csv_field(
                                &r.last_modified.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
                            ),
                            csv_field(r.etag.as_deref().unwrap_or("")),
                            csv_field("STANDARD"),
                            csv_field("false"),
                            csv_field(r.replication_status.as_deref().unwrap_or("")),
                            csv_field(r.encryption_status.as_deref().unwrap_or("")),
                        )
                        .map_err(io)?;
                    }
                    gz.finish().map_err(io)?.flush().map_err(io)?;
                }
                Format::Parquet | Format::Orc => {
                    use datafusion::parquet::arrow::ArrowWriter;
                    use datafusion::parquet::basic::Compression;
                    use datafusion::parquet::file::properties::WriterProperties;
                    let f = std::fs::File::create(&path).map_err(io)?;
                    let props = WriterProperties::builder()
                        .set_compression(Compression::SNAPPY)
                        .build();
                    let mut w = ArrowWriter::try_new(f, parquet_schema(), Some(props))?;
                    for part in chunk.chunks(65_536) {
                        let len = part.len();
                        let cols: Vec<ArrayRef> = vec![
                            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                                bucket, len,
                            ))),
                            Arc::new(StringArray::from_iter_values(
                                part.iter().map(|r| r.key.as_str()),
                            )),
                            Arc::new(StringArray::from_iter(part.iter().map(|r| {
                                (r.version_id != "null").then_some(r.version_id.as_str())
                            }))),
                            Arc::new(BooleanArray::from(vec![true; len])),
                            Arc::new(BooleanArray::from(
                                part.iter().map(|r| r.is_delete_marker).collect::<Vec<_>>(),
                            )),
                            Arc::new(Int64Array::from_iter(
                                part.iter().map(|r| (!r.is_delete_marker).then_some(r.size)),
                            )),
                            Arc::new(
                                TimestampMillisecondArray::from_iter_values(
                                    part.iter().map(|r| r.last_modified.timestamp_millis()),
                                )
                                .with_timezone("UTC"),
                            ),
                            Arc::new(StringArray::from_iter(
                                part.iter().map(|r| r.etag.as_deref()),
                            )),
                            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                                "STANDARD", len,
                            ))),
                            Arc::new(BooleanArray::from(vec![false; len])),
                            Arc::new(StringArray::from_iter(
                                part.iter().map(|r| r.replication_status.as_deref()),
                            )),
                            Arc::new(StringArray::from_iter(
                                part.iter().map(|r| r.encryption_status.as_deref()),
                            )),
                        ];
                        let b = RecordBatch::try_new(parquet_schema(), cols)?;
                        w.write(&b)?;
                    }
                    w.close()?;
                }
            }
            let bytes = std::fs::read(&path).map_err(io)?;
            files.push(serde_json::json!({
                "key": format!("{bucket}/{config}/data/{name}"),
                "size": bytes.len(),
                "MD5checksum": md5_hex(&bytes),
            }));
            n += 1;
            if chunk.len() < rows_per_file.max(1) {
                break;
            }
        }
        let (ff, fs) = match format {
            Format::Csv => ("CSV", CSV_SCHEMA),
            Format::Parquet | Format::Orc => ("Parquet", PARQUET_SCHEMA),
        };
        let manifest = serde_json::json!({
            "sourceBucket": bucket,
            "destinationBucket": "arn:aws:s3:::inventory",
            "version": "2016-11-30",
            "creationTimestamp": created.timestamp_millis().to_string(),
            "fileFormat": ff,
            "fileSchema": fs,
            "files": files,
        });
        let body = serde_json::to_vec_pretty(&manifest)?;
        std::fs::write(dated.join("manifest.json"), &body).map_err(io)?;
        std::fs::write(dated.join("manifest.checksum"), md5_hex(&body)).map_err(io)?;
        Ok(dated)
    }
}

#[cfg(test)]
mod tests {
    use super::writer::*;
    use super::*;

    fn manifest(format: &str, schema: &str) -> String {
        serde_json::json!({
            "sourceBucket": "src", "destinationBucket": "arn:aws:s3:::inv", "version": "2016-11-30",
            "creationTimestamp": "1514944800000", "fileFormat": format, "fileSchema": schema,
            "files": [{"key": "inv/src/cfg/data/a.csv.gz", "size": 1, "MD5checksum": "F11166069F1990ABEB9C97ACE9CDFABC"}]
        })
        .to_string()
    }

    #[test]
    fn a_documented_manifest_parses_in_both_formats() {
        let m = parse_manifest(manifest("CSV", CSV_SCHEMA).as_bytes(), None).unwrap();
        assert_eq!(m.format, Format::Csv);
        assert_eq!(m.source_bucket, "src");
        assert_eq!(m.created.timestamp_millis(), 1514944800000);
        assert_eq!(m.files[0].md5, "f11166069f1990abeb9c97ace9cdfabc");
        let p = parse_manifest(manifest("Parquet", PARQUET_SCHEMA).as_bytes(), None).unwrap();
        assert_eq!(p.format, Format::Parquet);
        assert!(p.columns.contains(&"e_tag".to_string()), "{:?}", p.columns);
        assert_eq!(p.columns.len(), 12);
    }

    /// The S3 user guide's ORC example manifest's `fileSchema` (storage-inventory-location).
    const ORC_SCHEMA: &str = "struct<bucket:string,key:string,version_id:string,is_latest:boolean,is_delete_marker:boolean,size:bigint,last_modified_date:timestamp,e_tag:string,storage_class:string,is_multipart_uploaded:boolean,replication_status:string,encryption_status:string,object_lock_retain_until_date:timestamp,object_lock_mode:string,object_lock_legal_hold_status:string>";

    #[test]
    fn an_orc_manifest_gives_its_field_names_in_file_order() {
        let m = parse_manifest(manifest("ORC", ORC_SCHEMA).as_bytes(), None).unwrap();
        assert_eq!(m.format, Format::Orc);
        assert_eq!(m.columns.len(), 15);
        assert_eq!(m.columns[..3], ["bucket", "key", "version_id"]);
        assert_eq!(m.columns[14], "object_lock_legal_hold_status");
        // Needed fields are checked by their ORC (= Parquet) names.
        let e = parse_manifest(
            manifest("ORC", &ORC_SCHEMA.replace(",replication_status:string", "")).as_bytes(),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("lacks the field(s) ReplicationStatus"), "{e}");
        for bad in [
            "struct<bucket:string,key>",
            "message s3.inventory { required binary key (UTF8); }",
            "struct<bucket:string,tags:map<string,string>>",
        ] {
            let e = parse_manifest(manifest("ORC", bad).as_bytes(), None)
                .unwrap_err()
                .to_string();
            assert!(e.contains("is not an ORC struct schema"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_denied_or_kms_failed_inventory_read_names_kms_decrypt_and_the_fix() {
        let kms = get_object_error(
            "inv",
            "r/src/cfg/data/a.parquet",
            Some("KMS.DisabledException"),
            "The request was rejected because the specified KMS key is not enabled.",
        );
        assert!(
            kms.starts_with("s3:GetObject failed: KMS.DisabledException: The request was rejected")
                && kms.contains("s3://inv/r/src/cfg/data/a.parquet")
                && kms.contains("encrypted with SSE-KMS")
                && kms.contains("must be Enabled")
                && kms.contains("kms:Decrypt on that KMS key")
                && kms.contains("ReconcileDecryptInventories")
                && kms.contains(REF_KMS),
            "{kms}"
        );
        let denied = get_object_error(
            "inv",
            "r/manifest.json",
            Some("AccessDenied"),
            "Access Denied",
        );
        assert!(
            denied.contains("s3:GetObject on the inventory location")
                && denied.contains("kms:Decrypt on that KMS key")
                && denied.contains("S3 reports a missing kms:Decrypt as AccessDenied"),
            "{denied}"
        );
        // Other failures are not blamed on KMS.
        let missing = get_object_error("inv", "r/manifest.json", Some("NoSuchKey"), "gone");
        assert!(
            missing.contains("s3:GetObject on the inventory location") && !missing.contains("kms:"),
            "{missing}"
        );
    }

    #[test]
    fn the_local_engine_refuses_orc_naming_athena_and_csv_or_parquet() {
        let m = parse_manifest(manifest("ORC", ORC_SCHEMA).as_bytes(), None).unwrap();
        let e = readable_locally(&m).unwrap_err().to_string();
        assert!(
            e.contains("the inventory of src is in ORC")
                && e.contains("with --athena")
                && e.contains("in CSV or Parquet"),
            "{e}"
        );
        // Refused on opening, before any data file is looked up.
        let dir = tempfile::tempdir().unwrap();
        let json = manifest("ORC", ORC_SCHEMA);
        std::fs::write(dir.path().join("manifest.json"), &json).unwrap();
        let e = open_local(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is in ORC") && e.contains("--athena"), "{e}");
        let pq = parse_manifest(manifest("Parquet", PARQUET_SCHEMA).as_bytes(), None).unwrap();
        assert!(readable_locally(&pq).is_ok());
    }

    #[test]
    fn a_missing_field_or_current_versions_only_is_an_error_naming_the_fix() {
        let no_status = CSV_SCHEMA.replace(", ReplicationStatus", "");
        let e = parse_manifest(manifest("CSV", &no_status).as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ReplicationStatus") && e.contains("inventory configuration"),
            "{e}"
        );
        let current =
            "Bucket, Key, Size, LastModifiedDate, ETag, ReplicationStatus, EncryptionStatus";
        let e = parse_manifest(manifest("CSV", current).as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("current versions only") && e.contains("IncludedObjectVersions=All"),
            "{e}"
        );
        let no_enc = PARQUET_SCHEMA.replace("optional binary encryption_status (UTF8);", "");
        let e = parse_manifest(manifest("Parquet", &no_enc).as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("EncryptionStatus"), "{e}");
    }

    #[test]
    fn the_manifest_checksum_and_each_files_md5_are_verified() {
        let body = manifest("CSV", CSV_SCHEMA);
        assert!(parse_manifest(body.as_bytes(), Some(md5_hex(body.as_bytes()).as_bytes())).is_ok());
        let e = parse_manifest(body.as_bytes(), Some(b"00000000000000000000000000000000\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("manifest.checksum"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        verify_md5(&p, "5d41402abc4b2a76b9719d911017c592").unwrap();
        let e = verify_md5(&p, "5d41402abc4b2a76b9719d911017c593")
            .unwrap_err()
            .to_string();
        assert!(e.contains("MD5") && e.contains("fetch it again"), "{e}");
    }

    #[test]
    fn s3_data_keys_stay_under_the_configuration_folder_of_their_manifest() {
        let m = "inv/src/cfg/2026-01-01T00-00Z/manifest.json";
        assert!(check_s3_data_key("b", m, "inv/src/cfg/data/a.csv.gz").is_ok());
        for bad in [
            "inv/src/cfg/data/../../other/data/a.csv.gz",
            "inv/src/cfg/data/./a.csv.gz",
            "inv/src/other/data/a.csv.gz",
            "inv/src/cfg/2026-01-01T00-00Z/manifest.json",
            "/inv/src/cfg/data/a.csv.gz",
            "../inv/src/cfg/data/a.csv.gz",
            "inv/src/cfg/data/",
            "inv/src/cfg/data\\..\\x",
        ] {
            let e = check_s3_data_key("b", m, bad).unwrap_err().to_string();
            assert!(
                e.contains("s3://b/inv/src/cfg/data/") && e.contains("refused"),
                "{bad}: {e}"
            );
        }
        // No destination prefix: the source bucket's folder is the first.
        let m = "src/cfg/2026-01-01T00-00Z/manifest.json";
        assert!(check_s3_data_key("b", m, "src/cfg/data/a.parquet").is_ok());
        assert!(check_s3_data_key("b", m, "data/a.parquet").is_err());
    }

    #[test]
    fn csv_keys_are_url_decoded_with_plus_as_space() {
        assert_eq!(
            decode_csv_key("reports/a+b%2Bc%2C%C3%BC").unwrap(),
            "reports/a b+c,ü"
        );
        for k in ["reports/a b+c,ü", "x/100%", "é'\"/~"] {
            assert_eq!(decode_csv_key(&encode_csv_key(k)).unwrap(), k);
        }
        assert!(decode_csv_key("%FF").is_err());
    }

    #[test]
    fn dated_folders_are_recognised_and_the_newest_is_taken() {
        assert!(is_dated("2016-11-06T21-32Z"));
        assert!(!is_dated("hive"));
        assert!(!is_dated("2016-11-06T21:32Z"));
        let dir = tempfile::tempdir().unwrap();
        let t1: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let t2: DateTime<Utc> = "2026-01-02T00:00:00Z".parse().unwrap();
        let row = |k: &str| NormRow {
            key: k.into(),
            version_id: "v".into(),
            is_delete_marker: false,
            size: 1,
            etag: None,
            last_modified: t1,
            replication_status: None,
            encryption_status: Some("SSE-S3".into()),
        };
        write(
            dir.path(),
            "b",
            "cfg",
            Format::Csv,
            t1,
            &mut vec![row("old")].into_iter(),
            10,
        )
        .unwrap();
        write(
            dir.path(),
            "b",
            "cfg",
            Format::Csv,
            t2,
            &mut vec![row("new")].into_iter(),
            10,
        )
        .unwrap();
        let inv = open_local(&dir.path().join("b").join("cfg")).unwrap();
        assert_eq!(inv.manifest.created, t2);
        assert_eq!(inv.files.len(), 1);
    }
}
