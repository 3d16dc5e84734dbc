//! What was acted on: [`Resource`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// Something that was acted on: `{type, id, name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Resource {
    /// Its identifier, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The kind of resource, e.g. `project`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl Resource {
    /// A resource of a type with an id.
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Self {
        Self { kind: kind.into(), id: Some(id.into()), name: None }
    }

    /// A resource of a type without an id (e.g. a collection, or settings).
    pub fn of_type(kind: impl Into<String>) -> Self {
        Self { kind: kind.into(), id: None, name: None }
    }

    /// Sets the display name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl Resource {
    /// The display form, in pieces (see [`Actor::display_pieces`]).
    pub(crate) fn display_pieces(&self) -> [&str; 3] {
        match &self.id {
            Some(id) => [&self.kind, " ", id],
            None => [&self.kind, "", ""],
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.display_pieces().iter().try_for_each(|piece| f.write_str(piece))
    }
}
