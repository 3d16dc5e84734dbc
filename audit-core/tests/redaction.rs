//! Redaction: what the default and configured redactors remove from an entry
//! before it is hashed or written anywhere.

use std::collections::BTreeMap;

use audit_core::redact::{REDACTED, REDACTED_TOO_DEEP, RedactorBuilder};
use audit_core::{
    AuditEvent, Body, Change, GrpcRequest, HttpRequest, OmitReason, Redactor, Request, Response,
    Sensitive,
};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use sha2::Sha256;

const HMAC_KEY: &[u8] = b"an audit redaction key of 32 b!!";

fn http_event(http: HttpRequest) -> AuditEvent {
    AuditEvent::builder("project.update").request(Request::Http(http)).build()
}

fn json_response(body: Value) -> Response {
    let mut response = Response::default();
    response.status = Some(200);
    response.body = Some(Body::Json(body));
    response
}

fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn redacted(value: Value) -> Value {
    let mut value = value;
    Redactor::default().redact_json(&mut value);
    value
}

fn hmac_hex(key: &[u8], bytes: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(bytes);
    format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
}

/// Drops a value without recursion: `serde_json::Value`'s own drop recurses
/// once per level.
fn drop_iteratively(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- headers

#[test]
fn default_headers_are_redacted() {
    let sensitive = [
        "authorization",
        "cookie",
        "set-cookie",
        "proxy-authorization",
        "x-api-key",
        "x-auth-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
    ];
    let redactor = Redactor::default();
    for name in sensitive {
        assert!(redactor.is_sensitive_header(name), "{name}");
        let mut map = headers(&[(name, "s3cr3t"), ("content-type", "application/json")]);
        redactor.redact_headers(&mut map);
        assert_eq!(map[name], REDACTED, "{name}");
        assert_eq!(map["content-type"], "application/json");
    }
}

#[test]
fn header_names_are_case_insensitive() {
    let redactor = Redactor::default();
    for name in ["Authorization", "AUTHORIZATION", "Set-Cookie", "X-Api-Key", "x_api_key"] {
        assert!(redactor.is_sensitive_header(name), "{name}");
    }
}

#[test]
fn headers_named_like_sensitive_keys_are_redacted() {
    let redactor = Redactor::default();
    for name in ["x-refresh-token", "X-Webhook-Secret", "x-goog-api-key", "x-client-password"] {
        assert!(redactor.is_sensitive_header(name), "{name}");
    }
    for name in ["content-type", "accept", "user-agent", "x-request-id", "host", "referer"] {
        assert!(!redactor.is_sensitive_header(name), "{name}");
    }
}

#[test]
fn urls_in_other_headers_have_their_query_redacted() {
    let mut map = headers(&[
        ("referer", "https://app.example.com/cb?state=xyz&access_token=s3cr3t#frag"),
        ("location", "/next?page=2"),
    ]);
    Redactor::default().redact_headers(&mut map);
    assert_eq!(map["referer"], "https://app.example.com/cb?state=xyz&access_token=[REDACTED]#frag");
    assert_eq!(map["location"], "/next?page=2");
}

// ---------------------------------------------------------------- JSON keys

#[test]
fn default_keys_are_redacted() {
    let keys = [
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "api_key",
        "apikey",
        "access_key",
        "private_key",
        "client_secret",
        "card_number",
        "cvv",
        "authorization",
        "cookie",
        "credentials",
        "session_id",
        "jwt",
        "mnemonic",
    ];
    for key in keys {
        let value = redacted(json!({ key: "s3cr3t", "name": "Apollo" }));
        assert_eq!(value, json!({ key: REDACTED, "name": "Apollo" }), "{key}");
    }
}

#[test]
fn innocent_keys_are_kept() {
    let value = json!({
        "id": "p_42", "name": "Apollo", "email": "alice@example.com", "description": "x",
        "role": "admin", "created_at": "2026-01-01", "count": 3, "tags": ["a", "b"],
    });
    assert_eq!(redacted(value.clone()), value);
}

#[test]
fn key_spellings_are_normalized() {
    let redactor = Redactor::default();
    for key in ["apiKey", "api_key", "API-KEY", "Api.Key", "api key", "ApiKey", "API_KEY"] {
        assert!(redactor.is_sensitive_key(key), "{key}");
        assert_eq!(redacted(json!({ key: "k_1" })), json!({ key: REDACTED }), "{key}");
    }
}

#[test]
fn keys_are_matched_by_containment() {
    let redactor = Redactor::default();
    for key in [
        "new_password",
        "passwordConfirmation",
        "clientSecret",
        "refresh_token",
        "webhook_secret",
        "user[password]",
        "X-Access-Token",
        "stripeApiKey",
    ] {
        assert!(redactor.is_sensitive_key(key), "{key}");
    }
}

#[test]
fn sensitive_keys_are_found_at_any_depth_and_in_arrays() {
    let value = redacted(json!({
        "project": {"settings": {"integrations": [
            {"kind": "slack", "webhook": {"url": "https://hooks", "signing_secret": "s1"}},
            {"kind": "github", "appToken": "s2"},
        ]}},
        "users": [[{"password": "s3"}]],
    }));
    assert_eq!(
        value,
        json!({
            "project": {"settings": {"integrations": [
                {"kind": "slack", "webhook": {"url": "https://hooks", "signing_secret": REDACTED}},
                {"kind": "github", "appToken": REDACTED},
            ]}},
            "users": [[{"password": REDACTED}]],
        })
    );
}

#[test]
fn the_whole_value_under_a_sensitive_key_is_replaced() {
    let value = redacted(json!({
        "credentials": {"user": "alice", "password": "s1"},
        "tokens": ["t1", "t2"],
        "pin_secret": 1234,
        "has_secret": true,
        "secret_or_none": null,
    }));
    assert_eq!(
        value,
        json!({
            "credentials": REDACTED, "tokens": REDACTED, "pin_secret": REDACTED,
            "has_secret": REDACTED, "secret_or_none": REDACTED,
        })
    );
}

#[test]
fn a_scalar_without_a_key_is_kept() {
    assert_eq!(redacted(json!("password")), json!("password"));
    assert_eq!(redacted(json!(["password", 1])), json!(["password", 1]));
}

// ---------------------------------------------------------------- configuration

#[test]
fn custom_header_key_and_query_param_add_to_the_defaults() {
    let redactor =
        Redactor::builder().header("X-Tenant-Signature").key("ssn").query_param("sig").build();
    assert!(redactor.is_sensitive_header("x-tenant-signature"));
    assert!(redactor.is_sensitive_header("authorization"));
    assert!(redactor.is_sensitive_key("customer_SSN"));
    assert!(redactor.is_sensitive_key("password"));
    assert_eq!(redactor.redact_query("sv=2024&sig=abc&sp=r"), "sv=2024&sig=[REDACTED]&sp=r");
    // A query parameter pattern is not a key pattern.
    assert!(!redactor.is_sensitive_key("sig"));
}

#[test]
fn no_defaults_redacts_only_what_is_added() {
    let redactor = Redactor::builder().no_defaults().key("ssn").header("x-internal").build();
    assert!(!redactor.is_sensitive_key("password"));
    assert!(!redactor.is_sensitive_header("authorization"));
    assert!(redactor.is_sensitive_key("ssn"));
    assert!(redactor.is_sensitive_header("X-Internal"));
    // Key patterns apply to query parameters too.
    assert_eq!(redactor.redact_query("ssn=1&password=2"), "ssn=[REDACTED]&password=2");
    // `no_defaults` may come last.
    let late = Redactor::builder().key("ssn").no_defaults().build();
    assert!(late.is_sensitive_key("ssn") && !late.is_sensitive_key("password"));
}

#[test]
fn empty_patterns_are_ignored() {
    let redactor = Redactor::builder().no_defaults().key("").key("_-").header(" ").build();
    assert!(!redactor.is_sensitive_key("name"));
    assert!(!redactor.is_sensitive_header("accept"));
}

#[test]
fn glob_patterns_match_the_whole_normalized_name() {
    let redactor =
        Redactor::builder().no_defaults().key("x-*-secret").header("x-*-signature").build();
    assert!(redactor.is_sensitive_key("x-webhook-secret"));
    assert!(redactor.is_sensitive_key("X_Webhook_Secret"));
    assert!(redactor.is_sensitive_key("xSecret"));
    assert!(!redactor.is_sensitive_key("my-x-secret-id"));
    assert!(!redactor.is_sensitive_key("secret"));
    assert!(redactor.is_sensitive_header("X-Hub-Signature"));
    assert!(!redactor.is_sensitive_header("x-hub-signature-256"));
    let mut value = json!({"x-foo-secret": 1, "x-foo-secret-id": 2});
    redactor.redact_json(&mut value);
    assert_eq!(value, json!({"x-foo-secret": REDACTED, "x-foo-secret-id": 2}));
}

#[test]
fn redactor_debug_shows_patterns_but_never_the_hmac_key() {
    let key = b"do-not-print-this-hmac-key-0123456789";
    let redactor = Redactor::builder().hmac_key(key).build();
    let builder: RedactorBuilder = Redactor::builder().hmac_key(key);
    for debug in [format!("{redactor:?}"), format!("{redactor:#?}"), format!("{builder:?}")] {
        assert!(!debug.contains("do-not-print"), "{debug}");
        assert!(!debug.contains(&hex::encode(key)), "{debug}");
        assert!(!debug.contains("100, 111, 45"), "{debug}"); // the key as a byte list
    }
    assert!(format!("{redactor:?}").contains("hmac-sha256"));
    assert!(format!("{:?}", Redactor::default()).contains("authorization"));
}

#[test]
fn redactor_is_cheap_to_share() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<Redactor>();
    assert_eq!(Redactor::default().max_depth(), 64);
    assert!(!Redactor::default().is_hmac());
}

