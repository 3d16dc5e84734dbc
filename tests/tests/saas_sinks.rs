//! The `--otlp URL` and `--webhook URL --webhook-secret S` flags wire real
//! sinks: with a real OTLP/gRPC receiver (tonic, `LogsService`) and a real
//! webhook receiver (axum) on 127.0.0.1:0, every entry the file sink has
//! also reaches both, the webhook batches signed with the secret.

use clap::Parser as _;
use examples::saas::{Args, Config};
use reqwest::Method;
use serde_json::json;
use tests::receivers::{OtlpReceiver, WebhookReceiver};
use tests::{Api, read_log};

const WEBHOOK_SECRET: &str = "whsec_e2e_4c1d9a";

#[tokio::test]
async fn the_otlp_and_webhook_flags_deliver_every_entry() {
    let webhook = WebhookReceiver::start(WEBHOOK_SECRET).await;
    let otlp = OtlpReceiver::start().await;
    let (webhook_url, otlp_url) = (webhook.url(), otlp.url());
    let args = Args::try_parse_from([
        "saas-api",
        "--otlp",
        &otlp_url,
        "--webhook",
        &webhook_url,
        "--webhook-secret",
        WEBHOOK_SECRET,
    ])
    .unwrap();
    let flags = Config::from(args);
    let api = Api::start_with(|mut config| {
        config.otlp = flags.otlp;
        config.webhook = flags.webhook;
        config
    })
    .await;

    let alice = Some("alice-token");
    let (status, project) =
        api.call(Method::POST, "/projects", alice, Some(json!({"name": "Apollo"}))).await;
    assert_eq!(status, 201);
    let path = format!("/projects/{}", project["id"].as_str().unwrap());
    assert_eq!(api.call(Method::DELETE, &path, None, None).await.0, 401);
    assert_eq!(api.call(Method::DELETE, &path, alice, None).await.0, 204);
    // Shutting down flushes every sink before it returns.
    let (_, dir) = api.finish().await;

    let in_file = read_log(&dir.path().join("audit")).await;
    let expected: Vec<(String, String)> =
        in_file.iter().map(|e| (e.event.clone(), e.id.to_string())).collect();
    assert_eq!(expected.len(), 5, "genesis, 3 calls, closing checkpoint: {expected:?}");

    let pairs = |items: Vec<serde_json::Value>| -> Vec<(String, String)> {
        items
            .iter()
            .map(|e| {
                (e["event"].as_str().unwrap().to_owned(), e["id"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let hooked = pairs(webhook.entries());
    assert_eq!(hooked, expected, "the webhook got every entry, signed, in order");

    let exported = pairs(otlp.entries());
    assert_eq!(exported, expected, "the OTLP receiver got every entry, in order");
}

#[test]
fn the_webhook_flags_go_together() {
    assert!(Args::try_parse_from(["saas-api", "--webhook", "http://127.0.0.1:1/x"]).is_err());
    assert!(Args::try_parse_from(["saas-api", "--webhook-secret", "s"]).is_err());
    let args = Args::try_parse_from(["saas-api", "--otlp", "http://127.0.0.1:4318/v1/logs"]);
    assert_eq!(Config::from(args.unwrap()).otlp.as_deref(), Some("http://127.0.0.1:4318/v1/logs"));
}
