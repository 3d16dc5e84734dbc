//! Methods: `&self`, `&mut self`, `self`, associated functions, and `async fn`
//! in traits; `auditor = self.auditor` reads the auditor from the receiver.

mod common;

use audit_core::{Actor, Auditor, Resource, audited};
use common::{auditor, recorded, request_body, response_body};
use serde_json::json;

struct Projects {
    auditor: Auditor,
    names: Vec<String>,
}

impl Projects {
    #[audited(event = "project.create", auditor = self.auditor)]
    async fn create(&mut self, name: String) -> usize {
        self.names.push(name);
        self.names.len() - 1
    }

    #[audited(event = "project.read", auditor = self.auditor, resource_id = index)]
    fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index).map(String::as_str)
    }

    #[audited(event = "project.list", auditor = self.auditor)]
    async fn all(&self) -> &[String] {
        &self.names
    }

    #[audited(event = "projects.close", auditor = self.auditor.clone())]
    fn close(self) -> Vec<String> {
        self.names
    }

    #[audited(event = "projects.open", auditor = auditor)]
    fn open(auditor: &Auditor) -> Self {
        Self { auditor: auditor.clone(), names: Vec::new() }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_receiver_kind_is_audited() {
    let (auditor, sink) = auditor();
    let mut p = Projects::open(&auditor);
    assert_eq!(p.create("Apollo".into()).await, 0);
    assert_eq!(p.name(0), Some("Apollo"));
    assert_eq!(p.all().await.len(), 1);
    assert_eq!(p.close(), ["Apollo"]);

    let e = recorded(&auditor, &sink).await;
    let events: Vec<&str> = e.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events,
        ["projects.open", "project.create", "project.read", "project.list", "projects.close"]
    );
    assert_eq!(request_body(&e[1]), json!({"name": "Apollo"}));
    assert_eq!(response_body(&e[1]), json!(0));
    assert_eq!(e[2].resource, vec![Resource::new("project", "0")]);
    assert_eq!(response_body(&e[2]), json!("Apollo"));
    assert_eq!(response_body(&e[3]), json!(["Apollo"]));
}

trait Keys {
    async fn rotate(&self, key_id: &str) -> Result<String, String>;
}

struct KeyService {
    auditor: Auditor,
}

impl Keys for KeyService {
    #[audited(event = "api_key.rotate", auditor = self.auditor, actor = Actor::system("rotator"), resource_id = key_id)]
    async fn rotate(&self, key_id: &str) -> Result<String, String> {
        Ok(format!("{key_id}-2"))
    }
}

#[tokio::test]
async fn async_fn_in_trait_impls() {
    let (auditor, sink) = auditor();
    let svc = KeyService { auditor: auditor.clone() };
    assert_eq!(svc.rotate("k_1").await.unwrap(), "k_1-2");
    let e = &recorded(&auditor, &sink).await[0];
    assert_eq!(e.description, "system:rotator updated api_key k_1");
    assert_eq!(response_body(e), json!("k_1-2"));
}
