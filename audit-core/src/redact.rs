//! Redaction: secrets never leave the process.
//!
//! The [`Auditor`](crate::Auditor) runs its [`Redactor`] on every entry right
//! after enrichment, **before the entry is hashed into the chain and before any
//! sink sees it**. Redaction is always on; [`Redactor::builder`] adds to or
//! replaces the defaults.
//!
//! ```
//! use audit_core::{AuditEvent, Body, HttpRequest, Redactor, Request};
//! use serde_json::json;
//!
//! let mut http = HttpRequest::new("POST", "/login");
//! http.query = Some("next=/home&access_token=abc123".into());
//! http.headers.insert("authorization".into(), "Bearer abc123".into());
//! http.body = Some(Body::Json(json!({"email": "alice@example.com", "newPassword": "hunter2"})));
//! let mut event = AuditEvent::builder("user.login").request(Request::Http(http)).build();
//!
//! Redactor::default().redact_event(&mut event);
//!
//! let json = serde_json::to_string(&event).unwrap();
//! assert!(!json.contains("abc123") && !json.contains("hunter2"));
//! assert!(json.contains(r#""query":"next=/home&access_token=[REDACTED]""#));
//! assert!(json.contains(r#""newPassword":"[REDACTED]""#));
//! ```
//!
//! # What is redacted
//!
//! [`Redactor::redact_event`] covers every part of an entry that carries data
//! from the request or the application:
//!
//! - HTTP request headers: the value of every sensitive header (see below).
//!   Other headers that carry a URL (`Referer`, `Location`, ...) get its
//!   query redacted like the request's, its fragment too (OAuth's implicit
//!   flow puts `#access_token=..` there), and the userinfo of an absolute URL
//!   (`https://user:password@host`: the password, or the whole userinfo
//!   when it has no `:`, as a token alone often is).
//! - The HTTP query string: the values of sensitive parameters; everything
//!   else is kept byte for byte.
//! - Request and response bodies and gRPC messages ([`Body::Json`]), at any
//!   depth, by key.
//! - `changes`: when any segment of a change's path is a sensitive key
//!   (`credentials.password`, `api_keys[0]`), both `before` and `after` are
//!   replaced; otherwise both are redacted by key like a body.
//! - `metadata`, by key like a body.
//!
//! The event name, actor, resource, `reason` and `description` are not
//! touched: they are written by the application, not copied from a request.
//!
//! # The matching rule
//!
//! Names are compared in a normalized form: lowercased, with `_`, `-`, `.` and
//! spaces removed, so `apiKey`, `api_key`, `API-KEY` and `Api.Key` are all
//! `apikey`.
//!
//! - A JSON key is sensitive if its normalized form **contains** a normalized
//!   key pattern. `password` therefore also catches `new_password`,
//!   `passwordConfirmation` and `user[password]`; `secret` catches
//!   `clientSecret` and `webhook_secret`; `token` catches `refresh_token` (and
//!   `token_count`). This over-redacts on purpose: a field that is redacted
//!   without need costs a little context, a secret that is missed cannot be
//!   taken back from the sinks.
//! - A query parameter is sensitive if its percent-decoded name matches a key
//!   pattern or a query parameter pattern, by the same rule.
//! - A header is sensitive if its normalized name **equals** a header pattern,
//!   or matches a key pattern by the rule above (so `X-Refresh-Token` is caught
//!   by `token`).
//! - A pattern containing `*` is a glob matched against the **whole**
//!   normalized name instead: `x-*-secret` (normalized `x*secret`) matches
//!   `X-Webhook-Secret` but not `my-x-secret-id`.
//!
//! The defaults are [`DEFAULT_HEADERS`], [`DEFAULT_KEYS`] (which also apply
//! to query parameters and headers), [`DEFAULT_QUERY_PARAMS`] and
//! [`DEFAULT_EXACT_QUERY_PARAMS`] (matched whole).
//!
//! # The replacement
//!
//! The whole value under a sensitive key is replaced, even an object or an
//! array, by the string [`REDACTED`] (`"[REDACTED]"`).
//!
//! With [`RedactorBuilder::hmac_key`] it is replaced by a keyed digest instead,
//! `"hmac-sha256:<hex>"`, as HashiCorp Vault does for its audit devices: an
//! investigator can tell that two entries carried the same secret (the same
//! leaked API key used from two addresses) without seeing it, and can check a
//! suspected value by computing its HMAC with the key. The digest is taken over
//! a string's own bytes (for a query parameter, its percent-decoded value), and
//! over the compact JSON text of any other value. Keep the key as secret as the
//! values it protects, and make it long and random: anyone who has it can test
//! guesses against the digests.
//!
//! # Depth
//!
//! JSON built by code can be nested arbitrarily deep. The redactor walks at
//! most [`DEFAULT_MAX_DEPTH`] levels (see [`RedactorBuilder::max_depth`],
//! never more than [`MAX_DEPTH_LIMIT`], so its recursion is bounded whatever
//! the input); a container nested deeper is replaced wholesale by
//! [`TOO_DEEP`] (`"[REDACTED: too deep]"`). So after redaction no JSON value in
//! an entry is deeper than the limit, and every sink can serialize it and read
//! it back.
//!
//! # Limits
//!
//! Redaction goes by names. It does not find a secret in a URL path
//! (`/reset/<token>`), in a value under an innocent key (`"note": "pw is
//! hunter2"`), in free text such as `reason` or `description`, or in a body the
//! capture left out (those are [`Body::Omitted`] and carry no content). Keep
//! secrets out of paths, and wrap secret fields of your own types in
//! [`Sensitive`].

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::json::{deeper_than, drop_deep, is_container, path_segments};
use crate::{AuditEvent, Body, Request};

