//! Which encryption a replica must have: the one statement of it that the canary
//! (`canary-replica-encryption`) and every reconcile path (live listing, inventory SQL, Athena)
//! apply, so that they cannot disagree with each other or with S3.
//!
//! S3 user guide, "Replicating encrypted objects (SSE-C, SSE-S3, SSE-KMS, DSSE-KMS)"
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html>):
//! - "By default, Amazon S3 doesn't replicate objects that are encrypted by using SSE-KMS or
//!   DSSE-KMS": a rule replicates them only when it opts them in (`SourceSelectionCriteria`
//!   `SseKmsEncryptedObjects` Enabled), and then encrypts the replica with the rule's
//!   `ReplicaKmsKeyID`;
//! - "If objects in the source bucket are encrypted by using SSE-S3, SSE-KMS, or DSSE-KMS, the
//!   replica objects in the destination bucket use the same type of encryption as the source
//!   objects. The default encryption settings of the destination bucket are not used";
//! - "If objects in the source bucket are not encrypted, the replica objects in the destination
//!   bucket are encrypted by using the default encryption settings of the destination bucket";
//! - SSE-C objects replicate as they are (no configuration; the replica is SSE-C under the same
//!   customer key).
//!
//! Which key: [`super::kms::same_key`], with aliases resolved by the same DescribeKey answer the
//! audit rules use ([`super::kms::resolved_key_arn`], [`super::kms::resolve_in`]).

use super::kms::same_key;
use super::Error;

/// A type of server-side encryption, as S3 names it on an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseKind {
    /// No server-side encryption (no `x-amz-server-side-encryption`; inventory `NOT-SSE`).
    None,
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS (`aws:kms`).
    Kms,
    /// DSSE-KMS (`aws:kms:dsse`).
    Dsse,
    /// SSE-C (customer-provided key).
    C,
}

impl SseKind {
    /// From HeadObject's `x-amz-server-side-encryption` (or a bucket's default `SSEAlgorithm`).
    /// An algorithm S3 does not document is an error, never taken for another.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>
    pub fn from_header(sse: Option<&str>) -> Result<SseKind, Error> {
        match sse {
            None | Some("") => Ok(SseKind::None),
            Some("AES256") => Ok(SseKind::S3),
            Some("aws:kms") => Ok(SseKind::Kms),
            Some("aws:kms:dsse") => Ok(SseKind::Dsse),
            Some(other) => Err(Error::UnknownSse(other.to_string())),
        }
    }

    /// From an S3 Inventory `EncryptionStatus` ("SSE-S3, SSE-C, SSE-KMS, DSSE-KMS, or NOT-SSE",
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html>).
    pub fn from_inventory(status: &str) -> Result<SseKind, Error> {
        match status {
            "NOT-SSE" => Ok(SseKind::None),
            "SSE-S3" => Ok(SseKind::S3),
            "SSE-KMS" => Ok(SseKind::Kms),
            "DSSE-KMS" => Ok(SseKind::Dsse),
            "SSE-C" => Ok(SseKind::C),
            other => Err(Error::UnknownInventorySse(other.to_string())),
        }
    }

    /// The header value (`AES256`, `aws:kms`, `aws:kms:dsse`; SSE-C and none have none).
    pub fn header(self) -> Option<&'static str> {
        match self {
            SseKind::S3 => Some("AES256"),
            SseKind::Kms => Some("aws:kms"),
            SseKind::Dsse => Some("aws:kms:dsse"),
            SseKind::None | SseKind::C => None,
        }
    }

    /// The S3 Inventory `EncryptionStatus` of this kind.
    pub fn inventory(self) -> &'static str {
        match self {
            SseKind::None => "NOT-SSE",
            SseKind::S3 => "SSE-S3",
            SseKind::Kms => "SSE-KMS",
            SseKind::Dsse => "DSSE-KMS",
            SseKind::C => "SSE-C",
        }
    }

    pub fn is_kms(self) -> bool {
        matches!(self, SseKind::Kms | SseKind::Dsse)
    }

    /// For messages.
    pub fn label(self) -> &'static str {
        match self {
            SseKind::None => "unencrypted",
            SseKind::S3 => "SSE-S3",
            SseKind::Kms => "SSE-KMS",
            SseKind::Dsse => "DSSE-KMS",
            SseKind::C => "SSE-C",
        }
    }

    pub const ALL: [SseKind; 5] = [
        SseKind::None,
        SseKind::S3,
        SseKind::Kms,
        SseKind::Dsse,
        SseKind::C,
    ];
}

