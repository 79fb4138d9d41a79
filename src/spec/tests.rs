use super::*;
use std::path::Path;

const SEED: &str = include_str!("../../checks/seed.toml");

fn parse_str(text: &str) -> Result<LoadedSpec, SpecError> {
    parse(Path::new("t.toml"), text)
}

#[test]
fn seed_spec_parses_and_validates() {
    let s = parse_str(SEED).expect("seed spec must be valid");
    assert_eq!(s.accounts.len(), 2);
    assert_eq!(s.bucket_account_id("source"), Some("111122223333"));
    assert_eq!(s.replication.len(), 2);
    assert!(s.scenario_a.is_some() && s.scenario_d.is_some());
    assert!(s.kms_key_arns().iter().any(|k| k.contains("271089868719")));
}

#[test]
fn syntax_error_reports_line_and_column() {
    let e = parse_str("version = 1\nname = \"x\"\n[accounts.a\n").unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    assert!(e.to_string().starts_with("t.toml:3:"), "{e}");
}

#[test]
fn wrong_type_names_expected_type_and_position() {
    let text = SEED.replace("versioning = true\nblock_public_access = true\ndefault_encryption = \"aws:kms\"\nkms_key_arn = \"arn:aws:kms:ap-southeast-1",
        "versioning = \"yes\"\nblock_public_access = true\ndefault_encryption = \"aws:kms\"\nkms_key_arn = \"arn:aws:kms:ap-southeast-1");
    let e = parse_str(&text).unwrap_err();
    let line = SEED
        .lines()
        .position(|l| l.starts_with("versioning = true"))
        .unwrap()
        + 1;
    assert_eq!(e.line, line, "{e}");
    assert!(
        e.message.contains("bool") || e.message.contains("boolean"),
        "{e}"
    );
}

#[test]
fn unknown_field_is_rejected() {
    let text = SEED.replace("exclusive = true", "exclusiv = true");
    let e = parse_str(&text).unwrap_err();
    assert!(e.message.contains("exclusiv"), "{e}");
}

#[test]
fn duplicate_key_is_rejected() {
    let text = SEED.replace(
        "name = \"xyz-to-abcd incident reports\"",
        "name = \"a\"\nname = \"b\"",
    );
    let e = parse_str(&text).unwrap_err();
    assert_eq!(e.line, 12, "{e}");
}

#[test]
fn dangling_reference_points_at_the_reference() {
    let text = SEED.replacen(
        "destination = \"destination\"",
        "destination = \"nowhere\"",
        1,
    );
    let e = parse_str(&text).unwrap_err();
    assert!(e.message.contains("no bucket with alias 'nowhere'"), "{e}");
    let line = text
        .lines()
        .position(|l| l.contains("\"nowhere\""))
        .unwrap()
        + 1;
    assert_eq!(e.line, line);
    assert!(e.column > 1);
}

#[test]
fn bad_account_id_is_rejected() {
    let text = SEED.replace("\"111122223333\"", "\"1111\"");
    let e = parse_str(&text).unwrap_err();
    assert!(e.message.contains("12-digit"), "{e}");
}

/// A partition is `aws` or `aws-<name>` (reference-arns page, via `arn.rs`); a principal ARN
/// whose second field merely starts with "aws" names no partition.
#[test]
fn principal_arn_in_no_partition_is_rejected() {
    let text = SEED.replacen(
        "\"arn:aws:iam::271089868719:user/tom-cruise\"",
        "\"arn:awsx:iam::271089868719:user/tom-cruise\"",
        1,
    );
    let e = parse_str(&text).unwrap_err();
    assert!(e.message.contains("principals.tom.arn"), "{e}");
    for partition in ["aws", "aws-cn", "aws-us-gov"] {
        let arn = format!("arn:{partition}:iam::271089868719:user/tom-cruise");
        assert!(is_iam_principal_arn(&arn), "{arn}");
    }
}

#[test]
fn delete_markers_with_tag_filter_is_rejected() {
    let text = SEED.replacen(
        "prefix = \"reports/\"\n",
        "prefix = \"reports/\"\ntags = { class = \"x\" }\n",
        1,
    );
    let e = parse_str(&text).unwrap_err();
    assert!(e.message.contains("tag filter"), "{e}");
}

