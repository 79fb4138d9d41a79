//! SDK configuration per account: credentials from the spec, endpoint override, retries and
//! timeouts. Used by the collector and the canary, the only code that talks to AWS.

use crate::spec::Credentials;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// How to reach AWS (or an emulator) and how patiently.
#[derive(Debug, Clone)]
pub struct AwsOptions {
    /// `--endpoint-url` / `AWS_ENDPOINT_URL`: every service is sent there (emulators).
    pub endpoint_url: Option<String>,
    /// Total attempts per call, first included (SDK standard retry mode with backoff and jitter).
    pub max_attempts: u32,
    /// Upper bound for one call including its retries.
    pub operation_timeout: Duration,
    /// Upper bound for one attempt.
    pub attempt_timeout: Duration,
}

impl Default for AwsOptions {
    /// The SDK's standard retry mode defaults to 3 attempts; an audit can afford more patience
    /// for throttling (a scheduled job must not report `error` because IAM throttled once),
    /// but not unbounded: each call gives up after 60 s so a run always ends.
    fn default() -> Self {
        AwsOptions {
            endpoint_url: None,
            max_attempts: 5,
            operation_timeout: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(20),
        }
    }
}

/// Resolves `localhost` and `*.localhost` to loopback as RFC 6761 §6.3 asks, and everything
/// else through the system resolver. Needed for emulators: the S3 Control endpoint rules put
/// the account id in front of the host (`111122223333.localhost`), which glibc does not
/// resolve. Only installed when an endpoint override is in use.
#[derive(Debug, Clone)]
struct LoopbackAwareResolver;

impl ResolveDns for LoopbackAwareResolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        if lower == "localhost" || lower.ends_with(".localhost") {
            return DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]));
        }
        let name = name.to_string();
        DnsFuture::new(async move {
            let addrs = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(ResolveDnsError::new)?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Load the shared SDK configuration for one set of credentials in one region.
///
/// Credentials are resolved lazily by the SDK: a missing profile or a failed assume-role
/// surfaces on the first call, which the collector records as `Unknown` with the cause.
pub async fn sdk_config(creds: &Credentials, region: &str, opts: &AwsOptions) -> SdkConfig {
    let base = loader(
        opts,
        region,
        creds.profile.as_deref().or(creds.source_profile.as_deref()),
    )
    .load()
    .await;
    let Some(role_arn) = &creds.role_arn else {
        return base;
    };
    let mut b = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name(
            creds
                .session_name
                .clone()
                .unwrap_or_else(|| "replaudit".to_string()),
        )
        .region(Region::new(region.to_string()))
        .configure(&base);
    if let Some(ext) = &creds.external_id {
        b = b.external_id(ext.clone());
    }
    let provider = b.build().await;
    loader(opts, region, None)
        .credentials_provider(provider)
        .load()
        .await
}

fn loader(opts: &AwsOptions, region: &str, profile: Option<&str>) -> aws_config::ConfigLoader {
    let mut l = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .retry_config(RetryConfig::standard().with_max_attempts(opts.max_attempts.max(1)))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(opts.operation_timeout)
                .operation_attempt_timeout(opts.attempt_timeout)
                .connect_timeout(Duration::from_secs(5))
                .build(),
        );
    if let Some(p) = profile {
        // Only this profile: falling back to the rest of the default chain would hide a
        // misspelt profile behind "IMDS unavailable" (or, worse, use the instance's role).
        let creds = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_name(p)
            .build();
        l = l.profile_name(p).credentials_provider(creds);
    }
    if let Some(url) = &opts.endpoint_url {
        let client = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_with_resolver(LoopbackAwareResolver);
        l = l.endpoint_url(url.clone()).http_client(client);
    }
    l
}

/// An S3 client; path-style addressing when an endpoint override is in use (emulators do not
/// serve virtual-hosted buckets).
pub fn s3_client(conf: &SdkConfig, opts: &AwsOptions) -> aws_sdk_s3::Client {
    let c = aws_sdk_s3::config::Builder::from(conf)
        .force_path_style(opts.endpoint_url.is_some())
        .build();
    aws_sdk_s3::Client::from_conf(c)
}

/// The error code and message of an SDK error, without anything that could carry secrets
/// (request headers and signatures are never part of these).
pub fn error_parts<E, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> (Option<String>, String)
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().map(str::to_string);
            let msg = err
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| err.to_string());
            (code, msg)
        }
        SdkError::TimeoutError(_) => (Some("Timeout".into()), "the call timed out".into()),
        SdkError::DispatchFailure(d) => {
            let what = if d.is_timeout() {
                "timed out connecting"
            } else if d.is_io() {
                "connection failed (endpoint unreachable?)"
            } else {
                "could not send the request"
            };
            (
                Some("DispatchFailure".into()),
                format!("{what}: {}", root_cause(e)),
            )
        }
        SdkError::ConstructionFailure(_) => (
            Some("ConstructionFailure".into()),
            format!("could not build the request: {}", root_cause(e)),
        ),
        SdkError::ResponseError(_) => (
            Some("ResponseError".into()),
            format!("unreadable response: {}", root_cause(e)),
        ),
        _ => (None, root_cause(e)),
    }
}

