//! What kind of operation an entry records ([`Action`]) and whether it
//! worked ([`Outcome`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of operation an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Action {
    /// Something was created, added or invited.
    Create,
    /// Something was read, listed or exported.
    Read,
    /// Something was changed.
    Update,
    /// Something was deleted, removed or revoked.
    Delete,
    /// Anything else.
    Other,
}

impl Action {
    /// Derives the action from the verb of a dotted event name.
    ///
    /// The verb is the part after the last dot; its words (split on `_` and
    /// `-`) are read left to right and the first known one decides:
    /// create/add/invite → create; update/set/change/rotate/reroll/enable/disable
    /// → update; delete/remove/revoke → delete; read/get/list/export/download →
    /// read; anything else → other.
    ///
    /// ```
    /// use audit_core::Action;
    /// assert_eq!(Action::from_event_name("member.role_change"), Action::Update);
    /// assert_eq!(Action::from_event_name("api_key.revoke"), Action::Delete);
    /// assert_eq!(Action::from_event_name("user.login"), Action::Other);
    /// ```
    pub fn from_event_name(event: &str) -> Self {
        let verb = event.rsplit('.').next().unwrap_or(event);
        verb.split(['_', '-'])
            .find_map(|word| Self::from_verb(&word.to_ascii_lowercase()))
            .unwrap_or(Self::Other)
    }

    fn from_verb(word: &str) -> Option<Self> {
        Some(match word {
            "create" | "add" | "invite" => Self::Create,
            "update" | "set" | "change" | "rotate" | "reroll" | "enable" | "disable" => {
                Self::Update
            }
            "delete" | "remove" | "revoke" => Self::Delete,
            "read" | "get" | "list" | "export" | "download" => Self::Read,
            _ => return None,
        })
    }

    /// The lowercase name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Read => "read",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "create" => Ok(Self::Create),
            "read" => Ok(Self::Read),
            "update" => Ok(Self::Update),
            "delete" => Ok(Self::Delete),
            "other" => Ok(Self::Other),
            _ => Err(ParseEnumError::new("action", s, "create, read, update, delete, other")),
        }
    }
}

/// Whether an operation worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Outcome {
    /// It worked.
    Success,
    /// It was attempted and failed.
    Failure,
    /// It was refused: not authenticated or not authorized.
    Denied,
    /// The caller went away before it finished; the operation may have happened.
    Cancelled,
}

impl Outcome {
    /// The lowercase name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Outcome {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "success" => Ok(Self::Success),
            "failure" => Ok(Self::Failure),
            "denied" => Ok(Self::Denied),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(ParseEnumError::new("outcome", s, "success, failure, denied, cancelled")),
        }
    }
}

/// A string that names no known variant of an enum.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {what} `{value}`: expected one of {expected}")]
pub struct ParseEnumError {
    what: &'static str,
    value: String,
    expected: &'static str,
}

impl ParseEnumError {
    pub(crate) fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        Self { what, value: value.to_owned(), expected }
    }
}
