//! The query model: parsing of time bounds, event patterns, resources and
//! cursors, and `Query::matches` field by field.

use std::time::Duration;

use audit_core::query::{Cursor, EventPattern, Order, ParseError, Query, TimeBound};
use audit_core::{Action, Actor, AuditEvent, Outcome, Resource};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

fn relative(secs: u64) -> TimeBound {
    TimeBound::Relative(Duration::from_secs(secs))
}

#[test]
fn time_bound_parses_every_relative_unit() {
    let cases = [
        ("90s", relative(90)),
        ("30m", relative(30 * 60)),
        ("24h", relative(24 * HOUR)),
        ("7d", relative(7 * DAY)),
        ("2w", relative(14 * DAY)),
        ("0s", relative(0)),
        (" 7d\n", relative(7 * DAY)),
        ("36500d", relative(36_500 * DAY)),
    ];
    for (input, expected) in cases {
        assert_eq!(TimeBound::parse(input), Ok(expected), "{input:?}");
        assert_eq!(input.parse::<TimeBound>(), Ok(expected), "{input:?}");
    }
}

#[test]
fn time_bound_parses_rfc3339_and_dates() {
    let cases = [
        ("2026-01-31T09:30:00Z", datetime!(2026-01-31 09:30 UTC)),
        ("2026-01-31T09:30:00.123456Z", datetime!(2026-01-31 09:30:00.123456 UTC)),
        ("2026-01-31T10:30:00+01:00", datetime!(2026-01-31 09:30 UTC)),
        ("2026-01-31", datetime!(2026-01-31 00:00 UTC)),
        ("2024-02-29", datetime!(2024-02-29 00:00 UTC)),
    ];
    for (input, expected) in cases {
        let parsed = TimeBound::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(parsed, TimeBound::Absolute(expected), "{input}");
        // stored in UTC
        let TimeBound::Absolute(t) = parsed else { unreachable!() };
        assert!(t.offset().is_utc(), "{input}");
    }
}

#[test]
fn time_bound_errors_say_what_is_wrong_and_what_is_accepted() {
    let cases = [
        ("", "empty"),
        ("   ", "empty"),
        ("7", "no unit"),
        ("7days", "unknown unit `days`"),
        ("7D", "unknown unit `D`"),
        ("1.5h", "fractions"),
        ("-7d", "negative"),
        ("36501d", "more than 100 years"),
        ("99999999999999d", "more than 100 years"),
        ("99999999999999999999999999999999s", "more than 100 years"),
        ("18446744073709551615w", "more than 100 years"),
        ("2026-02-30", "not a valid date"),
        ("2026-13-01", "not a valid date"),
        ("2026-01-31T25:00:00Z", "not a valid RFC 3339 time"),
        ("2026-01-31 09:30", "not a valid RFC 3339 time"),
        ("9999-12-31T23:59:59-23:59", "out of range"),
        ("yesterday", "neither"),
        ("d", "neither"),
        ("-", "neither"),
        ("\u{0}\u{fffd}é", "neither"),
    ];
    for (input, reason) in cases {
        let err = TimeBound::parse(input).expect_err(input);
        let msg = err.to_string();
        assert!(matches!(err, ParseError::Time { .. }), "{input:?}: {err:?}");
        assert!(msg.contains(reason), "{input:?}: `{msg}` should say `{reason}`");
        for form in ["7d", "RFC 3339", "2026-01-31"] {
            assert!(msg.contains(form), "{input:?}: `{msg}` should list `{form}`");
        }
    }
}

#[test]
fn time_bound_errors_shorten_huge_input() {
    let input = "x".repeat(100_000);
    let msg = TimeBound::parse(&input).unwrap_err().to_string();
    assert!(msg.len() < 1_000, "{}", msg.len());
    let input = "é".repeat(1_000) + "d";
    let msg = TimeBound::parse(&input).unwrap_err().to_string();
    assert!(msg.contains('…'), "{msg}");
}

#[test]
fn time_bound_parsing_never_panics_on_odd_input() {
    let pieces =
        ["", "0", "9", "-", ":", "T", "Z", "d", "w", ".", "é", "\u{0}", "99999999999", "+"];
    for a in pieces {
        for b in pieces {
            for c in pieces {
                let input = format!("{a}{b}{c}");
                let _ = TimeBound::parse(&input);
                let _ = EventPattern::parse(&input);
                let _ = Cursor::decode(&input);
                let _ = Query::parse_resource(&input);
            }
        }
    }
}

