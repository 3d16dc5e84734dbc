//! The gRPC code of the SaaS example is generated from
//! `src/saas/proto/saas.proto` with `protox` (a pure-Rust protobuf compiler)
//! and `tonic-prost-build`, and checked in: building needs no `protoc`.
//!
//! This test fails when the checked-in code is stale; run it with
//! `EXAMPLES_REGENERATE=1` to rewrite it.

use std::path::Path;

#[test]
fn generated_grpc_code_is_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/saas/proto");
    let fds = protox::compile([dir.join("saas.proto")], [&dir]).expect("the proto compiles");
    let out = tempfile::tempdir().expect("temp dir");
    tonic_prost_build::configure()
        .build_transport(false)
        .out_dir(out.path())
        .compile_fds(fds)
        .expect("code generation");
    let generated = std::fs::read_to_string(out.path().join("saas.v1.rs")).expect("generated file");
    let checked_in = dir.join("saas.v1.rs");
    if std::env::var_os("EXAMPLES_REGENERATE").is_some() {
        std::fs::write(&checked_in, &generated).expect("write the generated code");
        return;
    }
    let current = std::fs::read_to_string(&checked_in).unwrap_or_default();
    assert!(
        current == generated,
        "{} is stale: run `EXAMPLES_REGENERATE=1 cargo test -p examples --test grpc_codegen`",
        checked_in.display()
    );
}
