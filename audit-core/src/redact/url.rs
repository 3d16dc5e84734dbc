//! Secrets inside URLs and query strings: sensitive parameters of the
//! query and the fragment, and the password of the userinfo.

use super::{REDACTED, Redactor, matcher::percent_decode};

impl Redactor {
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
    pub(super) fn redacted_query(&self, query: &str) -> Option<String> {
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

    /// Redacts a URL (or path): the sensitive parameters of its query and of
    /// its fragment, which is read like a query (OAuth's implicit flow sends
    /// `#access_token=..&token_type=..`; a fragment without `=` stays as it
    /// is), and the userinfo of an absolute URL (see [`Self::redact_userinfo`]).
    pub(super) fn redact_url(&self, url: &str) -> String {
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
    pub(super) fn redact_userinfo(&self, base: &str, out: &mut String) {
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
