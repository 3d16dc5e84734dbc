//! Naming a database in logs and errors without its password.

use sqlx::postgres::PgConnectOptions;

/// `postgres://user@host:port/database`: where a pool connects, without the
/// password (which is never printed, in `Debug` or in errors).
pub(crate) fn describe(options: &PgConnectOptions) -> String {
    let user = options.get_username();
    let database = options.get_database().unwrap_or(user);
    match options.get_socket() {
        Some(dir) => format!("postgres://{user}@{}/{database}", dir.display()),
        None => {
            let host = options.get_host();
            let host = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host.to_owned()
            };
            format!("postgres://{user}@{host}:{}/{database}", options.get_port())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use super::*;

    #[test]
    fn the_password_is_left_out() {
        let options =
            PgConnectOptions::from_str("postgres://app:s3cret@db.internal:6543/audit").unwrap();
        let text = describe(&options);
        assert_eq!(text, "postgres://app@db.internal:6543/audit");
        assert!(!text.contains("s3cret"));
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let options = PgConnectOptions::from_str("postgres://app@[::1]/audit").unwrap();
        assert_eq!(describe(&options), "postgres://app@[::1]:5432/audit");
    }
}
