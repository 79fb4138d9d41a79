//! Every canary check, offline: at least one failing and one passing situation each, asserting
//! status and message, plus the stopped (SIGINT / --deadline) and unreadable situations. The
//! observations are hand-made; the spec and plan are the seed's (`checks/seed.toml`).

use super::*;
use crate::canary::observation::*;
use crate::canary::plan::{Action, Plan, PlannedObject, Purpose, Target};
use crate::canary::s3ops::{CallError, HeadInfo};
use crate::spec::LoadedSpec;

const SRC_KEY: &str =
    "arn:aws:kms:ap-southeast-1:111122223333:key/6f1e3c2a-0b7d-4e8f-9a51-2c3d4e5f6a7b";
const REPLICA_KEY: &str =
    "arn:aws:kms:ap-southeast-2:271089868719:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

/// No alias described: the seed names every key by key ARN.
static NO_ALIASES: crate::access::kms::Described = std::collections::BTreeMap::new();

fn seed_text() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/seed.toml"),
    )
    .expect("seed spec")
}

fn seed() -> LoadedSpec {
    crate::spec::parse(std::path::Path::new("seed.toml"), &seed_text()).expect("seed parses")
}

/// The seed with a second destination for the incident reports (same account and region as
/// the first), for the several-destinations situations.
fn two_destinations() -> LoadedSpec {
    let text = seed_text()
        .replace(
            "# Scenario D: application logs",
            "[buckets.destination2]\nname = \"clint-backup-bucket\"\naccount = \"abcd\"\nregion = \"ap-southeast-2\"\nversioning = true\nblock_public_access = true\nobject_ownership = \"BucketOwnerEnforced\"\n\n# Scenario D: application logs",
        )
        .replace(
            "[[replication]]\nid = \"app-logs\"",
            "[[replication.rules]]\nid = \"reports-to-backup\"\npriority = 2\nprefix = \"reports/\"\ndestination = \"destination2\"\ndelete_marker_replication = true\nowner_override = true\nsse_kms_encrypted_objects = true\nreplica_kms_key_arn = \"arn:aws:kms:ap-southeast-2:271089868719:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\"\n\n[[replication]]\nid = \"app-logs\"",
        );
    crate::spec::parse(std::path::Path::new("two.toml"), &text).expect("variant parses")
}

fn judge(spec: &Spec) -> Judge<'_> {
    Judge {
        spec,
        keys: &NO_ALIASES,
        run_id: "RUN",
        timeout: Duration::from_secs(20),
        observe: Duration::from_secs(1),
    }
}

fn plan_of(spec: &Spec) -> Plan {
    plan::build(spec, "RUN")
}

fn object(p: &Plan, purpose: fn(&Purpose) -> bool) -> &PlannedObject {
    p.objects
        .iter()
        .find(|o| purpose(&o.purpose))
        .expect("planned object")
}

/// The incident-reports rule canary (written as the uploader, read by tom and clint).
fn reports(p: &Plan) -> &PlannedObject {
    &p.objects[0]
}

fn service_error(call: &str, code: &str, http: u16) -> CallError {
    CallError {
        call: call.into(),
        code: Some(code.into()),
        message: code.into(),
        http_status: Some(http),
        service: true,
        uncertain: http >= 500,
        source: None,
    }
}

fn timeout_error(call: &str) -> CallError {
    CallError {
        call: call.into(),
        code: None,
        message: "operation timed out".into(),
        http_status: None,
        service: false,
        uncertain: true,
        source: None,
    }
}

fn written() -> Written {
    Written {
        version_id: "v1".into(),
        sse: Some("aws:kms".into()),
        kms_key_id: Some(SRC_KEY.into()),
        source: Some(HeadInfo {
            version_id: Some("v1".into()),
            last_modified: Some(1_700_000_000.0),
            replication_status: Some("PENDING".into()),
            sse: Some("aws:kms".into()),
            kms_key_id: Some(SRC_KEY.into()),
            etag: Some("\"e\"".into()),
        }),
    }
}

fn replica_head() -> HeadInfo {
    HeadInfo {
        version_id: Some("v1".into()),
        last_modified: Some(1_700_000_000.0),
        replication_status: Some("REPLICA".into()),
        sse: Some("aws:kms".into()),
        kms_key_id: Some(REPLICA_KEY.into()),
        etag: Some("\"e\"".into()),
    }
}

fn found(o: &PlannedObject, i: usize, latency: f64, head: HeadInfo) -> ReplicaObs {
    ReplicaObs {
        expected: o.expected[i].clone(),
        seen: Seen::Found {
            latency,
            lower: latency / 2.0,
            version_id: "v1".into(),
            head: Ok(head),
        },
        polls: 3,
    }
}

fn with_seen(o: &PlannedObject, i: usize, seen: Seen) -> ReplicaObs {
    ReplicaObs {
        expected: o.expected[i].clone(),
        seen,
        polls: 4,
    }
}

fn obs(replicas: Vec<ReplicaObs>, status: Option<&str>) -> ReplicationObs {
    ReplicationObs {
        replicas,
        waiting_status: status.map(str::to_string),
        status_read: true,
        final_status: Ok(status.map(str::to_string)),
        settle_stopped: None,
    }
}

fn check(f: &Finding, id: &str, status: Status, needle: &str) {
    assert_eq!(f.id, id, "{f:#?}");
    assert_eq!(f.status, status, "{}: {}", f.id, f.message);
    assert!(
        f.message.contains(needle),
        "{}: message {:?} lacks {needle:?}",
        f.id,
        f.message
    );
}

// ------------------------------------------------------------------ canary-write

#[test]
fn write_passes_when_written_and_fails_when_denied() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let f = j.write(o, &WriteObs::Written(written()));
    check(
        &f,
        "canary-write",
        Status::Pass,
        "wrote the canary as principal 'l2-engineer' (version v1, aws:kms)",
    );
    let f = j.write(
        o,
        &WriteObs::Failed(service_error("s3:PutObject", "AccessDenied", 403)),
    );
    check(
        &f,
        "canary-write",
        Status::Fail,
        "could not write the canary: s3:PutObject: AccessDenied",
    );
    let f = j.write(o, &WriteObs::Failed(timeout_error("s3:PutObject")));
    check(&f, "canary-write", Status::Error, "operation timed out");
    let f = j.write(
        o,
        &WriteObs::Exists(service_error("s3:PutObject", "PreconditionFailed", 412)),
    );
    check(&f, "canary-write", Status::Error, "already exists");
}

#[test]
fn write_stopped_is_an_error_naming_the_stop() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let f = j.write(reports(&p), &WriteObs::Stopped(Interrupt::Sigint));
    check(
        &f,
        "canary-write",
        Status::Error,
        "interrupted by SIGINT before the canary was written",
    );
    let (fs, samples) = j.unwritten(reports(&p), &WriteObs::Stopped(Interrupt::Deadline));
    assert!(!fs.is_empty());
    for f in &fs {
        assert_eq!(f.status, Status::Error, "{}: {}", f.id, f.message);
        assert!(f.message.contains("stopped at --deadline"), "{}", f.message);
    }
    assert!(samples
        .iter()
        .all(|s| s.stopped == Some(Interrupt::Deadline)));
    // A write that failed: its dependants are skipped, naming the cause (the write fails).
    let (fs, _) = j.unwritten(
        reports(&p),
        &WriteObs::Failed(service_error("s3:PutObject", "AccessDenied", 403)),
    );
    for f in fs.iter().filter(|f| f.id != "canary-uploaders") {
        assert_eq!(f.status, Status::Skip, "{}: {}", f.id, f.message);
        assert!(f.message.contains("not written"), "{}", f.message);
    }
}

// ------------------------------------------------------------------ canary-replication-latency

