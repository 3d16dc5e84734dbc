//! [`TimeBound`]: a point in time, or a span before now.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{ParseError, error::truncate};

/// A lower or upper time bound: a point in time, or a span before now.
///
/// Parses `90s`, `30m`, `24h`, `7d`, `2w` (relative), RFC 3339 times such as
/// `2026-01-31T09:30:00Z`, and dates such as `2026-01-31` (midnight UTC).
///
/// ```
/// use std::time::Duration;
/// use audit_core::query::TimeBound;
/// use time::macros::datetime;
///
/// assert_eq!(TimeBound::parse("7d").unwrap(), TimeBound::Relative(Duration::from_secs(7 * 86_400)));
/// assert_eq!(
///     TimeBound::parse("2026-01-31").unwrap(),
///     TimeBound::Absolute(datetime!(2026-01-31 00:00 UTC))
/// );
/// let now = datetime!(2026-02-01 12:00 UTC);
/// assert_eq!(TimeBound::parse("12h").unwrap().resolve(now), datetime!(2026-02-01 00:00 UTC));
/// assert!(TimeBound::parse("99999999999999d").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeBound {
    /// This point in time.
    Absolute(OffsetDateTime),
    /// Now minus this span.
    Relative(Duration),
}

impl TimeBound {
    /// The longest relative span that parses: 100 years (`36500d`).
    pub const MAX_RELATIVE: Duration = Duration::from_secs(36_500 * 86_400);

    /// Parses a relative span (`90s`, `30m`, `24h`, `7d`, `2w`), an RFC 3339
    /// time, or a date (`2026-01-31`, meaning midnight UTC). Surrounding
    /// whitespace is ignored.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ParseError::time(input, "it is empty"));
        }
        if let Some(relative) = parse_relative(input, s) {
            return relative.map(Self::Relative);
        }
        if is_date_shaped(s) {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            return time::Date::parse(s, &format)
                .map(|date| Self::Absolute(date.midnight().assume_utc()))
                .map_err(|e| ParseError::time(input, format!("not a valid date ({e})")));
        }
        if s.contains(':') {
            let t = OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|e| ParseError::time(input, format!("not a valid RFC 3339 time ({e})")))?;
            return checked_utc(t)
                .map(Self::Absolute)
                .ok_or_else(|| ParseError::time(input, "it is out of range in UTC"));
        }
        Err(ParseError::time(input, "it is neither a span, an RFC 3339 time nor a date"))
    }

    /// The absolute time this bound stands for, relative spans counted back
    /// from `now`. Never panics: a span reaching before the earliest
    /// representable time gives that time.
    pub fn resolve(self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            Self::Absolute(t) => t,
            Self::Relative(span) => {
                let span = time::Duration::try_from(span).unwrap_or(time::Duration::MAX);
                now.saturating_sub(span)
            }
        }
    }
}

/// `Some` when `s` looks like a span (starts with digits, or `-` and digits),
/// `None` when it may be a date or time.
pub(super) fn parse_relative(input: &str, s: &str) -> Option<Result<Duration, ParseError>> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let (number, unit) = unsigned.split_at(digits);
    if unit.starts_with(['-', ':', 'T', 't']) {
        return None; // a date or time
    }
    if s.starts_with('-') {
        return Some(Err(ParseError::time(
            input,
            "a span counts back from now and cannot be negative",
        )));
    }
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "" => return Some(Err(ParseError::time(input, "the number has no unit"))),
        _ if unit.starts_with(['.', ',']) => {
            return Some(Err(ParseError::time(
                input,
                "fractions are not supported; use a smaller unit, as in `90m`",
            )));
        }
        _ => {
            return Some(Err(ParseError::time(
                input,
                format!("unknown unit `{}`; use s, m, h, d or w", truncate(unit)),
            )));
        }
    };
    let too_large = || ParseError::time(input, "the span reaches back more than 100 years");
    let secs = number.parse::<u64>().ok().and_then(|n| n.checked_mul(unit_secs));
    Some(match secs {
        Some(secs) if secs <= TimeBound::MAX_RELATIVE.as_secs() => Ok(Duration::from_secs(secs)),
        _ => Err(too_large()),
    })
}

/// The same instant in UTC; unchanged if UTC cannot represent it (where
/// `to_offset` would panic).
pub(super) fn to_utc(time: OffsetDateTime) -> OffsetDateTime {
    checked_utc(time).unwrap_or(time)
}

/// The same instant in UTC, if UTC can represent it.
pub(super) fn checked_utc(time: OffsetDateTime) -> Option<OffsetDateTime> {
    if time.offset().is_utc() {
        return Some(time);
    }
    OffsetDateTime::from_unix_timestamp_nanos(time.unix_timestamp_nanos()).ok()
}

pub(super) fn is_date_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter()
            .enumerate()
            .all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

impl FromStr for TimeBound {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<OffsetDateTime> for TimeBound {
    fn from(time: OffsetDateTime) -> Self {
        Self::Absolute(time)
    }
}

impl From<Duration> for TimeBound {
    fn from(span: Duration) -> Self {
        Self::Relative(span)
    }
}

impl fmt::Display for TimeBound {
    /// Relative spans in the largest whole unit up to days (`7d`, `90m`, `14d`
    /// for `2w`), absolute times
    /// as RFC 3339; both parse back to the same bound. Spans with a fraction
    /// of a second are shown in milliseconds (`1500ms`), which does not parse.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Absolute(t) => match t.format(&Rfc3339) {
                Ok(s) => f.write_str(&s),
                Err(_) => f.write_str(&crate::json::rfc3339_micros::format(*t)),
            },
            Self::Relative(span) if span.subsec_nanos() != 0 => {
                write!(f, "{}ms", span.as_millis())
            }
            Self::Relative(span) => {
                let secs = span.as_secs();
                let units = [(86_400, 'd'), (3_600, 'h'), (60, 'm')];
                match units.iter().find(|(n, _)| secs != 0 && secs.is_multiple_of(*n)) {
                    Some((n, unit)) => write!(f, "{}{unit}", secs / n),
                    None => write!(f, "{secs}s"),
                }
            }
        }
    }
}
