//! Unit tests of the filter language: every field with every operator,
//! precedence, the canonical text form, error messages with columns, the
//! limits against hostile input, and property tests (round trip, no panics,
//! `Query` equivalence, JSON paths against the serialized entry).

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::query::{EventPattern, Query, TimeBound};
use crate::{
    Action, Actor, ActorKind, AuditEvent, Body, Change, GrpcRequest, HttpRequest, OmitReason,
    Outcome, Request, Resource, Response, Source,
};

const NOW: OffsetDateTime = datetime!(2026-03-10 12:00 UTC);

fn parse(text: &str) -> Filter {
    Filter::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn error(text: &str) -> ParseError {
    match Filter::parse(text) {
        Ok(filter) => panic!("{text:?} parsed as {filter:?}"),
        Err(e) => e,
    }
}

/// An entry with every field set.
fn sample() -> AuditEvent {
    let headers = BTreeMap::from([("user-agent".to_owned(), "curl/8.5".to_owned())]);
    let body = json!({
        "role": "admin", "tags": ["a", "b"], "n": 5,
        "nested": {"ok": true, "none": null}, "members": [{"role": "owner"}, {"role": "viewer"}]
    });
    AuditEvent::builder("api_key.create")
        .actor(Actor::user("u_1").email("alice@example.com").name("Alice"))
        .outcome(Outcome::Denied)
        .reason("missing scope")
        .tenant("acme")
        .resource(Resource::new("api_key", "k_9").name("deploy key"))
        .resource(Resource::new("project", "p_42"))
        .description("alice@example.com created api_key k_9 (denied)")
        .source(
            Source::new()
                .ip("10.1.2.3".parse().unwrap())
                .user_agent("curl/8.5")
                .request_id("req-7"),
        )
        .request(Request::Http(HttpRequest {
            body: Some(Body::Json(body)),
            headers,
            route: Some("/keys".to_owned()),
            ..HttpRequest::new("POST", "/keys")
        }))
        .response(Response {
            status: Some(403),
            grpc_status: None,
            body: Some(Body::Json(json!({"error": "forbidden"}))),
            duration_us: Some(1_500),
        })
        .change(Change::new("enabled", false, true))
        .change(Change::new("scopes", json!(["read"]), json!(["read", "write"])))
        .metadata("plan", "pro")
        .metadata("seats", 12)
        .time(datetime!(2026-03-09 12:00 UTC))
        .build()
}

/// An entry with nothing optional set: anonymous, no tenant, at the epoch.
fn bare() -> AuditEvent {
    AuditEvent::builder("login").build()
}

/// `(filter, matches sample(), matches bare())`, one row per field and
/// operator.
const TABLE: &[(&str, bool, bool)] = &[
    // event
    ("event = api_key.create", true, false),
    ("event = api_key.*", true, false),
    ("event = *.create", true, false),
    ("event = key.*", false, false),
    ("event != api_key.*", false, true),
    ("event ~ '^api_'", true, false),
    ("event ~ create$", true, false),
    ("event in (key.*, api_key.*)", true, false),
    ("event in (key.*, login)", false, true),
    ("event exists", true, true),
    // category
    ("category = api_key", true, false),
    ("category = login", false, true),
    ("category = api", false, false),
    ("category != api_key", false, true),
    ("category ~ ^api", true, false),
    ("category in (key, api_key)", true, false),
    ("category exists", true, true),
    // action and outcome
    ("action = create", true, false),
    ("action = other", false, true),
    ("action != create", false, true),
    ("action in (update, create)", true, false),
    ("action ~ ^cr", true, false),
    ("action exists", true, true),
    ("outcome = denied", true, false),
    ("outcome != success", true, false),
    ("outcome in (failure, denied)", true, false),
    ("outcome ~ 'ied$'", true, false),
    ("outcome exists", true, true),
    // reason
    ("reason = \"missing scope\"", true, false),
    ("reason != 'missing scope'", false, true),
    ("reason ~ scope", true, false),
    ("reason in (x, \"missing scope\")", true, false),
    ("reason exists", true, false),
    // actor
    ("actor = alice@example.com", true, false),
    ("actor = u_1", true, false),
    ("actor = Alice", true, false),
    ("actor = anonymous", false, true),
    ("actor != u_1", false, true),
    ("actor ~ '(?i)^ALICE'", true, false),
    ("actor in (bob, Alice)", true, false),
    ("actor exists", true, true),
    ("actor.kind = user", true, false),
    ("actor.kind = anonymous", false, true),
    ("actor.kind != user", false, true),
    ("actor.kind in (api_key, user)", true, false),
    ("actor.kind ~ ^us", true, false),
    ("actor.kind exists", true, true),
    ("actor.id = u_1", true, false),
    ("actor.id != u_1", false, true),
    ("actor.id exists", true, false),
    ("actor.name = Alice", true, false),
    ("actor.name in (Bob, Alice)", true, false),
    ("actor.email ~ '@example\\.com$'", true, false),
    ("actor.email exists", true, false),
    // tenant
    ("tenant = acme", true, false),
    ("tenant != acme", false, true),
    ("tenant in (globex, acme)", true, false),
    ("tenant ~ ^ac", true, false),
    ("tenant exists", true, false),
    // resource
    ("resource = project", true, false),
    ("resource = project:p_42", true, false),
    ("resource = project:k_9", false, false),
    ("resource = api_key:k_9", true, false),
    ("resource != project", false, true),
    ("resource ~ '^project:p_'", true, false),
    ("resource in (user, project:p_42)", true, false),
    ("resource exists", true, false),
    ("resource.type = project", true, false),
    ("resource.type != project", false, true),
    ("resource.type exists", true, false),
    ("resource.id = k_9", true, false),
    ("resource.id != k_9", false, true),
    ("resource.id in (p_1, p_42)", true, false),
    ("resource.name = \"deploy key\"", true, false),
    ("resource.name ~ deploy", true, false),
    ("resource.name exists", true, false),
    // source
    ("ip = 10.1.2.3", true, false),
    ("ip = 10.0.0.0/8", true, false),
    ("ip = 192.168.0.0/16", false, false),
    ("ip = 2001:db8::/32", false, false),
    ("ip != 10.0.0.0/8", false, true),
    ("ip in (192.168.0.0/16, 10.1.0.0/16)", true, false),
    ("ip exists", true, false),
    ("request_id = req-7", true, false),
    ("request_id ~ ^req-", true, false),
    ("request_id exists", true, false),
    ("user_agent = curl/8.5", true, false),
    ("user_agent ~ curl", true, false),
    ("user_agent != curl/8.5", false, true),
    ("description = \"alice@example.com created api_key k_9 (denied)\"", true, false),
    ("description ~ created", true, false),
    ("description exists", true, false),
    // time: sample is one day before NOW, bare is at the epoch
    ("time > 7d", true, false),
    ("time > 1d", false, false),
    ("time >= 1d", true, false),
    ("time < 1d", false, true),
    ("time <= 1d", true, true),
    ("time > 90s", false, false),
    ("time > 2026-03-09", true, false),
    ("time < 2026-03-09T12:00:00Z", false, true),
    ("time <= 2026-03-09T13:00:00+01:00", true, true),
    ("time in 2026-03-01..2026-03-10", true, false),
    ("time in 2026-03-09T12:00:00Z..", true, false),
    ("time in ..2026-03-09T12:00:00Z", false, true),
    ("time in 7d..1d", false, false),
    ("time in 7d..12h", true, false),
    ("time in 36500d..1d", false, true),
    ("time exists", true, true),
    // JSON: request
    ("request exists", true, false),
    ("request.method = POST", true, false),
    ("request.path = /keys", true, false),
    ("request.route exists", true, false),
    ("request.query exists", false, false),
    ("request.headers.user-agent = curl/8.5", true, false),
    ("request.headers exists", true, false),
    ("request.body.role = admin", true, false),
    ("request.body.role = \"admin\"", true, false),
    ("request.body.role != admin", false, true),
    ("request.body.role ~ ^ad", true, false),
    ("request.body.role > 1", false, false),
    ("request.body.tags = b", true, false),
    ("request.body.tags in (x, a)", true, false),
    ("request.body.tags exists", true, false),
    ("request.body.members.role = viewer", true, false),
    ("request.body.n = 5", true, false),
    ("request.body.n = 5.0", true, false),
    ("request.body.n = \"5\"", false, false),
    ("request.body.n > 4", true, false),
    ("request.body.n < 5", false, false),
    ("request.body.n <= 5", true, false),
    ("request.body.n >= 6", false, false),
    ("request.body.n > -1e3", true, false),
    ("request.body.nested.ok = true", true, false),
    ("request.body.nested.ok = \"true\"", false, false),
    ("request.body.nested.none = null", true, false),
    ("request.body.nested.none exists", true, false),
    ("request.body.missing exists", false, false),
    ("request.body.role.deeper exists", false, false),
    // JSON: response, changes, metadata
    ("response.status = 403", true, false),
    ("response.status >= 400", true, false),
    ("response.status < 400", false, false),
    ("response.duration_us > 1000", true, false),
    ("response.body.error = forbidden", true, false),
    ("response.grpc_status exists", false, false),
    ("changes exists", true, false),
    ("changes.path = enabled", true, false),
    ("changes.path = scopes", true, false),
    ("changes.path = name", false, false),
    ("changes.path != enabled", false, true),
    ("changes.after = true", true, false),
    ("changes.after = write", true, false),
    ("changes.before = false", true, false),
    ("metadata exists", true, false),
    ("metadata.plan = pro", true, false),
    ("metadata.plan ~ ^p", true, false),
    ("metadata.seats > 10", true, false),
    ("metadata.nope exists", false, false),
    // free text
    ("\"ALICE\"", true, false),
    ("'deploy KEY'", true, false),
    ("\"login\"", false, true),
    ("'p_42'", true, false),
    // boolean structure
    ("", true, true),
    ("true", true, true),
    ("false", false, false),
    ("not tenant exists", false, true),
    ("tenant = acme or event = login", true, true),
    ("tenant = acme and event = login", false, false),
    ("not (tenant = acme or event = login)", false, false),
    ("not tenant = acme and event = login", false, true),
    ("NOT tenant = acme AND event = login", false, true),
    ("not not tenant = acme", true, false),
    ("(tenant = acme or false) and (true)", true, false),
];

#[test]
fn every_field_with_every_operator() {
    let (sample, bare) = (sample(), bare());
    for (text, on_sample, on_bare) in TABLE {
        let filter = parse(text);
        assert_eq!(filter.matches(&sample, NOW), *on_sample, "{text} on the sample");
        assert_eq!(filter.matches(&bare, NOW), *on_bare, "{text} on the bare entry");
        let reparsed = parse(&filter.to_string());
        assert_eq!(reparsed, filter, "{text} printed as {filter}");
    }
}

#[test]
fn not_equal_is_the_negation_of_equal() {
    let entries = [sample(), bare()];
    let single = |t: &str| {
        t.contains(" = ")
            && ![" and ", " or ", " AND "].iter().any(|c| t.contains(c))
            && !t.starts_with(['(', 'n', 'N'])
    };
    for (text, _, _) in TABLE.iter().filter(|(t, _, _)| single(t)) {
        let ne = parse(&text.replacen(" = ", " != ", 1));
        let not_eq = parse(text).negate();
        for entry in &entries {
            assert_eq!(ne.matches(entry, NOW), not_eq.matches(entry, NOW), "{text}");
        }
    }
}

#[test]
fn grpc_requests_and_omitted_bodies() {
    let grpc = AuditEvent::builder("project.update")
        .request(Request::Grpc(GrpcRequest {
            message: Some(Body::Json(json!({"id": 7}))),
            ..GrpcRequest::new("projects.v1.Projects", "UpdateProject")
        }))
        .build();
    for (text, expected) in [
        ("request.service = projects.v1.Projects", true),
        ("request.method = UpdateProject", true),
        ("request.message.id = 7", true),
        ("request.path exists", false),
        ("request.body exists", false),
    ] {
        assert_eq!(parse(text).matches(&grpc, NOW), expected, "{text}");
    }
    let truncated = AuditEvent::builder("project.update")
        .request(Request::Http(HttpRequest {
            body: Some(Body::omitted(OmitReason::Truncated, Some(70_000))),
            ..HttpRequest::new("PUT", "/projects/p_1")
        }))
        .build();
    for (text, expected) in [
        ("request.body.$omitted = truncated", true),
        ("request.body.size > 65536", true),
        ("request.body.role exists", false),
    ] {
        assert_eq!(parse(text).matches(&truncated, NOW), expected, "{text}");
    }
}

#[test]
fn ipv6_addresses_and_networks() {
    let entry = AuditEvent::builder("login")
        .source(Source::new().ip("2001:db8::7".parse().unwrap()))
        .build();
    for (text, expected) in [
        ("ip = 2001:db8::7", true),
        ("ip = 2001:db8::/32", true),
        ("ip = 2001:db9::/32", false),
        ("ip = 0.0.0.0/0", false),
        ("ip = ::/0", true),
    ] {
        assert_eq!(parse(text).matches(&entry, NOW), expected, "{text}");
    }
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let a = || parse("tenant = a");
    let b = || parse("tenant = b");
    let c = || parse("tenant = c");
    assert_eq!(
        parse("tenant = a or tenant = b and tenant = c"),
        Filter::or([a(), Filter::and([b(), c()])])
    );
    assert_eq!(parse("not tenant = a and tenant = b"), Filter::and([!a(), b()]));
    assert_eq!(
        parse("(tenant = a or tenant = b) and tenant = c"),
        Filter::and([Filter::or([a(), b()]), c()])
    );
    assert_eq!(
        parse("(tenant = a and tenant = b) and tenant = c"),
        Filter::And(vec![a(), b(), c()])
    );
    assert_eq!(parse("not (tenant = a)"), Filter::Not(Box::new(a())));
    assert_eq!(parse("((((tenant = a))))"), a());
}

#[test]
fn conditions_are_typed_by_field() {
    let cond = |field, test| Filter::cond(field, test);
    assert_eq!(parse("tenant = 42"), cond(Field::Tenant, Test::Eq(Value::Text("42".to_owned()))));
    assert_eq!(
        parse("metadata.n = 42"),
        cond(
            Field::Json(JsonPath::new(JsonRoot::Metadata, ["n"]).unwrap()),
            Test::Eq(Value::Number(42.into()))
        )
    );
    assert_eq!(
        parse("event = 'key.*'"),
        cond(Field::Event, Test::Eq(Value::Event(EventPattern::parse("key.*").unwrap())))
    );
    assert_eq!(
        parse("action = \"update\""),
        cond(Field::Action, Test::Eq(Value::Action(Action::Update)))
    );
    assert_eq!(
        parse("actor.kind in (api_key)"),
        cond(Field::ActorKind, Test::In(vec![Value::ActorKind(ActorKind::ApiKey)]))
    );
    assert_eq!(
        parse("resource = project:p:1"),
        cond(Field::Resource, Test::Eq(Value::Resource(ResourceRef::new("project", "p:1"))))
    );
    assert_eq!(
        parse("time in 7d.."),
        cond(
            Field::Time,
            Test::Ge(Value::Time(TimeBound::Relative(Duration::from_secs(7 * 86_400))))
        )
    );
    assert_eq!(
        parse("time > 1500ms"),
        cond(Field::Time, Test::Gt(Value::Time(TimeBound::Relative(Duration::from_millis(1_500)))))
    );
}

#[test]
fn display_is_canonical() {
    let cases = [
        ("tenant=\"acme\"", "tenant = acme"),
        ("tenant = 42", "tenant = \"42\""),
        ("tenant = 'and'", "tenant = \"and\""),
        ("tenant = \"two words\"", "tenant = \"two words\""),
        ("tenant = \"tab\\there\"", "tenant = \"tab\\there\""),
        ("tenant = 'it''s'", "tenant = \"it's\""),
        ("event ~ \"^key\\\\.\"", "event ~ '^key\\.'"),
        ("event ~ \"it's\\\\d\"", "event ~ 'it''s\\d'"),
        ("tenant=a and(tenant=b or tenant=c)", "tenant = a and (tenant = b or tenant = c)"),
        ("not (tenant = a and tenant = b)", "not (tenant = a and tenant = b)"),
        ("not (not tenant = a)", "not not tenant = a"),
        (
            "time in 2026-01-01..2026-02-01",
            "time >= 2026-01-01T00:00:00Z and time < 2026-02-01T00:00:00Z",
        ),
        ("time in ..2w", "time < 14d"),
        ("ip = 10.0.0.1/32", "ip = 10.0.0.1"),
        ("ip in (10.0.0.0/8,::1)", "ip in (10.0.0.0/8, ::1)"),
        ("'free text'", "\"free text\""),
        ("metadata.x = \"1e3\"", "metadata.x = \"1e3\""),
        ("metadata.x = 1e3", "metadata.x = 1000.0"),
        ("metadata.x != NULL", "metadata.x != \"NULL\""),
        ("", "true"),
        ("false or false", "false"),
        ("false and tenant = a", "false and tenant = a"),
        ("true and tenant = a", "tenant = a"),
    ];
    for (input, expected) in cases {
        let filter = parse(input);
        assert_eq!(filter.to_string(), expected, "{input}");
        assert_eq!(parse(expected), filter, "{expected}");
    }
}

#[test]
fn serde_carries_the_text_form() {
    let filter = parse("tenant = acme and request.body.role = admin");
    let json = serde_json::to_string(&filter).unwrap();
    assert_eq!(json, r#""tenant = acme and request.body.role = admin""#);
    assert_eq!(serde_json::from_str::<Filter>(&json).unwrap(), filter);
    let err = serde_json::from_str::<Filter>(r#""tenant =""#).unwrap_err();
    assert!(err.to_string().contains("expected a value after \"=\" at column 9"), "{err}");
}

#[test]
fn resolved_makes_relative_times_absolute() {
    let filter = parse("time > 1d and time in 7d..2026-03-10");
    let resolved = filter.resolved(NOW);
    assert_eq!(
        resolved.to_string(),
        "time > 2026-03-09T12:00:00Z and time >= 2026-03-03T12:00:00Z and time < 2026-03-10T00:00:00Z"
    );
    for entry in [sample(), bare()] {
        assert_eq!(filter.matches(&entry, NOW), resolved.matches(&entry, NOW));
    }
}

#[test]
fn error_messages_point_at_the_column() {
    let cases: &[(&str, &str)] = &[
        ("actor = ", "expected a value after \"=\" at column 9"),
        ("tenant = a and", "expected a condition after \"and\" at column 15"),
        ("not", "expected a condition after \"not\" at column 4"),
        (
            "tenant acme",
            "expected an operator after \"tenant\", found \"acme\" at column 8; tenant takes =, \
             !=, ~, in (...) or exists",
        ),
        (
            "(tenant = a",
            "expected \")\" after \"a\" at column 12; the \"(\" at column 1 is not closed",
        ),
        ("tenant = a)", "unexpected \")\" with no \"(\" to close at column 11"),
        (
            "tenant = a b",
            "expected \"and\", \"or\" or the end of the filter after \"a\", found \"b\" at column 12",
        ),
        (
            "tenant = \"abc",
            "unterminated string at column 10; expected a closing \" before the end of the filter",
        ),
        (
            "time = 7d",
            "\"=\" does not apply to time at column 6; time takes <, <=, >, >=, in <start>..<end> \
             or exists",
        ),
        ("ip ~ 10", "\"~\" does not apply to ip at column 4; ip takes =, !=, in (...) or exists"),
        (
            "tenant > 3",
            "\">\" does not apply to tenant at column 8; tenant takes =, !=, ~, in (...) or exists",
        ),
        (
            "action = fly",
            "unknown action `fly`: expected one of create, read, update, delete, other at column 10",
        ),
        (
            "actor.kind = robot",
            "unknown actor kind \"robot\": expected one of user, api_key, service, system, \
             anonymous at column 14",
        ),
        (
            "ip = 10.0.0.0/33",
            "invalid IP address or CIDR \"10.0.0.0/33\"; expected an address such as 10.0.0.1 or \
             2001:db8::1, or a network such as 10.0.0.0/8 at column 6",
        ),
        ("event ~ '(a'", "invalid regular expression: unclosed group at column 9"),
        (
            "response.status > abc",
            "expected a number after \">\", found \"abc\" at column 19; > compares numbers in JSON \
             paths, such as response.status > 399",
        ),
        ("tenant == a", "\"==\" is not an operator at column 8; use \"=\""),
        (
            "tenant ! a",
            "expected \"!=\" after \"!\" at column 8; to negate a condition, put \"not\" before it",
        ),
        ("tenant in (a, )", "expected a value after \",\", found \")\" at column 15"),
        (
            "tenant in acme",
            "expected \"(\" after \"in\", found \"acme\" at column 11; list the values in \
             parentheses, such as tenant in (acme, globex)",
        ),
        (
            "tenant = and",
            "expected a value after \"=\", found \"and\" at column 10; put it in quotes to use it \
             as a value",
        ),
        (
            "()",
            "expected a condition after \"(\", found \")\" at column 2; a condition is a field, an \
             operator and a value, such as tenant = acme",
        ),
        (
            "tenant not exists",
            "expected an operator after \"tenant\", found \"not\" at column 8; to negate a \
             condition, put \"not\" before it: not tenant ...",
        ),
        (
            "time in 2026-02-01..2026-01-01",
            "the time range is empty: its start is not before its end at column 19; a time range \
             is <start>..<end>, such as 2026-01-01..2026-02-01 or 7d..1d (from 7 days ago to 1 \
             day ago); either end may be left out",
        ),
        (
            "tenant = \"a\\qb\"",
            "unknown escape \"\\q\" in a string at column 12; expected \\\", \\\\, \\n, \\r, \\t or \
             \\u{...}; or use single quotes for text with backslashes, such as '^key\\.'",
        ),
        ("request. = 1", "expected a key after \".\" in the JSON path \"request.\" at column 9"),
        (
            "tenant = \"\\u{d800}\"",
            "invalid \\u escape at column 11; write one to six hex digits of a Unicode scalar value, such as \\u{e9}",
        ),
        // non-ASCII: columns count characters, not bytes
        ("tenant = zoë and föö = 1", "unknown field \"föö\" at column 18"),
        (
            "tenant = a\u{7}",
            "unexpected control character U+0007 at column 11; write it as an escape inside double quotes, such as \"\\t\"",
        ),
        (
            "tenant = 'a\u{0}'",
            "unexpected control character U+0000 in a string at column 12; write it as an escape inside double quotes, such as \"\\n\"",
        ),
    ];
    for (input, expected) in cases {
        let err = error(input);
        let shown = err.to_string();
        // Unknown fields carry a long hint listing every field; compare the start.
        if err.kind() == ParseErrorKind::UnknownField && err.hint().is_some() {
            assert!(
                shown.starts_with(&format!("{expected}; known fields: event, ")),
                "{input}: {shown}"
            );
        } else {
            assert_eq!(shown, *expected, "{input}");
        }
    }
}

#[test]
fn unknown_fields_list_the_known_ones() {
    let err = error("foo = 1");
    assert_eq!(err.kind(), ParseErrorKind::UnknownField);
    assert_eq!(err.column(), 1);
    assert_eq!(err.message(), "unknown field \"foo\"");
    let hint = err.hint().unwrap();
    for (name, _) in Field::NAMED {
        assert!(hint.contains(name), "{name} in {hint}");
    }
    assert!(hint.contains("request.body.role") && hint.contains("quotes"), "{hint}");
    assert_eq!(error("tenant = a and resource.owner = b").column(), 16);
}

#[test]
fn hostile_input_is_refused_with_a_clear_error() {
    let huge = "tenant = a or ".repeat(Filter::MAX_LEN / 14 + 1);
    let err = error(&huge);
    assert_eq!(err.kind(), ParseErrorKind::TooLong);
    assert_eq!(err.column(), Filter::MAX_LEN + 1);
    assert!(err.message().contains("at most 16384"), "{err}");

    // Multi-byte characters: the column counts characters.
    let err = error(&"é".repeat(Filter::MAX_LEN));
    assert_eq!((err.kind(), err.column()), (ParseErrorKind::TooLong, Filter::MAX_LEN / 2 + 1));

    let deep = format!("{}tenant = a{}", "(".repeat(40), ")".repeat(40));
    let err = error(&deep);
    assert_eq!((err.kind(), err.column()), (ParseErrorKind::TooDeep, Filter::MAX_DEPTH + 1));
    let nots = format!("{}tenant = a", "not ".repeat(40));
    let err = error(&nots);
    assert_eq!((err.kind(), err.column()), (ParseErrorKind::TooDeep, 4 * Filter::MAX_DEPTH + 1));
    assert!(Filter::parse(&format!("{}tenant = a{}", "(".repeat(32), ")".repeat(32))).is_ok());

    let many: Vec<String> = (0..=Filter::MAX_TERMS).map(|i| format!("tenant = t{i}")).collect();
    let err = error(&many.join(" or "));
    assert_eq!(err.kind(), ParseErrorKind::TooManyTerms);
    let expected_column = many[..Filter::MAX_TERMS].join(" or ").chars().count() + 5;
    assert_eq!(err.column(), expected_column);
    let values: Vec<String> = (0..=Filter::MAX_TERMS).map(|i| format!("t{i}")).collect();
    assert_eq!(
        error(&format!("tenant in ({})", values.join(", "))).kind(),
        ParseErrorKind::TooManyTerms
    );
    assert!(Filter::parse(&many[..Filter::MAX_TERMS].join(" or ")).is_ok());

    let err = error("event ~ 'a{1000}{1000}'");
    assert_eq!((err.kind(), err.column()), (ParseErrorKind::Regex, 9));
    assert!(err.message().contains("too large once compiled"), "{err}");
    let err = error(&format!("event ~ '{}'", "a".repeat(Pattern::MAX_LEN + 1)));
    assert_eq!(err.kind(), ParseErrorKind::Regex);
    assert!(err.message().contains("at most 1024"), "{err}");
    let err = error(&format!("event ~ '{}a{}'", "(".repeat(100), ")".repeat(100)));
    assert_eq!(err.kind(), ParseErrorKind::Regex);
}

#[test]
fn catastrophic_looking_patterns_run_in_linear_time() {
    // Exponential for a backtracking engine; linear for the regex crate.
    let filter = parse("description ~ '^(a+)+$' or description ~ '(x+x+)+y'");
    let text = format!("{}!", "a".repeat(20_000));
    let entry = AuditEvent::builder("login").description(text).build();
    assert!(!filter.matches(&entry, NOW));
}

#[test]
fn from_query_on_the_conformance_fixture_shapes() {
    let queries = [
        Query::new(),
        Query::new().tenant("acme").outcome(Outcome::Denied),
        Query::new().resource_type("project").resource_id("p_42"),
        Query::new().resource_id("k_9"),
        Query::new().resource_type("api_key"),
        Query::new().events(["key.*".parse().unwrap(), "api_key.*".parse().unwrap()]),
        Query::new().actor("Alice").text("DEPLOY").action(Action::Create),
        Query::new().since(Duration::from_secs(86_400 * 2)).until(Duration::from_secs(3_600)),
    ];
    for query in &queries {
        let filter = Filter::from(query);
        assert_eq!(parse(&filter.to_string()), filter, "{filter}");
        for entry in [sample(), bare()] {
            assert_eq!(query.matches_at(&entry, NOW), filter.matches(&entry, NOW), "{filter}");
        }
    }
    assert!(Filter::from_query(&Query::new()).is_all());
}

#[cfg(feature = "testing")]
#[test]
fn from_query_matches_query_on_the_conformance_fixture() {
    let fixture = crate::testing::conformance::fixture();
    let now = datetime!(2025-01-12 00:00 UTC);
    let queries = [
        Query::new().tenant("globex"),
        Query::new().actor("api-key:ci-deploy"),
        Query::new().event("authorization.*".parse().unwrap()).outcome(Outcome::Denied),
        Query::new().resource_type("project").resource_id("p_1"),
        Query::new().text("gemini").since(Duration::from_secs(5 * 86_400)),
    ];
    for query in &queries {
        let filter = Filter::from(query);
        let by_query: Vec<_> = fixture.iter().filter(|e| query.matches_at(e, now)).collect();
        let by_filter: Vec<_> = fixture.iter().filter(|e| filter.matches(e, now)).collect();
        assert_eq!(by_query, by_filter, "{filter}");
    }
}

// ---- property tests ---------------------------------------------------------

fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{1,8}",
        "[ -~]{0,8}",
        "\\PC{0,6}",
        "[\\x00-\\x1f\"'\\\\ ]{0,4}",
        Just("and".to_owned()),
        Just("NULL".to_owned()),
        Just("12".to_owned()),
    ]
}

fn pattern() -> impl Strategy<Value = Pattern> {
    prop_oneof![
        prop::sample::select(vec!["^key\\.", "(?i)alice", "a|b", "it's", "[0-9]+$", "x"])
            .prop_map(|p| Pattern::new(p).unwrap()),
        text_value().prop_map(|t| Pattern::new(&regex::escape(&t)).unwrap()),
    ]
}

fn time_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..4_102_444_800, 0u32..1_000_000_000).prop_map(|(secs, nanos)| {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            Value::Time(TimeBound::Absolute(t.replace_nanosecond(nanos).unwrap()))
        }),
        (0u64..=TimeBound::MAX_RELATIVE.as_secs())
            .prop_map(|s| Value::Time(TimeBound::Relative(Duration::from_secs(s)))),
        (0u64..10_000_000_000)
            .prop_map(|n| Value::Time(TimeBound::Relative(Duration::from_nanos(n)))),
    ]
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        text_value().prop_map(Value::Text),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        (-1e300f64..1e300).prop_map(|f| Value::Number(serde_json::Number::from_f64(f).unwrap())),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn json_path() -> impl Strategy<Value = JsonPath> {
    (
        prop::sample::select(JsonRoot::ALL.to_vec()),
        prop::collection::vec("[a-z_$@-][a-z0-9_$@:/-]{0,5}", 0..3),
    )
        .prop_map(|(root, keys)| JsonPath::new(root, keys).unwrap())
}

