//! One entry per audited request, through a real axum server and a real
//! client: route template, raw path, query, headers, request id, actor, peer,
//! and what handlers add to the scope.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use audit_core::{Actor, ActorKind, AsActor, AuditScope, Outcome, Resource};
use audit_tower::{Audit, AuditLayer, ExtensionActor};
use axum::Router;
use axum::extract::{Path, Request};
use axum::middleware::{self, Next};
use axum::routing::{get, post};
use common::{Trail, client, entry_for, http, serve_axum, within};

async fn ok() -> &'static str {
    "ok"
}

#[tokio::test]
async fn one_entry_per_mutation_with_route_and_request_details() {
    let trail = Trail::new();
    let app = Router::new()
        .route("/projects", post(ok).get(ok))
        .route("/projects/{id}", axum::routing::patch(ok).delete(ok))
        .layer(AuditLayer::new(trail.auditor.clone()));
    let addr = serve_axum(app).await;
    let c = client();

    let res = within(
        c.post(format!("http://{addr}/projects?name=apollo&token=s3cret"))
            .header("user-agent", "tests/1.0")
            .header("authorization", "Bearer abc")
            .header("x-secret-internal", "not allow-listed")
            .header("content-type", "application/json")
            .body("{}")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let generated_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated_id.len(), 36, "a UUID: {generated_id}");

    let res = within(
        c.patch(format!("http://{addr}/projects/p_42")).header("x-request-id", "req-7").send(),
    )
    .await
    .unwrap();
    assert_eq!(res.headers()["x-request-id"], "req-7");
    within(c.delete(format!("http://{addr}/projects/p_42")).send()).await.unwrap();
    // Reads are not audited by default.
    within(c.get(format!("http://{addr}/projects")).send()).await.unwrap();

    let entries = trail.finish().await;
    assert_eq!(entries.len(), 3, "{entries:#?}");

    let create = entry_for(&entries, "/projects");
    assert_eq!(create.event, "project.create");
    assert_eq!(create.outcome, Outcome::Success);
    assert_eq!(create.actor.kind, ActorKind::Anonymous);
    let req = http(create);
    assert_eq!(req.method, "POST");
    assert_eq!(req.route.as_deref(), Some("/projects"));
    assert_eq!(req.query.as_deref(), Some("name=apollo&token=[REDACTED]"));
    assert_eq!(req.headers["user-agent"], "tests/1.0");
    assert_eq!(req.headers["authorization"], "[REDACTED]");
    assert_eq!(req.headers["content-type"], "application/json");
    assert!(!req.headers.contains_key("x-secret-internal"));
    assert!(req.body.is_none(), "Metadata level keeps no body");
    assert_eq!(create.source.ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(create.source.user_agent.as_deref(), Some("tests/1.0"));
    assert_eq!(create.source.request_id.as_deref(), Some(generated_id.as_str()));
    let response = create.response.as_ref().unwrap();
    assert_eq!(response.status, Some(200));
    assert!(response.duration_us.is_some());
    assert_eq!(create.service.name, "audit-tower-tests");

    let update = entries.iter().find(|e| e.event == "project.update").expect("update");
    assert_eq!(http(update).route.as_deref(), Some("/projects/{id}"));
    assert_eq!(http(update).path, "/projects/p_42");
    assert_eq!(update.source.request_id.as_deref(), Some("req-7"));
    assert!(entries.iter().any(|e| e.event == "project.delete"));
}

#[tokio::test]
async fn actor_from_extensions_from_the_handler_and_anonymous() {
    #[derive(Clone)]
    struct CurrentUser(&'static str);
    impl AsActor for CurrentUser {
        fn as_actor(&self) -> Actor {
            Actor::user(self.0).email(format!("{}@example.com", self.0))
        }
    }

    // Authentication outside the audit layer leaves the identity in the extensions.
    async fn auth_outside(mut req: Request, next: Next) -> axum::response::Response {
        let user = req.headers().get("x-user").and_then(|v| v.to_str().ok()).map(str::to_owned);
        if let Some(user) = user {
            req.extensions_mut()
                .insert(Actor::user(user.clone()).email(format!("{user}@example.com")));
        }
        next.run(req).await
    }

    // Authentication inside the audit layer tells the scope directly.
    async fn auth_inside(req: Request, next: Next) -> axum::response::Response {
        if let Some(scope) = req.extensions().get::<AuditScope>() {
            scope.set_actor(Actor::api_key("k_9").name("ci-deploy"));
        }
        next.run(req).await
    }

    async fn as_service(Audit(audit): Audit) -> &'static str {
        audit.set_actor(Actor::service("billing"));
        "ok"
    }

    let trail = Trail::new();
    let app = Router::new()
        .route("/default", post(ok))
        .route("/handler", post(as_service))
        .layer(AuditLayer::new(trail.auditor.clone()))
        .layer(middleware::from_fn(auth_outside));
    let inside = Router::new()
        .route("/inside", post(ok))
        .layer(middleware::from_fn(auth_inside))
        .layer(AuditLayer::new(trail.auditor.clone()));
    let custom = Router::new().route("/custom", post(ok)).layer(
        AuditLayer::new(trail.auditor.clone()).make_actor(ExtensionActor::<CurrentUser>::new()),
    );
    let custom = custom.layer(middleware::from_fn(|mut req: Request, next: Next| async move {
        req.extensions_mut().insert(CurrentUser("carol"));
        next.run(req).await
    }));
    let addr = serve_axum(app.merge(inside).merge(custom)).await;
    let c = client();
    within(c.post(format!("http://{addr}/default")).header("x-user", "alice").send())
        .await
        .unwrap();
    within(c.post(format!("http://{addr}/default")).send()).await.unwrap();
    within(c.post(format!("http://{addr}/handler")).header("x-user", "bob").send()).await.unwrap();
    within(c.post(format!("http://{addr}/inside")).send()).await.unwrap();
    within(c.post(format!("http://{addr}/custom")).send()).await.unwrap();

    let entries = trail.finish().await;
    assert_eq!(entries.len(), 5, "{entries:#?}");
    let actors: Vec<String> = entries.iter().map(|e| e.actor.to_string()).collect();
    for expected in [
        "alice@example.com",
        "anonymous",
        "service:billing",
        "api-key:ci-deploy",
        "carol@example.com",
    ] {
        assert!(actors.contains(&expected.to_owned()), "{expected} missing from {actors:?}");
    }
    let alice = entries.iter().find(|e| e.actor.to_string() == "alice@example.com").unwrap();
    assert_eq!(alice.description, "alice@example.com created default");
}

#[tokio::test]
async fn handlers_add_to_the_same_entry() {
    async fn archive(Audit(audit): Audit, Path(id): Path<String>) -> &'static str {
        audit.set_event("project.archive");
        audit.add_resource(Resource::new("project", id));
        audit.set_metadata("reason", "cleanup");
        // The task-local reaches the same scope.
        AuditScope::current().expect("current scope").set_tenant("acme");
        "archived"
    }
    // A read, audited because the handler says so (what `#[audited]` does).
    async fn export() -> &'static str {
        let scope = AuditScope::current().expect("current scope");
        scope.mark_audited();
        scope.set_event("report.export");
        "csv"
    }
    async fn no_layer(audit: Option<Audit>) -> &'static str {
        if audit.is_some() { "layer" } else { "none" }
    }

    let trail = Trail::new();
    let app = Router::new()
        .route("/projects/{id}/archive", post(archive))
        .route("/reports/export", get(export))
        .layer(AuditLayer::new(trail.auditor.clone()))
        .route("/bare", get(no_layer))
        .route("/bare-required", get(|_: Audit| async { "unreachable" }));
    let addr = serve_axum(app).await;
    let c = client();
    within(c.post(format!("http://{addr}/projects/p_1/archive")).send()).await.unwrap();
    within(c.get(format!("http://{addr}/reports/export")).send()).await.unwrap();
    let bare = within(c.get(format!("http://{addr}/bare")).send()).await.unwrap();
    assert_eq!(bare.text().await.unwrap(), "none");
    let required = within(c.get(format!("http://{addr}/bare-required")).send()).await.unwrap();
    assert_eq!(required.status(), 500);

    let entries = trail.finish().await;
    assert_eq!(entries.len(), 2, "{entries:#?}");
    let archive = entry_for(&entries, "/projects/p_1/archive");
    assert_eq!(archive.event, "project.archive");
    assert_eq!(archive.resource, vec![Resource::new("project", "p_1")]);
    assert_eq!(archive.metadata["reason"], "cleanup");
    assert_eq!(archive.tenant.as_deref(), Some("acme"));
    assert_eq!(archive.description, "anonymous performed project.archive on project p_1");
    let export = entry_for(&entries, "/reports/export");
    assert_eq!(export.event, "report.export");
    assert_eq!(export.action, audit_core::Action::Read);
}

