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
//! [`REDACTED_TOO_DEEP`] (`"[REDACTED: too deep]"`). So after redaction no JSON value in
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

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::json::{deeper_than, drop_deep, is_container, path_segments};
use crate::model::{AuditEvent, Body, Request};

mod builder;
mod defaults;
mod matcher;
mod sensitive;
mod url;

pub use builder::RedactorBuilder;
pub use defaults::{
    DEFAULT_EXACT_QUERY_PARAMS, DEFAULT_HEADERS, DEFAULT_KEYS, DEFAULT_QUERY_PARAMS,
};
use matcher::decode_name;
use matcher::normalize;
use matcher::{KeyAutomaton, Pattern, PatternList, with_normalized};
pub use sensitive::Sensitive;

/// The string that replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// The string that replaces a JSON container nested deeper than the
/// redactor's [`max_depth`](RedactorBuilder::max_depth).
pub const REDACTED_TOO_DEEP: &str = "[REDACTED: too deep]";

/// The prefix of a keyed digest that replaces a value in HMAC mode.
pub const HMAC_PREFIX: &str = "hmac-sha256:";

/// How many levels of JSON nesting are walked by default.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// The largest accepted [`max_depth`](RedactorBuilder::max_depth). Entries
/// must stay readable by `serde_json`, which refuses documents nested more
/// than 128 levels deep, and an entry adds a few levels of its own.
pub const MAX_DEPTH_LIMIT: usize = 100;

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
    /// nested deeper than the limit are replaced by [`REDACTED_TOO_DEEP`]. A scalar at
    /// the top has no key and is left as it is.
    pub fn redact_json(&self, value: &mut Value) {
        if !is_container(value) {
            // A scalar (a change's before or after, mostly): nothing to walk.
            return;
        }
        if self.max_depth == 0 {
            replace(value, Value::String(REDACTED_TOO_DEEP.to_owned()));
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
            _ if deeper_than(value, self.max_depth) => REDACTED_TOO_DEEP.to_owned(),
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
            replace(child, Value::String(REDACTED_TOO_DEEP.to_owned()));
        } else {
            self.walk(child, depth);
        }
    }
}

/// Replaces a value, dropping the old one without recursion.
fn replace(slot: &mut Value, new: Value) {
    drop_deep(std::mem::replace(slot, new));
}

#[cfg(test)]
mod tests;