/// Values of the type a field takes.
fn values_for(field: &Field) -> BoxedStrategy<Value> {
    match field {
        Field::Event => "[a-z_*.]{1,10}|[^\\s\\p{Cc}]{1,6}"
            .prop_map(|p| Value::Event(EventPattern::parse(&p).unwrap()))
            .boxed(),
        Field::Action => prop::sample::select(vec![Action::Create, Action::Read, Action::Other])
            .prop_map(Value::Action)
            .boxed(),
        Field::Outcome => prop::sample::select(vec![Outcome::Success, Outcome::Cancelled])
            .prop_map(Value::Outcome)
            .boxed(),
        Field::ActorKind => prop::sample::select(vec![ActorKind::ApiKey, ActorKind::System])
            .prop_map(Value::ActorKind)
            .boxed(),
        Field::Resource => ("[a-z_]{1,6}", prop::option::of("\\PC{1,6}"))
            .prop_map(|(kind, id)| Value::Resource(ResourceRef { kind, id }))
            .boxed(),
        Field::Ip => prop_oneof![
            (any::<[u8; 4]>(), 0u8..=32).prop_map(|(a, p)| ipnet::IpNet::new(a.into(), p).unwrap()),
            (any::<[u16; 8]>(), 0u8..=128)
                .prop_map(|(a, p)| ipnet::IpNet::new(a.into(), p).unwrap()),
        ]
        .prop_map(Value::Ip)
        .boxed(),
        Field::Time => time_value().boxed(),
        Field::Json(_) => json_scalar().boxed(),
        _ => text_value().prop_map(Value::Text).boxed(),
    }
}