#[test]
fn time_bound_resolves_against_now_without_overflow() {
    let now = datetime!(2026-02-01 12:00 UTC);
    assert_eq!(relative(12 * HOUR).resolve(now), datetime!(2026-02-01 00:00 UTC));
    assert_eq!(
        TimeBound::Absolute(datetime!(2020-01-01 00:00 UTC)).resolve(now),
        datetime!(2020-01-01 00:00 UTC)
    );
    // built directly, beyond what parses: saturates instead of panicking
    let far = TimeBound::Relative(Duration::MAX).resolve(now);
    assert!(far.year() <= -9999, "{far}");
    assert_eq!(TimeBound::Relative(Duration::from_secs(u64::MAX)).resolve(now), far);
}

#[test]
fn time_bound_display_parses_back() {
    for input in ["90s", "30m", "36h", "7d", "2026-01-31T09:30:00Z"] {
        let bound = TimeBound::parse(input).unwrap();
        assert_eq!(bound.to_string(), input);
        assert_eq!(TimeBound::parse(&bound.to_string()).unwrap(), bound);
    }
    assert_eq!(relative(48 * HOUR).to_string(), "2d");
    assert_eq!(TimeBound::parse("2w").unwrap().to_string(), "14d");
    assert_eq!(TimeBound::Relative(Duration::from_millis(1_500)).to_string(), "1500ms");
    assert_eq!(relative(0).to_string(), "0s");
    assert_eq!(TimeBound::parse("2026-01-31").unwrap().to_string(), "2026-01-31T00:00:00Z");
}

#[test]
fn query_resolves_time_bounds() {
    let now = datetime!(2026-02-01 12:00 UTC);
    let q = Query::new().since(Duration::from_secs(DAY)).until(datetime!(2026-02-01 06:00 UTC));
    assert_eq!(
        q.resolve_times(now),
        (Some(datetime!(2026-01-31 12:00 UTC)), Some(datetime!(2026-02-01 06:00 UTC)))
    );
    let resolved = q.resolved(now);
    assert_eq!(resolved.since, Some(TimeBound::Absolute(datetime!(2026-01-31 12:00 UTC))));
    assert_eq!(resolved.until, q.until);
    assert_eq!(Query::new().resolve_times(now), (None, None));
}

#[test]
fn event_patterns_match_exactly_or_by_glob() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("project.update", &["project.update"], &["project.updated", "project", "xproject.update"]),
        ("key.*", &["key.create", "key.", "key.a.b"], &["key", "api_key.create", "keyx.create"]),
        ("authorization.*", &["authorization.denied"], &["authz.denied"]),
        ("*.delete", &["project.delete", "a.b.delete", ".delete"], &["project.deleted", "delete"]),
        ("*", &["", "anything"], &[]),
        ("a*a", &["aa", "aba"], &["a", "ab"]),
        ("a*n.*_*", &["authorization.mfa_required"], &["authorization.denied", "api_key.create"]),
        ("p*.*e", &["project.create", "p.e"], &["project.list"]),
        ("é*ü", &["éü", "éaü"], &["é", "ü"]),
    ];
    for (pattern, yes, no) in cases {
        let p = EventPattern::parse(pattern).unwrap();
        for name in *yes {
            assert!(p.matches(name), "{pattern} should match {name}");
        }
        for name in *no {
            assert!(!p.matches(name), "{pattern} should not match {name}");
        }
    }
}

#[test]
fn event_pattern_helpers() {
    let p: EventPattern = "key.*".parse().unwrap();
    assert!(p.is_prefix() && !p.is_exact());
    assert_eq!(p.prefix(), Some("key."));
    assert_eq!(p.to_string(), "key.*");
    assert_eq!(p.as_str(), "key.*");

    let p = EventPattern::parse("project.update").unwrap();
    assert!(p.is_exact() && !p.is_prefix());
    assert_eq!(p.prefix(), None);
    assert_eq!(p.to_sql_like(), "project.update");

    let p = EventPattern::parse("*.delete").unwrap();
    assert!(!p.is_exact() && !p.is_prefix());
    assert_eq!(p.to_sql_like(), "%.delete");
    assert!(!EventPattern::parse("a*.*").unwrap().is_prefix());

    assert_eq!(EventPattern::parse("api_key.*").unwrap().to_sql_like(), r"api\_key.%");
    assert_eq!(EventPattern::parse(r"100%\x_*").unwrap().to_sql_like(), r"100\%\\x\_%");
}