#[test]
fn wildcard_access_action_is_rejected() {
    let text = SEED.replacen(
        "allow = [\"s3:ListBucket\", \"s3:GetObject\"]",
        "allow = [\"s3:Get*\"]",
        1,
    );
    let e = parse_str(&text).unwrap_err();
    assert!(e.message.contains("concrete"), "{e}");
}

#[test]
fn both_profile_and_role_is_rejected() {
    let text = SEED.replacen(
        "credentials = { profile = \"xyz-audit\" }",
        "credentials = { profile = \"xyz-audit\", role_arn = \"arn:aws:iam::111122223333:role/a\" }",
        1,
    );
    let e = parse_str(&text).unwrap_err();
    assert!(e.message.contains("either profile or role_arn"), "{e}");
}

#[test]
fn non_utf8_and_huge_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, b"version = 1\nname = \"\xff\xfe\"\n").unwrap();
    let e = load(&p).unwrap_err();
    assert!(e.message.contains("UTF-8"), "{e}");
    assert_eq!(e.line, 2);
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; MAX_SPEC_BYTES + 1]).unwrap();
    assert!(load(&big).unwrap_err().message.contains("limit"));
    assert!(load(&dir.path().join("missing.toml"))
        .unwrap_err()
        .message
        .contains("cannot read"));
}

#[test]
fn arn_fields() {
    assert_eq!(
        arn_account("arn:aws:iam::271089868719:user/tom-cruise"),
        Some("271089868719")
    );
    assert_eq!(arn_account("arn:aws:s3:::bucket"), None);
    assert_eq!(
        arn_region("arn:aws:kms:ap-southeast-2:271089868719:key/x"),
        Some("ap-southeast-2")
    );
    assert_eq!(arn_account("garbage"), None);
}

#[test]
fn region_and_bucket_name_syntax() {
    assert!(validate::is_region("ap-southeast-1"));
    assert!(validate::is_region("us-gov-west-1"));
    assert!(!validate::is_region("ap-southeast"));
    assert!(!validate::is_region("AP-southeast-1"));
    assert!(validate::is_bucket_name("rubes-s3-bucket"));
    assert!(!validate::is_bucket_name("Rubes"));
    assert!(!validate::is_bucket_name("a..b"));
    assert!(!validate::is_bucket_name("-ab"));
}

#[test]
fn kms_keys_outside_their_buckets_region_are_rejected() {
    // Replica key in the source Region instead of the destination's (ap-southeast-2).
    let text = SEED.replacen(
        "replica_kms_key_arn = \"arn:aws:kms:ap-southeast-2:",
        "replica_kms_key_arn = \"arn:aws:kms:ap-southeast-1:",
        1,
    );
    let e = parse_str(&text).unwrap_err();
    assert!(
        e.message.contains("replica_kms_key_arn")
            && e.message.contains("ap-southeast-1")
            && e.message.contains("bucket's Region"),
        "{e}"
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("replica_kms_key_arn = \"arn:aws:kms:ap-southeast-1:"))
        .unwrap()
        + 1;
    assert_eq!(e.line, line, "{e}");
    // A bucket's default-encryption key in another Region.
    let text = SEED.replacen(
        "kms_key_arn = \"arn:aws:kms:ap-southeast-1:111122223333",
        "kms_key_arn = \"arn:aws:kms:eu-west-1:111122223333",
        1,
    );
    let e = parse_str(&text).unwrap_err();
    assert!(e.message.contains("buckets.source.kms_key_arn"), "{e}");
    // Alias ARNs in the right Region are accepted ("Key ARN or Alias ARN").
    let text = SEED.replace(
        "replica_kms_key_arn = \"arn:aws:kms:ap-southeast-2:271089868719:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\"",
        "replica_kms_key_arn = \"arn:aws:kms:ap-southeast-2:271089868719:alias/abcd-replicas\"",
    );
    parse_str(&text).expect("alias ARN in the destination's Region is valid");
}

