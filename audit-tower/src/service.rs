//! [`AuditService`]: maps each request to its entry (`make_entry`), calls
//! the inner service with the request's scope current, and returns the
//! [`ResponseFuture`] that finishes the entry.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context, Poll};

use audit_core::AuditScope;
use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::capture::RequestBody;
use crate::classify::{ClassifyOutcome, DefaultClassifier};
use crate::config::ServiceConfig;
use crate::entry::InFlightEntry;
use crate::future::{ResponseFuture, panic_message};
use crate::make_actor::{DefaultMakeActor, MakeActor};
use crate::make_entry::{MadeEntry, make_entry};

/// The service [`AuditLayer`](crate::AuditLayer) makes: audits each request
/// and calls the inner service `S`.
///
/// `M` finds the actor of each request ([`MakeActor`]) and `C` classifies
/// its outcome ([`ClassifyOutcome`](crate::ClassifyOutcome)), as the layer's
/// [`make_actor`](crate::AuditLayer::make_actor) and
/// [`classify`](crate::AuditLayer::classify) set them.
pub struct AuditService<S, M = DefaultMakeActor, C = DefaultClassifier> {
    inner: S,
    config: Arc<ServiceConfig<C>>,
    make_actor: M,
}

impl<S: Clone, M: Clone, C> Clone for AuditService<S, M, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: self.config.clone(),
            make_actor: self.make_actor.clone(),
        }
    }
}

impl<S: fmt::Debug, M, C> fmt::Debug for AuditService<S, M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditService")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("make_actor", &std::any::type_name::<M>())
            .finish()
    }
}

impl<S, M, C> AuditService<S, M, C> {
    pub(crate) fn from_parts(inner: S, config: Arc<ServiceConfig<C>>, make_actor: M) -> Self {
        Self { inner, config, make_actor }
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
        self.config.recorder.lost_entries()
    }
}

impl<S, M, C, B, ResBody> Service<Request<B>> for AuditService<S, M, C>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Error: fmt::Display,
    M: MakeActor<B>,
    C: ClassifyOutcome,
    B: Body + Send + 'static,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResBody, C>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let MadeEntry { request, start, request_id } =
            make_entry(&self.config, &mut self.make_actor, request);
        let scope = start.scope.clone();
        let entry = InFlightEntry::new(self.config.clone(), start);

        if entry.is_strict() {
            let received = entry.record_received();
            // The inner service that was polled ready goes into the future.
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            let call_scope = scope.clone();
            let call = Box::new(move || call_inner(&mut inner, call_scope, request));
            ResponseFuture::received(received, call, entry, scope, request_id)
        } else {
            match call_inner(&mut self.inner, scope.clone(), request) {
                Ok(future) => ResponseFuture::inner(future, entry, scope, request_id),
                Err(panic) => ResponseFuture::panicked(panic, entry, scope, request_id),
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
