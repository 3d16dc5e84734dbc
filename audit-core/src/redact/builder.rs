//! [`RedactorBuilder`]: what a [`Redactor`] matches and how it masks.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{
    DEFAULT_EXACT_QUERY_PARAMS, DEFAULT_HEADERS, DEFAULT_KEYS, DEFAULT_MAX_DEPTH,
    DEFAULT_QUERY_PARAMS, MAX_DEPTH_LIMIT, Redactor, matcher::KeyAutomaton, matcher::MatchKind,
    matcher::Pattern,
};

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
    /// clamped). Containers nested deeper are replaced by [`REDACTED_TOO_DEEP`](super::REDACTED_TOO_DEEP).
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