#[test]
fn who_can_entries_resolve_and_bad_ones_point_at_themselves() {
    let s = parse_str(SEED).unwrap();
    assert_eq!(s.who_can.len(), 4);
    let source = &s.who_can[0];
    let read: Vec<WhoCanEntry> = source
        .class(AccessClass::Read)
        .unwrap()
        .iter()
        .map(|e| WhoCanEntry::resolve(&s, e.get_ref()).unwrap())
        .collect();
    assert!(read[0].matches("arn:aws:iam::271089868719:user/tom-cruise"));
    assert!(read[2].matches("arn:aws:iam::111122223333:user/replaudit-admin"));
    assert!(!read[2].matches("arn:aws:iam::111122223333:user/l2-contractor"));
    // A role ARN written without its path still names the role.
    let role = WhoCanEntry::Arn("arn:aws:iam::111122223333:role/admin".into());
    assert!(role.matches("arn:aws:iam::111122223333:role/ops/admin"));
    assert!(!role.matches("arn:aws:iam::111122223333:user/admin"));
    for ok in [
        "anonymous",
        "logs.ap-southeast-1.amazonaws.com",
        "organization:o-a1b2c3d4e5",
        "arn:aws:iam::*:root",
        "arn:aws:sts::111122223333:assumed-role/r/*",
    ] {
        assert!(WhoCanEntry::resolve(&s, ok).is_some(), "{ok}");
    }

    let bad = SEED.replacen(
        "read = [\"tom\", \"replication-role\"",
        "read = [\"tom\", \"replication-rol\"",
        1,
    );
    let e = parse_str(&bad).unwrap_err();
    assert!(
        e.message
            .starts_with("who_can.read: 'replication-rol' is not a principal alias"),
        "{e}"
    );
    let line = bad
        .lines()
        .position(|l| l.contains("\"replication-rol\""))
        .unwrap()
        + 1;
    assert_eq!(e.line, line, "{e}");
    assert!(e.column > 1);

    let dup = format!("{SEED}\n[[who_can]]\nbucket = \"source\"\nread = []\n");
    assert!(parse_str(&dup)
        .unwrap_err()
        .message
        .contains("bucket 'source' already has a [[who_can]] entry"));
    let nothing = format!("{SEED}\n[[who_can]]\nbucket = \"scratch\"\n");
    assert!(parse_str(&nothing)
        .unwrap_err()
        .message
        .contains("no bucket with alias 'scratch'"));
    let start = SEED.find("bucket = \"logs-backup\"\nread").unwrap();
    let end = start + SEED[start..].find("\n\n").unwrap();
    let empty = format!("{}bucket = \"logs-backup\"{}", &SEED[..start], &SEED[end..]);
    assert!(parse_str(&empty)
        .unwrap_err()
        .message
        .contains("expected at least one of read, write, control, decrypt"));
    let aes = SEED.replacen(
        "bucket = \"logs\"\n",
        "bucket = \"logs\"\ndecrypt = [\"tom\"]\n",
        1,
    );
    assert!(parse_str(&aes)
        .unwrap_err()
        .message
        .contains("who_can.decrypt: bucket 'logs' has no SSE-KMS default encryption"));
    let wrong_kind = SEED.replacen(
        "control = [\"arn:aws:iam::271089868719:user/replaudit-*\"]",
        "control = [\"arn:aws:s3:::clint-s3-bucket\"]",
        1,
    );
    assert!(parse_str(&wrong_kind)
        .unwrap_err()
        .message
        .starts_with("who_can.control: 'arn:aws:s3:::clint-s3-bucket'"));
}

#[test]
fn account_block_public_access_defaults_to_on_and_is_typed() {
    const XYZ: &str = "credentials = { profile = \"xyz-audit\" }\nblock_public_access = true";
    assert!(SEED.contains(XYZ));
    let s = parse_str(&SEED.replace(XYZ, "credentials = { profile = \"xyz-audit\" }")).unwrap();
    assert!(
        s.accounts.values().all(|a| a.block_public_access),
        "default"
    );
    let s = parse_str(&SEED.replace(XYZ, &XYZ.replace("true", "false"))).unwrap();
    assert!(!s.accounts["xyz"].block_public_access);
    assert!(s.accounts["abcd"].block_public_access);
    let e = parse_str(&SEED.replace(XYZ, &XYZ.replace("true", "\"off\""))).unwrap_err();
    let line = SEED
        .lines()
        .position(|l| l.starts_with("credentials = { profile = \"xyz-audit\" }"))
        .unwrap()
        + 2;
    assert_eq!(e.line, line, "{e}");
    assert!(
        e.message.contains("bool") || e.message.contains("boolean"),
        "{e}"
    );
}

