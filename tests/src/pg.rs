//! A fresh PostgreSQL database per test.
//!
//! The server is PostgreSQL on 127.0.0.1:5432 (user `postgres`, trust auth)
//! or the one `AUDIT_TEST_PG_URL` names; a test that needs it fails with a
//! message saying so when it is not reachable.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgPool, PgPoolOptions};

/// The maintenance database's URL: `AUDIT_TEST_PG_URL`, or the local server.
pub fn admin_url() -> String {
    std::env::var("AUDIT_TEST_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A one-connection pool on the maintenance database of `url`'s server.
///
/// # Panics
///
/// When the server is not reachable, with what to do about it.
pub async fn admin(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {url} (start it, or set AUDIT_TEST_PG_URL to a \
                 server where this user may create databases): {e}"
            )
        })
}

/// A fresh database, dropped when the value is (also when the test fails).
#[derive(Debug)]
pub struct FreshDb {
    name: String,
    admin_url: String,
    /// The database's URL.
    pub url: String,
}

impl FreshDb {
    /// Creates a database on the server of [`admin_url`].
    pub async fn new() -> Self {
        Self::on(&admin_url()).await
    }

    /// Creates a database on the server whose maintenance database is at
    /// `admin_url` (for a test that runs its own server).
    pub async fn on(admin_url: &str) -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("audit_e2e_{}_{nanos}", std::process::id());
        let admin = admin(admin_url).await;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
        admin.close().await;
        let (server, query) = admin_url.split_once('?').map_or((admin_url, ""), |(b, q)| (b, q));
        let server = server.rsplit_once('/').map_or(server, |(s, _)| s);
        let query = if query.is_empty() { String::new() } else { format!("?{query}") };
        Self { url: format!("{server}/{name}{query}"), admin_url: admin_url.to_owned(), name }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let (name, url) = (self.name.clone(), self.admin_url.clone());
        // Drop may run inside a runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(&url)
                    .await?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::raw_sql(&sql).execute(&pool).await.map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop the test database {}", self.name);
        }
    }
}
