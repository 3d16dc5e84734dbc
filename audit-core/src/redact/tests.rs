use super::matcher::{glob_match, percent_decode};
use super::*;

#[test]
fn normalization() {
    for k in ["apiKey", "api_key", "API-KEY", "Api.Key", "api key"] {
        assert_eq!(normalize(k), "apikey", "{k}");
    }
}

#[test]
fn fast_paths_agree_with_the_general_ones() {
    let r = Redactor::builder().key("ssn").key("x*secret").build();
    for path in [
        "name",
        "settings.api_key",
        "settings.webhookSecret",
        "a..token",
        ".password",
        "members[0].apiKey",
        r#"settings["api.key"]"#,
        "x.mysecret",
        "x.xwebhooksecret",
        "SSN",
        "plan.label",
    ] {
        let general = path_segments(path).iter().any(|s| r.is_sensitive_key(s));
        assert_eq!(r.is_sensitive_path(path), general, "{path}");
    }
    for name in
        ["token", "page", "API-KEY", "code", "codes", "X-Amz-Signature", "sort", "ssn_last4"]
    {
        let general = {
            let n = normalize(&decode_name(name));
            r.key_matches(n.as_bytes()) || r.query_params.iter().any(|p| p.matches(n.as_bytes()))
        };
        assert_eq!(r.is_sensitive_query_param(name), general, "{name}");
    }
    for (query, want) in [
        ("page=2&sort=asc", None),
        ("page=2&token=x", Some("page=2&token=[REDACTED]")),
        ("a=1;token=x;b=2", Some("a=1;token=[REDACTED];b=2")),
        ("token=a;b&c=1", Some("token=[REDACTED]&c=1")),
        ("token", None),
        ("flag&&=&x=", None),
        ("api%5Fkey=k&api%5Fkey=", Some("api%5Fkey=[REDACTED]&api%5Fkey=[REDACTED]")),
        ("to;ken=1&pass;word=2", None),
        ("code=1&codes=2", Some("code=[REDACTED]&codes=2")),
    ] {
        assert_eq!(r.redacted_query(query).as_deref(), want, "{query}");
        assert_eq!(r.redact_query(query), want.unwrap_or(query), "{query}");
    }
    assert!(r.is_sensitive_path("settings.api_key"));
    assert!(!r.is_sensitive_path("settings.labels"));
    assert!(r.is_sensitive_query_param("api%5Fkey"));
    assert!(r.is_sensitive_query_param("access+token"));
}

proptest::proptest! {
    /// The automaton, which normalizes while it reads, decides exactly as
    /// normalizing first and then looking for each pattern does.
    #[test]
    fn the_key_automaton_agrees_with_normalize_then_contains(
        key in "([a-zA-Z_ .\\-]|é|İ|API|Key|TOK|EN|pass|_word|séc|SECRET|ssn){0,12}"
    ) {
        let r = Redactor::builder().key("ssn").key("SÉCURITÉ").build();
        let normalized = normalize(&key);
        let reference = r
            .keys
            .iter()
            .any(|p| memchr::memmem::find(normalized.as_bytes(), p.normalized.as_bytes()).is_some());
        proptest::prop_assert_eq!(r.is_sensitive_key(&key), reference, "{}", key);
    }

    /// The same over any printable ASCII, with pieces of the patterns
    /// mixed in (the folded table sends a byte no pattern has back to
    /// the start, and skips separators in the middle of a pattern), and
    /// for already normalized names, which headers and query parameters
    /// are checked as.
    #[test]
    fn the_folded_table_agrees_with_normalize_then_contains(
        key in "([ -~]|pass|wor|d|to|k|en|api|Key|cvv|_|-|sec|ret|jwt|cook|ie){0,16}"
    ) {
        let r = Redactor::builder().key("x*secret").key("ssn").build();
        let plain = Redactor::default();
        let normalized = normalize(&key);
        let reference = |r: &Redactor| {
            r.keys.iter().filter(|p| !p.glob).any(|p| {
                memchr::memmem::find(normalized.as_bytes(), p.normalized.as_bytes()).is_some()
            })
        };
        let automaton = plain.key_automaton.as_ref().expect("automaton");
        proptest::prop_assert!(automaton.folded.is_some());
        proptest::prop_assert_eq!(plain.is_sensitive_key(&key), reference(&plain), "{}", key);
        proptest::prop_assert_eq!(
            automaton.contains_exact(normalized.as_bytes()),
            reference(&plain),
            "{}",
            key
        );
        let glob = normalized.starts_with('x') && normalized.ends_with("secret");
        proptest::prop_assert_eq!(r.is_sensitive_key(&key), reference(&r) || glob, "{}", key);
    }
}

