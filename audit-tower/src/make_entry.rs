//! The request-to-entry mapping: what the layer knows of a request before
//! the inner service is called.
//!
//! [`make_entry`] runs once per request, in
//! [`AuditService::call`](crate::AuditService), before the inner service is
//! called. It derives the protocol, the route and the event name, asks the
//! [`Policy`](crate::Policy) for a level and a delivery mode, settles the
//! request id, finds the actor ([`MakeActor`]) and the client address, opens
//! the request's [`AuditScope`] (pre-filled with all of it, and put in the
//! request extensions), and wraps the body so that it is captured when the
//! level asks for it.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use audit_core::{
    AuditScope, Body as AuditBody, GrpcRequest, HttpRequest, OmitReason, Request as AuditRequest,
    Source,
};
use http::request::Parts;
use http::{HeaderValue, Request};
use http_body::Body;
use uuid::Uuid;

use crate::capture::{
    BodyCapture, RequestBody, RequestBodyCapture, capture_format, content_length,
};
use crate::client_ip::resolve_client_ip;
use crate::config::ServiceConfig;
use crate::entry::EntryStart;
use crate::event_name::{event_name_for_grpc, event_name_for_route};
use crate::make_actor::MakeActor;
use crate::policy::{Level, Protocol, RequestFacts};

pub(crate) const X_REQUEST_ID: &str = "x-request-id";

/// A request mapped to its entry.
#[derive(Debug)]
pub(crate) struct MadeEntry<B> {
    /// The request for the inner service: its scope in the extensions, its
    /// body wrapped for capture.
    pub(crate) request: Request<RequestBody<B>>,
    /// How the entry starts.
    pub(crate) start: EntryStart,
    /// The request id, echoed in the response.
    pub(crate) request_id: HeaderValue,
}

/// Maps a request to the start of its entry; see the [module docs](self).
pub(crate) fn make_entry<B, M, C>(
    config: &ServiceConfig<C>,
    make_actor: &mut M,
    request: Request<B>,
) -> MadeEntry<B>
where
    B: Body,
    M: MakeActor<B>,
{
    let started = Instant::now();
    let actor = make_actor.make_actor(&request);
    let (mut parts, body) = request.into_parts();

    let protocol = if is_grpc(&parts) { Protocol::Grpc } else { Protocol::Http };
    let path = parts.uri.path().to_owned();
    let route = match protocol {
        Protocol::Grpc => Some(path.clone()),
        Protocol::Http => matched_route(&parts),
    };
    let grpc = (protocol == Protocol::Grpc).then(|| grpc_names(&path));
    let derived = match &grpc {
        Some((service, method)) => event_name_for_grpc(service, method),
        None => {
            event_name_for_route(&parts.method, route.as_deref().unwrap_or(&path), route.is_some())
        }
    };
    let facts =
        RequestFacts { method: &parts.method, route: route.as_deref(), path: &path, protocol };
    let decision = config.policy.decide(&facts, &derived);
    let event = decision.event.unwrap_or(derived);
    let level = decision.level;
    let delivery = decision.delivery.unwrap_or_else(|| config.recorder.default_delivery());

    let request_id = request_id(&mut parts);
    let peer = match config.peer_addr {
        Some(f) => f(&parts),
        None => default_peer(&parts),
    };
    let ip = resolve_client_ip(peer, &parts.headers, &config.trusted, &config.forwarded);

    let scope = AuditScope::new();
    let mut source = Source::new().request_id(request_id.to_str().unwrap_or_default());
    if let Some(ip) = ip {
        source = source.ip(ip);
    }
    if let Some(ua) = parts.headers.get(http::header::USER_AGENT) {
        source = source.user_agent(String::from_utf8_lossy(ua.as_bytes()));
    }
    scope.set_source(source);
    scope.set_request(match grpc {
        Some((service, method)) => AuditRequest::Grpc(GrpcRequest::new(service, method)),
        None => {
            let mut http = HttpRequest::new(parts.method.as_str(), path);
            http.route = route;
            // Redacted by the auditor, with everything else in the entry.
            http.query = parts.uri.query().map(str::to_owned);
            for name in &config.headers {
                let mut values = parts.headers.get_all(name).iter();
                if let Some(first) = values.next() {
                    let mut value = String::from_utf8_lossy(first.as_bytes()).into_owned();
                    for v in values {
                        value.push_str(", ");
                        value.push_str(&String::from_utf8_lossy(v.as_bytes()));
                    }
                    http.headers.insert(name.as_str().to_owned(), value);
                }
            }
            AuditRequest::Http(http)
        }
    });
    if let Some(actor) = actor {
        scope.set_actor(actor);
    }
    parts.extensions.insert(scope.clone());

    let request_body =
        if level >= Level::Request && protocol == Protocol::Http && !body.is_end_stream() {
            let declared = content_length(&parts.headers).or(body.size_hint().exact());
            match capture_format(&parts.headers) {
                Some(format) => RequestBodyCapture::Live(Arc::new(Mutex::new(BodyCapture::new(
                    format,
                    config.max_body,
                    declared,
                )))),
                None => RequestBodyCapture::Marker(AuditBody::omitted(
                    OmitReason::UnsupportedContentType,
                    declared,
                )),
            }
        } else {
            RequestBodyCapture::None
        };
    let request = Request::from_parts(parts, RequestBody::new(body, request_body.live()));

    MadeEntry {
        request,
        start: EntryStart { scope, started, event, level, delivery, protocol, request_body },
        request_id,
    }
}

