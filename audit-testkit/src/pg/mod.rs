//! A fresh PostgreSQL database per test, as sqlx's `#[sqlx::test]` gives
//! one: never a shared database, never a mock.
//!
//! The server is PostgreSQL on 127.0.0.1:5432 (user `postgres`, trust auth),
//! or the one whose maintenance database `AUDIT_TEST_PG_URL` names. A test
//! that needs it and cannot reach it fails, saying so and what to do; it
//! never skips.
//!
//! ```no_run
//! # async fn test() {
//! use audit_testkit::pg::FreshDb;
//!
//! let db = FreshDb::new().await; // `audit_test_<uuid>`, empty
//! let pool = db.pool().await;
//! sqlx::raw_sql("CREATE TABLE t (n int)").execute(&pool).await.unwrap();
//! // ... the database is dropped with `db`, also when the test fails.
//! # }
//! ```

mod fresh_db;
mod url;

pub use fresh_db::FreshDb;
pub use url::{server_address, with_database, with_user};

/// The environment variable naming the maintenance database of the server
/// to use instead of [`DEFAULT_ADMIN_URL`].
pub const ADMIN_URL_VAR: &str = "AUDIT_TEST_PG_URL";

/// The maintenance database of the local server: 127.0.0.1:5432, user
/// `postgres`, trust auth.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The maintenance database's URL: [`ADMIN_URL_VAR`] when set and not
/// empty, else [`DEFAULT_ADMIN_URL`].
pub fn admin_url() -> String {
    std::env::var(ADMIN_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_owned())
}

/// Why a fresh database could not be created or dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server did not accept a connection.
    #[error("cannot connect to PostgreSQL at {at}: {source}")]
    Unreachable {
        /// The server's `host:port`.
        at: String,
        /// What the connection attempt said.
        source: sqlx::Error,
    },
    /// The server refused a statement (`CREATE DATABASE`, `DROP DATABASE`).
    #[error("cannot {what} the test database {name}: {source}")]
    Statement {
        /// `create` or `drop`.
        what: &'static str,
        /// The database's name.
        name: String,
        /// What the server said.
        source: sqlx::Error,
    },
}

impl Error {
    /// The message a test fails with: the error, and for an unreachable
    /// server what to do about it.
    pub fn advice(&self) -> String {
        match self {
            Self::Unreachable { at, source } => format!(
                "PostgreSQL is not reachable at {at} (start PostgreSQL on 127.0.0.1:5432 with \
                 user `postgres` and trust auth, or set {ADMIN_URL_VAR} to the URL of the \
                 maintenance database of a server where this user may create databases, e.g. \
                 {DEFAULT_ADMIN_URL}): {source}"
            ),
            Self::Statement { .. } => self.to_string(),
        }
    }
}
