//! Amazon Resource Names: the one place that takes an ARN apart.
//!
//! The format is `arn:partition:service:region:account-id:resource`, where the resource part is
//! `resource-id`, `resource-type/resource-id` or `resource-type:resource-id` and may itself
//! contain `:` and `/` ("Some resource identifiers include a parent resource ... or a qualifier
//! such as a version"), and where "the ARNs for some resources omit the Region, the account ID,
//! or both" (S3 buckets and objects have neither, IAM has no Region)
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html>). So an ARN is split
//! at its first five colons and never more.
//!
//! Two ways in, because two kinds of text look like ARNs:
//! - [`Arn::parse`] for an ARN that names one resource (what AWS returns, what a spec must
//!   name): every field is checked and a bad one is an [`ArnError`] saying which.
//! - [`Arn::split`] (and [`segments`]) for patterns (`arn:aws:iam::*:role/*`, policy
//!   `Resource` and `ArnLike` values, where a wildcard may stand in any field) and for callers
//!   that read one field of whatever they were given: the six fields as written, nothing judged.
//!
//! Pure: no AWS SDK here.

use std::fmt;

/// An ARN cut into its six fields, borrowing from the text. Empty `region` or `account` means
/// the ARN omits it, as S3 bucket and IAM ARNs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`...: "A partition is a group of AWS Regions. Each AWS
    /// account is scoped to one partition" (reference-arns page).
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// Everything after the fifth colon, colons and slashes included.
    pub resource: &'a str,
}

/// Why a text is not the ARN of a resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    #[error("'{0}' is not an ARN: an ARN starts with 'arn:'")]
    NotAnArn(String),
    #[error("'{arn}' is not an ARN: it has {fields} of the six fields of arn:partition:service:region:account-id:resource")]
    TooFewFields { arn: String, fields: usize },
    #[error("'{arn}': '{partition}' is not a partition (aws, aws-cn, aws-us-gov...)")]
    BadPartition { arn: String, partition: String },
    #[error("'{arn}': '{service}' is not a service namespace")]
    BadService { arn: String, service: String },
    #[error("'{arn}': '{region}' is not a Region code")]
    BadRegion { arn: String, region: String },
    #[error("'{arn}': '{account}' is not a 12-digit account id")]
    BadAccount { arn: String, account: String },
    #[error(
        "'{arn}': {service} ARNs name the account that owns the resource, and this one has none"
    )]
    MissingAccount { arn: String, service: String },
    #[error("'{0}': the resource part is empty")]
    EmptyResource(String),
}

/// Services whose ARNs always carry the owning account: IAM (`arn:aws:iam::account:root`,
/// `user/...`, `role/...`, `policy/...`) and STS (`assumed-role/...`, `federated-user/...`),
/// per <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns>,
/// and KMS keys and aliases (`arn:aws:kms:region:account:key/id`,
/// <https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id-key-ARN>).
const ACCOUNT_REQUIRED: &[&str] = &["iam", "sts", "kms"];

/// The six colon-separated fields of `s`, the last one keeping any further colons; `None` with
/// fewer than six. Nothing is checked, not even the `arn` prefix: `ArnLike` compares a pattern
/// and a value field by field this way, wildcards and all
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN>:
/// "Each of the six colon-delimited components of the ARN is checked separately").
pub fn segments(s: &str) -> Option<[&str; 6]> {
    let mut it = s.splitn(6, ':');
    Some([
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    ])
}

