//! The case-file format of `replaudit simulate --cases FILE` (`docs/policy-cases.md`), which
//! is also the format of the evaluator's own test vectors.
//!
//! Each case is parsed on its own, so a malformed case (or policy) produces an error line for
//! that case only and the run goes on.

use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{
    evaluate, Context, Decision, Evaluation, OrgLevel, Policy, PolicyError, PolicySet, Request,
};

/// One case, exactly the documented fields plus the `restrict_public_buckets` extension.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    pub request: CaseRequest,
    #[serde(default, deserialize_with = "null_as_default")]
    pub identity_policies: Vec<Value>,
    #[serde(default)]
    pub resource_policy: Option<Value>,
    #[serde(default)]
    pub permission_boundary: Option<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub scps: Vec<CaseOrgLevel>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub rcps: Vec<CaseOrgLevel>,
    #[serde(default)]
    pub session_policy: Option<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub vpc_endpoint_policies: Vec<Value>,
    #[serde(default)]
    pub expected: Option<Decision>,
    /// Extension: S3 Block Public Access `RestrictPublicBuckets` in effect for the resource.
    #[serde(default)]
    pub restrict_public_buckets: bool,
}

/// `request` of a case. Kept separate from [`Request`] so that a misspelt field is an error
/// in a case file rather than silently ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    pub principal: String,
    #[serde(default)]
    pub principal_account: Option<String>,
    pub action: String,
    pub resource: String,
    #[serde(default)]
    pub resource_account: Option<String>,
    #[serde(default)]
    pub context: Context,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseOrgLevel {
    pub target: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub policies: Vec<Value>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A case with every policy parsed, ready to evaluate (and to evaluate again, in benchmarks).
#[derive(Debug, Clone)]
pub struct CompiledCase {
    pub request: Request,
    pub identity: Vec<Policy>,
    pub resource: Option<Policy>,
    pub permission_boundary: Option<Policy>,
    pub session: Option<Policy>,
    pub scps: Vec<OrgLevel>,
    pub rcps: Vec<OrgLevel>,
    pub vpc_endpoint: Vec<Policy>,
    pub restrict_public_buckets: bool,
}

impl CompiledCase {
    pub fn policy_set(&self) -> PolicySet<'_> {
        PolicySet {
            identity: &self.identity,
            resource: self.resource.as_ref(),
            permission_boundary: self.permission_boundary.as_ref(),
            session: self.session.as_ref(),
            scps: &self.scps,
            rcps: &self.rcps,
            vpc_endpoint: &self.vpc_endpoint,
            restrict_public_buckets: self.restrict_public_buckets,
        }
    }

    pub fn evaluate(&self) -> Evaluation {
        evaluate(&self.request, &self.policy_set())
    }
}

impl Case {
    /// Parses every policy of the case; policies are named by their place in the case
    /// (`identity_policies[0]`, `scps[1].policies[0]`, ...), which is what reports quote.
    pub fn compile(&self) -> Result<CompiledCase, PolicyError> {
        let levels = |field: &str, lv: &[CaseOrgLevel]| -> Result<Vec<OrgLevel>, PolicyError> {
            lv.iter()
                .enumerate()
                .map(|(i, l)| {
                    Ok(OrgLevel {
                        target: l.target.clone(),
                        policies: l
                            .policies
                            .iter()
                            .enumerate()
                            .map(|(j, p)| {
                                Policy::from_value(&format!("{field}[{i}].policies[{j}]"), p)
                            })
                            .collect::<Result<_, _>>()?,
                    })
                })
                .collect()
        };
        let opt = |name: &str, v: &Option<Value>| -> Result<Option<Policy>, PolicyError> {
            v.as_ref().map(|p| Policy::from_value(name, p)).transpose()
        };
        let list = |field: &str, v: &[Value]| -> Result<Vec<Policy>, PolicyError> {
            v.iter()
                .enumerate()
                .map(|(i, p)| Policy::from_value(&format!("{field}[{i}]"), p))
                .collect()
        };
        let r = &self.request;
        Ok(CompiledCase {
            request: Request {
                principal: r.principal.clone(),
                principal_account: r.principal_account.clone(),
                action: r.action.clone(),
                resource: r.resource.clone(),
                resource_account: r.resource_account.clone(),
                context: r.context.clone(),
            },
            identity: list("identity_policies", &self.identity_policies)?,
            resource: opt("resource_policy", &self.resource_policy)?,
            permission_boundary: opt("permission_boundary", &self.permission_boundary)?,
            session: opt("session_policy", &self.session_policy)?,
            scps: levels("scps", &self.scps)?,
            rcps: levels("rcps", &self.rcps)?,
            vpc_endpoint: list("vpc_endpoint_policies", &self.vpc_endpoint_policies)?,
            restrict_public_buckets: self.restrict_public_buckets,
        })
    }
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub id: String,
    pub result: Result<Evaluation, String>,
    pub expected: Option<Decision>,
}

