//! A compiled `Action`/`Resource` pattern (`*`, `?`, policy variables). Its own file so that the
//! policy model and the condition operators (`ArnLike` compiles the same patterns) both use it
//! without depending on each other.

use super::variables::{tokens_match, Template, Tok};
use super::Context;
use wildmatch::WildMatch;

/// A pre-compiled `*`/`?` pattern with fast paths for the shapes that dominate real policies.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub(crate) raw: String,
    pub(crate) kind: PatternKind,
}

#[derive(Debug, Clone)]
pub(crate) enum PatternKind {
    Any,
    /// No wildcard: compare with `raw`.
    Exact,
    /// `raw[..n]` followed by a single trailing `*`.
    Prefix(usize),
    Wild(WildMatch),
    /// Contains escapes (`${*}`) but no variables: fixed tokens.
    Tokens(Vec<Tok>),
    /// Contains variables: substituted per request.
    Template(Template),
}

impl Pattern {
    /// `case_insensitive` is for actions ("action names are case-insensitive"); ARNs are not.
    pub(crate) fn compile(raw: &str, case_insensitive: bool, variables: bool) -> Pattern {
        let kind = if variables && raw.contains("${") {
            match Template::parse(raw) {
                Some(t) if t.has_vars() => PatternKind::Template(t),
                Some(t) => match t.resolve_tokens(&Context::new(), case_insensitive) {
                    Some(toks) => PatternKind::Tokens(toks),
                    None => PatternKind::Template(t),
                },
                None => Self::plain(raw, case_insensitive),
            }
        } else {
            Self::plain(raw, case_insensitive)
        };
        Pattern {
            raw: raw.to_string(),
            kind,
        }
    }

    fn plain(raw: &str, ci: bool) -> PatternKind {
        let wild_at = raw.find(['*', '?']);
        if raw.bytes().all(|b| b == b'*') && !raw.is_empty() {
            return PatternKind::Any;
        }
        if ci && !raw.is_ascii() {
            // Rare enough (no AWS action name is non-ASCII) to take the general path.
            return PatternKind::Wild(WildMatch::new_case_insensitive(raw));
        }
        match wild_at {
            None => PatternKind::Exact,
            Some(i) if i + 1 == raw.len() && raw.ends_with('*') => PatternKind::Prefix(i),
            Some(_) if ci => PatternKind::Wild(WildMatch::new_case_insensitive(raw)),
            Some(_) => PatternKind::Wild(WildMatch::new(raw)),
        }
    }

    /// Matches `input`; `ci` must equal the flag used at compile time.
    #[inline]
    pub(crate) fn matches(&self, input: &str, ci: bool, ctx: &Context) -> bool {
        match &self.kind {
            PatternKind::Any => true,
            PatternKind::Exact => {
                if ci {
                    if input.is_ascii() {
                        self.raw.eq_ignore_ascii_case(input)
                    } else {
                        self.raw.to_lowercase() == input.to_lowercase()
                    }
                } else {
                    self.raw == input
                }
            }
            PatternKind::Prefix(n) => {
                let (pb, ib) = (&self.raw.as_bytes()[..*n], input.as_bytes());
                if ci {
                    ib.len() >= pb.len() && ib[..pb.len()].eq_ignore_ascii_case(pb)
                } else {
                    ib.starts_with(pb)
                }
            }
            PatternKind::Wild(w) => w.matches(input),
            PatternKind::Tokens(t) => tokens_match(t, input, ci),
            PatternKind::Template(t) => match t.resolve_tokens(ctx, ci) {
                Some(toks) => tokens_match(&toks, input, ci),
                None => false,
            },
        }
    }

    pub(crate) fn is_star(&self) -> bool {
        self.raw == "*"
    }
}