// ---------------------------------------------------------------- query strings

#[test]
fn query_strings_keep_everything_but_secret_values() {
    let redactor = Redactor::default();
    let cases = [
        ("", ""),
        ("page=2&sort=asc", "page=2&sort=asc"),
        ("a=1&token=x", "a=1&token=[REDACTED]"),
        ("token=a&b=2&token=c", "token=[REDACTED]&b=2&token=[REDACTED]"),
        ("API_KEY=x&apiKey=y&Api-Key=z", "API_KEY=[REDACTED]&apiKey=[REDACTED]&Api-Key=[REDACTED]"),
        ("api%5Fkey=x", "api%5Fkey=[REDACTED]"),
        ("api%5fkey=x", "api%5fkey=[REDACTED]"),
        ("%61pi_key=x", "%61pi_key=[REDACTED]"),
        ("api%255Fkey=x", "api%255Fkey=[REDACTED]"),
        ("api+key=x", "api+key=[REDACTED]"),
        ("user%5Bpassword%5D=x&user[name]=al", "user%5Bpassword%5D=[REDACTED]&user[name]=al"),
        ("token", "token"),
        ("token=", "token=[REDACTED]"),
        ("token=a=b&c=d", "token=[REDACTED]&c=d"),
        ("a=1&&b=2&", "a=1&&b=2&"),
        ("=x&&=", "=x&&="),
        ("a=1;token=x;b=2", "a=1;token=[REDACTED];b=2"),
        ("token=x;b=2", "token=[REDACTED]"),
        ("q=%E2%9C%93&password=p%40ss", "q=%E2%9C%93&password=[REDACTED]"),
        (
            "X-Amz-Credential=AKIA&X-Amz-Signature=ab12&X-Amz-Date=1",
            "X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]&X-Amz-Date=1",
        ),
        ("%=%&%zz=1&%%%&%", "%=%&%zz=1&%%%&%"),
        ("ü=ö&é", "ü=ö&é"),
    ];
    for (input, want) in cases {
        assert_eq!(redactor.redact_query(input), want, "{input:?}");
    }
}

