//! Benchmark placeholder replaced by the pipeline work.
fn main() {}
