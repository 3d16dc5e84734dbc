//! End-to-end tests that cross crates: real servers on loopback, real
//! Postgres, a real OTLP receiver. The tests live in `tests/tests/`.