/// The innermost error message (the SDK's outer messages are generic: "dispatch failure").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The partition a Region belongs to (`aws`, `aws-cn`, `aws-us-gov`, ...): the second field of every
/// ARN of a resource there. Resources of different partitions never meet (an ARN names its partition;
/// "You can't describe or access the Regions of one type of account from another").
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html>,
/// <https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html>
pub fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-isof-") {
        "aws-iso-f"
    } else if region.starts_with("eu-isoe-") {
        "aws-iso-e"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// The Region where CloudTrail records a partition's IAM calls: IAM is a global service served by one
/// Regional endpoint per partition, and its events are logged there ("us-east-1" in the commercial
/// partition; the IAM endpoints of China and GovCloud are in cn-north-1 and us-gov-west-1).
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html>,
/// <https://docs.aws.amazon.com/general/latest/gr/iam-service.html>
pub fn iam_events_region(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        "aws-iso" => "us-iso-east-1",
        "aws-iso-b" => "us-isob-east-1",
        _ => "us-east-1",
    }
}

/// `arn:<partition>:s3:::<bucket>`: S3 bucket ARNs have no Region or account.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-arn-format.html>
pub fn s3_bucket_arn(partition: &str, bucket: &str) -> String {
    format!("arn:{partition}:s3:::{bucket}")
}

/// `arn:<partition>:s3:::<bucket>/<key>`.
pub fn s3_object_arn(partition: &str, bucket: &str, key: &str) -> String {
    format!("arn:{partition}:s3:::{bucket}/{key}")
}

/// Where a bucket is, as S3 itself says.
#[derive(Debug, Clone, PartialEq)]
pub enum BucketRegion {
    /// The bucket's Region.
    In(String),
    /// 404: no such bucket.
    Missing,
    /// The call failed without naming a Region: error code (or HTTP status) and cause.
    Unknown {
        code: Option<String>,
        reason: String,
    },
}

/// The Region of a bucket, found the way AWS recommends: `HeadBucket`, whose answer carries
/// `x-amz-bucket-region` "regardless of the permissions on the bucket" and also when the request went
/// to the wrong Region (301 PermanentRedirect, 400). The SDK for Rust follows neither redirect, so the
/// header is read from the error answer too; a 403 still names the Region (the caller then lacks
/// `s3:ListBucket`, which only matters for the bucket's own reads). `GetBucketLocation` "is no longer a
/// best practice" and is answered by the bucket policy only in the bucket's home Region.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html>,
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html>,
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/UsingRouting.html>
pub async fn bucket_region(s3: &aws_sdk_s3::Client, bucket: &str) -> BucketRegion {
    let r = s3.head_bucket().bucket(bucket).send().await;
    let fallback = || {
        s3.config()
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_default()
    };
    match r {
        Ok(o) => BucketRegion::In(
            o.bucket_region()
                .map(str::to_string)
                .unwrap_or_else(fallback),
        ),
        Err(e) => {
            let raw = e.raw_response();
            if let Some(region) = raw
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .filter(|v| !v.is_empty())
            {
                return BucketRegion::In(region.to_string());
            }
            let status = raw.map(|r| r.status().as_u16());
            if status == Some(404) {
                return BucketRegion::Missing;
            }
            let (code, reason) = error_parts(&e);
            // HEAD answers have no body: name the HTTP status when the SDK found no code.
            let code = code
                .filter(|c| c != "Unhandled")
                .or(status.map(|s| format!("HTTP {s}")));
            BucketRegion::Unknown { code, reason }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition_of_region("ap-southeast-1"), "aws");
        assert_eq!(partition_of_region("us-east-1"), "aws");
        assert_eq!(partition_of_region("cn-north-1"), "aws-cn");
        assert_eq!(partition_of_region("cn-northwest-1"), "aws-cn");
        assert_eq!(partition_of_region("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of_region("us-gov-east-1"), "aws-us-gov");
        assert_eq!(partition_of_region("us-iso-east-1"), "aws-iso");
        assert_eq!(partition_of_region("us-isob-east-1"), "aws-iso-b");
        assert_eq!(iam_events_region("aws"), "us-east-1");
        assert_eq!(iam_events_region("aws-cn"), "cn-north-1");
        assert_eq!(iam_events_region("aws-us-gov"), "us-gov-west-1");
        assert_eq!(
            s3_bucket_arn(partition_of_region("cn-north-1"), "b"),
            "arn:aws-cn:s3:::b"
        );
        assert_eq!(
            s3_object_arn(partition_of_region("us-gov-west-1"), "b", "k/x"),
            "arn:aws-us-gov:s3:::b/k/x"
        );
    }
}
