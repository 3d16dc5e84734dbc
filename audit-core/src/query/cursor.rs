//! [`Cursor`]: where the next page of a keyset-paginated query starts.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ParseError, time_bound::to_utc};
use crate::model::AuditEvent;

/// A keyset cursor: the `(time, id)` of the last entry of a page.
///
/// The next page holds the entries that come after it in the query's order
/// (for newest first: `(time, id) < (cursor.time, cursor.id)`). Clients treat
/// it as an opaque URL-safe string ([`Cursor::encode`]); stores read
/// [`Cursor::time`] and [`Cursor::id`]. Cursors order as `(time, id)`.
///
/// ```
/// use audit_core::query::Cursor;
/// use audit_core::AuditEvent;
///
/// let entry = AuditEvent::builder("project.update").id(uuid::Uuid::now_v7()).build();
/// let cursor = Cursor::after(&entry);
/// let text = cursor.encode();
/// assert_eq!(Cursor::decode(&text).unwrap(), cursor);
/// assert!(Cursor::decode("not a cursor").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cursor {
    time: OffsetDateTime,
    id: Uuid,
}

impl Cursor {
    /// Longest encoded cursor that [`Cursor::decode`] looks at.
    const MAX_ENCODED: usize = 128;

    /// A cursor at an entry's `(time, id)`.
    pub fn new(time: OffsetDateTime, id: Uuid) -> Self {
        Self { time: to_utc(time), id }
    }

    /// A cursor pointing at an entry: the next page starts after it.
    pub fn after(event: &AuditEvent) -> Self {
        Self::new(event.time, event.id)
    }

    /// The time of the entry the cursor points at.
    pub fn time(&self) -> OffsetDateTime {
        self.time
    }

    /// The id of the entry the cursor points at.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The opaque, URL-safe text form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.time.unix_timestamp_nanos(), self.id))
    }

    /// Reads the text form made by [`Cursor::encode`].
    pub fn decode(input: &str) -> Result<Self, ParseError> {
        if input.is_empty() {
            return Err(ParseError::cursor("it is empty"));
        }
        if input.len() > Self::MAX_ENCODED {
            return Err(ParseError::cursor("it is too long"));
        }
        let bytes =
            URL_SAFE_NO_PAD.decode(input).map_err(|_| ParseError::cursor("it is not base64url"))?;
        let text = String::from_utf8(bytes).map_err(|_| ParseError::cursor("it is not text"))?;
        let (nanos, id) =
            text.split_once(':').ok_or_else(|| ParseError::cursor("it has no time and id"))?;
        let nanos: i128 =
            nanos.parse().map_err(|_| ParseError::cursor("its time is not a number"))?;
        let time = OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map_err(|_| ParseError::cursor("its time is out of range"))?;
        let id = Uuid::try_parse(id).map_err(|_| ParseError::cursor("its id is not a UUID"))?;
        Ok(Self { time, id })
    }
}

impl fmt::Display for Cursor {
    /// The same text as [`Cursor::encode`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for Cursor {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::decode(s)
    }
}
