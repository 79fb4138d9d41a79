use super::support::{error, sample_key};
use super::{AuditContext, Rule};
use crate::access::bucket_policy;
use crate::findings::{Finding, Scenario, Status};
use crate::policy::{grants, PrincipalEntry};
use crate::snapshot::Fetched;
use serde_json::json;
use std::collections::BTreeSet;

const READ: &[&str] = &["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAcl"];
const WRITE: &[&str] = &[
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:ReplicateObject",
    "s3:ReplicateDelete",
];
const BUCKET_READ: &[&str] = &["s3:ListBucket", "s3:ListBucketVersions"];

declare_rule! {
    /// ## What it checks
    /// Every principal an `Allow` statement of a bucket policy grants read or write on the
    /// bucket or its objects is one the spec expects there: `[[access]]` principals with
    /// allowed actions, scenario C uploaders, scenario A readers, the replication role on its
    /// destinations, the CloudWatch Logs service on scenario D's log bucket, and the bucket's
    /// own account (which delegates to its IAM policies). Anything else — `"*"`, a whole other
    /// account, another role or user, `NotPrincipal` — fails, naming the statement.
    /// S3's own verdict on whether the policy is public (`GetBucketPolicyStatus`, `IsPublic`) is
    /// shown beside the policy engine's reading of the same policy under the Block Public Access
    /// definition of "public"; when they disagree, one of the two misreads the policy, so the
    /// audit's grantee and access proofs for this bucket cannot be trusted: that is an `error`.
    ///
    /// ## Why it matters
    /// The set-up lets exactly one outside user read. A grant to ABCD's whole account lets
    /// every ABCD identity with a matching identity policy read XYZ's incident reports; a
    /// grant to `"*"` makes them public unless Block Public Access catches it.
    ///
    /// ## Example
    /// Statement `ReadForABCD` grants `arn:aws:iam::271089868719:root`: fail.
    ///
    /// ## Fix
    /// Narrow the statement's Principal to the intended user or role ARN.
    pub struct BucketPolicyGrantees;
    id: "bucket-policy-grantees",
    title: "Bucket policy grants only the expected principals",
    severity: Critical,
    scenarios: [Step5, Step2, ScenarioD],
    remediation: "Remove or narrow every bucket-policy statement that grants an unexpected principal.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicyStatus.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html",
    ],
}