/// An object's encryption: its type, and the KMS key when S3 reported one (HeadObject does for
/// SSE-KMS and DSSE-KMS; an inventory never does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSse {
    pub kind: SseKind,
    pub kms_key: Option<String>,
}

impl ObjectSse {
    pub fn new(kind: SseKind, kms_key: Option<&str>) -> ObjectSse {
        ObjectSse {
            kind,
            kms_key: kms_key.map(str::to_string),
        }
    }
}

/// A spec bucket's default encryption as the spec states it (`default_encryption`, and its
/// `kms_key_arn` for SSE-KMS), `None` when the spec does not state it.
pub fn spec_default(bucket: &crate::spec::Bucket) -> Option<ObjectSse> {
    let kind = SseKind::from_header(Some(bucket.default_encryption.as_ref()?.get_ref())).ok()?;
    Some(ObjectSse::new(
        kind,
        bucket
            .kms_key_arn
            .as_ref()
            .map(|k| k.get_ref().as_str())
            .filter(|_| kind.is_kms()),
    ))
}

/// What a replication rule says about encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleSse<'a> {
    /// `SourceSelectionCriteria.SseKmsEncryptedObjects` is Enabled.
    pub sse_kms_encrypted_objects: bool,
    /// `Destination.EncryptionConfiguration.ReplicaKmsKeyID` (key ARN or alias ARN).
    pub replica_kms_key: Option<&'a str>,
}

/// What a replica must be, given its source object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// S3 does not replicate this object under this rule (SSE-KMS or DSSE-KMS, not opted in).
    NotReplicated(String),
    /// The replica must be of this type, under this key when one is named (a reference to be
    /// compared with [`same_key`]; `None` = any key).
    Must {
        kind: SseKind,
        key: Option<String>,
        basis: &'static str,
    },
    /// Cannot be decided from what is known, and why.
    Undecidable(String),
}

/// The encryption S3 gives the replica of an object of encryption `source` under `rule`.
/// `dest_default` is the destination bucket's default encryption when it is known (type, and
/// its key when one is named; `None` = not known).
pub fn expected_replica(
    source: SseKind,
    rule: RuleSse<'_>,
    dest_default: Option<&ObjectSse>,
) -> Expected {
    match source {
        SseKind::Kms | SseKind::Dsse if !rule.sse_kms_encrypted_objects => Expected::NotReplicated(
            format!(
                "the source object is {}, and the rule does not opt SSE-KMS objects in (SseKmsEncryptedObjects): S3 does not replicate it",
                source.label()
            ),
        ),
        SseKind::Kms | SseKind::Dsse => match rule.replica_kms_key {
            Some(k) => Expected::Must {
                kind: source,
                key: Some(k.to_string()),
                basis: "SSE-KMS and DSSE-KMS source objects are re-encrypted with the rule's replica KMS key, keeping their encryption type",
            },
            None => Expected::Undecidable(
                "the rule replicates SSE-KMS objects but names no replica KMS key (ReplicaKmsKeyID), which S3 requires".into(),
            ),
        },
        SseKind::S3 => Expected::Must {
            kind: SseKind::S3,
            key: None,
            basis: "SSE-S3 source objects replicate as SSE-S3 (the destination's default encryption is not used)",
        },
        SseKind::C => Expected::Must {
            kind: SseKind::C,
            key: None,
            basis: "SSE-C source objects replicate as SSE-C",
        },
        SseKind::None => match dest_default {
            Some(d) => Expected::Must {
                kind: d.kind,
                key: d.kms_key.clone().filter(|_| d.kind.is_kms()),
                basis: "unencrypted source objects get the destination's default encryption",
            },
            None => Expected::Undecidable(
                "the source object is unencrypted, so its replica gets the destination's default encryption, which is not known (the spec gives no default_encryption for the destination)".into(),
            ),
        },
    }
}

/// The verdict on a replica's encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    Pass(String),
    Fail(String),
    /// Not decidable (an alias not resolved, a key not reported, the source's encryption not
    /// known): never a pass.
    Undecidable(String),
}

