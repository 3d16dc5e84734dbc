//! RFC 3339 in UTC with exactly six fractional digits, e.g.
//! `2026-11-22T06:39:33.123456Z`: the form every entry's `time` is stored in.

use serde::{Deserialize, Deserializer, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Formats a time as RFC 3339 UTC with microseconds.
pub fn format(time: OffsetDateTime) -> String {
    match fast(time) {
        Some(stamp) => stamp.to_string(),
        None => format_any(time),
    }
}

/// The same form from `humantime`, which writes it without allocating
/// without the format-description machinery; it
/// covers the years 1970 to 9999 (else `None`: before 1970).
fn fast(time: OffsetDateTime) -> Option<humantime::Rfc3339Timestamp> {
    let utc = time.checked_to_offset(time::UtcOffset::UTC)?;
    (1970..=9999)
        .contains(&utc.year())
        .then(|| humantime::format_rfc3339_micros(std::time::SystemTime::from(utc)))
}

/// Any year `time` can hold.
pub(crate) fn format_any(time: OffsetDateTime) -> String {
    let utc = time.checked_to_offset(time::UtcOffset::UTC).unwrap_or(time);
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    utc.format(&fmt).unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

/// Truncates a time to whole microseconds, as it is stored.
pub fn truncate(time: OffsetDateTime) -> OffsetDateTime {
    let nanos = time.nanosecond();
    time.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(time)
}

/// Serializes a time (serde `with` helper).
pub fn serialize<S: Serializer>(time: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    match fast(*time) {
        Some(stamp) => s.collect_str(&stamp),
        None => s.serialize_str(&format_any(*time)),
    }
}

/// Deserializes any RFC 3339 time (serde `with` helper).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    let time = OffsetDateTime::parse(&s, &Rfc3339)
        .map_err(|e| serde::de::Error::custom(format!("invalid RFC 3339 time `{s}`: {e}")))?;
    time.checked_to_offset(time::UtcOffset::UTC).ok_or_else(|| {
        serde::de::Error::custom(format!("RFC 3339 time `{s}` is out of range in UTC"))
    })
}