impl<'a> Arn<'a> {
    /// The fields of `s` as written, when it starts with `arn:` and has six fields; for
    /// patterns and for reading one field (see the module doc).
    pub fn split(s: &'a str) -> Option<Arn<'a>> {
        match segments(s)? {
            ["arn", partition, service, region, account, resource] => Some(Arn {
                partition,
                service,
                region,
                account,
                resource,
            }),
            _ => None,
        }
    }

    /// The ARN of one resource, every field checked: a partition `aws` or `aws-<name>`, a
    /// service namespace, a Region code or nothing, a 12-digit account id or nothing (`aws` for
    /// AWS managed policies, `arn:aws:iam::aws:policy/...`), and a resource. Wildcards are not
    /// resources: a pattern goes through [`Arn::split`].
    pub fn parse(s: &'a str) -> Result<Arn<'a>, ArnError> {
        if !s.starts_with("arn:") {
            return Err(ArnError::NotAnArn(s.to_string()));
        }
        let Some(a) = Arn::split(s) else {
            return Err(ArnError::TooFewFields {
                arn: s.to_string(),
                fields: s.split(':').count(),
            });
        };
        let word = |f: &str| {
            !f.is_empty()
                && f.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        let partition_ok = a.partition == "aws"
            || a.partition
                .strip_prefix("aws-")
                .is_some_and(|rest| word(rest) && !rest.ends_with('-'));
        if !partition_ok {
            return Err(ArnError::BadPartition {
                arn: s.to_string(),
                partition: a.partition.to_string(),
            });
        }
        if !word(a.service) {
            return Err(ArnError::BadService {
                arn: s.to_string(),
                service: a.service.to_string(),
            });
        }
        if !a.region.is_empty() && !word(a.region) {
            return Err(ArnError::BadRegion {
                arn: s.to_string(),
                region: a.region.to_string(),
            });
        }
        if a.account.is_empty() {
            if ACCOUNT_REQUIRED.contains(&a.service) {
                return Err(ArnError::MissingAccount {
                    arn: s.to_string(),
                    service: a.service.to_string(),
                });
            }
        } else if !is_account_id(a.account) && a.account != "aws" {
            return Err(ArnError::BadAccount {
                arn: s.to_string(),
                account: a.account.to_string(),
            });
        }
        if a.resource.is_empty() {
            return Err(ArnError::EmptyResource(s.to_string()));
        }
        Ok(a)
    }

    /// `resource-type` of `resource-type/resource-id` or `resource-type:resource-id` (whichever
    /// separator comes first); `None` for a bare `resource-id`. For S3 buckets and objects the
    /// resource has no type: it is `bucket` or `bucket/key` (see [`Arn::s3_bucket`]).
    pub fn resource_type(&self) -> Option<&'a str> {
        self.resource.split_once(['/', ':']).map(|(t, _)| t)
    }

    /// What follows the resource type (with any path or qualifier), or the whole resource when
    /// it has no type.
    pub fn resource_id(&self) -> &'a str {
        self.resource
            .split_once(['/', ':'])
            .map_or(self.resource, |(_, id)| id)
    }

    /// The bucket of an S3 bucket or object ARN (`arn:aws:s3:::bucket`,
    /// `arn:aws:s3:::bucket/key`, any partition): "An Amazon S3 ARN excludes the AWS Region and
    /// namespace" and its relative id is "bucket-name or a bucket-name/object-key"
    /// (<https://github.com/awsdocs/amazon-s3-developer-guide/blob/master/doc_source/s3-arn-format.md>),
    /// unlike access points (`arn:aws:s3:region:account:accesspoint/name`).
    pub fn s3_bucket(&self) -> Option<&'a str> {
        (self.service == "s3" && self.region.is_empty() && self.account.is_empty())
            .then(|| self.resource.split('/').next().unwrap_or(self.resource))
            .filter(|b| !b.is_empty())
    }

    /// The key id of a KMS key ARN (`arn:aws:kms:region:account:key/<id>`,
    /// <https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id-key-ARN>);
    /// `None` for an alias ARN or anything else.
    pub fn kms_key(&self) -> Option<&'a str> {
        (self.service == "kms" && self.resource_type() == Some("key"))
            .then(|| self.resource_id())
            .filter(|id| !id.is_empty())
    }
}

impl fmt::Display for Arn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

/// An AWS account id: "The ID of the AWS account that owns the resource, without the hyphens.
/// For example, 123456789012" (reference-arns page): twelve digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account field of an ARN or ARN pattern, when it has one (not S3 buckets, not garbage).
/// Not checked: a pattern's `*` comes back as written.
pub fn account_of(arn: &str) -> Option<&str> {
    Arn::split(arn).map(|a| a.account).filter(|a| !a.is_empty())
}

/// The Region field of an ARN, when it has one (KMS keys do, IAM and S3 buckets do not).
pub fn region_of(arn: &str) -> Option<&str> {
    Arn::split(arn).map(|a| a.region).filter(|r| !r.is_empty())
}

