//! The compiled form of a policy. Everything that can be decided once is decided at parse
//! time (lowercased actions, classified principals, pre-built wildcard matchers, parsed
//! condition values) so that [`super::evaluate`] does no parsing and, on the common path, no
//! allocation.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::condition::Condition;
pub(crate) use super::pattern::Pattern;
use super::Context;
use crate::arn::account_of as arn_account;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// A parsed policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) name: String,
    pub(crate) version: Option<String>,
    pub(crate) id: Option<String>,
    /// Whether `${...}` is a policy variable (only under Version 2012-10-17).
    pub(crate) variables: bool,
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Whether `${...}` is read as a policy variable (Version 2012-10-17 only).
    pub fn variables_enabled(&self) -> bool {
        self.variables
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// A copy under another name; the case runner names policies by their position.
    pub fn renamed(mut self, name: &str) -> Policy {
        self.name = name.to_string();
        self
    }

    /// The document rebuilt from what was parsed (element order normalised). Used for report
    /// evidence; it is equivalent to the input, not byte-identical.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(v) = &self.version {
            m.insert("Version".into(), Value::String(v.clone()));
        }
        if let Some(id) = &self.id {
            m.insert("Id".into(), Value::String(id.clone()));
        }
        m.insert(
            "Statement".into(),
            Value::Array(self.statements.iter().map(Statement::to_value).collect()),
        );
        Value::Object(m)
    }
}

impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

/// One statement of a policy.
#[derive(Debug, Clone)]
pub struct Statement {
    pub(crate) index: usize,
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    /// `None`: no `Principal`/`NotPrincipal` element (identity-based policies, SCPs).
    pub(crate) principal: Option<PrincipalBlock>,
    pub(crate) action: PatternBlock,
    /// `None`: no `Resource`/`NotResource` (role trust policies), which applies to any resource.
    pub(crate) resource: Option<PatternBlock>,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    pub fn index(&self) -> usize {
        self.index
    }
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    pub fn effect(&self) -> Effect {
        self.effect
    }
    pub fn has_conditions(&self) -> bool {
        !self.conditions.is_empty()
    }
    /// Principal entries as written, and whether the element was `NotPrincipal`.
    pub fn principals(&self) -> Option<(bool, Vec<&PrincipalEntry>)> {
        self.principal
            .as_ref()
            .map(|b| (b.negated, b.entries.iter().map(|e| &e.entry).collect()))
    }
    /// Action patterns as written, and whether the element was `NotAction`.
    pub fn actions(&self) -> (bool, Vec<&str>) {
        (
            self.action.negated,
            self.action
                .patterns
                .iter()
                .map(|p| p.raw.as_str())
                .collect(),
        )
    }
    /// Resource patterns as written, and whether the element was `NotResource`.
    pub fn resources(&self) -> Option<(bool, Vec<&str>)> {
        self.resource.as_ref().map(|b| {
            (
                b.negated,
                b.patterns.iter().map(|p| p.raw.as_str()).collect(),
            )
        })
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(sid) = &self.sid {
            m.insert("Sid".into(), Value::String(sid.clone()));
        }
        m.insert(
            "Effect".into(),
            Value::String(
                match self.effect {
                    Effect::Allow => "Allow",
                    Effect::Deny => "Deny",
                }
                .into(),
            ),
        );
        if let Some(p) = &self.principal {
            let key = if p.negated {
                "NotPrincipal"
            } else {
                "Principal"
            };
            m.insert(key.into(), p.to_value());
        }
        let key = if self.action.negated {
            "NotAction"
        } else {
            "Action"
        };
        m.insert(key.into(), self.action.to_value());
        if let Some(r) = &self.resource {
            let key = if r.negated { "NotResource" } else { "Resource" };
            m.insert(key.into(), r.to_value());
        }
        if !self.conditions.is_empty() {
            let mut c = Map::new();
            for cond in &self.conditions {
                let entry = c
                    .entry(cond.operator.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(keys) = entry {
                    keys.insert(
                        cond.key.clone(),
                        Value::Array(cond.raw_values.iter().cloned().map(Value::String).collect()),
                    );
                }
            }
            m.insert("Condition".into(), Value::Object(c));
        }
        Value::Object(m)
    }
}

/// A principal as written in a `Principal` / `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous callers included.
    Any,
    /// `"123456789012"` or `"arn:aws:iam::123456789012:root"`, as written.
    Account(String),
    /// An IAM user, role, assumed-role session or federated-user ARN, as written.
    Arn(String),
    Service(String),
    Federated(String),
    CanonicalUser(String),
}

