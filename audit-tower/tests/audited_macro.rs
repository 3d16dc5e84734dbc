//! `#[audited]` handlers behind the layer: always audited, one entry each.

mod common;

use audit_core::{Outcome, audited};
use audit_tower::AuditLayer;
use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{Trail, client, entry_for, serve_axum, within};

#[audited(event = "report.export")]
async fn export(Path(id): Path<String>) -> String {
    format!("report {id}")
}

#[audited(event = "project.archive")]
async fn archive(Path(id): Path<String>) -> Result<String, (http::StatusCode, String)> {
    Err((http::StatusCode::CONFLICT, format!("{id} is locked")))
}

#[tokio::test]
async fn audited_handlers_are_audited_once_whatever_the_policy() {
    let trail = Trail::new();
    let app = Router::new()
        .route("/reports/{id}", get(export))
        .route("/projects/{id}/archive", axum::routing::post(archive))
        .layer(AuditLayer::new(trail.auditor.clone()));
    let addr = serve_axum(app).await;
    let c = client();
    let res = within(c.get(format!("http://{addr}/reports/r_1")).send()).await.unwrap();
    assert_eq!(res.text().await.unwrap(), "report r_1");
    let res = within(c.post(format!("http://{addr}/projects/p_1/archive")).send()).await.unwrap();
    assert_eq!(res.status(), 409);

    let entries = trail.finish().await;
    assert_eq!(entries.len(), 2, "{entries:#?}");
    let export = entry_for(&entries, "/reports/r_1");
    assert_eq!(export.event, "report.export");
    assert_eq!(export.outcome, Outcome::Success);
    assert_eq!(export.source.ip, Some("127.0.0.1".parse().unwrap()), "the layer's part");
    let archive = entry_for(&entries, "/projects/p_1/archive");
    assert_eq!(archive.event, "project.archive");
    assert_eq!(archive.outcome, Outcome::Failure);
    assert_eq!(archive.response.as_ref().unwrap().status, Some(409));
}
