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

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::condition::{compile_values, parse_operator, Condition};
use super::model::{
    AwsTarget, CompiledPrincipal, Effect, Pattern, PatternBlock, Policy, PrincipalBlock,
    PrincipalEntry, Statement, Target,
};
use super::PolicyError;

/// The two documented language versions; variables exist only in the newer one
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html>).
const V2012: &str = "2012-10-17";
const V2008: &str = "2008-10-17";

impl Policy {
    pub fn parse(name: &str, json: &str) -> Result<Policy, PolicyError> {
        let value = parse_json(name, json)?;
        Policy::from_value(name, &value)
    }

    pub fn from_value(name: &str, v: &Value) -> Result<Policy, PolicyError> {
        compile_policy(name, v)
    }
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
// JSON text → Value, rejecting duplicate keys.

const DUP_MARK: &str = "\u{1}dup\u{1}";

/// Parses JSON text; on a duplicate key, parses again with path tracking to say where.
/// The first pass builds no paths, so well-formed input pays nothing for the check.
pub(crate) fn parse_json(policy: &str, json: &str) -> Result<Value, PolicyError> {
    match parse_with(json, None) {
        Ok(v) => Ok(v),
        Err(e) if e.to_string().contains(DUP_MARK) => match parse_with(json, Some("$")) {
            Err(e2) => {
                let text = e2.to_string();
                let rest = text.split(DUP_MARK).nth(1).unwrap_or("");
                let mut it = rest.splitn(2, '\u{1}');
                let path = it.next().unwrap_or("$").to_string();
                let key = it.next().unwrap_or("").to_string();
                let key = key.split(" at line").next().unwrap_or("").to_string();
                Err(err(policy, path, format!("duplicate key '{key}'")))
            }
            Ok(_) => Err(err(policy, "$", "duplicate key")),
        },
        Err(e) => Err(err(policy, "$", format!("invalid JSON: {e}"))),
    }
}

fn parse_with(json: &str, path: Option<&str>) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    let v = Seed { path }.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct Seed<'p> {
    path: Option<&'p str>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
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
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let p = self.path.map(|p| child(p, &key));
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "{DUP_MARK}{}\u{1}{key}",
                    p.as_deref().unwrap_or("$")
                )));
            }
            let v = map.next_value_seed(Seed { path: p.as_deref() })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

// ---------------------------------------------------------------------------------------
// Value → Policy

fn compile_policy(name: &str, v: &Value) -> Result<Policy, PolicyError> {
    let obj = v
        .as_object()
        .ok_or_else(|| err(name, "$", "a policy must be a JSON object"))?;
    let mut version = None;
    let mut id = None;
    let mut statement = None;
    for (k, val) in obj {
        match k.as_str() {
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
    let statements = match statement {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, s)| compile_statement(name, &index("$.Statement", i), i, s, variables))
            .collect::<Result<Vec<_>, _>>()?,
        Value::Object(_) => vec![compile_statement(
            name,
            "$.Statement",
            0,
            statement,
            variables,
        )?],
        _ => {
            return Err(err(
                name,
                "$.Statement",
                "Statement must be an object or an array of objects",
            ))
        }
    };
    Ok(Policy {
        name: name.to_string(),
        version,
        id,
        variables,
        statements,
    })
}

fn compile_statement(
    name: &str,
    path: &str,
    idx: usize,
    v: &Value,
    variables: bool,
) -> Result<Statement, PolicyError> {
    let obj = v
        .as_object()
        .ok_or_else(|| err(name, path, "a statement must be a JSON object"))?;
    let mut sid = None;
    let mut effect = None;
    let mut principal: Option<(bool, &Value)> = None;
    let mut action: Option<(bool, &Value)> = None;
    let mut resource: Option<(bool, &Value)> = None;
    let mut condition = None;
    for (k, val) in obj {
        let kp = child(path, k);
        match k.as_str() {
            "Sid" => {
                sid = Some(
                    val.as_str()
                        .ok_or_else(|| err(name, &kp, "Sid must be a string"))?
                        .to_string(),
                )
            }
            "Effect" => {
                effect = Some(match val.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => return Err(err(name, &kp, "Effect must be \"Allow\" or \"Deny\"")),
                })
            }
            "Principal" | "NotPrincipal" => {
                if principal.is_some() {
                    return Err(err(
                        name,
                        &kp,
                        "Principal and NotPrincipal cannot both appear in one statement",
                    ));
                }
                principal = Some((k == "NotPrincipal", val));
            }
            "Action" | "NotAction" => {
                if action.is_some() {
                    return Err(err(
                        name,
                        &kp,
                        "Action and NotAction cannot both appear in one statement",
                    ));
                }
                action = Some((k == "NotAction", val));
            }
            "Resource" | "NotResource" => {
                if resource.is_some() {
                    return Err(err(
                        name,
                        &kp,
                        "Resource and NotResource cannot both appear in one statement",
                    ));
                }
                resource = Some((k == "NotResource", val));
            }
            "Condition" => condition = Some(val),
            other => {
                return Err(err(
                    name,
                    &kp,
                    format!("unknown statement element '{other}'"),
                ))
            }
        }
    }
    let effect = effect.ok_or_else(|| err(name, path, "missing Effect"))?;
    let (negated, action_val) =
        action.ok_or_else(|| err(name, path, "missing Action or NotAction"))?;
    let action_path = child(path, if negated { "NotAction" } else { "Action" });
    let action_strings = string_list(name, &action_path, action_val)?;
    let mut patterns = Vec::with_capacity(action_strings.len());
    for (i, a) in action_strings.iter().enumerate() {
        if a != "*" && !valid_action(a) {
            return Err(err(
                name,
                index(&action_path, i),
                format!("'{a}' is not an action (expected \"service:Action\" or \"*\")"),
            ));
        }
        // Actions never take policy variables.
        patterns.push(Pattern::compile(a, true, false));
    }
    let action = PatternBlock { negated, patterns };

    let resource = match resource {
        None => None,
        Some((neg, rv)) => {
            let rp = child(path, if neg { "NotResource" } else { "Resource" });
            let items = string_list(name, &rp, rv)?;
            Some(PatternBlock {
                negated: neg,
                patterns: items
                    .iter()
                    .map(|r| Pattern::compile(r, false, variables))
                    .collect(),
            })
        }
    };

    let principal = match principal {
        None => None,
        Some((neg, pv)) => Some(compile_principal(
            name,
            &child(path, if neg { "NotPrincipal" } else { "Principal" }),
            neg,
            pv,
        )?),
    };

    let conditions = match condition {
        None => Vec::new(),
        Some(c) => compile_conditions(name, &child(path, "Condition"), c, variables)?,
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

/// A string or a non-empty array of strings.
fn string_list(name: &str, path: &str, v: &Value) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(err(name, path, "must not be an empty list"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, it)| {
                    it.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| err(name, index(path, i), "must be a string"))
                })
                .collect()
        }
        _ => Err(err(name, path, "must be a string or an array of strings")),
    }
}

