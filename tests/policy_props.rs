//! Properties of the evaluator that must hold for every policy set, checked on random ones.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use replaudit::policy::{
    evaluate, fuzzing, Context, Decision, OrgLevel, Policy, PolicySet, Request,
};

const ACCT_A: &str = "111122223333";
const ACCT_C: &str = "444455556666";

fn principals() -> Vec<(&'static str, Option<&'static str>)> {
    vec![
        ("arn:aws:iam::111122223333:user/alice", Some(ACCT_A)),
        (
            "arn:aws:sts::111122223333:assumed-role/App/s1",
            Some(ACCT_A),
        ),
        ("arn:aws:iam::444455556666:user/bob", Some(ACCT_C)),
        ("arn:aws:iam::111122223333:root", Some(ACCT_A)),
        ("anonymous", None),
        ("s3.amazonaws.com", None),
    ]
}

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "kms:Decrypt",
    "sts:AssumeRole",
    "iam:CreateUser",
];
const ACTION_PATTERNS: &[&str] = &[
    "s3:GetObject",
    "s3:Get*",
    "s3:*",
    "*",
    "kms:*",
    "sts:AssumeRole",
    "iam:*",
    "S3:LISTBUCKET",
    "s3:*Object",
];
const RESOURCES: &[&str] = &[
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::b",
    "arn:aws:kms:ap-southeast-1:111122223333:key/k1",
    "arn:aws:iam::111122223333:role/App",
    "*",
];
const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b",
    "arn:aws:s3:::other/*",
    "arn:aws:kms:*:111122223333:key/*",
    "arn:aws:s3:::b/${aws:username}",
];

fn principal_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("*")),
        Just(json!({"AWS": ACCT_A})),
        Just(json!({"AWS": ACCT_C})),
        Just(json!({"AWS": "arn:aws:iam::111122223333:user/alice"})),
        Just(json!({"AWS": "arn:aws:iam::111122223333:role/App"})),
        Just(json!({"AWS": "arn:aws:sts::111122223333:assumed-role/App/s1"})),
        Just(json!({"AWS": ["arn:aws:iam::444455556666:user/bob", ACCT_A]})),
        Just(json!({"Service": "s3.amazonaws.com"})),
    ]
}

fn condition_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(json!({"Bool": {"aws:SecureTransport": "true"}}))),
        1 => Just(Some(json!({"StringNotEquals": {"aws:PrincipalOrgID": "o-1"}}))),
        1 => Just(Some(json!({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))),
        1 => Just(Some(json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}))),
        1 => Just(Some(json!({"StringEqualsIfExists": {"aws:username": "alice"}}))),
        1 => Just(Some(json!({"Null": {"aws:TokenIssueTime": "true"}}))),
    ]
}

/// A statement; `with_principal` for resource-side policies.
fn statement(with_principal: bool) -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::sample::subsequence(ACTION_PATTERNS.to_vec(), 1..3),
        prop::sample::subsequence(RESOURCE_PATTERNS.to_vec(), 1..3),
        principal_value(),
        any::<bool>(),
        condition_value(),
    )
        .prop_map(
            move |(deny, not_action, acts, res, princ, not_principal, cond)| {
                let mut m = Map::new();
                m.insert("Effect".into(), json!(if deny { "Deny" } else { "Allow" }));
                m.insert(
                    if not_action && deny {
                        "NotAction"
                    } else {
                        "Action"
                    }
                    .into(),
                    json!(acts),
                );
                m.insert("Resource".into(), json!(res));
                if with_principal {
                    let key = if not_principal && deny && princ != json!("*") {
                        "NotPrincipal"
                    } else {
                        "Principal"
                    };
                    m.insert(key.into(), princ);
                }
                if let Some(c) = cond {
                    m.insert("Condition".into(), c);
                }
                Value::Object(m)
            },
        )
}

fn policy_doc(with_principal: bool) -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(statement(with_principal), 1..4)
}

#[derive(Debug, Clone)]
struct Docs {
    identity: Vec<Vec<Value>>,
    resource: Option<Vec<Value>>,
    boundary: Option<Vec<Value>>,
    session: Option<Vec<Value>>,
    scps: Vec<Vec<Value>>,
    rcps: Vec<Vec<Value>>,
    vpce: Vec<Vec<Value>>,
    rpb: bool,
}

