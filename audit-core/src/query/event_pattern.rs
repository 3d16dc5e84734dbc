//! [`EventPattern`]: an event name or a glob over event names.

use std::fmt;
use std::str::FromStr;

use super::{ParseError, push_like_escaped};

/// An event name or a glob over event names.
///
/// `*` matches any run of characters, dots included: `key.*`,
/// `authorization.*`, `*.delete`, `api_key.*e`. Without `*` the pattern
/// matches one event name exactly. Matching is case-sensitive.
///
/// ```
/// use audit_core::query::EventPattern;
///
/// let p: EventPattern = "api_key.*".parse().unwrap();
/// assert!(p.matches("api_key.create"));
/// assert!(!p.matches("project.create"));
/// assert!(p.is_prefix());
/// assert_eq!(p.to_sql_like(), r"api\_key.%"); // use with LIKE ... ESCAPE '\'
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventPattern {
    pattern: String,
}

impl EventPattern {
    /// Parses a pattern: not empty, no whitespace or control characters.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        if input.is_empty() {
            return Err(ParseError::event_pattern(input, "it is empty"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ParseError::event_pattern(
                input,
                "it contains whitespace or control characters",
            ));
        }
        Ok(Self { pattern: input.to_owned() })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern has no `*` and matches one event name.
    pub fn is_exact(&self) -> bool {
        !self.pattern.contains('*')
    }

    /// Whether the pattern is a literal prefix followed by one trailing `*`
    /// (`key.*`), which a store can answer with a prefix (index) scan.
    pub fn is_prefix(&self) -> bool {
        self.prefix().is_some()
    }

    /// The literal prefix of a prefix pattern: `key.` for `key.*`.
    pub fn prefix(&self) -> Option<&str> {
        self.pattern.strip_suffix('*').filter(|p| !p.contains('*'))
    }

    /// Whether an event name matches.
    pub fn matches(&self, event: &str) -> bool {
        let mut parts = self.pattern.split('*');
        let first = parts.next().unwrap_or("");
        let Some(mut rest) = event.strip_prefix(first) else {
            return false;
        };
        let Some(last) = parts.next_back() else {
            return rest.is_empty(); // no `*`: exact
        };
        for middle in parts {
            match rest.find(middle) {
                Some(at) => rest = &rest[at + middle.len()..],
                None => return false,
            }
        }
        rest.ends_with(last)
    }

    /// The pattern for SQL `LIKE ... ESCAPE '\'`: `*` becomes `%`, and `%`,
    /// `_` and `\` are escaped with `\`.
    pub fn to_sql_like(&self) -> String {
        let mut out = String::with_capacity(self.pattern.len() + 4);
        for part in self.pattern.split_inclusive('*') {
            match part.strip_suffix('*') {
                Some(literal) => {
                    push_like_escaped(&mut out, literal);
                    out.push('%');
                }
                None => push_like_escaped(&mut out, part),
            }
        }
        out
    }
}

impl FromStr for EventPattern {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}