#[test]
fn query_redaction_never_panics_and_keeps_clean_input_byte_for_byte() {
    let nothing = Redactor::builder().no_defaults().build();
    let redactor = Redactor::default();
    for input in ["%", "%%", "&", ";", "=", "&=;", "a=%ff%fe", "\u{0}=\u{0}", "%e2%82", "a=b=c;d"] {
        assert_eq!(nothing.redact_query(input), input);
        let _ = redactor.redact_query(input);
    }
}

#[test]
fn the_request_query_and_a_stray_query_in_the_path_are_redacted() {
    let mut http = HttpRequest::new("GET", "/export?token=inpath");
    http.query = Some("format=csv&access_token=inquery".into());
    let mut event = http_event(http);
    Redactor::default().redact_event(&mut event);
    let Some(Request::Http(http)) = &event.request else { panic!("http request") };
    assert_eq!(http.query.as_deref(), Some("format=csv&access_token=[REDACTED]"));
    assert_eq!(http.path, "/export?token=[REDACTED]");
}

// ---------------------------------------------------------------- HMAC mode

#[test]
fn hmac_mode_gives_the_same_digest_for_the_same_secret() {
    let redactor = Redactor::builder().hmac_key(HMAC_KEY).build();
    assert!(redactor.is_hmac());
    let a = redactor.mask("sk_live_123");
    assert_eq!(a, hmac_hex(HMAC_KEY, b"sk_live_123"));
    assert_eq!(a, redactor.mask("sk_live_123"));
    assert_ne!(a, redactor.mask("sk_live_124"));
    assert!(a.starts_with("hmac-sha256:"));
    assert_eq!(a.len(), "hmac-sha256:".len() + 64);
    assert!(!a.contains("sk_live_123"));

    // The same secret in a header, a query parameter and a body gives the
    // same digest, so an investigator can link the entries.
    let mut http = HttpRequest::new("POST", "/keys");
    http.headers = headers(&[("x-api-key", "sk_live_123")]);
    http.query = Some("api_key=sk%5Flive%5F123".into());
    http.body = Some(Body::Json(json!({"apiKey": "sk_live_123"})));
    let mut event = http_event(http);
    redactor.redact_event(&mut event);
    let json = serde_json::to_string(&event).unwrap();
    assert!(!json.contains("sk_live_123"));
    assert_eq!(json.matches(&a).count(), 3, "{json}");
}