/// Patterns too many for the folded table's 16-bit states leave it
/// out; aho-corasick's own DFA, fed the key as it is normalized, then
/// decides alone, and must decide the same.
#[test]
fn without_the_folded_table_keys_are_matched_by_aho_corasick_alone() {
    let mut builder = Redactor::builder().no_defaults();
    for i in 0..2_000 {
        builder = builder.key(format!("pattern-{i:04}-{}", "q".repeat(i % 23)));
    }
    let r = builder.key("password").key("SÉCURITÉ").build();
    let automaton = r.key_automaton.as_ref().expect("automaton");
    assert!(automaton.folded.is_none(), "the table should not fit");
    for (key, want) in [
        ("newPassword", true),
        ("PASS_word", true),
        ("Pattern-0042-qqqqqqqqqqqqqqqqqqq", true),
        ("pattern_0042_q", false),
        ("sécurité_sociale", true),
        ("description", false),
    ] {
        assert_eq!(r.is_sensitive_key(key), want, "{key}");
        assert_eq!(automaton.contains_exact(normalize(key).as_bytes()), want, "{key}");
    }
    assert!(r.is_sensitive_header("X-Password"));
    assert!(!r.is_sensitive_header("Content-Type"));
}

#[test]
fn globs() {
    let cases = [
        ("x*secret", "xwebhooksecret", true),
        ("x*secret", "xsecret", true),
        ("x*secret", "myxsecretid", false),
        ("*token", "refreshtoken", true),
        ("*token", "tokencount", false),
        ("a*b*c", "aXbYbZc", true),
        ("a*b*c", "aXbYbZ", false),
        ("*", "", true),
        ("", "", true),
        ("", "a", false),
    ];
    for (p, t, want) in cases {
        assert_eq!(glob_match(p.as_bytes(), t.as_bytes()), want, "{p} ~ {t}");
    }
}

#[test]
fn oauth_codes_api_keys_and_sas_signatures_are_redacted_by_exact_name() {
    let r = Redactor::default();
    assert_eq!(
        r.redact_query("code=4%2F0Ab&state=xyz&zipcode=75001&sort_key=name"),
        "code=[REDACTED]&state=xyz&zipcode=75001&sort_key=name"
    );
    assert_eq!(r.redact_query("key=AIzaSyD-abc&Key=x"), "key=[REDACTED]&Key=[REDACTED]");
    assert_eq!(
        r.redact_query("sv=2022-11-02&sig=abc%2Bdef&design=flat"),
        "sv=2022-11-02&sig=[REDACTED]&design=flat"
    );
    // Replacing the defaults drops them too.
    let bare = Redactor::builder().no_defaults().query_param("session").build();
    assert_eq!(bare.redact_query("code=1&session=2"), "code=1&session=[REDACTED]");
}

#[test]
fn urls_lose_secrets_in_query_fragment_and_userinfo() {
    let r = Redactor::default();
    let cases = [
        (
            "https://app.example.com/cb?state=xyz&access_token=s3cr3t#frag",
            "https://app.example.com/cb?state=xyz&access_token=[REDACTED]#frag",
        ),
        (
            "https://app.example.com/cb#access_token=s3cr3t&token_type=bearer&state=1",
            "https://app.example.com/cb#access_token=[REDACTED]&token_type=[REDACTED]&state=1",
        ),
        ("/a?page=2#section-3", "/a?page=2#section-3"),
        ("/a#b?token=s3cr3t", "/a#b?token=[REDACTED]"),
        (
            "https://alice:s3cr3t@app.example.com/x?page=1",
            "https://alice:[REDACTED]@app.example.com/x?page=1",
        ),
        ("https://ghp_s3cr3t@github.com/o/r.git", "https://[REDACTED]@github.com/o/r.git"),
        ("postgres://u:p%40ss@db:5432/app", "postgres://u:[REDACTED]@db:5432/app"),
        ("https://app.example.com/@alice", "https://app.example.com/@alice"),
        ("mailto:alice@example.com", "mailto:alice@example.com"),
        ("Bot/1.0 (see https://example.com/bot)", "Bot/1.0 (see https://example.com/bot)"),
    ];
    for (url, want) in cases {
        assert_eq!(r.redact_url(url), want, "{url}");
    }
    let mut headers = BTreeMap::from([
        ("referer".to_owned(), "https://u:pw@a.example/#id_token=t".to_owned()),
        ("origin".to_owned(), "https://a.example".to_owned()),
    ]);
    r.redact_headers(&mut headers);
    assert_eq!(headers["referer"], "https://u:[REDACTED]@a.example/#id_token=[REDACTED]");
    assert_eq!(headers["origin"], "https://a.example");
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("api%5Fkey", false), "api_key");
    assert_eq!(percent_decode("api%5fkey", false), "api_key");
    assert_eq!(percent_decode("a+b", true), "a b");
    assert_eq!(percent_decode("a+b", false), "a+b");
    for s in ["%", "%4", "%zz", "a%", "%%41", "%ff", "%c3%a9"] {
        let _ = percent_decode(s, true);
    }
    assert_eq!(percent_decode("%%41", false), "%A");
    assert_eq!(percent_decode("%c3%a9", false), "é");
    assert_eq!(decode_name("api%255Fkey"), "api_key");
}
