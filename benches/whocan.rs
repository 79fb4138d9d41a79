//! `who-can` over a generated pair of accounts with 1,000 principals (700 users in groups, 300
//! roles with trust policies that chain), 4 buckets with bucket policies (one with an SSE-KMS key
//! and its key policy) and the 20 actions of the four classes: about 80,000 decisions plus the
//! role-chain search.
//!
//! Two figures:
//! - `whocan/analyze_1000`: `whocan::analyze` in process (criterion);
//! - the whole process, `replaudit who-can --snapshot gen.json --output json`, JSON in and out,
//!   timed once per run (printed; the generated spec and snapshot are left in
//!   `target/whocan-bench/` to repeat it by hand).
//!
//! The set-up is deterministic: a fixed linear congruential sequence picks policies and trusts.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};

use replaudit::access::whocan;
use replaudit::snapshot::*;
use replaudit::spec::{self, Spec};
use std::collections::BTreeMap;

const A: &str = "111111111111";
const B: &str = "222222222222";
const USERS_PER_ACCOUNT: usize = 350;
const ROLES_PER_ACCOUNT: usize = 150;

const SPEC: &str = r#"
version = 1
name = "who-can bench"
[accounts.a]
account_id = "111111111111"
region = "ap-southeast-1"
[accounts.b]
account_id = "222222222222"
region = "ap-southeast-2"
[buckets.a1]
name = "bench-a1"
account = "a"
region = "ap-southeast-1"
default_encryption = "aws:kms"
kms_key_arn = "arn:aws:kms:ap-southeast-1:111111111111:key/0b3f5e2a-1111-4c4c-8d8d-000000000001"
[buckets.a2]
name = "bench-a2"
account = "a"
region = "ap-southeast-1"
[buckets.b1]
name = "bench-b1"
account = "b"
region = "ap-southeast-2"
[buckets.b2]
name = "bench-b2"
account = "b"
region = "ap-southeast-2"
"#;

const KEY: &str =
    "arn:aws:kms:ap-southeast-1:111111111111:key/0b3f5e2a-1111-4c4c-8d8d-000000000001";

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn doc(statements: &[String]) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