fn condition() -> impl Strategy<Value = Filter> {
    let fields = prop_oneof![
        prop::sample::select(Field::NAMED.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>()),
        json_path().prop_map(Field::Json),
    ];
    fields.prop_flat_map(|field| {
        let values = values_for(&field);
        let ordered = matches!(field, Field::Time | Field::Json(_));
        let number = any::<i32>().prop_map(|n| Value::Number(n.into())).boxed();
        let ordered_values = if field == Field::Time { values.clone() } else { number };
        let mut tests: Vec<BoxedStrategy<Test>> = vec![Just(Test::Exists).boxed()];
        if field != Field::Time {
            tests.push(values.clone().prop_map(Test::Eq).boxed());
            tests.push(values.clone().prop_map(Test::Ne).boxed());
            tests.push(prop::collection::vec(values, 1..3).prop_map(Test::In).boxed());
        }
        if !matches!(field, Field::Time | Field::Ip) {
            tests.push(pattern().prop_map(Test::Matches).boxed());
        }
        if ordered {
            tests.push(ordered_values.clone().prop_map(Test::Lt).boxed());
            tests.push(ordered_values.clone().prop_map(Test::Le).boxed());
            tests.push(ordered_values.clone().prop_map(Test::Gt).boxed());
            tests.push(ordered_values.prop_map(Test::Ge).boxed());
        }
        (Just(field), prop::strategy::Union::new(tests)).prop_map(|(f, t)| Filter::cond(f, t))
    })
}

