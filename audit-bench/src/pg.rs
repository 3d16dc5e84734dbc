//! A fresh Postgres database per run, with the audit schema migrated.
//!
//! Without the `postgres` feature the same API exists and says "postgres
//! sink not built", so scenarios report themselves as skipped.

#[cfg(feature = "postgres")]
pub(crate) use real::*;
#[cfg(not(feature = "postgres"))]
pub(crate) use stub::*;

/// Why Postgres scenarios are skipped in a build without the sink.
#[cfg(not(feature = "postgres"))]
pub(crate) const NOT_BUILT: &str = "postgres sink not built";

#[cfg(feature = "postgres")]
mod real {
    use std::sync::Arc;

    use sqlx::Connection as _;
    use sqlx::postgres::PgConnection;

    use crate::harness::{Bench, BenchResult};

    /// A database created for this run and dropped by [`FreshDb::drop_now`].
    #[derive(Debug)]
    pub(crate) struct FreshDb {
        server_url: String,
        name: String,
        /// The URL of the fresh database.
        pub(crate) url: String,
    }

    impl FreshDb {
        /// Creates `audit_bench_<pid>_<n>` on the server and migrates it.
        pub(crate) fn create(bench: &Bench, tag: &str) -> BenchResult<Self> {
            let server_url = bench.settings.postgres_url.trim_end_matches('/').to_owned();
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let name = format!("audit_bench_{tag}_{}_{nanos}", std::process::id());
            let url = format!("{server_url}/{name}");
            let admin = format!("{server_url}/postgres");
            let (create_name, migrate_url) = (name.clone(), url.clone());
            bench.block_on_load(async move {
                let mut conn = PgConnection::connect(&admin).await?;
                sqlx::raw_sql(&format!("CREATE DATABASE \"{create_name}\""))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                audit_sinks::postgres::migrate_url(&migrate_url).await?;
                Ok::<_, crate::harness::BenchError>(())
            })?;
            Ok(Self { server_url, name, url })
        }

        /// Drops the database (closing any connection left to it).
        pub(crate) fn drop_now(self, bench: &Bench) -> BenchResult<()> {
            let admin = format!("{}/postgres", self.server_url);
            let name = self.name;
            bench.block_on_load(async move {
                let mut conn = PgConnection::connect(&admin).await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                Ok::<_, crate::harness::BenchError>(())
            })
        }
    }

    /// The Postgres sink over `url`.
    pub(crate) async fn sink(url: &str) -> BenchResult<Arc<dyn audit_core::Sink>> {
        Ok(Arc::new(audit_sinks::postgres::PostgresSink::connect(url).await?))
    }
}

#[cfg(not(feature = "postgres"))]
mod stub {
    use std::sync::Arc;

    use crate::harness::{Bench, BenchResult, error};

    /// Never created: the sink is not built.
    #[derive(Debug)]
    pub(crate) struct FreshDb {
        pub(crate) url: String,
    }

    impl FreshDb {
        pub(crate) fn create(_bench: &Bench, _tag: &str) -> BenchResult<Self> {
            Err(error(super::NOT_BUILT))
        }

        pub(crate) fn drop_now(self, _bench: &Bench) -> BenchResult<()> {
            Ok(())
        }
    }

    pub(crate) async fn sink(_url: &str) -> BenchResult<Arc<dyn audit_core::Sink>> {
        Err(error(super::NOT_BUILT))
    }
}
