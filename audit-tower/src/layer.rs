//! [`AuditLayer`]: the builder of the layer's settings, and the [`Layer`]
//! that wraps a service.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use audit_core::Auditor;
use http::HeaderName;
use http::header;
use http::request::Parts;
use ipnet::IpNet;
use tower_layer::Layer;

use crate::classify::{ClassifyOutcome, DefaultClassifier};
use crate::client_ip::ForwardedHeader;
use crate::config::{LayerConfig, ServiceConfig};
use crate::make_actor::DefaultMakeActor;
use crate::make_entry::X_REQUEST_ID;
use crate::policy::Policy;
use crate::service::AuditService;

/// The default capture cap for request and response bodies: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// A function that finds the socket peer of a request.
pub type PeerAddrFn = fn(&Parts) -> Option<IpAddr>;

/// The default header allow-list.
///
/// `content-type`, `content-length`, `user-agent`, `x-request-id`, `accept`,
/// `origin`, `referer`, and the credential headers `authorization`, `cookie`
/// and `x-api-key`. The credential headers are in the list so that the entry
/// shows that credentials were presented: the auditor's redactor replaces
/// their values with `[REDACTED]` (or a keyed digest, which lets an
/// investigator tell that two requests carried the same token) before the
/// entry is hashed or leaves the process. They are dropped from the list when
/// the redactor would not mask them.
pub fn default_header_allowlist() -> Vec<HeaderName> {
    vec![
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::USER_AGENT,
        HeaderName::from_static(X_REQUEST_ID),
        header::ACCEPT,
        header::ORIGIN,
        header::REFERER,
        header::AUTHORIZATION,
        header::COOKIE,
        HeaderName::from_static("x-api-key"),
    ]
}

/// A [`Layer`] that turns every audited request into one audit entry.
///
/// Works on anything that is a `tower::Service<http::Request<B>>`: an axum
/// `Router` (apply it with `Router::layer` so the route template is known), a
/// tonic `Server` (`Server::builder().layer(..)`), plain hyper services. See
/// the [crate docs](crate) for what it records and when.
///
/// ```
/// use audit_core::{Auditor, Delivery, testing::MemorySink};
/// use audit_tower::{AuditLayer, Level, Policy, Rule};
/// use http::Method;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auditor = Auditor::builder().service("projects", "1.0.0").sink(MemorySink::new()).build()?;
/// let layer = AuditLayer::new(auditor)
///     .policy(Policy::default().prepend(
///         Rule::new()
///             .method(Method::POST)
///             .route("/billing/**")
///             .level(Level::Request)
///             .delivery(Delivery::Strict),
///     ))
///     .trusted_proxies(["10.0.0.0/8".parse()?])
///     .max_body_bytes(16 * 1024);
/// # let _ = layer;
/// # Ok(()) }
/// ```
#[must_use = "a layer does nothing until it wraps a service"]
pub struct AuditLayer<M = DefaultMakeActor, C = DefaultClassifier> {
    config: LayerConfig,
    make_actor: M,
    classify: C,
}

impl<M: Clone, C: Clone> Clone for AuditLayer<M, C> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            make_actor: self.make_actor.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<M, C> fmt::Debug for AuditLayer<M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLayer")
            .field("auditor", &self.config.auditor)
            .field("policy", &self.config.policy)
            .field("trusted_proxies", &self.config.trusted)
            .field("forwarded_headers", &self.config.forwarded)
            .field("max_body_bytes", &self.config.max_body)
            .field("header_allowlist", &self.config.headers)
            .field("make_actor", &std::any::type_name::<M>())
            .field("classify", &std::any::type_name::<C>())
            .finish()
    }
}

impl AuditLayer {
    /// A layer recording through `auditor`, with the default policy
    /// (mutations at [`Level::Metadata`](crate::Level::Metadata)), no trusted
    /// proxies, a 64 KiB body cap, the [default header
    /// allow-list](default_header_allowlist), the actor from the request
    /// extensions and the default outcome classifier.
    pub fn new(auditor: Auditor) -> Self {
        Self {
            config: LayerConfig {
                auditor,
                policy: Policy::default(),
                trusted: Vec::new(),
                forwarded: ForwardedHeader::DEFAULT.to_vec(),
                max_body: DEFAULT_MAX_BODY_BYTES,
                headers: default_header_allowlist(),
                peer_addr: None,
                lost: Arc::new(AtomicU64::new(0)),
            },
            make_actor: DefaultMakeActor,
            classify: DefaultClassifier,
        }
    }
}

impl<M, C> AuditLayer<M, C> {
    /// Sets the audit policy (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.config.policy = policy;
        self
    }

    /// Trusts these proxies (CIDRs) to report the client address; see
    /// [`resolve_client_ip`](crate::resolve_client_ip). Default: none, and
    /// forwarding headers are ignored.
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpNet>) -> Self {
        self.config.trusted = proxies.into_iter().collect();
        self
    }

    /// Which forwarding headers trusted proxies set, in order of preference
    /// (default: [`ForwardedHeader::DEFAULT`]). Name only the one your proxy
    /// writes.
    pub fn forwarded_headers(mut self, headers: impl IntoIterator<Item = ForwardedHeader>) -> Self {
        self.config.forwarded = headers.into_iter().collect();
        self
    }

    /// The most bytes of a request or response body kept for the entry
    /// (default 64 KiB). A larger body passes through untouched and is
    /// recorded as `{"$omitted": "truncated", "size": ..}`.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.config.max_body = max;
        self
    }

    /// Replaces the request headers recorded (default:
    /// [`default_header_allowlist`]). Values are redacted by the auditor.
    pub fn header_allowlist(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.config.headers = headers.into_iter().collect();
        self
    }

    /// Finds the socket peer with this function instead of the defaults
    /// (axum's `ConnectInfo<SocketAddr>`, tonic's `TcpConnectInfo`, or a
    /// `SocketAddr` in the request extensions).
    pub fn peer_addr(mut self, peer_addr: PeerAddrFn) -> Self {
        self.config.peer_addr = Some(peer_addr);
        self
    }

    /// Replaces how the actor is found; see [`MakeActor`](crate::MakeActor).
    ///
    /// The actor finder is a type parameter of the layer and of the services
    /// it makes, as the classifier is: no boxing, no dynamic call.
    pub fn make_actor<M2>(self, make_actor: M2) -> AuditLayer<M2, C> {
        AuditLayer { config: self.config, make_actor, classify: self.classify }
    }

    /// Replaces the outcome classifier; see [`ClassifyOutcome`].
    ///
    /// The classifier is a type parameter of the layer, of the services it
    /// makes and of their response futures and bodies, which run it.
    pub fn classify<C2: ClassifyOutcome>(self, classify: C2) -> AuditLayer<M, C2> {
        AuditLayer { config: self.config, make_actor: self.make_actor, classify }
    }

    /// Entries that were lost: a request that ended outside a Tokio runtime,
    /// or an auditor that was already shut down. Counted across every clone of the
    /// layer and every service it made.
    pub fn lost_entries(&self) -> u64 {
        self.config.lost.load(Ordering::Relaxed)
    }
}

impl<S, M, C> Layer<S> for AuditLayer<M, C>
where
    M: Clone,
    C: ClassifyOutcome + Clone,
{
    type Service = AuditService<S, M, C>;

    fn layer(&self, inner: S) -> Self::Service {
        let config = ServiceConfig::new(&self.config, self.classify.clone());
        AuditService::from_parts(inner, Arc::new(config), self.make_actor.clone())
    }
}