impl Rule for BucketPolicyGrantees {
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for alias in cx.spec.buckets.keys() {
            let scenario = match cx.bucket_scenario(alias) {
                Scenario::Step1 => Scenario::Step5,
                s => s,
            };
            let resource = cx.bucket_arn(alias);
            let policy = match bucket_policy(cx.snap, alias) {
                Ok(Some(p)) => p,
                Ok(None) => {
                    out.push(META.finding(
                        scenario,
                        Status::Pass,
                        &resource,
                        "no bucket policy: it grants no one",
                        json!({"bucket_policy": null}),
                    ));
                    continue;
                }
                Err(e) => {
                    out.push(error(&META, scenario, &resource, e));
                    continue;
                }
            };
            let expected = expected_grantees(cx, alias);
            let own_account = cx.bucket_account_id(alias).unwrap_or_default();
            let mut objects: BTreeSet<String> = BTreeSet::new();
            objects.insert(cx.object_arn(alias, &sample_key("")));
            for p in sample_prefixes(cx, alias) {
                objects.insert(cx.object_arn(alias, &sample_key(&p)));
            }
            let mut found = Vec::new();
            for obj in &objects {
                found.extend(grants(&policy, &[READ, WRITE].concat(), obj));
            }
            found.extend(grants(&policy, BUCKET_READ, &resource));
            let mut unexpected: Vec<String> = Vec::new();
            let mut granted: Vec<serde_json::Value> = Vec::new();
            for g in &found {
                let who = describe(&g.principal);
                let ok = !g.not_principal
                    && match &g.principal {
                        PrincipalEntry::Arn(a) => expected.contains(a.as_str()),
                        PrincipalEntry::Account(_) => g.principal.account_id() == Some(own_account),
                        PrincipalEntry::Service(s) => expected.contains(s.as_str()),
                        _ => false,
                    };
                let entry = json!({"principal": who, "not_principal": g.not_principal, "actions": g.actions, "statement": g.statement.to_string(), "has_conditions": g.has_conditions, "expected": ok});
                if !granted.contains(&entry) {
                    granted.push(entry);
                    if !ok {
                        let what = if g.not_principal {
                            format!("everyone except {who}")
                        } else {
                            who
                        };
                        unexpected.push(format!(
                            "{what} ({}) via {}{}",
                            g.actions.join(", "),
                            g.statement,
                            if g.has_conditions {
                                " (with conditions)"
                            } else {
                                ""
                            }
                        ));
                    }
                }
            }
            let ours = crate::policy::is_public(&policy);
            let theirs = cx.bucket_state(alias).map(|b| &b.policy_is_public);
            if let Some(Fetched::Ok { value: theirs }) = theirs {
                if *theirs != ours {
                    let word = |p: bool| if p { "public" } else { "not public" };
                    out.push(META.finding(
                        scenario,
                        Status::Error,
                        &resource,
                        format!(
                            "S3 says this bucket policy is {} (GetBucketPolicyStatus IsPublic = {theirs}) but replaudit's policy engine reads it as {}: one of them misreads the policy, so the grantee and access findings for this bucket are not trustworthy; review the policy by hand and report the disagreement",
                            word(*theirs),
                            word(ours)
                        ),
                        json!({"aws_is_public": theirs, "replaudit_is_public": ours}),
                    ));
                }
            }
            let aws_is_public = theirs.map(|f| match f {
                Fetched::Ok { value } => json!(value),
                other => json!(other.why_missing()),
            });
            let evidence = json!({"grants": granted, "expected_grantees": expected, "aws_is_public": aws_is_public, "replaudit_is_public": ours});
            out.push(if unexpected.is_empty() {
                META.finding(
                    scenario,
                    Status::Pass,
                    &resource,
                    format!(
                        "bucket policy grants only expected principals ({} grant(s))",
                        granted.len()
                    ),
                    evidence,
                )
            } else {
                META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    format!(
                        "bucket policy grants unexpected principals: {}",
                        unexpected.join("; ")
                    ),
                    evidence,
                )
            });
        }
        out
    }
}

fn describe(p: &PrincipalEntry) -> String {
    match p {
        PrincipalEntry::Any => "\"*\" (anyone)".into(),
        PrincipalEntry::Account(a) => format!("account {a}"),
        PrincipalEntry::Arn(a) => a.clone(),
        PrincipalEntry::Service(s) => format!("service {s}"),
        PrincipalEntry::Federated(f) => format!("federated {f}"),
        PrincipalEntry::CanonicalUser(c) => format!("canonical user {c}"),
    }
}

/// Who the spec expects a bucket policy to grant.
fn expected_grantees(cx: &AuditContext, alias: &str) -> BTreeSet<String> {
    let mut e = BTreeSet::new();
    for a in &cx.spec.access {
        if a.bucket.get_ref() == alias && !a.allow.is_empty() {
            e.insert(cx.principal_arn(a.principal.get_ref()).to_string());
        }
    }
    if let Some(c) = &cx.spec.scenario_c {
        if c.bucket.get_ref() == alias {
            for u in &c.uploaders {
                e.insert(cx.principal_arn(u.get_ref()).to_string());
            }
        }
    }
    if let Some(a) = &cx.spec.scenario_a {
        if a.bucket.get_ref() == alias {
            for r in &a.readers {
                e.insert(cx.principal_arn(r.get_ref()).to_string());
            }
        }
    }
    for r in &cx.spec.replication {
        if r.rules.iter().any(|x| x.destination.get_ref() == alias) {
            e.insert(cx.principal_arn(r.role.get_ref()).to_string());
        }
    }
    if let Some(d) = &cx.spec.scenario_d {
        if d.log_bucket.get_ref() == alias {
            e.insert(format!("logs.{}.amazonaws.com", d.logs_region.get_ref()));
            e.insert("logs.amazonaws.com".to_string());
        }
    }
    e
}