#[test]
fn hmac_digests_depend_on_the_key() {
    let one = Redactor::builder().hmac_key(HMAC_KEY).build();
    let two = Redactor::builder().hmac_key(b"another key, another digest.....").build();
    assert_ne!(one.mask("hunter2"), two.mask("hunter2"));
}

#[test]
fn hmac_of_a_non_string_value_is_over_its_compact_json() {
    let redactor = Redactor::builder().hmac_key(HMAC_KEY).build();
    let credentials = json!({"user": "alice", "password": "p"});
    let mut value = json!({"credentials": credentials, "pin_secret": 1234});
    redactor.redact_json(&mut value);
    assert_eq!(
        value,
        json!({
            "credentials": hmac_hex(HMAC_KEY, credentials.to_string().as_bytes()),
            "pin_secret": hmac_hex(HMAC_KEY, b"1234"),
        })
    );
}

#[test]
fn an_empty_hmac_key_is_ignored() {
    let redactor = Redactor::builder().hmac_key(b"").build();
    assert!(!redactor.is_hmac());
    assert_eq!(redactor.mask("hunter2"), REDACTED);
}

// ---------------------------------------------------------------- the event

#[test]
fn every_part_of_an_event_is_redacted() {
    let mut http = HttpRequest::new("PATCH", "/projects/p_42");
    http.headers = headers(&[("authorization", "Bearer SEKRET-header"), ("accept", "*/*")]);
    http.query = Some("token=SEKRET-query&x=1".into());
    http.body = Some(Body::Json(json!({"name": "Apollo", "client_secret": "SEKRET-body"})));
    let mut event = AuditEvent::builder("project.update")
        .request(Request::Http(http))
        .response(json_response(json!({"id": "p_42", "webhook": {"secret": "SEKRET-response"}})))
        .change(Change::new("credentials.password", "SEKRET-before", "SEKRET-after"))
        .change(Change::new("name", "Apollo", "Apollo 2"))
        .metadata("integration", json!({"kind": "slack", "bot_token": "SEKRET-meta"}))
        .metadata("apiKey", "SEKRET-meta-top")
        .reason("password rejected")
        .description("alice changed the password")
        .build();
    Redactor::default().redact_event(&mut event);

    let json = serde_json::to_string(&event).unwrap();
    assert!(!json.contains("SEKRET-"), "{json}");
    let Some(Request::Http(http)) = &event.request else { panic!("http request") };
    assert_eq!(http.headers["authorization"], REDACTED);
    assert_eq!(http.headers["accept"], "*/*");
    assert_eq!(http.query.as_deref(), Some("token=[REDACTED]&x=1"));
    assert_eq!(
        http.body.as_ref().and_then(Body::as_json),
        Some(&json!({"name": "Apollo", "client_secret": REDACTED}))
    );
    assert_eq!(event.changes[1], Change::new("name", "Apollo", "Apollo 2"));
    assert_eq!(event.metadata["integration"], json!({"kind": "slack", "bot_token": REDACTED}));
    assert_eq!(event.metadata["apiKey"], REDACTED);
    // Free text is the application's own and is not touched.
    assert_eq!(event.reason.as_deref(), Some("password rejected"));
    assert_eq!(event.description, "alice changed the password");
}