/// The string that replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// The string that replaces a JSON container nested deeper than the
/// redactor's [`max_depth`](RedactorBuilder::max_depth).
pub const TOO_DEEP: &str = "[REDACTED: too deep]";

/// The prefix of a keyed digest that replaces a value in HMAC mode.
pub const HMAC_PREFIX: &str = "hmac-sha256:";

/// How many levels of JSON nesting are walked by default.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// The largest accepted [`max_depth`](RedactorBuilder::max_depth). Entries
/// must stay readable by `serde_json`, which refuses documents nested more
/// than 128 levels deep, and an entry adds a few levels of its own.
pub const MAX_DEPTH_LIMIT: usize = 100;

/// Headers redacted by default, matched whole (after normalization).
///
/// Any header whose name matches a key pattern is redacted too: with the
/// default keys that includes every `*-token`, `*-secret`, `*-api-key` and
/// `*-cookie` header.
pub const DEFAULT_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-csrf-token",
    "x-xsrf-token",
    "x-amz-security-token",
];

/// JSON key patterns redacted by default, at any depth, matched by
/// containment (after normalization; see the [module docs](self)).
///
/// Generous on purpose: `token` also redacts `token_count`, `cookie` also
/// redacts `cookie_consent`. Short patterns that would catch common innocent
/// words (`pin`, `ssn`, `otp`, `code`) are left out; add them with
/// [`RedactorBuilder::key`] where your data needs them.
pub const DEFAULT_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "access_key",
    "private_key",
    "client_secret",
    "credential",
    "authorization",
    "cookie",
    "session_id",
    "card_number",
    "cvv",
    "cvc",
    "security_code",
    "jwt",
    "mnemonic",
];

/// Query parameter patterns redacted by default in addition to
/// [`DEFAULT_KEYS`]: the signatures of pre-signed URLs (`X-Amz-Signature`).
pub const DEFAULT_QUERY_PARAMS: &[&str] = &["signature"];

/// Query parameters redacted by default when their whole (normalized) name is
/// one of these: OAuth authorization codes (`?code=`), API keys passed as
/// `?key=` (Google APIs), and the signatures of Azure SAS URLs (`?sig=`).
/// Matched whole, so `zipcode`, `sort_key` or `design` are kept.
pub const DEFAULT_EXACT_QUERY_PARAMS: &[&str] = &["code", "key", "sig"];

/// Removes secrets from entries before they are hashed or leave the process;
/// see the [module docs](self) for what it covers and how names are matched.
///
/// `Redactor::default()` uses the defaults; [`Redactor::builder`] adds to
/// them or replaces them. Cloning is cheap enough to do once per auditor.
/// `Debug` shows the patterns but never the HMAC key.
///
/// ```
/// use audit_core::Redactor;
/// use serde_json::json;
///
/// let redactor = Redactor::builder().key("ssn").header("x-tenant-secret").build();
/// let mut value = json!({"user": {"name": "Alice", "SSN": "078-05-1120", "apiKey": "k_1"}});
/// redactor.redact_json(&mut value);
/// assert_eq!(
///     value,
///     json!({"user": {"name": "Alice", "SSN": "[REDACTED]", "apiKey": "[REDACTED]"}})
/// );
/// ```
#[derive(Clone)]
pub struct Redactor {
    headers: Vec<Pattern>,
    keys: Vec<Pattern>,
    /// The plain (non-glob) key patterns as one automaton: a key is checked
    /// against all of them in a single pass, normalized as it is read.
    key_automaton: Option<std::sync::Arc<KeyAutomaton>>,
    /// Whether some key pattern is a glob (checked one by one).
    glob_keys: bool,
    query_params: Vec<Pattern>,
    hmac: Option<Hmac<Sha256>>,
    max_depth: usize,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("headers", &PatternList(&self.headers))
            .field("keys", &PatternList(&self.keys))
            .field("query_params", &PatternList(&self.query_params))
            .field("mode", &if self.hmac.is_some() { "hmac-sha256" } else { "replace" })
            .field("max_depth", &self.max_depth)
            .finish()
    }
}