/// The partition field of an ARN, when it has one.
pub fn partition_of(arn: &str) -> Option<&str> {
    Arn::split(arn)
        .map(|a| a.partition)
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Arn<'_> {
        Arn::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn s3_bucket_and_object_have_no_region_or_account() {
        let b = ok("arn:aws:s3:::dest-bucket");
        assert_eq!(
            (b.partition, b.service, b.region, b.account, b.resource),
            ("aws", "s3", "", "", "dest-bucket")
        );
        assert_eq!(b.s3_bucket(), Some("dest-bucket"));
        assert_eq!(b.resource_type(), None);
        assert_eq!(b.resource_id(), "dest-bucket");

        // A key may hold ':' and '/': they stay in the resource.
        let o = ok("arn:aws:s3:::dest-bucket/logs/2026:12:08/a:b.json");
        assert_eq!(o.resource, "dest-bucket/logs/2026:12:08/a:b.json");
        assert_eq!(o.s3_bucket(), Some("dest-bucket"));
        assert_eq!(account_of(o.resource), None);

        // An access point is not a bucket.
        let ap = ok("arn:aws:s3:us-east-1:111122223333:accesspoint/ap1");
        assert_eq!(ap.s3_bucket(), None);
        assert_eq!(ap.resource_type(), Some("accesspoint"));
        assert_eq!(ap.resource_id(), "ap1");
    }

    #[test]
    fn iam_role_with_a_path() {
        let r = ok("arn:aws:iam::271089868719:role/service/replication/s3-crr");
        assert_eq!(
            (r.service, r.region, r.account),
            ("iam", "", "271089868719")
        );
        assert_eq!(r.resource_type(), Some("role"));
        assert_eq!(r.resource_id(), "service/replication/s3-crr");
        assert_eq!(account_of(&r.to_string()), Some("271089868719"));
    }

    #[test]
    fn kms_key_and_alias() {
        let k =
            ok("arn:aws:kms:ap-southeast-2:271089868719:key/1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(k.region, "ap-southeast-2");
        assert_eq!(k.resource_type(), Some("key"));
        assert_eq!(k.resource_id(), "1234abcd-12ab-34cd-56ef-1234567890ab");
        let a = ok("arn:aws:kms:eu-west-1:271089868719:alias/replica/dest");
        assert_eq!(a.resource_type(), Some("alias"));
        assert_eq!(a.resource_id(), "replica/dest");
        assert_eq!(k.kms_key(), Some("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert_eq!(a.kms_key(), None);
        assert_eq!(ok("arn:aws:s3:::key/x").kms_key(), None);
        assert_eq!(
            region_of("arn:aws:kms:eu-west-1:271089868719:alias/x"),
            Some("eu-west-1")
        );
    }

    #[test]
    fn sts_assumed_role_session() {
        let s = ok("arn:aws:sts::271089868719:assumed-role/replicator/session-1");
        assert_eq!((s.service, s.account), ("sts", "271089868719"));
        assert_eq!(s.resource_type(), Some("assumed-role"));
        assert_eq!(s.resource_id(), "replicator/session-1");
    }

    #[test]
    fn china_and_govcloud_partitions() {
        let cn = ok("arn:aws-cn:s3:::bucket-in-beijing");
        assert_eq!(cn.partition, "aws-cn");
        assert_eq!(cn.s3_bucket(), Some("bucket-in-beijing"));
        let gov = ok("arn:aws-us-gov:iam::123456789012:user/ops/alice");
        assert_eq!(gov.partition, "aws-us-gov");
        assert_eq!(
            partition_of("arn:aws-us-gov:iam::123456789012:user/a"),
            Some("aws-us-gov")
        );
    }

    #[test]
    fn logs_with_a_colon_qualifier_and_managed_policies() {
        let l = ok("arn:aws:logs:us-east-1:123456789012:log-group:/aws/s3/replication:*");
        assert_eq!(l.resource, "log-group:/aws/s3/replication:*");
        assert_eq!(l.resource_type(), Some("log-group"));
        assert_eq!(l.resource_id(), "/aws/s3/replication:*");
        let m = ok("arn:aws:iam::aws:policy/AdministratorAccess");
        assert_eq!(m.account, "aws");
    }

    #[test]
    fn display_gives_the_text_back() {
        for s in [
            "arn:aws:s3:::b/k:with:colons",
            "arn:aws-cn:kms:cn-north-1:123456789012:key/k",
            "arn:aws:iam::*:role/*",
        ] {
            assert_eq!(Arn::split(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn malformed_text_is_an_error_that_names_the_field() {
        type Want = fn(&ArnError) -> bool;
        let cases: &[(&str, Want)] = &[
            ("", |e| matches!(e, ArnError::NotAnArn(_))),
            ("aws:s3:::bucket", |e| matches!(e, ArnError::NotAnArn(_))),
            ("ARN:aws:s3:::bucket", |e| {
                matches!(e, ArnError::NotAnArn(_))
            }),
            ("arn:", |e| {
                matches!(e, ArnError::TooFewFields { fields: 2, .. })
            }),
            ("arn:aws:s3::bucket", |e| {
                matches!(e, ArnError::TooFewFields { fields: 5, .. })
            }),
            (
                "arn:aws:iam::12345:role/r",
                |e| matches!(e, ArnError::BadAccount { account, .. } if account == "12345"),
            ),
            ("arn:aws:iam::1234567890123:role/r", |e| {
                matches!(e, ArnError::BadAccount { .. })
            }),
            ("arn:aws:iam::*:role/r", |e| {
                matches!(e, ArnError::BadAccount { .. })
            }),
            (
                "arn:aws:iam:::role/r",
                |e| matches!(e, ArnError::MissingAccount { service, .. } if service == "iam"),
            ),
            ("arn:aws:kms:us-east-1::key/k", |e| {
                matches!(e, ArnError::MissingAccount { .. })
            }),
            ("arn:azure:s3:::bucket", |e| {
                matches!(e, ArnError::BadPartition { .. })
            }),
            ("arn::s3:::bucket", |e| {
                matches!(e, ArnError::BadPartition { .. })
            }),
            ("arn:aws-:s3:::bucket", |e| {
                matches!(e, ArnError::BadPartition { .. })
            }),
            ("arn:aws::::bucket", |e| {
                matches!(e, ArnError::BadService { .. })
            }),
            ("arn:aws:kms:US East:123456789012:key/k", |e| {
                matches!(e, ArnError::BadRegion { .. })
            }),
            ("arn:aws:s3:::", |e| matches!(e, ArnError::EmptyResource(_))),
        ];
        for (s, want) in cases {
            let e = Arn::parse(s).expect_err(s);
            assert!(want(&e), "{s}: {e:?}");
            assert!(e.to_string().contains(&format!("'{s}'")), "{e}");
        }
    }

    #[test]
    fn lenient_split_keeps_patterns_and_wants_six_fields() {
        let p = Arn::split("arn:aws:iam::*:role/*").unwrap();
        assert_eq!((p.account, p.resource), ("*", "role/*"));
        assert_eq!(account_of("arn:aws:iam::*:role/*"), Some("*"));
        assert_eq!(Arn::split("arn:aws:s3"), None);
        assert_eq!(Arn::split("xrn:aws:s3:::b"), None);
        assert_eq!(account_of("garbage"), None);
        assert_eq!(account_of("arn:aws:s3:::bucket"), None);
        assert_eq!(region_of("arn:aws:iam::123456789012:user/u"), None);
        assert_eq!(partition_of("arn::s3:::b"), None);
        assert_eq!(
            segments("*:*:*:*:*:a:b"),
            Some(["*", "*", "*", "*", "*", "a:b"])
        );
        assert_eq!(segments("a:b:c:d:e"), None);
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(is_account_id("012345678901"));
        for bad in [
            "",
            "12345678901",
            "1234567890123",
            "12345678901a",
            "١٢٣٤٥٦٧٨٩٠١٢",
            "aws",
        ] {
            assert!(!is_account_id(bad), "{bad}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics() {
        let pieces = [
            "arn",
            ":",
            "aws",
            "",
            "/",
            "*",
            "é",
            "123456789012",
            "s3",
            "\0",
        ];
        let mut n = 0u32;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let s = format!("{a}{b}{c}{d}:{a}{c}::{b}{d}");
                        let parsed = Arn::parse(&s);
                        let split = Arn::split(&s);
                        if let Ok(p) = parsed {
                            assert_eq!(Some(p), split, "{s}");
                            n += 1;
                        }
                        let _ = (
                            account_of(&s),
                            region_of(&s),
                            partition_of(&s),
                            segments(&s),
                        );
                    }
                }
            }
        }
        assert!(n > 0, "some generated texts are ARNs");
    }
}
