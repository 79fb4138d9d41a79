//! The `Condition` element: operators, `...IfExists`, `ForAllValues:` / `ForAnyValue:`.
//!
//! Evaluation rules, all from
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>
//! and <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html>:
//! - several operators, and several keys under one operator, are ANDed; several values for
//!   one key are ORed. A negated operator is the negation of its positive form, so
//!   `StringNotEquals: ["a", "b"]` is true only when the value is neither (NOR);
//! - "If the key that you specify in a policy condition is not present in the request context,
//!   the values do not match and the condition is *false*. If the policy condition requires
//!   that the key is *not* matched, such as `StringNotLike` or `ArnNotLike`, and the right key
//!   is not present, the condition is *true*. This logic applies to all condition operators
//!   except ...IfExists and Null check";
//! - `...IfExists`: an absent key makes the condition true; a present key is checked normally;
//! - `ForAllValues:` is true when every request value matches (and "also returns true if there
//!   are no context keys in the request"); `ForAnyValue:` is true when at least one does, and
//!   false when the key is absent
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>).
//!   With a negated operator each request value is tested on its own: `ForAllValues:StringNotEquals`
//!   holds when no request value is in the list, `ForAnyValue:StringNotEquals` when at least
//!   one is not. An empty list is treated as absent ("an empty data set").
//! - `ForAnyValue:...IfExists` with the key absent is *false*. The two pages disagree: the
//!   condition operators page says of `...IfExists` "If the key is not present, evaluate the
//!   condition element as true", the set-operator page says of `ForAnyValue` "if the key does
//!   not exist, the condition returns false". The set operator's rule wins here because it is
//!   the more specific one and field reports of real AWS agree (issue 11); `ForAllValues` is
//!   true either way. Vectors `anyifx-*` in `tests/vectors/conditions_issue11.json` pin it.
//! - `ForAllValues:Null` / `ForAnyValue:Null`: AWS defines `Null` on the key's presence and the
//!   set qualifiers on the request's values, so the qualifier keeps its documented meaning for
//!   an absent key (ForAllValues: true, ForAnyValue: false), and a present key's values are all
//!   non-null (so they match `"false"` and not `"true"`). Only the `IfExists` suffix is refused
//!   on `Null` ("You can add IfExists to the end of any condition operator name except the
//!   Null condition"). Vectors `setnull-*` pin it.

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use ipnet::IpNet;

use super::pattern::Pattern;
use super::variables::{tokens_match, Template, Tok};
use super::{Context, ContextValue};
use crate::arn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    None,
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn test<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// The operator family, without the negation (kept in [`Condition::negated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    StringEquals { ignore_case: bool },
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// A policy-side value of a string operator: fixed text, or text with variables.
#[derive(Debug, Clone)]
pub(crate) enum StrVal {
    Lit(String),
    Tmpl(Template),
}

/// A policy-side value of an ARN operator, compared "component-wise": "Each of the six
/// colon-delimited components of the ARN is checked separately and each can include
/// multi-character match wildcards (*) or single-character match wildcards (?)".
#[derive(Debug, Clone)]
pub(crate) enum ArnVal {
    Parts(Box<[Pattern; 6]>),
    /// Not six components (e.g. a bare `*`): matched as one wildcard string.
    Whole(Pattern),
    Tmpl(Template),
}

#[derive(Debug, Clone)]
pub(crate) enum Values {
    Str(Vec<StrVal>),
    Like(Vec<Pattern>),
    Num(Vec<f64>),
    Date(Vec<DateTime<Utc>>),
    /// Lowercased `true`/`false`, or a template: "You can use a policy variable with the
    /// Boolean condition operator" (condition operators page).
    Bool(Vec<StrVal>),
    Binary(Vec<Vec<u8>>),
    Ip(Vec<IpNet>),
    Arn(Vec<ArnVal>),
    Null(Vec<bool>),
}

/// One `operator: { key: values }` entry.
#[derive(Debug, Clone)]
pub struct Condition {
    /// As written, e.g. `ForAnyValue:StringNotLikeIfExists`.
    pub operator: String,
    /// As written, e.g. `aws:SourceIp`.
    pub key: String,
    pub(crate) key_lc: String,
    pub qualifier: Qualifier,
    pub kind: OpKind,
    pub negated: bool,
    pub if_exists: bool,
    pub raw_values: Vec<String>,
    pub(crate) values: Values,
}

