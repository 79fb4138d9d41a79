//! The case-file format of `replaudit simulate --cases FILE` (`docs/policy-cases.md`), which
//! is also the format of the evaluator's own test vectors.
//!
//! Each case is parsed on its own, so a malformed case (or policy) produces an error line for
//! that case only and the run goes on.

use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

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
    /// Where the case comes from (an AWS documentation page, another tool's suite). Metadata
    /// only: POLICY-CASES.md says readers accept it and ignore it for the decision.
    #[serde(default)]
    pub source: Option<String>,
    /// Why the verdict is what it is. Metadata only, like `source`.
    #[serde(default)]
    pub notes: Option<String>,
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
    /// For a federated-user caller (`arn:aws:sts::A:federated-user/NAME`): the IAM user who
    /// called GetFederationToken. Resource policies that name that user reach the session.
    #[serde(default)]
    pub federated_by: Option<String>,
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
    pub federated_by: Option<String>,
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
            federated_by: self.federated_by.as_deref(),
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
            federated_by: r.federated_by.clone(),
        })
    }
}

/// Why a case file cannot be run at all (one bad case only errors its own line instead).
#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    /// A duplicated key (JSON cannot be resumed mid-way, so the whole file is refused).
    #[error("case file: {path}: {message}")]
    DuplicateKey { path: String, message: String },
    #[error("a case file must be a JSON array of cases")]
    NotAnArray,
    #[error("case file is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
}

/// Why one case could not be evaluated: the case's outcome, and the run goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// The case is not of the documented shape (the text says where and why).
    #[error("{0}")]
    Invalid(String),
    /// One of its policies does not parse.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A duplicated key inside this case.
    #[error("case file: {path}: {message}")]
    DuplicateKey { path: String, message: String },
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub id: String,
    pub result: Result<Evaluation, CaseError>,
    pub expected: Option<Decision>,
    /// The case states `expected` (not absent, not `null`), even one that is not a decision or
    /// that could not be read: such a case fails the run when it errors (docs/policy-cases.md).
    pub states_expected: bool,
}

impl CaseOutcome {
    /// One JSON object on one line: `{"id", "decision", ...}` or `{"id", "error"}`.
    pub fn to_json_line(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write_json_line(&mut out);
        out
    }

    /// [`Self::to_json_line`] appended to `out`, written directly rather than through a
    /// `serde_json::Value` (the keys, their order and the escaping are serde_json's; the
    /// `json_line_is_what_serde_json_writes` test holds the two to the same bytes).
    pub fn write_json_line(&self, out: &mut String) {
        out.push_str("{\"id\":");
        json_str(out, &self.id);
        match &self.result {
            Ok(ev) => {
                out.push_str(",\"decision\":\"");
                out.push_str(decision_str(ev.decision));
                out.push('"');
                if let Some(exp) = self.expected {
                    out.push_str(",\"expected\":\"");
                    out.push_str(decision_str(exp));
                    out.push_str(if exp == ev.decision {
                        "\",\"agrees\":true"
                    } else {
                        "\",\"agrees\":false"
                    });
                }
                out.push_str(",\"deciding\":[");
                for (i, d) in ev.deciding.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"policy\":");
                    json_str(out, &d.policy);
                    out.push_str(",\"kind\":\"");
                    out.push_str(kind_str(d.kind));
                    out.push_str("\",\"sid\":");
                    match &d.sid {
                        Some(sid) => json_str(out, sid),
                        None => out.push_str("null"),
                    }
                    use std::fmt::Write;
                    let _ = write!(out, ",\"index\":{}", d.index);
                    out.push_str(match d.effect {
                        super::Effect::Allow => ",\"effect\":\"Allow\"}",
                        super::Effect::Deny => ",\"effect\":\"Deny\"}",
                    });
                }
                out.push_str("],\"reasons\":[");
                for (i, r) in ev.reasons.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_str(out, r);
                }
                out.push_str("]}");
            }
            Err(e) => {
                out.push_str(",\"error\":");
                json_str(out, &e.to_string());
                if let Some(exp) = self.expected {
                    out.push_str(",\"expected\":\"");
                    out.push_str(decision_str(exp));
                    out.push('"');
                }
                out.push('}');
            }
        }
    }

    /// The case fails the run (exit 1, docs/policy-cases.md): it states `expected` and
    /// disagrees or errors. A case whose `expected` is not a decision, or whose text could not
    /// be read, states one too: it must not pass silently.
    pub fn fails_run(&self) -> bool {
        self.states_expected && self.disagrees()
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

fn decision_str(d: Decision) -> &'static str {
    match d {
        Decision::Allowed => "Allowed",
        Decision::ExplicitDeny => "ExplicitDeny",
        Decision::ImplicitDeny => "ImplicitDeny",
    }
}