fn filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        6 => condition(),
        1 => text_value().prop_map(Filter::Text),
        1 => Just(Filter::all()),
        1 => Just(Filter::none()),
    ];
    leaf.prop_recursive(4, 48, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::and),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::or),
            inner.prop_map(Filter::negate),
        ]
    })
}

/// Fragments of the syntax, to build inputs that get past the lexer.
fn fragments() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "(",
        ")",
        ",",
        "and",
        "or",
        "not",
        "in",
        "exists",
        "true",
        "tenant",
        "time",
        "ip",
        "event",
        "request.body.x",
        "metadata.",
        "=",
        "!=",
        "~",
        "<",
        ">=",
        "..",
        "\"",
        "'",
        "\\",
        "7d",
        "2026-01-01",
        "10.0.0.0/8",
        "1e3",
        "-0",
        "'(a'",
        "\"x\\u{",
        "\u{7}",
        "é",
        "key.*",
        "project:p_1",
        "  ",
        "\n",
    ]);
    prop::collection::vec((pieces, any::<bool>()), 0..24).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(p, space)| if space { format!("{p} ") } else { p.to_owned() })
            .collect()
    })
}

/// A valid filter's text with one character removed or one fragment put in,
/// to reach the parser's error paths past the first token.
fn mutated() -> impl Strategy<Value = String> {
    (filter(), any::<prop::sample::Index>(), any::<bool>(), fragments()).prop_map(
        |(filter, at, delete, fragment)| {
            let mut chars: Vec<char> = filter.to_string().chars().collect();
            let at = at.index(chars.len() + 1);
            if delete && at < chars.len() {
                chars.remove(at);
            } else {
                chars.splice(at..at, fragment.chars());
            }
            chars.into_iter().collect()
        },
    )
}