fn docs() -> impl Strategy<Value = Docs> {
    (
        prop::collection::vec(policy_doc(false), 0..3),
        prop::option::of(policy_doc(true)),
        prop::option::weighted(0.3, policy_doc(false)),
        prop::option::weighted(0.2, policy_doc(false)),
        prop::collection::vec(policy_doc(false), 0..2),
        prop::collection::vec(policy_doc(true), 0..2),
        prop::collection::vec(policy_doc(true), 0..2),
        any::<bool>(),
    )
        .prop_map(
            |(identity, resource, boundary, session, scps, rcps, vpce, rpb)| Docs {
                identity,
                resource,
                boundary,
                session,
                scps,
                rcps,
                vpce,
                rpb,
            },
        )
}

fn request() -> impl Strategy<Value = Request> {
    (
        prop::sample::select(principals()),
        prop::sample::select(ACTIONS.to_vec()),
        prop::sample::select(RESOURCES.to_vec()),
        prop::sample::select(vec![Some(ACCT_A), Some(ACCT_C), None]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|((p, pa), a, r, ra, tls, ip, user)| {
            let mut ctx = Context::new();
            ctx.insert("aws:SecureTransport", if tls { "true" } else { "false" });
            if ip {
                ctx.insert("aws:SourceIp", "203.0.113.7");
            }
            if user {
                ctx.insert("aws:username", "alice");
            }
            ctx.insert("aws:TagKeys", vec!["a"]);
            Request {
                principal: p.to_string(),
                principal_account: pa.map(str::to_string),
                action: a.to_string(),
                resource: r.to_string(),
                resource_account: ra.map(str::to_string),
                context: ctx,
            }
        })
}

fn doc(stmts: &[Value]) -> Value {
    json!({"Version": "2012-10-17", "Statement": stmts})
}

fn parse(name: &str, stmts: &[Value]) -> Policy {
    Policy::from_value(name, &doc(stmts)).expect("generated policies are valid")
}

/// Owns the parsed policies so that a `PolicySet` can borrow them.
struct Parsed {
    identity: Vec<Policy>,
    resource: Option<Policy>,
    boundary: Option<Policy>,
    session: Option<Policy>,
    scps: Vec<OrgLevel>,
    rcps: Vec<OrgLevel>,
    vpce: Vec<Policy>,
    rpb: bool,
}

impl Parsed {
    fn new(d: &Docs) -> Parsed {
        Parsed {
            identity: d.identity.iter().map(|s| parse("id", s)).collect(),
            resource: d.resource.as_ref().map(|s| parse("res", s)),
            boundary: d.boundary.as_ref().map(|s| parse("pb", s)),
            session: d.session.as_ref().map(|s| parse("sp", s)),
            scps: d
                .scps
                .iter()
                .map(|s| OrgLevel {
                    target: "lvl".into(),
                    policies: vec![parse("scp", s)],
                })
                .collect(),
            rcps: d
                .rcps
                .iter()
                .map(|s| OrgLevel {
                    target: "lvl".into(),
                    policies: vec![parse("rcp", s)],
                })
                .collect(),
            vpce: d.vpce.iter().map(|s| parse("vpce", s)).collect(),
            rpb: d.rpb,
        }
    }

    fn set(&self) -> PolicySet<'_> {
        PolicySet {
            identity: &self.identity,
            resource: self.resource.as_ref(),
            permission_boundary: self.boundary.as_ref(),
            session: self.session.as_ref(),
            scps: &self.scps,
            rcps: &self.rcps,
            vpc_endpoint: &self.vpce,
            restrict_public_buckets: self.rpb,
            federated_by: None,
        }
    }
}

fn decide(d: &Docs, r: &Request) -> Decision {
    evaluate(r, &Parsed::new(d).set()).decision
}

