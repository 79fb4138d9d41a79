//! Pure AWS IAM policy evaluation: parsing, the request model, and the decision.
//!
//! Nothing here talks to AWS. The evaluator is the project's oracle for "who may do what",
//! because the AWS emulator used in tests does not evaluate bucket policies at all
//! (see `tests/harness/MOTO.md`), so every semantic below is taken from the AWS documentation and
//! cited where it decided something.
//!
//! Layout: [`parse`] turns JSON into the compiled [`model`]; [`condition`] and [`variables`]
//! implement the `Condition` element; [`eval`] makes the decision; [`public`] answers the
//! S3 Block Public Access question and lists grants; [`cases`] runs the case-file format of
//! `replaudit simulate --cases`.

pub mod caller;
pub mod cases;
pub mod condition;
pub mod eval;
pub mod explain;
pub mod fuzzing;
pub mod model;
pub mod parse;
pub mod pattern;
pub mod public;
pub mod s3;
pub mod variables;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use eval::evaluate;
pub use model::{Effect, Policy, PrincipalEntry, Statement};
pub use public::{grants, is_public, Grant};
pub use s3::{s3_resource_kind, S3ResourceKind};

/// A policy document that cannot be used, located precisely enough to fix it by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyError {
    /// The name the caller gave the policy (file name, ARN, `identity_policies[0]`, ...).
    pub policy: String,
    /// JSON path inside the document, e.g. `$.Statement[1].Condition.StringEquals`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "policy '{}': {}: {}",
            self.policy, self.path, self.message
        )
    }
}

impl std::error::Error for PolicyError {}

/// One value of a request-context key. Multivalued keys (e.g. `aws:TagKeys`) are `Multi`;
/// the distinction matters for `ForAllValues` / `ForAnyValue` and for policy variables,
/// which cannot take a multivalued key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContextValue {
    Single(String),
    Multi(Vec<String>),
}

impl ContextValue {
    /// The values as a slice, so that operators treat single and multivalued keys alike.
    pub fn values(&self) -> &[String] {
        match self {
            ContextValue::Single(s) => std::slice::from_ref(s),
            ContextValue::Multi(v) => v,
        }
    }
}

impl From<&str> for ContextValue {
    fn from(s: &str) -> Self {
        ContextValue::Single(s.to_string())
    }
}
impl From<String> for ContextValue {
    fn from(s: String) -> Self {
        ContextValue::Single(s)
    }
}
impl From<Vec<String>> for ContextValue {
    fn from(v: Vec<String>) -> Self {
        ContextValue::Multi(v)
    }
}
impl From<Vec<&str>> for ContextValue {
    fn from(v: Vec<&str>) -> Self {
        ContextValue::Multi(v.into_iter().map(str::to_string).collect())
    }
}
impl From<&[&str]> for ContextValue {
    fn from(v: &[&str]) -> Self {
        ContextValue::Multi(v.iter().map(|s| s.to_string()).collect())
    }
}

/// The request context. Keys are stored lowercased because AWS condition key names are
/// case-insensitive ("Key names are case-insensitive. For example, `aws:CurrentTime` is
/// equivalent to `AWS:currenttime`",
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>);
/// lowercasing once here lets the evaluator look keys up without allocating.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Context {
    map: BTreeMap<String, ContextValue>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, key: &str, v: impl Into<ContextValue>) {
        self.map.insert(key.to_lowercase(), v.into());
    }

    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) || !key.is_ascii() {
            self.map.get(&key.to_lowercase())
        } else {
            self.map.get(key)
        }
    }

    /// Lookup with a key the caller guarantees is already lowercase (compiled policies).
    pub(crate) fn get_lc(&self, key_lc: &str) -> Option<&ContextValue> {
        self.map.get(key_lc)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(ContextVisitor)
    }
}

/// Reads the context object straight from the input (no intermediate map), refusing a
/// duplicated key as the policy parser does: JSON parsers keep the last one silently.
struct ContextVisitor;

