//! Which store `--store` names, and opening it.
//!
//! A store is a directory written by the file sink, or a `postgres://` URL.
//! [`open_store`] is the one place that knows every kind; a kind whose cargo
//! feature is off says so instead of failing obscurely.

use std::fmt;
use std::path::{Path, PathBuf};

use audit_core::AuditStore;

use crate::error::{CliError, no_store};

/// What `--store` names.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreSpec {
    /// A directory of JSON Lines files written by the file sink.
    Dir(PathBuf),
    /// A Postgres database, by connection URL.
    Postgres(String),
}

impl StoreSpec {
    /// Reads a `--store` value: `postgres://…` or `postgresql://…` is a
    /// database; any other `scheme://` is refused; everything else is a
    /// directory path.
    ///
    /// ```
    /// use audit_cli::store::StoreSpec;
    /// assert!(matches!(StoreSpec::parse("./audit"), Ok(StoreSpec::Dir(_))));
    /// assert!(matches!(StoreSpec::parse("postgres://db/audit"), Ok(StoreSpec::Postgres(_))));
    /// assert!(StoreSpec::parse("mysql://db/audit").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<Self, String> {
        if input.trim().is_empty() {
            return Err("the store is empty; pass a directory written by the file sink, \
                        or a postgres:// URL"
                .to_owned());
        }
        if let Some((scheme, _)) = input.split_once("://") {
            let lower = scheme.to_ascii_lowercase();
            if lower == "postgres" || lower == "postgresql" {
                return Ok(Self::Postgres(input.to_owned()));
            }
            if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') {
                return Err(format!(
                    "`{scheme}://` stores are not supported; pass a directory written by the \
                     file sink, or a postgres:// URL"
                ));
            }
        }
        Ok(Self::Dir(PathBuf::from(input)))
    }
}

impl fmt::Display for StoreSpec {
    /// The path, or the URL with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact_url_password(url)),
        }
    }
}

impl fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(path) => f.debug_tuple("Dir").field(path).finish(),
            Self::Postgres(_) => f.debug_tuple("Postgres").field(&self.to_string()).finish(),
        }
    }
}

/// `scheme://user:secret@host/db` → `scheme://user:***@host/db`.
pub(crate) fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Opens the store `spec` names, for reading (and purging).
///
/// Fails with exit code 2 when there is no store there (a directory that does
/// not exist or is not a directory) or when the store kind is not built into
/// this binary.
pub async fn open_store(spec: &StoreSpec) -> Result<Box<dyn AuditStore>, CliError> {
    match spec {
        StoreSpec::Dir(path) => open_dir(path),
        StoreSpec::Postgres(url) => open_postgres(url).await,
    }
}

fn open_dir(path: &Path) -> Result<Box<dyn AuditStore>, CliError> {
    Ok(Box::new(open_file_store(path)?))
}

/// Opens a directory written by the file sink, as its own type (for what
/// only a file store can do, such as naming the files a purge removes).
///
/// Fails with exit code 2 when `path` does not exist or is not a directory.
pub fn open_file_store(path: &Path) -> Result<audit_sinks::file::FileStore, CliError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(no_store(
                path,
                "it is a file, not a directory; pass the directory the file sink writes to",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(no_store(
                path,
                "the directory does not exist; pass the directory the file sink writes to \
                 (or a postgres:// URL)",
            ));
        }
        Err(e) => {
            return Err(no_store(path, format!("it cannot be read ({e}); check the permissions")));
        }
    }
    Ok(audit_sinks::file::FileStore::open(path)?)
}

async fn open_postgres(url: &str) -> Result<Box<dyn AuditStore>, CliError> {
    #[cfg(feature = "postgres")]
    {
        Ok(Box::new(open_postgres_store(url).await?))
    }
    #[cfg(not(feature = "postgres"))]
    {
        let _ = url;
        Err(CliError::Unsupported(
            "the Postgres store is not built into this binary; rebuild audit-cli with the \
             `postgres` feature (on by default), or pass a directory written by the file sink \
             as --store"
                .to_owned(),
        ))
    }
}

