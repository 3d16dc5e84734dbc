//! `pg::FreshDb` against the real server: each database is new, reachable,
//! and gone afterwards with its roles; an unreachable server says what to do.

use audit_testkit::pg::{Error, FreshDb, admin_url};
use sqlx::postgres::PgPool;

async fn exists(admin: &PgPool, catalog: &str, column: &str, name: &str) -> bool {
    sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {catalog} WHERE {column} = $1)"))
        .bind(name)
        .fetch_one(admin)
        .await
        .expect("catalog query")
}

#[tokio::test]
async fn each_database_is_fresh_and_dropped_with_its_roles() {
    let admin = PgPool::connect(&admin_url()).await.expect("the test server");
    let mut a = FreshDb::new().await;
    let b = FreshDb::new().await;
    assert_ne!(a.name(), b.name());
    assert!(a.name().starts_with("audit_test_"), "{}", a.name());
    assert!(a.url().ends_with(a.name()), "{}", a.url());

    let pool = a.pool().await;
    sqlx::raw_sql("CREATE TABLE t (n int)").execute(&pool).await.unwrap();
    pool.close().await;
    let (role, role_url) = a.role("reader").await;
    assert!(role_url.contains(&format!("{role}@")), "{role_url}");
    let as_role = PgPool::connect(&role_url).await.expect("connect as the role");
    let who: String = sqlx::query_scalar("SELECT current_user").fetch_one(&as_role).await.unwrap();
    assert_eq!(who, role);
    as_role.close().await;

    let (a_name, b_name) = (a.name().to_owned(), b.name().to_owned());
    assert!(exists(&admin, "pg_database", "datname", &a_name).await);
    drop(a);
    assert!(!exists(&admin, "pg_database", "datname", &a_name).await);
    assert!(!exists(&admin, "pg_roles", "rolname", &role).await);
    b.drop_now().await.expect("drop_now");
    assert!(!exists(&admin, "pg_database", "datname", &b_name).await);
}

#[tokio::test]
async fn an_unreachable_server_is_named_with_what_to_do() {
    // Port 9 (discard) has no PostgreSQL.
    let err = FreshDb::create("postgres://postgres@127.0.0.1:9/postgres", "audit_test")
        .await
        .expect_err("nothing listens there");
    assert!(matches!(&err, Error::Unreachable { at, .. } if at == "127.0.0.1:9"), "{err:?}");
    let advice = err.advice();
    assert!(advice.contains("127.0.0.1:5432"), "{advice}");
    assert!(advice.contains("AUDIT_TEST_PG_URL"), "{advice}");
}
