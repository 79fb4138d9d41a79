//! The one typed error of a failed AWS call, for every caller of the AWS layer: which call, the
//! error code and message (never credentials), the HTTP status, whether the request may have
//! taken effect, and (for a refusal) the IAM permission the caller lacks and the fix.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// The SDK error behind a [`CallError`], kept as its source so a caller can walk the chain (a
/// thin pointer: the canary's observations hold many call errors by value).
pub type Cause = Arc<Box<dyn std::error::Error + Send + Sync + 'static>>;

/// A failed AWS call: which call, the error code and message (never credentials), the HTTP status.
/// Its text is `s3:PutObject: AccessDenied: Access Denied` ([`CallError::describe`]).
///
/// `Display` and `Error` are written out rather than derived with thiserror: the SDK error is
/// shared (`Arc`, so that the error stays `Clone` for the canary's observations), and a derived
/// `source()` would hand out the `Arc` itself, which a caller cannot downcast to the SDK error.
#[derive(Debug, Clone, Serialize)]
pub struct CallError {
    pub call: String,
    pub code: Option<String>,
    pub message: String,
    pub http_status: Option<u16>,
    /// The service answered (as opposed to a timeout or transport failure).
    pub service: bool,
    /// The request may have taken effect although no answer was seen (timeout, 5xx).
    pub uncertain: bool,
    /// The SDK error, when there was one (not serialized: the fields above say what it said).
    #[serde(skip)]
    pub source: Option<Cause>,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.call,
            self.code_or_status(),
            self.message
        )
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| &**e as &(dyn std::error::Error + 'static))
    }
}