#[test]
fn changes_under_a_sensitive_path_are_replaced_on_both_sides() {
    let mut event = AuditEvent::builder("settings.update")
        .change(Change::new("credentials.password", "old", "new"))
        .change(Change::new("api_keys[0]", json!({"id": "k1"}), Value::Null))
        .change(Change::new(r#"settings["webhook.secret"]"#, "a", "b"))
        .change(Change::new("integrations[2].clientSecret", "c", "d"))
        .change(Change::new("settings", json!({"url": "u", "secret": "e"}), json!({"url": "v"})))
        .change(Change::new("", json!({"token": "f"}), json!({"token": "g"})))
        .change(Change::new("members[2].role", "viewer", "admin"))
        .build();
    Redactor::default().redact_event(&mut event);
    let changes: Vec<(&str, Value, Value)> = event
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.before.clone(), c.after.clone()))
        .collect();
    assert_eq!(
        changes,
        [
            ("credentials.password", json!(REDACTED), json!(REDACTED)),
            ("api_keys[0]", json!(REDACTED), json!(REDACTED)),
            (r#"settings["webhook.secret"]"#, json!(REDACTED), json!(REDACTED)),
            ("integrations[2].clientSecret", json!(REDACTED), json!(REDACTED)),
            ("settings", json!({"url": "u", "secret": REDACTED}), json!({"url": "v"})),
            ("", json!({"token": REDACTED}), json!({"token": REDACTED})),
            ("members[2].role", json!("viewer"), json!("admin")),
        ]
    );
}

#[test]
fn changes_between_then_redaction_hides_a_rotated_secret() {
    let before = json!({"name": "hook", "signing_secret": "old-s3cr3t"});
    let after = json!({"name": "hook", "signing_secret": "new-s3cr3t"});
    let mut event = AuditEvent::builder("webhook.update").changes_between(&before, &after).build();
    let redactor = Redactor::builder().hmac_key(HMAC_KEY).build();
    redactor.redact_event(&mut event);
    assert_eq!(event.changes.len(), 1);
    assert_eq!(event.changes[0].path, "signing_secret");
    // Investigators see that it changed, not what it was.
    assert_eq!(event.changes[0].before, redactor.mask("old-s3cr3t"));
    assert_eq!(event.changes[0].after, redactor.mask("new-s3cr3t"));
    assert_ne!(event.changes[0].before, event.changes[0].after);
}

#[test]
fn grpc_messages_and_response_bodies_are_redacted() {
    let mut grpc = GrpcRequest::new("keys.v1.Keys", "Create");
    grpc.message = Some(Body::Json(json!({"name": "ci", "privateKey": "s-grpc"})));
    let mut event = AuditEvent::builder("api_key.create")
        .request(Request::Grpc(grpc))
        .response(json_response(json!({"key": {"id": "k1", "secret": "s-resp"}})))
        .build();
    Redactor::default().redact_event(&mut event);
    let json = serde_json::to_string(&event).unwrap();
    assert!(!json.contains("s-grpc") && !json.contains("s-resp"), "{json}");
    assert!(json.contains(r#""privateKey":"[REDACTED]""#));
}

#[test]
fn omitted_bodies_are_left_alone() {
    let mut http = HttpRequest::new("POST", "/upload");
    http.body = Some(Body::omitted(OmitReason::Truncated, Some(70_000)));
    let mut event = http_event(http);
    let before = event.clone();
    Redactor::default().redact_event(&mut event);
    assert_eq!(event, before);
}

// ---------------------------------------------------------------- Sensitive<T>

#[test]
fn sensitive_serializes_and_prints_redacted() {
    let secret = Sensitive::new("hunter2".to_owned());
    assert_eq!(serde_json::to_string(&secret).unwrap(), r#""[REDACTED]""#);
    assert_eq!(format!("{secret:?}"), "[REDACTED]");
    assert_eq!(format!("{secret:#?}"), "[REDACTED]");
    assert_eq!(secret.to_string(), "[REDACTED]");
    let number = Sensitive::from(4242_u32);
    assert_eq!(serde_json::to_value(number).unwrap(), json!("[REDACTED]"));
    assert_eq!(format!("{:?}", Some(Sensitive::new(vec![1, 2]))), "Some([REDACTED])");
}

#[test]
fn sensitive_deserializes_as_its_inner_type_and_exposes_it() {
    #[derive(serde::Deserialize, serde::Serialize, Debug)]
    struct Login {
        email: String,
        password: Sensitive<String>,
    }
    let login: Login =
        serde_json::from_str(r#"{"email": "alice@example.com", "password": "hunter2"}"#).unwrap();
    assert_eq!(login.password.expose(), "hunter2");
    assert_eq!(login.password.len(), 7); // Deref
    assert!(!format!("{login:?}").contains("hunter2"));
    let value = serde_json::to_value(&login).unwrap();
    assert_eq!(value, json!({"email": "alice@example.com", "password": "[REDACTED]"}));
    assert_eq!(login.password.into_inner(), "hunter2");

    // In an entry's metadata it stays redacted, whatever the redactor does.
    let dto = json!({"note": Sensitive::new("x-secret-note")});
    let event = AuditEvent::builder("user.login").metadata("dto", dto).build();
    assert!(!serde_json::to_string(&event).unwrap().contains("x-secret-note"));
}

#[test]
fn sensitive_compares_clones_and_defaults_like_its_inner_type() {
    let a = Sensitive::new(1);
    assert_eq!(a, a.clone());
    assert_ne!(a, Sensitive::new(2));
    assert_eq!(Sensitive::<u8>::default().into_inner(), 0);
    assert_eq!(*Sensitive::from("x"), "x");
}

// ---------------------------------------------------------------- depth

fn nested_arrays(depth: usize) -> Value {
    let mut value = json!("bottom");
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

fn nested_objects(depth: usize, key: &str) -> Value {
    let mut value = json!("bottom");
    for _ in 0..depth {
        let mut map = Map::new();
        map.insert(key.to_owned(), value);
        value = Value::Object(map);
    }
    value
}

/// How many containers lead down the first child of each, and the value at
/// the bottom.
fn depth_and_bottom(value: &Value) -> (usize, &Value) {
    let mut depth = 0;
    let mut current = value;
    loop {
        match current {
            Value::Array(items) if !items.is_empty() => current = &items[0],
            Value::Object(map) if !map.is_empty() => current = map.values().next().unwrap(),
            _ => return (depth, current),
        }
        depth += 1;
    }
}

#[test]
fn very_deep_values_are_cut_without_overflowing_the_stack() {
    let redactor = Redactor::default();
    for mut value in [nested_arrays(100_000), nested_objects(100_000, "a")] {
        redactor.redact_json(&mut value);
        assert_eq!(depth_and_bottom(&value), (64, &json!(REDACTED_TOO_DEEP)));
    }
}

#[test]
fn deep_values_in_an_event_are_cut_everywhere() {
    let mut http = HttpRequest::new("POST", "/import");
    http.body = Some(Body::Json(nested_objects(100_000, "a")));
    let mut event = AuditEvent::builder("data.import")
        .request(Request::Http(http))
        .change(Change::new("tree", nested_arrays(100_000), Value::Null))
        .metadata("tree", nested_arrays(100_000))
        .build();
    Redactor::default().redact_event(&mut event);
    // The entry is now shallow enough to serialize and read back.
    let json = serde_json::to_string(&event).unwrap();
    let back: AuditEvent = serde_json::from_str(&json).unwrap();
    assert_eq!(back, event);
    assert!(json.contains(REDACTED_TOO_DEEP));
}

#[test]
fn a_deep_value_under_a_sensitive_key_is_replaced_in_both_modes() {
    let plain = Redactor::default();
    let keyed = Redactor::builder().hmac_key(HMAC_KEY).build();
    for (redactor, want) in [(plain, REDACTED), (keyed, REDACTED_TOO_DEEP)] {
        let mut value = json!({"password": null});
        value["password"] = nested_arrays(100_000);
        redactor.redact_json(&mut value);
        assert_eq!(value, json!({"password": want}));
    }
}

#[test]
fn max_depth_is_configurable_and_bounded() {
    let redactor = Redactor::builder().max_depth(3).build();
    let mut value = json!({"a": {"b": {"c": {"d": 1}, "e": 2}}, "f": [[[1]]]});
    redactor.redact_json(&mut value);
    assert_eq!(
        value,
        json!({"a": {"b": {"c": REDACTED_TOO_DEEP, "e": 2}}, "f": [[REDACTED_TOO_DEEP]]})
    );
    assert_eq!(Redactor::builder().max_depth(1_000_000).build().max_depth(), 100);

    // Huge inputs are still fine at the largest depth.
    let redactor = Redactor::builder().max_depth(usize::MAX).build();
    let mut value = nested_arrays(100_000);
    redactor.redact_json(&mut value);
    assert_eq!(depth_and_bottom(&value), (100, &json!(REDACTED_TOO_DEEP)));
    drop_iteratively(value);
}

// ---------------------------------------------------------------- property

/// Sensitive names, as words to be joined in random spellings.
const SENSITIVE_NAMES: &[&[&str]] = &[
    &["password"],
    &["passwd"],
    &["secret"],
    &["token"],
    &["api", "key"],
    &["apikey"],
    &["private", "key"],
    &["client", "secret"],
    &["card", "number"],
    &["authorization"],
    &["cookie"],
    &["credentials"],
    &["access", "token"],
    &["refresh", "token"],
    &["new", "password"],
    &["webhook", "secret"],
];

const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "x-api-key",
    "x-auth-token",
    "x-csrf-token",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9 ]{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn recase(word: &str, style: u8) -> String {
    match style {
        0 => word.to_lowercase(),
        1 => word.to_uppercase(),
        _ => word[..1].to_uppercase() + &word[1..],
    }
}

/// A sensitive name in a random spelling: `apiKey`, `API-KEY`, `new.Api_key`...
fn arb_sensitive_name() -> impl Strategy<Value = String> {
    (
        0..SENSITIVE_NAMES.len(),
        prop::sample::select(vec!["", "_", "-", ".", " "]),
        prop::collection::vec(0..3u8, 2),
        prop::sample::select(vec!["", "user_", "x-", "New", "stripe."]),
        prop::sample::select(vec!["", "_value", "Hash", "-2"]),
    )
        .prop_map(|(name, sep, styles, prefix, suffix)| {
            let words: Vec<String> = SENSITIVE_NAMES[name]
                .iter()
                .zip(styles)
                .map(|(w, style)| recase(w, style))
                .collect();
            format!("{prefix}{}{suffix}", words.join(sep))
        })
}

/// Percent-encodes the characters of a name where `mask` says so (spaces
/// always, as `+`).
fn encode_name(name: &str, mask: &[bool]) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| match c {
            ' ' => "+".to_owned(),
            c if mask.get(i).copied().unwrap_or(false) => format!("%{:02X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// Descends into `value` along `steps` (as far as they go) and puts
/// `{name: secret}` there.
fn plant(value: &mut Value, steps: &[prop::sample::Index], name: String, secret: Value) {
    let mut pointer = String::new();
    let mut current = &*value;
    for step in steps {
        match current {
            Value::Object(map) if !map.is_empty() => {
                let (key, next) = map.iter().nth(step.index(map.len())).unwrap();
                pointer.push('/');
                pointer.push_str(key);
                current = next;
            }
            Value::Array(items) if !items.is_empty() => {
                let i = step.index(items.len());
                pointer.push_str(&format!("/{i}"));
                current = &items[i];
            }
            _ => break,
        }
    }
    let target = value.pointer_mut(&pointer).unwrap();
    match target {
        Value::Object(map) => {
            map.insert(name, secret);
        }
        Value::Array(items) => items.push(json!({ name: secret })),
        other => *other = json!({ name: secret }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Wherever a secret is put under a sensitive name, in whatever spelling,
    /// it is not in the redacted entry.
    #[test]
    fn a_planted_secret_never_survives_redaction(
        body in arb_json(),
        secret in "canary[A-Za-z0-9]{12,32}",
        body_name in arb_sensitive_name(),
        steps in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        wrap in 0..4u8,
        place in 0..4u8,
        header in prop::sample::select(SENSITIVE_HEADERS.to_vec()),
        header_styles in prop::collection::vec(any::<bool>(), 24),
        param_name in arb_sensitive_name(),
        encode_mask in prop::collection::vec(any::<bool>(), 32),
        params_before in prop::collection::vec(("[a-z]{1,6}", "[a-z0-9%]{0,6}"), 0..3),
        params_after in prop::collection::vec(("[a-z]{1,6}", "[a-z0-9]{0,6}"), 0..3),
        separator in prop::sample::select(vec!["&", ";"]),
        hmac in any::<bool>(),
    ) {
        let secret_value = match wrap {
            0 => json!(secret),
            1 => json!(format!("Bearer {secret}")),
            2 => json!({"inner": secret}),
            _ => json!([1, secret]),
        };
        let mut body = body;
        plant(&mut body, &steps, body_name, secret_value);

        let header_name: String = header
            .chars()
            .zip(header_styles)
            .map(|(c, upper)| if upper { c.to_ascii_uppercase() } else { c })
            .collect();
        let mut params: Vec<String> =
            params_before.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        params.push(format!("{}={secret}", encode_name(&param_name, &encode_mask)));
        params.extend(params_after.into_iter().map(|(k, v)| format!("{k}={v}")));

        let mut http = HttpRequest::new("POST", "/things");
        http.headers = headers(&[("content-type", "application/json"), ("user-agent", "curl/8")]);
        http.headers.insert(header_name, format!("Bearer {secret}"));
        http.query = Some(params.join(separator));
        let mut builder = AuditEvent::builder("thing.create");
        match place {
            0 => http.body = Some(Body::Json(body)),
            1 => {
builder = builder.response(json_response(body))
            }
            2 => builder = builder.metadata("payload", body),
            _ => builder = builder.change(Change::new("settings", Value::Null, body)),
        }
        let mut event = builder.request(Request::Http(http)).build();

        let redactor = if hmac {
            Redactor::builder().hmac_key(HMAC_KEY).build()
        } else {
            Redactor::default()
        };
        redactor.redact_event(&mut event);

        let json = serde_json::to_string(&event).unwrap();
        prop_assert!(!json.contains(&secret), "secret survived: {}", json);
        prop_assert!(json.contains("curl/8"));
    }

    /// With nothing to redact, any query string comes back byte for byte.
    #[test]
    fn a_query_without_secrets_is_kept_byte_for_byte(query in ".{0,40}") {
        let nothing = Redactor::builder().no_defaults().build();
        prop_assert_eq!(nothing.redact_query(&query), query.clone());
        let _ = Redactor::default().redact_query(&query);
    }
}
