//! The body of the `fuzz/` target, kept here as a plain function so that it also runs under
//! proptest and a plain loop on stable Rust (cargo-fuzz needs nightly).

use super::{evaluate, grants, is_public, Context, OrgLevel, Policy, PolicySet, Request};

/// An invariant of the policy engine that an input broke (the fuzz target turns it into a
/// crash).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("re-parse of to_value failed: {0}")]
    Reparse(#[source] super::PolicyError),
    #[error("round trip changed decisions: {0}")]
    RoundTrip(String),
}

/// Parses `data` as a policy and, if it parses, evaluates a spread of requests against it in
/// every role a policy can play. Returns an error only when an invariant breaks (a panic inside
/// would be the other kind of finding); the fuzz target turns an error into a crash.
pub fn policy_eval(data: &[u8]) -> Result<(), Broken> {
    let text = String::from_utf8_lossy(data);
    let Ok(policy) = Policy::parse("fuzz", &text) else {
        return Ok(());
    };
    let _ = is_public(&policy);
    let _ = grants(
        &policy,
        &["s3:GetObject", "kms:Decrypt", "*"],
        "arn:aws:s3:::b/k",
    );

    // Round trip: the rebuilt document must parse and decide the same.
    let again = Policy::from_value("fuzz", &policy.to_value()).map_err(Broken::Reparse)?;

    let mut ctx = Context::new();
    ctx.insert("aws:username", "alice");
    ctx.insert("aws:SourceIp", "203.0.113.7");
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("aws:CurrentTime", "2024-06-01T00:00:00Z");
    ctx.insert("aws:TagKeys", vec!["a", "b"]);
    ctx.insert("s3:prefix", "home/alice/");
    // Let the input also shape a context value so conditions see hostile text.
    ctx.insert("fuzz:input", text.chars().take(64).collect::<String>());

    let principals = [
        ("arn:aws:iam::111122223333:user/alice", Some("111122223333")),
        (
            "arn:aws:sts::111122223333:assumed-role/R/s",
            Some("111122223333"),
        ),
        ("arn:aws:iam::444455556666:root", Some("444455556666")),
        ("anonymous", None),
        ("s3.amazonaws.com", None),
    ];
    let actions = [
        "s3:GetObject",
        "kms:Decrypt",
        "sts:AssumeRole",
        "S3:ListBucket",
    ];
    let resources = ["arn:aws:s3:::b/home/alice/x", "*"];
    for (p, acct) in principals {
        for a in actions {
            for r in resources {
                let req = Request {
                    principal: p.to_string(),
                    principal_account: acct.map(str::to_string),
                    action: a.to_string(),
                    resource: r.to_string(),
                    resource_account: Some("111122223333".to_string()),
                    context: ctx.clone(),
                };
                let d1 = decide(&req, &policy);
                let d2 = decide(&req, &again);
                if d1 != d2 {
                    return Err(Broken::RoundTrip(format!("{d1:?} vs {d2:?}")));
                }
            }
        }
    }
    Ok(())
}

fn decide(req: &Request, p: &Policy) -> Vec<super::Decision> {
    let level = [OrgLevel {
        target: "r".into(),
        policies: vec![p.clone()],
    }];
    let identity = std::slice::from_ref(p);
    let sets = [
        PolicySet {
            identity,
            ..PolicySet::default()
        },
        PolicySet {
            resource: Some(p),
            restrict_public_buckets: true,
            ..PolicySet::default()
        },
        PolicySet {
            identity,
            resource: Some(p),
            permission_boundary: Some(p),
            session: Some(p),
            scps: &level,
            rcps: &level,
            vpc_endpoint: identity,
            restrict_public_buckets: false,
            federated_by: None,
        },
    ];
    sets.iter().map(|s| evaluate(req, s).decision).collect()
}
