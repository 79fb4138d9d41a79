//! JSON → [`Policy`], following the IAM JSON policy grammar
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html>):
//! `Statement` is one object or an array; every element that takes values takes a string or an
//! array of strings; `Action`/`NotAction`, `Principal`/`NotPrincipal` and
//! `Resource`/`NotResource` are mutually exclusive pairs
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html>).
//!
//! Every error carries a JSON path so a human can find the line. Duplicate object keys are an
//! error rather than "last one wins": a policy with two `Condition` blocks or two `Action`
//! lists means something different to whoever wrote it than to any JSON parser.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::condition::{compile_values, parse_operator, Condition};
use super::model::{
    AwsTarget, CompiledPrincipal, Effect, Pattern, PatternBlock, Policy, PrincipalBlock,
    PrincipalEntry, Statement, Target,
};
use super::PolicyError;
use crate::arn::{is_account_id, Arn};

/// The two documented language versions; variables exist only in the newer one
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html>).
const V2012: &str = "2012-10-17";
const V2008: &str = "2008-10-17";

impl Policy {
    pub fn parse(name: &str, json: &str) -> Result<Policy, PolicyError> {
        let tree = parse_json(name, json)?;
        compile_policy(name, &tree)
    }

    pub fn from_value(name: &str, v: &Value) -> Result<Policy, PolicyError> {
        compile_policy(name, v)
    }
}

/// A JSON array of policies (`identity_policies`, `vpc_endpoint_policies` of a case), named
/// `field[i]` by position. `null` is the empty list, as in the case format. `None` when the text
/// is not such an array or a policy in it is malformed: the case runner then takes its general
/// path, which reports the problem.
pub(crate) fn policy_list(field: &str, text: &str) -> Option<Vec<Policy>> {
    match parse_json(field, text).ok()? {
        J::Null => Some(Vec::new()),
        J::Arr(items) => items
            .iter()
            .enumerate()
            .map(|(i, p)| compile_policy(&format!("{field}[{i}]"), p).ok())
            .collect(),
        _ => None,
    }
}

/// A JSON array of organization levels (`scps`, `rcps` of a case: `{"target", "policies"}`),
/// policies named `field[i].policies[j]`. `None` on anything the case format does not allow.
pub(crate) fn org_levels(field: &str, text: &str) -> Option<Vec<super::OrgLevel>> {
    let items = match parse_json(field, text).ok()? {
        J::Null => return Some(Vec::new()),
        J::Arr(items) => items,
        _ => return None,
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, level) in items.iter().enumerate() {
        let (mut target, mut policies) = (None, Vec::new());
        for (k, v) in level.entries()? {
            match (k, v) {
                ("target", J::Str(t)) => target = Some(t.to_string()),
                ("policies", J::Null) => {}
                ("policies", J::Arr(ps)) => {
                    for (j, p) in ps.iter().enumerate() {
                        policies
                            .push(compile_policy(&format!("{field}[{i}].policies[{j}]"), p).ok()?);
                    }
                }
                _ => return None,
            }
        }
        out.push(super::OrgLevel {
            target: target?,
            policies,
        });
    }
    Some(out)
}

fn err(policy: &str, path: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        policy: policy.to_string(),
        path: path.into(),
        message: message.into(),
    }
}

/// Appends an object key to a JSON path, quoting keys that are not plain identifiers
/// (`aws:SourceIp`, `ForAnyValue:StringLike`).
pub(crate) fn child(path: &str, key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("{path}.{key}")
    } else {
        format!("{path}['{}']", key.replace('\'', "\\'"))
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

// ---------------------------------------------------------------------------------------
// JSON paths, rendered only when an error needs one.

/// A JSON path as a chain of stack frames, so that the success path allocates nothing.
#[derive(Clone, Copy)]
pub(crate) enum P<'a> {
    Root,
    Key(&'a P<'a>, &'a str),
    Idx(&'a P<'a>, usize),
}

impl P<'_> {
    pub(crate) fn render(&self) -> String {
        match self {
            P::Root => "$".to_string(),
            P::Key(parent, k) => child(&parent.render(), k),
            P::Idx(parent, i) => index(&parent.render(), *i),
        }
    }
}