fn permute(stmts: &[Value], k: usize) -> Vec<Value> {
    let mut v: Vec<Value> = stmts.iter().rev().cloned().collect();
    if !v.is_empty() {
        let n = v.len();
        v.rotate_left(k % n);
    }
    v
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("Version".to_string()),
        Just("Statement".to_string()),
        Just("Effect".to_string()),
        Just("Action".to_string()),
        Just("NotAction".to_string()),
        Just("Resource".to_string()),
        Just("NotResource".to_string()),
        Just("Principal".to_string()),
        Just("NotPrincipal".to_string()),
        Just("Condition".to_string()),
        Just("AWS".to_string()),
        Just("StringLike".to_string()),
        Just("ForAnyValue:StringNotEqualsIfExists".to_string()),
        Just("DateLessThan".to_string()),
        Just("IpAddress".to_string()),
        Just("aws:SourceIp".to_string()),
        "[a-zA-Z:*?${}]{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("Allow".to_string()),
            Just("Deny".to_string()),
            Just("2012-10-17".to_string()),
            Just("*".to_string()),
            Just("s3:Get*".to_string()),
            Just("arn:aws:s3:::b/${aws:username, 'x''y'}".to_string()),
            Just("${*}${?}${$}${".to_string()),
            Just("10.0.0.0/8".to_string()),
            Just("2020-01-01T00:00:00Z".to_string()),
            ".{0,16}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Adding a Deny statement anywhere can only leave the decision alone or make it ExplicitDeny.
    #[test]
    fn adding_a_deny_never_allows(d in docs(), r in request(), extra in statement(true), slot in 0usize..4) {
        let before = decide(&d, &r);
        let mut extra = extra;
        extra["Effect"] = json!("Deny");
        let mut d2 = d.clone();
        match slot {
            0 => {
                // Identity policies carry no principal element.
                let mut e = extra.clone();
                if let Some(m) = e.as_object_mut() {
                    m.remove("Principal");
                    m.remove("NotPrincipal");
                }
                d2.identity.push(vec![e]);
            }
            1 => d2.resource.get_or_insert_with(Vec::new).push(extra),
            // Appended to an existing endpoint policy: a new endpoint policy holding only a Deny
            // would (rightly) block by lacking an Allow, which is not what this property is about.
            2 => match d2.vpce.first_mut() {
                Some(p) => p.push(extra),
                None => d2.resource.get_or_insert_with(Vec::new).push(extra),
            },
            _ => d2.rcps.push(vec![extra]),
        }
        let after = decide(&d2, &r);
        prop_assert!(after == before || after == Decision::ExplicitDeny,
            "before {before:?}, after {after:?}");
        if before != Decision::Allowed {
            prop_assert_ne!(after, Decision::Allowed);
        }
    }

    /// A Deny that matches everything, in the resource policy, denies every caller.
    #[test]
    fn matching_deny_always_wins(d in docs(), r in request()) {
        let mut d2 = d.clone();
        d2.resource.get_or_insert_with(Vec::new).push(
            json!({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}));
        prop_assert_eq!(decide(&d2, &r), Decision::ExplicitDeny);
    }

    /// An Allow whose NotAction covers the action never allows it.
    #[test]
    fn not_action_never_matches_its_action(action in "[a-z0-9]{1,8}:[A-Za-z0-9]{1,12}", upper in any::<bool>(), star in any::<bool>()) {
        let listed = if star {
            // A wildcard form that covers the action.
            format!("{}:*", action.split(':').next().unwrap_or("x"))
        } else if upper { action.to_uppercase() } else { action.clone() };
        let p = Policy::from_value("id", &json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "NotAction": listed, "Resource": "*"}]})).expect("valid");
        let r = Request { principal: "arn:aws:iam::111122223333:user/alice".into(),
            principal_account: Some(ACCT_A.into()), action, resource: "*".into(),
            resource_account: Some(ACCT_A.into()), context: Context::new() };
        let set = PolicySet { identity: std::slice::from_ref(&p), ..PolicySet::default() };
        prop_assert_eq!(evaluate(&r, &set).decision, Decision::ImplicitDeny);
    }

    /// Action "*" covers every action, on any resource.
    #[test]
    fn star_action_matches_everything(action in "[a-z0-9-]{1,10}:[A-Za-z0-9*?]{0,16}", resource in "arn:aws:[a-z0-9]{1,6}:[a-z0-9-]{0,10}:[0-9]{0,12}:[ -~]{0,20}") {
        let p = Policy::from_value("id", &json!({"Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"}]})).expect("valid");
        let r = Request { principal: "arn:aws:iam::111122223333:user/alice".into(),
            principal_account: Some(ACCT_A.into()), action, resource,
            resource_account: Some(ACCT_A.into()), context: Context::new() };
        let set = PolicySet { identity: std::slice::from_ref(&p), ..PolicySet::default() };
        prop_assert_eq!(evaluate(&r, &set).decision, Decision::Allowed);
    }

    /// Statement order (and the order of identity policies) does not change the decision.
    #[test]
    fn statement_order_is_irrelevant(d in docs(), r in request(), k in 0usize..5) {
        let before = decide(&d, &r);
        let mut d2 = d.clone();
        d2.identity = d.identity.iter().rev().map(|s| permute(s, k)).collect();
        d2.resource = d.resource.as_ref().map(|s| permute(s, k));
        d2.boundary = d.boundary.as_ref().map(|s| permute(s, k + 1));
        d2.session = d.session.as_ref().map(|s| permute(s, k + 2));
        d2.scps = d.scps.iter().map(|s| permute(s, k)).collect();
        d2.rcps = d.rcps.iter().map(|s| permute(s, k)).collect();
        d2.vpce = d.vpce.iter().map(|s| permute(s, k)).collect();
        prop_assert_eq!(decide(&d2, &r), before);
    }

    /// Parsing never panics, whatever the JSON value; the text path agrees with the value path.
    #[test]
    fn parse_never_panics(v in arbitrary_json()) {
        let a = Policy::from_value("p", &v);
        let b = Policy::parse("p", &v.to_string());
        prop_assert_eq!(a.is_ok(), b.is_ok());
        if let Err(e) = a {
            prop_assert!(e.path.starts_with('$'));
        }
    }

    /// The fuzz target's body, on arbitrary text and on policy-shaped JSON.
    #[test]
    fn fuzz_body_holds_on_text(s in ".{0,200}") {
        prop_assert_eq!(fuzzing::policy_eval(s.as_bytes()), Ok(()));
    }

    #[test]
    fn fuzz_body_holds_on_policies(d in docs()) {
        for stmts in d.identity.iter().chain(d.resource.iter()).chain(d.rcps.iter()) {
            let text = doc(stmts).to_string();
            prop_assert_eq!(fuzzing::policy_eval(text.as_bytes()), Ok(()));
        }
    }

    #[test]
    fn fuzz_body_holds_on_arbitrary_json(v in arbitrary_json()) {
        let wrapped = json!({"Version": "2012-10-17", "Statement": [v]}).to_string();
        prop_assert_eq!(fuzzing::policy_eval(wrapped.as_bytes()), Ok(()));
    }
}

