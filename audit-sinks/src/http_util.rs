//! The HTTP client shared by the OTLP/HTTP exporter and the webhook sink.

use std::time::Duration;

use audit_core::SinkError;

/// A client with rustls, no redirects (a redirected POST loses its body, and
/// a 303 would turn it into a GET that "succeeds"), and a whole-request timeout.
pub(crate) fn client(
    timeout: Duration,
    ca_certificate_pem: Option<&[u8]>,
    client_identity_pem: Option<(&[u8], &[u8])>,
) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("audit-sinks/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca_certificate_pem {
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(pem)?);
    }
    if let Some((cert, key)) = client_identity_pem {
        let mut pem = Vec::with_capacity(cert.len() + key.len() + 1);
        pem.extend_from_slice(key);
        pem.push(b'\n');
        pem.extend_from_slice(cert);
        builder = builder.identity(reqwest::Identity::from_pem(&pem)?);
    }
    builder.build()
}

/// An error and its sources, `: `-separated.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A request that got no HTTP response: a timeout, a refused or reset
/// connection, a TLS failure. Transient, except a request that could not be
/// built at all. The URL is left out of the message (it may hold a token).
pub(crate) fn classify_send_error(what: &str, e: reqwest::Error) -> SinkError {
    let e = e.without_url();
    let chain = error_chain(&e);
    if e.is_builder() {
        return SinkError::permanent(format!("{what}: cannot build the request: {chain}"))
            .with_source(e);
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    SinkError::transient(format!("{what} {kind}: {chain}; the pipeline retries")).with_source(e)
}

/// Up to `cap` bytes of a response body (errors end it early: the body is
/// only for messages).
pub(crate) async fn read_capped(mut response: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < cap {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(cap - out.len());
                out.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// A short, single-line excerpt of a receiver's message.
pub(crate) fn snippet(text: &str) -> String {
    const MAX: usize = 300;
    let one_line: String =
        text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.is_empty() {
        return "no message".to_owned();
    }
    match one_line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}