/// The serde name of each kind (the derive's variant names), not its Display text.
fn kind_str(k: super::PolicyKind) -> &'static str {
    use super::PolicyKind::*;
    match k {
        Identity => "Identity",
        Resource => "Resource",
        PermissionBoundary => "PermissionBoundary",
        Session => "Session",
        Scp => "Scp",
        Rcp => "Rcp",
        VpcEndpoint => "VpcEndpoint",
    }
}

/// A JSON string as serde_json writes it: `"` and `\` escaped, the short escapes for
/// \b \f \n \r \t, `\u00xx` (lowercase hex) for other control characters, everything else as is.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
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
pub fn load_cases(json: &str) -> Result<Vec<Value>, CasesError> {
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
        return Err(CasesError::DuplicateKey {
            path: e.path,
            message: e.message,
        });
    }
    match parsed {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err(CasesError::NotAnArray),
        Err(e) => Err(CasesError::NotJson(e)),
    }
}

/// Evaluates one case value. Never fails: problems become the outcome's error.
pub fn run_case(v: &Value) -> CaseOutcome {
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("<missing id>")
        .to_string();
    let stated = v.get("expected").filter(|e| !e.is_null());
    let expected = stated.and_then(|e| Decision::deserialize(e).ok());
    let states_expected = stated.is_some();
    let fail = |why: String| CaseOutcome {
        id: id.clone(),
        result: Err(CaseError::Invalid(why)),
        expected,
        states_expected,
    };
    if let (Some(e), None) = (stated, expected) {
        return fail(format!(
            "invalid case: expected {e} is not a decision (Allowed, ExplicitDeny or ImplicitDeny)"
        ));
    }
    let case = match Case::deserialize(v) {
        Ok(c) => c,
        Err(e) => return fail(format!("invalid case: {e}")),
    };
    let result = case
        .compile()
        .map(|c| c.evaluate())
        .map_err(CaseError::Policy);
    CaseOutcome {
        id,
        result,
        expected,
        states_expected,
    }
}

/// Runs a whole case file.
pub fn run_all(json: &str) -> Result<(Vec<CaseOutcome>, Summary), CasesError> {
    if let Some(outcomes) = fast::run_file(json) {
        let summary = Summary::of(&outcomes);
        return Ok((outcomes, summary));
    }
    run_all_split(json)
}

/// [`run_all`] for any input: split the array without building it, then parse, check and
/// evaluate each case on every core. One malformed case (including a duplicated key) errors
/// only its own line; a file that is not a JSON array errors as a whole.
fn run_all_split(json: &str) -> Result<(Vec<CaseOutcome>, Summary), CasesError> {
    let raws: Vec<&serde_json::value::RawValue> = match serde_json::from_str(json) {
        Ok(r) => r,
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            return Err(CasesError::NotAnArray)
        }
        Err(e) => return Err(CasesError::NotJson(e)),
    };
    let outcomes: Vec<CaseOutcome> = par_chunks(&raws, |start, part| {
        let mut cache = fast::Cache::default();
        part.iter()
            .enumerate()
            .map(|(j, raw)| {
                let text = raw.get();
                fast::run(&mut cache, text).unwrap_or_else(|| run_raw_case(start + j, text, json))
            })
            .collect()
    });
    let summary = Summary::of(&outcomes);
    Ok((outcomes, summary))
}

