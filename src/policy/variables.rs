//! Policy variables (`${aws:username}`, `${aws:PrincipalTag/team, 'default'}`, `${*}`) and
//! the wildcard matcher that has to run after a variable is substituted.
//!
//! Semantics (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>):
//! - variables exist only in policies with `"Version": "2012-10-17"`; otherwise `${...}` is
//!   literal text ("variables like `${aws:username}` are treated as literal strings");
//! - they may appear in `Resource`/`NotResource` and in values of the String and ARN condition
//!   operators only;
//! - `${*}`, `${?}`, `${$}` stand for a literal `*`, `?`, `$` (so a substituted value can contain
//!   a `*` that is *not* a wildcard, which the `wildmatch` crate cannot express: hence [`Tok`]);
//! - a default is written `${key, 'default'}`; `''` inside the quotes is one quote character;
//! - a variable whose key is absent (or multivalued — "you can't use multivalued context keys as
//!   policy variables",
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>)
//!   and has no default has no value: "condition operators like StringEquals or StringLike do
//!   not match ... Inverted condition operators like StringNotEquals or StringNotLike do match
//!   against a null value", and in `Resource` "will not match any resource". Callers get
//!   `None` from [`Template::resolve`] and treat the whole value as matching nothing.

use super::{Context, ContextValue};

/// One piece of a string that contains policy variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text as written; `*` and `?` in it keep their wildcard meaning where wildcards apply.
    Lit(String),
    /// `${*}`, `${?}`, `${$}`: always the literal character.
    Escaped(char),
    /// `${key}` or `${key, 'default'}`; `key_lc` is lowercased for the case-insensitive lookup.
    Var {
        key_lc: String,
        default: Option<String>,
    },
}

/// A string with at least one `${...}`, split into segments once at parse time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub segments: Vec<Segment>,
}

/// A matcher token. Separate from `wildmatch` because an escaped `${*}` must match only `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Char(char),
    AnyOne,
    AnyMany,
}

impl Template {
    /// Splits `s` if it contains a well-formed `${...}`; `None` when it is plain text. A
    /// malformed `${` (no closing brace, bad default quoting) stays literal text, which is how
    /// a string without variables behaves; AWS's own validator rejects such policies anyway.
    pub fn parse(s: &str) -> Option<Template> {
        if !s.contains("${") {
            return None;
        }
        let mut segments = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        let mut any = false;
        while let Some(pos) = rest.find("${") {
            lit.push_str(&rest[..pos]);
            let after = &rest[pos + 2..];
            match parse_var(after) {
                Some((seg, used)) => {
                    if !lit.is_empty() {
                        segments.push(Segment::Lit(std::mem::take(&mut lit)));
                    }
                    segments.push(seg);
                    any = true;
                    rest = &after[used..];
                }
                None => {
                    lit.push_str("${");
                    rest = after;
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            segments.push(Segment::Lit(lit));
        }
        any.then_some(Template { segments })
    }

    pub fn has_vars(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Var { .. }))
    }

    /// Substitutes variables, producing plain text (for operators without wildcards).
    /// `None` when a variable has no value and no default.
    pub fn resolve(&self, ctx: &Context) -> Option<String> {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Lit(s) => out.push_str(s),
                Segment::Escaped(c) => out.push(*c),
                Segment::Var { key_lc, default } => out.push_str(lookup(ctx, key_lc, default)?),
            }
        }
        Some(out)
    }

    /// Substitutes variables into matcher tokens: `*`/`?` written in the policy are wildcards,
    /// characters that came from a variable value or an escape are literal.
    pub fn resolve_tokens(&self, ctx: &Context, lowercase: bool) -> Option<Vec<Tok>> {
        let mut out = Vec::new();
        for seg in &self.segments {
            match seg {
                Segment::Lit(s) => push_pattern_tokens(&mut out, s, lowercase),
                Segment::Escaped(c) => out.push(Tok::Char(*c)),
                Segment::Var { key_lc, default } => {
                    push_literal_tokens(&mut out, lookup(ctx, key_lc, default)?, lowercase)
                }
            }
        }
        Some(out)
    }
}

fn lookup<'a>(ctx: &'a Context, key_lc: &str, default: &'a Option<String>) -> Option<&'a str> {
    match ctx.get_lc(key_lc) {
        Some(ContextValue::Single(v)) => Some(v.as_str()),
        Some(ContextValue::Multi(_)) | None => default.as_deref(),
    }
}

