//! The set-up check that runs before anything is collected: for each account, resolve its
//! credentials and make one cheap identity call (STS `GetCallerIdentity`) with a short timeout.
//!
//! Why: without it, one missing profile, an SSO session that is not logged in or an
//! unreachable endpoint surfaces as dozens of `error` findings, each with its own wording of
//! the same cause, after every call has waited out its retries (45 s of silence for an
//! unreachable endpoint). One call per account names the cause and the fix once, in seconds.
//!
//! `GetCallerIdentity` needs no permission: "No permissions are required to perform this
//! operation. If an administrator attaches a policy to your identity that explicitly denies
//! access to the sts:GetCallerIdentity action, you can still perform this operation."
//! <https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html>
//! So a failure of it is a set-up problem (credentials, network), never a missing grant.

use crate::aws::{self, AwsOptions};
use crate::snapshot::CallerIdentity;
use crate::spec::{Credentials, Spec};
use futures::future::join_all;
use std::time::Duration;

/// Upper bound for resolving one account's credentials and its identity call, together.
/// A few seconds: STS answers in well under a second; anything slower is a set-up problem
/// the user should hear about now, not after every call of the collection timed out.
pub const IDENTITY_TIMEOUT: Duration = Duration::from_secs(4);

/// The result of checking one account of the spec.
#[derive(Debug, Clone)]
pub struct AccountCheck {
    pub alias: String,
    pub account_id: String,
    /// How its credentials are obtained, as the spec says ("profile xyz-audit", "role ARN from
    /// profile hub", "the default credential chain").
    pub via: String,
    pub result: Result<CallerIdentity, SetupProblem>,
}

/// What is wrong with an account's set-up, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupProblem {
    pub cause: String,
    pub fix: String,
    /// The identity could not be confirmed for a reason that may pass (throttling, a 5xx, a
    /// reset connection): the account is audited anyway, and each of its calls retries and
    /// reports on its own. Anything else makes the account unusable.
    pub transient: bool,
}

impl AccountCheck {
    /// Worth auditing: confirmed, or not confirmed for a transient reason only.
    pub fn is_usable(&self) -> bool {
        self.result.as_ref().map_or_else(|p| p.transient, |_| true)
    }

    /// One line naming the account, how it was reached, the cause and the fix; `None` when the
    /// identity was confirmed.
    pub fn problem_line(&self) -> Option<String> {
        let p = self.result.as_ref().err()?;
        Some(format!(
            "account '{}' ({}, {}): {}{} — fix: {}",
            self.alias,
            self.via,
            self.account_id,
            p.cause,
            if p.transient {
                "; auditing it anyway"
            } else {
                ""
            },
            p.fix
        ))
    }
}

/// How the spec says an account's credentials are obtained.
pub fn describe_credentials(c: &Credentials) -> String {
    match (&c.role_arn, &c.profile, &c.source_profile) {
        (Some(role), _, Some(src)) => format!("role {role} from profile {src}"),
        (Some(role), Some(p), None) => format!("role {role} from profile {p}"),
        (Some(role), None, None) => format!("role {role} from the default credential chain"),
        (None, Some(p), _) => format!("profile {p}"),
        (None, None, Some(p)) => format!("profile {p}"),
        (None, None, None) => "the default credential chain".to_string(),
    }
}

/// Check every account of the spec concurrently (bounded by [`IDENTITY_TIMEOUT`] each).
pub async fn check_accounts(spec: &Spec, opts: &AwsOptions) -> Vec<AccountCheck> {
    join_all(spec.accounts.iter().map(|(alias, a)| async move {
        let expected = a.account_id.get_ref().clone();
        let creds = &a.credentials;
        let result = check_one(creds, a.region.get_ref(), opts, &expected).await;
        AccountCheck {
            alias: alias.clone(),
            account_id: expected,
            via: describe_credentials(creds),
            result,
        }
    }))
    .await
}

/// Options for the identity call: two attempts (one more for a throttled, failed or stalled
/// first one), each bounded, whatever `--timeout` and `--max-attempts` say.
fn short(opts: &AwsOptions) -> AwsOptions {
    AwsOptions {
        endpoint_url: opts.endpoint_url.clone(),
        max_attempts: 2,
        operation_timeout: IDENTITY_TIMEOUT.min(opts.operation_timeout),
        attempt_timeout: (IDENTITY_TIMEOUT / 2).min(opts.attempt_timeout),
    }
}