#[test]
fn latency_passes_within_the_window_and_fails_past_it() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let w = written();
    let r = found(o, 0, 2.5, replica_head());
    let (f, s) = j.latency(o, &w, &obs(vec![r.clone()], Some("COMPLETED")), &r);
    check(
        &f,
        "canary-replication-latency",
        Status::Pass,
        "replica in s3://clint-s3-bucket after 2.50 s (not there at 1.25 s)",
    );
    assert_eq!(f.duration_secs, Some(2.5));
    assert_eq!(
        s,
        Sample {
            secs: Some(2.5),
            pass: true,
            stopped: None
        }
    );
    let late = found(o, 0, 1000.0, replica_head());
    let (f, s) = j.latency(o, &w, &obs(vec![late.clone()], Some("COMPLETED")), &late);
    check(
        &f,
        "canary-replication-latency",
        Status::Fail,
        "past the 15-minute RTC window",
    );
    assert!(!s.pass);
    let missing = with_seen(
        o,
        0,
        Seen::Missing {
            waited: 20.0,
            source_failed: false,
        },
    );
    let (f, _) = j.latency(
        o,
        &w,
        &obs(vec![missing.clone()], Some("PENDING")),
        &missing,
    );
    check(&f, "canary-replication-latency", Status::Fail, "no replica in s3://clint-s3-bucket within 20 s (--canary-timeout); source replication status PENDING");
}

/// Issue 9 item 11: replicas keep the source's creation time, so LastModified is evidence of
/// that, never a latency figure.
#[test]
fn latency_does_not_use_the_last_modified_delta() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let r = found(o, 0, 2.5, replica_head());
    let (f, _) = j.latency(o, &written(), &obs(vec![r.clone()], Some("COMPLETED")), &r);
    assert!(!f.message.contains("LastModified"), "{}", f.message);
    assert!(
        f.evidence.get("last_modified_delta_secs").is_none(),
        "{}",
        f.evidence
    );
    assert_eq!(f.evidence["replica_keeps_source_last_modified"], true);
    let mut newer = replica_head();
    newer.last_modified = Some(1_700_000_003.0);
    let r = found(o, 0, 2.5, newer);
    let (f, _) = j.latency(o, &written(), &obs(vec![r.clone()], Some("COMPLETED")), &r);
    assert_eq!(
        f.status,
        Status::Pass,
        "the latency verdict does not depend on it"
    );
    assert_eq!(f.evidence["replica_keeps_source_last_modified"], false);
}

#[test]
fn latency_stopped_or_unreadable_is_an_error() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let stopped = with_seen(
        o,
        0,
        Seen::Stopped {
            interrupt: Interrupt::Sigint,
            waited: 3.0,
        },
    );
    let (f, s) = j.latency(
        o,
        &written(),
        &obs(vec![stopped.clone()], Some("PENDING")),
        &stopped,
    );
    check(
        &f,
        "canary-replication-latency",
        Status::Error,
        "interrupted by SIGINT after 3.00 s, before a replica was seen",
    );
    assert_eq!(s.stopped, Some(Interrupt::Sigint));
    let deadline = with_seen(
        o,
        0,
        Seen::Stopped {
            interrupt: Interrupt::Deadline,
            waited: 15.0,
        },
    );
    let (f, _) = j.latency(
        o,
        &written(),
        &obs(vec![deadline.clone()], Some("PENDING")),
        &deadline,
    );
    check(
        &f,
        "canary-replication-latency",
        Status::Error,
        "stopped at --deadline",
    );
    let unreadable = with_seen(
        o,
        0,
        Seen::Error(service_error("s3:ListObjectVersions", "AccessDenied", 403)),
    );
    let (f, _) = j.latency(
        o,
        &written(),
        &obs(vec![unreadable.clone()], None),
        &unreadable,
    );
    check(
        &f,
        "canary-replication-latency",
        Status::Error,
        "cannot read s3://clint-s3-bucket: s3:ListObjectVersions: AccessDenied",
    );
}

/// Issue 9 item 10: with several destinations, FAILED is blamed only where the replica is
/// missing; the destination that has its replica passes.
#[test]
fn a_failed_status_is_attributed_only_to_the_destination_without_its_replica() {
    let spec = two_destinations();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    assert_eq!(o.expected.len(), 2, "{:?}", o.expected);
    let good = found(o, 0, 2.0, replica_head());
    let bad = with_seen(
        o,
        1,
        Seen::Missing {
            waited: 2.1,
            source_failed: true,
        },
    );
    let all = obs(vec![good.clone(), bad.clone()], Some("FAILED"));
    let (f, _) = j.latency(o, &written(), &all, &good);
    check(
        &f,
        "canary-replication-latency",
        Status::Pass,
        "replica in s3://clint-s3-bucket after 2.00 s",
    );
    let (f, _) = j.latency(o, &written(), &all, &bad);
    check(
        &f,
        "canary-replication-latency",
        Status::Fail,
        "FAILED (it covers every destination) and no replica is in s3://clint-backup-bucket",
    );
    let f = j.status(o, &all);
    check(&f, "canary-replication-status", Status::Fail, "FAILED");
    assert!(
        f.message
            .contains("no replica in s3://clint-backup-bucket; replicated to s3://clint-s3-bucket"),
        "{}",
        f.message
    );
    let f = j.encryption(o, &written(), &good);
    check(
        &f,
        "canary-replica-encryption",
        Status::Pass,
        "replica is SSE-KMS",
    );
}

// ------------------------------------------------------------------ canary-replication-status

#[test]
fn status_passes_on_completed_and_fails_on_failed_pending_or_absent() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let r = found(o, 0, 1.0, replica_head());
    check(
        &j.status(o, &obs(vec![r.clone()], Some("COMPLETED"))),
        "canary-replication-status",
        Status::Pass,
        "COMPLETED; replica REPLICA",
    );
    let missing = with_seen(
        o,
        0,
        Seen::Missing {
            waited: 1.0,
            source_failed: true,
        },
    );
    let f = j.status(o, &obs(vec![missing], Some("FAILED")));
    check(
        &f,
        "canary-replication-status",
        Status::Fail,
        "replication status FAILED for s3://rubes-s3-bucket/reports/replaudit-canary/RUN/0",
    );
    let pending = with_seen(
        o,
        0,
        Seen::Missing {
            waited: 20.0,
            source_failed: false,
        },
    );
    check(
        &j.status(o, &obs(vec![pending.clone()], Some("PENDING"))),
        "canary-replication-status",
        Status::Fail,
        "still PENDING",
    );
    check(
        &j.status(o, &obs(vec![pending], None)),
        "canary-replication-status",
        Status::Fail,
        "no enabled replication rule matched it",
    );
    let mut not_replica = replica_head();
    not_replica.replication_status = None;
    let r = found(o, 0, 1.0, not_replica);
    check(
        &j.status(o, &obs(vec![r], Some("COMPLETED"))),
        "canary-replication-status",
        Status::Fail,
        "reports no status",
    );
}

#[test]
fn status_stopped_or_unread_is_an_error() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let stopped = with_seen(
        o,
        0,
        Seen::Stopped {
            interrupt: Interrupt::Sigterm,
            waited: 1.0,
        },
    );
    check(
        &j.status(o, &obs(vec![stopped], Some("PENDING"))),
        "canary-replication-status",
        Status::Error,
        "interrupted by SIGTERM",
    );
    let r = found(o, 0, 1.0, replica_head());
    let mut settling = obs(vec![r.clone()], Some("PENDING"));
    settling.settle_stopped = Some(Interrupt::Deadline);
    check(
        &j.status(o, &settling),
        "canary-replication-status",
        Status::Error,
        "stopped at --deadline before the replication status left PENDING",
    );
    let mut unread = obs(vec![r], None);
    unread.final_status = Err(service_error("s3:HeadObject", "Forbidden", 403));
    check(
        &j.status(o, &unread),
        "canary-replication-status",
        Status::Error,
        "cannot read the source status",
    );
}

