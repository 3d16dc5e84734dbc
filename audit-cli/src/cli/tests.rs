use audit_core::Outcome;
use audit_core::query::TimeBound;
use clap::{CommandFactory, Parser as _};

use super::{Cli, Command};

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn filters_become_a_query() {
    let cli = Cli::try_parse_from([
        "audit",
        "query",
        "--store",
        "/tmp/x",
        "--tenant",
        "acme",
        "--event",
        "key.*",
        "--event",
        "project.update",
        "--resource",
        "project:p_42",
        "--outcome",
        "denied",
        "--since",
        "7d",
    ])
    .unwrap();
    let Command::Query(args) = cli.command else { panic!("not a query") };
    let q = args.filters.to_query();
    assert_eq!(q.tenant.as_deref(), Some("acme"));
    assert_eq!(q.events.len(), 2);
    assert_eq!(q.resource_type.as_deref(), Some("project"));
    assert_eq!(q.resource_id.as_deref(), Some("p_42"));
    assert_eq!(q.outcome, Some(Outcome::Denied));
    assert!(matches!(q.since, Some(TimeBound::Relative(_))));
}

#[test]
fn every_argument_has_an_example() {
    fn walk(cmd: &clap::Command, path: &str) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            let long = arg.get_long_help().map(ToString::to_string).unwrap_or_default();
            assert!(long.contains("Example"), "{path} --{id} has no example in its long help");
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()));
        }
    }
    walk(&Cli::command(), "audit");
}
