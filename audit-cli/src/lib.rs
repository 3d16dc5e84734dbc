//! The `audit` command as a library: the command line ([`cli`]), opening a
//! store ([`store`]), output formats ([`output`]), the subcommands
//! ([`commands`]) and the key files for checkpoint signing ([`keys`]).
//!
//! The `audit` binary is [`main`]. Programs that sign checkpoints can read
//! the key files `audit keygen` writes:
//!
//! ```no_run
//! use audit_core::Auditor;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let sink = audit_core::testing::MemorySink::new();
//! let key = audit_cli::keys::read_signing_key("keys/signing.key")?;
//! let auditor = Auditor::builder().service("billing", "1.4.2").signing_key(key).sink(sink).build()?;
//! # Ok(()) }
//! ```
//!
//! Exit codes: 0 success; 1 `verify` found a problem, or the store or the
//! output failed; 2 bad arguments, no store at the given path, a database
//! that cannot be reached or has no audit schema, a store kind not built in,
//! or a malformed filter or key file.
//!
//! The `postgres` feature (on by default) adds `--store postgres://...` and
//! `audit migrate`.

pub mod cli;
pub mod commands;
pub mod error;
pub mod keys;
pub mod output;
pub mod store;

mod progress;

use std::error::Error as _;
use std::ffi::OsString;
use std::io::{BufWriter, Write as _};
use std::process::ExitCode;

use clap::Parser as _;

pub use cli::Cli;
pub use commands::{Context, Status};
pub use error::CliError;
pub use store::{StoreSpec, open_store};

/// Runs a parsed command line to its end.
pub fn run(cli: Cli) -> Result<Status, CliError> {
    let ctx = Context::new(cli.quiet);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    use cli::Command;
    let store_args = match &cli.command {
        Command::Keygen(args) => return commands::keygen(args, &mut out, &ctx),
        Command::Migrate(a) => &a.store,
        Command::Query(a) => &a.store,
        Command::Export(a) => &a.store,
        Command::Verify(a) => &a.store,
        Command::Tail(a) => &a.store,
        Command::Stats(a) => &a.store,
        Command::Purge(a) => &a.store,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("could not start the async runtime", e))?;
    runtime.block_on(async {
        if let Command::Migrate(args) = &cli.command {
            return commands::migrate(args, &mut out, &ctx).await;
        }
        if let (Command::Purge(args), StoreSpec::Dir(dir)) = (&cli.command, &store_args.store) {
            // Opened as a file store, to name the files removed.
            let store = store::open_file_store(dir)?;
            return commands::purge_files(&store, args, &mut out, &ctx).await;
        }
        #[cfg(feature = "postgres")]
        if let (Command::Purge(args), StoreSpec::Postgres(url)) = (&cli.command, &store_args.store)
        {
            // Opened as a Postgres store, to name the partitions dropped.
            let store = store::open_postgres_store(url).await?;
            return commands::purge_partitions(&store, url, args, &mut out, &ctx).await;
        }
        let store = open_store(&store_args.store).await?;
        let store = store.as_ref();
        match &cli.command {
            Command::Query(args) => commands::query(store, args, &mut out, &ctx).await,
            Command::Export(args) => commands::export(store, args, &mut out, &ctx).await,
            Command::Verify(args) => commands::verify(store, args, &mut out, &ctx).await,
            Command::Tail(args) => commands::tail(store, args, &mut out, &ctx).await,
            Command::Stats(args) => commands::stats(store, args, &mut out, &ctx).await,
            Command::Purge(args) => commands::purge(store, args, &mut out, &ctx).await,
            Command::Keygen(args) => commands::keygen(args, &mut out, &ctx),
            Command::Migrate(args) => commands::migrate(args, &mut out, &ctx).await,
        }
    })
}

/// The `audit` binary: parses `args` (the program name first), runs the
/// command, prints any error on standard error, and gives the exit code.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // Help and version go to stdout with 0; mistakes to stderr with 2.
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match run(cli) {
        Ok(status) => ExitCode::from(status.exit_code()),
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// The `audit` binary, with the process's arguments.
pub fn main() -> ExitCode {
    main_with_args(std::env::args_os())
}

/// Prints an error and the causes its message does not already include.
fn report(e: &CliError) {
    let mut text = format!("error: {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str("\n  caused by: ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    let _ = writeln!(std::io::stderr(), "{text}");
}
