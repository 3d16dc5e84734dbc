//! [`ParseError`]: a query argument that could not be parsed.

/// A query argument that could not be parsed: what was wrong and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A time bound (`--since`, `--until`).
    #[error(
        "invalid time `{input}`: {reason}; expected a span before now such as `90s`, `30m`, \
         `24h`, `7d` or `2w`, an RFC 3339 time such as `2026-01-31T09:30:00Z`, or a date such \
         as `2026-01-31` (midnight UTC)"
    )]
    Time {
        /// The input (shortened if long).
        input: String,
        /// What was wrong with it.
        reason: String,
    },
    /// An event pattern (`--event`).
    #[error(
        "invalid event pattern `{input}`: {reason}; expected an event name such as \
         `project.update`, or a pattern with `*` such as `key.*` or `*.delete`"
    )]
    EventPattern {
        /// The input (shortened if long).
        input: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A pagination cursor.
    #[error("invalid cursor: {reason}; pass the cursor back exactly as a previous page gave it")]
    Cursor {
        /// What was wrong with it.
        reason: String,
    },
    /// A resource filter (`--resource`).
    #[error(
        "invalid resource `{input}`: {reason}; expected `<type>` or `<type>:<id>`, such as \
         `project` or `project:p_42`"
    )]
    Resource {
        /// The input (shortened if long).
        input: String,
        /// What was wrong with it.
        reason: String,
    },
}

impl ParseError {
    pub(super) fn time(input: &str, reason: impl Into<String>) -> Self {
        Self::Time { input: truncate(input), reason: reason.into() }
    }

    pub(super) fn event_pattern(input: &str, reason: impl Into<String>) -> Self {
        Self::EventPattern { input: truncate(input), reason: reason.into() }
    }

    pub(super) fn cursor(reason: impl Into<String>) -> Self {
        Self::Cursor { reason: reason.into() }
    }

    pub(super) fn resource(input: &str, reason: impl Into<String>) -> Self {
        Self::Resource { input: truncate(input), reason: reason.into() }
    }
}

/// Shortens user input quoted in an error to at most 64 characters.
pub(super) fn truncate(input: &str) -> String {
    const MAX: usize = 64;
    match input.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &input[..at]),
        None => input.to_owned(),
    }
}
