//! Generates the SaaS API's gRPC code (`saas.v1`, from
//! `src/saas/proto/saas.proto`) with `protox`, a protobuf compiler in Rust,
//! and `tonic-prost-build`: building needs no `protoc`.

fn main() {
    let proto = "src/saas/proto/saas.proto";
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["src/saas/proto"]).expect("saas.proto compiles");
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(fds)
        .expect("code generation for saas.proto");
}