impl CallError {
    pub fn from_sdk<E>(call: &str, e: &SdkError<E, HttpResponse>) -> CallError
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, message) = super::error_parts(e);
        let http_status = e.raw_response().map(|r| r.status().as_u16());
        let service = matches!(e, SdkError::ServiceError(_));
        let uncertain = matches!(
            e,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ) || http_status.is_some_and(|s| s >= 500);
        CallError {
            call: call.to_string(),
            code,
            message,
            http_status,
            service,
            uncertain,
            source: None,
        }
    }

    /// [`CallError::from_sdk`], keeping the SDK error as the source.
    pub fn from_sdk_owned<E>(call: &str, e: SdkError<E, HttpResponse>) -> CallError
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        let mut out = CallError::from_sdk(call, &e);
        out.source = Some(Arc::new(Box::new(e)));
        out
    }

    pub fn local(call: &str, message: impl std::fmt::Display) -> CallError {
        CallError {
            call: call.to_string(),
            code: None,
            message: message.to_string(),
            http_status: None,
            service: false,
            uncertain: false,
            source: None,
        }
    }

    /// This error, with `cause` as its source (an error that is not the SDK's: a body stream
    /// that broke off).
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(Box::new(cause)));
        self
    }

    pub fn code_or_status(&self) -> String {
        match (&self.code, self.http_status) {
            (Some(c), _) => c.clone(),
            (None, Some(s)) => format!("HTTP {s}"),
            (None, None) => "no response".into(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.http_status == Some(404)
            || matches!(
                self.code.as_deref(),
                Some("NotFound" | "NoSuchKey" | "NoSuchVersion")
            )
    }

    pub fn is_access_denied(&self) -> bool {
        match self.code.as_deref() {
            Some("AccessDenied") => true,
            Some("Forbidden") | None => self.http_status == Some(403),
            _ => false,
        }
    }

    /// Worth asking again: no answer at all (timeout, dropped connection, unreadable
    /// response), a 5xx, or throttling. S3: "If Amazon S3 returns an InternalError response,
    /// retry the request" and "SlowDown errors can occur when a high request rate triggers one
    /// of these mechanisms. Reducing your request rate will decrease or eliminate errors of this
    /// type" (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorBestPractices.html>);
    /// the SDKs retry the same class ("transient errors" and throttling,
    /// <https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>). A refusal
    /// (403, 404, a bad request) is an answer and is never retried; nor is an error made
    /// locally (no client for the bucket).
    pub fn is_transient(&self) -> bool {
        self.uncertain
            || self.http_status.is_some_and(|s| s >= 500 || s == 429)
            || matches!(
                self.code.as_deref(),
                Some(
                    "InternalError"
                        | "SlowDown"
                        | "ServiceUnavailable"
                        | "RequestTimeout"
                        | "Throttling"
                        | "ThrottlingException"
                        | "RequestThrottled"
                )
            )
    }

    pub fn is_precondition_failed(&self) -> bool {
        self.code.as_deref() == Some("PreconditionFailed") || self.http_status == Some(412)
    }

    /// `s3:PutObject: AccessDenied: Access Denied`
    pub fn describe(&self) -> String {
        self.to_string()
    }

    /// The operation's name without the service and any note (`s3:DeleteObject (version)` ->
    /// `DeleteObject`).
    fn operation(&self) -> (&str, &str) {
        let name = self.call.split(" (").next().unwrap_or_default();
        name.split_once(':').unwrap_or(("", name))
    }

    /// The IAM action the caller lacks, when the call was refused: the call's own name where IAM
    /// names the action after the operation, else the action IAM checks for it (the S3 names differ
    /// for several operations: ListObjectVersions is authorized by `s3:ListBucketVersions`, HeadObject
    /// by `s3:GetObject`, ListObjectsV2 and HeadBucket by `s3:ListBucket`, ListBuckets by
    /// `s3:ListAllMyBuckets`, a DeleteObject of one version by `s3:DeleteObjectVersion`, a
    /// GetBucketReplication by `s3:GetReplicationConfiguration`).
    /// <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>,
    /// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html> ("you must have
    /// permission to perform the s3:ListBucketVersions action. Be aware of the name difference"),
    /// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>,
    /// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html>.
    /// `sts:GetCallerIdentity` needs no permission ("No permissions are required to perform this
    /// operation", <https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html>):
    /// a refusal there is about the credentials, so no action is named.
    pub fn permission(&self) -> Option<String> {
        if !self.is_access_denied() {
            return None;
        }
        let (service, op) = self.operation();
        if service.is_empty() || op.is_empty() {
            return None;
        }
        let versioned = self.call.contains("(version)");
        let action = match (service, op) {
            ("sts", "GetCallerIdentity") => return None,
            ("s3", "ListObjectVersions") => "ListBucketVersions",
            ("s3", "HeadObject") => "GetObject",
            ("s3", "ListObjectsV2" | "ListObjects" | "HeadBucket") => "ListBucket",
            ("s3", "ListBuckets") => "ListAllMyBuckets",
            ("s3", "DeleteObject") if versioned => "DeleteObjectVersion",
            ("s3", "GetBucketReplication") => "GetReplicationConfiguration",
            ("s3", "PutBucketReplication") => "PutReplicationConfiguration",
            ("s3", "GetBucketEncryption") => "GetEncryptionConfiguration",
            ("s3", "GetBucketLifecycleConfiguration") => "GetLifecycleConfiguration",
            ("s3", "GetPublicAccessBlock") => "GetBucketPublicAccessBlock",
            ("s3", "GetBucketInventoryConfiguration") => "GetInventoryConfiguration",
            (_, op) => op,
        };
        Some(format!("{service}:{action}"))
    }

    /// Whether the answer says the caller is throttled (see [`super::THROTTLING_CODES`]).
    pub fn is_throttled(&self) -> bool {
        self.http_status == Some(429)
            || self
                .code
                .as_deref()
                .is_some_and(|c| super::THROTTLING_CODES.contains(&c))
    }

    /// What to do about it, in one line: grant the permission a refusal names, wait out
    /// throttling, look at the network or endpoint when no answer came.
    pub fn fix(&self) -> String {
        if let Some(p) = self.permission() {
            return format!(
                "grant {p} to the caller (an IAM or resource policy denies or does not allow it)"
            );
        }
        if self.is_throttled() {
            return "retry later or lower --max-concurrency (AWS throttled the calls)".into();
        }
        if !self.service && self.http_status.is_none() && self.code.is_some() {
            return "check the network or the endpoint (no answer came back)".into();
        }
        if self.uncertain {
            return "retry later (the service did not answer cleanly)".into();
        }
        format!("see what {} means for {}", self.code_or_status(), self.call)
    }

    pub fn evidence(&self) -> serde_json::Value {
        json!({"call": self.call, "code": self.code, "message": self.message, "http_status": self.http_status})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(call: &str) -> CallError {
        CallError {
            call: call.into(),
            code: Some("AccessDenied".into()),
            message: "Access Denied".into(),
            http_status: Some(403),
            service: true,
            uncertain: false,
            source: None,
        }
    }

    /// A refusal names the IAM action that authorizes the call, which for several S3 operations
    /// is not the operation's name.
    #[test]
    fn access_denied_names_the_iam_action_and_the_fix() {
        for (call, action) in [
            ("s3:ListObjectVersions", "s3:ListBucketVersions"),
            ("s3:HeadObject", "s3:GetObject"),
            ("s3:ListObjectsV2", "s3:ListBucket"),
            ("s3:ListBuckets", "s3:ListAllMyBuckets"),
            ("s3:DeleteObject (version)", "s3:DeleteObjectVersion"),
            ("s3:DeleteObject", "s3:DeleteObject"),
            ("s3:GetObject (body)", "s3:GetObject"),
            ("s3:GetBucketReplication", "s3:GetReplicationConfiguration"),
            ("s3:PutObject", "s3:PutObject"),
            ("logs:CreateExportTask", "logs:CreateExportTask"),
            ("athena:StartQueryExecution", "athena:StartQueryExecution"),
            ("organizations:ListAccounts", "organizations:ListAccounts"),
        ] {
            let e = denied(call);
            assert_eq!(e.permission().as_deref(), Some(action), "{call}");
            assert!(
                e.fix().starts_with(&format!("grant {action} ")),
                "{}",
                e.fix()
            );
            // The message users read is unchanged.
            assert_eq!(
                e.to_string(),
                format!("{call}: AccessDenied: Access Denied")
            );
        }
        // A bare 403 (HEAD: no body, no code) is a refusal too.
        let mut head = denied("s3:HeadObject");
        head.code = None;
        assert_eq!(head.permission().as_deref(), Some("s3:GetObject"));
        // GetCallerIdentity needs no permission: a refusal is about the credentials.
        assert_eq!(denied("sts:GetCallerIdentity").permission(), None);
    }

    #[test]
    fn only_refusals_name_a_permission_and_each_failure_has_its_fix() {
        let mut slow = denied("s3:PutObject");
        slow.code = Some("SlowDown".into());
        slow.http_status = Some(503);
        slow.uncertain = true;
        assert_eq!(slow.permission(), None);
        assert!(slow.fix().starts_with("retry later"), "{}", slow.fix());

        let timeout = CallError {
            call: "s3:HeadObject".into(),
            code: Some("Timeout".into()),
            message: "the call timed out".into(),
            http_status: None,
            service: false,
            uncertain: true,
            source: None,
        };
        assert_eq!(timeout.permission(), None);
        assert!(
            timeout.fix().contains("network or the endpoint"),
            "{}",
            timeout.fix()
        );

        let mut missing = denied("s3:GetObject");
        missing.code = Some("NoSuchKey".into());
        missing.http_status = Some(404);
        assert_eq!(missing.permission(), None);
        assert_eq!(missing.fix(), "see what NoSuchKey means for s3:GetObject");

        // An error made locally names no permission.
        assert_eq!(
            CallError::local("s3:HeadObject", "no client").permission(),
            None
        );
    }

    /// The SDK error stays reachable as the source.
    #[test]
    fn the_sdk_error_is_the_source() {
        use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
        use std::error::Error as _;
        type E = SdkError<aws_sdk_s3::operation::head_object::HeadObjectError, HttpResponse>;
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e: E = SdkError::dispatch_failure(ConnectorError::io(Box::new(refused)));
        let c = CallError::from_sdk_owned("s3:HeadObject", e);
        assert!(c.uncertain && !c.service);
        assert!(c.source().and_then(|s| s.downcast_ref::<E>()).is_some());
        assert!(c.fix().contains("network or the endpoint"), "{}", c.fix());
    }
}