#[test]
fn event_pattern_errors() {
    for (input, reason) in [
        ("", "empty"),
        ("project update", "whitespace"),
        ("a.\tb", "whitespace"),
        ("a\u{7}", "control"),
    ] {
        let err = EventPattern::parse(input).unwrap_err();
        assert!(matches!(err, ParseError::EventPattern { .. }));
        let msg = err.to_string();
        assert!(msg.contains(reason) && msg.contains("key.*"), "{input:?}: {msg}");
    }
}

#[test]
fn resource_filters_parse() {
    assert_eq!(Query::parse_resource("project"), Ok(("project".into(), None)));
    assert_eq!(Query::parse_resource("project:p_42"), Ok(("project".into(), Some("p_42".into()))));
    assert_eq!(
        Query::parse_resource("file:s3://b/k"),
        Ok(("file".into(), Some("s3://b/k".into())))
    );
    for (input, reason) in [
        ("", "type is empty"),
        (":p_42", "type is empty"),
        ("project:", "id"),
        ("a b:c", "whitespace"),
    ] {
        let err = Query::parse_resource(input).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ParseError::Resource { .. }), "{input:?}");
        assert!(msg.contains(reason) && msg.contains("project:p_42"), "{input:?}: {msg}");
    }
}

#[test]
fn cursor_round_trips_and_is_url_safe() {
    let id = Uuid::now_v7();
    for time in [
        datetime!(2026-01-31 09:30:00.123456 UTC),
        datetime!(1970-01-01 00:00 UTC),
        datetime!(1969-12-31 23:59:59.999999999 UTC),
        datetime!(2026-01-31 10:30 +01:00),
    ] {
        let cursor = Cursor::new(time, id);
        let text = cursor.encode();
        assert!(
            text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}"
        );
        let back = Cursor::decode(&text).unwrap();
        assert_eq!(back, cursor);
        assert_eq!((back.time(), back.id()), (time, id));
        assert_eq!(text.parse::<Cursor>().unwrap(), cursor);
        assert_eq!(cursor.to_string(), text);
    }
    let entry = AuditEvent::builder("a.b").id(id).time(datetime!(2026-01-31 00:00 UTC)).build();
    assert_eq!(Cursor::after(&entry), Cursor::new(entry.time, id));
}

#[test]
fn cursor_rejects_garbage() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let cases = [
        (String::new(), "empty"),
        ("not a cursor".to_owned(), "base64url"),
        ("A".repeat(10_000), "too long"),
        (b64("garbage"), "no time and id"),
        (b64("x:0190e000-0000-7000-8000-000000000000"), "not a number"),
        (b64("99999999999999999999999999999:0190e000-0000-7000-8000-000000000000"), "out of range"),
        (b64("1:not-a-uuid"), "not a UUID"),
        (base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xff, 0xfe]), "not text"),
    ];
    for (input, reason) in cases {
        let err = Cursor::decode(&input).unwrap_err();
        assert!(matches!(err, ParseError::Cursor { .. }));
        assert!(err.to_string().contains(reason), "{}: {err}", &input[..input.len().min(40)]);
    }
}

fn entry() -> AuditEvent {
    AuditEvent::builder("project.update")
        .id(Uuid::from_u128(10))
        .time(datetime!(2026-01-31 12:00 UTC))
        .actor(Actor::user("u_1").email("alice@example.com").name("Alice"))
        .tenant("acme")
        .resource(Resource::new("project", "p_42").name("Apollo"))
        .resource(Resource::new("user", "u_2"))
        .outcome(Outcome::Failure)
        .reason("Quota exceeded")
        .description("alice@example.com could not update project p_42")
        .build()
}

#[track_caller]
fn check(query: Query, expected: bool) {
    assert_eq!(query.matches(&entry()), expected, "{query:?}");
}

#[test]
fn matches_everything_by_default() {
    check(Query::new(), true);
    check(Query::default(), true);
}

