//! Which ARN an S3 action is authorized against. A bucket policy statement with
//! `arn:aws:s3:::bucket/*` never covers `s3:ListBucket`, and one with `arn:aws:s3:::bucket`
//! never covers `s3:GetObject`; an audit that builds requests must pick the right one
//! (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>,
//! "Resource types" column).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum S3ResourceKind {
    /// `arn:aws:s3:::bucket`
    Bucket,
    /// `arn:aws:s3:::bucket/key`
    Object,
}

/// Bucket-level actions whose names do not start with a bucket-ish prefix.
const BUCKET_ACTIONS: &[&str] = &[
    "listbucket",
    "listbucketversions",
    "listbucketmultipartuploads",
    "createbucket",
    "deletebucket",
    "getreplicationconfiguration",
    "putreplicationconfiguration",
    "getlifecycleconfiguration",
    "putlifecycleconfiguration",
    "getencryptionconfiguration",
    "putencryptionconfiguration",
    "getaccelerateconfiguration",
    "putaccelerateconfiguration",
    "getanalyticsconfiguration",
    "putanalyticsconfiguration",
    "getinventoryconfiguration",
    "putinventoryconfiguration",
    "getmetricsconfiguration",
    "putmetricsconfiguration",
    "getintelligenttieringconfiguration",
    "putintelligenttieringconfiguration",
    "listbucketanalyticsconfigurations",
    "createaccesspoint",
];

/// Object-level actions whose names do not start with `GetObject`/`PutObject`/`DeleteObject`/
/// `Replicate`.
const OBJECT_ACTIONS: &[&str] = &[
    "objectowneroverridetobucketowner",
    "abortmultipartupload",
    "listmultipartuploadparts",
    "restoreobject",
    "bypassgovernanceretention",
    "initiatereplication",
];

/// `Some(kind)` for S3 actions that take a bucket or an object ARN; `None` for actions that
/// take neither (`s3:ListAllMyBuckets`, account-level Block Public Access, jobs, access points)
/// and for non-S3 actions.
pub fn s3_resource_kind(action: &str) -> Option<S3ResourceKind> {
    let (svc, name) = action.split_once(':')?;
    if !svc.eq_ignore_ascii_case("s3") {
        return None;
    }
    let n = name.to_ascii_lowercase();
    let object_prefixes = ["getobject", "putobject", "deleteobject", "replicate"];
    if OBJECT_ACTIONS.contains(&n.as_str()) || object_prefixes.iter().any(|p| n.starts_with(p)) {
        return Some(S3ResourceKind::Object);
    }
    let bucket_prefixes = ["getbucket", "putbucket", "deletebucket", "listbucket"];
    if BUCKET_ACTIONS.contains(&n.as_str()) || bucket_prefixes.iter().any(|p| n.starts_with(p)) {
        return Some(S3ResourceKind::Bucket);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use S3ResourceKind::*;

    #[test]
    fn kinds() {
        for (a, k) in [
            ("s3:ListBucket", Some(Bucket)),
            ("s3:ListBucketVersions", Some(Bucket)),
            ("s3:GetBucketVersioning", Some(Bucket)),
            ("s3:PutBucketPolicy", Some(Bucket)),
            ("s3:GetBucketPolicy", Some(Bucket)),
            ("s3:GetReplicationConfiguration", Some(Bucket)),
            ("s3:PutReplicationConfiguration", Some(Bucket)),
            ("s3:GetObject", Some(Object)),
            ("s3:GetObjectVersionForReplication", Some(Object)),
            ("s3:GetObjectVersionAcl", Some(Object)),
            ("s3:PutObject", Some(Object)),
            ("s3:DeleteObjectVersion", Some(Object)),
            ("s3:ReplicateObject", Some(Object)),
            ("s3:ReplicateDelete", Some(Object)),
            ("s3:ReplicateTags", Some(Object)),
            ("s3:ObjectOwnerOverrideToBucketOwner", Some(Object)),
            ("s3:AbortMultipartUpload", Some(Object)),
            ("s3:ListMultipartUploadParts", Some(Object)),
            ("s3:RestoreObject", Some(Object)),
            ("S3:getobject", Some(Object)),
            ("s3:ListAllMyBuckets", None),
            ("s3:GetAccountPublicAccessBlock", None),
            ("kms:Decrypt", None),
            ("nonsense", None),
        ] {
            assert_eq!(s3_resource_kind(a), k, "{a}");
        }
    }
}
