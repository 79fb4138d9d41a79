//! Publish S3 Inventory reports of the seed's two replicated buckets into the emulator, written
//! from what the emulator holds (ListObjectVersions and HeadObject give every inventory field):
//! the source's as CSV.gz into `xyz-inventory`, the destination's as Parquet into
//! `abcd-inventory` (one inventory bucket per account, read with that account's credentials).

// Included with `#[path]` by several test files; each uses part of it.
#![allow(dead_code)]

use replaudit::aws::{s3_client, sdk_config, AwsOptions};
use replaudit::reconcile::inventory::{writer, Format};
use std::path::Path;

/// `--source-inventory` / `--dest-inventory` of what [`publish`] writes.
pub const SOURCE: &str = "s3://xyz-inventory/rubes-s3-bucket/all-versions/";
pub const DEST: &str = "s3://abcd-inventory/clint-s3-bucket/all-versions";

/// What S3 Inventory would list for `bucket`: every version and delete marker with its
/// replication status and encryption status (HeadObject gives both; the inventory fields are
/// "Replication status – Set to PENDING, COMPLETED, FAILED, or REPLICA" and "Encryption status –
/// Set to SSE-S3, SSE-C, SSE-KMS, or NOT-SSE", S3 user guide, storage-inventory.html).
pub async fn inventory_rows(
    c: &aws_sdk_s3::Client,
    bucket: &str,
) -> Vec<replaudit::reconcile::engine::NormRow> {
    use replaudit::reconcile::live::list_all;
    let gated = replaudit::aws::Factory::shared(&AwsOptions::default());
    let (versions, _) = list_all(&gated.wrap("test", c.clone()), bucket, "").await;
    let mut out = Vec::new();
    for v in versions.expect("list the bucket") {
        let (status, enc) = if v.delete_marker {
            (None, "NOT-SSE".to_string())
        } else {
            let h = c
                .head_object()
                .bucket(bucket)
                .key(&v.key)
                .version_id(&v.version_id)
                .send()
                .await
                .expect("head a version");
            let enc = match h.server_side_encryption().map(|s| s.as_str()) {
                Some("AES256") => "SSE-S3",
                Some("aws:kms") => "SSE-KMS",
                Some("aws:kms:dsse") => "DSSE-KMS",
                _ => "NOT-SSE",
            };
            (
                h.replication_status().map(|s| s.as_str().to_string()),
                enc.to_string(),
            )
        };
        out.push(replaudit::reconcile::engine::NormRow {
            key: v.key,
            version_id: v.version_id,
            is_delete_marker: v.delete_marker,
            size: v.size as i64,
            etag: v.etag,
            last_modified: v.last_modified,
            replication_status: status,
            encryption_status: Some(enc),
        });
    }
    out
}

/// Upload every file under `dir` to `s3://bucket/<path relative to dir>`.
pub async fn upload_dir(c: &aws_sdk_s3::Client, bucket: &str, dir: &std::path::Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let key = p
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            c.put_object()
                .bucket(bucket)
                .key(key)
                .body(std::fs::read(&p).unwrap().into())
                .send()
                .await
                .expect("upload an inventory file");
        }
    }
}

/// Write and upload both inventories, with the administrators' profiles of the provisioned
/// set-up in `provisioned` (its aws-config and aws-credentials).
pub fn publish(spec: &Path, provisioned: &Path, endpoint: &str) {
    // This process's SDK clients read the set-up's profiles from these variables; the lock keeps
    // another test of the one test binary from pointing them elsewhere meanwhile (child
    // processes get theirs explicitly).
    let _env = crate::ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    std::env::set_var("AWS_CONFIG_FILE", provisioned.join("aws-config"));
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        provisioned.join("aws-credentials"),
    );
    let spec = replaudit::spec::load(spec).unwrap().spec;
    let opts = AwsOptions {
        endpoint_url: Some(endpoint.to_string()),
        ..AwsOptions::default()
    };
    let work = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let created = chrono::Utc::now();
    rt.block_on(async {
        for (alias, format, inv_bucket) in [
            ("source", Format::Csv, "xyz-inventory"),
            ("destination", Format::Parquet, "abcd-inventory"),
        ] {
            let b = spec.bucket(alias).unwrap();
            let acct = spec.account(b.account.get_ref()).unwrap();
            let region = b.region.get_ref().clone();
            let c = s3_client(&sdk_config(&acct.credentials, &region, &opts).await, &opts);
            let name = b.name.get_ref().clone();
            let rows = inventory_rows(&c, &name).await;
            let root = work.path().join(alias);
            writer::write(
                &root,
                &name,
                "all-versions",
                format,
                created,
                &mut rows.into_iter(),
                3,
            )
            .unwrap();
            c.create_bucket()
                .bucket(inv_bucket)
                .create_bucket_configuration(
                    aws_sdk_s3::types::CreateBucketConfiguration::builder()
                        .location_constraint(region.as_str().into())
                        .build(),
                )
                .send()
                .await
                .expect("create the inventory bucket");
            upload_dir(&c, inv_bucket, &root).await;
            configure(&c, &name, inv_bucket, format).await;
        }
    });
}

/// The bucket's S3 Inventory configurations as S3 would have them for what [`publish`] wrote
/// (`all-versions`: every version, the needed fields, delivered to `inv_bucket` with no prefix),
/// plus one that lists current versions only, which `--source-inventory configured` must pass
/// over.
async fn configure(c: &aws_sdk_s3::Client, bucket: &str, inv_bucket: &str, format: Format) {
    use aws_sdk_s3::types::{
        InventoryConfiguration, InventoryDestination, InventoryFormat, InventoryFrequency,
        InventoryIncludedObjectVersions as Versions, InventoryOptionalField as F,
        InventoryS3BucketDestination, InventorySchedule,
    };
    for (id, versions) in [
        ("all-versions", Versions::All),
        ("a-current", Versions::Current),
    ] {
        let conf = InventoryConfiguration::builder()
            .id(id)
            .is_enabled(true)
            .included_object_versions(versions)
            .set_optional_fields(Some(vec![
                F::Size,
                F::LastModifiedDate,
                F::ETag,
                F::ReplicationStatus,
                F::EncryptionStatus,
            ]))
            .schedule(
                InventorySchedule::builder()
                    .frequency(InventoryFrequency::Daily)
                    .build()
                    .unwrap(),
            )
            .destination(
                InventoryDestination::builder()
                    .s3_bucket_destination(
                        InventoryS3BucketDestination::builder()
                            .bucket(format!("arn:aws:s3:::{inv_bucket}"))
                            .format(match format {
                                Format::Csv => InventoryFormat::Csv,
                                _ => InventoryFormat::Parquet,
                            })
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
            .unwrap();
        c.put_bucket_inventory_configuration()
            .bucket(bucket)
            .id(id)
            .inventory_configuration(conf)
            .send()
            .await
            .expect("put the inventory configuration");
    }
}
