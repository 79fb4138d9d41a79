//! Thin wrappers over the S3 calls the canary makes: errors as data (never panics), the fields
//! of HeadObject it reads, and paginated version listings.

use crate::aws::s3::ListVersionsError;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use serde::Serialize;

pub use crate::aws::CallError;

/// The canary's S3 clients: each call waits for its actor's S3 gate (see [`crate::aws::Gated`]).
pub type Client = crate::aws::Gated<aws_sdk_s3::Client>;

/// The HeadObject fields the canary looks at.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HeadInfo {
    pub version_id: Option<String>,
    /// Seconds since the epoch (S3 sends whole seconds).
    pub last_modified: Option<f64>,
    pub replication_status: Option<String>,
    pub sse: Option<String>,
    pub kms_key_id: Option<String>,
    pub etag: Option<String>,
}

impl HeadInfo {
    pub fn from_output(o: &HeadObjectOutput) -> HeadInfo {
        HeadInfo {
            version_id: o.version_id().map(str::to_string),
            last_modified: o.last_modified().map(|t| t.as_secs_f64()),
            replication_status: o.replication_status().map(|s| s.as_str().to_string()),
            sse: o.server_side_encryption().map(|s| s.as_str().to_string()),
            kms_key_id: o.ssekms_key_id().map(str::to_string),
            etag: o.e_tag().map(str::to_string),
        }
    }
}

pub async fn head(client: &Client, bucket: &str, key: &str) -> Result<HeadInfo, CallError> {
    client
        .run(client.head_object().bucket(bucket).key(key).send())
        .await
        .map(|o| HeadInfo::from_output(&o))
        .map_err(|e| CallError::from_sdk("s3:HeadObject", &e))
}

/// One entry of ListObjectVersions: an object version or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Listed {
    pub key: String,
    pub version_id: String,
    pub delete_marker: bool,
}

/// Every version and delete marker under `prefix` (all pages, bounded).
pub async fn list_versions(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Listed>, CallError> {
    const MAX_PAGES: usize = 1000;
    let mut out = Vec::new();
    let listed =
        crate::aws::s3::list_object_versions(client, bucket, prefix, MAX_PAGES, &mut 0, |r| {
            for v in r.versions() {
                out.push(Listed {
                    key: v.key().unwrap_or_default().to_string(),
                    version_id: v.version_id().unwrap_or("null").to_string(),
                    delete_marker: false,
                });
            }
            for d in r.delete_markers() {
                out.push(Listed {
                    key: d.key().unwrap_or_default().to_string(),
                    version_id: d.version_id().unwrap_or("null").to_string(),
                    delete_marker: true,
                });
            }
        })
        .await;
    match listed {
        // As before the shared pager: a truncated page without markers ends the listing.
        Ok(()) | Err(ListVersionsError::NoMarker) => Ok(out),
        Err(ListVersionsError::Call(e)) => Err(e),
        Err(ListVersionsError::TooManyPages(_)) => Err(CallError::local(
            "s3:ListObjectVersions",
            format!("more than {MAX_PAGES} pages under {prefix}; refusing to continue"),
        )),
    }
}

/// `call()`, asked again after a transient failure (`CallError::is_transient`) on the schedule of
/// `backoff::retry_delay`, never sleeping past `deadline`. Cleanup uses it for its listings and
/// deletes: one listing lost to a stall must not leave the run's objects behind (measured under
/// 30 % injected faults, `tests/faults.rs`: export objects left in both log buckets after one
/// ListObjectVersions timed out).
pub async fn retrying<T, F, Fut>(
    deadline: Option<tokio::time::Instant>,
    mut call: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    let mut attempt = 0u32;
    loop {
        let e = match call().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let left = deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
        match super::backoff::retry_delay(&e, attempt, left) {
            Some(d) => tokio::time::sleep(d).await,
            None => return Err(e),
        }
        attempt += 1;
    }
}

/// The versions of exactly `key` (not of longer keys sharing the prefix), newest first as S3
/// lists them.
///
/// This is how the canary looks for an object that may not exist yet. HeadObject cannot: for a
/// missing key it answers 404 only to a caller with s3:ListBucket on the bucket, and 403 to
/// everyone else ("If you don't have the s3:ListBucket permission, Amazon S3 returns an HTTP
/// status code 403 Forbidden error",
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>), and the canary's
/// documented policy (`docs/canary-policy.json`) grants no s3:ListBucket, only
/// s3:ListBucketVersions under the canary prefixes (ListObjectVersions needs "permission to
/// perform the s3:ListBucketVersions action",
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html>). Listings are
/// strongly consistent with writes
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/Welcome.html#ConsistencyModel>), so a
/// replica is listed as soon as it exists.
pub async fn versions_of(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<Listed>, CallError> {
    Ok(list_versions(client, bucket, key)
        .await?
        .into_iter()
        .filter(|l| l.key == key)
        .collect())
}

/// The value of one tag of one object version.
pub async fn tag_value(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
    tag: &str,
) -> Result<Option<String>, CallError> {
    let r = client
        .run(
            client
                .get_object_tagging()
                .bucket(bucket)
                .key(key)
                .version_id(version_id)
                .send(),
        )
        .await
        .map_err(|e| CallError::from_sdk("s3:GetObjectTagging", &e))?;
    Ok(r.tag_set()
        .iter()
        .find(|t| t.key() == tag)
        .map(|t| t.value().to_string()))
}

/// Delete exactly one version (or delete marker) by its id.
pub async fn delete_version(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<(), CallError> {
    client
        .run(
            client
                .delete_object()
                .bucket(bucket)
                .key(key)
                .version_id(version_id)
                .send(),
        )
        .await
        .map(|_| ())
        .map_err(|e| CallError::from_sdk("s3:DeleteObject (version)", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes() {
        let mut e = CallError::local("s3:HeadObject", "x");
        e.http_status = Some(404);
        assert!(e.is_not_found());
        e.http_status = Some(403);
        assert!(e.is_access_denied() && !e.is_not_found());
        e.code = Some("AccessDenied".into());
        assert!(e.is_access_denied());
        e.code = Some("InvalidAccessKeyId".into());
        assert!(!e.is_access_denied());
        assert_eq!(e.describe(), "s3:HeadObject: InvalidAccessKeyId: x");
    }

    /// The canary's calls wait for their account's S3 gate: a throttled HeadObject and a
    /// throttled listing each halve it.
    #[tokio::test]
    async fn a_throttled_canary_call_cuts_its_gate() {
        use crate::aws::{testing, Factory, Service};
        let opts = testing::options(testing::throttling_endpoint().await);
        let aws = Factory::new(&opts);
        let conf = testing::config(&opts, "us-east-1").await;
        let client: Client = aws.client("src", &conf);
        let e = head(&client, "b", "k").await.unwrap_err();
        assert_eq!(e.http_status, Some(503), "{e}");
        assert_eq!(aws.limits.gate("src", Service::S3).stats().allowed, 4);
        let e = list_versions(&client, "b", "p/").await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("SlowDown"), "{e}");
        assert!(e.fix().starts_with("retry later"), "{}", e.fix());
        let g = aws.limits.gate("src", Service::S3).stats();
        assert_eq!((g.throttled, g.allowed), (2, 2), "{g:?}");
    }
}
