//! End-to-end tests of the `audit` binary over real file stores written by
//! an `Auditor` through the file sink. One module per command.

mod fixture;

mod errors;
mod export;
mod hostile;
mod keygen;
mod purge;
mod query;
mod stats;
mod tail;
mod verify;