impl Redactor {
    /// Starts configuring a redactor, with the defaults included unless
    /// [`RedactorBuilder::no_defaults`] is called.
    pub fn builder() -> RedactorBuilder {
        RedactorBuilder::new()
    }

    /// Redacts every part of an entry in place: request headers, query and
    /// body, gRPC message, response body, changes and metadata. See the
    /// [module docs](self).
    pub fn redact_event(&self, event: &mut AuditEvent) {
        match &mut event.request {
            Some(Request::Http(http)) => {
                self.redact_headers(&mut http.headers);
                if let Some(query) = &mut http.query
                    && let Some(redacted) = self.redacted_query(query)
                {
                    *query = redacted;
                }
                // The path is documented to be without its query; if one
                // slipped in anyway, it is redacted like the query.
                if memchr::memchr(b'?', http.path.as_bytes()).is_some() {
                    http.path = self.redact_url(&http.path);
                }
                if let Some(body) = &mut http.body {
                    self.redact_body(body);
                }
            }
            Some(Request::Grpc(grpc)) => {
                if let Some(message) = &mut grpc.message {
                    self.redact_body(message);
                }
            }
            None => {}
        }
        if let Some(body) = event.response.as_mut().and_then(|r| r.body.as_mut()) {
            self.redact_body(body);
        }
        for change in &mut event.changes {
            if self.is_sensitive_path(&change.path) {
                self.replace_sensitive(&mut change.before);
                self.replace_sensitive(&mut change.after);
            } else {
                self.redact_json(&mut change.before);
                self.redact_json(&mut change.after);
            }
        }
        self.redact_map(&mut event.metadata, 0);
    }

    /// Redacts a captured body in place; a body that was not kept has nothing
    /// to redact.
    pub fn redact_body(&self, body: &mut Body) {
        match body {
            Body::Json(value) => self.redact_json(value),
            Body::Omitted(_) => {}
        }
    }

    /// Redacts a JSON value in place: the value under every sensitive key, at
    /// any depth (objects inside arrays included), is replaced, and containers
    /// nested deeper than the limit are replaced by [`TOO_DEEP`]. A scalar at
    /// the top has no key and is left as it is.
    pub fn redact_json(&self, value: &mut Value) {
        if !is_container(value) {
            // A scalar (a change's before or after, mostly): nothing to walk.
            return;
        }
        if self.max_depth == 0 {
            replace(value, Value::String(TOO_DEEP.to_owned()));
            return;
        }
        self.walk(value, 0);
    }

    /// Redacts the values of sensitive headers in place (names are matched
    /// case-insensitively), and the URL in any other header whose value is or
    /// contains one: the values of sensitive parameters in its query and its
    /// fragment (`Referer: https://app/cb?token=..`, `..#access_token=..`),
    /// and the userinfo password of an absolute URL
    /// (`https://user:password@host`).
    pub fn redact_headers(&self, headers: &mut BTreeMap<String, String>) {
        for (name, value) in headers.iter_mut() {
            if self.is_sensitive_header(name) {
                if self.hmac.is_none() {
                    // In place: the secret's own buffer takes the marker.
                    value.clear();
                    value.push_str(REDACTED);
                } else {
                    *value = self.mask(value);
                }
            } else if value.bytes().any(|b| matches!(b, b'?' | b'#' | b'@')) {
                *value = self.redact_url(value);
            }
        }
    }

    /// Returns a query string (without the leading `?`) with the values of
    /// sensitive parameters replaced.
    ///
    /// Everything else is kept byte for byte: order, encoding, repeated and
    /// empty parameters, parameters without `=`. Names are percent-decoded
    /// before matching (`api%5Fkey` is `api_key`). Parameters are split on
    /// `&`; a parameter whose value contains `;` is also read as `;`-separated
    /// parameters, as some servers do, so `a=1;token=x` loses `x` too.
    ///
    /// ```
    /// let r = audit_core::Redactor::default();
    /// assert_eq!(
    ///     r.redact_query("page=2&api%5Fkey=k1&flag&sort=asc"),
    ///     "page=2&api%5Fkey=[REDACTED]&flag&sort=asc",
    /// );
    /// ```
    pub fn redact_query(&self, query: &str) -> String {
        self.redacted_query(query).unwrap_or_else(|| query.to_owned())
    }

