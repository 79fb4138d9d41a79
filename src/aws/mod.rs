//! The AWS call layer, used by every subcommand that talks to AWS: SDK configuration per account
//! (credentials from the spec, endpoint override, retries and timeouts), the client factory
//! ([`clients`]), the concurrency limiter with its throttling adaptation ([`limit`]) and the one
//! typed call error ([`error`]). It imports nothing from the layers above it (collect, canary,
//! reconcile, discover, commands).

pub mod clients;
pub mod error;
pub mod limit;
pub mod s3;

pub use clients::{Clients, Factory, Gated, SdkClient};
pub use error::CallError;
pub use limit::{Limits, Service};

use crate::spec::Credentials;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Default in-flight calls per (account, service): enough to hide a cross-Region round trip
/// (~100 ms at a few ms of service time per call), far below the connections an account's
/// throttling would object to; `--max-concurrency` changes it.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;

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
    /// Calls in flight per account and service (`--max-concurrency`); the collector halves it for
    /// a service that throttles (see [`limit`]).
    pub max_concurrency: usize,
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
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
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
    l = l.http_client(shared_http_client(opts.endpoint_url.is_some()));
    if let Some(url) = &opts.endpoint_url {
        l = l.endpoint_url(url.clone());
    }
    l
}

/// The one HTTP client of the process, so that every account, Region and service shares one pool
/// of connections: without it, each SDK client built from a configuration makes its own default
/// client and pool ("creating a new client may result in each client maintaining its own HTTP
/// connection pools ... We recommend sharing a client or at least sharing SdkConfig",
/// <https://docs.aws.amazon.com/sdk-for-rust/latest/dg/best-practices.html>), and a collector that
/// made one S3 client per bucket opened thousands of connections. With an endpoint override it also
/// resolves `*.localhost` to loopback ([`LoopbackAwareResolver`]). Every answer goes through
/// [`Observed`], which tells the collector's limiter about throttling.
fn shared_http_client(endpoint_override: bool) -> SharedHttpClient {
    use std::sync::OnceLock;
    static DEFAULT: OnceLock<SharedHttpClient> = OnceLock::new();
    static LOOPBACK: OnceLock<SharedHttpClient> = OnceLock::new();
    let tls = || {
        aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
        )
    };
    let cell = if endpoint_override {
        &LOOPBACK
    } else {
        &DEFAULT
    };
    cell.get_or_init(|| {
        let inner = if endpoint_override {
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls())
                .build_with_resolver(LoopbackAwareResolver)
        } else {
            // As the SDK's own default client (aws-smithy-runtime `default_https_client`), proxy
            // settings from the environment included.
            aws_smithy_http_client::Builder::new().build_with_connector_fn(
                move |settings, components| {
                    let mut b = aws_smithy_http_client::Connector::builder().tls_provider(tls());
                    b.set_connector_settings(settings.cloned());
                    if let Some(c) = components {
                        b.set_sleep_impl(c.sleep_impl());
                    }
                    b.set_proxy_config(
                        Some(aws_smithy_http_client::proxy::ProxyConfig::from_env()),
                    );
                    b.build()
                },
            )
        };
        SharedHttpClient::new(Observed { inner })
    })
    .clone()
}

/// Told about every answer of the calls it watches (see [`observe_attempts`]).
pub trait AttemptObserver: Send + Sync {
    /// The answer says the caller is throttled.
    fn throttled(&self);
    /// Any other answer (success or error).
    fn answered(&self);
}

tokio::task_local! {
    static OBSERVER: Arc<dyn AttemptObserver>;
}

/// Run `call` with `observer` told about each of its attempts' answers. The HTTP client runs
/// inside the caller's task, so a task-local reaches it without threading anything through the SDK.
pub async fn observe_attempts<F: std::future::Future>(
    observer: Arc<dyn AttemptObserver>,
    call: F,
) -> F::Output {
    OBSERVER.scope(observer, call).await
}

static ATTEMPTS_SENT: AtomicU64 = AtomicU64::new(0);
static ATTEMPTS_THROTTLED: AtomicU64 = AtomicU64::new(0);

