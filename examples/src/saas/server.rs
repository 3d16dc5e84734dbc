//! Starting and stopping the service: [`Config`], [`Args`], [`serve`] and
//! [`RunningServer`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use audit_core::Auditor;
use audit_sinks::file::FileSink;
use audit_sinks::otlp::{OtlpConfig, OtlpSink};
use audit_sinks::webhook::WebhookSink;
use audit_tower::IpNet;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::AppState;
use super::grpc::ProjectsService;
use super::routes::{app, audit_layer};

/// How long [`RunningServer::shutdown`] waits for requests in flight, and
/// then for the auditor to flush.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// What to start: addresses, the audit log and its sinks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The HTTP address (port 0: any free port).
    pub addr: SocketAddr,
    /// The gRPC address, if the gRPC server should run.
    pub grpc_addr: Option<SocketAddr>,
    /// The file sink's directory (also a store for the `audit` CLI).
    pub audit_dir: PathBuf,
    /// An Ed25519 signing key file (as `audit keygen` writes) to sign
    /// checkpoints with.
    pub signing_key: Option<PathBuf>,
    /// Proxies (CIDRs) trusted to report the client address.
    pub trusted_proxies: Vec<IpNet>,
    /// An OTLP endpoint: `http(s)://host:4317` for gRPC, or a URL ending in
    /// `/v1/logs` for HTTP/protobuf.
    pub otlp: Option<String>,
    /// A webhook URL and its signing secret.
    pub webhook: Option<(String, String)>,
    /// A PostgreSQL URL (the examples crate's `postgres` feature); the schema
    /// is migrated at start-up.
    pub postgres: Option<String>,
    /// The auditor's spool directory (write-ahead log).
    pub spool_dir: Option<PathBuf>,
    /// The service name recorded in every entry.
    pub service_name: String,
}

impl Config {
    /// HTTP on 127.0.0.1 (any free port), no gRPC, a file sink in
    /// `audit_dir`, nothing else.
    pub fn new(audit_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            grpc_addr: None,
            audit_dir: audit_dir.into(),
            signing_key: None,
            trusted_proxies: Vec::new(),
            otlp: None,
            webhook: None,
            postgres: None,
            spool_dir: None,
            service_name: "saas-api".to_owned(),
        }
    }

    /// Also serves gRPC on 127.0.0.1 (any free port).
    #[must_use]
    pub fn with_grpc(mut self) -> Self {
        self.grpc_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        self
    }

    /// Signs checkpoints with the key in this file.
    #[must_use]
    pub fn with_signing_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.signing_key = Some(path.into());
        self
    }

    /// Trusts this proxy (CIDR) to report the client address.
    #[must_use]
    pub fn with_trusted_proxy(mut self, proxy: IpNet) -> Self {
        self.trusted_proxies.push(proxy);
        self
    }
}

/// The command line of `saas-api`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "saas-api",
    version,
    about = "An example SaaS API (projects, API keys, members, settings) whose every mutation \
             is audited",
    after_help = "Demo credentials (tenant `acme`), as `Authorization: Bearer <token>` or \
                  `X-Api-Key: <token>`:\n  alice-token  alice@example.com (admin)\n  bob-token    \
                  bob@example.com (member)\n  ci-token     API key `ci-deploy` (member)"
)]
#[non_exhaustive]
pub struct Args {
    /// The HTTP address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Also serve the gRPC API (`saas.v1.Projects`) on this address.
    #[arg(long, value_name = "ADDR")]
    pub grpc_addr: Option<SocketAddr>,
    /// The directory of the audit log (JSON Lines; query it with the `audit` CLI).
    #[arg(long, value_name = "DIR", default_value = "./audit-log")]
    pub audit_dir: PathBuf,
    /// Sign checkpoints with this Ed25519 key file (`audit keygen` writes one).
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Trust this proxy (CIDR) to report the client address in `Forwarded`,
    /// `X-Forwarded-For` or `X-Real-IP`; repeat for several. Without it
    /// those headers are ignored.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<IpNet>,
    /// Also send entries to this OTLP endpoint: gRPC (`http://host:4317`), or
    /// HTTP/protobuf when the URL ends in `/v1/logs`.
    #[arg(long, value_name = "URL")]
    pub otlp: Option<String>,
    /// Also POST signed batches of entries to this URL.
    #[arg(long, value_name = "URL", requires = "webhook_secret")]
    pub webhook: Option<String>,
    /// The secret webhook batches are signed with (HMAC-SHA256).
    #[arg(long, value_name = "SECRET", env = "SAAS_WEBHOOK_SECRET", requires = "webhook")]
    pub webhook_secret: Option<String>,
    /// Also write entries to this PostgreSQL database (migrating its schema
    /// first). Needs the examples crate's `postgres` feature.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Spool entries to this directory before acknowledging them, so a
    /// failing sink (or a crash) loses nothing.
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
}

