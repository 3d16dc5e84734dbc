//! The error of the text syntax: where, what was expected, and a hint.

use std::fmt;

/// Text that is not a valid filter: the 1-based column (in characters)
/// where the problem is, what was expected there, and sometimes a hint.
///
/// Displayed as `<message> at column <n>` and, with a hint,
/// `<message> at column <n>; <hint>`:
///
/// ```
/// use audit_core::filter::Filter;
///
/// let err = Filter::parse("actor = ").unwrap_err();
/// assert_eq!(err.to_string(), r#"expected a value after "=" at column 9"#);
/// assert_eq!(err.column(), 9);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    kind: ParseErrorKind,
    column: usize,
    message: String,
    hint: Option<String>,
}

/// What kind of problem a [`ParseError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The text does not follow the grammar.
    Syntax,
    /// A field name that is not known.
    UnknownField,
    /// A value that is not valid for its field.
    InvalidValue,
    /// An operator that the field does not take.
    UnsupportedOperator,
    /// A regular expression that is invalid or too large.
    Regex,
    /// The text is longer than [`Filter::MAX_LEN`](super::Filter::MAX_LEN).
    TooLong,
    /// Parentheses and `not` nest deeper than
    /// [`Filter::MAX_DEPTH`](super::Filter::MAX_DEPTH).
    TooDeep,
    /// More than [`Filter::MAX_TERMS`](super::Filter::MAX_TERMS) conditions
    /// and listed values.
    TooManyTerms,
}

impl ParseError {
    pub(super) fn new(kind: ParseErrorKind, column: usize, message: impl Into<String>) -> Self {
        Self { kind, column, message: message.into(), hint: None }
    }

    pub(super) fn syntax(column: usize, message: impl Into<String>) -> Self {
        Self::new(ParseErrorKind::Syntax, column, message)
    }

    #[must_use]
    pub(super) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The kind of problem.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The 1-based column, counted in characters, where the problem is;
    /// one past the last character when the text ended too early.
    pub fn column(&self) -> usize {
        self.column
    }

    /// What was expected or wrong, without the column.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How to fix it, where there is more to say.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.column)?;
        match &self.hint {
            Some(hint) => write!(f, "; {hint}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ParseError {}

/// User text quoted in a message: at most 32 characters, control characters
/// escaped, in double quotes.
pub(super) fn quote(text: &str) -> String {
    const MAX: usize = 32;
    let mut out = String::from("\"");
    for (i, c) in text.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}
