//! `--source-inventory configured` / `--dest-inventory configured`: find the inventory a bucket
//! already delivers from its own S3 Inventory configurations, so nobody has to know where the
//! reports land. Observation (ListBucketInventoryConfigurations) is one async function; the
//! choice is [`choose`], pure and tested with a failing case per reason.
//!
//! - ListBucketInventoryConfigurations returns at most 100 configurations a page
//!   (`IsTruncated`, `NextContinuationToken`) and needs `s3:GetInventoryConfiguration`:
//!   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBucketInventoryConfigurations.html>
//! - A configuration's reports land at
//!   `destination-prefix/source-bucket/config-ID/YYYY-MM-DDTHH-MMZ/manifest.json` in its
//!   destination bucket: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html>
//! - The comparison needs every version (`IncludedObjectVersions` `All`, which brings
//!   `VersionId` and `IsDeleteMarker`) and the optional fields Size, LastModifiedDate, ETag,
//!   ReplicationStatus and EncryptionStatus:
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html>

use super::Error;
use aws_sdk_s3::types::{
    InventoryConfiguration, InventoryFormat, InventoryFrequency, InventoryIncludedObjectVersions,
    InventoryOptionalField,
};

/// The flag value that asks for the bucket's configured inventory.
pub const CONFIGURED: &str = "configured";

const REF_LIST: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBucketInventoryConfigurations.html";
const REF_FIELDS: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html";

/// The optional fields the comparison reads (the others come with `All` versions).
const FIELDS: [InventoryOptionalField; 5] = [
    InventoryOptionalField::Size,
    InventoryOptionalField::LastModifiedDate,
    InventoryOptionalField::ETag,
    InventoryOptionalField::ReplicationStatus,
    InventoryOptionalField::EncryptionStatus,
];

/// The inventory chosen for a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// `s3://BUCKET/PREFIX/` of the configuration's deliveries (the newest is read).
    pub location: String,
    /// The configuration's id.
    pub id: String,
}

/// Why a configuration cannot serve the comparison, or `None` when it can. ORC serves only
/// `--athena` (`athena`): the local engine reads CSV and Parquet
/// ([`super::inventory::readable_locally`]).
fn unusable(c: &InventoryConfiguration, rule_prefixes: &[String], athena: bool) -> Option<String> {
    if !c.is_enabled() {
        return Some("it is disabled".into());
    }
    if c.included_object_versions() != &InventoryIncludedObjectVersions::All {
        return Some("it lists current versions only (IncludedObjectVersions must be All)".into());
    }
    let missing: Vec<&str> = FIELDS
        .iter()
        .filter(|f| !c.optional_fields().contains(f))
        .map(|f| f.as_str())
        .collect();
    if !missing.is_empty() {
        return Some(format!("it lacks the field(s) {}", missing.join(", ")));
    }
    let Some(dest) = c.destination().and_then(|d| d.s3_bucket_destination()) else {
        return Some("it has no S3 bucket destination".into());
    };
    match dest.format() {
        InventoryFormat::Csv | InventoryFormat::Parquet => {}
        InventoryFormat::Orc if athena => {}
        InventoryFormat::Orc => {
            return Some(
                "its format is ORC (replaudit reads CSV and Parquet locally; ORC with --athena)"
                    .into(),
            )
        }
        other => {
            return Some(format!(
                "its format is {} (replaudit reads CSV and Parquet, and ORC with --athena)",
                other.as_str()
            ))
        }
    }
    let filter = c.filter().map(|f| f.prefix()).unwrap_or_default();
    if let Some(p) = rule_prefixes.iter().find(|p| !p.starts_with(filter)) {
        let shown = if p.is_empty() { "the whole bucket" } else { p };
        return Some(format!(
            "its filter prefix '{filter}' does not cover a rule's scope ({shown})"
        ));
    }
    None
}

/// `s3://BUCKET/PREFIX/source-bucket/config-ID/` of a configuration's deliveries.
fn location(source_bucket: &str, c: &InventoryConfiguration) -> Option<String> {
    let dest = c.destination()?.s3_bucket_destination()?;
    // The destination is a bucket ARN (`arn:aws:s3:::name`).
    let bucket = crate::arn::Arn::split(dest.bucket())
        .and_then(|a| a.s3_bucket())
        .unwrap_or(dest.bucket());
    let prefix = dest
        .prefix()
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty())
        .map(|p| format!("{p}/"))
        .unwrap_or_default();
    Some(format!("s3://{bucket}/{prefix}{source_bucket}/{}/", c.id()))
}