/// Splits an operator name into qualifier, kind, negation and IfExists. `None` for anything
/// AWS does not define (the caller turns that into a parse error). `Null` does not take
/// `IfExists` (the docs exclude it); it does take a set qualifier (see the module docs).
pub fn parse_operator(op: &str) -> Option<(Qualifier, OpKind, bool, bool)> {
    let (qualifier, rest) = if let Some(r) = strip_prefix_ci(op, "ForAllValues:") {
        (Qualifier::ForAllValues, r)
    } else if let Some(r) = strip_prefix_ci(op, "ForAnyValue:") {
        (Qualifier::ForAnyValue, r)
    } else {
        (Qualifier::None, op)
    };
    let (base, if_exists) = match strip_suffix_ci(rest, "IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let lc = base.to_ascii_lowercase();
    let (kind, negated) = match lc.as_str() {
        "stringequals" => (OpKind::StringEquals { ignore_case: false }, false),
        "stringnotequals" => (OpKind::StringEquals { ignore_case: false }, true),
        "stringequalsignorecase" => (OpKind::StringEquals { ignore_case: true }, false),
        "stringnotequalsignorecase" => (OpKind::StringEquals { ignore_case: true }, true),
        "stringlike" => (OpKind::StringLike, false),
        "stringnotlike" => (OpKind::StringLike, true),
        "numericequals" => (OpKind::Numeric(Cmp::Eq), false),
        "numericnotequals" => (OpKind::Numeric(Cmp::Eq), true),
        "numericlessthan" => (OpKind::Numeric(Cmp::Lt), false),
        "numericlessthanequals" => (OpKind::Numeric(Cmp::Le), false),
        "numericgreaterthan" => (OpKind::Numeric(Cmp::Gt), false),
        "numericgreaterthanequals" => (OpKind::Numeric(Cmp::Ge), false),
        "dateequals" => (OpKind::Date(Cmp::Eq), false),
        "datenotequals" => (OpKind::Date(Cmp::Eq), true),
        "datelessthan" => (OpKind::Date(Cmp::Lt), false),
        "datelessthanequals" => (OpKind::Date(Cmp::Le), false),
        "dategreaterthan" => (OpKind::Date(Cmp::Gt), false),
        "dategreaterthanequals" => (OpKind::Date(Cmp::Ge), false),
        "bool" => (OpKind::Bool, false),
        "binaryequals" => (OpKind::Binary, false),
        "ipaddress" => (OpKind::Ip, false),
        "notipaddress" => (OpKind::Ip, true),
        "arnequals" | "arnlike" => (OpKind::Arn, false),
        "arnnotequals" | "arnnotlike" => (OpKind::Arn, true),
        "null" => (OpKind::Null, false),
        _ => return None,
    };
    if kind == OpKind::Null && if_exists {
        return None;
    }
    Some((qualifier, kind, negated, if_exists))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    (cut > 0 && s.is_char_boundary(cut) && s[cut..].eq_ignore_ascii_case(suffix)).then(|| &s[..cut])
}

/// Builds the policy-side values; `Err(index, message)` names the offending value.
pub(crate) fn compile_values(
    kind: OpKind,
    raw: &[String],
    variables: bool,
) -> Result<Values, (usize, String)> {
    // Policy variables work with the String, ARN and Boolean operators only ("You can use a
    // policy variable with the Boolean condition operator"; "You can not use a policy variable
    // with the Numeric/Date/Binary/IpAddress/Null condition operator"), elsewhere `${...}` is
    // text (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>).
    let tmpl = |s: &str| {
        if variables {
            Template::parse(s).filter(Template::has_vars)
        } else {
            None
        }
    };
    Ok(match kind {
        OpKind::StringEquals { ignore_case } => Values::Str(
            raw.iter()
                .map(|s| match tmpl(s) {
                    Some(t) => StrVal::Tmpl(t),
                    None => {
                        // Escapes without variables still have to be unescaped.
                        let text = if variables {
                            Template::parse(s)
                                .and_then(|t| t.resolve(&Context::new()))
                                .unwrap_or_else(|| s.clone())
                        } else {
                            s.clone()
                        };
                        StrVal::Lit(if ignore_case {
                            text.to_lowercase()
                        } else {
                            text
                        })
                    }
                })
                .collect(),
        ),
        OpKind::StringLike => Values::Like(
            raw.iter()
                .map(|s| Pattern::compile(s, false, variables))
                .collect(),
        ),
        OpKind::Numeric(_) => Values::Num(
            raw.iter()
                .enumerate()
                .map(|(i, s)| parse_number(s).ok_or((i, format!("'{s}' is not a number"))))
                .collect::<Result<_, _>>()?,
        ),
        OpKind::Date(_) => Values::Date(
            raw.iter()
                .enumerate()
                .map(|(i, s)| {
                    parse_date(s).ok_or((
                        i,
                        format!("'{s}' is not an ISO 8601 date/time or epoch seconds"),
                    ))
                })
                .collect::<Result<_, _>>()?,
        ),
        OpKind::Bool => Values::Bool(
            raw.iter()
                .enumerate()
                .map(|(i, s)| {
                    if let Some(t) = tmpl(s) {
                        return Ok(StrVal::Tmpl(t));
                    }
                    let lc = s.to_ascii_lowercase();
                    if lc == "true" || lc == "false" {
                        Ok(StrVal::Lit(lc))
                    } else {
                        Err((i, format!("'{s}' is not true or false")))
                    }
                })
                .collect::<Result<_, _>>()?,
        ),
        OpKind::Binary => Values::Binary(
            raw.iter()
                .enumerate()
                .map(|(i, s)| decode_base64(s).ok_or((i, format!("'{s}' is not base64"))))
                .collect::<Result<_, _>>()?,
        ),
        OpKind::Ip => Values::Ip(
            raw.iter()
                .enumerate()
                .map(|(i, s)| {
                    parse_net(s).ok_or((i, format!("'{s}' is not an IP address or CIDR block")))
                })
                .collect::<Result<_, _>>()?,
        ),
        OpKind::Arn => Values::Arn(
            raw.iter()
                .map(|s| match tmpl(s) {
                    Some(t) => ArnVal::Tmpl(t),
                    None => compile_arn(s, variables),
                })
                .collect(),
        ),
        OpKind::Null => Values::Null(
            raw.iter()
                .enumerate()
                .map(|(i, s)| match s.to_ascii_lowercase().as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err((i, format!("Null takes true or false, not '{s}'"))),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// `ArnLike` compares field by field, so the pattern is cut with [`arn::segments`], which
/// judges nothing: a wildcard may stand in any field, even the first.
fn compile_arn(s: &str, variables: bool) -> ArnVal {
    match arn::segments(s) {
        Some(parts) => ArnVal::Parts(Box::new(
            parts.map(|part| Pattern::compile(part, false, variables)),
        )),
        None => ArnVal::Whole(Pattern::compile(s, false, variables)),
    }
}

fn arn_matches(val: &ArnVal, request: &str, ctx: &Context) -> bool {
    match val {
        ArnVal::Parts(parts) => arn::segments(request)
            .is_some_and(|req| parts.iter().zip(req).all(|(p, r)| p.matches(r, false, ctx))),
        ArnVal::Whole(p) => p.matches(request, false, ctx),
        ArnVal::Tmpl(t) => match t.resolve_tokens(ctx, false) {
            // Split the substituted tokens at the first five literal colons so that characters
            // from a variable stay literal while the comparison is still per component.
            Some(toks) => {
                let mut groups: Vec<&[Tok]> = Vec::with_capacity(6);
                let mut start = 0;
                for (i, t) in toks.iter().enumerate() {
                    if groups.len() < 5 && *t == Tok::Char(':') {
                        groups.push(&toks[start..i]);
                        start = i + 1;
                    }
                }
                groups.push(&toks[start..]);
                if groups.len() == 6 {
                    arn::segments(request).is_some_and(|req| {
                        groups
                            .iter()
                            .zip(req)
                            .all(|(g, r)| tokens_match(g, r, false))
                    })
                } else {
                    tokens_match(&toks, request, false)
                }
            }
            None => false,
        },
    }
}

pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// ISO 8601 in the forms AWS shows (`2020-01-01T00:00:00Z`, with fractions or an offset,
/// date-only) or epoch seconds ("Use these with date/time ... ISO 8601 format or epoch
/// (UNIX) time", condition operators page). Naive times are UTC.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = t.parse().ok()?;
        return Utc.timestamp_opt(secs, 0).single();
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t.trim_end_matches(['Z', 'z']), fmt) {
            return Some(Utc.from_utc_datetime(&n));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| Utc.from_utc_datetime(&n));
    }
    if let Ok(d) = DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(d.with_timezone(&Utc));
    }
    None
}

pub(crate) fn parse_net(s: &str) -> Option<IpNet> {
    let t = s.trim();
    if let Ok(n) = t.parse::<IpNet>() {
        return Some(n);
    }
    t.parse::<IpAddr>().ok().map(IpNet::from)
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

impl Condition {
    /// Evaluates this condition against the request context.
    pub fn evaluate(&self, ctx: &Context) -> bool {
        let present: &[String] = match ctx.get_lc(&self.key_lc) {
            Some(v @ ContextValue::Single(_)) => v.values(),
            Some(ContextValue::Multi(v)) => v,
            None => &[],
        };
        if let Values::Null(expect_absent) = &self.values {
            let absent = present.is_empty();
            return match (self.qualifier, absent) {
                (Qualifier::None, _) => expect_absent.contains(&absent),
                (Qualifier::ForAllValues, true) => true,
                (Qualifier::ForAnyValue, true) => false,
                // Every value of a present key is non-null.
                (_, false) => expect_absent.contains(&false),
            };
        }
        if present.is_empty() {
            return match self.qualifier {
                Qualifier::ForAllValues => true,
                // Even with IfExists: see the module docs.
                Qualifier::ForAnyValue => false,
                Qualifier::None => self.if_exists || self.negated,
            };
        }
        match self.qualifier {
            Qualifier::None => {
                let any = present.iter().any(|r| self.positive_one(r, ctx));
                any != self.negated
            }
            Qualifier::ForAnyValue => present
                .iter()
                .any(|r| self.positive_one(r, ctx) != self.negated),
            Qualifier::ForAllValues => present
                .iter()
                .all(|r| self.positive_one(r, ctx) != self.negated),
        }
    }

    /// Does one request value match at least one policy value under the positive operator?
    fn positive_one(&self, r: &str, ctx: &Context) -> bool {
        match &self.values {
            Values::Str(vals) => {
                let ic = matches!(self.kind, OpKind::StringEquals { ignore_case: true });
                vals.iter().any(|v| match v {
                    StrVal::Lit(p) => {
                        if ic {
                            p.len() == r.len() && p.eq_ignore_ascii_case(r)
                                || (!r.is_ascii() && *p == r.to_lowercase())
                        } else {
                            p == r
                        }
                    }
                    StrVal::Tmpl(t) => match t.resolve(ctx) {
                        Some(p) if ic => p.to_lowercase() == r.to_lowercase(),
                        Some(p) => p == r,
                        None => false,
                    },
                })
            }
            Values::Like(pats) => pats.iter().any(|p| p.matches(r, false, ctx)),
            Values::Num(nums) => match (parse_number(r), self.kind) {
                (Some(x), OpKind::Numeric(cmp)) => nums.iter().any(|&p| cmp.test(x, p)),
                _ => false,
            },
            Values::Date(dates) => match (parse_date(r), self.kind) {
                (Some(x), OpKind::Date(cmp)) => dates.iter().any(|&p| cmp.test(x, p)),
                _ => false,
            },
            Values::Bool(b) => b.iter().any(|v| match v {
                StrVal::Lit(p) => p.eq_ignore_ascii_case(r.trim()),
                StrVal::Tmpl(t) => t
                    .resolve(ctx)
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case(r.trim())),
            }),
            Values::Binary(bins) => match decode_base64(r) {
                Some(bytes) => bins.contains(&bytes),
                None => false,
            },
            Values::Ip(nets) => match r.trim().parse::<IpAddr>() {
                Ok(ip) => nets.iter().any(|n| n.contains(&ip)),
                Err(_) => false,
            },
            Values::Arn(vals) => vals.iter().any(|v| arn_matches(v, r, ctx)),
            Values::Null(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        assert_eq!(
            parse_operator("ForAnyValue:StringNotLikeIfExists"),
            Some((Qualifier::ForAnyValue, OpKind::StringLike, true, true))
        );
        assert_eq!(
            parse_operator("NotIpAddress"),
            Some((Qualifier::None, OpKind::Ip, true, false))
        );
        assert!(parse_operator("NullIfExists").is_none());
        assert!(parse_operator("ForAnyValue:NullIfExists").is_none());
        assert_eq!(
            parse_operator("ForAllValues:Null"),
            Some((Qualifier::ForAllValues, OpKind::Null, false, false))
        );
        assert!(parse_operator("IfExists").is_none());
        assert!(parse_operator("StringEqualz").is_none());
    }

    #[test]
    fn dates() {
        let a = parse_date("2020-01-01T00:00:00Z").unwrap();
        assert_eq!(parse_date("1577836800").unwrap(), a);
        assert_eq!(parse_date("2020-01-01").unwrap(), a);
        assert_eq!(parse_date("2020-01-01T01:00:00+01:00").unwrap(), a);
        assert_eq!(parse_date("2020-01-01T00:00:00.000Z").unwrap(), a);
        assert!(parse_date("yesterday").is_none());
    }
}
