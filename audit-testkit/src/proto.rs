//! The gRPC services of the tests, generated at build time (`build.rs`)
//! from `proto/*.proto` with `protox` and `tonic-prost-build`: messages,
//! a client and a server trait each, without tonic's transport (a test
//! builds its own `Channel`).
//!
//! ```
//! use audit_testkit::proto::projects::UpdateProjectRequest;
//!
//! let request = UpdateProjectRequest { id: "p_1".into(), name: "Apollo".into(), code: 0 };
//! assert_eq!(request.id, "p_1");
//! ```

/// `members.v1` (`proto/members.proto`): `Members/AddMember` and
/// `Members/RemoveMember`, for tonic methods marked `#[audited]`.
#[allow(missing_docs, missing_debug_implementations, clippy::all, clippy::pedantic)]
pub mod members {
    include!(concat!(env!("OUT_DIR"), "/members.v1.rs"));
}

/// `projects.v1` (`proto/projects.proto`): a unary update that fails with a
/// chosen status code, a read, and a server stream that ends with one; for
/// the gRPC capture tests, the `axum_tonic` example and the benchmarks.
#[allow(missing_docs, missing_debug_implementations, clippy::all, clippy::pedantic)]
pub mod projects {
    include!(concat!(env!("OUT_DIR"), "/projects.v1.rs"));
}
