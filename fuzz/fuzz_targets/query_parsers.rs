//! The CLI's filter parsers: time bounds, event patterns, resources and
//! cursors. Never panic; what parses behaves.
#![no_main]

use audit_core::Query;
use audit_core::query::{Cursor, EventPattern, TimeBound};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(bound) = TimeBound::parse(s) {
        // Documented never to panic, for any `now`.
        for now in [OffsetDateTime::now_utc(), OffsetDateTime::UNIX_EPOCH] {
            let _ = bound.resolve(now);
        }
        let _ = Query::new().since(bound).until(bound).resolved(OffsetDateTime::now_utc());
    }
    if let Ok(pattern) = EventPattern::parse(s) {
        let _ = pattern.to_sql_like();
        let _ = pattern.prefix();
        assert_eq!(pattern.as_str(), s);
        if pattern.is_exact() {
            assert!(pattern.matches(s));
        }
        let _ = pattern.matches("project.update");
        let _ = pattern.matches(s);
    }
    if let Ok((kind, id)) = Query::parse_resource(s) {
        assert!(!kind.is_empty());
        assert!(id.is_none_or(|id| !id.is_empty()));
    }
    if let Ok(cursor) = Cursor::decode(s) {
        let again = Cursor::decode(&cursor.encode()).expect("an encoded cursor decodes");
        assert_eq!(again, cursor);
    }
    let _ = Query::new().text(s).text_sql_like();
});