// ------------------------------------------------------------------ canary-replica-encryption

#[test]
fn encryption_passes_under_the_replica_key_and_fails_under_another() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let f = j.encryption(o, &written(), &found(o, 0, 1.0, replica_head()));
    check(
        &f,
        "canary-replica-encryption",
        Status::Pass,
        &format!("replica is SSE-KMS under {REPLICA_KEY}"),
    );
    assert_eq!(f.scenario, Scenario::ScenarioA);
    let mut wrong = replica_head();
    wrong.kms_key_id = Some(
        "arn:aws:kms:ap-southeast-2:271089868719:key/00000000-0000-4000-8000-00000000dead".into(),
    );
    let f = j.encryption(o, &written(), &found(o, 0, 1.0, wrong));
    check(&f, "canary-replica-encryption", Status::Fail, "replica is SSE-KMS under arn:aws:kms:ap-southeast-2:271089868719:key/00000000-0000-4000-8000-00000000dead, expected");
    let mut plain = replica_head();
    plain.sse = None;
    let f = j.encryption(o, &written(), &found(o, 0, 1.0, plain));
    check(
        &f,
        "canary-replica-encryption",
        Status::Fail,
        "replica is unencrypted, expected SSE-KMS",
    );
}

const REPLICA_ALIAS: &str = "arn:aws:kms:ap-southeast-2:271089868719:alias/abcd-replicas";

/// The seed with the reports rule's replica key named by alias ARN (ReplicaKmsKeyID is a "Key
/// ARN or Alias ARN", <https://docs.aws.amazon.com/AmazonS3/latest/API/API_EncryptionConfiguration.html>).
fn replica_key_by_alias() -> LoadedSpec {
    let text = seed_text().replacen(
        &format!("replica_kms_key_arn = \"{REPLICA_KEY}\""),
        &format!("replica_kms_key_arn = \"{REPLICA_ALIAS}\""),
        1,
    );
    assert!(text.contains(REPLICA_ALIAS));
    crate::spec::parse(std::path::Path::new("alias.toml"), &text).expect("variant parses")
}

/// DescribeKey's answer for the alias: the key it names, or the failure.
fn alias_resolves_to(target: Result<&str, &str>) -> crate::access::kms::Described {
    use crate::snapshot::{Fetched, KmsKeyMetadata};
    let f = match target {
        Ok(arn) => Fetched::ok(KmsKeyMetadata {
            key_id: arn.rsplit('/').next().unwrap().into(),
            arn: arn.into(),
            enabled: true,
            key_state: Some("Enabled".into()),
            key_manager: Some("CUSTOMER".into()),
            key_spec: Some("SYMMETRIC_DEFAULT".into()),
            key_usage: Some("ENCRYPT_DECRYPT".into()),
        }),
        Err(code) => Fetched::unknown("kms:DescribeKey", Some(code.into()), "denied"),
    };
    [(REPLICA_ALIAS.to_string(), f)].into()
}

#[test]
fn a_replica_key_named_by_alias_arn_is_compared_by_the_key_it_resolves_to() {
    let spec = replica_key_by_alias();
    let p = plan_of(&spec);
    let o = reports(&p);
    // The alias names the replica's key: pass (the key ARN S3 reports is not the alias text).
    let keys = alias_resolves_to(Ok(REPLICA_KEY));
    let j = Judge {
        keys: &keys,
        ..judge(&spec)
    };
    let f = j.encryption(o, &written(), &found(o, 0, 1.0, replica_head()));
    check(
        &f,
        "canary-replica-encryption",
        Status::Pass,
        &format!("replica is SSE-KMS under {REPLICA_ALIAS} (key {REPLICA_KEY})"),
    );
    assert_eq!(f.evidence["expected_key_arn"], REPLICA_KEY);
    // The alias names another key: fail.
    let other = "arn:aws:kms:ap-southeast-2:271089868719:key/00000000-0000-4000-8000-00000000dead";
    let keys = alias_resolves_to(Ok(other));
    let j = Judge {
        keys: &keys,
        ..judge(&spec)
    };
    let f = j.encryption(o, &written(), &found(o, 0, 1.0, replica_head()));
    check(
        &f,
        "canary-replica-encryption",
        Status::Fail,
        &format!("expected {REPLICA_ALIAS} (key {other})"),
    );
    // The alias could not be resolved: an error naming why, never a pass nor a fail.
    let keys = alias_resolves_to(Err("AccessDeniedException"));
    let j = Judge {
        keys: &keys,
        ..judge(&spec)
    };
    let f = j.encryption(o, &written(), &found(o, 0, 1.0, replica_head()));
    check(
        &f,
        "canary-replica-encryption",
        Status::Error,
        "could not be resolved to a key",
    );
    // Not described at all: the same.
    let f = judge(&spec).encryption(o, &written(), &found(o, 0, 1.0, replica_head()));
    check(
        &f,
        "canary-replica-encryption",
        Status::Error,
        "was not collected",
    );
}

/// S3 replicates SSE-KMS objects only for a rule that opts them in (SseKmsEncryptedObjects):
/// a replica of one under a rule that does not is not S3's doing.
#[test]
fn an_sse_kms_source_under_a_rule_that_does_not_opt_it_in_has_no_replica() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let logs = object(&p, |x| {
        matches!(x, Purpose::Replicated { replication: 1, .. })
    });
    let f = j.encryption(logs, &written(), &found(logs, 0, 1.0, replica_head()));
    check(
        &f,
        "canary-replica-encryption",
        Status::Fail,
        "does not opt SSE-KMS objects in",
    );
    // An SSE-S3 source under the rule that names a replica key: SSE-S3 is right.
    let o = reports(&p);
    let w = Written {
        sse: Some("AES256".into()),
        kms_key_id: None,
        source: None,
        ..written()
    };
    let aes = HeadInfo {
        sse: Some("AES256".into()),
        kms_key_id: None,
        ..replica_head()
    };
    check(
        &j.encryption(o, &w, &found(o, 0, 1.0, aes)),
        "canary-replica-encryption",
        Status::Pass,
        "replica is SSE-S3",
    );
}

#[test]
fn encryption_not_measured_without_a_replica() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let missing = with_seen(
        o,
        0,
        Seen::Missing {
            waited: 20.0,
            source_failed: false,
        },
    );
    check(
        &j.encryption(o, &written(), &missing),
        "canary-replica-encryption",
        Status::Skip,
        "no replica was seen in s3://clint-s3-bucket",
    );
    let stopped = with_seen(
        o,
        0,
        Seen::Stopped {
            interrupt: Interrupt::Sigint,
            waited: 1.0,
        },
    );
    check(
        &j.encryption(o, &written(), &stopped),
        "canary-replica-encryption",
        Status::Error,
        "interrupted by SIGINT",
    );
    let unreadable = ReplicaObs {
        seen: Seen::Found {
            latency: 1.0,
            lower: 0.0,
            version_id: "v1".into(),
            head: Err(service_error("s3:HeadObject", "Forbidden", 403)),
        },
        ..found(o, 0, 1.0, replica_head())
    };
    check(
        &j.encryption(o, &written(), &unreadable),
        "canary-replica-encryption",
        Status::Error,
        "listed but cannot be read",
    );
}

// ------------------------------------------------------------------ canary-access

fn access_obs(
    o: &PlannedObject,
    principal: &str,
    action: Action,
    outcome: AccessOutcome,
) -> AccessObs {
    let check = o
        .access
        .iter()
        .find(|c| c.principal == principal && c.action == action && c.target == Target::Source)
        .expect("planned access check")
        .clone();
    AccessObs { check, outcome }
}