// ---------------------------------------------------------------------------------------
// A read-only view shared by `serde_json::Value` and the borrowed tree built from text.

pub(crate) trait Node: Sized {
    type Entries<'a>: Iterator<Item = (&'a str, &'a Self)>
    where
        Self: 'a;
    fn as_str(&self) -> Option<&str>;
    fn as_arr(&self) -> Option<&[Self]>;
    fn entries(&self) -> Option<Self::Entries<'_>>;
    fn obj_is_empty(&self) -> bool;
    /// Strings as they are; numbers and booleans as their JSON text.
    fn scalar(&self) -> Option<Cow<'_, str>>;
}

type ValueEntry<'a> = (&'a String, &'a Value);

impl Node for Value {
    type Entries<'a> =
        std::iter::Map<serde_json::map::Iter<'a>, fn(ValueEntry<'a>) -> (&'a str, &'a Value)>;
    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }
    fn as_arr(&self) -> Option<&[Value]> {
        self.as_array().map(Vec::as_slice)
    }
    fn entries<'a>(&'a self) -> Option<Self::Entries<'a>> {
        fn f<'a>((k, v): ValueEntry<'a>) -> (&'a str, &'a Value) {
            (k.as_str(), v)
        }
        let f: fn(ValueEntry<'a>) -> (&'a str, &'a Value) = f;
        self.as_object().map(|m| m.iter().map(f))
    }
    fn obj_is_empty(&self) -> bool {
        self.as_object().is_some_and(|m| m.is_empty())
    }
    fn scalar(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::String(s) => Some(Cow::Borrowed(s)),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }
}

/// JSON parsed from text with strings borrowed where possible and objects kept as short
/// vectors: policies are small, so this beats building a `serde_json::Value` (hash maps and
/// owned strings) that would be thrown away right after compiling.
#[derive(Debug)]
pub(crate) enum J<'s> {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(Cow<'s, str>),
    Arr(Vec<J<'s>>),
    Obj(Vec<(Cow<'s, str>, J<'s>)>),
}

type JEntry<'a, 's> = &'a (Cow<'s, str>, J<'s>);

impl<'s> Node for J<'s> {
    type Entries<'a>
        = std::iter::Map<
        std::slice::Iter<'a, (Cow<'s, str>, J<'s>)>,
        fn(JEntry<'a, 's>) -> (&'a str, &'a J<'s>),
    >
    where
        Self: 'a;
    fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }
    fn as_arr(&self) -> Option<&[J<'s>]> {
        match self {
            J::Arr(a) => Some(a),
            _ => None,
        }
    }
    fn entries<'a>(&'a self) -> Option<Self::Entries<'a>> {
        fn f<'a, 's>(e: JEntry<'a, 's>) -> (&'a str, &'a J<'s>) {
            (&e.0, &e.1)
        }
        let f: fn(JEntry<'a, 's>) -> (&'a str, &'a J<'s>) = f;
        match self {
            J::Obj(o) => Some(o.iter().map(f)),
            _ => None,
        }
    }
    fn obj_is_empty(&self) -> bool {
        matches!(self, J::Obj(o) if o.is_empty())
    }
    fn scalar(&self) -> Option<Cow<'_, str>> {
        match self {
            J::Str(s) => Some(Cow::Borrowed(s)),
            J::Num(n) => Some(Cow::Owned(n.to_string())),
            J::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// JSON text → tree, rejecting duplicate keys.

const DUP_MARK: &str = "\u{1}dup\u{1}";

/// Parses JSON text; on a duplicate key, parses again with path tracking to say where.
/// The first pass builds no paths, so well-formed input pays nothing for the check.
pub(crate) fn parse_json<'s>(policy: &str, json: &'s str) -> Result<J<'s>, PolicyError> {
    match parse_with(json, None) {
        Ok(v) => Ok(v),
        Err(e) if e.to_string().contains(DUP_MARK) => match parse_with(json, Some("$")) {
            Err(e2) => {
                let text = e2.to_string();
                let rest = text.split(DUP_MARK).nth(1).unwrap_or("");
                let mut it = rest.splitn(2, '\u{1}');
                let path = it.next().unwrap_or("$").to_string();
                let key = it.next().unwrap_or("");
                let key = key.split(" at line").next().unwrap_or("").to_string();
                Err(err(policy, path, format!("duplicate key '{key}'")))
            }
            Ok(_) => Err(err(policy, "$", "duplicate key")),
        },
        Err(e) => Err(err(policy, "$", format!("invalid JSON: {e}"))),
    }
}

