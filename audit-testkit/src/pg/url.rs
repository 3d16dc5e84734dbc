//! Connection URLs: another database or user on the same server.

use std::str::FromStr as _;

use sqlx::postgres::PgConnectOptions;

/// `url` with its database replaced by `database` (query parameters kept).
///
/// ```
/// use audit_testkit::pg::with_database;
///
/// let url = with_database("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "t");
/// assert_eq!(url, "postgres://postgres@127.0.0.1:5432/t?sslmode=disable");
/// assert_eq!(with_database("postgres://127.0.0.1:5432", "t"), "postgres://127.0.0.1:5432/t");
/// ```
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[host_start..].find('/').map_or(base.len(), |i| host_start + i);
    format!("{}/{database}{query}", &base[..host_end])
}

/// `url` connecting as `user`, without a password (the test server trusts
/// local users); the host, database and query are kept.
///
/// ```
/// use audit_testkit::pg::with_user;
///
/// let url = with_user("postgres://postgres:pw@127.0.0.1:5432/db", "reader");
/// assert_eq!(url, "postgres://reader@127.0.0.1:5432/db");
/// ```
pub fn with_user(url: &str, user: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{}{user}@{host}", &url[..start])
}

/// The `host:port` of the server `url` names (for messages), or "the
/// configured URL" when it does not parse.
///
/// ```
/// use audit_testkit::pg::server_address;
///
/// assert_eq!(server_address("postgres://postgres@127.0.0.1:5432/postgres"), "127.0.0.1:5432");
/// ```
pub fn server_address(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(o) => format!("{}:{}", o.get_host(), o.get_port()),
        Err(_) => "the configured URL".to_owned(),
    }
}
