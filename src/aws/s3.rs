//! S3 calls more than one subcommand makes the same way: ListObjectVersions paging (the canary's
//! listings and cleanup, reconcile's live listing).

use super::clients::Gated;
use super::error::CallError;
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;

/// Why a version listing stopped before its end.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ListVersionsError {
    /// A page's call failed.
    #[error("{0}")]
    Call(#[from] CallError),
    /// A page said it was truncated but named neither `NextKeyMarker` nor `NextVersionIdMarker`,
    /// so the listing cannot continue (the versions seen so far are not all there is).
    #[error("a truncated page without NextKeyMarker")]
    NoMarker,
    /// More pages than the caller allows.
    #[error("more than {0} pages")]
    TooManyPages(usize),
}

/// Every page of ListObjectVersions under `prefix`, each handed to `page` in order; `requests`
/// counts the calls made. Pages continue from the previous page's `NextKeyMarker` and
/// `NextVersionIdMarker` while `IsTruncated` is true ("To return the additional versions, use the
/// key-marker and version-id-marker request parameters", at most 1,000 versions per page).
/// Each call waits for the client's gate ([`Gated::run`]).
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html>
pub async fn list_object_versions(
    s3: &Gated<aws_sdk_s3::Client>,
    bucket: &str,
    prefix: &str,
    max_pages: usize,
    requests: &mut usize,
    mut page: impl FnMut(&ListObjectVersionsOutput),
) -> Result<(), ListVersionsError> {
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    for _ in 0..max_pages {
        *requests += 1;
        let r = s3
            .run(
                s3.list_object_versions()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_key_marker(key_marker.take())
                    .set_version_id_marker(version_marker.take())
                    .send(),
            )
            .await
            .map_err(|e| CallError::from_sdk_owned("s3:ListObjectVersions", e))?;
        page(&r);
        if r.is_truncated() != Some(true) {
            return Ok(());
        }
        key_marker = r.next_key_marker().map(str::to_string);
        version_marker = r.next_version_id_marker().map(str::to_string);
        if key_marker.is_none() && version_marker.is_none() {
            return Err(ListVersionsError::NoMarker);
        }
    }
    Err(ListVersionsError::TooManyPages(max_pages))
}