fn compile_principal(
    name: &str,
    path: &str,
    negated: bool,
    v: &Value,
) -> Result<PrincipalBlock, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(PrincipalBlock {
            negated,
            star_string: true,
            entries: vec![CompiledPrincipal {
                entry: PrincipalEntry::Any,
                target: Target::Aws(AwsTarget::Any),
            }],
        }),
        Value::Object(map) => {
            if map.is_empty() {
                return Err(err(name, path, "must name at least one principal"));
            }
            let mut entries = Vec::new();
            for (k, val) in map {
                let kp = child(path, k);
                let items = string_list(name, &kp, val)?;
                for (i, s) in items.into_iter().enumerate() {
                    let ip = index(&kp, i);
                    if s.is_empty() {
                        return Err(err(name, ip, "empty principal"));
                    }
                    let compiled = match k.as_str() {
                        "AWS" => compile_aws_principal(s),
                        "Service" => CompiledPrincipal {
                            target: Target::Service(s.to_ascii_lowercase()),
                            entry: PrincipalEntry::Service(s),
                        },
                        "Federated" => CompiledPrincipal {
                            target: Target::Federated(s.clone()),
                            entry: PrincipalEntry::Federated(s),
                        },
                        "CanonicalUser" => CompiledPrincipal {
                            target: Target::CanonicalUser(s.clone()),
                            entry: PrincipalEntry::CanonicalUser(s),
                        },
                        other => {
                            return Err(err(
                                name,
                                kp,
                                format!(
                                    "unknown principal type '{other}' (expected AWS, Service, Federated or CanonicalUser)"
                                ),
                            ))
                        }
                    };
                    entries.push(compiled);
                }
            }
            Ok(PrincipalBlock {
                negated,
                star_string: false,
                entries,
            })
        }
        _ => Err(err(
            name,
            path,
            "must be \"*\" or an object such as {\"AWS\": [...]}",
        )),
    }
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

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn classify_arn(s: &str) -> AwsTarget {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return AwsTarget::Other(s.to_string());
    }
    let (service, account, res) = (parts[2], parts[4], parts[5]);
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

fn compile_conditions(
    name: &str,
    path: &str,
    v: &Value,
    variables: bool,
) -> Result<Vec<Condition>, PolicyError> {
    let ops = v
        .as_object()
        .ok_or_else(|| err(name, path, "Condition must be an object of operators"))?;
    let mut out = Vec::new();
    for (op, keys) in ops {
        let op_path = child(path, op);
        let (qualifier, kind, negated, if_exists) = parse_operator(op)
            .ok_or_else(|| err(name, &op_path, format!("unknown condition operator '{op}'")))?;
        let keys = keys.as_object().ok_or_else(|| {
            err(
                name,
                &op_path,
                "a condition operator must map keys to values",
            )
        })?;
        if keys.is_empty() {
            return Err(err(
                name,
                &op_path,
                "a condition operator needs at least one key",
            ));
        }
        for (key, vals) in keys {
            let key_path = child(&op_path, key);
            let raw = condition_values(name, &key_path, vals)?;
            let values = compile_values(kind, &raw, variables)
                .map_err(|(i, m)| err(name, index(&key_path, i), m))?;
            out.push(Condition {
                operator: op.clone(),
                key: key.clone(),
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
fn condition_values(name: &str, path: &str, v: &Value) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value, p: &str| {
        super::scalar_to_string(v).ok_or_else(|| {
            err(
                name,
                p,
                "condition values must be strings, numbers or booleans",
            )
        })
    };
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(err(name, path, "a condition key needs at least one value"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, it)| one(it, &index(path, i)))
                .collect()
        }
        other => Ok(vec![one(other, path)?]),
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
