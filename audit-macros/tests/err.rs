//! Outcomes: `Ok`/`Err`, `?` and early `return` are audited like any other
//! return; the error's text is the reason.

mod common;

use std::fmt;

use audit_core::{Auditor, Outcome, audited};
use common::{auditor, recorded, response_body};
use serde_json::json;

#[derive(Debug)]
enum ApiError {
    NotFound(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(what) => write!(f, "{what} not found"),
        }
    }
}

impl From<std::num::ParseIntError> for ApiError {
    fn from(e: std::num::ParseIntError) -> Self {
        Self::NotFound(format!("bad id ({e})"))
    }
}

#[audited(event = "project.delete", auditor = auditor)]
async fn delete(auditor: &Auditor, id: &str) -> Result<u32, ApiError> {
    let n: u32 = id.parse()?; // `?` converts through `From`
    if n == 0 {
        return Err(ApiError::NotFound(format!("project {n}")));
    }
    Ok(n)
}

#[tokio::test]
async fn question_mark_and_early_return_are_recorded() {
    let (auditor, sink) = auditor();
    assert_eq!(delete(&auditor, "7").await.unwrap(), 7);
    assert!(delete(&auditor, "x").await.is_err());
    assert!(delete(&auditor, "0").await.is_err());
    let e = recorded(&auditor, &sink).await;
    assert_eq!(e.len(), 3);
    assert_eq!((e[0].outcome, e[0].reason.as_deref()), (Outcome::Success, None));
    assert_eq!(response_body(&e[0]), json!(7));
    assert_eq!(e[1].outcome, Outcome::Failure);
    assert_eq!(e[1].reason.as_deref(), Some("bad id (invalid digit found in string) not found"));
    assert_eq!(e[2].reason.as_deref(), Some("project 0 not found"));
    assert_eq!(e[2].description, "anonymous deleted project (failed)");
    assert!(e[2].response.as_ref().unwrap().body.is_none(), "an error has no response value");
}

#[derive(Debug)]
struct DebugOnly {
    #[allow(dead_code)]
    code: u16,
}
struct Opaque;

type Result2<T> = std::result::Result<T, DebugOnly>;

#[audited(event = "job.run", auditor = auditor)]
fn debug_error(auditor: &Auditor) -> Result2<()> {
    Err(DebugOnly { code: 7 })
}

#[audited(event = "job.run", auditor = auditor)]
fn opaque_error(auditor: &Auditor) -> Result<(), Opaque> {
    Err(Opaque)
}

#[audited(event = "job.run", auditor = auditor)]
fn not_a_result(auditor: &Auditor) -> Option<u8> {
    None
}

#[audited(event = "job.run", auditor = auditor)]
fn io_result(auditor: &Auditor) -> std::io::Result<()> {
    Err(std::io::Error::other("disk full"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_without_display_and_non_results() {
    let (auditor, sink) = auditor();
    let a = auditor.clone();
    tokio::task::spawn_blocking(move || {
        let _ = debug_error(&a);
        let _ = opaque_error(&a);
        let _ = not_a_result(&a);
        let _ = io_result(&a);
    })
    .await
    .unwrap();
    let e = recorded(&auditor, &sink).await;
    assert_eq!(e.len(), 4);
    assert_eq!(
        (e[0].outcome, e[0].reason.as_deref()),
        (Outcome::Failure, Some("DebugOnly { code: 7 }"))
    );
    assert_eq!((e[1].outcome, e[1].reason.as_deref()), (Outcome::Failure, None));
    // `None` is a value like any other: success, and nothing to capture
    assert_eq!((e[2].outcome, e[2].reason.as_deref()), (Outcome::Success, None));
    assert_eq!((e[3].outcome, e[3].reason.as_deref()), (Outcome::Failure, Some("disk full")));
}