    /// [`Self::redact_query`], or `None` when nothing in the query is
    /// sensitive (the common case, which then allocates nothing).
    fn redacted_query(&self, query: &str) -> Option<String> {
        // The output is made on the first sensitive value: the query up to
        // it, the mask, and so on; `copied` is where the query was copied to.
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut mask = |pair: &str| {
            let Some((name, value)) = pair.split_once('=') else { return false };
            if !self.is_sensitive_query_param(name) {
                return false;
            }
            // `pair` is a slice of `query`: the value's offset in it.
            let start = value.as_ptr() as usize - query.as_ptr() as usize;
            let out = out.get_or_insert_with(|| String::with_capacity(query.len() + 16));
            out.push_str(&query[copied..start]);
            if self.hmac.is_none() {
                out.push_str(REDACTED);
            } else {
                out.push_str(&self.mask(&percent_decode(value, true)));
            }
            copied = start + value.len();
            true
        };
        for pair in query.split('&') {
            if !mask(pair) && pair.contains(';') {
                for part in pair.split(';') {
                    mask(part);
                }
            }
        }
        out.map(|mut out| {
            out.push_str(&query[copied..]);
            out
        })
    }

    /// Whether a header is sensitive: its normalized name equals a header
    /// pattern or matches a key pattern. Case-insensitive.
    pub fn is_sensitive_header(&self, name: &str) -> bool {
        with_normalized(name, |name| {
            self.headers.iter().any(|p| p.matches(name)) || self.key_matches(name)
        })
    }

    /// Whether a normalized name matches a key pattern.
    #[inline]
    fn key_matches(&self, normalized: &[u8]) -> bool {
        match &self.key_automaton {
            Some(automaton) => {
                automaton.contains_exact(normalized)
                    || (self.glob_keys && self.keys.iter().any(|p| p.glob && p.matches(normalized)))
            }
            None => self.keys.iter().any(|p| p.matches(normalized)),
        }
    }