impl<'de> serde::de::Visitor<'de> for ContextVisitor {
    type Value = Context;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of context keys")
    }
    fn visit_none<E>(self) -> Result<Context, E> {
        Ok(Context::new())
    }
    fn visit_unit<E>(self) -> Result<Context, E> {
        Ok(Context::new())
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Context, D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Context, A::Error> {
        use serde::de::Error;
        let mut ctx = Context::new();
        let mut seen: Vec<std::borrow::Cow<'de, str>> = Vec::new();
        let mut big: Option<std::collections::HashSet<std::borrow::Cow<'de, str>>> = None;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            // Contexts are small; a set only for a large (hostile) one keeps this linear.
            let dup = if seen.len() < 32 {
                seen.contains(&k)
            } else {
                let set = big.get_or_insert_with(|| seen.iter().cloned().collect());
                !set.insert(k.clone())
            };
            if dup {
                return Err(A::Error::custom(format!("duplicate key '{k}'")));
            }
            let value = map
                .next_value::<CtxValue>()
                .map_err(|e| A::Error::custom(format!("context key '{k}': {e}")))?
                .0;
            ctx.map.insert(k.to_lowercase(), value);
            seen.push(k);
        }
        Ok(ctx)
    }
}

/// One context value read without an intermediate `serde_json::Value`. Numbers and booleans
/// are accepted as their JSON text because hand-written case files write
/// `"aws:MultiFactorAuthAge": 300` as often as `"300"`; AWS sees strings either way.
struct CtxValue(ContextValue);

struct Scalar(String);

fn number_text(n: serde_json::Number) -> String {
    n.to_string()
}

macro_rules! scalar_visits {
    ($wrap:expr) => {
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok($wrap(v.to_string()))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok($wrap(v))
        }
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok($wrap(v.to_string()))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok($wrap(number_text(v.into())))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok($wrap(number_text(v.into())))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            serde_json::Number::from_f64(v)
                .map(|n| $wrap(number_text(n)))
                .ok_or_else(|| E::custom("value must be a string or a list of strings"))
        }
    };
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("list items must be strings")
            }
            scalar_visits!(Scalar);
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for CtxValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CtxValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("value must be a string or a list of strings")
            }
            scalar_visits!(|s| CtxValue(ContextValue::Single(s)));
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CtxValue, A::Error> {
                let mut out = Vec::new();
                while let Some(Scalar(s)) = seq.next_element::<Scalar>()? {
                    out.push(s);
                }
                Ok(CtxValue(ContextValue::Multi(out)))
            }
        }
        d.deserialize_any(V)
    }
}

/// One authorization question: may `principal` perform `action` on `resource`?
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// An ARN, `"anonymous"`, or a service principal such as `s3.amazonaws.com`.
    pub principal: String,
    #[serde(default)]
    pub principal_account: Option<String>,
    pub action: String,
    /// An ARN, or `"*"` for actions without resource-level permissions.
    pub resource: String,
    #[serde(default)]
    pub resource_account: Option<String>,
    #[serde(default)]
    pub context: Context,
}

/// One level of an AWS Organizations hierarchy (root, an OU, the account) with the SCPs or
/// RCPs attached there. Each level must allow on its own, which is why levels are kept apart.
#[derive(Debug, Clone)]
pub struct OrgLevel {
    pub target: String,
    pub policies: Vec<Policy>,
}

/// Every policy that applies to one request, grouped by the role it plays in evaluation.
/// `Default` is the empty set (no policies, RestrictPublicBuckets off).
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicySet<'a> {
    pub identity: &'a [Policy],
    pub resource: Option<&'a Policy>,
    pub permission_boundary: Option<&'a Policy>,
    pub session: Option<&'a Policy>,
    pub scps: &'a [OrgLevel],
    pub rcps: &'a [OrgLevel],
    pub vpc_endpoint: &'a [Policy],
    /// S3 Block Public Access RestrictPublicBuckets in effect for the resource (bucket or account level).
    pub restrict_public_buckets: bool,
    /// For a federated-user caller: the ARN of the IAM user who called GetFederationToken.
    /// Its policies are the `identity` ones, and resource-policy statements naming it reach
    /// the session (capped by the session policy).
    pub federated_by: Option<&'a str>,
}