fn parse_with<'s>(json: &'s str, path: Option<&str>) -> Result<J<'s>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    let v = Seed { path }.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct Seed<'p> {
    path: Option<&'p str>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = J<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<J<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

/// Object keys, borrowed from the input when they contain no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = J<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<J<'de>, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J<'de>, E> {
        Ok(J::Num(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J<'de>, E> {
        Ok(J::Num(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<J<'de>, E> {
        Ok(serde_json::Number::from_f64(v).map_or(J::Null, J::Num))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }
    fn visit_none<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<J<'de>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
        let mut out = Vec::new();
        let mut i = 0usize;
        loop {
            let p = self.path.map(|p| index(p, i));
            match seq.next_element_seed(Seed { path: p.as_deref() })? {
                Some(v) => out.push(v),
                None => break,
            }
            i += 1;
        }
        Ok(J::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
        let mut out: Vec<(Cow<'de, str>, J<'de>)> = Vec::new();
        // Objects in policies are small; a set only for the rare large (hostile) one keeps
        // duplicate detection linear.
        let mut big: Option<std::collections::HashSet<String>> = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let dup = match &mut big {
                Some(set) => !set.insert(key.to_string()),
                None => {
                    let d = out.iter().any(|(k, _)| *k == key);
                    if out.len() >= 32 {
                        let mut set: std::collections::HashSet<String> =
                            out.iter().map(|(k, _)| k.to_string()).collect();
                        set.insert(key.to_string());
                        big = Some(set);
                    }
                    d
                }
            };
            let p = self.path.map(|p| child(p, &key));
            if dup {
                return Err(de::Error::custom(format!(
                    "{DUP_MARK}{}\u{1}{key}",
                    p.as_deref().unwrap_or("$")
                )));
            }
            let v = map.next_value_seed(Seed { path: p.as_deref() })?;
            out.push((key, v));
        }
        Ok(J::Obj(out))
    }
}

// ---------------------------------------------------------------------------------------
// Tree → Policy

fn compile_policy<N: Node>(name: &str, v: &N) -> Result<Policy, PolicyError> {
    let root = P::Root;
    let obj = v
        .entries()
        .ok_or_else(|| err(name, "$", "a policy must be a JSON object"))?;
    let mut version = None;
    let mut id = None;
    let mut statement = None;
    for (k, val) in obj {
        match k {
            "Version" => {
                let s = val
                    .as_str()
                    .ok_or_else(|| err(name, "$.Version", "Version must be a string"))?;
                if s != V2012 && s != V2008 {
                    return Err(err(
                        name,
                        "$.Version",
                        format!(
                            "unknown policy language version '{s}' (expected {V2012} or {V2008})"
                        ),
                    ));
                }
                version = Some(s.to_string());
            }
            "Id" => {
                id = Some(
                    val.as_str()
                        .ok_or_else(|| err(name, "$.Id", "Id must be a string"))?
                        .to_string(),
                )
            }
            "Statement" => statement = Some(val),
            other => {
                return Err(err(
                    name,
                    child("$", other),
                    format!("unknown policy element '{other}'"),
                ))
            }
        }
    }
    let variables = version.as_deref() == Some(V2012);
    let statement = statement.ok_or_else(|| err(name, "$", "missing Statement"))?;
    let sp = P::Key(&root, "Statement");
    let statements = if let Some(items) = statement.as_arr() {
        let mut out = Vec::with_capacity(items.len());
        for (i, s) in items.iter().enumerate() {
            out.push(compile_statement(name, &P::Idx(&sp, i), i, s, variables)?);
        }
        out
    } else if statement.entries().is_some() {
        vec![compile_statement(name, &sp, 0, statement, variables)?]
    } else {
        return Err(err(
            name,
            "$.Statement",
            "Statement must be an object or an array of objects",
        ));
    };
    Ok(Policy {
        name: name.to_string(),
        version,
        id,
        variables,
        statements,
    })
}

fn compile_statement<N: Node>(
    name: &str,
    path: &P,
    idx: usize,
    v: &N,
    variables: bool,
) -> Result<Statement, PolicyError> {
    let obj = v
        .entries()
        .ok_or_else(|| err(name, path.render(), "a statement must be a JSON object"))?;
    let mut sid = None;
    let mut effect = None;
    let mut principal: Option<(bool, &N)> = None;
    let mut action: Option<(bool, &N)> = None;
    let mut resource: Option<(bool, &N)> = None;
    let mut condition = None;
    for (k, val) in obj {
        let kp = || P::Key(path, k).render();
        match k {
            "Sid" => {
                sid = Some(
                    val.as_str()
                        .ok_or_else(|| err(name, kp(), "Sid must be a string"))?
                        .to_string(),
                )
            }
            "Effect" => {
                effect = Some(match val.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => return Err(err(name, kp(), "Effect must be \"Allow\" or \"Deny\"")),
                })
            }
            "Principal" | "NotPrincipal" => {
                if principal.is_some() {
                    return Err(err(
                        name,
                        kp(),
                        "Principal and NotPrincipal cannot both appear in one statement",
                    ));
                }
                principal = Some((k == "NotPrincipal", val));
            }
            "Action" | "NotAction" => {
                if action.is_some() {
                    return Err(err(
                        name,
                        kp(),
                        "Action and NotAction cannot both appear in one statement",
                    ));
                }
                action = Some((k == "NotAction", val));
            }
            "Resource" | "NotResource" => {
                if resource.is_some() {
                    return Err(err(
                        name,
                        kp(),
                        "Resource and NotResource cannot both appear in one statement",
                    ));
                }
                resource = Some((k == "NotResource", val));
            }
            "Condition" => condition = Some(val),
            other => {
                return Err(err(
                    name,
                    kp(),
                    format!("unknown statement element '{other}'"),
                ))
            }
        }
    }
    let effect = effect.ok_or_else(|| err(name, path.render(), "missing Effect"))?;
    let (negated, action_val) =
        action.ok_or_else(|| err(name, path.render(), "missing Action or NotAction"))?;
    let action_path = P::Key(path, if negated { "NotAction" } else { "Action" });
    let mut patterns = Vec::new();
    for_each_string(name, &action_path, action_val, |i, a| {
        if a != "*" && !valid_action(a) {
            return Err(err(
                name,
                P::Idx(&action_path, i).render(),
                format!("'{a}' is not an action (expected \"service:Action\" or \"*\")"),
            ));
        }
        // Actions never take policy variables.
        patterns.push(Pattern::compile(a, true, false));
        Ok(())
    })?;
    let action = PatternBlock { negated, patterns };

    let resource = match resource {
        None => None,
        Some((neg, rv)) => {
            let rp = P::Key(path, if neg { "NotResource" } else { "Resource" });
            let mut patterns = Vec::new();
            for_each_string(name, &rp, rv, |_, r| {
                patterns.push(Pattern::compile(r, false, variables));
                Ok(())
            })?;
            Some(PatternBlock {
                negated: neg,
                patterns,
            })
        }
    };

    let principal = match principal {
        None => None,
        Some((neg, pv)) => Some(compile_principal(
            name,
            &P::Key(path, if neg { "NotPrincipal" } else { "Principal" }),
            neg,
            pv,
        )?),
    };

    let conditions = match condition {
        None => Vec::new(),
        Some(c) => compile_conditions(name, &P::Key(path, "Condition"), c, variables)?,
    };

    Ok(Statement {
        index: idx,
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn valid_action(a: &str) -> bool {
    match a.split_once(':') {
        Some((svc, act)) => {
            !svc.is_empty()
                && !act.is_empty()
                && svc
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*' || c == '?')
        }
        None => false,
    }
}

/// Calls `f` for a string or each item of a non-empty array of strings.
fn for_each_string<N: Node>(
    name: &str,
    path: &P,
    v: &N,
    mut f: impl FnMut(usize, &str) -> Result<(), PolicyError>,
) -> Result<(), PolicyError> {
    if let Some(s) = v.as_str() {
        return f(0, s);
    }
    match v.as_arr() {
        Some([]) => Err(err(name, path.render(), "must not be an empty list")),
        Some(items) => {
            for (i, it) in items.iter().enumerate() {
                let s = it
                    .as_str()
                    .ok_or_else(|| err(name, P::Idx(path, i).render(), "must be a string"))?;
                f(i, s)?;
            }
            Ok(())
        }
        None => Err(err(
            name,
            path.render(),
            "must be a string or an array of strings",
        )),
    }
}

fn compile_principal<N: Node>(
    name: &str,
    path: &P,
    negated: bool,
    v: &N,
) -> Result<PrincipalBlock, PolicyError> {
    if v.as_str() == Some("*") {
        return Ok(PrincipalBlock {
            negated,
            star_string: true,
            entries: vec![CompiledPrincipal {
                entry: PrincipalEntry::Any,
                target: Target::Aws(AwsTarget::Any),
            }],
        });
    }
    let Some(map) = v.entries() else {
        return Err(err(
            name,
            path.render(),
            "must be \"*\" or an object such as {\"AWS\": [...]}",
        ));
    };
    if v.obj_is_empty() {
        return Err(err(name, path.render(), "must name at least one principal"));
    }
    let mut entries = Vec::new();
    for (k, val) in map {
        let kp = P::Key(path, k);
        if !matches!(k, "AWS" | "Service" | "Federated" | "CanonicalUser") {
            return Err(err(
                name,
                kp.render(),
                format!(
                    "unknown principal type '{k}' (expected AWS, Service, Federated or CanonicalUser)"
                ),
            ));
        }
        for_each_string(name, &kp, val, |i, s| {
            if s.is_empty() {
                return Err(err(name, P::Idx(&kp, i).render(), "empty principal"));
            }
            let s = s.to_string();
            entries.push(match k {
                "AWS" => compile_aws_principal(s),
                "Service" => CompiledPrincipal {
                    target: Target::Service(s.to_ascii_lowercase()),
                    entry: PrincipalEntry::Service(s),
                },
                "Federated" => CompiledPrincipal {
                    target: Target::Federated(s.clone()),
                    entry: PrincipalEntry::Federated(s),
                },
                _ => CompiledPrincipal {
                    target: Target::CanonicalUser(s.clone()),
                    entry: PrincipalEntry::CanonicalUser(s),
                },
            });
            Ok(())
        })?;
    }
    Ok(PrincipalBlock {
        negated,
        star_string: false,
        entries,
    })
}

/// Classifies an `AWS` principal. The account forms are equivalent: "The account ARN and the
/// shortened account ID behave the same way. Both delegate permissions to the account"
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>).
fn compile_aws_principal(s: String) -> CompiledPrincipal {
    let target = if s == "*" {
        AwsTarget::Any
    } else if is_account_id(&s) {
        AwsTarget::Account(s.clone())
    } else if s.contains(['*', '?']) {
        AwsTarget::Wildcard
    } else {
        classify_arn(&s)
    };
    let entry = match &target {
        AwsTarget::Any => PrincipalEntry::Any,
        AwsTarget::Account(_) => PrincipalEntry::Account(s),
        _ => PrincipalEntry::Arn(s),
    };
    CompiledPrincipal {
        entry,
        target: Target::Aws(target),
    }
}

fn classify_arn(s: &str) -> AwsTarget {
    let Some(Arn {
        service,
        account,
        resource: res,
        ..
    }) = Arn::split(s)
    else {
        return AwsTarget::Other(s.to_string());
    };
    match service {
        "iam" if res == "root" && is_account_id(account) => AwsTarget::Account(account.to_string()),
        "iam" if res.starts_with("user/") => AwsTarget::User(s.to_string()),
        "iam" if res.starts_with("role/") => {
            let name = res.rsplit('/').next().unwrap_or("").to_string();
            AwsTarget::Role {
                arn: s.to_string(),
                account: account.to_string(),
                name,
            }
        }
        "sts" if res.starts_with("assumed-role/") => AwsTarget::Session(s.to_string()),
        "sts" if res.starts_with("federated-user/") => AwsTarget::FederatedUser(s.to_string()),
        _ => AwsTarget::Other(s.to_string()),
    }
}

fn compile_conditions<N: Node>(
    name: &str,
    path: &P,
    v: &N,
    variables: bool,
) -> Result<Vec<Condition>, PolicyError> {
    let ops = v.entries().ok_or_else(|| {
        err(
            name,
            path.render(),
            "Condition must be an object of operators",
        )
    })?;
    let mut out = Vec::new();
    for (op, keys) in ops {
        let op_path = P::Key(path, op);
        let (qualifier, kind, negated, if_exists) = parse_operator(op).ok_or_else(|| {
            err(
                name,
                op_path.render(),
                format!("unknown condition operator '{op}'"),
            )
        })?;
        let key_entries = keys.entries().ok_or_else(|| {
            err(
                name,
                op_path.render(),
                "a condition operator must map keys to values",
            )
        })?;
        if keys.obj_is_empty() {
            return Err(err(
                name,
                op_path.render(),
                "a condition operator needs at least one key",
            ));
        }
        for (key, vals) in key_entries {
            let key_path = P::Key(&op_path, key);
            let raw = condition_values(name, &key_path, vals)?;
            let values = compile_values(kind, &raw, variables)
                .map_err(|(i, m)| err(name, P::Idx(&key_path, i).render(), m))?;
            out.push(Condition {
                operator: op.to_string(),
                key: key.to_string(),
                key_lc: key.to_lowercase(),
                qualifier,
                kind,
                negated,
                if_exists,
                raw_values: raw,
                values,
            });
        }
    }
    Ok(out)
}

/// Condition values may be JSON strings, numbers or booleans (AWS examples write
/// `"aws:SecureTransport": false` and `"s3:max-keys": 10`), alone or in a non-empty array.
fn condition_values<N: Node>(name: &str, path: &P, v: &N) -> Result<Vec<String>, PolicyError> {
    let one = |v: &N, p: &P| {
        v.scalar().map(Cow::into_owned).ok_or_else(|| {
            err(
                name,
                p.render(),
                "condition values must be strings, numbers or booleans",
            )
        })
    };
    match v.as_arr() {
        Some([]) => Err(err(
            name,
            path.render(),
            "a condition key needs at least one value",
        )),
        Some(items) => items
            .iter()
            .enumerate()
            .map(|(i, it)| one(it, &P::Idx(path, i)))
            .collect(),
        None => Ok(vec![one(v, path)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(json: &str) -> PolicyError {
        Policy::parse("p", json).expect_err("should fail")
    }

    #[test]
    fn error_display_names_policy_and_path() {
        let x = e(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"a":"b"}}}]}"#,
        );
        assert_eq!(x.path, "$.Statement[1].Condition.StringEqualz");
        assert_eq!(
            x.to_string(),
            "policy 'p': $.Statement[1].Condition.StringEqualz: unknown condition operator 'StringEqualz'"
        );
    }

    #[test]
    fn invalid_json() {
        let x = e("{");
        assert_eq!(x.path, "$");
        assert!(x.message.starts_with("invalid JSON"));
    }

    #[test]
    fn not_an_object() {
        assert_eq!(e("[]").path, "$");
        assert_eq!(e(r#"{"Statement":5}"#).path, "$.Statement");
        assert_eq!(e(r#"{"Statement":[1]}"#).path, "$.Statement[0]");
    }

    #[test]
    fn missing_pieces() {
        assert_eq!(
            e(r#"{"Version":"2012-10-17"}"#).message,
            "missing Statement"
        );
        let x = e(r#"{"Statement":{"Action":"s3:*"}}"#);
        assert_eq!(
            (x.path.as_str(), x.message.as_str()),
            ("$.Statement", "missing Effect")
        );
        let x = e(r#"{"Statement":[{"Effect":"Allow"}]}"#);
        assert_eq!(x.path, "$.Statement[0]");
        assert_eq!(x.message, "missing Action or NotAction");
    }

    #[test]
    fn bad_effect_and_version() {
        assert_eq!(
            e(r#"{"Statement":[{"Effect":"allow","Action":"*"}]}"#).path,
            "$.Statement[0].Effect"
        );
        assert_eq!(
            e(r#"{"Version":"2012-10-18","Statement":[]}"#).path,
            "$.Version"
        );
    }

    #[test]
    fn exclusive_pairs() {
        let x = e(r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"s3:*"}]}"#);
        assert_eq!(x.path, "$.Statement[0].NotAction");
        let x = e(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"x"}]}"#,
        );
        assert_eq!(x.path, "$.Statement[0].NotResource");
        let x = e(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Principal":"*","NotPrincipal":{"AWS":"1"}}]}"#,
        );
        assert_eq!(x.path, "$.Statement[0].NotPrincipal");
    }

    #[test]
    fn bad_element_shapes() {
        assert_eq!(
            e(r#"{"Statement":[{"Effect":"Allow","Action":["s3:GetObject",7]}]}"#).path,
            "$.Statement[0].Action[1]"
        );
        assert_eq!(
            e(r#"{"Statement":[{"Effect":"Allow","Action":[]}]}"#).path,
            "$.Statement[0].Action"
        );
        assert_eq!(
            e(r#"{"Statement":[{"Effect":"Allow","Action":"GetObject"}]}"#).path,
            "$.Statement[0].Action[0]"
        );
        assert_eq!(
            e(r#"{"Statement":[{"Effect":"Allow","Action":"*","Principal":"me"}]}"#).path,
            "$.Statement[0].Principal"
        );
        assert_eq!(
            e(r#"{"Statement":[{"Effect":"Allow","Action":"*","Principal":{"User":"x"}}]}"#).path,
            "$.Statement[0].Principal.User"
        );
        assert_eq!(
            e(r#"{"Statement":[{"Effect":"Allow","Action":"*","Bogus":1}]}"#).path,
            "$.Statement[0].Bogus"
        );
        assert_eq!(e(r#"{"Statement":[],"Extra":1}"#).path, "$.Extra");
    }

    #[test]
    fn bad_condition_values_are_located() {
        let x = e(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","nope"]}}}]}"#,
        );
        assert_eq!(
            x.path,
            "$.Statement[0].Condition.IpAddress['aws:SourceIp'][1]"
        );
        let x = e(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}}]}"#,
        );
        assert_eq!(
            x.path,
            "$.Statement[0].Condition.NumericLessThan['s3:max-keys'][0]"
        );
        let x = e(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"soon"}}}]}"#,
        );
        assert_eq!(
            x.path,
            "$.Statement[0].Condition.DateLessThan['aws:CurrentTime'][0]"
        );
        let x = e(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"StringEquals":{"a":{"b":1}}}}]}"#,
        );
        assert_eq!(x.path, "$.Statement[0].Condition.StringEquals.a");
        let x = e(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"NullIfExists":{"a":"true"}}}]}"#,
        );
        assert_eq!(x.path, "$.Statement[0].Condition.NullIfExists");
        let x = e(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":[]}}}]}"#,
        );
        assert_eq!(
            x.path,
            "$.Statement[0].Condition['ForAnyValue:StringLike']['aws:TagKeys']"
        );
        let x = e(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"BinaryEquals":{"k":"%%%"}}}]}"#,
        );
        assert_eq!(x.path, "$.Statement[0].Condition.BinaryEquals.k[0]");
    }

    #[test]
    fn duplicate_keys_are_rejected_with_their_path() {
        let x = e(r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Action":"s3:*"}]}"#);
        assert_eq!(x.path, "$.Statement[0].Action");
        assert_eq!(x.message, "duplicate key 'Action'");
        let x = e(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"Bool":{"aws:SecureTransport":"true","aws:SecureTransport":"false"}}}}"#,
        );
        assert_eq!(x.path, "$.Statement.Condition.Bool['aws:SecureTransport']");
    }

    #[test]
    fn statement_object_or_array_and_scalars() {
        let p = Policy::parse(
            "p",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"s3:max-keys":10}}}}"#,
        )
        .unwrap();
        assert_eq!(p.statements().len(), 1);
        assert_eq!(p.statements()[0].effect(), Effect::Deny);
        let again = Policy::from_value("p", &p.to_value()).unwrap();
        assert_eq!(again.to_value(), p.to_value());
    }
}
