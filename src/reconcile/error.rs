//! Why a reconcile step failed. Each variant prints the sentence users have always read (tests
//! pin many of them); a wrapped error (I/O, Parquet, Arrow, DataFusion, JSON, the AWS SDK) is
//! kept as the variant's source, so a caller can walk the chain or match the cause instead of
//! parsing text.

use std::path::{Path, PathBuf};

/// Any error, boxed: a variant whose source can be one of several types (an SDK error of any
/// operation, Parquet or Arrow from the same reader).
/// Where S3 Inventory writes its manifest and files, and what they hold: cited by the
/// messages of inventory errors.
pub const REF_LOCATION: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html";
pub const REF_FIELDS: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html";

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read inventory directory {}: {source}", path.display())]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An I/O error whose text has always been shown alone.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("DataFusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("manifest.json is not an S3 Inventory manifest: {0} ({REF_LOCATION})")]
    NotManifest(#[source] serde_json::Error),
    #[error("inventory file {} is not gzip CSV: {source}", path.display())]
    NotCsv { path: PathBuf, source: csv::Error },
    /// An Arrow error inside the engine's query.
    #[error("DataFusion: {0}")]
    EngineArrow(#[source] datafusion::arrow::error::ArrowError),
    /// A panic inside the engine (a decoder on a damaged file), caught.
    #[error("DataFusion panicked: {0}")]
    EnginePanic(String),
    /// A Parquet data file whose footer or pages do not decode (Parquet or Arrow error).
    #[error("inventory file {} is not a readable Parquet file: {source}; fetch it again ({REF_FIELDS})", path.display())]
    NotParquet { path: PathBuf, source: BoxError },
    /// A library's decoder panicked on a damaged file (caught, never the end of the process).
    #[error("inventory file {} cannot be decoded: its reader failed ({message})", path.display())]
    DecoderPanic { path: PathBuf, message: String },
    /// The blocking task reading a file was cancelled.
    #[error("inventory file {}: {source}", path.display())]
    Task {
        path: PathBuf,
        source: tokio::task::JoinError,
    },
    /// An AWS call that failed; `message` names the operation, the AWS error code and what the
    /// caller needs, the call error (with the SDK error behind it) is the source.
    #[error("{message}")]
    AwsCall {
        message: String,
        source: crate::aws::CallError,
    },
    /// An AWS answer that is not what the call promises (a bucket that does not exist, a query
    /// that ended FAILED, a missing field).
    #[error("{0}")]
    Aws(String),
    /// One data file of an inventory that is not what its manifest or S3 Inventory says.
    #[error("{0}")]
    InventoryFile(String),
    /// A CSV key that does not decode, with where it is.
    #[error("inventory file {}, line {line}: {source}", path.display())]
    BadKey {
        path: PathBuf,
        line: u64,
        source: Box<Error>,
    },
    /// A panic while the inventories were registered with the engine, caught.
    #[error("reading the inventories panicked: {0}")]
    RegisterPanic(String),
    /// The engine failed over the inventories and `file` is the first data file that does not
    /// decode (found after the failure).
    #[error("{file} (reading the inventories stopped: {source})")]
    Stopped {
        file: Box<Error>,
        source: Box<Error>,
    },
    /// A rule that filters on object tags, which no reconcile path can decide.
    #[error("{}", super::compare::unsupported_tags())]
    TagFiltered,
    /// An inventory (configuration, manifest or data file) that is not what S3 Inventory writes,
    /// or not one reconcile can judge versions from.
    #[error("{0}")]
    Inventory(String),
    /// The spec lacks what reconcile needs (a replication, a rule, a bucket or account alias).
    #[error("{0}")]
    Spec(String),
    /// A rule reconcile cannot turn into a query, or a query answer of the wrong shape.
    #[error("{0}")]
    Query(String),
    #[error(transparent)]
    Sql(#[from] super::sql::SqlError),
    /// The engine's working folder has no room to spill.
    #[error("{0}")]
    NoRoom(String),
    #[error("cannot write the version list: {0}")]
    List(#[source] std::io::Error),
    /// A row could not be written to the versions list (its own error is kept by the sink).
    #[error("write failed")]
    SinkWrite,
    /// An error about one file or address, prefixed by it.
    #[error("{context}: {source}")]
    At { context: String, source: Box<Error> },
}

impl Error {
    /// Whether this error already names the inventory data file at fault (no need to look for
    /// the first file that does not decode).
    pub fn names_a_file(&self) -> bool {
        matches!(
            self,
            Error::InventoryFile(_)
                | Error::BadKey { .. }
                | Error::NotCsv { .. }
                | Error::NotParquet { .. }
                | Error::DecoderPanic { .. }
                | Error::Task { .. }
        )
    }

    pub fn read(path: &Path, source: std::io::Error) -> Self {
        Error::Read {
            path: path.to_path_buf(),
            source,
        }
    }
    pub fn read_dir(path: &Path, source: std::io::Error) -> Self {
        Error::ReadDir {
            path: path.to_path_buf(),
            source,
        }
    }
    pub fn write(path: &Path, source: std::io::Error) -> Self {
        Error::Write {
            path: path.to_path_buf(),
            source,
        }
    }
    pub fn create(path: &Path, source: std::io::Error) -> Self {
        Error::Create {
            path: path.to_path_buf(),
            source,
        }
    }
    /// This error, prefixed by the file or address it is about.
    pub fn at(self, context: impl std::fmt::Display) -> Self {
        Error::At {
            context: context.to_string(),
            source: Box::new(self),
        }
    }
    /// A failed AWS call, with the sentence users read.
    pub fn aws_call(message: String, source: crate::aws::CallError) -> Self {
        Error::AwsCall { message, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_missing_inventory_folder_keeps_the_io_error_as_its_source() {
        let e = super::super::inventory::open_local(Path::new("/nonexistent-replaudit/inv"))
            .unwrap_err();
        assert!(matches!(e, Error::ReadDir { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("cannot read inventory directory /nonexistent-replaudit/inv: "),
            "{e}"
        );
        let io = e
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io::Error is the source");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_manifest_that_is_not_json_keeps_the_json_error_as_its_source() {
        let e = super::super::inventory::parse_manifest(b"{not json", None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("manifest.json is not an S3 Inventory manifest: "),
            "{e}"
        );
        assert!(
            e.source()
                .and_then(|s| s.downcast_ref::<serde_json::Error>())
                .is_some(),
            "{e:?}"
        );
    }

    /// `names_a_file` replaced `starts_with("inventory file")` on the message: the two agree.
    #[test]
    fn names_a_file_is_what_the_message_said() {
        let p = PathBuf::from("/inv/data/a.parquet");
        let samples = vec![
            Error::InventoryFile("inventory file /inv/data/a.csv.gz is empty".into()),
            Error::BadKey {
                path: p.clone(),
                line: 3,
                source: Box::new(Error::Inventory(
                    "CSV inventory key \"%ff\" does not decode to UTF-8".into(),
                )),
            },
            Error::NotParquet {
                path: p.clone(),
                source: "bad footer".into(),
            },
            Error::DecoderPanic {
                path: p.clone(),
                message: "index out of bounds".into(),
            },
            Error::Inventory("manifest.json does not match manifest.checksum".into()),
            Error::Spec("the spec has no replication to reconcile".into()),
            Error::EnginePanic("boom".into()),
            Error::read(&p, std::io::Error::from(std::io::ErrorKind::NotFound)),
            Error::NoRoom("the spill directory /tmp has 1 GiB free".into()),
        ];
        for e in samples {
            assert_eq!(
                e.names_a_file(),
                e.to_string().starts_with("inventory file"),
                "{e}"
            );
        }
    }
}