/// The configuration of `bucket` whose reports can be reconciled: enabled, every version, the
/// needed fields, CSV or Parquet (or ORC when `athena`: Athena reads it), a filter covering
/// every rule prefix. Daily before weekly (the fresher delivery blames fewer in-flight
/// versions), then by id. Otherwise an error naming
/// each configuration and what it lacks, with the fix.
pub fn choose(
    bucket: &str,
    configs: &[InventoryConfiguration],
    rule_prefixes: &[String],
    athena: bool,
) -> Result<Chosen, Error> {
    let mut usable: Vec<&InventoryConfiguration> = configs
        .iter()
        .filter(|c| unusable(c, rule_prefixes, athena).is_none())
        .collect();
    usable.sort_by_key(|c| {
        let weekly = c.schedule().map(|s| s.frequency()) != Some(&InventoryFrequency::Daily);
        (weekly, c.id().to_string())
    });
    if let Some(c) = usable.first() {
        if let Some(location) = location(bucket, c) {
            return Ok(Chosen {
                location,
                id: c.id().to_string(),
            });
        }
    }
    let fix = format!(
        "add an S3 Inventory configuration of all versions with the fields Size, LastModifiedDate, \
         ETag, ReplicationStatus and EncryptionStatus in CSV or Parquet{} ({REF_FIELDS}), or give \
         the inventory's location, or reconcile from the live listing",
        if athena { " (or ORC)" } else { "" }
    );
    if configs.is_empty() {
        return Err(Error::Inventory(format!(
            "bucket {bucket} has no S3 Inventory configuration: {fix}"
        )));
    }
    let why: Vec<String> = configs
        .iter()
        .map(|c| {
            format!(
                "'{}': {}",
                c.id(),
                unusable(c, rule_prefixes, athena)
                    .unwrap_or_else(|| "it has no destination".into())
            )
        })
        .collect();
    Err(Error::Inventory(format!(
        "no S3 Inventory configuration of bucket {bucket} can be reconciled ({}): {fix}",
        why.join("; ")
    )))
}

