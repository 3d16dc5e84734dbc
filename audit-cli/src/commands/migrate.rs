use std::io::Write;

use super::{Context, Status};
use crate::cli::MigrateArgs;
use crate::error::CliError;
use crate::store::StoreSpec;

/// `audit migrate`: creates or upgrades the audit schema of a Postgres store
/// and says which migrations it applied. A directory store has no schema:
/// that is a usage error (exit code 2).
pub async fn migrate(
    args: &MigrateArgs,
    out: &mut dyn Write,
    ctx: &Context,
) -> Result<Status, CliError> {
    match &args.store.store {
        StoreSpec::Dir(path) => Err(CliError::Usage(format!(
            "{} is a directory: migrations are only for Postgres stores (pass a postgres:// \
             URL); the file sink's directories need none",
            path.display()
        ))),
        StoreSpec::Postgres(url) => migrate_postgres(url, out, ctx).await,
    }
}

#[cfg(feature = "postgres")]
async fn migrate_postgres(
    url: &str,
    out: &mut dyn Write,
    _ctx: &Context,
) -> Result<Status, CliError> {
    use std::fmt::Write as _;
    let store = crate::store::redact_url_password(url);
    let report = audit_sinks::postgres::migrate_url(url)
        .await
        .map_err(|e| crate::store::postgres_error(url, e))?;
    let mut text = String::new();
    if report.applied.is_empty() {
        let _ = writeln!(
            text,
            "the audit schema in {store} is up to date (version {}); nothing was applied",
            report.version
        );
    } else {
        let n = report.applied.len();
        let _ = writeln!(
            text,
            "applied {n} {} to {store}; the audit schema is now at version {}",
            if n == 1 { "migration" } else { "migrations" },
            report.version
        );
        for v in &report.applied {
            let _ = writeln!(text, "  migration {v}");
        }
    }
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::stdout)?;
    Ok(Status::Success)
}

#[cfg(not(feature = "postgres"))]
async fn migrate_postgres(
    url: &str,
    _out: &mut dyn Write,
    _ctx: &Context,
) -> Result<Status, CliError> {
    let _ = url;
    Err(CliError::Unsupported(
        "the Postgres store is not built into this binary; rebuild audit-cli with the \
         `postgres` feature (on by default)"
            .to_owned(),
    ))
}