fn is_grpc(parts: &Parts) -> bool {
    parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"))
}

/// `/package.Service/Method` → (`package.Service`, `Method`).
fn grpc_names(path: &str) -> (String, String) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((service, method)) => (service.to_owned(), method.to_owned()),
        None => (trimmed.to_owned(), String::new()),
    }
}

#[cfg(feature = "axum")]
fn matched_route(parts: &Parts) -> Option<String> {
    parts.extensions.get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_owned())
}

#[cfg(not(feature = "axum"))]
fn matched_route(_: &Parts) -> Option<String> {
    None
}

fn default_peer(parts: &Parts) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        parts.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(addr.ip());
    }
    #[cfg(feature = "tonic")]
    if let Some(addr) = parts
        .extensions
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|info| info.remote_addr())
    {
        return Some(addr.ip());
    }
    parts.extensions.get::<SocketAddr>().map(SocketAddr::ip)
}

/// The request id: `x-request-id` when it is sane (1 to 128 visible ASCII
/// characters), else a new UUIDv7, which replaces it in the request headers.
fn request_id(parts: &mut Parts) -> HeaderValue {
    if let Some(v) = parts.headers.get(X_REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty() && b.len() <= 128 && b.iter().all(|c| (0x21..=0x7e).contains(c)) {
            return v.clone();
        }
    }
    let mut buf = Uuid::encode_buffer();
    let id = Uuid::now_v7().hyphenated().encode_lower(&mut buf);
    let id = HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("invalid"));
    parts.headers.insert(X_REQUEST_ID, id.clone());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        let (mut parts, ()) =
            Request::builder().header(X_REQUEST_ID, "abc-123").body(()).unwrap().into_parts();
        assert_eq!(request_id(&mut parts), "abc-123");
        let long = "x".repeat(129);
        for bad in [long.as_str(), "", "has space"] {
            let (mut parts, ()) =
                Request::builder().header(X_REQUEST_ID, bad).body(()).unwrap().into_parts();
            let id = request_id(&mut parts);
            assert_eq!(id.len(), 36, "{bad:?}");
            assert_eq!(parts.headers.get(X_REQUEST_ID), Some(&id));
        }
    }

    #[test]
    fn grpc_paths() {
        assert_eq!(grpc_names("/p.v1.Projects/Update"), ("p.v1.Projects".into(), "Update".into()));
        assert_eq!(grpc_names("/odd"), ("odd".into(), String::new()));
    }
}