/// Managed policies of an account: what real accounts attach most.
fn managed(acct: &str) -> Vec<(String, String)> {
    let arn = |n: &str| format!("arn:aws:iam::{acct}:policy/{n}");
    vec![
        (arn("S3ReadOnly"), doc(&[r#"{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}"#.into()])),
        (arn("DataWriter"), doc(&[r#"{"Effect":"Allow","Action":["s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::bench-a1/uploads/*","arn:aws:s3:::bench-b1/*"]}"#.into()])),
        (arn("AssumeAnything"), doc(&[r#"{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}"#.into()])),
        (arn("NoDeletes"), doc(&[r#"{"Effect":"Deny","Action":["s3:DeleteObject","s3:DeleteObjectVersion"],"Resource":"*"}"#.into()])),
        (arn("Ec2Operator"), doc(&[r#"{"Effect":"Allow","Action":["ec2:*","iam:PassRole"],"Resource":"*","Condition":{"StringEquals":{"iam:PassedToService":"ec2.amazonaws.com"}}}"#.into()])),
        (arn("OfficeOnly"), doc(&[r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}"#.into()])),
        (arn("KmsUser"), doc(&[format!(r#"{{"Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"{KEY}"}}"#)])),
        (arn("Nothing"), doc(&[r#"{"Effect":"Allow","Action":"sns:ListTopics","Resource":"*"}"#.into()])),
        (arn("Admin"), doc(&[r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#.into()])),
        (arn("Boundary"), doc(&[r#"{"Effect":"Allow","Action":["s3:*","sts:AssumeRole","kms:Decrypt"],"Resource":"*"}"#.into()])),
    ]
}

fn account(acct: &str, other: &str, rng: &mut Lcg) -> IamAccount {
    let policies = managed(acct);
    let pick = |rng: &mut Lcg| policies[rng.next(policies.len() - 1)].0.clone();
    let groups: Vec<IamGroup> = (0..5)
        .map(|g| IamGroup {
            arn: format!("arn:aws:iam::{acct}:group/team{g}"),
            name: format!("team{g}"),
            inline_policies: vec![InlinePolicy {
                name: "team".into(),
                document: doc(&[format!(r#"{{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bench-{}{}","Condition":{{"StringLike":{{"s3:prefix":"team{g}/*"}}}}}}"#, if g % 2 == 0 { "a" } else { "b" }, 1 + g % 2)]),
            }],
            attached_policies: vec![policies[g].0.clone()],
        })
        .collect();
    let users: Vec<IamUser> = (0..USERS_PER_ACCOUNT)
        .map(|i| {
            let name = format!("user{i:04}");
            let attached = (0..1 + rng.next(3)).map(|_| pick(rng)).collect();
            IamUser {
                arn: format!("arn:aws:iam::{acct}:user/{name}"),
                inline_policies: if i % 7 == 0 {
                    vec![InlinePolicy {
                        name: "own-prefix".into(),
                        document: doc(&[r#"{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bench-a2/home/${aws:username}/*"}"#.into()]),
                    }]
                } else {
                    vec![]
                },
                name,
                attached_policies: attached,
                groups: vec![format!("team{}", rng.next(5))],
                permissions_boundary: (i % 11 == 0)
                    .then(|| format!("arn:aws:iam::{acct}:policy/Boundary")),
                tags: BTreeMap::from([("team".to_string(), format!("t{}", i % 5))]),
            }
        })
        .collect();
    let roles: Vec<IamRole> = (0..ROLES_PER_ACCOUNT)
        .map(|i| {
            let name = format!("role{i:03}");
            let principal = match i % 6 {
                0 | 1 => format!(r#"{{"AWS":"arn:aws:iam::{acct}:root"}}"#),
                2 | 3 => format!(
                    r#"{{"AWS":["arn:aws:iam::{acct}:user/user{:04}","arn:aws:iam::{acct}:role/role{:03}"]}}"#,
                    rng.next(USERS_PER_ACCOUNT),
                    rng.next(ROLES_PER_ACCOUNT)
                ),
                4 => format!(r#"{{"AWS":"arn:aws:iam::{other}:root"}}"#),
                _ => r#"{"Service":"ec2.amazonaws.com"}"#.to_string(),
            };
            let condition = if i % 9 == 0 {
                r#","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#
            } else {
                ""
            };
            IamRole {
                arn: format!("arn:aws:iam::{acct}:role/{name}"),
                name,
                trust_policy: Some(doc(&[format!(
                    r#"{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"{condition}}}"#
                )])),
                inline_policies: vec![],
                attached_policies: (0..1 + rng.next(2)).map(|_| pick(rng)).collect(),
                permissions_boundary: None,
                tags: BTreeMap::new(),
            }
        })
        .collect();
    IamAccount {
        account_id: acct.into(),
        managed_policies: policies
            .into_iter()
            .map(|(arn, d)| (arn, Fetched::ok(d)))
            .collect(),
        users,
        groups,
        roles,
    }
}

fn bucket(
    alias: &str,
    name: &str,
    account: &str,
    region: &str,
    policy: Option<String>,
) -> BucketState {
    BucketState {
        alias: alias.into(),
        name: name.into(),
        read_as: account.into(),
        owned_by_expected_account: Fetched::ok(true),
        region: Fetched::ok(region.into()),
        versioning: Fetched::ok("Enabled".into()),
        public_access_block: Fetched::ok(PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        }),
        ownership_controls: Fetched::ok("BucketOwnerEnforced".into()),
        policy: match policy {
            Some(p) => Fetched::ok(p),
            None => Fetched::absent("NoSuchBucketPolicy"),
        },
        policy_is_public: Fetched::ok(false),
        encryption: Fetched::absent("none"),
        replication: Fetched::absent("none"),
        tags: Fetched::ok(BTreeMap::new()),
    }
}

fn generate() -> (Spec, Snapshot) {
    let spec = spec::parse(std::path::Path::new("bench.toml"), SPEC)
        .expect("bench spec")
        .spec;
    let mut rng = Lcg(42);
    let mut iam_accounts = BTreeMap::new();
    iam_accounts.insert("a".to_string(), Fetched::ok(account(A, B, &mut rng)));
    iam_accounts.insert("b".to_string(), Fetched::ok(account(B, A, &mut rng)));
    let cross = |bucket: &str, from: &str| {
        doc(&[
            format!(
                r#"{{"Sid":"Partners","Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::{from}:user/user0001","arn:aws:iam::{from}:role/role004","arn:aws:iam::{from}:root"]}},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"]}}"#
            ),
            format!(
                r#"{{"Sid":"Org","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/shared/*","Condition":{{"StringEquals":{{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}}}}"#
            ),
            format!(
                r#"{{"Sid":"OnlyWriters","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::{bucket}/uploads/*","Condition":{{"ArnNotLike":{{"aws:PrincipalArn":"arn:aws:iam::*:user/user00*"}}}}}}"#
            ),
            format!(
                r#"{{"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::{bucket}/*","Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}"#
            ),
        ])
    };
    let buckets = BTreeMap::from([
        ("a1".to_string(), bucket("a1", "bench-a1", "a", "ap-southeast-1", Some(cross("bench-a1", B)))),
        ("a2".to_string(), bucket("a2", "bench-a2", "a", "ap-southeast-1", None)),
        ("b1".to_string(), bucket("b1", "bench-b1", "b", "ap-southeast-2", Some(cross("bench-b1", A)))),
        ("b2".to_string(), bucket("b2", "bench-b2", "b", "ap-southeast-2", Some(doc(&[
            r#"{"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::bench-b2/*","Condition":{"StringEquals":{"aws:SourceAccount":"222222222222"}}}"#.into(),
        ])))),
    ]);
    let kms_keys = BTreeMap::from([(
        KEY.to_string(),
        KmsKeyState {
            arn: KEY.into(),
            read_as: Some("a".into()),
            metadata: Fetched::absent("not described"),
            grants: Fetched::ok(vec![]),
            key_policy: Fetched::ok(doc(&[
                format!(
                    r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:*","Resource":"*"}}"#
                ),
                format!(
                    r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"s3.ap-southeast-1.amazonaws.com"}}}}}}"#
                ),
            ])),
        },
    )]);
    let snap = Snapshot {
        schema_version: SCHEMA_VERSION,
        tool_version: "bench".into(),
        collected_at: chrono::Utc::now(),
        spec_name: spec.name.clone(),
        endpoint_url: None,
        accounts: BTreeMap::new(),
        buckets,
        principals: BTreeMap::new(),
        kms_keys,
        replication_metrics: BTreeMap::new(),
        iam_accounts,
    };
    (spec, snap)
}

fn bench(c: &mut Criterion) {
    let (spec, snap) = generate();
    let w = whocan::analyze(&spec, &snap, &whocan::Options::default());
    let principals = w
        .subjects
        .iter()
        .filter(|s| {
            matches!(
                s.kind,
                whocan::SubjectKind::User | whocan::SubjectKind::Role
            )
        })
        .count();
    println!(
        "who-can: {principals} IAM principals ({} subjects in all), {} buckets, {} actions: {} decisions, {} grants, {} of them through a role chain",
        w.subjects.len(),
        w.buckets.len(),
        whocan::all_actions().len(),
        w.decisions,
        w.grants.len(),
        w.grants.iter().filter(|g| !g.via.is_empty()).count()
    );

    // The whole process, once: JSON snapshot in, JSON table out.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/whocan-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    std::fs::write(dir.join("gen.toml"), SPEC).expect("write spec");
    std::fs::write(
        dir.join("gen.json"),
        serde_json::to_string(&snap).expect("snapshot JSON"),
    )
    .expect("write snapshot");
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_replaudit"))
            .args(["who-can", "--output", "json", "--spec"])
            .arg(dir.join("gen.toml"))
            .arg("--snapshot")
            .arg(dir.join("gen.json"))
            .output()
            .expect("run replaudit who-can");
        let secs = t.elapsed().as_secs_f64();
        assert!(
            out.status.code() == Some(0),
            "who-can failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        best = best.min(secs);
    }
    println!(
        "who-can whole process (replaudit who-can --snapshot, {} MB JSON in): best of 5 {:.3} s",
        std::fs::metadata(dir.join("gen.json")).map_or(0, |m| m.len()) / 1_000_000,
        best
    );

    let mut g = c.benchmark_group("whocan");
    g.sample_size(10);
    g.bench_function("analyze_1000", |b| {
        b.iter(|| black_box(whocan::analyze(&spec, &snap, &whocan::Options::default())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
