//! A fresh Postgres database per run (`audit_testkit::pg::FreshDb`) on the
//! server of `--postgres-url`, with the audit schema migrated.
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

    pub(crate) use audit_testkit::pg::FreshDb;
    use audit_testkit::pg::with_database;

    use crate::harness::{Bench, BenchResult};

    /// Creates `audit_bench_<tag>_<uuid>` on the server and migrates it.
    pub(crate) fn create(bench: &Bench, tag: &str) -> BenchResult<FreshDb> {
        let admin = with_database(&bench.settings.postgres_url, "postgres");
        let prefix = format!("audit_bench_{tag}");
        bench.block_on_load(async move {
            let db = FreshDb::create(&admin, &prefix).await?;
            audit_sinks::postgres::migrate_url(db.url()).await?;
            Ok(db)
        })
    }

    /// Drops the database now (closing any connection left to it).
    pub(crate) fn drop_now(bench: &Bench, db: FreshDb) -> BenchResult<()> {
        Ok(bench.block_on_load(db.drop_now())?)
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
    pub(crate) enum FreshDb {}

    impl FreshDb {
        pub(crate) fn url(&self) -> &str {
            match *self {}
        }
    }

    pub(crate) fn create(_bench: &Bench, _tag: &str) -> BenchResult<FreshDb> {
        Err(error(super::NOT_BUILT))
    }

    pub(crate) fn drop_now(_bench: &Bench, db: FreshDb) -> BenchResult<()> {
        match db {}
    }

    pub(crate) async fn sink(_url: &str) -> BenchResult<Arc<dyn audit_core::Sink>> {
        Err(error(super::NOT_BUILT))
    }
}