#[test]
fn access_passes_for_the_right_answers_and_fails_for_the_wrong_ones() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let read = |ok| {
        AccessOutcome::Tried(Tried::Succeeded {
            ok,
            detail: if ok {
                "read the canary's exact bytes".into()
            } else {
                "read different bytes than the canary wrote".into()
            },
        })
    };
    let denied = || {
        AccessOutcome::Tried(Tried::Failed(service_error(
            "s3:GetObject",
            "AccessDenied",
            403,
        )))
    };
    check(
        &j.access(o, &access_obs(o, "tom", Action::GetObject, read(true))),
        "canary-access",
        Status::Pass,
        "tom (s3:GetObject): allowed, read the canary's exact bytes",
    );
    check(
        &j.access(o, &access_obs(o, "tom", Action::GetObject, denied())),
        "canary-access",
        Status::Fail,
        "tom (s3:GetObject): expected access, got s3:GetObject: AccessDenied",
    );
    check(
        &j.access(o, &access_obs(o, "tom", Action::GetObject, read(false))),
        "canary-access",
        Status::Fail,
        "read different bytes",
    );
    check(
        &j.access(o, &access_obs(o, "clint", Action::GetObject, denied())),
        "canary-access",
        Status::Pass,
        "clint (s3:GetObject): AccessDenied, as expected",
    );
    check(
        &j.access(o, &access_obs(o, "clint", Action::GetObject, read(true))),
        "canary-access",
        Status::Fail,
        "expected AccessDenied but the call succeeded",
    );
    check(
        &j.access(
            o,
            &access_obs(
                o,
                "clint",
                Action::ListBucket,
                AccessOutcome::Tried(Tried::Failed(timeout_error("s3:ListObjectsV2"))),
            ),
        ),
        "canary-access",
        Status::Error,
        "expected AccessDenied, got s3:ListObjectsV2",
    );
}

#[test]
fn access_not_tried_is_never_a_pass() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    check(
        &j.access(
            o,
            &access_obs(
                o,
                "tom",
                Action::GetObject,
                AccessOutcome::Stopped(Interrupt::Deadline),
            ),
        ),
        "canary-access",
        Status::Error,
        "stopped at --deadline before the access check",
    );
    check(
        &j.access(
            o,
            &access_obs(
                o,
                "tom",
                Action::GetObject,
                AccessOutcome::NoClient("principal 'tom' cannot be used: expired".into()),
            ),
        ),
        "canary-access",
        Status::Error,
        "expired",
    );
    let replica = o
        .access
        .iter()
        .find(|c| matches!(c.target, Target::Replica(_)))
        .expect("replica check")
        .clone();
    check(
        &j.access(
            o,
            &AccessObs {
                check: replica,
                outcome: AccessOutcome::NoReplica,
            },
        ),
        "canary-access",
        Status::Skip,
        "no replica appeared in s3://clint-s3-bucket",
    );
}

// ------------------------------------------------------------------ canary-uploaders

#[test]
fn uploaders_pass_when_the_upload_replicates_and_fail_otherwise() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let w = WriteObs::Written(written());
    let ok = found(o, 0, 1.0, replica_head());
    check(
        &j.uploader(o, "l2-engineer", &w, &[ok]),
        "canary-uploaders",
        Status::Pass,
        "uploader 'l2-engineer' wrote into the replicated prefix and the object replicated",
    );
    let missing = with_seen(
        o,
        0,
        Seen::Missing {
            waited: 20.0,
            source_failed: false,
        },
    );
    check(
        &j.uploader(o, "l2-engineer", &w, &[missing]),
        "canary-uploaders",
        Status::Fail,
        "did not replicate to s3://clint-s3-bucket",
    );
    check(
        &j.uploader(
            o,
            "l2-engineer",
            &WriteObs::Failed(service_error("s3:PutObject", "AccessDenied", 403)),
            &[],
        ),
        "canary-uploaders",
        Status::Fail,
        "uploader 'l2-engineer' was denied writing",
    );
    let stopped = with_seen(
        o,
        0,
        Seen::Stopped {
            interrupt: Interrupt::Sigint,
            waited: 1.0,
        },
    );
    check(
        &j.uploader(o, "l2-engineer", &w, &[stopped]),
        "canary-uploaders",
        Status::Error,
        "interrupted by SIGINT before it replicated",
    );
    check(
        &j.uploader(
            o,
            "l2-engineer",
            &WriteObs::Stopped(Interrupt::Deadline),
            &[],
        ),
        "canary-uploaders",
        Status::Error,
        "stopped at --deadline before the upload",
    );
}

#[test]
fn non_uploaders_pass_when_denied_and_fail_when_they_can_write() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = object(&p, |x| matches!(x, Purpose::NonUploader { .. }));
    check(
        &j.non_uploader(
            o,
            "xyz-intern",
            &WriteObs::Failed(service_error("s3:PutObject", "AccessDenied", 403)),
        ),
        "canary-uploaders",
        Status::Pass,
        "non-uploader 'xyz-intern' got AccessDenied",
    );
    check(
        &j.non_uploader(o, "xyz-intern", &WriteObs::Written(written())),
        "canary-uploaders",
        Status::Fail,
        "non-uploader 'xyz-intern' could write into the replicated prefix (version v1)",
    );
    check(
        &j.non_uploader(o, "xyz-intern", &WriteObs::Stopped(Interrupt::Sigterm)),
        "canary-uploaders",
        Status::Error,
        "interrupted by SIGTERM",
    );
}

// ------------------------------------------------------------------ canary-prefix-filter

#[test]
fn prefix_filter_passes_when_nothing_arrives_and_fails_when_something_does() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = object(&p, |x| matches!(x, Purpose::Unreplicated { .. }));
    let w = WriteObs::Written(written());
    let quiet = UnreplicatedObs {
        polls: 3,
        ..Default::default()
    };
    check(
        &j.prefix_filter(o, &w, Some(&quiet)),
        "canary-prefix-filter",
        Status::Pass,
        "not replicated within the 1.0 s observation window",
    );
    let leaked = UnreplicatedObs {
        polls: 2,
        appeared: vec![("destination".into(), 0.8)],
        ..Default::default()
    };
    check(
        &j.prefix_filter(o, &w, Some(&leaked)),
        "canary-prefix-filter",
        Status::Fail,
        "was replicated: s3://clint-s3-bucket after 0.80 s",
    );
    let matched = UnreplicatedObs {
        polls: 3,
        source_status: Some("PENDING".into()),
        ..Default::default()
    };
    check(
        &j.prefix_filter(o, &w, Some(&matched)),
        "canary-prefix-filter",
        Status::Fail,
        "its replication status is PENDING",
    );
}

#[test]
fn prefix_filter_cut_short_or_unreadable_is_an_error() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = object(&p, |x| matches!(x, Purpose::Unreplicated { .. }));
    let w = WriteObs::Written(written());
    let stopped = UnreplicatedObs {
        polls: 1,
        stopped: Some(Interrupt::Sigint),
        ..Default::default()
    };
    check(
        &j.prefix_filter(o, &w, Some(&stopped)),
        "canary-prefix-filter",
        Status::Error,
        "interrupted by SIGINT during the 1.0 s observation window",
    );
    let denied = || service_error("s3:ListObjectVersions", "AccessDenied", 403);
    let blind = UnreplicatedObs {
        polls: 2,
        errors: vec![
            ("destination".into(), denied()),
            ("destination".into(), denied()),
        ],
        ..Default::default()
    };
    check(
        &j.prefix_filter(o, &w, Some(&blind)),
        "canary-prefix-filter",
        Status::Error,
        "cannot read the destination: s3://clint-s3-bucket (s3:ListObjectVersions: AccessDenied",
    );
    let once = UnreplicatedObs {
        polls: 2,
        errors: vec![("destination".into(), denied())],
        ..Default::default()
    };
    check(
        &j.prefix_filter(o, &w, Some(&once)),
        "canary-prefix-filter",
        Status::Pass,
        "not replicated",
    );
    check(
        &j.prefix_filter(o, &w, Some(&UnreplicatedObs::default())),
        "canary-prefix-filter",
        Status::Error,
        "never read",
    );
    check(
        &j.prefix_filter(o, &WriteObs::Stopped(Interrupt::Deadline), None),
        "canary-prefix-filter",
        Status::Error,
        "stopped at --deadline",
    );
}