    /// Whether a JSON key (or a segment of a change path) is sensitive: its
    /// normalized form contains a normalized key pattern, or matches a glob
    /// pattern whole.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        // The common case: an ASCII key, normalized while the automaton reads
        // it, with no copy.
        if let Some(automaton) = &self.key_automaton
            && !self.glob_keys
            && let Some(found) = automaton.contains(key.as_bytes())
        {
            return found;
        }
        with_normalized(key, |key| self.key_matches(key))
    }

    /// Whether a query parameter is sensitive: its percent-decoded name
    /// matches a key pattern or a query parameter pattern.
    pub fn is_sensitive_query_param(&self, name: &str) -> bool {
        let matches = |name: &[u8]| {
            self.key_matches(name) || self.query_params.iter().any(|p| p.matches(name))
        };
        if name.bytes().any(|b| matches!(b, b'%' | b'+')) {
            matches(normalize(&decode_name(name)).as_bytes())
        } else {
            // Nothing to decode: the common case, without allocating.
            with_normalized(name, matches)
        }
    }

    /// Whether any segment of a change path (`settings.api_key`,
    /// `members[0]["apiKey"]`) is a sensitive key.
    fn is_sensitive_path(&self, path: &str) -> bool {
        if path.contains(['[', '"']) {
            path_segments(path).iter().any(|s| self.is_sensitive_key(s))
        } else {
            // Dotted keys only: the segments are the pieces between dots.
            path.split('.').any(|s| self.is_sensitive_key(s))
        }
    }

    /// The replacement for a secret string: [`REDACTED`], or in HMAC mode
    /// `hmac-sha256:<hex>` of the string's bytes.
    ///
    /// ```
    /// use audit_core::Redactor;
    ///
    /// assert_eq!(Redactor::default().mask("hunter2"), "[REDACTED]");
    /// let keyed = Redactor::builder().hmac_key(b"0123456789abcdef0123456789abcdef").build();
    /// let digest = keyed.mask("hunter2");
    /// assert!(digest.starts_with("hmac-sha256:") && !digest.contains("hunter2"));
    /// assert_eq!(digest, keyed.mask("hunter2"));
    /// ```
    pub fn mask(&self, value: &str) -> String {
        self.digest(value.as_bytes())
    }

    /// Whether entries are redacted with a keyed digest instead of
    /// [`REDACTED`].
    pub fn is_hmac(&self) -> bool {
        self.hmac.is_some()
    }

    /// How many levels of JSON nesting are walked.
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }

    fn digest(&self, bytes: &[u8]) -> String {
        match &self.hmac {
            Some(mac) => {
                let mut mac = mac.clone();
                mac.update(bytes);
                format!("{HMAC_PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
            }
            None => REDACTED.to_owned(),
        }
    }

    /// The replacement for a whole JSON value under a sensitive key.
    fn mask_value(&self, value: &Value) -> Value {
        let masked = match value {
            Value::String(s) => self.mask(s),
            _ if self.hmac.is_none() => REDACTED.to_owned(),
            // Serializing recurses; a value this deep is not digested.
            _ if deeper_than(value, self.max_depth) => TOO_DEEP.to_owned(),
            // `Value`'s `Display` is its compact JSON text and cannot fail.
            _ => self.digest(value.to_string().as_bytes()),
        };
        Value::String(masked)
    }

    /// Replaces a value under a sensitive key.
    fn replace_sensitive(&self, slot: &mut Value) {
        if self.hmac.is_none()
            && let Value::String(secret) = slot
        {
            // In place: the secret's own buffer takes the marker.
            secret.clear();
            secret.push_str(REDACTED);
            return;
        }
        let masked = self.mask_value(slot);
        replace(slot, masked);
    }

    fn redact_map(&self, map: &mut Map<String, Value>, depth: usize) {
        self.visit_entries(map, depth);
    }

    /// Redacts a container at `depth` (below the limit): recursion that
    /// the depth limit bounds (at most [`MAX_DEPTH_LIMIT`] frames), and
    /// that needs no allocation, unlike a stack of its own.
    fn walk(&self, value: &mut Value, depth: usize) {
        match value {
            Value::Object(map) => self.visit_entries(map, depth),
            Value::Array(items) => {
                for item in items {
                    self.visit_child(item, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// Handles the entries of an object at `depth`: masks sensitive keys and
    /// walks the other containers.
    fn visit_entries(&self, map: &mut Map<String, Value>, depth: usize) {
        for (key, child) in map.iter_mut() {
            if self.is_sensitive_key(key) {
                self.replace_sensitive(child);
            } else {
                self.visit_child(child, depth + 1);
            }
        }
    }

    /// Walks a container at `depth`, or replaces it if it is nested too
    /// deeply.
    fn visit_child(&self, child: &mut Value, depth: usize) {
        if !is_container(child) {
            return;
        }
        if depth >= self.max_depth {
            replace(child, Value::String(TOO_DEEP.to_owned()));
        } else {
            self.walk(child, depth);
        }
    }

    /// Redacts a URL (or path): the sensitive parameters of its query and of
    /// its fragment, which is read like a query (OAuth's implicit flow sends
    /// `#access_token=..&token_type=..`; a fragment without `=` stays as it
    /// is), and the userinfo of an absolute URL (see [`Self::redact_userinfo`]).
    fn redact_url(&self, url: &str) -> String {
        let (rest, fragment) = match url.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (url, None),
        };
        let (base, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let mut out = String::with_capacity(url.len());
        self.redact_userinfo(base, &mut out);
        if let Some(q) = query {
            out.push('?');
            out.push_str(&self.redact_query(q));
        }
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(&self.redact_query(f));
        }
        out
    }

    /// Writes `base` (a URL without query and fragment) to `out`, with the
    /// password of its userinfo masked when it is an absolute URL
    /// (`scheme://user:password@host/..` keeps `user:`), or the whole
    /// userinfo when it has no `:` (`https://<token>@host`, as git URLs
    /// carry tokens). Anything that does not start with a scheme and `://`
    /// is written as it is.
    fn redact_userinfo(&self, base: &str, out: &mut String) {
        let authority = base.split_once("://").and_then(|(scheme, rest)| {
            let mut chars = scheme.chars();
            let is_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            is_scheme.then(|| {
                let start = scheme.len() + 3;
                let end = rest.find('/').map_or(base.len(), |i| start + i);
                (start, end)
            })
        });
        let Some((start, end)) = authority else {
            out.push_str(base);
            return;
        };
        let Some(at) = base[start..end].rfind('@').map(|i| start + i) else {
            out.push_str(base);
            return;
        };
        let userinfo = &base[start..at];
        let secret_start = userinfo.find(':').map_or(start, |i| start + i + 1);
        out.push_str(&base[..secret_start]);
        out.push_str(&self.mask(&percent_decode(&base[secret_start..at], false)));
        out.push_str(&base[at..]);
    }
}

/// Configures a [`Redactor`]; see [`Redactor::builder`].
///
/// Setters add to the defaults unless [`no_defaults`](Self::no_defaults) is
/// called (at any point before [`build`](Self::build)). `Debug` never shows the
/// HMAC key.
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RedactorBuilder {
    defaults: bool,
    headers: Vec<String>,
    keys: Vec<String>,
    query_params: Vec<String>,
    hmac_key: Option<Vec<u8>>,
    max_depth: usize,
}

impl fmt::Debug for RedactorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactorBuilder")
            .field("defaults", &self.defaults)
            .field("headers", &self.headers)
            .field("keys", &self.keys)
            .field("query_params", &self.query_params)
            .field("hmac_key", &self.hmac_key.as_ref().map(|_| "<hidden>"))
            .field("max_depth", &self.max_depth)
            .finish()
    }
}

impl Default for RedactorBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RedactorBuilder {
    /// A builder with the defaults and no HMAC key.
    pub fn new() -> Self {
        Self {
            defaults: true,
            headers: Vec::new(),
            keys: Vec::new(),
            query_params: Vec::new(),
            hmac_key: None,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }

    /// Adds a sensitive header, matched whole and case-insensitively
    /// (`*` globs allowed: `x-*-signature`).
    pub fn header(mut self, name: impl Into<String>) -> Self {
        self.headers.push(name.into());
        self
    }

    /// Adds a sensitive JSON key pattern, matched by containment after
    /// normalization (`*` makes it a glob matched whole). It also applies to
    /// query parameters, header names and change paths.
    pub fn key(mut self, pattern: impl Into<String>) -> Self {
        self.keys.push(pattern.into());
        self
    }

    /// Adds a sensitive query parameter pattern, matched like a key pattern
    /// but only against query parameter names.
    pub fn query_param(mut self, name: impl Into<String>) -> Self {
        self.query_params.push(name.into());
        self
    }

    /// Replaces values by `hmac-sha256:<hex>`, keyed with these bytes, instead
    /// of `"[REDACTED]"`. Use at least 32 random bytes and keep them secret.
    /// An empty key is ignored: an unkeyed digest of a short secret can be
    /// reversed by guessing.
    pub fn hmac_key(mut self, key: impl AsRef<[u8]>) -> Self {
        let key = key.as_ref();
        self.hmac_key = (!key.is_empty()).then(|| key.to_vec());
        self
    }

    /// Leaves out [`DEFAULT_HEADERS`], [`DEFAULT_KEYS`] and
    /// [`DEFAULT_QUERY_PARAMS`]: only what is added explicitly is redacted.
    pub fn no_defaults(mut self) -> Self {
        self.defaults = false;
        self
    }

    /// How many levels of JSON nesting to walk (default
    /// [`DEFAULT_MAX_DEPTH`], at most [`MAX_DEPTH_LIMIT`]: larger values are
    /// clamped). Containers nested deeper are replaced by [`TOO_DEEP`].
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth.min(MAX_DEPTH_LIMIT);
        self
    }

    /// Finishes the redactor.
    pub fn build(self) -> Redactor {
        let Self { defaults, headers, keys, query_params, hmac_key, max_depth } = self;
        let patterns = |builtin: &[&str], added: Vec<String>, kind: MatchKind| -> Vec<Pattern> {
            let builtin = if defaults { builtin } else { &[] };
            builtin
                .iter()
                .map(|s| Pattern::new(s, kind))
                .chain(added.iter().map(|s| Pattern::new(s, kind)))
                .flatten()
                .collect()
        };
        let keys = patterns(DEFAULT_KEYS, keys, MatchKind::Contains);
        let plain: Vec<&str> =
            keys.iter().filter(|p| !p.glob).map(|p| p.normalized.as_str()).collect();
        // Building fails only for patterns far beyond any realistic size; the
        // patterns then stay checked one by one.
        let key_automaton = KeyAutomaton::new(&plain).map(std::sync::Arc::new);
        let glob_keys = keys.iter().any(|p| p.glob);
        Redactor {
            headers: patterns(DEFAULT_HEADERS, headers, MatchKind::Whole),
            key_automaton,
            glob_keys,
            keys,
            query_params: patterns(DEFAULT_QUERY_PARAMS, query_params, MatchKind::Contains)
                .into_iter()
                .chain(patterns(DEFAULT_EXACT_QUERY_PARAMS, Vec::new(), MatchKind::Whole))
                .collect(),
            hmac: hmac_key.and_then(|k| Hmac::<Sha256>::new_from_slice(&k).ok()),
            max_depth,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchKind {
    /// The normalized name equals the pattern.
    Whole,
    /// The normalized name contains the pattern.
    Contains,
}

/// A normalized name pattern.
#[derive(Debug, Clone)]
struct Pattern {
    normalized: String,
    kind: MatchKind,
    glob: bool,
}

impl Pattern {
    /// A pattern, or `None` if it normalizes to nothing (it would match
    /// every name).
    fn new(pattern: &str, kind: MatchKind) -> Option<Self> {
        let normalized = normalize(pattern);
        if normalized.is_empty() {
            return None;
        }
        let glob = normalized.contains('*');
        Some(Self { normalized, kind, glob })
    }

    /// Whether an already normalized name matches.
    #[inline]
    fn matches(&self, name: &[u8]) -> bool {
        let pattern = self.normalized.as_bytes();
        if self.glob {
            glob_match(pattern, name)
        } else {
            match self.kind {
                MatchKind::Whole => name == pattern,
                MatchKind::Contains => contains_bytes(name, pattern),
            }
        }
    }
}

struct PatternList<'a>(&'a [Pattern]);

impl fmt::Debug for PatternList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|p| &p.normalized)).finish()
    }
}

