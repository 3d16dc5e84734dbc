//! Regular expressions in filters (`~`), compiled once and bounded.

use std::fmt;
use std::hash::{Hash, Hasher};

/// A regular expression for the `~` operator, compiled when it is parsed.
///
/// The syntax is the `regex` crate's (Perl-like, without look-around or
/// back-references); the match is unanchored and case-sensitive, so use
/// `^`, `$` and `(?i)` where needed. The pattern is at most
/// [`Pattern::MAX_LEN`] bytes and its compiled form is size-limited, so a
/// hostile pattern is refused rather than built. Run time is bounded too:
/// the `regex` crate matches in time linear in the pattern and the text,
/// with no backtracking, so a pattern that looks catastrophic (`(a+)+$`)
/// is as fast as any other.
///
/// Two patterns are equal when their text is; the text is what the filter's
/// text form and serde carry.
#[derive(Clone)]
pub struct Pattern {
    regex: regex::Regex,
}

impl Pattern {
    /// The longest pattern accepted, in bytes.
    pub const MAX_LEN: usize = 1024;
    /// The largest compiled program, in bytes (`RegexBuilder::size_limit`).
    const SIZE_LIMIT: usize = 1 << 20;
    /// The largest lazy-DFA cache, in bytes (`RegexBuilder::dfa_size_limit`).
    const DFA_SIZE_LIMIT: usize = 1 << 20;
    /// The deepest nesting of groups and repetitions.
    const NEST_LIMIT: u32 = 64;

    /// Compiles a pattern within the limits.
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        if pattern.len() > Self::MAX_LEN {
            return Err(PatternError::TooLong { len: pattern.len() });
        }
        regex::RegexBuilder::new(pattern)
            .size_limit(Self::SIZE_LIMIT)
            .dfa_size_limit(Self::DFA_SIZE_LIMIT)
            .nest_limit(Self::NEST_LIMIT)
            .build()
            .map(|regex| Self { regex })
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(_) => PatternError::TooLarge,
                other => PatternError::Invalid(summary(&other.to_string())),
            })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    /// Whether the pattern finds a match anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

/// The last line of the regex crate's multi-line message (the line that
/// says what is wrong; the lines above repeat the pattern with a caret).
fn summary(message: &str) -> String {
    let line = message.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(message);
    line.trim().trim_start_matches("error: ").to_owned()
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Pattern {}

impl Hash for Pattern {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.as_str()).finish()
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A regular expression that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// Longer than [`Pattern::MAX_LEN`].
    #[error("the regular expression is {len} bytes long; at most {max} are accepted", max = Pattern::MAX_LEN)]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Its compiled form would exceed the size limit.
    #[error(
        "the regular expression is too large once compiled; use smaller repetition counts and \
         character classes"
    )]
    TooLarge,
    /// Not a valid regular expression.
    #[error("invalid regular expression: {0}")]
    Invalid(String),
}