/// Every inventory configuration of `bucket` (all pages), read with the bucket owner's client.
pub async fn list(c: &super::live::S3, bucket: &str) -> Result<Vec<InventoryConfiguration>, Error> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let r = c.run(c
            .list_bucket_inventory_configurations()
            .bucket(bucket)
            .set_continuation_token(token.take())
            .send())
            .await
            .map_err(|e| {
                let (code, msg) = crate::aws::error_parts(&e);
                let message = format!(
                    "s3:ListBucketInventoryConfigurations failed: {}{msg} (bucket {bucket}: the caller needs \
                     s3:GetInventoryConfiguration on it, {REF_LIST})",
                    code.map(|c| format!("{c}: ")).unwrap_or_default()
                );
                Error::aws_call(
                    message,
                    crate::aws::CallError::from_sdk_owned("s3:ListBucketInventoryConfigurations", e),
                )
            })?;
        out.extend(r.inventory_configuration_list().iter().cloned());
        match r.next_continuation_token() {
            Some(t) if r.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

/// The inventory an `--source-inventory` / `--dest-inventory` value names: the value itself, or
/// for [`CONFIGURED`] the location of the chosen configuration of the bucket the inventory
/// path reconciles (the spec's first replication's source, or its first rule's destination).
/// Says on stderr which configuration it chose. `athena`: the inventory is read by Athena, so an
/// ORC configuration serves too.
pub async fn resolve(
    spec: &crate::spec::Spec,
    value: &str,
    source: bool,
    athena: bool,
    opts: &crate::aws::AwsOptions,
) -> Result<String, Error> {
    if value != CONFIGURED {
        return Ok(value.to_string());
    }
    let r = spec
        .replication
        .first()
        .ok_or_else(|| Error::Spec("the spec has no replication to reconcile".into()))?;
    let first_dest = r
        .rules
        .first()
        .map(|x| x.destination.get_ref().clone())
        .ok_or_else(|| Error::Spec("the spec's replication has no rule".into()))?;
    let alias = if source {
        r.source.get_ref().clone()
    } else {
        first_dest.clone()
    };
    let prefixes: Vec<String> = r
        .rules
        .iter()
        .filter(|x| *x.destination.get_ref() == first_dest)
        .map(|x| x.prefix_or_empty().to_string())
        .collect();
    let (client, bucket, _, _) = super::live::bucket_client(spec, &alias, opts).await?;
    let configs = list(&client, &bucket).await?;
    let chosen = choose(&bucket, &configs, &prefixes, athena)?;
    eprintln!(
        "replaudit: {} inventory of s3://{bucket}: configuration '{}' at {}",
        if source { "source" } else { "destination" },
        chosen.id,
        chosen.location
    );
    Ok(chosen.location)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{
        InventoryDestination, InventoryFilter, InventoryS3BucketDestination, InventorySchedule,
    };

    fn config(id: &str, edit: impl FnOnce(&mut Spec)) -> InventoryConfiguration {
        let mut s = Spec {
            enabled: true,
            versions: InventoryIncludedObjectVersions::All,
            fields: FIELDS.to_vec(),
            format: InventoryFormat::Parquet,
            prefix: Some("inventories".into()),
            filter: None,
            daily: true,
        };
        edit(&mut s);
        let mut b = InventoryConfiguration::builder()
            .id(id)
            .is_enabled(s.enabled)
            .included_object_versions(s.versions)
            .set_optional_fields(Some(s.fields))
            .schedule(
                InventorySchedule::builder()
                    .frequency(if s.daily {
                        InventoryFrequency::Daily
                    } else {
                        InventoryFrequency::Weekly
                    })
                    .build()
                    .unwrap(),
            )
            .destination(
                InventoryDestination::builder()
                    .s3_bucket_destination(
                        InventoryS3BucketDestination::builder()
                            .bucket("arn:aws:s3:::xyz-inventory")
                            .format(s.format)
                            .set_prefix(s.prefix)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            );
        if let Some(f) = s.filter {
            b = b.filter(InventoryFilter::builder().prefix(f).build().unwrap());
        }
        b.build().unwrap()
    }

    struct Spec {
        enabled: bool,
        versions: InventoryIncludedObjectVersions,
        fields: Vec<InventoryOptionalField>,
        format: InventoryFormat,
        prefix: Option<String>,
        filter: Option<String>,
        daily: bool,
    }

    fn reports() -> Vec<String> {
        vec!["reports/".into()]
    }

    #[test]
    fn a_complete_configuration_is_found_where_s3_delivers_it() {
        let c = choose(
            "rubes-s3-bucket",
            &[config("all-versions", |_| {})],
            &reports(),
            false,
        )
        .unwrap();
        assert_eq!(
            c.location,
            "s3://xyz-inventory/inventories/rubes-s3-bucket/all-versions/"
        );
        let c = choose(
            "rubes-s3-bucket",
            &[config("v", |s| s.prefix = None)],
            &reports(),
            false,
        )
        .unwrap();
        assert_eq!(c.location, "s3://xyz-inventory/rubes-s3-bucket/v/");
    }

    #[test]
    fn daily_is_preferred_to_weekly_and_unusable_ones_are_passed_over() {
        let configs = [
            config("a-weekly", |s| s.daily = false),
            config("b-current", |s| {
                s.versions = InventoryIncludedObjectVersions::Current
            }),
            config("c-daily", |_| {}),
        ];
        assert_eq!(
            choose("b", &configs, &reports(), false).unwrap().id,
            "c-daily"
        );
        assert_eq!(
            choose("b", &configs[..2], &reports(), false).unwrap().id,
            "a-weekly"
        );
    }

    #[test]
    fn each_reason_is_named_with_the_fix() {
        let cases: Vec<(InventoryConfiguration, &str)> = vec![
            (config("off", |s| s.enabled = false), "'off': it is disabled"),
            (
                config("cur", |s| s.versions = InventoryIncludedObjectVersions::Current),
                "'cur': it lists current versions only (IncludedObjectVersions must be All)",
            ),
            (
                config("bare", |s| s.fields = vec![InventoryOptionalField::Size]),
                "'bare': it lacks the field(s) LastModifiedDate, ETag, ReplicationStatus, EncryptionStatus",
            ),
            (
                config("orc", |s| s.format = InventoryFormat::Orc),
                "'orc': its format is ORC (replaudit reads CSV and Parquet locally; ORC with --athena)",
            ),
            (
                config("logs", |s| s.filter = Some("logs/".into())),
                "'logs': its filter prefix 'logs/' does not cover a rule's scope (reports/)",
            ),
        ];
        for (c, want) in cases {
            let e = choose("rubes-s3-bucket", &[c], &reports(), false)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(
                    "no S3 Inventory configuration of bucket rubes-s3-bucket can be reconciled ("
                ) && e.contains(want)
                    && e.contains("or reconcile from the live listing"),
                "{e}"
            );
        }
        let e = choose("rubes-s3-bucket", &[], &reports(), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("bucket rubes-s3-bucket has no S3 Inventory configuration: add"),
            "{e}"
        );
    }

    #[test]
    fn orc_is_chosen_only_for_athena() {
        let configs = [config("orc", |s| s.format = InventoryFormat::Orc)];
        let c = choose("rubes-s3-bucket", &configs, &reports(), true).unwrap();
        assert_eq!(c.id, "orc");
        let e = choose("rubes-s3-bucket", &configs, &reports(), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ORC with --athena"), "{e}");
        // With --athena, daily still beats weekly across formats.
        let both = [
            config("a-parquet-weekly", |s| s.daily = false),
            config("b-orc-daily", |s| s.format = InventoryFormat::Orc),
        ];
        assert_eq!(
            choose("b", &both, &reports(), true).unwrap().id,
            "b-orc-daily"
        );
        assert_eq!(
            choose("b", &both, &reports(), false).unwrap().id,
            "a-parquet-weekly"
        );
    }

    #[test]
    fn a_filter_must_cover_every_rule_prefix() {
        let c = [config("r", |s| s.filter = Some("reports/".into()))];
        assert!(choose("b", &c, &reports(), false).is_ok());
        let e = choose("b", &c, &["reports/".into(), String::new()], false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("does not cover a rule's scope (the whole bucket)"),
            "{e}"
        );
    }
}