/// The three outcomes AWS distinguishes. `ImplicitDeny` and `ExplicitDeny` are both "Access
/// Denied" to the caller, but an audit must tell them apart: only the first can be fixed by
/// adding an Allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Decision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Allowed => "Allowed",
            Decision::ExplicitDeny => "ExplicitDeny",
            Decision::ImplicitDeny => "ImplicitDeny",
        })
    }
}

/// The role a policy plays in evaluation; reported with every deciding statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PolicyKind {
    Identity,
    Resource,
    PermissionBoundary,
    Session,
    Scp,
    Rcp,
    VpcEndpoint,
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyKind::Identity => "identity-based policy",
            PolicyKind::Resource => "resource-based policy",
            PolicyKind::PermissionBoundary => "permissions boundary",
            PolicyKind::Session => "session policy",
            PolicyKind::Scp => "SCP",
            PolicyKind::Rcp => "RCP",
            PolicyKind::VpcEndpoint => "VPC endpoint policy",
        })
    }
}

/// Points at one statement so that a report can quote the exact line that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementRef {
    pub policy: String,
    pub kind: PolicyKind,
    pub sid: Option<String>,
    /// Zero-based position in the policy's `Statement` list.
    pub index: usize,
    pub effect: Effect,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} '{}' statement {}",
            self.kind, self.policy, self.index
        )?;
        if let Some(sid) = &self.sid {
            write!(f, " (Sid {sid})")?;
        }
        Ok(())
    }
}

/// The decision plus the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub decision: Decision,
    /// ExplicitDeny: every matching Deny. Allowed: the Allow statements of every leg that was
    /// required. ImplicitDeny: empty (nothing decided; `reasons` says what was missing).
    pub deciding: Vec<StatementRef>,
    pub reasons: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_from_text_and_from_value_agree() {
        let text = r#"{"AWS:SourceIp":"203.0.113.7","aws:MultiFactorAuthAge":300,"x:f":1.5,"x:b":false,
            "aws:TagKeys":["a",2,true],"x:neg":-4}"#;
        let from_text: Context = serde_json::from_str(text).unwrap();
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let from_value = Context::deserialize(&v).unwrap();
        assert_eq!(from_text, from_value);
        assert_eq!(from_text.get("aws:sourceip"), Some(&"203.0.113.7".into()));
        assert_eq!(from_text.get("aws:MultiFactorAuthAge"), Some(&"300".into()));
        assert_eq!(from_text.get("x:f"), Some(&"1.5".into()));
        assert_eq!(from_text.get("x:b"), Some(&"false".into()));
        assert_eq!(from_text.get("x:neg"), Some(&"-4".into()));
        assert_eq!(
            from_text.get("aws:tagkeys"),
            Some(&vec!["a", "2", "true"].into())
        );
        assert!(serde_json::from_str::<Context>("null").unwrap().is_empty());
    }

    #[test]
    fn context_refuses_duplicates_and_non_scalars() {
        for bad in [
            r#"{"k":"1","k":"2"}"#,
            r#"{"k":null}"#,
            r#"{"k":{"a":1}}"#,
            r#"{"k":[["a"]]}"#,
            r#"{"k":[null]}"#,
            r#""text""#,
        ] {
            assert!(serde_json::from_str::<Context>(bad).is_err(), "{bad}");
        }
        // Keys that differ only in case are two keys as written; the later one wins.
        let c: Context = serde_json::from_str(r#"{"aws:a":"1","AWS:A":"2"}"#).unwrap();
        assert_eq!(c.get("aws:a"), Some(&"2".into()));
        let many: String = (0..100).map(|i| format!("\"k{i}\":\"v\",")).collect();
        assert!(serde_json::from_str::<Context>(&format!("{{{many}\"k7\":\"x\"}}")).is_err());
    }
}