/// The plain key patterns as one deterministic automaton.
///
/// aho-corasick builds it; for ASCII names (nearly all keys, headers and
/// parameters) it is then read from a table of its own where the
/// normalization is folded into the byte classes: a separator leaves the
/// state as it is, an upper-case letter moves like its lower-case one, and a
/// non-ASCII byte stops the walk (the name is then normalized first, with
/// Unicode's lower-casing, and given to aho-corasick's automaton). So a key
/// is decided in one pass over its bytes, one table load per byte, with no
/// copy. No prefilter: keys are a few bytes long, and setting up a search
/// would cost more than the search.
struct KeyAutomaton {
    dfa: aho_corasick::dfa::DFA,
    folded: Option<FoldedTable>,
}

/// [`KeyAutomaton`]'s table for ASCII input. States are numbered
/// premultiplied by the number of classes, so that a step is
/// `next[state + class[byte]]`.
struct FoldedTable {
    class: [u8; 256],
    next: Box<[u16]>,
    start: u16,
}

impl FoldedTable {
    /// A transition into a state where some pattern ends.
    const MATCH: u16 = u16::MAX;
    /// A non-ASCII byte.
    const BAIL: u16 = u16::MAX - 1;
    /// Class of the separators, which do not move the automaton.
    const SKIP: u8 = 0;
    /// Class of the non-ASCII bytes.
    const NON_ASCII: u8 = 1;
    /// Class of the ASCII bytes that are in no pattern.
    const OTHER: u8 = 2;

