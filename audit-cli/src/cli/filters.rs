//! What every command that reads a store shares: where the entries are
//! (`--store`), and which of them (the filters).

use audit_core::query::{EventPattern, Query, TimeBound};
use audit_core::{Action, Outcome};
use clap::{Args, ValueEnum};

use crate::store::StoreSpec;

/// Where the entries are.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct StoreArgs {
    /// The audit store: a directory written by the file sink, or a postgres:// URL.
    ///
    /// Example: `--store /var/log/myservice/audit`, `--store postgres://audit@db/audit`
    #[arg(long, short = 's', value_name = "DIR|URL", env = "AUDIT_STORE", value_parser = parse_store)]
    pub store: StoreSpec,
}

/// Which entries: every filter that is given must match.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Filters")]
#[non_exhaustive]
pub struct FilterArgs {
    /// Only entries of this tenant (workspace or organization id).
    ///
    /// Example: `--tenant acme`
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,

    /// Only entries of this actor: its id, name, email or display form, exactly.
    ///
    /// Example: `--actor alice@example.com`, `--actor api-key:ci-deploy`, `--actor u_123`
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,

    /// Only events matching this name or pattern (`*` matches anything);
    /// repeat for several.
    ///
    /// An entry matches if any pattern does. Example: `--event project.update`,
    /// `--event 'api_key.*' --event '*.delete'`
    #[arg(long = "event", value_name = "PATTERN", value_parser = parse_event)]
    pub events: Vec<EventPattern>,

    /// Only entries with a resource of this type, and id if given.
    ///
    /// Example: `--resource project`, `--resource project:p_42`
    #[arg(long, value_name = "TYPE[:ID]", value_parser = parse_resource)]
    pub resource: Option<ResourceFilter>,

    /// Only entries with this outcome.
    ///
    /// Example: `--outcome denied`
    #[arg(long, value_name = "OUTCOME")]
    pub outcome: Option<OutcomeArg>,

    /// Only entries with this action.
    ///
    /// Example: `--action delete`
    #[arg(long, value_name = "ACTION")]
    pub action: Option<ActionArg>,

    /// Only entries at or after this time: a span before now, an RFC 3339 time, or a date.
    ///
    /// Spans: `90s`, `30m`, `24h`, `7d`, `2w`. Dates mean midnight UTC.
    /// Example: `--since 7d`, `--since 2026-01-31T09:30:00Z`, `--since 2026-01-31`
    #[arg(long, value_name = "WHEN", value_parser = parse_time, allow_hyphen_values = true)]
    pub since: Option<TimeBound>,

    /// Only entries before this time (same forms as --since).
    ///
    /// Example: `--until 1d`, `--until 2026-02-01`
    #[arg(long, value_name = "WHEN", value_parser = parse_time, allow_hyphen_values = true)]
    pub until: Option<TimeBound>,

    /// Only entries containing this text (case-insensitive) in the
    /// description, event, reason, actor or a resource id or name.
    ///
    /// Example: `--text p_42`
    #[arg(long, value_name = "TEXT")]
    pub text: Option<String>,
}

impl FilterArgs {
    /// The query these filters describe (default order and limit).
    pub fn to_query(&self) -> Query {
        let mut query = Query::new().events(self.events.iter().cloned());
        query.tenant.clone_from(&self.tenant);
        query.actor.clone_from(&self.actor);
        if let Some(r) = &self.resource {
            query.resource_type = Some(r.kind.clone());
            query.resource_id.clone_from(&r.id);
        }
        query.outcome = self.outcome.map(Outcome::from);
        query.action = self.action.map(Action::from);
        query.since = self.since;
        query.until = self.until;
        query.text.clone_from(&self.text);
        query
    }
}

/// A `--resource TYPE[:ID]` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceFilter {
    /// The resource type, e.g. `project`.
    pub kind: String,
    /// The resource id, e.g. `p_42`.
    pub id: Option<String>,
}

/// `--outcome` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum OutcomeArg {
    /// It worked.
    Success,
    /// It was attempted and failed.
    Failure,
    /// It was refused.
    Denied,
    /// The caller went away before it finished.
    Cancelled,
}

impl From<OutcomeArg> for Outcome {
    fn from(arg: OutcomeArg) -> Self {
        match arg {
            OutcomeArg::Success => Self::Success,
            OutcomeArg::Failure => Self::Failure,
            OutcomeArg::Denied => Self::Denied,
            OutcomeArg::Cancelled => Self::Cancelled,
        }
    }
}

/// `--action` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum ActionArg {
    /// Something was created.
    Create,
    /// Something was read.
    Read,
    /// Something was changed.
    Update,
    /// Something was deleted.
    Delete,
    /// Anything else.
    Other,
}

impl From<ActionArg> for Action {
    fn from(arg: ActionArg) -> Self {
        match arg {
            ActionArg::Create => Self::Create,
            ActionArg::Read => Self::Read,
            ActionArg::Update => Self::Update,
            ActionArg::Delete => Self::Delete,
            ActionArg::Other => Self::Other,
        }
    }
}

fn parse_store(s: &str) -> Result<StoreSpec, String> {
    StoreSpec::parse(s)
}

pub(super) fn parse_time(s: &str) -> Result<TimeBound, String> {
    TimeBound::parse(s).map_err(|e| e.to_string())
}

fn parse_event(s: &str) -> Result<EventPattern, String> {
    EventPattern::parse(s).map_err(|e| e.to_string())
}

fn parse_resource(s: &str) -> Result<ResourceFilter, String> {
    Query::parse_resource(s)
        .map(|(kind, id)| ResourceFilter { kind, id })
        .map_err(|e| e.to_string())
}