/// `f` over contiguous chunks of `items`, one per available core, results in input order; `f`
/// gets the chunk's start index so that it can keep per-thread state (the policy cache).
fn par_chunks<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &[T]) -> Vec<R> + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads <= 1 || items.len() < 256 {
        return f(0, items);
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                let f = &f;
                s.spawn(move || f(c * chunk, part))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// The common path of `simulate --cases`: each case read straight from its text into borrowed
/// fields (no `serde_json::Value` tree, no second parse for duplicate keys), and every policy
/// text compiled once per thread and reused by every case that repeats it: a case file is
/// mostly the same few bucket, identity and organization policies asked about many requests.
///
/// It only ever answers for well-formed cases. Anything unusual (a parse or type error, a
/// duplicated key, a malformed policy) returns `None` and the case goes through
/// [`run_raw_case`], the general path, which words the error exactly as it always has; so both
/// paths give the same outcome for every case (`fast_path_matches_general_path` checks it on the
/// project's vectors).
mod fast {
    use std::borrow::Cow;
    use std::collections::HashMap;
    use std::hash::{BuildHasherDefault, Hasher};
    use std::sync::Arc;

    use serde::Deserialize;
    use serde_json::value::RawValue;

    use super::super::parse::{org_levels, policy_list};
    use super::super::{Context, Decision, OrgLevel, Policy, PolicySet, Request};
    use super::CaseOutcome;

    /// One case of [`run_file`]: evaluated, or its text for the general path.
    pub(super) enum Item<'a> {
        Done(CaseOutcome),
        General(&'a str),
    }

    fn skip_ws(b: &[u8], mut p: usize) -> usize {
        while p < b.len() && matches!(b[p], b' ' | b'\n' | b'\r' | b'\t') {
            p += 1;
        }
        p
    }

    /// The whole file without a separate pass to split it: each thread starts at an element
    /// boundary and reads its cases one after the other, each in a single pass. `None` when
    /// the file is anything but a well-formed array (the caller's path then reports it), or
    /// when a guessed boundary turns out not to be one.
    ///
    /// Boundaries are guessed from the layout, then checked: a raw newline never occurs inside
    /// a JSON string, so a line is outside strings, and a line that starts with `{` at the
    /// first case's indentation after a `,` is taken as the start of a case. The thread before
    /// it must land exactly there, or the whole result is dropped.
    pub(super) fn run_file(json: &str) -> Option<Vec<CaseOutcome>> {
        let b = json.as_bytes();
        let open = skip_ws(b, 0);
        if b.get(open) != Some(&b'[') {
            return None;
        }
        let first = skip_ws(b, open + 1);
        if b.get(first) == Some(&b']') {
            return (skip_ws(b, first + 1) == b.len()).then(Vec::new);
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut starts = vec![first];
        let indent = b[..first]
            .iter()
            .rposition(|&c| c == b'\n')
            .map(|nl| &b[nl + 1..first])
            .filter(|ind| ind.iter().all(|&c| c == b' ' || c == b'\t'));
        if let Some(indent) = indent {
            for k in 1..threads {
                let target = first + (b.len() - first) / threads * k;
                if let Some(s) = guess_start(b, target.max(*starts.last()?), indent) {
                    starts.push(s);
                }
            }
        }
        if starts.len() == 1 && b.len() > 1 << 20 {
            // One line, or a layout we cannot split: the caller's path runs in parallel.
            return None;
        }
        let parts: Vec<Option<Vec<Item>>> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..starts.len())
                .map(|k| {
                    let (start, stop) = (starts[k], starts.get(k + 1).copied());
                    sc.spawn(move || walk(json, start, stop))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut out = Vec::new();
        for part in parts {
            for item in part? {
                out.push(match item {
                    Item::Done(o) => o,
                    Item::General(text) => super::run_raw_case(out.len(), text, json),
                });
            }
        }
        Some(out)
    }

    /// The first line at or after `from` that starts with `{` at `indent` and follows a `,`.
    fn guess_start(b: &[u8], from: usize, indent: &[u8]) -> Option<usize> {
        let mut p = from;
        let limit = (from + (1 << 22)).min(b.len());
        while p < limit {
            let nl = p + b[p..limit].iter().position(|&c| c == b'\n')?;
            let line = nl + 1;
            let brace = line + indent.len();
            if b.get(line..brace) == Some(indent) && b.get(brace) == Some(&b'{') {
                let before = b[..nl].iter().rposition(|c| !c.is_ascii_whitespace());
                if before.is_some_and(|i| b[i] == b',') {
                    return Some(brace);
                }
            }
            p = line;
        }
        None
    }

    /// Cases from `start` (an element's first byte) up to `stop` (the next thread's start,
    /// which must be met exactly) or the closing `]`.
    pub(super) fn walk(json: &str, start: usize, stop: Option<usize>) -> Option<Vec<Item<'_>>> {
        let b = json.as_bytes();
        let mut cache = Cache::default();
        let mut items = Vec::new();
        let mut pos = start;
        loop {
            let rest = &json[pos..];
            let mut cases = serde_json::Deserializer::from_str(rest).into_iter::<FastCase>();
            let parsed = cases.next();
            let (len, item) = match parsed {
                Some(Ok(c)) => {
                    let len = cases.byte_offset();
                    match outcome(&mut cache, c) {
                        Some(o) => (len, Item::Done(o)),
                        None => (len, Item::General(&rest[..len])),
                    }
                }
                _ => {
                    let mut raws =
                        serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
                    let raw = raws.next()?.ok()?;
                    (raws.byte_offset(), Item::General(raw.get()))
                }
            };
            items.push(item);
            pos = skip_ws(b, pos + len);
            match b.get(pos) {
                Some(b',') => {
                    pos = skip_ws(b, pos + 1);
                    if matches!(b.get(pos), Some(b']') | None) {
                        return None;
                    }
                    match stop {
                        Some(s) if pos == s => return Some(items),
                        Some(s) if pos > s => return None,
                        _ => {}
                    }
                }
                Some(b']') if stop.is_none() => {
                    return (skip_ws(b, pos + 1) == b.len()).then_some(items);
                }
                _ => return None,
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FastCase<'a> {
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(default, borrow)]
        #[allow(dead_code)]
        description: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        #[allow(dead_code)]
        source: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        #[allow(dead_code)]
        notes: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        #[allow(dead_code)]
        tags: Option<Vec<Cow<'a, str>>>,
        request: FastRequest,
        #[serde(default, borrow)]
        identity_policies: Option<&'a RawValue>,
        #[serde(default, borrow)]
        resource_policy: Option<&'a RawValue>,
        #[serde(default, borrow)]
        permission_boundary: Option<&'a RawValue>,
        #[serde(default, borrow)]
        scps: Option<&'a RawValue>,
        #[serde(default, borrow)]
        rcps: Option<&'a RawValue>,
        #[serde(default, borrow)]
        session_policy: Option<&'a RawValue>,
        #[serde(default, borrow)]
        vpc_endpoint_policies: Option<&'a RawValue>,
        #[serde(default)]
        expected: Option<Decision>,
        #[serde(default)]
        restrict_public_buckets: bool,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FastRequest {
        principal: String,
        #[serde(default)]
        principal_account: Option<String>,
        action: String,
        resource: String,
        #[serde(default)]
        resource_account: Option<String>,
        #[serde(default)]
        context: Context,
        #[serde(default)]
        federated_by: Option<String>,
    }

    /// FxHash: the keys are policy texts from one trusted input file, so a fast non-keyed
    /// hash is enough (collisions cost time, never correctness).
    #[derive(Default)]
    pub(super) struct Fx(u64);

    impl Hasher for Fx {
        fn write(&mut self, bytes: &[u8]) {
            let mut chunks = bytes.chunks_exact(8);
            for c in &mut chunks {
                let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
            }
            for &b in chunks.remainder() {
                self.0 =
                    (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
            }
        }
        fn finish(&self) -> u64 {
            self.0
        }
    }

    type Map<'a, V> = HashMap<&'a str, V, BuildHasherDefault<Fx>>;

    /// Compiled policies of one thread, keyed by their exact JSON text (and, through the map,
    /// by the field they sit in, which names them in the output).
    #[derive(Default)]
    pub(super) struct Cache<'a> {
        identity: Map<'a, Arc<Vec<Policy>>>,
        vpce: Map<'a, Arc<Vec<Policy>>>,
        resource: Map<'a, Arc<Policy>>,
        boundary: Map<'a, Arc<Policy>>,
        session: Map<'a, Arc<Policy>>,
        scps: Map<'a, Arc<Vec<OrgLevel>>>,
        rcps: Map<'a, Arc<Vec<OrgLevel>>>,
    }

    fn cached<'a, V>(
        map: &mut Map<'a, Arc<V>>,
        raw: Option<&'a RawValue>,
        build: impl FnOnce(&'a str) -> Option<V>,
    ) -> Option<Option<Arc<V>>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        let text = raw.get();
        if let Some(v) = map.get(text) {
            return Some(Some(v.clone()));
        }
        let v = Arc::new(build(text)?);
        map.insert(text, v.clone());
        Some(Some(v))
    }

    /// The outcome of one case, or `None` to take the general path.
    pub(super) fn run<'a>(cache: &mut Cache<'a>, text: &'a str) -> Option<CaseOutcome> {
        outcome(cache, serde_json::from_str(text).ok()?)
    }

    fn outcome<'a>(cache: &mut Cache<'a>, c: FastCase<'a>) -> Option<CaseOutcome> {
        let single = |name: &'static str| move |t: &str| Policy::parse(name, t).ok();
        let identity = cached(&mut cache.identity, c.identity_policies, |t| {
            policy_list("identity_policies", t)
        })?;
        let vpce = cached(&mut cache.vpce, c.vpc_endpoint_policies, |t| {
            policy_list("vpc_endpoint_policies", t)
        })?;
        let resource = cached(
            &mut cache.resource,
            c.resource_policy,
            single("resource_policy"),
        )?;
        let boundary = cached(
            &mut cache.boundary,
            c.permission_boundary,
            single("permission_boundary"),
        )?;
        let session = cached(
            &mut cache.session,
            c.session_policy,
            single("session_policy"),
        )?;
        let scps = cached(&mut cache.scps, c.scps, |t| org_levels("scps", t))?;
        let rcps = cached(&mut cache.rcps, c.rcps, |t| org_levels("rcps", t))?;
        let r = c.request;
        let request = Request {
            principal: r.principal,
            principal_account: r.principal_account,
            action: r.action,
            resource: r.resource,
            resource_account: r.resource_account,
            context: r.context,
        };
        let set = PolicySet {
            identity: identity.as_deref().map_or(&[], Vec::as_slice),
            resource: resource.as_deref(),
            permission_boundary: boundary.as_deref(),
            session: session.as_deref(),
            scps: scps.as_deref().map_or(&[], Vec::as_slice),
            rcps: rcps.as_deref().map_or(&[], Vec::as_slice),
            vpc_endpoint: vpce.as_deref().map_or(&[], Vec::as_slice),
            restrict_public_buckets: c.restrict_public_buckets,
            federated_by: r.federated_by.as_deref(),
        };
        Some(CaseOutcome {
            id: c.id.into_owned(),
            result: Ok(super::super::evaluate(&request, &set)),
            states_expected: c.expected.is_some(),
            expected: c.expected,
        })
    }
}

/// One case from its JSON text (a slice of `file`): duplicate keys are refused (serde would
/// keep the last one silently), then it runs like [`run_case`].
fn run_raw_case(i: usize, text: &str, file: &str) -> CaseOutcome {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return unreadable_case(i, text, file, &e),
    };
    let mut o = run_case(&v);
    if v.get("id").and_then(Value::as_str).is_none() {
        o.id = format!("#{i}");
    }
    if let Err(e) = super::parse::parse_json("case", text) {
        if e.message.starts_with("duplicate key") {
            let path = e.path.strip_prefix('$').unwrap_or(&e.path);
            o.result = Err(CaseError::DuplicateKey {
                path: format!("$[{i}]{path}"),
                message: e.message,
            });
        }
    }
    o
}