// ------------------------------------------------------------------ canary-delete-marker

fn marker_obs(o: &PlannedObject, seen: MarkerSeen) -> DeleteMarkerObs {
    DeleteMarkerObs {
        create: MarkerCreate::Created("dm1".into()),
        waits: vec![MarkerObs {
            expected: o.expected[0].clone(),
            seen,
            polls: 2,
        }],
    }
}

#[test]
fn delete_markers_pass_as_the_rule_says_and_fail_otherwise() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    // The incident rule replicates delete markers; the logs rule does not.
    let o = reports(&p);
    let r = [found(o, 0, 1.0, replica_head())];
    let seen = MarkerSeen::Seen {
        version_id: "dm1".into(),
        after: 0.7,
    };
    let f = &j.delete_markers(o, &r, Some(&marker_obs(o, seen.clone())))[0];
    check(
        f,
        "canary-delete-marker",
        Status::Pass,
        "delete marker replicated to s3://clint-s3-bucket after 0.70 s, as expected",
    );
    let f = &j.delete_markers(o, &r, Some(&marker_obs(o, MarkerSeen::NotSeen)))[0];
    check(f, "canary-delete-marker", Status::Fail, "no delete marker in s3://clint-s3-bucket within 20 s (--canary-timeout); the spec expects delete markers to replicate");
    let logs = object(&p, |x| {
        matches!(x, Purpose::Replicated { replication: 1, .. })
    });
    let r = [found(logs, 0, 1.0, replica_head())];
    let f = &j.delete_markers(logs, &r, Some(&marker_obs(logs, MarkerSeen::NotSeen)))[0];
    check(f, "canary-delete-marker", Status::Pass, "no delete marker in s3://xyz-app-logs-backup within the 1.0 s observation window, as expected");
    let f = &j.delete_markers(logs, &r, Some(&marker_obs(logs, seen)))[0];
    check(
        f,
        "canary-delete-marker",
        Status::Fail,
        "the spec expects delete markers not to replicate",
    );
}

#[test]
fn delete_markers_not_measured_are_never_a_pass() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let r = [found(o, 0, 1.0, replica_head())];
    let f = &j.delete_markers(
        o,
        &r,
        Some(&marker_obs(o, MarkerSeen::Stopped(Interrupt::Sigint))),
    )[0];
    check(
        f,
        "canary-delete-marker",
        Status::Error,
        "interrupted by SIGINT while waiting for the delete marker",
    );
    let stopped_first = DeleteMarkerObs {
        create: MarkerCreate::Stopped(Interrupt::Deadline),
        waits: vec![],
    };
    let f = &j.delete_markers(o, &r, Some(&stopped_first))[0];
    check(
        f,
        "canary-delete-marker",
        Status::Error,
        "stopped at --deadline before the delete-marker test",
    );
    let failed = DeleteMarkerObs {
        create: MarkerCreate::Failed(service_error("s3:DeleteObject", "AccessDenied", 403)),
        waits: vec![],
    };
    let f = &j.delete_markers(o, &r, Some(&failed))[0];
    check(
        f,
        "canary-delete-marker",
        Status::Error,
        "cannot delete the canary to create a delete marker",
    );
    let missing = [with_seen(
        o,
        0,
        Seen::Missing {
            waited: 20.0,
            source_failed: false,
        },
    )];
    let f = &j.delete_markers(o, &missing, None)[0];
    check(
        f,
        "canary-delete-marker",
        Status::Skip,
        "no replica appeared in s3://clint-s3-bucket",
    );
    let stopped = [with_seen(
        o,
        0,
        Seen::Stopped {
            interrupt: Interrupt::Sigint,
            waited: 1.0,
        },
    )];
    let f = &j.delete_markers(o, &stopped, None)[0];
    check(
        f,
        "canary-delete-marker",
        Status::Error,
        "interrupted by SIGINT",
    );
}

// ------------------------------------------------------------------ latency summary

#[test]
fn latency_summary_passes_fails_and_errors() {
    let spec = seed();
    let j = judge(&spec);
    let ok = |s| Sample {
        secs: Some(s),
        pass: true,
        stopped: None,
    };
    let f = j
        .latency_summary(&[ok(1.0), ok(3.0), ok(2.0)])
        .expect("summary");
    check(
        &f,
        "canary-replication-latency",
        Status::Pass,
        "3 canaries replicated: min 1.00 s, median 2.00 s, max 3.00 s",
    );
    assert_eq!(f.resource, "all canaries");
    let lost = Sample {
        secs: None,
        pass: false,
        stopped: None,
    };
    let f = j.latency_summary(&[ok(1.0), lost]).expect("summary");
    check(
        &f,
        "canary-replication-latency",
        Status::Fail,
        "1 of 2 canaries did not replicate within 20 s",
    );
    let stopped = Sample {
        secs: None,
        pass: false,
        stopped: Some(Interrupt::Deadline),
    };
    let f = j.latency_summary(&[ok(1.0), stopped]).expect("summary");
    check(
        &f,
        "canary-replication-latency",
        Status::Error,
        "stopped at --deadline before every canary replicated (1 of 2 seen)",
    );
    assert!(j.latency_summary(&[]).is_none());
}

// ------------------------------------------------------------------ canary-cleanup

fn version(bucket: &str, key: &str, v: &str) -> VersionRef {
    VersionRef {
        bucket: bucket.into(),
        key: key.into(),
        version_id: v.into(),
        delete_marker: false,
    }
}

#[test]
fn cleanup_passes_when_nothing_is_left_and_fails_when_something_is() {
    let spec = seed();
    let j = judge(&spec);
    let k = "reports/replaudit-canary/RUN/0";
    let clean = Cleaned {
        deleted: vec![version("source", k, "v1"), version("destination", k, "v1")],
        ..Default::default()
    };
    check(
        &j.cleanup(&clean, "checks/seed.toml"),
        "canary-cleanup",
        Status::Pass,
        "deleted 2 canary version(s) (1 in sources, 1 in destinations); 0 left behind",
    );
    let left = Cleaned {
        left: vec![version("destination", k, "v1")],
        ..clean.clone()
    };
    check(
        &j.cleanup(&left, "checks/seed.toml"),
        "canary-cleanup",
        Status::Fail,
        "1 canary version(s) left behind after deleting 2; run `replaudit canary cleanup --spec checks/seed.toml --run-id RUN`",
    );
    let unverified = Cleaned {
        listing_errors: vec![service_error("s3:ListObjectVersions", "SlowDown", 503)],
        ..clean
    };
    check(
        &j.cleanup(&unverified, "s.toml"),
        "canary-cleanup",
        Status::Error,
        "cleanup could not be verified: s3:ListObjectVersions: SlowDown",
    );
}

#[test]
fn cleanup_cut_short_names_what_may_be_left() {
    let spec = seed();
    let j = judge(&spec);
    let k = "reports/replaudit-canary/RUN/0";
    let aborted = Cleaned {
        deleted: vec![version("source", k, "v1")],
        aborted: Some(Interrupt::Sigint),
        may_be_left: vec![version("destination", k, "v1")],
        ..Default::default()
    };
    let f = j.cleanup(&aborted, "checks/seed.toml");
    check(&f, "canary-cleanup", Status::Error, "cleanup interrupted by SIGINT after deleting 1 version(s); 1 recorded version(s) may be left (s3://clint-s3-bucket/reports/replaudit-canary/RUN/0 v1)");
    assert!(
        f.message
            .contains("replaudit canary cleanup --spec checks/seed.toml --run-id RUN"),
        "{}",
        f.message
    );
}