#[test]
fn matches_tenant() {
    check(Query::new().tenant("acme"), true);
    check(Query::new().tenant("globex"), false);
    check(Query::new().tenant("ACME"), false);
    let no_tenant = AuditEvent::builder("a.b").build();
    assert!(!Query::new().tenant("acme").matches(&no_tenant));
}

#[test]
fn matches_actor_by_id_name_email_or_display() {
    for actor in ["u_1", "Alice", "alice@example.com"] {
        check(Query::new().actor(actor), true);
    }
    for actor in ["alice", "user:u_1", "u_2", ""] {
        check(Query::new().actor(actor), false);
    }
    let key = AuditEvent::builder("a.b").actor(Actor::api_key("k_1").name("ci-deploy")).build();
    for actor in ["api-key:ci-deploy", "ci-deploy", "k_1"] {
        assert!(Query::new().actor(actor).matches(&key), "{actor}");
    }
    assert!(!Query::new().actor("api-key:k_1").matches(&key));
    let anonymous = AuditEvent::builder("a.b").build();
    assert!(Query::new().actor("anonymous").matches(&anonymous));
}

#[test]
fn matches_any_event_pattern() {
    let p = |s: &str| EventPattern::parse(s).unwrap();
    check(Query::new().event(p("project.update")), true);
    check(Query::new().event(p("project.*")), true);
    check(Query::new().event(p("*.update")), true);
    check(Query::new().event(p("project.delete")), false);
    check(Query::new().event(p("key.*")).event(p("project.u*")), true);
    check(Query::new().events([p("key.*"), p("*.delete")]), false);
}

#[test]
fn matches_resource_type_and_id_on_the_same_resource() {
    check(Query::new().resource_type("project"), true);
    check(Query::new().resource_type("user"), true);
    check(Query::new().resource_type("team"), false);
    check(Query::new().resource_id("p_42"), true);
    check(Query::new().resource_id("u_2"), true);
    check(Query::new().resource_id("p_43"), false);
    check(Query::new().resource_type("project").resource_id("p_42"), true);
    check(Query::new().resource_type("user").resource_id("u_2"), true);
    check(Query::new().resource_type("project").resource_id("u_2"), false);
    let none = AuditEvent::builder("project.update").build();
    assert!(!Query::new().resource_type("project").matches(&none));
}

#[test]
fn matches_outcome_and_action() {
    check(Query::new().outcome(Outcome::Failure), true);
    check(Query::new().outcome(Outcome::Success), false);
    check(Query::new().action(Action::Update), true);
    check(Query::new().action(Action::Delete), false);
}

#[test]
fn matches_time_since_inclusive_until_exclusive() {
    let t = datetime!(2026-01-31 12:00 UTC);
    let tick = time::Duration::microseconds(1);
    check(Query::new().since(t), true);
    check(Query::new().since(t + tick), false);
    check(Query::new().until(t), false);
    check(Query::new().until(t + tick), true);
    check(Query::new().since(t).until(t + tick), true);
    check(Query::new().since(t + tick).until(t), false);

    let e = entry();
    let now = t + time::Duration::hours(2);
    assert!(Query::new().since(Duration::from_secs(3 * HOUR)).matches_at(&e, now));
    assert!(!Query::new().since(Duration::from_secs(HOUR)).matches_at(&e, now));
    assert!(Query::new().until(Duration::from_secs(HOUR)).matches_at(&e, now));
    assert!(!Query::new().until(Duration::from_secs(2 * HOUR)).matches_at(&e, now));
    // relative bounds against the real clock: the entry is in 2026-01, the bound far back
    let recent = AuditEvent::builder("a.b").time(OffsetDateTime::now_utc()).build();
    assert!(Query::new().since(Duration::from_secs(DAY)).matches(&recent));
    assert!(!Query::new().until(Duration::from_secs(DAY)).matches(&recent));
}

#[test]
fn matches_text_case_insensitively_in_every_searched_field() {
    for text in [
        "COULD NOT",         // description
        "project.upd",       // event
        "quota",             // reason
        "ALICE@EXAMPLE.COM", // actor display
        "p_42",              // resource id
        "u_2",               // second resource id
        "apollo",            // resource name
        "",                  // empty matches all
    ] {
        check(Query::new().text(text), true);
    }
    for text in ["acme", "Alice ", "team", "failure"] {
        check(Query::new().text(text), false);
    }
}

