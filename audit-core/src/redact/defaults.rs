//! The names redacted by default.

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
/// containment (after normalization; see the [module docs](crate::redact)).
///
/// Generous on purpose: `token` also redacts `token_count`, `cookie` also
/// redacts `cookie_consent`. Short patterns that would catch common innocent
/// words (`pin`, `ssn`, `otp`, `code`) are left out; add them with
/// [`RedactorBuilder::key`](super::RedactorBuilder::key) where your data needs them.
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