// ------------------------------------------------------------------ canary-log-export

#[test]
fn log_export_passes_when_the_task_writes_and_fails_when_refused() {
    let spec = seed();
    let j = judge(&spec);
    let done = ExportObs::Completed {
        task_id: "t1".into(),
        objects: vec!["exports/replaudit-canary/RUN/u/s/000000.gz".into()],
        limit_waited: 0.0,
    };
    let f = j.log_export(&done).expect("scenario D");
    check(
        &f,
        "canary-log-export",
        Status::Pass,
        "export task t1 wrote 1 object(s) under s3://xyz-app-logs/exports/replaudit-canary/RUN",
    );
    let empty = ExportObs::Completed {
        task_id: "t1".into(),
        objects: vec![],
        limit_waited: 0.0,
    };
    check(
        &j.log_export(&empty).unwrap(),
        "canary-log-export",
        Status::Fail,
        "completed but wrote nothing",
    );
    let refused = ExportObs::Refused {
        error: service_error("logs:CreateExportTask", "InvalidParameterException", 400),
        waited: 0.0,
    };
    check(
        &j.log_export(&refused).unwrap(),
        "canary-log-export",
        Status::Fail,
        "CloudWatch Logs cannot export /xyz/incident-app",
    );
    check(
        &j.log_export(&ExportObs::Ended {
            task_id: "t1".into(),
            status: "FAILED".into(),
        })
        .unwrap(),
        "canary-log-export",
        Status::Fail,
        "export task t1 ended FAILED",
    );
}

/// Issue 9 item 7: one active export task per account is a reason to wait, and when it lasts
/// past the timeout an `error` naming it, never a `fail` of the set-up.
#[test]
fn log_export_blocked_by_another_task_is_an_error_and_a_wait_is_reported() {
    let spec = seed();
    let j = judge(&spec);
    let blocked = ExportObs::LimitPersisted {
        error: service_error("logs:CreateExportTask", "LimitExceededException", 400),
        attempts: 7,
        waited: 20.0,
        active: vec!["abc (nightly)".into()],
    };
    let f = j.log_export(&blocked).unwrap();
    check(&f, "canary-log-export", Status::Error, "another CloudWatch Logs export task of the account stayed active for 20 s (7 CreateExportTask attempts, LimitExceededException)");
    assert!(
        f.message.contains("(active: abc (nightly))"),
        "{}",
        f.message
    );
    let waited = ExportObs::Completed {
        task_id: "t1".into(),
        objects: vec!["k".into()],
        limit_waited: 4.0,
    };
    check(
        &j.log_export(&waited).unwrap(),
        "canary-log-export",
        Status::Pass,
        "after waiting 4.0 s for another export task",
    );
    let throttled = ExportObs::Refused {
        error: service_error("logs:CreateExportTask", "ThrottlingException", 400),
        waited: 0.0,
    };
    check(
        &j.log_export(&throttled).unwrap(),
        "canary-log-export",
        Status::Error,
        "did not export",
    );
    check(
        &j.log_export(&ExportObs::TimedOut {
            task_id: "t1".into(),
            status: "RUNNING".into(),
            waited: 20.0,
        })
        .unwrap(),
        "canary-log-export",
        Status::Error,
        "still RUNNING after 20 s",
    );
    check(
        &j.log_export(&ExportObs::Stopped {
            task_id: Some("t1".into()),
            interrupt: Interrupt::Sigint,
        })
        .unwrap(),
        "canary-log-export",
        Status::Error,
        "interrupted by SIGINT while export task t1 was running",
    );
    check(
        &j.log_export(&ExportObs::NoLogGroup).unwrap(),
        "canary-log-export",
        Status::Skip,
        "names no log group",
    );
}

// ------------------------------------------------------------------ canary-log-replication

#[test]
fn log_replication_passes_when_every_export_arrives_and_fails_when_one_does_not() {
    let spec = seed();
    let j = judge(&spec);
    let all = LogReplicationObs {
        arrived: vec![("k1".into(), 1.5, Some("REPLICA".into()))],
        ..Default::default()
    };
    let f = j.log_replication(&all).expect("scenario D");
    check(
        &f,
        "canary-log-replication",
        Status::Pass,
        "1 exported object(s) replicated to xyz-app-logs-backup within 1.5 s of the export",
    );
    assert_eq!(f.duration_secs, Some(1.5));
    let lost = LogReplicationObs {
        arrived: vec![("k1".into(), 1.5, None)],
        missing: vec!["k2".into()],
        ..Default::default()
    };
    check(
        &j.log_replication(&lost).unwrap(),
        "canary-log-replication",
        Status::Fail,
        "1 of 2 exported object(s) did not reach xyz-app-logs-backup within 20 s",
    );
    let stopped = LogReplicationObs {
        missing: vec!["k2".into()],
        stopped: Some(Interrupt::Sigterm),
        ..Default::default()
    };
    check(
        &j.log_replication(&stopped).unwrap(),
        "canary-log-replication",
        Status::Error,
        "interrupted by SIGTERM before the exported logs replicated (0 of 1 arrived)",
    );
    let blind = LogReplicationObs {
        missing: vec!["k2".into()],
        error: Some(service_error("s3:ListObjectVersions", "AccessDenied", 403)),
        ..Default::default()
    };
    check(
        &j.log_replication(&blind).unwrap(),
        "canary-log-replication",
        Status::Error,
        "cannot check the backup bucket",
    );
}

#[test]
fn no_scenario_d_no_log_findings() {
    let text = seed_text();
    let cut = text.find("[scenario_d]").expect("scenario_d");
    let end = text
        .find(
            "# ---------------------------------------------------------------- AWS's own evidence",
        )
        .expect("evidence");
    let spec = crate::spec::parse(
        std::path::Path::new("t.toml"),
        &format!("{}{}", &text[..cut], &text[end..]),
    )
    .expect("parses");
    let j = judge(&spec);
    assert!(j.log_export(&ExportObs::NoClient).is_none());
    assert!(j.log_replication(&LogReplicationObs::default()).is_none());
}

// ------------------------------------------------------------------ edges (found by mutation)

/// A destination that could never be read is not "not replicated", even when another was.
#[test]
fn prefix_filter_needs_every_destination_read() {
    let spec = two_destinations();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = object(&p, |x| matches!(x, Purpose::Unreplicated { .. }));
    assert_eq!(o.forbidden.len(), 2, "{:?}", o.forbidden);
    let denied = || service_error("s3:ListObjectVersions", "AccessDenied", 403);
    let half = UnreplicatedObs {
        polls: 2,
        errors: vec![
            ("destination2".into(), denied()),
            ("destination2".into(), denied()),
        ],
        ..Default::default()
    };
    let f = j.prefix_filter(o, &WriteObs::Written(written()), Some(&half));
    check(
        &f,
        "canary-prefix-filter",
        Status::Error,
        "cannot read the destination: s3://clint-backup-bucket (",
    );
    assert!(!f.message.contains("clint-s3-bucket"), "{}", f.message);
}

/// The RTC window is 15 minutes: a 10-minute replica is within it; a timeout of the window
/// itself is named as such.
#[test]
fn the_rtc_window_is_fifteen_minutes() {
    assert_eq!(RTC_WINDOW, Duration::from_secs(900));
    let spec = seed();
    let p = plan_of(&spec);
    let mut j = judge(&spec);
    let o = reports(&p);
    let r = found(o, 0, 600.0, replica_head());
    let (f, _) = j.latency(o, &written(), &obs(vec![r.clone()], Some("COMPLETED")), &r);
    check(
        &f,
        "canary-replication-latency",
        Status::Pass,
        "after 600.00 s",
    );
    j.timeout = RTC_WINDOW;
    let missing = with_seen(
        o,
        0,
        Seen::Missing {
            waited: 900.0,
            source_failed: false,
        },
    );
    let (f, _) = j.latency(o, &written(), &obs(vec![missing.clone()], None), &missing);
    check(
        &f,
        "canary-replication-latency",
        Status::Fail,
        "within 900 s (the RTC window); source replication status absent",
    );
}