#[test]
fn matches_requires_every_filter() {
    let p = |s: &str| EventPattern::parse(s).unwrap();
    let all = Query::new()
        .tenant("acme")
        .actor("alice@example.com")
        .event(p("project.*"))
        .resource_type("project")
        .resource_id("p_42")
        .outcome(Outcome::Failure)
        .action(Action::Update)
        .since(datetime!(2026-01-01 00:00 UTC))
        .until(datetime!(2026-02-01 00:00 UTC))
        .text("quota");
    check(all.clone(), true);
    check(all.clone().tenant("globex"), false);
    check(all.clone().outcome(Outcome::Denied), false);
    check(all.text("nothing"), false);
    // limit, cursor and order are not filters
    check(Query::new().limit(0).cursor(Cursor::after(&entry())).order(Order::OldestFirst), true);
}

#[test]
fn is_after_cursor_follows_the_order() {
    let t = datetime!(2026-01-31 12:00 UTC);
    let at = |time: OffsetDateTime, id: u128| {
        AuditEvent::builder("a.b").time(time).id(Uuid::from_u128(id)).build()
    };
    let cursor = Cursor::after(&at(t, 10));
    let newest = Query::new().cursor(cursor);
    let oldest = Query::new().cursor(cursor).order(Order::OldestFirst);
    let earlier = at(t - time::Duration::seconds(1), 99);
    let same_time_lower_id = at(t, 9);
    let same = at(t, 10);
    let same_time_higher_id = at(t, 11);
    let later = at(t + time::Duration::seconds(1), 1);

    assert!(newest.is_after_cursor(&earlier));
    assert!(newest.is_after_cursor(&same_time_lower_id));
    assert!(!newest.is_after_cursor(&same));
    assert!(!newest.is_after_cursor(&same_time_higher_id));
    assert!(!newest.is_after_cursor(&later));

    assert!(!oldest.is_after_cursor(&earlier));
    assert!(!oldest.is_after_cursor(&same_time_lower_id));
    assert!(!oldest.is_after_cursor(&same));
    assert!(oldest.is_after_cursor(&same_time_higher_id));
    assert!(oldest.is_after_cursor(&later));

    assert!(Query::new().is_after_cursor(&same));
    assert_eq!(Order::NewestFirst.compare(&later, &earlier), std::cmp::Ordering::Less);
    assert_eq!(Order::OldestFirst.compare(&same_time_lower_id, &same), std::cmp::Ordering::Less);
}

#[test]
fn limits_default_and_clamp() {
    assert_eq!(Query::new().effective_limit(), Query::DEFAULT_LIMIT);
    assert_eq!(Query::new().limit(7).effective_limit(), 7);
    assert_eq!(Query::new().limit(0).effective_limit(), 1);
    assert_eq!(Query::new().limit(usize::MAX).effective_limit(), Query::MAX_LIMIT);
    assert_eq!(Query::DEFAULT_LIMIT, 100);
    assert_eq!(Query::MAX_LIMIT, 10_000);
}

#[test]
fn query_builder_sets_fields() {
    let q = Query::new()
        .tenant("acme")
        .actor("bob")
        .resource_type("project")
        .resource_id("p_1")
        .text("x")
        .limit(5)
        .order(Order::OldestFirst);
    assert_eq!(q.tenant.as_deref(), Some("acme"));
    assert_eq!(q.actor.as_deref(), Some("bob"));
    assert_eq!(q.resource_type.as_deref(), Some("project"));
    assert_eq!(q.resource_id.as_deref(), Some("p_1"));
    assert_eq!(q.text.as_deref(), Some("x"));
    assert_eq!(q.limit, Some(5));
    assert_eq!(q.order, Order::OldestFirst);
    assert_eq!(Query::new().order, Order::NewestFirst);
    assert_eq!(q.clone(), q);
}

#[test]
fn text_filter_as_sql_like() {
    assert_eq!(Query::new().text_sql_like(), None);
    assert_eq!(Query::new().text("Apollo").text_sql_like().as_deref(), Some("%Apollo%"));
    assert_eq!(Query::new().text(r"50%_\").text_sql_like().as_deref(), Some(r"%50\%\_\\%"));
}