/// Judge a replica against what it must be. `resolve` gives the key ARN a key reference
/// resolves to ([`super::kms::resolved_key_arn`] / [`super::kms::resolve_in`]).
pub fn judge_replica(
    expected: &Expected,
    replica: &ObjectSse,
    resolve: &dyn Fn(&str) -> Result<String, Error>,
) -> Judged {
    let (kind, key) = match expected {
        Expected::NotReplicated(why) => {
            return Judged::Fail(format!(
                "a replica exists although {}",
                why.trim_end_matches(": S3 does not replicate it")
            ))
        }
        Expected::Undecidable(why) => return Judged::Undecidable(why.clone()),
        Expected::Must { kind, key, .. } => (*kind, key),
    };
    if replica.kind != kind {
        return Judged::Fail(format!(
            "replica is {}, expected {}",
            replica.kind.label(),
            kind.label()
        ));
    }
    let Some(reference) = key.as_deref().filter(|_| kind.is_kms()) else {
        return Judged::Pass(format!("replica is {}", kind.label()));
    };
    let Some(actual) = replica.kms_key.as_deref() else {
        return Judged::Undecidable(format!(
            "replica is {} but its KMS key was not reported, so it cannot be compared with {reference}",
            kind.label()
        ));
    };
    let resolved = resolve(reference);
    match same_key(reference, &resolved, actual) {
        Ok(true) => Judged::Pass(format!(
            "replica is {} under {reference}{}",
            kind.label(),
            match &resolved {
                Ok(k) if k != reference => format!(" (key {k})"),
                _ => String::new(),
            }
        )),
        Ok(false) => Judged::Fail(format!(
            "replica is {} under {actual}, expected {reference}{}",
            kind.label(),
            match &resolved {
                Ok(k) if k != reference => format!(" (key {k})"),
                _ => String::new(),
            }
        )),
        Err(why) => Judged::Undecidable(format!(
            "replica is {} under {actual}; whether that is {reference} cannot be decided: {why}",
            kind.label()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:ap-southeast-2:271089868719:key/9b8a";
    const OTHER: &str = "arn:aws:kms:ap-southeast-2:271089868719:key/dead";
    const ALIAS: &str = "arn:aws:kms:ap-southeast-2:271089868719:alias/abcd-replicas";
    const RULE: RuleSse = RuleSse {
        sse_kms_encrypted_objects: true,
        replica_kms_key: Some(ALIAS),
    };

    fn resolves_to(
        target: Option<&'static str>,
    ) -> impl Fn(&str) -> Result<String, Error> + 'static {
        move |r: &str| {
            if r == ALIAS {
                target.map(str::to_string).ok_or_else(|| {
                    Error::Undecided(format!(
                        "KMS alias {r} could not be resolved: NotFoundException"
                    ))
                })
            } else if r.contains(":key/") {
                Ok(r.to_string())
            } else {
                Err(Error::NotCollected(format!("KMS key {r}")))
            }
        }
    }

    fn kms_replica(key: &str) -> ObjectSse {
        ObjectSse::new(SseKind::Kms, Some(key))
    }

    #[test]
    fn an_alias_arn_naming_the_replicas_key_passes_and_another_key_fails() {
        let e = expected_replica(SseKind::Kms, RULE, None);
        let r = resolves_to(Some(KEY));
        assert!(matches!(
            judge_replica(&e, &kms_replica(KEY), &r),
            Judged::Pass(_)
        ));
        // Also when S3 reports a bare key id.
        assert!(matches!(
            judge_replica(&e, &kms_replica("9b8a"), &r),
            Judged::Pass(_)
        ));
        match judge_replica(&e, &kms_replica(OTHER), &r) {
            Judged::Fail(m) => assert!(m.contains(OTHER) && m.contains(KEY), "{m}"),
            j => panic!("{j:?}"),
        }
        // The alias names another key: the replica under KEY is a fail.
        let elsewhere = resolves_to(Some(OTHER));
        assert!(matches!(
            judge_replica(&e, &kms_replica(KEY), &elsewhere),
            Judged::Fail(_)
        ));
    }

    #[test]
    fn an_unresolved_alias_is_undecidable_never_a_pass_nor_a_fail() {
        let e = expected_replica(SseKind::Kms, RULE, None);
        for replica in [KEY, OTHER] {
            match judge_replica(&e, &kms_replica(replica), &resolves_to(None)) {
                Judged::Undecidable(m) => assert!(m.contains("NotFoundException"), "{m}"),
                j => panic!("{j:?}"),
            }
        }
        // A replica whose key is not reported (an inventory) cannot be compared either.
        assert!(matches!(
            judge_replica(
                &e,
                &ObjectSse::new(SseKind::Kms, None),
                &resolves_to(Some(KEY))
            ),
            Judged::Undecidable(_)
        ));
    }

    #[test]
    fn a_key_arn_in_the_spec_needs_no_resolution() {
        let rule = RuleSse {
            replica_kms_key: Some(KEY),
            ..RULE
        };
        let e = expected_replica(SseKind::Dsse, rule, None);
        let none = resolves_to(None);
        assert!(matches!(
            judge_replica(&e, &ObjectSse::new(SseKind::Dsse, Some(KEY)), &none),
            Judged::Pass(_)
        ));
        // DSSE-KMS stays DSSE-KMS: an SSE-KMS replica is of the wrong type.
        assert!(matches!(
            judge_replica(&e, &kms_replica(KEY), &none),
            Judged::Fail(_)
        ));
    }

    #[test]
    fn sse_s3_and_sse_c_sources_replicate_as_they_are_whatever_the_replica_key() {
        let r = resolves_to(Some(KEY));
        let e = expected_replica(SseKind::S3, RULE, None);
        assert!(matches!(
            judge_replica(&e, &ObjectSse::new(SseKind::S3, None), &r),
            Judged::Pass(_)
        ));
        assert!(matches!(
            judge_replica(&e, &kms_replica(KEY), &r),
            Judged::Fail(_)
        ));
        let e = expected_replica(SseKind::C, RULE, None);
        assert!(matches!(
            judge_replica(&e, &ObjectSse::new(SseKind::C, None), &r),
            Judged::Pass(_)
        ));
        assert!(matches!(
            judge_replica(&e, &ObjectSse::new(SseKind::S3, None), &r),
            Judged::Fail(_)
        ));
    }

    #[test]
    fn an_unencrypted_source_gets_the_destinations_default() {
        let r = resolves_to(Some(KEY));
        let default = ObjectSse::new(SseKind::Kms, Some(ALIAS));
        let e = expected_replica(SseKind::None, RULE, Some(&default));
        assert!(matches!(
            judge_replica(&e, &kms_replica(KEY), &r),
            Judged::Pass(_)
        ));
        assert!(matches!(
            judge_replica(&e, &ObjectSse::new(SseKind::S3, None), &r),
            Judged::Fail(_)
        ));
        assert!(matches!(
            judge_replica(&e, &kms_replica(OTHER), &r),
            Judged::Fail(_)
        ));
        // An SSE-KMS default without a named key (aws/s3): any key.
        let any = ObjectSse::new(SseKind::Kms, None);
        let e = expected_replica(SseKind::None, RULE, Some(&any));
        assert!(matches!(
            judge_replica(&e, &kms_replica(OTHER), &r),
            Judged::Pass(_)
        ));
        // Default not known: not decidable, whatever the replica is.
        let e = expected_replica(SseKind::None, RULE, None);
        assert!(matches!(e, Expected::Undecidable(_)));
        assert!(matches!(
            judge_replica(&e, &ObjectSse::new(SseKind::S3, None), &r),
            Judged::Undecidable(_)
        ));
    }

    #[test]
    fn kms_sources_are_not_replicated_unless_the_rule_opts_them_in() {
        let off = RuleSse {
            sse_kms_encrypted_objects: false,
            replica_kms_key: None,
        };
        for k in [SseKind::Kms, SseKind::Dsse] {
            let e = expected_replica(k, off, None);
            assert!(matches!(e, Expected::NotReplicated(_)), "{e:?}");
            assert!(matches!(
                judge_replica(&e, &kms_replica(KEY), &resolves_to(Some(KEY))),
                Judged::Fail(_)
            ));
        }
        // Other objects of the same rule still replicate.
        assert!(matches!(
            expected_replica(SseKind::S3, off, None),
            Expected::Must {
                kind: SseKind::S3,
                ..
            }
        ));
    }

    #[test]
    fn encryption_names_parse_both_ways_and_unknown_ones_are_errors() {
        for k in SseKind::ALL {
            assert_eq!(SseKind::from_inventory(k.inventory()), Ok(k));
            if let Some(h) = k.header() {
                assert_eq!(SseKind::from_header(Some(h)), Ok(k));
            }
        }
        assert_eq!(SseKind::from_header(None), Ok(SseKind::None));
        assert!(SseKind::from_header(Some("aws:kms:bogus")).is_err());
        assert!(SseKind::from_inventory("SSE-X").is_err());
    }
}
