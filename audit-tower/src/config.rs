//! The layer's settings: [`LayerConfig`], as the builder methods of
//! [`AuditLayer`](crate::AuditLayer) set them, and [`ServiceConfig`], what
//! every request of one [`AuditService`](crate::AuditService) reads.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use audit_core::Auditor;
use http::HeaderName;
use ipnet::IpNet;

use crate::client_ip::ForwardedHeader;
use crate::layer::PeerAddrFn;
use crate::policy::Policy;
use crate::record::Recorder;

/// Headers that carry credentials. They are captured only while the auditor's
/// redactor masks them, so a custom redactor without the defaults cannot leak
/// them.
const CREDENTIAL_HEADERS: [&str; 5] =
    ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"];

/// The settings of an [`AuditLayer`](crate::AuditLayer), as given.
#[derive(Clone)]
pub(crate) struct LayerConfig {
    pub(crate) auditor: Auditor,
    pub(crate) policy: Policy,
    pub(crate) trusted: Vec<IpNet>,
    pub(crate) forwarded: Vec<ForwardedHeader>,
    pub(crate) max_body: usize,
    pub(crate) headers: Vec<HeaderName>,
    pub(crate) peer_addr: Option<PeerAddrFn>,
    /// The lost-entry count, shared by every clone of the layer and every
    /// service it makes.
    pub(crate) lost: Arc<AtomicU64>,
}

/// What every request of one service reads: the layer's settings, resolved
/// against the auditor once, and the outcome classifier.
pub(crate) struct ServiceConfig<C> {
    pub(crate) recorder: Recorder,
    pub(crate) policy: Policy,
    pub(crate) trusted: Vec<IpNet>,
    pub(crate) forwarded: Vec<ForwardedHeader>,
    pub(crate) max_body: usize,
    /// The allow-list, less credential headers the redactor would not mask.
    pub(crate) headers: Vec<HeaderName>,
    pub(crate) peer_addr: Option<PeerAddrFn>,
    pub(crate) classify: C,
}

impl<C> fmt::Debug for ServiceConfig<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("policy", &self.policy)
            .field("trusted", &self.trusted)
            .field("max_body", &self.max_body)
            .field("classify", &std::any::type_name::<C>())
            .finish_non_exhaustive()
    }
}

impl<C> ServiceConfig<C> {
    pub(crate) fn new(config: &LayerConfig, classify: C) -> Self {
        let redactor = config.auditor.redactor();
        let headers = config
            .headers
            .iter()
            .filter(|h| {
                !CREDENTIAL_HEADERS.contains(&h.as_str())
                    || redactor.is_sensitive_header(h.as_str())
            })
            .cloned()
            .collect();
        Self {
            recorder: Recorder::new(config.auditor.clone(), config.lost.clone()),
            policy: config.policy.clone(),
            trusted: config.trusted.clone(),
            forwarded: config.forwarded.clone(),
            max_body: config.max_body,
            headers,
            peer_addr: config.peer_addr,
            classify,
        }
    }
}
