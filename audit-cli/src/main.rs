//! The `audit` command: query, export, verify, tail, stats, purge and keygen
//! over any audit store (a file directory or a Postgres URL).

fn main() {
    eprintln!("audit: no subcommands are built in yet; see the README for what is coming");
    std::process::exit(2);
}
