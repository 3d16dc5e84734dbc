//! Sinks (where entries are written) and stores (where they are read back)
//! for `audit-core`, one cargo feature each:
//!
//! | feature | sink | store |
//! |---|---|---|
//! | `file` | JSON Lines with rotation, retention and group-commit fsync | yes |
//! | `postgres` | sqlx, batched, partitioned, append-only | yes |
//! | `otlp` | OpenTelemetry log records over gRPC or HTTP | no |
//! | `webhook` | signed JSON batches for SIEMs | no |
//! | `stdout` | JSON Lines on standard output | no |
