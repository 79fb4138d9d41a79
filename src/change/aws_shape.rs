//! The request shapes of the AWS APIs a change names, as the AWS CLI's `--cli-input-json`
//! takes them (PascalCase members, documents as JSON text), converted to and from the
//! snapshot's types. One conversion each way, so what `what-if` reads and what a fix plan
//! writes are the same shapes.
//!
//! Unknown members are refused, as the AWS CLI refuses them ("Unknown parameter") before it
//! sends anything: a misspelt `ReplicationTime` must not be read as "no RTC".

use crate::snapshot::{
    EncryptionRule, PublicAccessBlock, ReplicationConfiguration, ReplicationDestination,
    ReplicationRule, RuleFilter, Toggle,
};
use serde::{Deserialize, Serialize};

/// `ReplicationConfiguration` of PutBucketReplication
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketReplication.html>,
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ReplicationRule.html>).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ReplicationConfigurationJson {
    pub role: String,
    pub rules: Vec<RuleJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RuleJson {
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// The V1 schema's top-level prefix (deprecated, still accepted by S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterJson>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_selection_criteria: Option<SelectionJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_object_replication: Option<StatusJson>,
    pub destination: DestinationJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_marker_replication: Option<StatusJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FilterJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<TagJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<AndJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AndJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default)]
    pub tags: Vec<TagJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TagJson {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StatusJson {
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SelectionJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_kms_encrypted_objects: Option<StatusJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_modifications: Option<StatusJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DestinationJson {
    pub bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_control_translation: Option<OwnerJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_configuration: Option<EncryptionConfigurationJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_time: Option<ReplicationTimeJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OwnerJson {
    pub owner: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfigurationJson {
    #[serde(
        rename = "ReplicaKmsKeyID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub replica_kms_key_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MinutesJson {
    pub minutes: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ReplicationTimeJson {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<MinutesJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MetricsJson {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_threshold: Option<MinutesJson>,
}

impl ReplicationConfigurationJson {
    /// Why S3 would refuse this configuration in PutBucketReplication, if it would: the
    /// documented constraints on the configuration itself (what it needs from the buckets, such
    /// as versioning, is checked against the state by the caller). One place, so what-if, a fix
    /// plan and `fix --apply` refuse alike.
    /// - at least one rule and at most 1,000, IDs of at most 255 characters and unique
    ///   (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-add-config.html>,
    ///   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ReplicationRule.html>);
    /// - with a `Filter` (the V2 schema), `DeleteMarkerReplication` and `Priority` must be given;
    ///   with a tag in the filter, delete marker replication must be Disabled, "because Amazon
    ///   S3 does not support replicating delete markers for tag-based rules"; without a
    ///   `Filter` (V1), `ReplicaModifications` "is not allowed"
    ///   (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteMarkerReplication.html>,
    ///   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_SourceSelectionCriteria.html>);
    /// - `ReplicationTime` "must be specified together with a `Metrics` block", and 15 is the
    ///   only valid number of minutes for both
    ///   (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_ReplicationTime.html>,
    ///   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ReplicationTimeValue.html>);
    /// - a rule that selects SSE-KMS objects names the key for their replicas
    ///   (`ReplicaKmsKeyID`, <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html>);
    /// - status members are `Enabled` or `Disabled`.
    pub fn refusal(&self) -> Option<String> {
        if self.rules.is_empty() {
            return Some(
                "a replication configuration must have at least one rule (MalformedXML)".into(),
            );
        }
        if self.rules.len() > 1000 {
            return Some(format!(
                "{} rules: a replication configuration holds at most 1,000 (InvalidRequest)",
                self.rules.len()
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let name = match &r.id {
                Some(id) => format!("rule {id:?}"),
                None => format!("rule {}", i + 1),
            };
            if let Some(id) = &r.id {
                if id.chars().count() > 255 {
                    return Some(format!(
                        "{name}: an ID has at most 255 characters (InvalidArgument)"
                    ));
                }
                if !ids.insert(id.as_str()) {
                    return Some(format!("{name}: rule IDs must be unique (InvalidRequest)"));
                }
            }
            let toggles = [
                ("Status", Some(r.status.as_str())),
                (
                    "DeleteMarkerReplication.Status",
                    r.delete_marker_replication
                        .as_ref()
                        .map(|s| s.status.as_str()),
                ),
                (
                    "ExistingObjectReplication.Status",
                    r.existing_object_replication
                        .as_ref()
                        .map(|s| s.status.as_str()),
                ),
            ];
            for (member, value) in toggles {
                if let Some(v) = value {
                    if v != "Enabled" && v != "Disabled" {
                        return Some(format!(
                            "{name}: {member} must be Enabled or Disabled, not {v:?} (MalformedXML)"
                        ));
                    }
                }
            }
            let sel = r.source_selection_criteria.clone().unwrap_or_default();
            match &r.filter {
                Some(f) => {
                    if r.delete_marker_replication.is_none() {
                        return Some(format!(
                            "{name}: a rule with a Filter must include DeleteMarkerReplication (InvalidRequest)"
                        ));
                    }
                    if r.priority.is_none() {
                        return Some(format!(
                            "{name}: a rule with a Filter must have a Priority (InvalidRequest)"
                        ));
                    }
                    let tagged =
                        f.tag.is_some() || f.and.as_ref().is_some_and(|a| !a.tags.is_empty());
                    let markers = r
                        .delete_marker_replication
                        .as_ref()
                        .map(|s| s.status.as_str());
                    if tagged && markers == Some("Enabled") {
                        return Some(format!(
                            "{name}: delete marker replication must be Disabled for a rule that filters on tags; S3 does not replicate delete markers for tag-based rules (InvalidRequest)"
                        ));
                    }
                }
                None => {
                    if sel.replica_modifications.is_some() {
                        return Some(format!(
                            "{name}: ReplicaModifications is not allowed without a Filter (the V1 schema) (InvalidRequest)"
                        ));
                    }
                }
            }
            let d = &r.destination;
            match (&d.replication_time, &d.metrics) {
                (Some(_), None) => {
                    return Some(format!(
                        "{name}: ReplicationTime must be specified together with Metrics (InvalidRequest)"
                    ))
                }
                (Some(t), Some(m)) if t.status == "Enabled" && m.status != "Enabled" => {
                    return Some(format!(
                        "{name}: Replication Time Control needs replication metrics Enabled (InvalidRequest)"
                    ))
                }
                _ => {}
            }
            let minutes = [
                (
                    "ReplicationTime.Time",
                    d.replication_time.as_ref().and_then(|t| t.time.as_ref()),
                ),
                (
                    "Metrics.EventThreshold",
                    d.metrics.as_ref().and_then(|m| m.event_threshold.as_ref()),
                ),
            ];
            for (member, m) in minutes {
                if let Some(m) = m {
                    if m.minutes != 15 {
                        return Some(format!(
                            "{name}: {member}.Minutes must be 15, not {} (InvalidArgument)",
                            m.minutes
                        ));
                    }
                }
            }
            let kms_selected = sel
                .sse_kms_encrypted_objects
                .as_ref()
                .is_some_and(|s| s.status == "Enabled");
            let key = d
                .encryption_configuration
                .as_ref()
                .and_then(|e| e.replica_kms_key_id.as_deref());
            if kms_selected && key.is_none_or(str::is_empty) {
                return Some(format!(
                    "{name}: a rule that replicates SSE-KMS objects must name ReplicaKmsKeyID (InvalidArgument)"
                ));
            }
        }
        None
    }
}

fn status(s: &Option<StatusJson>) -> Option<String> {
    s.as_ref().map(|s| s.status.clone())
}

fn status_json(s: &Option<String>) -> Option<StatusJson> {
    s.as_ref().map(|s| StatusJson { status: s.clone() })
}

impl From<&ReplicationConfigurationJson> for ReplicationConfiguration {
    fn from(c: &ReplicationConfigurationJson) -> Self {
        ReplicationConfiguration {
            role: c.role.clone(),
            rules: c.rules.iter().map(ReplicationRule::from).collect(),
        }
    }
}

impl From<&RuleJson> for ReplicationRule {
    fn from(r: &RuleJson) -> Self {
        let mut filter = RuleFilter::default();
        match &r.filter {
            Some(f) => {
                if let Some(and) = &f.and {
                    filter.prefix = and.prefix.clone();
                    for t in &and.tags {
                        filter.tags.insert(t.key.clone(), t.value.clone());
                    }
                } else if let Some(t) = &f.tag {
                    filter.tags.insert(t.key.clone(), t.value.clone());
                } else {
                    filter.prefix = f.prefix.clone();
                }
            }
            None => {
                filter.prefix = r.prefix.clone();
                filter.legacy = true;
            }
        }
        let d = &r.destination;
        let sel = r.source_selection_criteria.clone().unwrap_or_default();
        ReplicationRule {
            id: r.id.clone(),
            priority: r.priority,
            status: r.status.clone(),
            filter,
            delete_marker_replication: status(&r.delete_marker_replication),
            destination: ReplicationDestination {
                bucket: d.bucket.clone(),
                account: d.account.clone(),
                storage_class: d.storage_class.clone(),
                access_control_owner: d
                    .access_control_translation
                    .as_ref()
                    .map(|a| a.owner.clone()),
                replica_kms_key_id: d
                    .encryption_configuration
                    .as_ref()
                    .and_then(|e| e.replica_kms_key_id.clone()),
                replication_time: d.replication_time.as_ref().map(|t| Toggle {
                    status: t.status.clone(),
                    minutes: t.time.as_ref().map(|m| m.minutes),
                }),
                metrics: d.metrics.as_ref().map(|m| Toggle {
                    status: m.status.clone(),
                    minutes: m.event_threshold.as_ref().map(|m| m.minutes),
                }),
            },
            sse_kms_encrypted_objects: status(&sel.sse_kms_encrypted_objects),
            replica_modifications: status(&sel.replica_modifications),
            existing_object_replication: status(&r.existing_object_replication),
        }
    }
}

impl From<&ReplicationConfiguration> for ReplicationConfigurationJson {
    fn from(c: &ReplicationConfiguration) -> Self {
        ReplicationConfigurationJson {
            role: c.role.clone(),
            rules: c.rules.iter().map(RuleJson::from).collect(),
        }
    }
}

impl From<&ReplicationRule> for RuleJson {
    fn from(r: &ReplicationRule) -> Self {
        let f = &r.filter;
        let (prefix, filter) = if f.legacy {
            (f.prefix.clone(), None)
        } else {
            let tags: Vec<TagJson> = f
                .tags
                .iter()
                .map(|(k, v)| TagJson {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect();
            let filter = match (tags.len(), &f.prefix) {
                (0, p) => FilterJson {
                    prefix: Some(p.clone().unwrap_or_default()),
                    ..FilterJson::default()
                },
                (1, None) => FilterJson {
                    tag: tags.into_iter().next(),
                    ..FilterJson::default()
                },
                (_, p) => FilterJson {
                    and: Some(AndJson {
                        prefix: p.clone(),
                        tags,
                    }),
                    ..FilterJson::default()
                },
            };
            (None, Some(filter))
        };
        let d = &r.destination;
        let sel = SelectionJson {
            sse_kms_encrypted_objects: status_json(&r.sse_kms_encrypted_objects),
            replica_modifications: status_json(&r.replica_modifications),
        };
        RuleJson {
            id: r.id.clone(),
            priority: r.priority,
            prefix,
            filter,
            status: r.status.clone(),
            source_selection_criteria: (sel != SelectionJson::default()).then_some(sel),
            existing_object_replication: status_json(&r.existing_object_replication),
            destination: DestinationJson {
                bucket: d.bucket.clone(),
                account: d.account.clone(),
                storage_class: d.storage_class.clone(),
                access_control_translation: d
                    .access_control_owner
                    .as_ref()
                    .map(|o| OwnerJson { owner: o.clone() }),
                encryption_configuration: d.replica_kms_key_id.as_ref().map(|k| {
                    EncryptionConfigurationJson {
                        replica_kms_key_id: Some(k.clone()),
                    }
                }),
                replication_time: d.replication_time.as_ref().map(|t| ReplicationTimeJson {
                    status: t.status.clone(),
                    time: t.minutes.map(|minutes| MinutesJson { minutes }),
                }),
                metrics: d.metrics.as_ref().map(|m| MetricsJson {
                    status: m.status.clone(),
                    event_threshold: m.minutes.map(|minutes| MinutesJson { minutes }),
                }),
            },
            delete_marker_replication: status_json(&r.delete_marker_replication),
        }
    }
}

/// `PublicAccessBlockConfiguration` of PutPublicAccessBlock (bucket, and account through
/// S3 Control): members left out are false, as S3 stores them
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_PublicAccessBlockConfiguration.html>).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PublicAccessBlockJson {
    #[serde(default)]
    pub block_public_acls: bool,
    #[serde(default)]
    pub ignore_public_acls: bool,
    #[serde(default)]
    pub block_public_policy: bool,
    #[serde(default)]
    pub restrict_public_buckets: bool,
}

impl From<PublicAccessBlockJson> for PublicAccessBlock {
    fn from(p: PublicAccessBlockJson) -> Self {
        PublicAccessBlock {
            block_public_acls: p.block_public_acls,
            ignore_public_acls: p.ignore_public_acls,
            block_public_policy: p.block_public_policy,
            restrict_public_buckets: p.restrict_public_buckets,
        }
    }
}

impl From<&PublicAccessBlock> for PublicAccessBlockJson {
    fn from(p: &PublicAccessBlock) -> Self {
        PublicAccessBlockJson {
            block_public_acls: p.block_public_acls,
            ignore_public_acls: p.ignore_public_acls,
            block_public_policy: p.block_public_policy,
            restrict_public_buckets: p.restrict_public_buckets,
        }
    }
}

/// `ServerSideEncryptionConfiguration` of PutBucketEncryption
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketEncryption.html>).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EncryptionConfigJson {
    pub rules: Vec<EncryptionRuleJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EncryptionRuleJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_server_side_encryption_by_default: Option<SseDefaultJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_key_enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SseDefaultJson {
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: String,
    #[serde(
        rename = "KMSMasterKeyID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kms_master_key_id: Option<String>,
}

impl From<&EncryptionConfigJson> for Vec<EncryptionRule> {
    fn from(c: &EncryptionConfigJson) -> Self {
        c.rules
            .iter()
            .filter_map(|r| {
                r.apply_server_side_encryption_by_default
                    .as_ref()
                    .map(|d| EncryptionRule {
                        sse_algorithm: d.sse_algorithm.clone(),
                        kms_master_key_id: d.kms_master_key_id.clone(),
                        bucket_key_enabled: r.bucket_key_enabled,
                    })
            })
            .collect()
    }
}

impl From<&[EncryptionRule]> for EncryptionConfigJson {
    fn from(rules: &[EncryptionRule]) -> Self {
        EncryptionConfigJson {
            rules: rules
                .iter()
                .map(|r| EncryptionRuleJson {
                    apply_server_side_encryption_by_default: Some(SseDefaultJson {
                        sse_algorithm: r.sse_algorithm.clone(),
                        kms_master_key_id: r.kms_master_key_id.clone(),
                    }),
                    bucket_key_enabled: r.bucket_key_enabled,
                })
                .collect(),
        }
    }
}

/// `VersioningConfiguration` of PutBucketVersioning
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_VersioningConfiguration.html>):
/// `Enabled` or `Suspended`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VersioningJson {
    pub status: String,
    #[serde(rename = "MFADelete", default, skip_serializing_if = "Option::is_none")]
    pub mfa_delete: Option<String>,
}

/// `OwnershipControls` of PutBucketOwnershipControls
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_OwnershipControls.html>).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OwnershipControlsJson {
    pub rules: Vec<OwnershipRuleJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OwnershipRuleJson {
    pub object_ownership: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid V2 rule, as the seed's (RTC with metrics, delete markers, a KMS key for SSE-KMS
    /// objects), which each case below breaks in one way.
    fn valid_rule() -> serde_json::Value {
        serde_json::json!({"ID":"a","Priority":1,"Filter":{"Prefix":"reports/"},"Status":"Enabled",
            "SourceSelectionCriteria":{"SseKmsEncryptedObjects":{"Status":"Enabled"}},
            "DeleteMarkerReplication":{"Status":"Enabled"},
            "Destination":{"Bucket":"arn:aws:s3:::d",
              "EncryptionConfiguration":{"ReplicaKmsKeyID":"arn:aws:kms:ap-southeast-2:271089868719:key/k"},
              "ReplicationTime":{"Status":"Enabled","Time":{"Minutes":15}},
              "Metrics":{"Status":"Enabled","EventThreshold":{"Minutes":15}}}})
    }

    fn refusal_of(rules: Vec<serde_json::Value>) -> Option<String> {
        let c: ReplicationConfigurationJson = serde_json::from_value(
            serde_json::json!({"Role":"arn:aws:iam::111122223333:role/r","Rules":rules}),
        )
        .unwrap();
        c.refusal()
    }

    /// Each documented constraint of PutBucketReplication, broken once: refused with S3's
    /// reason; the valid rule, a V1 rule and a tag rule without delete markers pass.
    #[test]
    fn replication_configurations_s3_refuses_are_refused_with_the_reason() {
        assert_eq!(refusal_of(vec![valid_rule()]), None);
        let v1 = serde_json::json!({"ID":"old","Prefix":"old/","Status":"Enabled",
            "Destination":{"Bucket":"arn:aws:s3:::d"}});
        let tags = serde_json::json!({"ID":"t","Priority":2,
            "Filter":{"And":{"Prefix":"x/","Tags":[{"Key":"k","Value":"v"}]}},
            "Status":"Enabled","Destination":{"Bucket":"arn:aws:s3:::d"},
            "DeleteMarkerReplication":{"Status":"Disabled"}});
        assert_eq!(
            refusal_of(vec![valid_rule(), v1.clone(), tags.clone()]),
            None
        );

        let broken = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut r = valid_rule();
            f(&mut r);
            refusal_of(vec![r]).unwrap_or_else(|| "ACCEPTED".into())
        };
        let cases: Vec<(String, &str)> = vec![
            (refusal_of(vec![]).unwrap(), "at least one rule"),
            (
                refusal_of(
                    (0..1001)
                        .map(|i| {
                            let mut r = valid_rule();
                            r["ID"] = format!("r{i}").into();
                            r["Priority"] = i.into();
                            r
                        })
                        .collect(),
                )
                .unwrap(),
                "at most 1,000",
            ),
            (broken(&|r| r["ID"] = "x".repeat(256).into()), "at most 255"),
            (
                refusal_of(vec![valid_rule(), valid_rule()]).unwrap(),
                "must be unique",
            ),
            (
                broken(&|r| r["Status"] = "enabled".into()),
                "Enabled or Disabled",
            ),
            (
                broken(&|r| {
                    r.as_object_mut().unwrap().remove("DeleteMarkerReplication");
                }),
                "must include DeleteMarkerReplication",
            ),
            (
                broken(&|r| {
                    r.as_object_mut().unwrap().remove("Priority");
                }),
                "must have a Priority",
            ),
            (
                broken(&|r| r["Filter"] = serde_json::json!({"Tag":{"Key":"k","Value":"v"}})),
                "tag-based rules",
            ),
            (
                broken(&|r| {
                    r["Destination"].as_object_mut().unwrap().remove("Metrics");
                }),
                "together with Metrics",
            ),
            (
                broken(&|r| r["Destination"]["Metrics"]["Status"] = "Disabled".into()),
                "metrics Enabled",
            ),
            (
                broken(&|r| r["Destination"]["ReplicationTime"]["Time"]["Minutes"] = 30.into()),
                "must be 15",
            ),
            (
                broken(&|r| {
                    r["Destination"]
                        .as_object_mut()
                        .unwrap()
                        .remove("EncryptionConfiguration");
                }),
                "ReplicaKmsKeyID",
            ),
        ];
        let mut v1_mods = v1;
        v1_mods["SourceSelectionCriteria"] =
            serde_json::json!({"ReplicaModifications":{"Status":"Enabled"}});
        let v1_refused = refusal_of(vec![v1_mods]).unwrap_or_else(|| "ACCEPTED".into());
        for (got, want) in cases
            .iter()
            .map(|(g, w)| (g.as_str(), *w))
            .chain([(v1_refused.as_str(), "not allowed without a Filter")])
        {
            assert!(got.contains(want), "want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn replication_round_trips_through_the_api_shape() {
        let text = r#"{"Role":"arn:aws:iam::111122223333:role/r","Rules":[
            {"ID":"a","Priority":1,"Filter":{"Prefix":"reports/"},"Status":"Enabled",
             "SourceSelectionCriteria":{"SseKmsEncryptedObjects":{"Status":"Enabled"}},
             "DeleteMarkerReplication":{"Status":"Enabled"},
             "Destination":{"Bucket":"arn:aws:s3:::d","Account":"271089868719",
               "AccessControlTranslation":{"Owner":"Destination"},
               "EncryptionConfiguration":{"ReplicaKmsKeyID":"arn:aws:kms:ap-southeast-2:271089868719:alias/k"},
               "ReplicationTime":{"Status":"Enabled","Time":{"Minutes":15}},
               "Metrics":{"Status":"Enabled","EventThreshold":{"Minutes":15}}}},
            {"ID":"b","Priority":2,"Filter":{"And":{"Prefix":"x/","Tags":[{"Key":"k","Value":"v"}]}},
             "Status":"Enabled","Destination":{"Bucket":"arn:aws:s3:::d"},
             "DeleteMarkerReplication":{"Status":"Disabled"}},
            {"ID":"c","Prefix":"old/","Status":"Disabled","Destination":{"Bucket":"arn:aws:s3:::d"}}]}"#;
        let json: ReplicationConfigurationJson = serde_json::from_str(text).unwrap();
        let snap = ReplicationConfiguration::from(&json);
        assert_eq!(snap.rules.len(), 3);
        let a = &snap.rules[0];
        assert_eq!(a.filter.prefix.as_deref(), Some("reports/"));
        assert!(a.destination.replication_time.as_ref().unwrap().enabled());
        assert_eq!(
            a.destination.replication_time.as_ref().unwrap().minutes,
            Some(15)
        );
        assert_eq!(
            a.destination.replica_kms_key_id.as_deref(),
            Some("arn:aws:kms:ap-southeast-2:271089868719:alias/k")
        );
        assert_eq!(a.sse_kms_encrypted_objects.as_deref(), Some("Enabled"));
        assert_eq!(
            snap.rules[1].filter.tags.get("k").map(String::as_str),
            Some("v")
        );
        assert!(snap.rules[2].filter.legacy);
        // And back: the same configuration, member for member.
        assert_eq!(ReplicationConfigurationJson::from(&snap), json);
    }

    #[test]
    fn a_misspelt_member_is_refused_not_read_as_absent() {
        let text = r#"{"Role":"r","Rules":[{"Status":"Enabled","Filter":{"Prefix":""},
            "Destination":{"Bucket":"arn:aws:s3:::d","ReplicationTim":{"Status":"Enabled"}}}]}"#;
        let e = serde_json::from_str::<ReplicationConfigurationJson>(text).unwrap_err();
        assert!(e.to_string().contains("ReplicationTim"), "{e}");
    }
}