    /// `None` when the automaton has too many states for 16-bit numbers
    /// (patterns of thousands of bytes); aho-corasick's is used then.
    fn new(dfa: &aho_corasick::dfa::DFA, patterns: &[&str]) -> Option<Self> {
        use aho_corasick::Anchored;
        use aho_corasick::automaton::Automaton as _;
        // Classes: the separators, the non-ASCII bytes, every other ASCII
        // byte that no pattern has (each leads back to the start), then one
        // per ASCII byte of the (normalized, so lower-case) patterns.
        let mut class = [Self::OTHER; 256];
        let mut reps: Vec<u8> = Vec::new();
        for &b in patterns.iter().flat_map(|p| p.as_bytes()) {
            if b.is_ascii() && class[usize::from(b)] == Self::OTHER {
                reps.push(b);
                class[usize::from(b)] = u8::try_from(reps.len() + 2).ok()?;
            }
        }
        for b in 0..=255u8 {
            if matches!(b, b'_' | b'-' | b'.' | b' ') {
                class[usize::from(b)] = Self::SKIP;
            } else if !b.is_ascii() {
                class[usize::from(b)] = Self::NON_ASCII;
            } else if b.is_ascii_uppercase() {
                class[usize::from(b)] = class[usize::from(b.to_ascii_lowercase())];
            }
        }
        let stride = reps.len() + 3;
        let start = dfa.start_state(Anchored::No).ok()?;
        // Breadth-first over the states reachable from the start by ASCII
        // bytes; a match ends the walk, so match states need no row.
        let mut ids = std::collections::HashMap::new();
        let mut order = vec![start];
        ids.insert(start, 0u16);
        let mut next: Vec<u16> = Vec::new();
        let mut i = 0;
        while let Some(&sid) = order.get(i) {
            let row = next.len();
            next.resize(row + stride, Self::BAIL);
            next[row + usize::from(Self::SKIP)] = u16::try_from(row).ok()?;
            next[row + usize::from(Self::OTHER)] = 0;
            for (k, &b) in reps.iter().enumerate() {
                let to = dfa.next_state(Anchored::No, sid, b);
                let id = if dfa.is_match(to) {
                    Self::MATCH
                } else if let Some(&id) = ids.get(&to) {
                    id
                } else {
                    let id =
                        u16::try_from(order.len() * stride).ok().filter(|&id| id < Self::BAIL)?;
                    ids.insert(to, id);
                    order.push(to);
                    id
                };
                next[row + k + 3] = id;
            }
            i += 1;
        }
        Some(Self { class, next: next.into_boxed_slice(), start: 0 })
    }

