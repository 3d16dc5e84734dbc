//! [`AuditService`]: opens the scope of each request and calls the inner service.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use audit_core::{
    AuditScope, Body as AuditBody, Delivery, GrpcRequest, HttpRequest, OmitReason,
    Request as AuditRequest, Source,
};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Request, Response};
use http_body::Body;
use tower_service::Service;
use uuid::Uuid;

use crate::body::ResponseBody;
use crate::capture::{
    BodyCapture, RequestBody, RequestBodyCapture, capture_format, content_length,
};
use crate::client_ip::resolve_client_ip;
use crate::event_name::{event_name_for_grpc, event_name_for_route};
use crate::future::ResponseFuture;
use crate::layer::Shared;
use crate::make_actor::MakeActor;
use crate::pending::{Pending, RecordTask};
use crate::policy::{Level, Protocol, RequestFacts};

pub(crate) const X_REQUEST_ID: &str = "x-request-id";

/// The service [`AuditLayer`](crate::AuditLayer) makes: audits each request
/// and calls the inner service `S`.
pub struct AuditService<S, M> {
    inner: S,
    shared: Arc<Shared>,
    make_actor: M,
}

impl<S: Clone, M: Clone> Clone for AuditService<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            make_actor: self.make_actor.clone(),
        }
    }
}

impl<S: fmt::Debug, M> fmt::Debug for AuditService<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditService")
            .field("inner", &self.inner)
            .field("config", &self.shared)
            .field("make_actor", &std::any::type_name::<M>())
            .finish()
    }
}

impl<S, M> AuditService<S, M> {
    pub(crate) fn from_parts(inner: S, shared: Arc<Shared>, make_actor: M) -> Self {
        Self { inner, shared, make_actor }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Entries that were lost; see
    /// [`AuditLayer::lost_entries`](crate::AuditLayer::lost_entries).
    pub fn lost_entries(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }
}

impl<S, M, B, ResBody> Service<Request<B>> for AuditService<S, M>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Error: fmt::Display,
    M: MakeActor<B>,
    B: Body + Send + 'static,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let start = Instant::now();
        let actor = self.make_actor.make_actor(&request);
        let (mut parts, body) = request.into_parts();
        let shared = &self.shared;

        let protocol = if is_grpc(&parts) { Protocol::Grpc } else { Protocol::Http };
        let path = parts.uri.path().to_owned();
        let route = match protocol {
            Protocol::Grpc => Some(path.clone()),
            Protocol::Http => matched_route(&parts),
        };
        let grpc = (protocol == Protocol::Grpc).then(|| grpc_names(&path));
        let derived = match &grpc {
            Some((service, method)) => event_name_for_grpc(service, method),
            None => event_name_for_route(
                &parts.method,
                route.as_deref().unwrap_or(&path),
                route.is_some(),
            ),
        };
        let facts =
            RequestFacts { method: &parts.method, route: route.as_deref(), path: &path, protocol };
        let decision = shared.policy.decide(&facts, &derived);
        let event = decision.event.unwrap_or(derived);
        let level = decision.level;
        let delivery = decision.delivery.unwrap_or_else(|| shared.auditor.delivery());

        let request_id = request_id(&mut parts);
        let peer = match shared.peer_addr {
            Some(f) => f(&parts),
            None => default_peer(&parts),
        };
        let ip = resolve_client_ip(peer, &parts.headers, &shared.trusted, &shared.forwarded);

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
                for name in &shared.headers {
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

        let capture =
            if level >= Level::Request && protocol == Protocol::Http && !body.is_end_stream() {
                let declared = content_length(&parts.headers).or(body.size_hint().exact());
                match capture_format(&parts.headers) {
                    Some(format) => RequestBodyCapture::Live(Arc::new(Mutex::new(
                        BodyCapture::new(format, shared.max_body, declared),
                    ))),
                    None => RequestBodyCapture::Marker(AuditBody::omitted(
                        OmitReason::UnsupportedContentType,
                        declared,
                    )),
                }
            } else {
                RequestBodyCapture::None
            };
        let request = Request::from_parts(parts, RequestBody::new(body, capture.live()));

        let strict = delivery == Delivery::Strict && level > Level::None;
        let pending = Pending::new(
            shared.clone(),
            scope.clone(),
            start,
            event.clone(),
            level,
            delivery,
            protocol,
            capture,
            strict,
        );

        if strict {
            let mut received = scope.build_event(&event);
            received.metadata.insert("stage".into(), "received".into());
            received.description =
                format!("{} (received, not yet completed)", received.default_description());
            let record = RecordTask::new(shared.clone(), received, Delivery::Strict);
            // The inner service that was polled ready goes into the future.
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            let call_scope = scope.clone();
            let call = Box::new(move || call_inner(&mut inner, call_scope, request));
            ResponseFuture::received(record, call, pending, scope, request_id)
        } else {
            match call_inner(&mut self.inner, scope.clone(), request) {
                Ok(future) => ResponseFuture::inner(future, pending, scope, request_id),
                Err(panic) => ResponseFuture::panicked(panic, pending, scope, request_id),
            }
        }
    }
}

/// Calls the inner service with the scope current, catching a panic.
fn call_inner<S, R>(inner: &mut S, scope: AuditScope, request: R) -> Result<S::Future, String>
where
    S: Service<R>,
{
    catch_unwind(AssertUnwindSafe(|| scope.sync_scope(|| inner.call(request))))
        .map_err(panic_message)
}

pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let msg = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    };
    // For the application's log only (never the entry: see `on_panic`).
    // A panic message is free text: keep it short.
    match msg.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &msg[..i]),
        None => msg,
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

    #[test]
    fn panic_messages_are_short() {
        assert_eq!(panic_message(Box::new("boom")), "boom");
        assert_eq!(panic_message(Box::new(String::from("bang"))), "bang");
        assert_eq!(panic_message(Box::new(42)), "(no message)");
        assert_eq!(panic_message(Box::new("é".repeat(300))).chars().count(), 203);
    }
}