/// Opens a Postgres store as its own type (for what only it can do, such as
/// naming the partitions a purge drops).
///
/// Fails with exit code 2 when the URL is malformed, the server cannot be
/// reached or refuses the login, or the database has no audit schema (then
/// the message says to run `audit migrate`). The password never shows.
#[cfg(feature = "postgres")]
pub async fn open_postgres_store(
    url: &str,
) -> Result<audit_sinks::postgres::PostgresStore, CliError> {
    audit_sinks::postgres::PostgresStore::connect(url).await.map_err(|e| postgres_error(url, e))
}

/// Turns a Postgres setup error into a [`CliError`] that names the store
/// (password redacted) and says what to do.
///
/// Usage errors (exit code 2): a malformed URL, a server that cannot be
/// reached, a missing or outdated schema. Anything else failed while running
/// (exit code 1).
#[cfg(feature = "postgres")]
pub(crate) fn postgres_error(url: &str, e: audit_sinks::postgres::PostgresError) -> CliError {
    use audit_sinks::postgres::PostgresError as E;
    let store = redact_url_password(url);
    match e {
        E::InvalidUrl(reason) => CliError::Usage(format!(
            "invalid PostgreSQL URL {store}: {reason} (expected \
             postgres://user[:password]@host[:port]/database[?options])"
        )),
        E::Connect { source, .. } => CliError::Unreachable {
            store,
            reason: format!(
                "{source}; check that the server is running and reachable from here (host and \
                 port), that the user and password are right, and that the database exists"
            ),
        },
        E::SchemaOutdated { found: 0, .. } => CliError::NoStore {
            path: store.clone(),
            reason: format!(
                "the database has no audit schema; create it with `audit migrate --store \
                 {store}` (as a role that owns the schema), or check the database name"
            ),
        },
        E::SchemaOutdated { found, expected, .. } => CliError::NoStore {
            path: store.clone(),
            reason: format!(
                "the audit schema is at version {found}, but this audit needs version \
                 {expected}; upgrade it with `audit migrate --store {store}` (as a role that \
                 owns the schema)"
            ),
        },
        other => CliError::Store(audit_core::store::StoreError::Other(Box::new(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_specs() {
        assert_eq!(StoreSpec::parse("audit").unwrap(), StoreSpec::Dir("audit".into()));
        assert_eq!(StoreSpec::parse("C:/audit").unwrap(), StoreSpec::Dir("C:/audit".into()));
        assert!(matches!(StoreSpec::parse("PostgreSQL://x/y"), Ok(StoreSpec::Postgres(_))));
        assert!(StoreSpec::parse("").is_err());
        let err = StoreSpec::parse("s3://bucket/audit").unwrap_err();
        assert!(err.contains("s3://"), "{err}");
    }

    #[test]
    fn passwords_never_show() {
        let spec =
            StoreSpec::parse("postgres://audit:hunter2@db:5432/audit?sslmode=require").unwrap();
        assert_eq!(spec.to_string(), "postgres://audit:***@db:5432/audit?sslmode=require");
        assert!(!format!("{spec:?}").contains("hunter2"));
        assert_eq!(redact_url_password("postgres://db/audit"), "postgres://db/audit");
        assert_eq!(redact_url_password("postgres://me@db/audit"), "postgres://me@db/audit");
    }

    #[tokio::test]
    async fn missing_directories_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = StoreSpec::Dir(dir.path().join("nope"));
        let err = open_store(&missing).await.unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().starts_with("no audit store at "), "{err}");

        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let err = open_store(&StoreSpec::Dir(file)).await.unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[cfg(not(feature = "postgres"))]
    #[tokio::test]
    async fn postgres_without_the_feature_is_a_usage_error() {
        let err = open_store(&StoreSpec::Postgres("postgres://db/a".into())).await.unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("the Postgres store is not built into this binary"));
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn an_unreachable_postgres_is_a_usage_error_without_the_password() {
        let url = "postgres://audit:hunter2@127.0.0.1:1/audit";
        let err = open_store(&StoreSpec::Postgres(url.into())).await.unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with(
                "cannot connect to the audit store at postgres://audit:***@127.0.0.1:1/audit: "
            ),
            "{text}"
        );
        assert!(text.contains("check that the server is running"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");

        let err = open_store(&StoreSpec::Postgres("postgres://a:hunter2@db:notaport/x".into()))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