impl CaseOutcome {
    /// One JSON object on one line: `{"id", "decision", ...}` or `{"id", "error"}`.
    pub fn to_json_line(&self) -> String {
        let mut m = Map::new();
        m.insert("id".into(), Value::String(self.id.clone()));
        match &self.result {
            Ok(ev) => {
                m.insert("decision".into(), Value::String(ev.decision.to_string()));
                if let Some(exp) = self.expected {
                    m.insert("expected".into(), Value::String(exp.to_string()));
                    m.insert("agrees".into(), Value::Bool(exp == ev.decision));
                }
                m.insert(
                    "deciding".into(),
                    serde_json::to_value(&ev.deciding).unwrap_or(Value::Null),
                );
                m.insert(
                    "reasons".into(),
                    Value::Array(ev.reasons.iter().cloned().map(Value::String).collect()),
                );
            }
            Err(e) => {
                m.insert("error".into(), Value::String(e.clone()));
                if let Some(exp) = self.expected {
                    m.insert("expected".into(), Value::String(exp.to_string()));
                }
            }
        }
        Value::Object(m).to_string()
    }

    /// The case fails the run: an error, or an `expected` that differs from the decision.
    pub fn disagrees(&self) -> bool {
        match (&self.result, self.expected) {
            (Err(_), _) => true,
            (Ok(ev), Some(exp)) => ev.decision != exp,
            (Ok(_), None) => false,
        }
    }
}

/// Counts for the stderr summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub total: usize,
    pub agreed: usize,
    pub disagreed: usize,
    pub errors: usize,
    pub without_expected: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} cases: {} agreed, {} disagreed, {} errors, {} without expected",
            self.total, self.agreed, self.disagreed, self.errors, self.without_expected
        )
    }
}

impl Summary {
    pub fn of(outcomes: &[CaseOutcome]) -> Summary {
        let mut s = Summary {
            total: outcomes.len(),
            ..Summary::default()
        };
        for o in outcomes {
            match (&o.result, o.expected) {
                (Err(_), _) => s.errors += 1,
                (Ok(ev), Some(exp)) if ev.decision == exp => s.agreed += 1,
                (Ok(_), Some(_)) => s.disagreed += 1,
                (Ok(_), None) => s.without_expected += 1,
            }
        }
        s
    }
}

/// Reads the case file: a JSON array whose items are returned unparsed, so that each case
/// fails on its own.
pub fn load_cases(json: &str) -> Result<Vec<Value>, String> {
    // A duplicated key would otherwise be dropped silently ("last one wins") before any policy
    // parser could see it; the whole file is refused because JSON cannot be resumed mid-way.
    // The check and the parse read the same text, so they run side by side.
    let (dup, parsed) = std::thread::scope(|s| {
        let dup = s.spawn(|| match super::parse::parse_json("case file", json) {
            Err(e) if e.message.starts_with("duplicate key") => Some(e),
            _ => None,
        });
        let parsed = serde_json::from_str::<Value>(json);
        (dup.join().ok().flatten(), parsed)
    });
    if let Some(e) = dup {
        return Err(format!("case file: {}: {}", e.path, e.message));
    }
    match parsed {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err("a case file must be a JSON array of cases".to_string()),
        Err(e) => Err(format!("case file is not valid JSON: {e}")),
    }
}

/// Evaluates one case value. Never fails: problems become the outcome's error.
pub fn run_case(v: &Value) -> CaseOutcome {
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("<missing id>")
        .to_string();
    let expected = v
        .get("expected")
        .and_then(|e| Decision::deserialize(e).ok());
    let case = match Case::deserialize(v) {
        Ok(c) => c,
        Err(e) => {
            return CaseOutcome {
                id,
                result: Err(format!("invalid case: {e}")),
                expected,
            }
        }
    };
    let result = case
        .compile()
        .map(|c| c.evaluate())
        .map_err(|e| e.to_string());
    CaseOutcome {
        id,
        result,
        expected,
    }
}

/// Runs a whole case file.
pub fn run_all(json: &str) -> Result<(Vec<CaseOutcome>, Summary), String> {
    // Split the array without building it (cheap), then parse, check and evaluate each case on
    // every core: one malformed case (including a duplicated key) errors only its own line.
    let raws: Vec<&serde_json::value::RawValue> = match serde_json::from_str(json) {
        Ok(r) => r,
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            return Err("a case file must be a JSON array of cases".to_string())
        }
        Err(e) => return Err(format!("case file is not valid JSON: {e}")),
    };
    let outcomes: Vec<CaseOutcome> = par_map(&raws, |i, raw| run_raw_case(i, raw.get()));
    let summary = Summary::of(&outcomes);
    Ok((outcomes, summary))
}

