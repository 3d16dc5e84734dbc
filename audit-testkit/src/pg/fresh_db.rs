//! [`FreshDb`]: a database created for one test and dropped after it.

use std::io;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use uuid::Uuid;

use super::{Error, admin_url, server_address, with_database, with_user};

/// A fresh, empty database `<prefix>_<uuid>`, dropped (with every role made
/// by [`role`](Self::role)) when the value is, also when the test fails.
///
/// The drop runs on a thread with its own runtime, so it works inside a
/// runtime and while panicking; a drop that fails prints a warning naming
/// the database and does not fail the test. [`drop_now`](Self::drop_now)
/// drops it at once and returns the error instead.
#[derive(Debug)]
#[must_use = "the database is dropped with this value"]
pub struct FreshDb {
    name: String,
    url: String,
    admin_url: String,
    roles: Vec<String>,
    /// Whether `Drop` still has to drop the database.
    armed: bool,
}

impl FreshDb {
    /// Creates `audit_test_<uuid>` on the server of [`admin_url`]
    /// (127.0.0.1:5432 or `AUDIT_TEST_PG_URL`).
    ///
    /// # Panics
    ///
    /// When the server is not reachable or refuses, with what to do about it.
    pub async fn new() -> Self {
        Self::on(&admin_url()).await
    }

    /// Creates `audit_test_<uuid>` on the server whose maintenance database
    /// is at `admin_url` (for a test that runs its own server).
    ///
    /// # Panics
    ///
    /// When the server is not reachable or refuses, with what to do about it.
    pub async fn on(admin_url: &str) -> Self {
        Self::create(admin_url, "audit_test").await.unwrap_or_else(|e| panic!("{}", e.advice()))
    }

    /// Creates `<prefix>_<uuid>` on the server whose maintenance database is
    /// at `admin_url`; `prefix` is a lower-case SQL identifier (it names
    /// what left a database behind when its drop failed).
    ///
    /// # Errors
    ///
    /// [`Error::Unreachable`] when the server does not accept a connection,
    /// [`Error::Statement`] when it refuses `CREATE DATABASE`.
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self, Error> {
        let name = format!("{prefix}_{}", Uuid::now_v7().simple());
        let mut admin = admin_connection(admin_url).await?;
        let created = sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await;
        let _ = admin.close().await;
        created.map_err(|source| Error::Statement {
            what: "create",
            name: name.clone(),
            source,
        })?;
        Ok(Self {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
            roles: Vec::new(),
            armed: true,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's URL (the maintenance database's user and query).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool of up to four connections to the database, as the
    /// maintenance database's user.
    ///
    /// # Panics
    ///
    /// When the database cannot be connected to.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test database {}: {e}", self.name))
    }

    /// Creates a login role `<database>_<suffix>` (roles are cluster-wide:
    /// named after the database and dropped with it) and returns its name
    /// and a URL of the database that connects as it.
    ///
    /// # Panics
    ///
    /// When the server refuses.
    pub async fn role(&mut self, suffix: &str) -> (String, String) {
        let role = format!("{}_{suffix}", self.name);
        let mut admin =
            admin_connection(&self.admin_url).await.unwrap_or_else(|e| panic!("{}", e.advice()));
        let created = sqlx::raw_sql(&format!("CREATE ROLE {role} LOGIN")).execute(&mut admin).await;
        let _ = admin.close().await;
        created.unwrap_or_else(|e| panic!("cannot create the role {role}: {e}"));
        self.roles.push(role.clone());
        let url = with_user(&self.url, &role);
        (role, url)
    }

    /// Drops the database and its roles now (closing any connection left
    /// to it), instead of when the value is dropped.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or refuses.
    pub async fn drop_now(mut self) -> Result<(), Error> {
        self.armed = false;
        drop_database(&self.admin_url, &self.name, &self.roles).await
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let roles = std::mem::take(&mut self.roles);
        // Drop may run inside a runtime (or while panicking): a thread with
        // its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            rt.map_err(|e| e.to_string())?
                .block_on(drop_database(&admin_url, &name, &roles))
                .map_err(|e| e.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop the test database {}: {e}", self.name),
            Err(_) => eprintln!("warning: could not drop the test database {}", self.name),
        }
    }
}

/// How long connecting to the maintenance database may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to the maintenance database at `url`.
async fn admin_connection(url: &str) -> Result<PgConnection, Error> {
    let unreachable = |source| Error::Unreachable { at: server_address(url), source };
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(connected) => connected.map_err(unreachable),
        Err(_) => Err(unreachable(sqlx::Error::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {CONNECT_TIMEOUT:?}"),
        )))),
    }
}

/// `DROP DATABASE .. WITH (FORCE)`, then `DROP ROLE` of each role.
async fn drop_database(admin_url: &str, name: &str, roles: &[String]) -> Result<(), Error> {
    let mut admin = admin_connection(admin_url).await?;
    let statement = |source| Error::Statement { what: "drop", name: name.to_owned(), source };
    let mut result = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
    for role in roles {
        if result.is_err() {
            break;
        }
        result = sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {role}")).execute(&mut admin).await;
    }
    let _ = admin.close().await;
    result.map(|_| ()).map_err(statement)
}
