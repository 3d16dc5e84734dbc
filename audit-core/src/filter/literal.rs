//! The values of the text syntax, typed by the field they belong to:
//! `acme` is text for `tenant`, a number for a JSON path if it looks like
//! one, and an error for `ip`.

use std::time::Duration;

use super::ast::{Field, ResourceRef, Value};
use super::error::quote;
use crate::model::{Action, ActorKind, Outcome};
use crate::query::{EventPattern, Query, TimeBound};

/// A value's text as the field's type of value, or what is wrong with it.
pub(super) fn typed_value(field: &Field, text: String, quoted: bool) -> Result<Value, String> {
    Ok(match field {
        Field::Event => Value::Event(EventPattern::parse(&text).map_err(|e| e.to_string())?),
        Field::Action => Value::Action(text.parse::<Action>().map_err(|e| e.to_string())?),
        Field::Outcome => Value::Outcome(text.parse::<Outcome>().map_err(|e| e.to_string())?),
        Field::ActorKind => Value::ActorKind(actor_kind(&text)?),
        Field::Resource => {
            let (kind, id) = Query::parse_resource(&text).map_err(|e| e.to_string())?;
            Value::Resource(ResourceRef { kind, id })
        }
        Field::Ip => Value::Ip(ip(&text).ok_or_else(|| {
            format!(
                "invalid IP address or CIDR {}; expected an address such as 10.0.0.1 or \
                 2001:db8::1, or a network such as 10.0.0.0/8",
                quote(&text)
            )
        })?),
        Field::Time => Value::Time(time_bound(&text)?),
        Field::Json(_) if quoted => Value::Text(text),
        Field::Json(_) => match text.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => match json_number(&text) {
                Some(n) => Value::Number(n?),
                None => Value::Text(text),
            },
        },
        _ => Value::Text(text),
    })
}

fn actor_kind(text: &str) -> Result<ActorKind, String> {
    const KINDS: [ActorKind; 5] = [
        ActorKind::User,
        ActorKind::ApiKey,
        ActorKind::Service,
        ActorKind::System,
        ActorKind::Anonymous,
    ];
    KINDS.into_iter().find(|k| k.as_str() == text).ok_or_else(|| {
        format!(
            "unknown actor kind {}: expected one of user, api_key, service, system, anonymous",
            quote(text)
        )
    })
}

/// An address (as a network of one) or a CIDR.
fn ip(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// A number in JSON's grammar (`-12`, `0.5`, `1e3`; not `012` or `.5`), or
/// `None` if the text is not shaped like one.
pub(super) fn json_number(text: &str) -> Option<Result<serde_json::Number, String>> {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    let int = digits(&mut i);
    if int == 0 || (int > 1 && b[int_start] == b'0') {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    (i == b.len()).then(|| {
        serde_json::from_str::<serde_json::Number>(text)
            .map_err(|_| format!("the number {} is out of range", quote(text)))
    })
}

/// A time literal: a span before now (`90s`, `30m`, `24h`, `7d`, `2w`, and
/// `ms`, `us`, `ns` for spans with a fraction of a second), an RFC 3339 time,
/// or a date (midnight UTC).
fn time_bound(text: &str) -> Result<TimeBound, String> {
    type FromCount = fn(u64) -> Duration;
    let units: [(&str, FromCount); 3] = [
        ("ms", Duration::from_millis),
        ("us", Duration::from_micros),
        ("ns", Duration::from_nanos),
    ];
    for (unit, from) in units {
        if let Some(number) = text.strip_suffix(unit)
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
        {
            return match number.parse::<u64>().map(from) {
                Ok(span) if span <= TimeBound::MAX_RELATIVE => Ok(TimeBound::Relative(span)),
                _ => Err(format!(
                    "invalid time {}: the span reaches back more than 100 years",
                    quote(text)
                )),
            };
        }
    }
    TimeBound::parse(text).map_err(|e| e.to_string())
}