/// HTTP attempts sent by this process so far, and how many were answered with throttling.
pub fn attempt_counts() -> (u64, u64) {
    (
        ATTEMPTS_SENT.load(Ordering::Relaxed),
        ATTEMPTS_THROTTLED.load(Ordering::Relaxed),
    )
}

/// The process's HTTP client, watching answers for throttling.
#[derive(Debug)]
struct Observed {
    inner: SharedHttpClient,
}

impl HttpClient for Observed {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(ObservedConnector {
            inner: self.inner.http_connector(settings, components),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct ObservedConnector {
    inner: SharedHttpConnector,
}

impl HttpConnector for ObservedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let observer = OBSERVER.try_with(|o| o.clone()).ok();
        ATTEMPTS_SENT.fetch_add(1, Ordering::Relaxed);
        // `-v`: one line per attempt (what, where, how it ended, how long). Only the method, host,
        // path, query parameter names and the operation name are logged: never a header (the
        // Authorization and session-token headers carry credentials) nor a body.
        let what = tracing::enabled!(tracing::Level::DEBUG).then(|| {
            attempt_label(
                request.method(),
                request.uri(),
                request.headers().get("x-amz-target"),
                request.body().bytes(),
            )
        });
        let started = std::time::Instant::now();
        let answer = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let mut resp = match answer.await {
                Ok(r) => r,
                Err(e) => {
                    if let Some(w) = &what {
                        tracing::debug!(
                            "aws {w}: failed after {} ms: {e}",
                            started.elapsed().as_millis()
                        );
                    }
                    return Err(e);
                }
            };
            let status = resp.status().as_u16();
            if let Some(w) = &what {
                tracing::debug!(
                    "aws {w}: HTTP {status} in {} ms",
                    started.elapsed().as_millis()
                );
            }
            // Throttling answers of the query and JSON protocols are plain 400s: the code is in
            // the (small) error body, read here and put back for the SDK's parser.
            let body = if status == 400 {
                let body = resp.take_body();
                let bytes = ByteStream::new(body)
                    .collect()
                    .await
                    .map_err(|e| ConnectorError::io(e.into()))?
                    .into_bytes();
                *resp.body_mut() = SdkBody::from(bytes.clone());
                Some(bytes)
            } else {
                None
            };
            let header = |name: &str| resp.headers().get(name).map(str::to_string);
            let code = throttling_code(
                status,
                header("x-amzn-query-error").as_deref(),
                header("x-amzn-errortype").as_deref(),
                body.as_deref().unwrap_or_default(),
            );
            if code.is_some() {
                ATTEMPTS_THROTTLED.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(o) = observer {
                match code {
                    Some(_) => o.throttled(),
                    None => o.answered(),
                }
            }
            Ok(resp)
        })
    }
}

/// What an attempt is, for the `-v` log: `GET s3.ap-southeast-1.amazonaws.com /bucket?versioning`,
/// `POST kms... TrentService.DescribeKey` (JSON protocols name the operation in `X-Amz-Target`),
/// `POST iam... Action=GetRole` (query protocols in the form body). Query values are left out.
pub fn attempt_label(method: &str, uri: &str, target: Option<&str>, body: Option<&[u8]>) -> String {
    let (host_path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let host_path = host_path
        .split_once("://")
        .map_or(host_path, |(_, rest)| rest);
    let names: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split('=').next().unwrap_or_default())
        .collect();
    let mut out = format!("{method} {host_path}");
    if !names.is_empty() {
        out.push('?');
        out.push_str(&names.join("&"));
    }
    if let Some(t) = target {
        out.push(' ');
        out.push_str(t);
    } else if let Some(action) = body
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|b| b.split('&').find_map(|p| p.strip_prefix("Action=")))
    {
        out.push_str(" Action=");
        out.push_str(action);
    }
    out
}