#[tokio::test]
async fn plain_hyper_service() {
    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceBuilder;

    let trail = Trail::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = AuditLayer::new(trail.auditor.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else { return };
            let svc = ServiceBuilder::new()
                // Plain hyper: the peer goes into the extensions as a SocketAddr.
                .map_request(move |mut req: http::Request<Incoming>| {
                    req.extensions_mut().insert::<SocketAddr>(peer);
                    req
                })
                .layer(layer.clone())
                .service_fn(|_req| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("hi"))))
                });
            tokio::spawn(
                http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc)),
            );
        }
    });
    let res = within(client().put(format!("http://{addr}/settings/theme")).send()).await.unwrap();
    assert_eq!(res.text().await.unwrap(), "hi");
    let entries = trail.finish().await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].event, "theme.update");
    assert_eq!(http(&entries[0]).route, None);
    assert_eq!(entries[0].source.ip, Some("127.0.0.1".parse().unwrap()));
}

#[tokio::test]
async fn entries_that_cannot_be_recorded_are_counted() {
    let trail = Trail::new();
    let layer = AuditLayer::new(trail.auditor.clone());
    let app = Router::new().route("/late", post(ok)).layer(layer.clone());
    let addr = serve_axum(app).await;
    trail.finish().await;
    // After shutdown the auditor refuses entries: the request still works.
    let res = within(client().post(format!("http://{addr}/late")).send()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(layer.lost_entries(), 1);
}