#[test]
fn a_single_destination_failed_message_names_only_the_object() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let missing = with_seen(
        o,
        0,
        Seen::Missing {
            waited: 1.0,
            source_failed: true,
        },
    );
    let f = j.status(o, &obs(vec![missing], Some("FAILED")));
    assert_eq!(
        f.message,
        "replication status FAILED for s3://rubes-s3-bucket/reports/replaudit-canary/RUN/0"
    );
    let two = two_destinations();
    let p2 = plan_of(&two);
    let j2 = judge(&two);
    let o2 = reports(&p2);
    let both = obs(
        vec![
            found(o2, 0, 1.0, replica_head()),
            found(o2, 1, 1.0, replica_head()),
        ],
        Some("FAILED"),
    );
    check(
        &j2.status(o2, &both),
        "canary-replication-status",
        Status::Fail,
        "every replica was seen: s3://clint-s3-bucket, s3://clint-backup-bucket",
    );
    let mut unread = found(o2, 1, 1.0, replica_head());
    unread.seen = Seen::Found {
        latency: 1.0,
        lower: 0.0,
        version_id: "v1".into(),
        head: Err(service_error("s3:HeadObject", "Forbidden", 403)),
    };
    let f = j2.status(
        o2,
        &obs(
            vec![found(o2, 0, 1.0, replica_head()), unread],
            Some("COMPLETED"),
        ),
    );
    check(
        &f,
        "canary-replication-status",
        Status::Error,
        "replica in s3://clint-backup-bucket unreadable",
    );
    let pending = obs(
        vec![
            found(o2, 0, 1.0, replica_head()),
            with_seen(
                o2,
                1,
                Seen::Missing {
                    waited: 20.0,
                    source_failed: false,
                },
            ),
        ],
        Some("PENDING"),
    );
    check(&j2.status(o2, &pending), "canary-replication-status", Status::Fail, "still PENDING for s3://rubes-s3-bucket/reports/replaudit-canary/RUN/0 after 20 s (--canary-timeout); no replica in s3://clint-backup-bucket");
}

/// The logs canary is SSE-S3 and not scenario A: its replica must stay SSE-S3.
#[test]
fn sse_s3_replicas_stay_sse_s3() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let logs = object(&p, |x| {
        matches!(x, Purpose::Replicated { replication: 1, .. })
    });
    let w = Written {
        sse: Some("AES256".into()),
        kms_key_id: None,
        ..written()
    };
    let aes = HeadInfo {
        sse: Some("AES256".into()),
        kms_key_id: None,
        ..replica_head()
    };
    let f = j.encryption(logs, &w, &found(logs, 0, 1.0, aes));
    check(
        &f,
        "canary-replica-encryption",
        Status::Pass,
        "replica is SSE-S3",
    );
    assert_eq!(f.message, "replica is SSE-S3");
    assert_eq!(f.scenario, Scenario::ScenarioD);
    assert_eq!(
        f.evidence["basis"],
        "SSE-S3 source objects replicate as SSE-S3 (the destination's default encryption is not used)"
    );
    let f = j.encryption(logs, &w, &found(logs, 0, 1.0, replica_head()));
    check(
        &f,
        "canary-replica-encryption",
        Status::Fail,
        "replica is SSE-KMS, expected SSE-S3",
    );
    // An SSE-KMS source: the rule's replica key, whatever the destination's default.
    let o = reports(&p);
    let f = j.encryption(o, &written(), &found(o, 0, 1.0, replica_head()));
    assert_eq!(
        f.evidence["basis"],
        "SSE-KMS and DSSE-KMS source objects are re-encrypted with the rule's replica KMS key, keeping their encryption type"
    );
    // An unencrypted source: the destination's default.
    let plain = Written {
        sse: None,
        kms_key_id: None,
        source: None,
        ..written()
    };
    let f = j.encryption(o, &plain, &found(o, 0, 1.0, replica_head()));
    check(&f, "canary-replica-encryption", Status::Pass, "SSE-KMS");
    assert_eq!(
        f.evidence["basis"],
        "unencrypted source objects get the destination's default encryption"
    );
    let f = j.encryption(logs, &plain, &found(logs, 0, 1.0, replica_head()));
    check(
        &f,
        "canary-replica-encryption",
        Status::Fail,
        "replica is SSE-KMS, expected SSE-S3",
    );
}

#[test]
fn uploader_and_non_uploader_errors_are_not_verdicts() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    check(
        &j.uploader(
            o,
            "l2-engineer",
            &WriteObs::Failed(timeout_error("s3:PutObject")),
            &[],
        ),
        "canary-uploaders",
        Status::Error,
        "uploader 'l2-engineer' could not write: s3:PutObject",
    );
    check(
        &j.uploader(
            o,
            "l2-engineer",
            &WriteObs::Failed(service_error("s3:PutObject", "InvalidRequest", 400)),
            &[],
        ),
        "canary-uploaders",
        Status::Fail,
        "could not write",
    );
    let n = object(&p, |x| matches!(x, Purpose::NonUploader { .. }));
    check(
        &j.non_uploader(
            n,
            "xyz-intern",
            &WriteObs::Failed(timeout_error("s3:PutObject")),
        ),
        "canary-uploaders",
        Status::Error,
        "expected AccessDenied, got s3:PutObject",
    );
}

#[test]
fn unwritten_rule_canary_names_every_check_it_stops() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let (fs, samples) = j.unwritten(
        o,
        &WriteObs::NotTried("principal 'l2-engineer' cannot be used".into()),
    );
    let ids: Vec<&str> = fs.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "canary-replication-latency",
            "canary-replica-encryption",
            "canary-delete-marker",
            "canary-replication-status",
            "canary-access",
            "canary-access",
            "canary-access",
            "canary-access",
            "canary-access",
            "canary-uploaders",
        ]
    );
    assert_eq!(
        samples,
        vec![Sample {
            secs: None,
            pass: false,
            stopped: None
        }]
    );
    let up = fs.last().unwrap();
    check(up, "canary-uploaders", Status::Error, "cannot be used");
}

#[test]
fn cleanup_counts_sources_and_pre_existing_versions() {
    let spec = seed();
    let j = judge(&spec);
    let k = "reports/replaudit-canary/RUN/0";
    let c = Cleaned {
        deleted: vec![
            version("source", k, "v1"),
            version("logs", "exports/replaudit-canary/RUN/1", "v2"),
            version("destination", k, "v1"),
        ],
        ..Default::default()
    };
    assert_eq!(
        j.cleanup(&c, "s.toml").message,
        "deleted 3 canary version(s) (2 in sources, 1 in destinations); 0 left behind"
    );
    let c = Cleaned {
        foreign_untouched: 2,
        ..c
    };
    assert_eq!(
        j.cleanup(&c, "s.toml").message,
        "deleted 3 canary version(s) (2 in sources, 1 in destinations); 0 left behind; 2 pre-existing version(s) under the run prefix left untouched"
    );
    let failed = Cleaned {
        failed: vec![(
            version("destination", k, "v1"),
            service_error("s3:DeleteObject (version)", "AccessDenied", 403),
        )],
        ..Default::default()
    };
    check(
        &j.cleanup(&failed, "s.toml"),
        "canary-cleanup",
        Status::Error,
        "cleanup could not be verified: s3:DeleteObject (version): AccessDenied",
    );
}

