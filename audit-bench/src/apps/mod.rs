//! The services the scenarios load: an axum app, a tonic service, and the
//! HTTP peer's logging.

pub(crate) mod grpc;
pub(crate) mod http;
pub(crate) mod peer;
pub(crate) mod saas;