/// Error codes that mean "slow down", as the SDK's retry classifier lists them (aws-runtime
/// `THROTTLING_ERRORS`; <https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>:
/// throttling errors are retried with their own backoff).
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// The throttling error an answer carries, if any: HTTP 429 and 503 (S3's `SlowDown`: "Reduce your
/// request rate", <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>) always; a 400
/// whose error code is a throttling code — in the XML `<Code>` (S3, IAM, STS), the JSON `__type`
/// (CloudTrail, KMS, Config), the `x-amzn-query-error` header (CloudWatch, query-compatible) or
/// `x-amzn-ErrorType`.
pub fn throttling_code(
    status: u16,
    query_error: Option<&str>,
    error_type: Option<&str>,
    body: &[u8],
) -> Option<String> {
    match status {
        429 => return Some("TooManyRequests (HTTP 429)".into()),
        503 => return Some("SlowDown (HTTP 503)".into()),
        400 => {}
        _ => return None,
    }
    let is_throttling = |c: &str| THROTTLING_CODES.contains(&c);
    let header_code = |h: Option<&str>, sep: char| {
        h.and_then(|v| v.split(sep).next())
            .map(str::trim)
            .map(|c| c.rsplit('#').next().unwrap_or(c).to_string())
    };
    for c in [header_code(query_error, ';'), header_code(error_type, ':')]
        .into_iter()
        .flatten()
    {
        if is_throttling(&c) {
            return Some(c);
        }
    }
    let text = String::from_utf8_lossy(body);
    let xml = text
        .split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next());
    let json = text.split("\"__type\"").nth(1).and_then(|rest| {
        let v = rest.trim_start().strip_prefix(':')?.trim_start();
        let v = v.strip_prefix('"')?;
        v.split('"').next()
    });
    let found = [xml, json]
        .into_iter()
        .flatten()
        .map(|c| c.trim().rsplit('#').next().unwrap_or_default().to_string())
        .find(|c| is_throttling(c));
    found
}

/// The soft limit on open files of this process (`RLIMIT_NOFILE`), if it has one.
pub fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0;
        if ok && r.rlim_cur != libc::RLIM_INFINITY {
            // rlim_t is u64 on Linux and macOS, but not on every unix.
            #[allow(clippy::unnecessary_cast)]
            return Some(r.rlim_cur as u64);
        }
    }
    None
}

/// How many files this process has open (Linux: `/proc/self/fd`, less the one listing it).
pub fn open_files_now() -> Option<u64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(n.saturating_sub(1))
}

/// Whether an error, or one it wraps, is the process running out of file descriptors (EMFILE:
/// its own `ulimit -n`; ENFILE: the system's table), which says nothing about the endpoint.
pub fn is_out_of_files(e: &(dyn std::error::Error + 'static)) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if matches!(io.raw_os_error(), Some(EMFILE) | Some(ENFILE)) {
                return true;
            }
        }
        cur = c.source();
    }
    false
}