proptest! {
    #[test]
    fn display_parses_back_to_the_same_filter(filter in filter()) {
        let text = filter.to_string();
        prop_assert_eq!(Filter::parse(&text), Ok(filter), "{}", text);
    }

    #[test]
    fn the_parser_never_panics(input in prop_oneof![any::<String>(), fragments(), mutated()]) {
        match Filter::parse(&input) {
            Ok(filter) => {
                // Whatever parses is in normal form and prints back to itself.
                let text = filter.to_string();
                prop_assert_eq!(Filter::parse(&text), Ok(filter), "{:?} → {}", input, text);
            }
            Err(e) => {
                prop_assert!(e.column() >= 1 && e.column() <= input.chars().count() + 1);
                prop_assert!(!e.message().is_empty());
            }
        }
    }

    #[test]
    fn from_query_selects_what_the_query_selects(
        query in query(),
        entries in prop::collection::vec(entry(), 1..12),
        now_days in 0i64..40,
    ) {
        let now = BASE + time::Duration::days(now_days);
        let filter = Filter::from_query(&query);
        prop_assert_eq!(Filter::parse(&filter.to_string()), Ok(filter.clone()));
        for entry in &entries {
            prop_assert_eq!(query.matches_at(entry, now), filter.matches(entry, now), "{}", filter);
        }
    }

    #[test]
    fn json_paths_reach_what_the_serialized_entry_holds(
        entry in json_entry(),
        path in json_vocabulary_path(),
    ) {
        let mut typed = Vec::new();
        json::any_value(&entry, &path, &mut |v| { typed.push(v.clone()); false });
        let whole = serde_json::to_value(&entry).unwrap();
        let mut reference = Vec::new();
        if let Some(root) = whole.get(path.root().as_str()) {
            json::walk(root, path.keys(), &mut |v| { reference.push(v.clone()); false });
        }
        prop_assert_eq!(typed, reference, "{}", Field::Json(path));
    }
}

