//! Generates the gRPC code of the test protos (feature `proto`) with
//! `protox`, a protobuf compiler in Rust, and `tonic-prost-build`: building
//! needs no `protoc`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "proto")]
    proto();
}

/// Compiles `proto/*.proto` into `$OUT_DIR/<package>.rs`, clients and
/// servers without tonic's transport (`connect`): the tests build their
/// channels themselves.
#[cfg(feature = "proto")]
fn proto() {
    let files = ["proto/members.proto", "proto/projects.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let fds = protox::compile(files, ["proto"]).expect("the test protos compile");
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(fds)
        .expect("code generation for the test protos");
}