const PAIRS: &str = r#"
version = 1
name = "pairs"
[accounts.a]
account_id = "111122223333"
region = "eu-west-1"
[buckets]
src-1 = { name = "estate-src-1", account = "a", region = "eu-west-1" }
src-2 = { name = "estate-src-2", account = "a", region = "eu-west-1" }
dst-1 = { name = "estate-dst-1", account = "a", region = "eu-west-1" }
[principals]
intern = { arn = "arn:aws:iam::111122223333:user/intern" }
intern-2 = { arn = "arn:aws:iam::111122223333:user/intern-2" }
ops = { arn = "arn:aws:iam::111122223333:role/ops" }
"#;

/// One `[[access]]` for many buckets and principals: globs over aliases or bucket names, one
/// expectation per match, each located at the pattern's line.
#[test]
fn access_buckets_and_principals_may_be_patterns() {
    let text = format!(
        "{PAIRS}\n[[access]]\nprincipal = \"intern*\"\nbucket = \"estate-src-*\"\ndeny = [\"s3:GetObject\"]\n\n[[access]]\nprincipal = \"ops\"\nbucket = \"dst-?\"\nallow = [\"s3:GetObject\"]\n"
    );
    let s = parse_str(&text).expect("patterns are valid");
    let pairs: Vec<(String, String)> = s
        .access
        .iter()
        .map(|a| (a.principal.get_ref().clone(), a.bucket.get_ref().clone()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("intern".into(), "src-1".into()),
            ("intern".into(), "src-2".into()),
            ("intern-2".into(), "src-1".into()),
            ("intern-2".into(), "src-2".into()),
            ("ops".into(), "dst-1".into()),
        ]
    );
    let line = text
        .lines()
        .position(|l| l == "bucket = \"estate-src-*\"")
        .unwrap()
        + 1;
    assert_eq!(s.line_of(s.access[3].bucket.span().start), line);
}

#[test]
fn a_pattern_matching_nothing_is_an_error_at_its_line() {
    let text = format!(
        "{PAIRS}\n[[access]]\nprincipal = \"intern\"\nbucket = \"estate-dest-*\"\ndeny = [\"s3:GetObject\"]\n"
    );
    let e = parse_str(&text).unwrap_err();
    assert!(
        e.message.contains("'estate-dest-*' matches no bucket"),
        "{e}"
    );
    let line = text
        .lines()
        .position(|l| l == "bucket = \"estate-dest-*\"")
        .unwrap()
        + 1;
    assert_eq!(e.line, line, "{e}");
}

/// Buckets and accounts by pattern in `[evidence]` and `[[who_can]]` too.
#[test]
fn evidence_and_who_can_may_name_buckets_and_accounts_by_pattern() {
    let text = format!(
        "{PAIRS}\n[evidence]\ndata_events_for = [\"src-*\"]\nconfig_recording_in = [\"1111*\"]\n\n[[who_can]]\nbucket = \"estate-*-1\"\nread = [\"ops\"]\n"
    );
    let s = parse_str(&text).expect("patterns are valid");
    let e = s.evidence.as_ref().unwrap();
    let names =
        |v: &Vec<Spanned<String>>| v.iter().map(|x| x.get_ref().clone()).collect::<Vec<_>>();
    assert_eq!(names(&e.data_events_for), vec!["src-1", "src-2"]);
    assert_eq!(names(&e.config_recording_in), vec!["a"], "by account id");
    let w: Vec<&str> = s
        .who_can
        .iter()
        .map(|w| w.bucket.get_ref().as_str())
        .collect();
    assert_eq!(w, vec!["dst-1", "src-1"]);
    let bad = text.replace("\"1111*\"", "\"2222*\"");
    let e = parse_str(&bad).unwrap_err();
    assert!(
        e.message.contains(
            "evidence.config_recording_in: the pattern '2222*' matches no account alias or id"
        ),
        "{e}"
    );
}