// ---- entries and queries over a small vocabulary -----------------------------

const BASE: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn entry() -> impl Strategy<Value = AuditEvent> {
    let actors = prop::sample::select(vec![
        Actor::user("u_1").email("alice@example.com").name("Alice"),
        Actor::api_key("k_1").name("ci"),
        Actor::anonymous(),
        Actor::system("cron"),
    ]);
    let resource = (
        prop::sample::select(vec!["project", "api_key"]),
        prop::option::of(prop::sample::select(vec!["p_1", "k_1"])),
        prop::option::of(prop::sample::select(vec!["Apollo", "Deploy key"])),
    )
        .prop_map(|(kind, id, name)| {
            let r = match id {
                Some(id) => Resource::new(kind, id),
                None => Resource::of_type(kind),
            };
            match name {
                Some(name) => r.name(name),
                None => r,
            }
        });
    (
        prop::sample::select(vec!["project.update", "api_key.create", "login", "key.rotate"]),
        actors,
        prop::option::of(prop::sample::select(vec!["acme", "globex"])),
        prop::collection::vec(resource, 0..3),
        prop::sample::select(vec![Outcome::Success, Outcome::Denied, Outcome::Failure]),
        prop::option::of(prop::sample::select(vec![Action::Read, Action::Delete])),
        prop::option::of(prop::sample::select(vec!["mfa required", "Key expired"])),
        prop::sample::select(vec!["", "alice updated", "Key rotated"]),
        0i64..(40 * 86_400),
    )
        .prop_map(
            |(event, actor, tenant, resources, outcome, action, reason, description, secs)| {
                let mut b = AuditEvent::builder(event)
                    .actor(actor)
                    .outcome(outcome)
                    .description(description)
                    .time(BASE + time::Duration::seconds(secs));
                if let Some(tenant) = tenant {
                    b = b.tenant(tenant);
                }
                for r in resources {
                    b = b.resource(r);
                }
                if let Some(action) = action {
                    b = b.action(action);
                }
                if let Some(reason) = reason {
                    b = b.reason(reason);
                }
                b.build()
            },
        )
}