#[test]
fn latency_summary_median_of_even_and_larger_samples() {
    let spec = seed();
    let j = judge(&spec);
    let ok = |s| Sample {
        secs: Some(s),
        pass: true,
        stopped: None,
    };
    let f = j
        .latency_summary(&[ok(4.0), ok(1.0), ok(3.0), ok(2.0)])
        .unwrap();
    check(
        &f,
        "canary-replication-latency",
        Status::Pass,
        "min 1.00 s, median 2.50 s, max 4.00 s",
    );
    let f = j
        .latency_summary(&[ok(5.0), ok(1.0), ok(4.0), ok(2.0), ok(3.0)])
        .unwrap();
    check(
        &f,
        "canary-replication-latency",
        Status::Pass,
        "min 1.00 s, median 3.00 s, max 5.00 s",
    );
    assert_eq!(f.evidence["median_secs"], 3.0);
    assert_eq!(f.duration_secs, Some(5.0));
    let stopped = Sample {
        secs: None,
        pass: false,
        stopped: Some(Interrupt::Sigint),
    };
    let lost = Sample {
        secs: None,
        pass: false,
        stopped: None,
    };
    let f = j.latency_summary(&[stopped, lost]).unwrap();
    check(
        &f,
        "canary-replication-latency",
        Status::Fail,
        "1 of 2 canaries did not replicate",
    );
}

#[test]
fn log_export_transient_and_plain_messages() {
    let spec = seed();
    let j = judge(&spec);
    let done = ExportObs::Completed {
        task_id: "t1".into(),
        objects: vec!["k".into()],
        limit_waited: 0.0,
    };
    let f = j.log_export(&done).unwrap();
    assert_eq!(
        f.message,
        "export task t1 wrote 1 object(s) under s3://xyz-app-logs/exports/replaudit-canary/RUN"
    );
    assert_eq!(f.evidence["log_stream"], "replaudit-canary-RUN");
    assert_eq!(f.evidence["log_group"], "/xyz/incident-app");
    for error in [
        timeout_error("logs:CreateExportTask"),
        service_error("logs:CreateExportTask", "InternalError", 500),
    ] {
        let f = j
            .log_export(&ExportObs::Refused { error, waited: 0.0 })
            .unwrap();
        check(
            &f,
            "canary-log-export",
            Status::Error,
            "CloudWatch Logs did not export",
        );
    }
    let f = j
        .log_export(&ExportObs::LimitPersisted {
            error: service_error("logs:CreateExportTask", "LimitExceededException", 400),
            attempts: 2,
            waited: 3.0,
            active: vec![],
        })
        .unwrap();
    assert!(!f.message.contains("(active:"), "{}", f.message);
    check(
        &j.log_export(&ExportObs::StreamFailed(service_error(
            "logs:CreateLogStream",
            "ResourceNotFoundException",
            400,
        )))
        .unwrap(),
        "canary-log-export",
        Status::Error,
        "cannot create the canary log stream in /xyz/incident-app",
    );
    check(
        &j.log_export(&ExportObs::FollowFailed {
            task_id: "t1".into(),
            error: timeout_error("logs:DescribeExportTasks"),
        })
        .unwrap(),
        "canary-log-export",
        Status::Error,
        "cannot follow export task t1",
    );
    check(
        &j.log_export(&ExportObs::ListFailed {
            task_id: "t1".into(),
            error: timeout_error("s3:ListObjectVersions"),
        })
        .unwrap(),
        "canary-log-export",
        Status::Error,
        "its objects cannot be listed",
    );
    check(
        &j.log_export(&ExportObs::Stopped {
            task_id: None,
            interrupt: Interrupt::Deadline,
        })
        .unwrap(),
        "canary-log-export",
        Status::Error,
        "stopped at --deadline before the export task was created",
    );
    let nothing = LogReplicationObs::default();
    check(
        &j.log_replication(&nothing).unwrap(),
        "canary-log-replication",
        Status::Skip,
        "the export wrote nothing",
    );
    let no_client = LogReplicationObs {
        no_client: Some("no client for the backup bucket".into()),
        missing: vec!["k".into()],
        ..Default::default()
    };
    check(
        &j.log_replication(&no_client).unwrap(),
        "canary-log-replication",
        Status::Error,
        "no client for the backup bucket",
    );
    let lost = LogReplicationObs {
        missing: vec!["k".into()],
        ..Default::default()
    };
    let f = j.log_replication(&lost).unwrap();
    assert_eq!(f.duration_secs, None);
    assert_eq!(f.evidence["backup_bucket"], "xyz-app-logs-backup");
}

// ------------------------------------------------------------------ partitions

/// The scenario-D findings name their bucket by ARN in the partition of the bucket's Region
/// (`arn:aws-cn:s3:::…` in China), not always `arn:aws`.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-arn-format.html>
#[test]
fn log_findings_name_buckets_in_their_partition() {
    let text = seed_text()
        .replace(
            "name = \"xyz-app-logs\"\naccount = \"xyz\"\nregion = \"ap-southeast-1\"",
            "name = \"xyz-app-logs\"\naccount = \"xyz\"\nregion = \"cn-north-1\"",
        )
        .replace(
            "name = \"xyz-app-logs-backup\"\naccount = \"xyz\"\nregion = \"ap-southeast-2\"",
            "name = \"xyz-app-logs-backup\"\naccount = \"xyz\"\nregion = \"cn-northwest-1\"",
        );
    assert!(text.contains("cn-northwest-1"), "the variant applied");
    let spec = crate::spec::parse(std::path::Path::new("cn.toml"), &text).expect("variant parses");
    let j = judge(&spec);
    let export = j
        .log_export(&ExportObs::Completed {
            task_id: "t1".into(),
            objects: vec!["exports/replaudit-canary/RUN/u/s/000000.gz".into()],
            limit_waited: 0.0,
        })
        .expect("scenario D");
    assert_eq!(export.resource, "arn:aws-cn:s3:::xyz-app-logs");
    let replication = j
        .log_replication(&LogReplicationObs {
            arrived: vec![("k1".into(), 1.5, Some("REPLICA".into()))],
            ..Default::default()
        })
        .expect("scenario D");
    assert_eq!(replication.resource, "arn:aws-cn:s3:::xyz-app-logs-backup");
    // The seed's buckets are in the commercial partition.
    let seed = seed();
    let f = judge(&seed)
        .log_replication(&LogReplicationObs::default())
        .expect("scenario D");
    assert_eq!(f.resource, "arn:aws:s3:::xyz-app-logs-backup");
}

// ------------------------------------------------------------------ names in findings

/// A per-destination finding names the canary object and the destination it went to, and its
/// evidence names the replication rule that sent it (what a reader needs to find the rule).
#[test]
fn per_destination_findings_name_the_object_the_destination_and_the_rule() {
    let spec = seed();
    let p = plan_of(&spec);
    let j = judge(&spec);
    let o = reports(&p);
    let r = found(o, 0, 2.5, replica_head());
    let (f, _) = j.latency(o, &written(), &obs(vec![r.clone()], Some("COMPLETED")), &r);
    assert_eq!(
        f.resource,
        format!("{} -> s3://clint-s3-bucket", j.url(&o.bucket, &o.key))
    );
    assert!(f.resource.starts_with("s3://"), "{}", f.resource);
    assert!(
        f.resource.contains("/replaudit-canary/RUN/"),
        "{}",
        f.resource
    );
    let rule = f.evidence["rule"].as_str().expect("rule in the evidence");
    assert_eq!(
        rule,
        plan::rule_label(&spec, r.expected.replication, r.expected.rule)
    );
    assert!(rule.starts_with("replication '"), "{rule}");
    assert!(!rule.contains('?'), "the seed's rule is found: {rule}");
}