/// One case from its JSON text: duplicate keys are refused (serde would keep the last one
/// silently), then it runs like [`run_case`].
fn run_raw_case(i: usize, text: &str) -> CaseOutcome {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return CaseOutcome {
                id: format!("#{i}"),
                result: Err(format!("invalid case: {e}")),
                expected: None,
            }
        }
    };
    let mut o = run_case(&v);
    if v.get("id").and_then(Value::as_str).is_none() {
        o.id = format!("#{i}");
    }
    if let Err(e) = super::parse::parse_json("case", text) {
        if e.message.starts_with("duplicate key") {
            let path = e.path.strip_prefix('$').unwrap_or(&e.path);
            o.result = Err(format!("case file: $[{i}]{path}: {}", e.message));
        }
    }
    o
}

/// `f` over `items` on every available core, results in input order. Plain scoped threads:
/// the work is CPU-bound and evenly sized, so contiguous chunks balance well enough.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads <= 1 || items.len() < 256 {
        return items.iter().enumerate().map(|(i, x)| f(i, x)).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                let f = &f;
                s.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(j, x)| f(c * chunk + j, x))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &str = r#"[
      {"id":"ok","request":{"principal":"arn:aws:iam::111122223333:user/a","principal_account":"111122223333",
        "action":"s3:GetObject","resource":"arn:aws:s3:::b/k","resource_account":"111122223333","context":{}},
       "identity_policies":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}],
       "resource_policy":null,"permission_boundary":null,"scps":[],"rcps":[],"session_policy":null,
       "vpc_endpoint_policies":[],"expected":"Allowed"},
      {"id":"wrong","request":{"principal":"anonymous","action":"s3:GetObject","resource":"arn:aws:s3:::b/k"},
       "expected":"Allowed"},
      {"id":"broken","request":{"principal":"anonymous","action":"s3:GetObject","resource":"x"},
       "resource_policy":{"Statement":[{"Effect":"Maybe","Action":"*"}]},"expected":"ImplicitDeny"},
      {"request":{"principal":"anonymous","action":"s3:GetObject","resource":"x"}},
      {"id":"typo","request":{"principal":"anonymous","action":"s3:GetObject","resource":"x","resource_acount":"1"}}
    ]"#;

    #[test]
    fn runs_each_case_independently() {
        let (out, summary) = run_all(CASES).unwrap();
        assert_eq!(out.len(), 5);
        assert!(!out[0].disagrees());
        assert!(out[1].disagrees());
        assert!(out[2].disagrees());
        assert!(out[2]
            .result
            .as_ref()
            .unwrap_err()
            .contains("$.Statement[0].Effect"));
        assert_eq!(out[3].id, "#3");
        assert!(out[4].result.is_err());
        assert_eq!(
            summary,
            Summary {
                total: 5,
                agreed: 1,
                disagreed: 1,
                errors: 3,
                without_expected: 0
            }
        );
        assert_eq!(
            summary.to_string(),
            "5 cases: 1 agreed, 1 disagreed, 3 errors, 0 without expected"
        );
    }

    #[test]
    fn json_lines() {
        let (out, _) = run_all(CASES).unwrap();
        let l0: Value = serde_json::from_str(&out[0].to_json_line()).unwrap();
        assert_eq!(l0["id"], "ok");
        assert_eq!(l0["decision"], "Allowed");
        assert_eq!(l0["deciding"][0]["policy"], "identity_policies[0]");
        assert_eq!(l0["deciding"][0]["kind"], "Identity");
        let l2: Value = serde_json::from_str(&out[2].to_json_line()).unwrap();
        assert!(l2["error"]
            .as_str()
            .unwrap()
            .starts_with("policy 'resource_policy'"));
        assert!(!out[0].to_json_line().contains('\n'));
    }

    #[test]
    fn a_duplicate_key_errors_only_its_own_case_in_run_all() {
        let (out, summary) = run_all(
            r#"[{"id":"a","request":{"principal":"arn:aws:iam::111122223333:user/u","action":"s3:GetObject","resource":"*"},"resource_policy":{"Statement":[{"Effect":"Allow","Effect":"Deny"}]}},
                {"id":"b","request":{"principal":"arn:aws:iam::111122223333:user/u","action":"s3:GetObject","resource":"*"},"expected":"ImplicitDeny"}]"#,
        )
        .unwrap();
        assert_eq!(
            out[0].result.as_ref().unwrap_err(),
            "case file: $[0].resource_policy.Statement[0].Effect: duplicate key 'Effect'"
        );
        assert_eq!(
            out[1].result.as_ref().unwrap().decision,
            Decision::ImplicitDeny
        );
        assert_eq!(summary.errors, 1);
        assert!(run_all("{}").unwrap_err().contains("JSON array"));
        assert!(run_all("[").unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn file_shape_errors() {
        assert!(load_cases("{}").is_err());
        assert!(load_cases("[").is_err());
        assert_eq!(load_cases("[]").unwrap().len(), 0);
        let dup = load_cases(
            r#"[{"id":"a","resource_policy":{"Statement":[{"Effect":"Allow","Effect":"Deny"}]}}]"#,
        )
        .unwrap_err();
        assert_eq!(
            dup,
            "case file: $[0].resource_policy.Statement[0].Effect: duplicate key 'Effect'"
        );
    }
}