fn query() -> impl Strategy<Value = Query> {
    let bound = prop_oneof![
        (0u64..40).prop_map(|d| TimeBound::Relative(Duration::from_secs(d * 86_400))),
        (0i64..40).prop_map(|d| TimeBound::Absolute(BASE + time::Duration::days(d))),
    ];
    let events = prop::collection::vec(
        prop::sample::select(vec![
            "project.*",
            "*.create",
            "login",
            "key.*",
            "api_key.create",
            "*",
        ]),
        0..3,
    );
    (
        prop::option::of(prop::sample::select(vec!["acme", "globex", "other"])),
        prop::option::of(prop::sample::select(vec![
            "u_1",
            "alice@example.com",
            "Alice",
            "api-key:ci",
            "ci",
            "anonymous",
            "system:cron",
            "nobody",
        ])),
        events,
        prop::option::of(prop::sample::select(vec!["project", "api_key"])),
        prop::option::of(prop::sample::select(vec!["p_1", "k_1"])),
        prop::option::of(prop::sample::select(vec![Outcome::Success, Outcome::Denied])),
        prop::option::of(prop::sample::select(vec![Action::Update, Action::Read, Action::Other])),
        (prop::option::of(bound.clone()), prop::option::of(bound)),
        prop::option::of(prop::sample::select(vec!["alice", "KEY", "rotat", "p_1", "zzz"])),
    )
        .prop_map(
            |(tenant, actor, events, kind, id, outcome, action, (since, until), text)| {
                let mut q = Query::new()
                    .events(events.into_iter().map(|e| EventPattern::parse(e).unwrap()));
                q.tenant = tenant.map(str::to_owned);
                q.actor = actor.map(str::to_owned);
                q.resource_type = kind.map(str::to_owned);
                q.resource_id = id.map(str::to_owned);
                q.outcome = outcome;
                q.action = action;
                q.since = since;
                q.until = until;
                q.text = text.map(str::to_owned);
                q
            },
        )
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        (-5i64..5).prop_map(serde_json::Value::from),
        prop::sample::select(vec!["admin", "x"]).prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(prop::sample::select(vec!["role", "id", "a"]), inner, 0..3)
                .prop_map(|m| {
                    let map: serde_json::Map<String, serde_json::Value> =
                        m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                    serde_json::Value::Object(map)
                }),
        ]
    })
}