/// A case whose text is valid JSON to the splitter but cannot be read as a value (nested deeper
/// than serde_json's recursion limit, a number out of range): its `id` and whether it states
/// `expected` are recovered from its top level, which is read without descending into the
/// values, and the error gives its place in the file, since the parser's own position counts
/// from the case's first byte.
fn unreadable_case(i: usize, text: &str, file: &str, e: &serde_json::Error) -> CaseOutcome {
    use std::collections::BTreeMap;
    let top: Option<BTreeMap<String, &serde_json::value::RawValue>> =
        serde_json::from_str(text).ok();
    let id_text = top.as_ref().and_then(|t| t.get("id")).map(|r| r.get());
    let id = id_text.and_then(|r| serde_json::from_str::<String>(r).ok());
    let expected_text = top
        .as_ref()
        .and_then(|t| t.get("expected"))
        .map(|r| r.get())
        .filter(|r| *r != "null");
    // Where the case starts in the file: `text` is a slice of `file` on every path here.
    let start = (text.as_ptr() as usize)
        .checked_sub(file.as_ptr() as usize)
        .filter(|&o| o <= file.len())
        .unwrap_or(0);
    let before = &file.as_bytes()[..start];
    let case_line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let case_col = start
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    let (line, col) = if e.line() <= 1 {
        (case_line, case_col + e.column().saturating_sub(1))
    } else {
        (case_line + e.line() - 1, e.column())
    };
    let msg = e.to_string();
    let cause = msg
        .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
        .unwrap_or(&msg);
    CaseOutcome {
        id: id.unwrap_or_else(|| format!("#{i}")),
        result: Err(CaseError::Invalid(format!(
            "invalid case (case #{i}, starting on line {case_line} of the case file): {cause} at \
             line {line} column {col} of the case file"
        ))),
        expected: expected_text.and_then(|r| serde_json::from_str::<Decision>(r).ok()),
        states_expected: expected_text.is_some(),
    }
}

