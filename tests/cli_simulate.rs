//! `replaudit simulate --cases` on the project's own vectors, through the real binary: the
//! output contract of docs/policy-cases.md (one JSON line per case, summary on stderr, exit status).

use std::process::Command;

fn simulate(path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_replaudit"))
        .args(["simulate", "--cases"])
        .arg(path)
        .output()
        .expect("run replaudit")
}

#[test]
fn every_vector_file_agrees_through_the_cli() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let out = simulate(&path);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let cases: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(
            lines.len(),
            cases.len(),
            "one line per case in {}",
            path.display()
        );
        for (line, case) in lines.iter().zip(&cases) {
            assert_eq!(line["id"], case["id"]);
            match case.get("expected") {
                Some(exp) => assert_eq!(&line["decision"], exp, "{}", line),
                None => assert!(
                    line.get("error").is_some(),
                    "cases without expected are the malformed ones: {line}"
                ),
            }
        }
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("cases:"),
            "summary on stderr"
        );
        total += cases.len();
    }
    assert!(total >= 150, "at least 150 vectors, found {total}");
}

#[test]
fn a_disagreeing_case_exits_1_and_a_malformed_one_does_not_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cases.json");
    std::fs::write(
        &p,
        r#"[
 {"id": "wrong", "request": {"principal": "arn:aws:iam::111122223333:user/a", "principal_account": "111122223333",
   "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k", "resource_account": "111122223333", "context": {}},
  "identity_policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}],
  "expected": "ImplicitDeny"},
 {"id": "broken", "request": {"principal": "arn:aws:iam::111122223333:user/a", "principal_account": "111122223333",
   "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k", "resource_account": "111122223333", "context": {}},
  "identity_policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"}]}]},
 {"id": "right", "request": {"principal": "arn:aws:iam::111122223333:user/a", "principal_account": "111122223333",
   "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k", "resource_account": "111122223333", "context": {}},
  "identity_policies": [], "expected": "ImplicitDeny"}
]"#,
    )
    .unwrap();
    let out = simulate(&p);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["decision"], "Allowed");
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("Statement[0].Effect"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2]["decision"], "ImplicitDeny");
}
