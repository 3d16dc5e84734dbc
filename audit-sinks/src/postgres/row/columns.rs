//! The columns of `audit_events` that the sink writes, and their types.

/// How a column is typed, in the table and on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ColumnType {
    Uuid,
    Time,
    Text,
    Jsonb,
    Json,
    Inet,
    Int4,
    Int8,
}

/// The columns the sink writes and their types, in the order
/// [`visit`](super::values::visit) produces them (and the order of the `COPY`
/// column list and of the `UNNEST` parameters). `ingest_seq` and
/// `actor_keys` are filled by the database.
pub(super) const COLUMN_TYPES: [(&str, ColumnType); 34] = [
    ("id", ColumnType::Uuid),
    ("time", ColumnType::Time),
    ("event", ColumnType::Text),
    ("action", ColumnType::Text),
    ("outcome", ColumnType::Text),
    ("reason", ColumnType::Text),
    ("actor", ColumnType::Text),
    ("actor_kind", ColumnType::Text),
    ("actor_id", ColumnType::Text),
    ("actor_name", ColumnType::Text),
    ("actor_email", ColumnType::Text),
    ("tenant", ColumnType::Text),
    ("resource_type", ColumnType::Text),
    ("resource_id", ColumnType::Text),
    ("resources", ColumnType::Jsonb),
    ("description", ColumnType::Text),
    ("ip", ColumnType::Inet),
    ("user_agent", ColumnType::Text),
    ("request_id", ColumnType::Text),
    ("method", ColumnType::Text),
    ("route", ColumnType::Text),
    ("status", ColumnType::Int4),
    ("grpc_status", ColumnType::Int4),
    ("service_name", ColumnType::Text),
    ("service_instance", ColumnType::Text),
    ("chain_id", ColumnType::Uuid),
    ("chain_seq", ColumnType::Int8),
    ("chain_prev", ColumnType::Text),
    ("chain_hash", ColumnType::Text),
    ("request", ColumnType::Jsonb),
    ("response", ColumnType::Jsonb),
    ("changes", ColumnType::Jsonb),
    ("metadata", ColumnType::Jsonb),
    ("entry", ColumnType::Json),
];

/// The column names of [`COLUMN_TYPES`], in order.
const NAMES: [&str; COLUMN_TYPES.len()] = {
    let mut names = [""; COLUMN_TYPES.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = COLUMN_TYPES[i].0;
        i += 1;
    }
    names
};

/// The columns of `audit_events` that the sink writes, in the order of its
/// `COPY` column list and of the values of each row: every column of the
/// [schema](super::super#schema) except `ingest_seq` and `actor_keys`, which
/// the database fills. For programs that load rows themselves (an import, a
/// baseline to compare the sink with) and want the same columns.
///
/// ```
/// assert_eq!(audit_sinks::postgres::COLUMNS[..2], ["id", "time"]);
/// assert_eq!(audit_sinks::postgres::COLUMNS.last(), Some(&"entry"));
/// ```
pub const COLUMNS: &[&str] = &NAMES;

/// The column list of the statements: `id, time, ..., entry`.
pub(super) fn column_list() -> String {
    COLUMNS.join(", ")
}