    /// Whether `name`, normalized, contains a pattern; `None` at a
    /// non-ASCII byte.
    #[inline]
    fn contains(&self, name: &[u8]) -> Option<bool> {
        let mut state = self.start;
        for &b in name {
            state = self.next[usize::from(state) + usize::from(self.class[usize::from(b)])];
            if state >= Self::BAIL {
                return (state == Self::MATCH).then_some(true);
            }
        }
        Some(false)
    }
}

impl KeyAutomaton {
    /// `None` only for patterns far beyond any realistic size; they then
    /// stay checked one by one.
    fn new(patterns: &[&str]) -> Option<Self> {
        let dfa = aho_corasick::dfa::DFA::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            .start_kind(aho_corasick::StartKind::Unanchored)
            .prefilter(false)
            .build(patterns)
            .ok()?;
        let folded = FoldedTable::new(&dfa, patterns);
        Some(Self { dfa, folded })
    }

    /// Whether the normalized form of `name` contains a pattern, decided
    /// while the bytes are read. `None` when `name` is not ASCII (the
    /// normalization is Unicode-aware then) and no pattern was found before
    /// its first non-ASCII byte.
    #[inline]
    fn contains(&self, name: &[u8]) -> Option<bool> {
        if let Some(table) = &self.folded {
            return table.contains(name);
        }
        if !name.is_ascii() {
            return None;
        }
        let normalized = name
            .iter()
            .filter(|b| !matches!(b, b'_' | b'-' | b'.' | b' '))
            .map(u8::to_ascii_lowercase);
        Some(self.finds(normalized))
    }

    /// Whether already normalized bytes (any UTF-8) contain a pattern.
    fn contains_exact(&self, normalized: &[u8]) -> bool {
        // Normalized ASCII reads the same through the folded table.
        match self.folded.as_ref().and_then(|t| t.contains(normalized)) {
            Some(found) => found,
            None => self.finds(normalized.iter().copied()),
        }
    }

    /// Runs aho-corasick's automaton over `bytes`, stopping at the first match.
    fn finds(&self, bytes: impl Iterator<Item = u8>) -> bool {
        use aho_corasick::automaton::Automaton as _;
        let dfa = &self.dfa;
        let Ok(mut sid) = dfa.start_state(aho_corasick::Anchored::No) else { return false };
        for b in bytes {
            sid = dfa.next_state(aho_corasick::Anchored::No, sid, b);
            if dfa.is_special(sid) && dfa.is_match(sid) {
                return true;
            }
        }
        false
    }
}

/// Calls `f` with the normalized name, without allocating for the short
/// ASCII names that nearly all keys and headers are.
fn with_normalized<R>(name: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    const INLINE: usize = 64;
    if name.len() <= INLINE && name.is_ascii() {
        let mut buf = [0u8; INLINE];
        let mut len = 0;
        for b in name.bytes().filter(|b| !matches!(b, b'_' | b'-' | b'.' | b' ')) {
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
        f(&buf[..len])
    } else {
        f(normalize(name).as_bytes())
    }
}

/// Lowercases and removes `_`, `-`, `.` and spaces.
fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `haystack` contains `needle`: compared in place for the short
/// names matched here, where setting up `memmem`'s searcher would cost
/// more than the search.
fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        true
    } else if haystack.len() <= 64 {
        haystack.windows(needle.len()).any(|w| w == needle)
    } else {
        memchr::memmem::find(haystack, needle).is_some()
    }
}

/// Whether `text` matches `pattern` whole, where `*` matches any run of bytes.
/// Iterative, with backtracking to the last `*` only: O(pattern × text) at worst.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Percent-decodes a query component (and `+` as a space if `plus` is set).
/// Invalid escapes are kept as they are; invalid UTF-8 is replaced.
fn percent_decode(s: &str, plus: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                match (bytes.get(i + 1).and_then(hex_val), bytes.get(i + 2).and_then(hex_val)) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes a parameter name, repeatedly, so that a name encoded twice
/// (`api%255Fkey`) is still recognised.
fn decode_name(name: &str) -> String {
    let mut current = percent_decode(name, true);
    for _ in 0..3 {
        if !current.contains('%') {
            break;
        }
        let next = percent_decode(&current, false);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn hex_val(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Replaces a value, dropping the old one without recursion.
fn replace(slot: &mut Value, new: Value) {
    drop_deep(std::mem::replace(slot, new));
}

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

#[cfg(test)]
mod tests {
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
                r.key_matches(n.as_bytes())
                    || r.query_params.iter().any(|p| p.matches(n.as_bytes()))
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
}
