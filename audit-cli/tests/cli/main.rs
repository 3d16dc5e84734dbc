//! End-to-end tests of the `audit` binary over real file stores written by
//! an `Auditor` through the file sink, and over real Postgres databases
//! written through the Postgres sink (`pg`, `migrate`, `postgres`; they need
//! the server at `AUDIT_TEST_PG_URL`, by default 127.0.0.1:5432). One module
//! per command.

mod fixture;
mod pg;

mod errors;
mod export;
mod hostile;
mod keygen;
mod migrate;
mod postgres;
mod purge;
mod query;
mod stats;
mod tail;
mod verify;