async fn check_one(
    creds: &Credentials,
    region: &str,
    opts: &AwsOptions,
    expected_account: &str,
) -> Result<CallerIdentity, SetupProblem> {
    let short = short(opts);
    let endpoint = endpoint_name(&short, region);
    let work = async {
        use aws_credential_types::provider::ProvideCredentials;
        let conf = aws::sdk_config(creds, region, &short).await;
        let provider = conf.credentials_provider().ok_or_else(|| SetupProblem {
            transient: false,
            cause: "no credentials provider could be configured".into(),
            fix: "set `credentials` for this account in the spec (a profile or a role)".into(),
        })?;
        if let Err(e) = provider.provide_credentials().await {
            return Err(classify(creds, &endpoint, None, &chain(&e)));
        }
        let sts = aws_sdk_sts::Client::new(&conf);
        match sts.get_caller_identity().send().await {
            Ok(o) => Ok(CallerIdentity {
                account: o.account().unwrap_or_default().to_string(),
                arn: o.arn().unwrap_or_default().to_string(),
            }),
            Err(e) => {
                // With the HTTP status when the answer carried no readable error code.
                let (code, msg) = super::error_parts(&e);
                Err(classify(creds, &endpoint, code.as_deref(), &msg))
            }
        }
    };
    let id = match tokio::time::timeout(IDENTITY_TIMEOUT, work).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(classify(
                creds,
                &endpoint,
                Some("Timeout"),
                &format!(
                    "no answer within {} s",
                    IDENTITY_TIMEOUT.as_secs_f64().round()
                ),
            ))
        }
    };
    if id.account != expected_account {
        return Err(SetupProblem {
            transient: false,
            cause: format!(
                "the credentials belong to account {} ({}), not {expected_account}",
                if id.account.is_empty() {
                    "unknown"
                } else {
                    &id.account
                },
                id.arn
            ),
            fix: format!(
                "use credentials of account {expected_account} for this account, or correct its `account_id` in the spec"
            ),
        });
    }
    Ok(id)
}

fn endpoint_name(opts: &AwsOptions, region: &str) -> String {
    match &opts.endpoint_url {
        Some(u) => u.clone(),
        None => format!("AWS STS in {region}"),
    }
}

/// An error and its sources, outermost first (the SDK's outer messages are generic).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !msg.contains(&s) {
            msg = format!("{msg}: {s}");
        }
        cur = c.source();
    }
    msg
}

/// Where the AWS config and credentials files are read from (the SDK honours these variables).
/// <https://docs.aws.amazon.com/sdkref/latest/guide/file-location.html>
fn config_files() -> String {
    let config = std::env::var("AWS_CONFIG_FILE").unwrap_or_else(|_| "~/.aws/config".into());
    let creds = std::env::var("AWS_SHARED_CREDENTIALS_FILE")
        .unwrap_or_else(|_| "~/.aws/credentials".into());
    format!("{config} or {creds}")
}