/// A byte-mutation loop over the vector policies: the fuzz target's body on stable Rust.
/// Ignored by default; run it for longer with
/// `POLICY_FUZZ_SECS=300 cargo test --release --test it -- --ignored policy_props::mutation_fuzz_loop --nocapture`.
#[test]
#[ignore]
fn mutation_fuzz_loop() {
    use std::time::{Duration, Instant};
    let secs: u64 = std::env::var("POLICY_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("vectors").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("readable");
        let cases: Vec<Value> = serde_json::from_str(&text).expect("array");
        for c in cases {
            for key in ["resource_policy", "permission_boundary", "session_policy"] {
                if c[key].is_object() {
                    seeds.push(c[key].to_string().into_bytes());
                }
            }
            for p in c["identity_policies"].as_array().into_iter().flatten() {
                seeds.push(p.to_string().into_bytes());
            }
        }
    }
    assert!(!seeds.is_empty());
    const DICT: &[&[u8]] = &[
        b"\"*\"",
        b"${",
        b"}",
        b"${*}",
        b"', '",
        b":",
        b"[",
        b"]",
        b"{",
        b",",
        b"\"Allow\"",
        b"\"Deny\"",
        b"\"NotPrincipal\"",
        b"\"NotAction\"",
        b"\"Condition\"",
        b"IfExists",
        b"ForAllValues:",
        b"ForAnyValue:",
        b"\"Null\"",
        b"0.0.0.0/0",
        b"::/0",
        b"\\u0000",
        b"\"2012-10-17\"",
        b"arn:aws:iam::111122223333:root",
        b"?",
        b"null",
        b"1e400",
    ];
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut execs, mut parsed) = (0u64, 0u64);
    while Instant::now() < deadline {
        let mut data = seeds[(next() as usize) % seeds.len()].clone();
        for _ in 0..=(next() % 4) {
            let len = data.len().max(1);
            let at = (next() as usize) % len;
            match next() % 5 {
                0 if !data.is_empty() => {
                    let i = at.min(data.len() - 1);
                    data[i] ^= 1 << (next() % 8);
                }
                1 => {
                    let tok = DICT[(next() as usize) % DICT.len()];
                    let at = at.min(data.len());
                    data.splice(at..at, tok.iter().copied());
                }
                2 if !data.is_empty() => {
                    let end = (at + 1 + (next() as usize) % 16).min(data.len());
                    data.drain(at.min(end)..end);
                }
                3 => {
                    let other = &seeds[(next() as usize) % seeds.len()];
                    let from = (next() as usize) % other.len().max(1);
                    let at = at.min(data.len());
                    data.splice(at..at, other[from..].iter().take(64).copied());
                }
                _ => {
                    let at = at.min(data.len());
                    let chunk: Vec<u8> = data[at..].iter().take(32).copied().collect();
                    data.splice(at..at, chunk);
                }
            }
        }
        if Policy::parse("f", &String::from_utf8_lossy(&data)).is_ok() {
            parsed += 1;
        }
        if let Err(e) = fuzzing::policy_eval(&data) {
            panic!(
                "invariant broken on input {:?}: {e}",
                String::from_utf8_lossy(&data)
            );
        }
        execs += 1;
    }
    eprintln!("mutation fuzz: {execs} inputs in {secs}s, {parsed} parsed as policies, no failure");
}
