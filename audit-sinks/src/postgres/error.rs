//! [`PostgresError`], and how database errors become [`SinkError`]s.

use std::borrow::Cow;

use audit_core::SinkError;

/// Why the Postgres sink or store could not be set up, migrated or
/// maintained. The connection password never appears in these messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The connection URL cannot be read.
    #[error(
        "invalid PostgreSQL connection URL: {0} (expected \
         postgres://user[:password]@host[:port]/database[?options])"
    )]
    InvalidUrl(String),
    /// A setting is out of range.
    #[error("invalid PostgreSQL sink configuration: {0}")]
    InvalidConfig(String),
    /// The database cannot be reached.
    #[error(
        "cannot connect to PostgreSQL at {target}: {source} (check that the server is running \
         and reachable, and the user, password and database name)"
    )]
    Connect {
        /// The database, without password.
        target: String,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// The audit schema is missing or older than this build needs.
    #[error(
        "the audit schema in {target} is at version {found}, but this build of audit-sinks needs \
         version {expected}: run `audit_sinks::postgres::migrate` (or `audit migrate --store \
         postgres://...`) with a role that owns the schema"
    )]
    SchemaOutdated {
        /// The database, without password.
        target: String,
        /// The version found (0: no audit schema).
        found: u32,
        /// The version this build needs.
        expected: u32,
    },
    /// An applied migration differs from the one embedded in this build.
    #[error(
        "migration {version} was changed after it was applied to {target} (its checksum \
         differs); applied migrations must never change: use the audit-sinks release that \
         applied it, or add a new migration"
    )]
    MigrationChanged {
        /// The database, without password.
        target: String,
        /// The migration version.
        version: u32,
    },
    /// A statement failed.
    #[error("{what} failed on {target}: {source}")]
    Database {
        /// What was being done.
        what: &'static str,
        /// The database, without password.
        target: String,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// There is no retention policy to apply.
    #[error(
        "no retention policy is configured: set `PostgresSinkBuilder::retention`, or call \
         `PostgresStore::purge_partitions` with a cut-off"
    )]
    NoRetentionPolicy,
}

impl PostgresError {
    pub(crate) fn database(what: &'static str, target: &str, source: sqlx::Error) -> Self {
        Self::Database { what, target: target.to_owned(), source }
    }
}

/// Whether an error may pass by itself, so that the same statement can be
/// tried again.
///
/// Transient: connection and pool failures (I/O, TLS, protocol, pool timeout
/// or closed), and database errors of SQLSTATE class 08 (connection), 40
/// (serialization failure, deadlock), 53 (insufficient resources: disk
/// full, out of memory, too many connections), 57 (operator intervention:
/// admin or crash shutdown, cannot connect now, query cancelled), 58
/// (system I/O error), and 25006 (read-only transaction: a failover to a
/// standby) and 55P03 (lock not available). Everything else is permanent:
/// class 23 (constraint), 22 (data), 42 (syntax, undefined object,
/// insufficient privilege), and errors encoding or decoding values.
pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| sqlstate_is_transient(&code)),
        _ => false,
    }
}

/// See [`is_transient`].
pub(crate) fn sqlstate_is_transient(code: &str) -> bool {
    matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58"))
        || matches!(code, "25006" | "55P03")
}

/// The SQLSTATE of a database error.
pub(crate) fn sqlstate(error: &sqlx::Error) -> Option<Cow<'_, str>> {
    match error {
        sqlx::Error::Database(db) => db.code(),
        _ => None,
    }
}

/// A failed write of `entries` entries, as the pipeline needs it: transient
/// (retried with backoff) or permanent (dead-lettered).
pub(crate) fn sink_error(target: &str, entries: usize, error: sqlx::Error) -> SinkError {
    let code = sqlstate(&error).map(|c| format!(" (SQLSTATE {c})")).unwrap_or_default();
    if is_transient(&error) {
        SinkError::transient(format!(
            "writing {entries} audit entries to PostgreSQL at {target} failed{code}: {error}; the \
             batch is retried"
        ))
        .with_source(error)
    } else {
        SinkError::permanent(format!(
            "PostgreSQL at {target} rejected a batch of {entries} audit entries{code}: {error}; \
             retrying cannot help (check the schema version, the role's grants, and the entries)"
        ))
        .with_source(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_classes() {
        for code in [
            "08006", "08P01", "40001", "40P01", "53100", "53300", "57P01", "57014", "58030",
            "25006", "55P03",
        ] {
            assert!(sqlstate_is_transient(code), "{code} is transient");
        }
        for code in
            ["23505", "23514", "22021", "22P02", "42501", "42P01", "42601", "XX000", "0A000", ""]
        {
            assert!(!sqlstate_is_transient(code), "{code} is permanent");
        }
    }

    #[test]
    fn connection_failures_are_transient() {
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_transient(&sqlx::Error::PoolClosed));
        assert!(is_transient(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))));
        assert!(is_transient(&sqlx::Error::Protocol("unexpected EOF".into())));
        assert!(!is_transient(&sqlx::Error::ColumnNotFound("entry".into())));
        assert!(!is_transient(&sqlx::Error::Encode("bad value".into())));
    }
}