/// Turn a failure (an error code when the identity call answered, else the message chain of
/// the credential provider or the transport) into a cause and a fix.
pub(crate) fn classify(
    creds: &Credentials,
    endpoint: &str,
    code: Option<&str>,
    message: &str,
) -> SetupProblem {
    let m = message.to_ascii_lowercase();
    let profile = creds.source_profile.as_deref().or(creds.profile.as_deref());
    let login = match profile {
        Some(p) => format!("aws sso login --profile {p}"),
        None => "aws sso login".to_string(),
    };
    let problem = |cause: String, fix: String| SetupProblem {
        cause,
        fix,
        transient: false,
    };
    // Throttling, a server error, a connection dropped mid-answer: the next call may well
    // succeed, so this alone does not make the account unusable.
    // <https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>
    let transient_code = matches!(
        code,
        Some(
            "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "SlowDown"
                | "InternalError"
                | "InternalFailure"
                | "ServiceUnavailable"
                | "RequestTimeout"
                | "RequestTimeoutException"
                | "ResponseError"
        )
    ) || m.contains("(http 5");
    let dropped = code == Some("DispatchFailure")
        && (m.contains("reset") || m.contains("closed") || m.contains("broken pipe"));
    if transient_code || dropped {
        return SetupProblem {
            cause: format!(
                "the identity could not be confirmed ({}{})",
                code.map(|c| format!("{c}: ")).unwrap_or_default(),
                first_line(message)
            ),
            fix: "none needed if it passes; if every call of this account fails, check the network and AWS's service health".into(),
            transient: true,
        };
    }
    // Transport: nothing answered, so nothing about the credentials is known.
    if matches!(code, Some("DispatchFailure") | Some("Timeout"))
        || m.contains("connection refused")
        || m.contains("dns error")
        || m.contains("failed to lookup address")
        || m.contains("timed out")
        || m.contains("no answer within")
    {
        return problem(
            format!("{endpoint} is unreachable ({})", first_line(message)),
            "check --endpoint-url / AWS_ENDPOINT_URL, the network and any proxy".into(),
        );
    }
    // aws-config: "profile `x` was not defined" / "No profiles were defined".
    if m.contains("was not defined") || m.contains("no profiles were defined") {
        let p = profile.unwrap_or("default");
        return problem(
            format!("profile `{p}` is not defined in {}", config_files()),
            format!(
                "create it (`aws configure --profile {p}` or `aws configure sso --profile {p}`) or correct `credentials` in the spec"
            ),
        );
    }
    // SSO: no cached token (never logged in, or logged out) or an expired one. `aws sso login`
    // "Retrieves and caches an AWS IAM Identity Center access token to exchange for AWS
    // credentials." <https://docs.aws.amazon.com/cli/latest/reference/sso/login.html>
    if m.contains("sso") && (m.contains("token") || m.contains("cache")) {
        let expired = m.contains("expired");
        return problem(
            if expired {
                "the SSO session has expired".into()
            } else {
                "the SSO session is not logged in (no cached SSO token)".into()
            },
            format!("run `{login}`"),
        );
    }
    if matches!(
        code,
        Some("ExpiredToken") | Some("ExpiredTokenException") | Some("RequestExpired")
    ) || m.contains("expired")
    {
        return problem(
            "the credentials have expired".into(),
            format!(
                "refresh them (`{login}` for SSO, a new session token for temporary keys) and run again"
            ),
        );
    }
    if matches!(
        code,
        Some("InvalidClientTokenId")
            | Some("SignatureDoesNotMatch")
            | Some("UnrecognizedClientException")
            | Some("InvalidAccessKeyId")
    ) || m.contains("security token included in the request is invalid")
        // GetCallerIdentity needs no permission: a 403 to it is a refusal of the credentials.
        || (code.is_none() && m.contains("(http 403)"))
    {
        return problem(
            format!(
                "AWS rejected the access key ({})",
                code.unwrap_or("invalid credentials")
            ),
            match profile {
                Some(p) => format!(
                    "check the keys of profile {p} (`aws sts get-caller-identity --profile {p}`)"
                ),
                None => "check the credentials in the environment or the default profile".into(),
            },
        );
    }
    if let Some(role) = &creds.role_arn {
        if m.contains("assumerole") || m.contains("assume role") || code == Some("AccessDenied") {
            return problem(
                format!("cannot assume role {role} ({})", first_line(message)),
                format!(
                    "check the role's trust policy (principal{}) and that {} may call sts:AssumeRole on it",
                    if creds.external_id.is_some() { ", sts:ExternalId" } else { "" },
                    profile.map(|p| format!("profile {p}")).unwrap_or_else(|| "the default credentials".into())
                ),
            );
        }
    }
    if m.contains("no credentials")
        || m.contains("credentialsnotloaded")
        || m.contains("not loaded")
    {
        return problem(
            "no credentials were found (environment, profiles, SSO, instance role)".into(),
            "name a profile or a role in the account's `credentials` in the spec, or export AWS_PROFILE".into(),
        );
    }
    problem(
        format!(
            "cannot confirm the identity: {}{}",
            code.map(|c| format!("{c}: ")).unwrap_or_default(),
            first_line(message)
        ),
        "check this account's credentials in the spec and the AWS config files".into(),
    )
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(p: &str) -> Credentials {
        Credentials {
            profile: Some(p.into()),
            ..Credentials::default()
        }
    }

    #[test]
    fn each_cause_gets_its_own_fix() {
        let c = profile("xyz-audit");
        let e = "http://127.0.0.1:9";
        let cases: [(Option<&str>, &str, &str); 9] = [
            (Some("DispatchFailure"), "connection failed (endpoint unreachable?): Connection refused (os error 111)", "unreachable"),
            (None, "an error occurred while loading credentials: profile `xyz-audit` was not defined: profile not found", "is not defined"),
            (None, "an error occurred while loading credentials: failed to read `/h/.aws/sso/cache/0a.json`: No such file or directory (os error 2): cached SSO token", "not logged in"),
            (Some("ExpiredToken"), "The security token included in the request is expired", "expired"),
            (Some("InvalidClientTokenId"), "The security token included in the request is invalid.", "rejected the access key"),
            (None, "unhandled error (HTTP 403)", "rejected the access key"),
            (None, "the credential provider was not enabled: no credentials in the default chain", "no credentials were found"),
            (Some("Timeout"), "no answer within 4 s", "unreachable"),
            (Some("AccessDenied"), "Not authorized", "cannot confirm the identity: AccessDenied: Not authorized"),
        ];
        for (code, msg, want) in cases {
            let p = classify(&c, e, code, msg);
            assert!(p.cause.contains(want), "{msg}: {p:?}");
        }
        let sso = classify(
            &c,
            e,
            None,
            "failed to load SSO token from cache: sso token expired",
        );
        assert_eq!(sso.fix, "run `aws sso login --profile xyz-audit`");
        assert!(sso.cause.contains("expired"));
        let missing = classify(&c, e, None, "profile `xyz-audit` was not defined");
        assert!(
            missing.fix.contains("aws configure --profile xyz-audit"),
            "{missing:?}"
        );
    }

    /// Throttling, 5xx and dropped connections do not make an account unusable: its calls
    /// retry on their own. A refused connection or a timeout does.
    #[test]
    fn transient_failures_do_not_make_the_account_unusable() {
        let c = profile("xyz-audit");
        for (code, msg) in [
            (Some("Throttling"), "Rate exceeded"),
            (Some("InternalError"), "We encountered an internal error"),
            (Some("ResponseError"), "unreadable response: x (HTTP 502)"),
            (
                Some("DispatchFailure"),
                "connection failed (endpoint unreachable?): connection reset by peer",
            ),
        ] {
            let p = classify(&c, "e", code, msg);
            assert!(p.transient, "{msg}: {p:?}");
            let check = AccountCheck {
                alias: "xyz".into(),
                account_id: "111122223333".into(),
                via: "profile xyz-audit".into(),
                result: Err(p),
            };
            assert!(check.is_usable());
            assert!(check.problem_line().unwrap().contains("auditing it anyway"));
        }
        for (code, msg) in [
            (
                Some("DispatchFailure"),
                "connection failed (endpoint unreachable?): Connection refused (os error 111)",
            ),
            (Some("Timeout"), "no answer within 4 s"),
            (
                Some("InvalidClientTokenId"),
                "The security token included in the request is invalid.",
            ),
        ] {
            assert!(!classify(&c, "e", code, msg).transient, "{msg}");
        }
    }

    #[test]
    fn assume_role_denial_names_the_role_and_trust_policy() {
        let c = Credentials {
            role_arn: Some("arn:aws:iam::271089868719:role/auditor".into()),
            source_profile: Some("hub".into()),
            external_id: Some("x".into()),
            ..Credentials::default()
        };
        let p = classify(
            &c,
            "AWS STS in ap-southeast-2",
            None,
            "an error occurred while loading credentials: service error: AccessDenied: User is not authorized to perform: sts:AssumeRole",
        );
        assert!(
            p.cause
                .starts_with("cannot assume role arn:aws:iam::271089868719:role/auditor"),
            "{p:?}"
        );
        assert!(
            p.fix.contains("trust policy")
                && p.fix.contains("sts:ExternalId")
                && p.fix.contains("profile hub"),
            "{p:?}"
        );
        assert_eq!(
            describe_credentials(&c),
            "role arn:aws:iam::271089868719:role/auditor from profile hub"
        );
    }

    #[test]
    fn problem_line_is_one_line_naming_alias_via_and_fix() {
        let check = AccountCheck {
            alias: "abcd".into(),
            account_id: "271089868719".into(),
            via: "profile abcd-audit".into(),
            result: Err(classify(
                &profile("abcd-audit"),
                "x",
                None,
                "profile `abcd-audit` was not defined",
            )),
        };
        let line = check.problem_line().unwrap();
        assert!(!line.contains('\n'));
        assert!(line.starts_with("account 'abcd' (profile abcd-audit, 271089868719): profile `abcd-audit` is not defined"), "{line}");
        assert!(line.contains(" — fix: "));
    }
}