/// Key prefixes worth asking about: everything the spec knows to live in the bucket.
fn sample_prefixes(cx: &AuditContext, alias: &str) -> Vec<String> {
    let mut v = Vec::new();
    for a in &cx.spec.access {
        if a.bucket.get_ref() == alias {
            v.push(a.sample_key.clone());
        }
    }
    for r in &cx.spec.replication {
        for rule in &r.rules {
            if r.source.get_ref() == alias || rule.destination.get_ref() == alias {
                v.push(rule.prefix_or_empty().to_string());
            }
        }
    }
    if let Some(c) = &cx.spec.scenario_c {
        if c.bucket.get_ref() == alias {
            v.extend(c.prefixes.iter().cloned());
        }
    }
    if let Some(d) = &cx.spec.scenario_d {
        if d.log_bucket.get_ref() == alias {
            v.push(d.export_prefix.clone());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    fn grant(
        f: &mut Fixture,
        alias: &str,
        principal: serde_json::Value,
        action: &str,
        resource: &str,
    ) {
        f.bucket_policy(alias, |p| {
            statements(p).push(json!({"Sid": "Extra", "Effect": "Allow",
                "Principal": principal, "Action": action, "Resource": resource}))
        });
    }

    #[test]
    fn passes_when_only_expected_principals_are_granted() {
        let out = seed().run(&BucketPolicyGrantees);
        assert_eq!(count(&out, Status::Pass), 4);
        clean(
            &out,
            "bucket policy grants only expected principals (2 grant(s))",
        );
        has(
            &out,
            Status::Pass,
            "bucket policy grants only expected principals (0 grant(s))",
        );
        let mut f = seed();
        f.bucket("logs-backup").policy = Fetched::absent("NoSuchBucketPolicy");
        has(
            &f.run(&BucketPolicyGrantees),
            Status::Pass,
            "no bucket policy: it grants no one",
        );
    }

    #[test]
    fn fails_on_a_public_grant() {
        let mut f = seed();
        grant(
            &mut f,
            "source",
            json!("*"),
            "s3:GetObject",
            "arn:aws:s3:::rubes-s3-bucket/*",
        );
        let x = only(
            &f.run(&BucketPolicyGrantees),
            Status::Fail,
            "bucket policy grants unexpected principals: \"*\" (anyone) (s3:GetObject) via",
        );
        assert_eq!(x.resource, SOURCE_ARN);
        assert_eq!(x.scenario, Scenario::Step5);
    }

    #[test]
    fn fails_on_another_account_or_user_but_not_the_own_account() {
        let mut f = seed();
        grant(
            &mut f,
            "source",
            json!({"AWS": "arn:aws:iam::271089868719:root"}),
            "s3:GetObject",
            "arn:aws:s3:::rubes-s3-bucket/reports/*",
        );
        only(
            &f.run(&BucketPolicyGrantees),
            Status::Fail,
            "bucket policy grants unexpected principals: account arn:aws:iam::271089868719:root (s3:GetObject)",
        );
        let mut f = seed();
        grant(
            &mut f,
            "destination",
            json!({"AWS": "arn:aws:iam::271089868719:user/clint-eastwood"}),
            "s3:ListBucket",
            DEST_ARN,
        );
        let x = only(
            &f.run(&BucketPolicyGrantees),
            Status::Fail,
            "arn:aws:iam::271089868719:user/clint-eastwood (s3:ListBucket)",
        );
        assert_eq!(x.scenario, Scenario::Step2);
        let mut f = seed();
        grant(
            &mut f,
            "destination",
            json!({"AWS": "271089868719"}),
            "s3:GetObject",
            "arn:aws:s3:::clint-s3-bucket/*",
        );
        clean(
            &f.run(&BucketPolicyGrantees),
            "grants only expected principals",
        );
    }

    #[test]
    fn conditions_are_reported_and_not_principal_is_unexpected() {
        let mut f = seed();
        f.bucket("logs-backup").policy = Fetched::ok(
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "NP", "Effect": "Allow",
                "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::xyz-app-logs-backup/*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]})
            .to_string(),
        );
        only(
            &f.run(&BucketPolicyGrantees),
            Status::Fail,
            "everyone except account arn:aws:iam::111122223333:root (s3:GetObject) via",
        )
        .message
        .ends_with("(with conditions)")
        .then_some(())
        .expect("says the grant has conditions");
    }

    #[test]
    fn errors_on_an_unreadable_or_broken_policy() {
        let mut f = seed();
        f.bucket("source").policy = denied("s3:GetBucketPolicy");
        f.bucket("logs").policy = Fetched::ok("{\"Statement\": 3}".into());
        let out = f.run(&BucketPolicyGrantees);
        assert_eq!(count(&out, Status::Error), 2);
        has(
            &out,
            Status::Error,
            "cannot check: bucket policy of rubes-s3-bucket: s3:GetBucketPolicy failed",
        );
        has(
            &out,
            Status::Error,
            "cannot check: policy 'bucket policy of xyz-app-logs': $.Statement",
        );
    }

    const TOM: &str = "arn:aws:iam::271089868719:user/tom-cruise";
    const CLINT: &str = "arn:aws:iam::271089868719:user/clint-eastwood";
    const L2: &str = "arn:aws:iam::111122223333:user/l2-engineer";

    /// The verdict on `alias` alone.
    fn on(f: &Fixture, alias: &str) -> Finding {
        let arn = format!("arn:aws:s3:::{}", f.spec.buckets[alias].name.get_ref());
        let out = f.run(&BucketPolicyGrantees);
        out.into_iter()
            .find(|x| x.resource == arn)
            .expect("a finding per bucket")
    }

    #[test]
    fn who_is_expected_comes_from_access_scenarios_and_replication() {
        // A principal with only `deny` expectations is not a grantee.
        let mut f = seed();
        grant(
            &mut f,
            "source",
            json!({"AWS": CLINT}),
            "s3:GetObject",
            "arn:aws:s3:::rubes-s3-bucket/*",
        );
        assert_eq!(on(&f, "source").status, Status::Fail);
        // Access expectations on one bucket do not make the principal expected on another.
        let mut f = seed();
        grant(
            &mut f,
            "logs",
            json!({"AWS": TOM}),
            "s3:GetObject",
            "arn:aws:s3:::xyz-app-logs/*",
        );
        assert_eq!(on(&f, "logs").status, Status::Fail);
        // Scenario C uploaders may be granted on their bucket, not elsewhere.
        let mut f = seed();
        grant(
            &mut f,
            "source",
            json!({"AWS": L2}),
            "s3:PutObject",
            "arn:aws:s3:::rubes-s3-bucket/reports/*",
        );
        assert_eq!(on(&f, "source").status, Status::Pass);
        grant(
            &mut f,
            "destination",
            json!({"AWS": L2}),
            "s3:PutObject",
            "arn:aws:s3:::clint-s3-bucket/*",
        );
        assert_eq!(on(&f, "destination").status, Status::Fail);
        // Scenario A readers may be granted on the replica bucket, not elsewhere.
        let mut f = seed();
        grant(
            &mut f,
            "destination",
            json!({"AWS": TOM}),
            "s3:GetObject",
            "arn:aws:s3:::clint-s3-bucket/*",
        );
        assert_eq!(on(&f, "destination").status, Status::Pass);
        grant(
            &mut f,
            "logs-backup",
            json!({"AWS": TOM}),
            "s3:GetObject",
            "arn:aws:s3:::xyz-app-logs-backup/*",
        );
        assert_eq!(on(&f, "logs-backup").status, Status::Fail);
    }

    #[test]
    fn the_replication_role_is_expected_on_its_destinations_only() {
        let mut f = seed();
        f.spec.replication[1].role = toml::Spanned::new(0..0, "tom".into());
        assert_eq!(
            on(&f, "destination").status,
            Status::Pass,
            "{}",
            on(&f, "destination").message
        );
        grant(
            &mut f,
            "logs",
            json!({"AWS": ROLE_ARN}),
            "s3:PutObject",
            "arn:aws:s3:::xyz-app-logs/*",
        );
        assert_eq!(on(&f, "logs").status, Status::Fail);
    }

    #[test]
    fn grants_limited_to_a_prefix_the_spec_knows_are_found() {
        // Each source of sample keys on its own: a public grant on just that prefix fails.
        let public = |f: &mut Fixture, alias: &str, object: &str| {
            grant(f, alias, json!("*"), "s3:GetObject", object);
            // What GetBucketPolicyStatus would say of the edited policy.
            f.bucket(alias).policy_is_public = Fetched::ok(true);
            let x = on(f, alias);
            assert_ne!(x.status, Status::Error, "{}", x.message);
            x
        };
        let mut f = seed();
        f.spec.access[0].sample_key = "only-access/x".into();
        assert_eq!(
            public(
                &mut f,
                "source",
                "arn:aws:s3:::rubes-s3-bucket/only-access/*"
            )
            .status,
            Status::Fail
        );
        let mut f = seed();
        f.spec.replication[1].rules[0].prefix = Some("logs-only/".into());
        assert_eq!(
            public(&mut f, "logs", "arn:aws:s3:::xyz-app-logs/logs-only/*").status,
            Status::Fail
        );
        assert_eq!(
            public(
                &mut f,
                "logs-backup",
                "arn:aws:s3:::xyz-app-logs-backup/logs-only/*"
            )
            .status,
            Status::Fail
        );
        let mut f = seed();
        f.spec.scenario_c.as_mut().unwrap().prefixes = vec!["uploads/".into()];
        assert_eq!(
            public(&mut f, "source", "arn:aws:s3:::rubes-s3-bucket/uploads/*").status,
            Status::Fail
        );
        let mut f = seed();
        f.spec.scenario_d.as_mut().unwrap().export_prefix = "exp-only/".into();
        assert_eq!(
            public(&mut f, "logs", "arn:aws:s3:::xyz-app-logs/exp-only/*").status,
            Status::Fail
        );
        // A prefix the spec never names for this bucket is not probed.
        let mut f = seed();
        assert_eq!(
            public(
                &mut f,
                "destination",
                "arn:aws:s3:::clint-s3-bucket/never-named/*"
            )
            .status,
            Status::Pass
        );
    }
}

/// Tests that build their states from nothing (the testkit's builders) rather than mutating
/// the seed fixture.
#[cfg(test)]
mod built {
    use super::*;
    use crate::rules::testkit;

    const PRIVATE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Tom","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::271089868719:user/tom-cruise"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::rubes-s3-bucket/*"}]}"#;

    fn run(aws_says_public: Fetched<bool>) -> Vec<Finding> {
        let spec = testkit::seed_spec();
        let mut snap = testkit::snapshot();
        for alias in spec.buckets.keys() {
            snap.buckets
                .insert(alias.clone(), testkit::bucket(&spec, alias));
        }
        let b = snap.buckets.get_mut("source").unwrap();
        b.policy = Fetched::ok(PRIVATE.into());
        b.policy_is_public = aws_says_public;
        BucketPolicyGrantees
            .check(&AuditContext::new(&spec, &snap))
            .into_iter()
            .filter(|f| f.resource == "arn:aws:s3:::rubes-s3-bucket")
            .collect()
    }

    #[test]
    fn s3_and_the_engine_disagreeing_on_public_is_an_error() {
        let f = run(Fetched::ok(true));
        let err = f
            .iter()
            .find(|f| f.status == Status::Error)
            .expect("disagreement reported");
        assert!(err.message.contains("IsPublic = true"), "{}", err.message);
        assert!(f.iter().any(|f| f.status == Status::Pass));
    }

    #[test]
    fn agreement_or_an_unread_status_adds_nothing() {
        for status in [
            Fetched::ok(false),
            Fetched::unknown("s3:GetBucketPolicyStatus", None, "denied"),
        ] {
            let f = run(status);
            assert!(f.iter().all(|f| f.status == Status::Pass), "{f:?}");
            assert_eq!(f.len(), 1);
        }
    }
}
