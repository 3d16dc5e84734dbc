//! The client address of an entry is the socket peer: a spoofed
//! `X-Forwarded-For` is ignored unless the peer is a trusted proxy
//! (`--trusted-proxy CIDR`), and then it is honoured.

use std::net::IpAddr;

use clap::Parser as _;
use examples::saas::{Args, Config};
use reqwest::Method;
use serde_json::json;
use tests::Api;

const SPOOFED: &str = "203.0.113.66";

async fn create_with_forwarded_for(api: &Api) {
    let response = api
        .request(Method::POST, "/projects", Some("alice-token"))
        .header("x-forwarded-for", SPOOFED)
        .header("user-agent", "curl/8.5.0")
        .json(&json!({"name": "Apollo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_spoofed_forwarded_for_is_ignored_without_trusted_proxies() {
    let api = Api::start().await;
    create_with_forwarded_for(&api).await;
    let (e, _dir) = api.finish().await;
    assert_eq!(e[0].source.ip, Some(IpAddr::from([127, 0, 0, 1])));
    assert_eq!(e[0].source.user_agent.as_deref(), Some("curl/8.5.0"));
}

#[tokio::test]
async fn the_trusted_proxy_flag_makes_it_honoured() {
    let args = Args::try_parse_from(["saas-api", "--trusted-proxy", "127.0.0.1/32"]).unwrap();
    let trusted = Config::from(args).trusted_proxies;
    assert_eq!(trusted.len(), 1);
    let api = Api::start_with(|mut config| {
        config.trusted_proxies = trusted;
        config
    })
    .await;
    create_with_forwarded_for(&api).await;
    let (e, _dir) = api.finish().await;
    assert_eq!(e[0].source.ip, Some(SPOOFED.parse().unwrap()));
}