impl From<Args> for Config {
    fn from(a: Args) -> Self {
        Self {
            addr: a.addr,
            grpc_addr: a.grpc_addr,
            audit_dir: a.audit_dir,
            signing_key: a.signing_key,
            trusted_proxies: a.trusted_proxies,
            otlp: a.otlp,
            webhook: a.webhook.zip(a.webhook_secret),
            postgres: a.postgres,
            spool_dir: a.spool_dir,
            service_name: "saas-api".to_owned(),
        }
    }
}

/// Why the service could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The signing key file could not be read.
    #[error(transparent)]
    SigningKey(#[from] audit_cli::keys::KeyFileError),
    /// A sink could not be configured.
    #[error("cannot configure the {sink} sink: {message}")]
    Sink {
        /// `file`, `otlp`, `webhook`, `postgres`.
        sink: &'static str,
        /// Why.
        message: String,
    },
    /// The auditor could not start.
    #[error(transparent)]
    Auditor(#[from] audit_core::BuildError),
    /// An address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A server stopped with an error.
    #[error("the {server} server failed: {message}")]
    Server {
        /// `HTTP` or `gRPC`.
        server: &'static str,
        /// Why.
        message: String,
    },
    /// The auditor did not flush everything in time.
    #[error(transparent)]
    Shutdown(#[from] audit_core::ShutdownError),
}

fn sink_error(sink: &'static str) -> impl FnOnce(String) -> ServeError {
    move |message| ServeError::Sink { sink, message }
}

/// Builds the auditor a configuration describes: the file sink, and the
/// OTLP, webhook and Postgres sinks when configured, with the signing key
/// and spool. Also starts recording the sinks' retention reports as
/// `audit.retention` entries.
pub async fn build_auditor(config: &Config) -> Result<Auditor, ServeError> {
    let file = FileSink::builder(&config.audit_dir)
        .build()
        .map_err(|e| sink_error("file")(e.to_string()))?;
    let mut retention = vec![file.retention_events().map(RetentionEvents::File)];
    let mut builder = Auditor::builder()
        .service(config.service_name.clone(), env!("CARGO_PKG_VERSION"))
        .sink(file);
    if let Some(url) = &config.otlp {
        let otlp = if url.trim_end_matches('/').ends_with("/v1/logs") {
            OtlpConfig::http(url)
        } else {
            OtlpConfig::grpc(url)
        };
        builder = builder.sink(OtlpSink::new(otlp).map_err(|e| sink_error("otlp")(e.to_string()))?);
    }
    if let Some((url, secret)) = &config.webhook {
        let webhook = WebhookSink::builder(url.clone(), secret.clone().into_bytes())
            .build()
            .map_err(|e| sink_error("webhook")(e.to_string()))?;
        builder = builder.sink(webhook);
    }
    if let Some(url) = &config.postgres {
        let (sink, events) = postgres_sink(url).await?;
        retention.push(events);
        builder = builder.shared_sink(sink);
    }
    if let Some(path) = &config.signing_key {
        builder = builder.signing_key(audit_cli::keys::read_signing_key(path)?);
    }
    if let Some(dir) = &config.spool_dir {
        builder = builder.spool_dir(dir);
    }
    let auditor = builder.build()?;
    for events in retention.into_iter().flatten() {
        tokio::spawn(events.record_into(auditor.clone()));
    }
    Ok(auditor)
}

/// The Postgres sink: migrates the schema (harmless when it is current),
/// then connects.
#[cfg(feature = "postgres")]
async fn postgres_sink(
    url: &str,
) -> Result<(std::sync::Arc<dyn audit_core::Sink>, Option<RetentionEvents>), ServeError> {
    use audit_sinks::postgres::{PostgresSink, migrate_url};
    migrate_url(url).await.map_err(|e| sink_error("postgres")(e.to_string()))?;
    let sink =
        PostgresSink::connect(url).await.map_err(|e| sink_error("postgres")(e.to_string()))?;
    let events = sink.retention_events().map(RetentionEvents::Postgres);
    Ok((std::sync::Arc::new(sink), events))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_sink(
    _url: &str,
) -> Result<(std::sync::Arc<dyn audit_core::Sink>, Option<RetentionEvents>), ServeError> {
    Err(sink_error("postgres")(
        "this build has no Postgres sink: build the examples crate with `--features postgres`"
            .to_owned(),
    ))
}

/// The retention reports of a sink.
enum RetentionEvents {
    File(audit_sinks::file::RetentionEvents),
    #[cfg(feature = "postgres")]
    Postgres(audit_sinks::postgres::RetentionEvents),
}

impl RetentionEvents {
    async fn record_into(self, auditor: Auditor) {
        match self {
            Self::File(events) => events.record_into(auditor).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(events) => events.record_into(auditor).await,
        }
    }
}

/// Starts the service in this process: builds the auditor, binds the HTTP
/// (and gRPC) listeners, serves until [`RunningServer::shutdown`]. Must be
/// called inside a Tokio runtime.
pub async fn serve(config: Config) -> Result<RunningServer, ServeError> {
    let auditor = build_auditor(&config).await?;
    let state =
        AppState::new(auditor.clone()).with_trusted_proxies(config.trusted_proxies.iter().copied());
    match start(&config, state.clone()).await {
        Ok((http_addr, grpc_addr, stop, servers)) => {
            Ok(RunningServer { http_addr, grpc_addr, state, auditor, stop, servers })
        }
        Err(e) => {
            // Started sinks must be flushed and closed even so.
            let _ = auditor.shutdown(SHUTDOWN_TIMEOUT).await;
            Err(e)
        }
    }
}

type Started = (SocketAddr, Option<SocketAddr>, watch::Sender<bool>, Vec<Server>);

async fn start(config: &Config, state: AppState) -> Result<Started, ServeError> {
    let bind = |addr| async move {
        TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })
    };
    let http = bind(config.addr).await?;
    let http_addr =
        http.local_addr().map_err(|source| ServeError::Bind { addr: config.addr, source })?;
    let grpc = match config.grpc_addr {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let (stop, stopped) = watch::channel(false);
    let mut servers = Vec::new();

    let app = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let signal = wait_for(stopped.clone());
    servers.push(Server {
        name: "HTTP",
        task: tokio::spawn(async move {
            axum::serve(http, app).with_graceful_shutdown(signal).await.map_err(|e| e.to_string())
        }),
    });

    let mut grpc_addr = None;
    if let Some(listener) = grpc {
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: config.grpc_addr.unwrap_or(config.addr),
            source,
        })?;
        grpc_addr = Some(addr);
        let router = tonic::transport::Server::builder()
            .layer(audit_layer(&state))
            .add_service(ProjectsService::new(state).into_server());
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let signal = wait_for(stopped);
        servers.push(Server {
            name: "gRPC",
            task: tokio::spawn(async move {
                router
                    .serve_with_incoming_shutdown(incoming, signal)
                    .await
                    .map_err(|e| e.to_string())
            }),
        });
    }
    Ok((http_addr, grpc_addr, stop, servers))
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    // An error means the sender is gone: stop too.
    let _ = stopped.wait_for(|stop| *stop).await;
}