/// Parses what follows `${` up to and including the closing `}`; returns the segment and the
/// number of bytes consumed.
fn parse_var(s: &str) -> Option<(Segment, usize)> {
    for (esc, c) in [("*}", '*'), ("?}", '?'), ("$}", '$')] {
        if s.starts_with(esc) {
            return Some((Segment::Escaped(c), esc.len()));
        }
    }
    let end_key = s.find([',', '}'])?;
    let key = s[..end_key].trim();
    if key.is_empty() || key.contains(char::is_whitespace) || key.contains("${") {
        return None;
    }
    let key_lc = key.to_lowercase();
    if s.as_bytes()[end_key] == b'}' {
        return Some((
            Segment::Var {
                key_lc,
                default: None,
            },
            end_key + 1,
        ));
    }
    // `${key, 'default'}`: a single-quoted default, `''` meaning one quote.
    let after_comma = &s[end_key + 1..];
    let trimmed = after_comma.trim_start();
    let mut pos = end_key + 1 + (after_comma.len() - trimmed.len());
    let mut chars = trimmed.char_indices();
    if chars.next().map(|(_, c)| c) != Some('\'') {
        return None;
    }
    let mut default = String::new();
    let body = &trimmed[1..];
    let mut iter = body.char_indices().peekable();
    let mut closed_at = None;
    while let Some((i, c)) = iter.next() {
        if c == '\'' {
            if iter.peek().map(|&(_, n)| n) == Some('\'') {
                default.push('\'');
                iter.next();
            } else {
                closed_at = Some(i);
                break;
            }
        } else {
            default.push(c);
        }
    }
    let close = closed_at?;
    pos += 1 + close + 1;
    let tail = &s[pos..];
    let tail_trimmed = tail.trim_start();
    if !tail_trimmed.starts_with('}') {
        return None;
    }
    pos += (tail.len() - tail_trimmed.len()) + 1;
    Some((
        Segment::Var {
            key_lc,
            default: Some(default),
        },
        pos,
    ))
}

fn push_pattern_tokens(out: &mut Vec<Tok>, s: &str, lowercase: bool) {
    for c in s.chars() {
        out.push(match c {
            '*' => Tok::AnyMany,
            '?' => Tok::AnyOne,
            c if lowercase => Tok::Char(lower_char(c)),
            c => Tok::Char(c),
        });
    }
}

fn push_literal_tokens(out: &mut Vec<Tok>, s: &str, lowercase: bool) {
    for c in s.chars() {
        out.push(Tok::Char(if lowercase { lower_char(c) } else { c }));
    }
}

fn lower_char(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Tokens for a plain pattern string (no variables); used where escapes must be honoured.
pub fn pattern_tokens(s: &str, lowercase: bool) -> Vec<Tok> {
    let mut out = Vec::with_capacity(s.len());
    push_pattern_tokens(&mut out, s, lowercase);
    out
}

/// Glob match with `*` (any run, including empty) and `?` (exactly one character), iterative
/// with single-star backtracking so that hostile patterns stay linear-ish and never recurse.
pub fn tokens_match(toks: &[Tok], input: &str, lowercase: bool) -> bool {
    let chars: Vec<char> = if lowercase {
        input.chars().map(lower_char).collect()
    } else {
        input.chars().collect()
    };
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < chars.len() {
        match toks.get(p) {
            Some(Tok::AnyMany) => {
                star = Some((p, i));
                p += 1;
            }
            Some(Tok::AnyOne) => {
                p += 1;
                i += 1;
            }
            Some(Tok::Char(c)) if *c == chars[i] => {
                p += 1;
                i += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[p.min(toks.len())..]
        .iter()
        .all(|t| matches!(t, Tok::AnyMany))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        let mut c = Context::new();
        for (k, v) in pairs {
            c.insert(k, *v);
        }
        c
    }

    #[test]
    fn plain_text_is_not_a_template() {
        assert!(Template::parse("arn:aws:s3:::bucket/*").is_none());
        assert!(Template::parse("${unclosed").is_none());
    }

    #[test]
    fn resolves_variables_defaults_and_escapes() {
        let t =
            Template::parse("home/${aws:username}/${aws:PrincipalTag/team, 'it''s'}${*}").unwrap();
        let c = ctx(&[("AWS:UserName", "bob")]);
        assert_eq!(t.resolve(&c).unwrap(), "home/bob/it's*");
        assert!(Template::parse("${aws:userid}")
            .unwrap()
            .resolve(&Context::new())
            .is_none());
    }

    #[test]
    fn escaped_star_is_literal_in_tokens() {
        let t = Template::parse("a${*}b*").unwrap();
        let toks = t.resolve_tokens(&Context::new(), false).unwrap();
        assert!(tokens_match(&toks, "a*bxyz", false));
        assert!(!tokens_match(&toks, "axbxyz", false));
    }

    #[test]
    fn glob_matcher() {
        let t = pattern_tokens("a*b?c", false);
        assert!(tokens_match(&t, "ab_c", false));
        assert!(tokens_match(&t, "axxxbyc", false));
        assert!(!tokens_match(&t, "abc", false));
        assert!(tokens_match(&pattern_tokens("*", false), "", false));
        assert!(!tokens_match(&pattern_tokens("", false), "x", false));
    }
}