impl PrincipalEntry {
    /// The 12-digit account id of an `Account` entry, whichever form it was written in.
    pub fn account_id(&self) -> Option<&str> {
        match self {
            PrincipalEntry::Account(s) => Some(account_of_principal_text(s)),
            PrincipalEntry::Arn(s) => arn_account(s),
            _ => None,
        }
    }

    pub(crate) fn to_pair(&self) -> (&'static str, Value) {
        match self {
            PrincipalEntry::Any => ("AWS", Value::String("*".into())),
            PrincipalEntry::Account(s) | PrincipalEntry::Arn(s) => {
                ("AWS", Value::String(s.clone()))
            }
            PrincipalEntry::Service(s) => ("Service", Value::String(s.clone())),
            PrincipalEntry::Federated(s) => ("Federated", Value::String(s.clone())),
            PrincipalEntry::CanonicalUser(s) => ("CanonicalUser", Value::String(s.clone())),
        }
    }
}

fn account_of_principal_text(s: &str) -> &str {
    arn_account(s).unwrap_or(s)
}

/// What an `AWS` principal entry refers to, worked out once so matching is a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AwsTarget {
    Any,
    Account(String),
    User(String),
    /// Roles match their sessions by account and role *name*: the session ARN
    /// (`arn:aws:sts::A:assumed-role/NAME/SESSION`) drops the role's path.
    Role {
        arn: String,
        account: String,
        name: String,
    },
    Session(String),
    FederatedUser(String),
    /// Partial wildcards are not valid principals ("You cannot use a wildcard to match part of
    /// a principal name or ARN",
    /// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>):
    /// such an entry matches nobody but still counts as public for Block Public Access.
    Wildcard,
    Other(String),
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledPrincipal {
    pub(crate) entry: PrincipalEntry,
    pub(crate) target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Aws(AwsTarget),
    Service(String),
    Federated(String),
    CanonicalUser(String),
}

#[derive(Debug, Clone)]
pub(crate) struct PrincipalBlock {
    pub(crate) negated: bool,
    /// Written as the bare string `"*"` rather than an object (kept for round-tripping).
    pub(crate) star_string: bool,
    pub(crate) entries: Vec<CompiledPrincipal>,
}

impl PrincipalBlock {
    fn to_value(&self) -> Value {
        if self.star_string {
            return Value::String("*".into());
        }
        let mut m: Map<String, Value> = Map::new();
        for e in &self.entries {
            let (k, v) = e.entry.to_pair();
            match m.get_mut(k) {
                Some(Value::Array(a)) => a.push(v),
                _ => {
                    m.insert(k.into(), Value::Array(vec![v]));
                }
            }
        }
        Value::Object(m)
    }
}

/// `Action`/`NotAction` or `Resource`/`NotResource`.
#[derive(Debug, Clone)]
pub(crate) struct PatternBlock {
    pub(crate) negated: bool,
    pub(crate) patterns: Vec<Pattern>,
}

impl PatternBlock {
    fn to_value(&self) -> Value {
        Value::Array(
            self.patterns
                .iter()
                .map(|p| Value::String(p.raw.clone()))
                .collect(),
        )
    }
}

pub(crate) fn action_matches(st: &Statement, action: &str, ctx: &Context) -> bool {
    let hit = st
        .action
        .patterns
        .iter()
        .any(|p| p.matches(action, true, ctx));
    hit != st.action.negated
}

pub(crate) fn resource_matches(st: &Statement, resource: &str, ctx: &Context) -> bool {
    let Some(block) = &st.resource else {
        return true;
    };
    let hit = if resource == "*" {
        // Actions without resource-level permissions: only `"Resource": "*"` covers them.
        block.patterns.iter().any(|p| p.is_star())
    } else {
        block
            .patterns
            .iter()
            .any(|p| p.matches(resource, false, ctx))
    };
    hit != block.negated
}
