//! A closed-loop load generator: a fixed number of connections, each with
//! one request in flight, for a fixed time after a warm-up.
//!
//! Each connection is one task on the load runtime that sends a request,
//! waits for the whole response, records the latency in its own
//! `hdrhistogram`, and sends the next. Only requests that start after the
//! warm-up and end before the deadline are counted, so throughput is
//! `counted / measured time` and nothing before or after is mixed in.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use crate::alloc;

/// One connection's worth of requests.
pub(crate) trait Caller: Send + 'static {
    /// Sends one request and waits for the whole response; `Err` when it
    /// failed or the response was not the expected one.
    fn call(&mut self) -> impl Future<Output = Result<(), String>> + Send;
}

/// How long to load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub(crate) struct LoadResult {
    /// Requests that succeeded within the measured window.
    pub(crate) ok: u64,
    /// Requests that failed within the window (and after).
    pub(crate) errors: u64,
    /// The first failure, for the notes.
    pub(crate) first_error: Option<String>,
    /// The measured window.
    pub(crate) measured: Duration,
    /// Latencies of the successful requests, in microseconds.
    pub(crate) latency_us: Histogram<u64>,
    /// Allocations of the whole process during the window.
    pub(crate) allocations: alloc::Counts,
}

impl LoadResult {
    /// Successful requests per second.
    pub(crate) fn rps(&self) -> f64 {
        self.ok as f64 / self.measured.as_secs_f64().max(1e-9)
    }

    /// A latency quantile (0..=1) in milliseconds.
    pub(crate) fn latency_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }

    /// Process-wide allocations per successful request.
    pub(crate) fn allocations_per_request(&self) -> f64 {
        self.allocations.allocations as f64 / self.ok.max(1) as f64
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

struct WorkerResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    hist: Histogram<u64>,
}

/// Runs one task per caller until the plan's time is up. Must be called on
/// the load runtime (it spawns there).
pub(crate) async fn run<C: Caller>(callers: Vec<C>, plan: Plan) -> LoadResult {
    let start = Instant::now();
    let t0 = start + plan.warmup;
    let t1 = t0 + plan.duration;
    let mut tasks = Vec::with_capacity(callers.len());
    for mut caller in callers {
        tasks.push(tokio::spawn(async move {
            let mut r = WorkerResult { ok: 0, errors: 0, first_error: None, hist: histogram() };
            loop {
                let began = Instant::now();
                if began >= t1 {
                    break;
                }
                let result = caller.call().await;
                let ended = Instant::now();
                match result {
                    Ok(()) if began >= t0 && ended <= t1 => {
                        r.ok += 1;
                        let us = (ended - began).as_micros().max(1) as u64;
                        r.hist.saturating_record(us);
                    }
                    Ok(()) => {}
                    Err(e) => {
                        if ended >= t0 {
                            r.errors += 1;
                        }
                        if r.first_error.is_none() {
                            r.first_error = Some(e);
                        }
                        // Do not spin on a server that is gone.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            r
        }));
    }
    tokio::time::sleep_until(t0).await;
    let before = alloc::counts();
    tokio::time::sleep_until(t1).await;
    let allocations = alloc::counts().since(before);
    let mut total = WorkerResult { ok: 0, errors: 0, first_error: None, hist: histogram() };
    for t in tasks {
        match t.await {
            Ok(r) => {
                total.ok += r.ok;
                total.errors += r.errors;
                total.first_error = total.first_error.or(r.first_error);
                let _ = total.hist.add(&r.hist);
            }
            Err(e) => {
                total.errors += 1;
                total.first_error.get_or_insert_with(|| format!("load task failed: {e}"));
            }
        }
    }
    LoadResult {
        ok: total.ok,
        errors: total.errors,
        first_error: total.first_error,
        measured: plan.duration,
        latency_us: total.hist,
        allocations,
    }
}

/// The request every HTTP connection sends, over and over.
#[derive(Debug, Clone)]
pub(crate) struct HttpTarget {
    pub(crate) method: Method,
    /// Paths used in turn (so that handlers do not see one resource only).
    pub(crate) paths: Vec<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// One HTTP/1.1 keep-alive connection (hyper's client connection API).
#[derive(Debug)]
pub(crate) struct HttpCaller {
    addr: SocketAddr,
    target: Arc<HttpTarget>,
    sender: Option<SendRequest<Full<Bytes>>>,
    next: usize,
}

impl HttpCaller {
    /// `n` callers to `addr`, each starting at a different path.
    pub(crate) fn many(addr: SocketAddr, target: HttpTarget, n: usize) -> Vec<Self> {
        let target = Arc::new(target);
        (0..n).map(|i| Self { addr, target: target.clone(), sender: None, next: i * 7 }).collect()
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("connect {}: {e}", self.addr))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("connected above"))
    }
}

impl Caller for HttpCaller {
    async fn call(&mut self) -> Result<(), String> {
        let target = self.target.clone();
        let path = &target.paths[self.next % target.paths.len()];
        self.next = self.next.wrapping_add(1);
        let mut request = Request::builder()
            .method(target.method.clone())
            .uri(path.as_str())
            .body(Full::new(target.body.clone()))
            .map_err(|e| e.to_string())?;
        *request.headers_mut() = target.headers.clone();
        let sender = self.connect().await?;
        if let Err(e) = sender.ready().await {
            self.sender = None;
            return Err(format!("connection: {e}"));
        }
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("request: {e}"));
            }
        };
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| format!("body: {e}"))?;
        if !status.is_success() {
            let text =
                String::from_utf8_lossy(&body.to_bytes()).chars().take(200).collect::<String>();
            return Err(format!("HTTP {status}: {text}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::post;

    #[test]
    fn loads_a_tiny_server_for_200_ms() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = Router::new().route("/echo/{n}", post(|body: String| async move { body }));
            tokio::spawn(async move { axum::serve(listener, app).await });
            let target = HttpTarget {
                method: Method::POST,
                paths: vec!["/echo/1".into(), "/echo/2".into()],
                headers: HeaderMap::new(),
                body: Bytes::from_static(b"hello"),
            };
            let plan =
                Plan { warmup: Duration::from_millis(50), duration: Duration::from_millis(200) };
            tokio::spawn(run(HttpCaller::many(addr, target, 4), plan)).await.unwrap()
        });
        assert_eq!(result.errors, 0, "{:?}", result.first_error);
        assert!(result.ok > 10, "{} requests", result.ok);
        assert!(result.rps() > 50.0);
        assert!(result.latency_ms(0.5) <= result.latency_ms(0.99));
        assert!(result.allocations_per_request() > 0.0);
    }

    #[test]
    fn failures_are_counted_not_timed() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let result = rt.block_on(async {
            // Nobody listens on this port (bound, then closed).
            let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
            let target = HttpTarget {
                method: Method::GET,
                paths: vec!["/".into()],
                headers: HeaderMap::new(),
                body: Bytes::new(),
            };
            let plan = Plan { warmup: Duration::ZERO, duration: Duration::from_millis(50) };
            run(HttpCaller::many(addr, target, 1), plan).await
        });
        assert_eq!(result.ok, 0);
        assert!(result.errors > 0);
        assert!(result.first_error.unwrap().contains("connect"));
    }
}