/// The message for a call that failed because this machine ran out of open files.
pub fn out_of_files_message(cause: &str) -> String {
    let limit = open_files_limit()
        .map(|l| format!("{l}"))
        .unwrap_or_else(|| "unknown".into());
    format!(
        "this machine's open-files limit was reached, so the call was never sent ({cause}); \
         the endpoint was not at fault: raise the limit (`ulimit -n`, now {limit}) or lower \
         --max-concurrency"
    )
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
        SdkError::DispatchFailure(_) if is_out_of_files(e) => (
            Some("TooManyOpenFiles".into()),
            out_of_files_message(&root_cause(e)),
        ),
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

/// Test helpers: an endpoint that throttles every call, and configurations with static
/// credentials (no credential chain, no network but the endpoint).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A local HTTP endpoint answering every request `503 SlowDown` (S3's throttling answer,
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorBestPractices.html>).
    pub async fn throttling_endpoint() -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body: &[u8] = if req.starts_with(b"HEAD") {
                        b""
                    } else {
                        b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                    };
                    let head = format!(
                        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        format!("http://{addr}")
    }

    /// Options for `endpoint`: one attempt per call, so one throttled answer per call.
    pub fn options(endpoint: String) -> AwsOptions {
        AwsOptions {
            endpoint_url: Some(endpoint),
            max_attempts: 1,
            operation_timeout: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(10),
            max_concurrency: 8,
        }
    }

    /// A configuration as [`sdk_config`] makes it, with static test credentials.
    pub async fn config(opts: &AwsOptions, region: &str) -> SdkConfig {
        let creds =
            aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test");
        loader(opts, region, None)
            .credentials_provider(creds)
            .load()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `-v` line names the call without query values or bodies other than the action.
    #[test]
    fn attempt_labels_name_the_call_and_nothing_else() {
        assert_eq!(
            attempt_label(
                "GET",
                "https://rubes.s3.ap-southeast-1.amazonaws.com/k?versionId=abc&x-id=GetObject",
                None,
                None
            ),
            "GET rubes.s3.ap-southeast-1.amazonaws.com/k?versionId&x-id"
        );
        assert_eq!(
            attempt_label(
                "POST",
                "https://kms.ap-southeast-1.amazonaws.com/",
                Some("TrentService.DescribeKey"),
                Some(b"{\"KeyId\":\"k\"}")
            ),
            "POST kms.ap-southeast-1.amazonaws.com/ TrentService.DescribeKey"
        );
        assert_eq!(
            attempt_label(
                "POST",
                "https://sts.amazonaws.com/",
                None,
                Some(b"Action=GetCallerIdentity&Version=2011-06-15")
            ),
            "POST sts.amazonaws.com/ Action=GetCallerIdentity"
        );
    }

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

    /// A dispatch failure whose I/O cause is EMFILE/ENFILE names this machine's open-files limit,
    /// not the endpoint (the old message said "connection failed (endpoint unreachable?)").
    #[test]
    fn out_of_files_is_reported_as_a_local_limit() {
        use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
        type E = SdkError<aws_sdk_s3::operation::get_bucket_policy::GetBucketPolicyError, ()>;
        for errno in [24, 23] {
            let io = std::io::Error::from_raw_os_error(errno);
            let e: E = SdkError::dispatch_failure(ConnectorError::io(Box::new(io)));
            let (code, msg) = error_parts(&e);
            assert_eq!(code.as_deref(), Some("TooManyOpenFiles"), "{msg}");
            assert!(msg.contains("open-files limit"), "{msg}");
            assert!(msg.contains("ulimit -n"), "{msg}");
            assert!(!msg.contains("unreachable"), "{msg}");
        }
        // Any other I/O failure still points at the endpoint.
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e: E = SdkError::dispatch_failure(ConnectorError::io(Box::new(refused)));
        let (code, msg) = error_parts(&e);
        assert_eq!(code.as_deref(), Some("DispatchFailure"));
        assert!(msg.contains("unreachable"), "{msg}");
    }

    #[test]
    fn throttling_answers_are_recognised_in_every_protocol() {
        // S3 (REST-XML): 503 SlowDown whatever the body.
        assert!(throttling_code(503, None, None, b"").is_some());
        assert!(throttling_code(429, None, None, b"").is_some());
        // IAM/STS (query protocol): 400 with <Code>Throttling</Code>.
        let query = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
            <Message>Rate exceeded</Message></Error></ErrorResponse>";
        assert_eq!(
            throttling_code(400, None, None, query).as_deref(),
            Some("Throttling")
        );
        // JSON protocols (KMS, CloudTrail, Config).
        let json = br#"{"__type": "com.amazonaws.kms#ThrottlingException", "message": "x"}"#;
        assert_eq!(
            throttling_code(400, None, None, json).as_deref(),
            Some("ThrottlingException")
        );
        // CloudWatch (query-compatible header).
        assert_eq!(
            throttling_code(400, Some("Throttling;Sender"), None, b"\xa1").as_deref(),
            Some("Throttling")
        );
        // Other errors are not throttling.
        let denied = b"<Error><Code>AccessDenied</Code></Error>";
        assert_eq!(throttling_code(400, None, None, denied), None);
        assert_eq!(throttling_code(403, None, None, denied), None);
        assert_eq!(throttling_code(500, None, None, b""), None);
    }
}
