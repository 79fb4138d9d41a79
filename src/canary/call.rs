//! A failed AWS call of the canary, as data: which call, the error code and message (never
//! credentials), the HTTP status, and whether the request may have taken effect. Its own file so
//! that the retry policy ([`super::backoff`]) and the calls ([`super::s3ops`], which retry
//! through it) both depend on it without depending on each other.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use serde::Serialize;
use serde_json::json;

/// A failed AWS call: which call, the error code and message (never credentials), the HTTP status.
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
}

impl CallError {
    pub fn from_sdk<E>(call: &str, e: &SdkError<E, HttpResponse>) -> CallError
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, message) = crate::aws::error_parts(e);
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
        }
    }

    pub fn local(call: &str, message: impl std::fmt::Display) -> CallError {
        CallError {
            call: call.to_string(),
            code: None,
            message: message.to_string(),
            http_status: None,
            service: false,
            uncertain: false,
        }
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
        format!("{}: {}: {}", self.call, self.code_or_status(), self.message)
    }

    pub fn evidence(&self) -> serde_json::Value {
        json!({"call": self.call, "code": self.code, "message": self.message, "http_status": self.http_status})
    }
}