fn body() -> impl Strategy<Value = Option<Body>> {
    prop_oneof![
        Just(None),
        json_value().prop_map(|v| Some(Body::Json(v))),
        Just(Some(Body::omitted(OmitReason::Truncated, Some(9)))),
    ]
}

fn json_entry() -> impl Strategy<Value = AuditEvent> {
    let request = prop_oneof![
        Just(None),
        (body(), prop::option::of(Just("/keys/{id}")), any::<bool>()).prop_map(
            |(body, route, headers)| {
                let mut http = HttpRequest::new("POST", "/keys/1");
                http.body = body;
                http.route = route.map(str::to_owned);
                if headers {
                    http.headers.insert("user-agent".to_owned(), "curl".to_owned());
                }
                Some(Request::Http(http))
            }
        ),
        body().prop_map(|message| {
            Some(Request::Grpc(GrpcRequest { message, ..GrpcRequest::new("a.v1.A", "Get") }))
        }),
    ];
    let response =
        prop::option::of((body(), prop::option::of(200u16..504)).prop_map(|(body, status)| {
            Response { body, status, grpc_status: None, duration_us: Some(3) }
        }));
    let changes = prop::collection::vec(
        (json_value(), json_value()).prop_map(|(b, a)| Change::new("role", b, a)),
        0..3,
    );
    let metadata =
        prop::collection::btree_map(prop::sample::select(vec!["role", "a"]), json_value(), 0..3);
    (request, response, changes, metadata).prop_map(|(request, response, changes, metadata)| {
        let mut entry = AuditEvent::builder("project.update").build();
        entry.request = request;
        entry.response = response;
        entry.changes = changes;
        entry.metadata = metadata.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        entry
    })
}

fn json_vocabulary_path() -> impl Strategy<Value = JsonPath> {
    let key = prop::sample::select(vec![
        "method",
        "path",
        "route",
        "query",
        "headers",
        "user-agent",
        "body",
        "message",
        "service",
        "status",
        "grpc_status",
        "duration_us",
        "before",
        "after",
        "role",
        "id",
        "a",
        "$omitted",
        "size",
    ]);
    (prop::sample::select(JsonRoot::ALL.to_vec()), prop::collection::vec(key, 0..4))
        .prop_map(|(root, keys)| JsonPath::new(root, keys).unwrap())
}
