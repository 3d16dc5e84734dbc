//! The `audit` command: query, export, verify, tail, stats, purge and keygen
//! over any audit store (a file directory or a Postgres URL). Everything is
//! in the `audit_cli` library; see `audit --help`.

fn main() -> std::process::ExitCode {
    audit_cli::main()
}