#[derive(Debug)]
struct Server {
    name: &'static str,
    task: JoinHandle<Result<(), String>>,
}

/// The service, running. Call [`shutdown`](Self::shutdown) to stop it and
/// flush the audit trail.
#[derive(Debug)]
#[must_use = "a running server keeps its auditor open until `shutdown` is called"]
pub struct RunningServer {
    http_addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
    state: AppState,
    auditor: Auditor,
    stop: watch::Sender<bool>,
    servers: Vec<Server>,
}

impl RunningServer {
    /// The bound HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The bound gRPC address, if gRPC is served.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The state both servers share.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The auditor (for its `stats()`).
    pub fn auditor(&self) -> &Auditor {
        &self.auditor
    }

    /// Stops accepting connections, lets requests in flight finish (up to
    /// [`SHUTDOWN_TIMEOUT`]), then shuts the auditor down: a closing
    /// checkpoint, and every sink flushed.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        let _ = self.stop.send(true);
        let mut failure = None;
        for server in self.servers {
            let mut task = server.task;
            let result = match tokio::time::timeout(SHUTDOWN_TIMEOUT, &mut task).await {
                Ok(Ok(result)) => result,
                Ok(Err(join)) => Err(join.to_string()),
                Err(_) => {
                    task.abort();
                    Err(format!("connections still open after {SHUTDOWN_TIMEOUT:?}"))
                }
            };
            if let Err(message) = result {
                failure.get_or_insert(ServeError::Server { server: server.name, message });
            }
        }
        self.auditor.shutdown(SHUTDOWN_TIMEOUT).await?;
        failure.map_or(Ok(()), Err)
    }
}