/// The fuzz body of the case-file reader (cargo-fuzz target `cases_parse`, and a proptest in
/// `tests/spec_fuzz.rs`): any bytes give outcomes or a whole-file error, never a panic; the
/// line of every outcome is one JSON object carrying the case's id.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((outcomes, summary)) = run_all(text) {
        assert_eq!(summary.total, outcomes.len());
        for o in &outcomes {
            let line = o.to_json_line();
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("output line is not JSON ({e}): {line}"));
            assert_eq!(v["id"].as_str(), Some(o.id.as_str()), "{line}");
        }
    }
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
    use serde_json::Map;

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
            .to_string()
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
            out[0].result.as_ref().unwrap_err().to_string(),
            "case file: $[0].resource_policy.Statement[0].Effect: duplicate key 'Effect'"
        );
        assert_eq!(
            out[1].result.as_ref().unwrap().decision,
            Decision::ImplicitDeny
        );
        assert_eq!(summary.errors, 1);
        assert!(run_all("{}")
            .unwrap_err()
            .to_string()
            .contains("JSON array"));
        assert!(run_all("[")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
    }

    /// The Value-based writer `to_json_line` used before it wrote directly: the reference the
    /// direct writer must match byte for byte.
    fn reference_json_line(o: &CaseOutcome) -> String {
        let mut m = Map::new();
        m.insert("id".into(), Value::String(o.id.clone()));
        match &o.result {
            Ok(ev) => {
                m.insert("decision".into(), Value::String(ev.decision.to_string()));
                if let Some(exp) = o.expected {
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
                m.insert("error".into(), Value::String(e.to_string()));
                if let Some(exp) = o.expected {
                    m.insert("expected".into(), Value::String(exp.to_string()));
                }
            }
        }
        Value::Object(m).to_string()
    }

    fn vector_texts() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
        out
    }

    #[test]
    fn json_line_is_what_serde_json_writes() {
        use super::super::{Effect, PolicyKind, StatementRef};
        let tricky = "q\"b\\s/\u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f}é✓ end";
        let ev = Evaluation {
            decision: Decision::ExplicitDeny,
            deciding: vec![
                StatementRef {
                    policy: tricky.into(),
                    kind: PolicyKind::VpcEndpoint,
                    sid: None,
                    index: 12,
                    effect: Effect::Deny,
                },
                StatementRef {
                    policy: "p".into(),
                    kind: PolicyKind::PermissionBoundary,
                    sid: Some(tricky.into()),
                    index: 0,
                    effect: Effect::Allow,
                },
            ],
            reasons: vec![tricky.into(), String::new()],
        };
        let outcomes = [
            CaseOutcome {
                id: tricky.into(),
                result: Ok(ev.clone()),
                expected: None,
                states_expected: false,
            },
            CaseOutcome {
                id: "a".into(),
                result: Ok(ev.clone()),
                expected: Some(Decision::Allowed),
                states_expected: true,
            },
            CaseOutcome {
                id: "b".into(),
                result: Ok(ev),
                expected: Some(Decision::ExplicitDeny),
                states_expected: true,
            },
            CaseOutcome {
                id: "c".into(),
                result: Err(CaseError::Invalid(tricky.into())),
                expected: None,
                states_expected: false,
            },
            CaseOutcome {
                id: "d".into(),
                result: Err(CaseError::Invalid("x".into())),
                expected: Some(Decision::ImplicitDeny),
                states_expected: true,
            },
        ];
        for o in &outcomes {
            assert_eq!(o.to_json_line(), reference_json_line(o));
        }
        // And on every outcome of the project's vectors.
        for (_, text) in vector_texts() {
            for o in run_all(&text).unwrap().0 {
                assert_eq!(o.to_json_line(), reference_json_line(&o));
            }
        }
    }

    #[test]
    fn fast_path_matches_general_path() {
        let mut taken = 0;
        let mut total = 0;
        for (file, text) in vector_texts() {
            let raws: Vec<&serde_json::value::RawValue> = serde_json::from_str(&text).unwrap();
            // One cache for the whole file, so that repeated policies come from it.
            let mut cache = fast::Cache::default();
            for pass in 0..2 {
                for (i, raw) in raws.iter().enumerate() {
                    let general = run_raw_case(i, raw.get(), &text);
                    if let Some(f) = fast::run(&mut cache, raw.get()) {
                        if pass == 0 {
                            taken += 1;
                        }
                        assert_eq!(f.to_json_line(), general.to_json_line(), "{file} #{i}");
                        assert_eq!(f.expected, general.expected, "{file} #{i}");
                    } else {
                        assert!(
                            general.result.is_err(),
                            "{file} #{i}: only failing cases leave the fast path: {}",
                            general.to_json_line()
                        );
                    }
                    total += usize::from(pass == 0);
                }
            }
        }
        assert!(
            taken + 20 >= total,
            "fast path taken for only {taken} of {total} cases"
        );
    }

    #[test]
    fn whole_file_path_matches_split_path() {
        let lines = |r: Result<(Vec<CaseOutcome>, Summary), CasesError>| match r {
            Ok((o, s)) => Ok((
                o.iter().map(CaseOutcome::to_json_line).collect::<Vec<_>>(),
                s,
            )),
            Err(e) => Err(e.to_string()),
        };
        let mut texts: Vec<String> = vector_texts().into_iter().map(|(_, t)| t).collect();
        // Generated files: one case a line, big enough for several threads, with a nested
        // object at the cases' indentation after a comma (a wrong guess must be caught), bad
        // cases among good ones, and broken files.
        let good = r#"{"id":"g","request":{"principal":"arn:aws:iam::111122223333:user/u","principal_account":"111122223333","action":"s3:GetObject","resource":"arn:aws:s3:::b/k","resource_account":"111122223333","context":{"aws:SourceIp":"203.0.113.9"}},"identity_policies":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}]}"#;
        let nested = "{\"id\":\"n\",\"request\":{\"principal\":\"anonymous\",\"action\":\"s3:GetObject\",\n\"resource\":\"*\"},\"tags\":[\"a\",\n{\"x\":1}]}";
        let bad = r#"{"id":"b","request":{"principal":"p","action":"s3:GetObject","resource":"*"},"expected":"Allowed","identity_policies":[{"Statement":[{"Effect":"Allow","Effect":"Deny","Action":"*"}]}]}"#;
        let mut big = String::from("[\n");
        for i in 0..3000 {
            big.push_str(match i % 97 {
                5 => nested,
                11 => bad,
                _ => good,
            });
            big.push_str(if i + 1 < 3000 { ",\n" } else { "\n" });
        }
        big.push_str("]\n");
        texts.push(big.clone());
        texts.push(big.replace("\n]", ",\n]"));
        texts.push(big.replacen(good, "{\"id\":", 1));
        texts.push(format!("{big} x"));
        texts.push(big.replace('\n', "\r\n"));
        texts.push(big.replace('\n', ""));
        for t in ["[]", " [ ] ", "[1]", "[", "{}", "", "[{}]", "[null, 2]"] {
            texts.push(t.to_string());
        }
        for t in &texts {
            assert_eq!(lines(run_all(t)), lines(run_all_split(t)));
        }
        assert!(fast::run_file(&big).is_some());
        // A thread that does not land exactly on the next thread's start drops the result.
        let at = big.find("\n{\"x\"").unwrap() + 1;
        assert!(fast::walk(&big, 2, Some(at)).is_none());
        let next_case = big[3..].find("\n{").unwrap() + 4;
        assert_eq!(
            fast::walk(&big, 2, Some(next_case)).map(|v| v.len()),
            Some(1)
        );
    }

    #[test]
    fn a_case_that_states_expected_never_passes_silently() {
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let req = r#""request":{"principal":"anonymous","action":"s3:GetObject","resource":"*"}"#;
        let text = format!(
            "[\n{{\"id\":\"typo\",{req},\"expected\":\"Allow\"}},\n{{\"id\":\"num\",{req},\"expected\":5}},\n  {{\"id\":\"deep\",{req},\"expected\":\"ImplicitDeny\",\"x\":{deep}}},\n{{\"expected\":\"Allowed\",\"x\":{deep}}},\n{{\"id\":\"none\",\"x\":{deep}}}\n]"
        );
        let (out, summary) = run_all(&text).unwrap();
        assert_eq!(summary.errors, 5, "{out:?}");
        for o in &out[..2] {
            assert!(o.fails_run(), "{o:?}");
            assert!(
                o.result
                    .as_ref()
                    .unwrap_err()
                    .to_string()
                    .contains("not a decision"),
                "{o:?}"
            );
        }
        assert_eq!(out[2].id, "deep");
        assert_eq!(out[2].expected, Some(Decision::ImplicitDeny));
        assert!(out[2].fails_run());
        let e = out[2].result.as_ref().unwrap_err().to_string();
        assert!(
            e.contains("starting on line 4") && e.contains("recursion limit"),
            "{e}"
        );
        assert_eq!(out[3].id, "#3");
        assert!(out[3].fails_run());
        // No `expected`: reported, but does not fail the run (docs/policy-cases.md).
        assert_eq!(out[4].id, "none");
        assert!(out[4].result.is_err() && !out[4].fails_run());
    }

    #[test]
    fn fast_path_refuses_duplicates_and_bad_shapes() {
        let mut cache = fast::Cache::default();
        for bad in [
            r#"{"id":"a","id":"b","request":{"principal":"p","action":"s3:GetObject","resource":"*"}}"#,
            r#"{"id":"a","request":{"principal":"p","action":"s3:GetObject","resource":"*","context":{"k":"1","k":"2"}}}"#,
            r#"{"id":"a","request":{"principal":"p","action":"s3:GetObject","resource":"*"},"scps":[{"target":"r","target":"s"}]}"#,
            r#"{"id":"a","request":{"principal":"p","action":"s3:GetObject","resource":"*"},"scps":[{"target":"r","extra":1}]}"#,
            r#"{"id":"a","request":{"principal":"p","action":"s3:GetObject","resource":"*"},"identity_policies":{}}"#,
            r#"{"id":"a","request":{"principal":"p","action":"s3:GetObject","resource":"*"},"tags":"x"}"#,
            r#"{"id":"a","request":{"principal":"p","action":"s3:GetObject","resource":"*"},"resource_policy":{"Statement":[{"Effect":"Allow","Effect":"Deny","Action":"*"}]}}"#,
        ] {
            assert!(fast::run(&mut cache, bad).is_none(), "{bad}");
            assert!(run_raw_case(0, bad, bad).result.is_err(), "{bad}");
        }
    }

    #[test]
    fn file_shape_errors() {
        assert!(load_cases("{}").is_err());
        assert!(load_cases("[").is_err());
        assert_eq!(load_cases("[]").unwrap().len(), 0);
        let dup = load_cases(
            r#"[{"id":"a","resource_policy":{"Statement":[{"Effect":"Allow","Effect":"Deny"}]}}]"#,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            dup,
            "case file: $[0].resource_policy.Statement[0].Effect: duplicate key 'Effect'"
        );
    }
}
