//! The canonical text form: `Display` for the model, and serde through it.
//!
//! Keywords and operators are lowercase and separated by single spaces;
//! values are bare words where the parser reads them back as the same value,
//! and double-quoted otherwise (regular expressions single-quoted, so their
//! backslashes stay as written); parentheses appear only where precedence
//! needs them.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ast::{Condition, Field, Filter, Test, Value};
use super::literal::json_number;
use super::pattern::Pattern;
use crate::query::TimeBound;

/// Where a filter is printed: its parent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parent {
    Top,
    And,
    Or,
    Not,
}

impl fmt::Display for Filter {
    /// The canonical text form, which [`Filter::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_filter(f, self, Parent::Top)
    }
}

fn write_filter(f: &mut fmt::Formatter<'_>, filter: &Filter, parent: Parent) -> fmt::Result {
    match filter {
        Filter::And(list) if list.is_empty() => f.write_str("true"),
        Filter::Or(list) if list.is_empty() => f.write_str("false"),
        Filter::And(list) => {
            write_group(f, list, " and ", Parent::And, matches!(parent, Parent::And | Parent::Not))
        }
        Filter::Or(list) => write_group(f, list, " or ", Parent::Or, parent != Parent::Top),
        Filter::Not(inner) => {
            f.write_str("not ")?;
            write_filter(f, inner, Parent::Not)
        }
        Filter::Cond(cond) => write!(f, "{cond}"),
        Filter::Text(text) => write_quoted(f, text),
    }
}

fn write_group(
    f: &mut fmt::Formatter<'_>,
    list: &[Filter],
    separator: &str,
    this: Parent,
    parens: bool,
) -> fmt::Result {
    if parens {
        f.write_char('(')?;
    }
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write_filter(f, item, this)?;
    }
    if parens {
        f.write_char(')')?;
    }
    Ok(())
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.test)
    }
}

impl fmt::Display for Field {
    /// The field's name: `actor.kind`, `request.body.role`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Self::Json(path) = self {
            f.write_str(path.root().as_str())?;
            return path.keys().iter().try_for_each(|key| write!(f, ".{key}"));
        }
        let name = Self::NAMED.iter().find(|(_, field)| field == self).map_or("?", |(n, _)| n);
        f.write_str(name)
    }
}

impl fmt::Display for Test {
    /// The operator and its value: `= acme`, `in (a, b)`, `exists`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (op, value) = match self {
            Self::Eq(v) => ("=", v),
            Self::Ne(v) => ("!=", v),
            Self::Lt(v) => ("<", v),
            Self::Le(v) => ("<=", v),
            Self::Gt(v) => (">", v),
            Self::Ge(v) => (">=", v),
            Self::Exists => return f.write_str("exists"),
            Self::Matches(pattern) => {
                f.write_str("~ ")?;
                return write_pattern(f, pattern);
            }
            Self::In(list) => {
                f.write_str("in (")?;
                for (i, value) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                return f.write_char(')');
            }
        };
        write!(f, "{op} {value}")
    }
}

impl fmt::Display for Value {
    /// The value as the text syntax writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => write_word_or_quoted(f, text),
            Self::Number(n) => write!(f, "{n}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Null => f.write_str("null"),
            Self::Event(pattern) => write_word_or_quoted(f, pattern.as_str()),
            Self::Action(action) => f.write_str(action.as_str()),
            Self::Outcome(outcome) => f.write_str(outcome.as_str()),
            Self::ActorKind(kind) => f.write_str(kind.as_str()),
            Self::Resource(r) => match &r.id {
                Some(id) => write_word_or_quoted(f, &format!("{}:{id}", r.kind)),
                None => write_word_or_quoted(f, &r.kind),
            },
            Self::Ip(net) if net.prefix_len() == net.max_prefix_len() => {
                write!(f, "{}", net.addr())
            }
            Self::Ip(net) => write!(f, "{net}"),
            Self::Time(bound) => write_time(f, *bound),
        }
    }
}

/// A time bound as the filter syntax reads it: [`TimeBound`]'s own form for
/// whole seconds and absolute times, `ms`, `us` or `ns` for spans with a
/// fraction of a second.
fn write_time(f: &mut fmt::Formatter<'_>, bound: TimeBound) -> fmt::Result {
    match bound {
        TimeBound::Relative(span) if span.subsec_nanos() != 0 => {
            let nanos = span.as_nanos();
            match (nanos % 1_000_000, nanos % 1_000) {
                (0, _) => write!(f, "{}ms", nanos / 1_000_000),
                (_, 0) => write!(f, "{}us", nanos / 1_000),
                _ => write!(f, "{nanos}ns"),
            }
        }
        other => write!(f, "{other}"),
    }
}

/// The words that a bare value must not be, in any case.
const RESERVED: [&str; 8] = ["and", "or", "not", "in", "exists", "true", "false", "null"];

/// Whether `text` reads back, unquoted, as the same text value.
fn is_plain_word(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:/@*+$#?[]{}%&^|".contains(c))
        && !text.contains("..")
        && !RESERVED.iter().any(|w| text.eq_ignore_ascii_case(w))
        && json_number(text).is_none()
}

fn write_word_or_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if is_plain_word(text) { f.write_str(text) } else { write_quoted(f, text) }
}

/// `"..."` with `"`, `\` and control characters escaped.
fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// A pattern bare if it can be, else in single quotes (taken as written,
/// `''` for `'`), else double-quoted with escapes (for control characters).
fn write_pattern(f: &mut fmt::Formatter<'_>, pattern: &Pattern) -> fmt::Result {
    let text = pattern.as_str();
    if is_plain_word(text) {
        f.write_str(text)
    } else if text.chars().any(char::is_control) {
        write_quoted(f, text)
    } else {
        write!(f, "'{}'", text.replace('\'', "''"))
    }
}

impl Serialize for Filter {
    /// The canonical text form.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Filter {
    /// Parses the text form, with the same limits and errors as
    /// [`Filter::parse`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Filter::parse(&text).map_err(serde::de::Error::custom)
    }
}
