//! [`Sensitive`]: a value that always serializes redacted.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::REDACTED;

/// A value that always serializes as `"[REDACTED]"`, and prints as
/// `[REDACTED]` with `Debug` and `Display`.
///
/// Wrap the secret fields of request DTOs and other types that may end up in
/// an entry (through `#[audited]` arguments, `changes_between` or metadata):
/// they deserialize as the inner type, so the application reads the real value
/// with [`expose`](Self::expose), `*` or [`into_inner`](Self::into_inner), but
/// the value never reaches an entry, a log line or a panic message.
///
/// ```
/// use audit_core::Sensitive;
///
/// #[derive(serde::Deserialize, serde::Serialize, Debug)]
/// struct CreateApiKey {
///     name: String,
///     secret: Sensitive<String>,
/// }
///
/// let dto: CreateApiKey = serde_json::from_str(r#"{"name": "ci", "secret": "sk_live_123"}"#)?;
/// assert_eq!(dto.secret.expose(), "sk_live_123");
/// assert_eq!(serde_json::to_string(&dto)?, r#"{"name":"ci","secret":"[REDACTED]"}"#);
/// assert_eq!(format!("{dto:?}"), r#"CreateApiKey { name: "ci", secret: [REDACTED] }"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    /// Wraps a secret value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value. Named so that reading it stands out in review.
    pub const fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Sensitive<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> Deref for Sensitive<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> Serialize for Sensitive<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sensitive<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}
