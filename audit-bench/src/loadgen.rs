//! A load generator: a fixed number of connections, each with one request
//! in flight, for a fixed time after a warm-up.
//!
//! Each connection is one task on the load runtime that sends a request,
//! waits for the whole response, records the latency in its own
//! `hdrhistogram`, and sends the next. Only requests that start after the
//! warm-up and end before the deadline are counted, so throughput is
//! `counted / measured time` and nothing before or after is mixed in.
//!
//! By default the loop is closed: each connection sends its next request as
//! soon as the last one is answered, so the server runs flat out and the
//! latency measured is mostly waiting behind the other connections (at
//! saturation, p99 moves with throughput). With [`Plan::paced`] it is open:
//! the connections send at a fixed total rate, evenly spaced, so that
//! two variants can be compared at the same offered load, below what either
//! can serve, and the latency is what one request costs. A paced request
//! that is due while the previous one on its connection is still in flight
//! goes out as soon as that one is answered, and its latency counts from
//! when it was due, so a server that falls behind shows it in the latency
//! (no coordinated omission) and in the achieved rate.

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
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
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
    /// Requests per second over all connections (open loop); `None` for a
    /// closed loop (see the module docs).
    pub(crate) rate: Option<f64>,
}

impl Plan {
    /// A closed-loop plan.
    pub(crate) fn new(warmup: Duration, duration: Duration) -> Self {
        Self { warmup, duration, rate: None }
    }

    /// The same plan at a fixed total request rate (requests per second).
    pub(crate) fn paced(self, rate: f64) -> Self {
        Self { rate: Some(rate), ..self }
    }
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
    let n = callers.len();
    let mut dues = match plan.rate {
        Some(rate) => pace(start, t1, rate, n).into_iter().map(Some).collect(),
        None => (0..n).map(|_| None).collect::<Vec<_>>(),
    };
    let mut tasks = Vec::with_capacity(n);
    for mut caller in callers {
        let mut due = dues.pop().expect("one per caller");
        tasks.push(tokio::spawn(async move {
            let mut r = WorkerResult { ok: 0, errors: 0, first_error: None, hist: histogram() };
            // When the last request on this connection was answered.
            let mut answered = start;
            loop {
                let began = match due.as_mut() {
                    None => Instant::now(),
                    Some(due) => match due.recv().await {
                        None => break,
                        // Due while the last one was in flight: timed from
                        // when it was due (the module docs).
                        Some(at) if answered > at => at,
                        // Otherwise from when it goes out, so that the
                        // pacer's own lateness is not counted.
                        Some(_) => Instant::now(),
                    },
                };
                if began >= t1 {
                    break;
                }
                let result = caller.call().await;
                let ended = Instant::now();
                answered = ended;
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

/// Starts the pacer of an open-loop run: a thread that hands the
/// connections, in turn, the times their requests are due, `rate` per second
/// in all, from `start` until `t1`. It sleeps on the kernel's timer, precise
/// to tens of microseconds; Tokio's timer ticks every millisecond, which
/// would send each millisecond's requests in one burst. Each connection
/// reads its receiver; the pacer stops when `t1` is reached or a receiver is
/// gone.
fn pace(start: Instant, t1: Instant, rate: f64, n: usize) -> Vec<UnboundedReceiver<Instant>> {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| unbounded_channel()).unzip();
    let every = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    let (start, t1) = (start.into_std(), t1.into_std());
    let spawned = std::thread::Builder::new().name("bench-pacer".into()).spawn(move || {
        let mut next = start;
        for sender in senders.iter().cycle() {
            if next >= t1 {
                break;
            }
            let now = std::time::Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            if sender.send(Instant::from_std(next)).is_err() {
                break;
            }
            next += every;
        }
    });
    if let Err(e) = spawned {
        panic!("cannot start the load generator's pacer thread: {e}");
    }
    receivers
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
            let plan = Plan::new(Duration::from_millis(50), Duration::from_millis(200));
            tokio::spawn(run(HttpCaller::many(addr, target, 4), plan)).await.unwrap()
        });
        assert_eq!(result.errors, 0, "{:?}", result.first_error);
        assert!(result.ok > 10, "{} requests", result.ok);
        assert!(result.rps() > 50.0);
        assert!(result.latency_ms(0.5) <= result.latency_ms(0.99));
        assert!(result.allocations_per_request() > 0.0);
    }

    #[test]
    fn a_paced_load_keeps_its_rate_and_times_requests_from_when_they_were_due() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (fast, slow) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = Router::new()
                .route("/fast", post(|| async { "ok" }))
                // Answers in 20 ms, twice the paced interval below.
                .route(
                    "/slow",
                    post(|| async {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        "ok"
                    }),
                );
            tokio::spawn(async move { axum::serve(listener, app).await });
            let target = |path: &str| HttpTarget {
                method: Method::POST,
                paths: vec![path.into()],
                headers: HeaderMap::new(),
                body: Bytes::new(),
            };
            let plan = Plan::new(Duration::from_millis(50), Duration::from_millis(400));
            // 2 connections at 200 requests/s in all: one every 10 ms each.
            let fast =
                tokio::spawn(run(HttpCaller::many(addr, target("/fast"), 2), plan.paced(200.0)));
            let fast = fast.await.unwrap();
            let slow =
                tokio::spawn(run(HttpCaller::many(addr, target("/slow"), 2), plan.paced(200.0)));
            (fast, slow.await.unwrap())
        });
        assert_eq!(fast.errors, 0, "{:?}", fast.first_error);
        // The schedule allows 80 requests in the 400 ms window; a closed loop
        // against this server would make thousands.
        assert!(fast.ok <= 82, "{} requests", fast.ok);
        assert!(fast.ok >= 10, "{} requests", fast.ok);
        // The slow server answers one request per connection every 20 ms
        // while two are due: each is timed from when it was due, so the
        // latency grows past the 20 ms of service (a closed loop would read
        // about 20 ms throughout).
        assert_eq!(slow.errors, 0, "{:?}", slow.first_error);
        assert!(slow.ok <= 42, "{} requests", slow.ok);
        assert!(slow.latency_ms(0.99) >= 60.0, "p99 {} ms", slow.latency_ms(0.99));
        assert!(slow.latency_ms(0.0) >= 20.0, "min {} ms", slow.latency_ms(0.0));
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
            let plan = Plan::new(Duration::ZERO, Duration::from_millis(50));
            run(HttpCaller::many(addr, target, 1), plan).await
        });
        assert_eq!(result.ok, 0);
        assert!(result.errors > 0);
        assert!(result.first_error.unwrap().contains("connect"));
    }
}
