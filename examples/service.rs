//! A key-value HTTP service whose state cannot cross threads, kept on a pool of event
//! loops: the program a user of this crate would start from.
//!
//! Each loop of a [`LoopPool`] (one per core) owns a shard of the store. A shard is
//! `!Send` on purpose (it shares its values through `Rc`, as a `rusqlite::Connection`,
//! a Lua VM or an `Rc<RefCell<..>>` index would be): no lock guards it, because only
//! its own loop thread ever touches it. Handlers on tokio's multi-thread runtime reach
//! a key's shard with [`PoolLocal::call_keyed`] and its fallible twin
//! [`PoolLocal::try_call_keyed`], and map errors to HTTP statuses through `?`:
//!
//! | what happened | how the handler sees it | status |
//! |---|---|---|
//! | the key is not in its shard | the user's [`StoreError::NotFound`], by [`Error::downcast_ref`] | 404 |
//! | the service is shutting down | [`ErrorKind::LoopClosed`] | 503 |
//! | the key's shard holds [`QUEUE_CAPACITY`] calls not yet started (overload) | [`ErrorKind::Full`]: the call was refused and never runs | 503, `Retry-After: 1` |
//! | the call panicked on its loop | [`ErrorKind::Panicked`] (the loop lives on) | 500 |
//!
//! Endpoints: `PUT`/`GET`/`DELETE /kv/{key}`, `GET /many?keys=a,b,c` (one gather over
//! several shards with [`multi_async`], which keeps the map's keys), `GET /metrics` (each
//! loop's [`LoopMetrics`](pulsar_async::LoopMetrics)) and `GET /panic` (a call that
//! panics, to see the 500).
//!
//! On SIGTERM or Ctrl-C the service stops accepting, lets the requests in flight
//! finish, then drains the pool with a deadline ([`LoopPool::shutdown_async`]) and
//! prints each loop's report.
//!
//! # Modes
//!
//! ```text
//! cargo run --release --example service                    # --check (what CI runs)
//! cargo run --release --example service -- --serve 127.0.0.1:3000
//! cargo run --release --example service -- --compare       # the same load, plain tokio beside
//! ```
//!
//! `--check` first overloads a one-shard store bounded at one call and checks that a
//! request is shed with 503 and `Retry-After` (the refused call never runs), then
//! served once the shard is free. It then starts the service on `127.0.0.1:0`, drives a fixed number of requests
//! over 64 connections from hyper's client and, with requests in flight, sends the
//! process SIGTERM. It then verifies that every request got a correct answer or a clean
//! refusal once the shutdown began, that every acknowledged write reads back, and that
//! the drain ended before its deadline, and exits non-zero otherwise.
//!
//! `--compare` runs the same load, without the signal, against this service and against
//! the same service written the plain tokio way (an actor task per shard, with `mpsc`
//! and `oneshot`), in one run.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pulsar_async::pool::PoolLocal;
use pulsar_async::{multi_async, Error, ErrorKind, EventLoop, LoopPool, Promise};

/// The bound of each shard's queue (`Builder::queue_capacity`: a call past it is
/// refused with `ErrorKind::Full`, shed as a 503), and of each plain tokio actor's
/// channel (`--compare`).
const QUEUE_CAPACITY: usize = 4096;
/// How long the pool may drain once the HTTP server has stopped.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);
/// The load of `--check` and `--compare`.
const CONNECTIONS: usize = 64;
const REQUESTS: usize = 40_000;
/// `--check` sends SIGTERM once this share of the requests has been answered.
const SIGNAL_AT: f64 = 0.75;

// ---------------------------------------------------------------------------------
// The store: a shard per loop, `!Send`, and its error type.

/// One loop's part of the store. The `Rc` makes it `!Send`: it lives and dies on its
/// loop's thread.
#[derive(Default)]
struct Shard {
    entries: HashMap<String, Rc<str>>,
}

/// The store's own error, carried to the handler inside [`pulsar_async::Error`].
#[derive(Debug)]
enum StoreError {
    /// No value under the key.
    NotFound { key: String },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound { key } => write!(f, "no value under key {key:?}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// What the handlers need of a store: this service's pool, or the plain tokio one of
/// `--compare`.
trait Store: Clone + Send + Sync + 'static {
    fn put(&self, key: String, value: String) -> impl Future<Output = Result<bool, Error>> + Send;
    fn get(&self, key: String) -> impl Future<Output = Result<String, Error>> + Send;
    fn delete(&self, key: String) -> impl Future<Output = Result<(), Error>> + Send;
    fn many(
        &self,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<HashMap<String, Option<String>>, Error>> + Send;
    fn metrics(&self) -> String;
    fn panic(&self) -> impl Future<Output = Result<(), Error>> + Send;
}

/// The store on a pool: each key's calls run on its shard's loop, in order.
#[derive(Clone)]
struct PoolStore {
    shards: PoolLocal<Shard>,
}

impl PoolStore {
    fn start() -> Result<PoolStore, Error> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        PoolStore::with(cores, QUEUE_CAPACITY)
    }

    /// A store of `shards` loops, each holding at most `capacity` calls not started.
    fn with(shards: usize, capacity: usize) -> Result<PoolStore, Error> {
        let pool = EventLoop::builder()
            .name("shard")
            .queue_capacity(capacity)
            .pool(shards)?;
        let shards = pool.local(|_| Shard::default());
        Ok(PoolStore { shards })
    }

    fn pool(&self) -> &LoopPool {
        self.shards.pool()
    }
}

impl Store for PoolStore {
    /// `true` when the key is new.
    async fn put(&self, key: String, value: String) -> Result<bool, Error> {
        let shard_key = key.clone();
        let put = self.shards.call_keyed(&shard_key, move |shard| {
            shard.entries.insert(key, Rc::from(value)).is_none()
        });
        put.await
    }

    async fn get(&self, key: String) -> Result<String, Error> {
        let shard_key = key.clone();
        let found =
            self.shards
                .try_call_keyed(&shard_key, move |shard| match shard.entries.get(&key) {
                    Some(value) => Ok(value.to_string()),
                    None => Err(StoreError::NotFound { key }),
                });
        found.await
    }

    async fn delete(&self, key: String) -> Result<(), Error> {
        let shard_key = key.clone();
        let gone =
            self.shards
                .try_call_keyed(&shard_key, move |shard| match shard.entries.remove(&key) {
                    Some(_) => Ok(()),
                    None => Err(StoreError::NotFound { key }),
                });
        gone.await
    }

    /// One call per key, each on its own shard, gathered into a map of the same keys.
    async fn many(&self, keys: Vec<String>) -> Result<HashMap<String, Option<String>>, Error> {
        let lookups: HashMap<String, Promise<Option<String>>> = keys
            .into_iter()
            .map(|key| {
                let lookup = key.clone();
                let found = self.shards.call_keyed(&key, move |shard| {
                    shard.entries.get(&lookup).map(|v| v.to_string())
                });
                (key, found)
            })
            .collect();
        multi_async(lookups).await
    }

    fn metrics(&self) -> String {
        let mut text = String::new();
        for m in self.pool().metrics() {
            text.push_str(&format!("{m}\n"));
        }
        text
    }

    async fn panic(&self) -> Result<(), Error> {
        self.shards
            .call_keyed("panic", |_| panic!("a handler's call panicked on purpose"))
            .await
    }
}

// ---------------------------------------------------------------------------------
// HTTP: handlers, and the one place errors become statuses.

/// An error on its way to the client: the crate's [`Error`], whose kind and carried
/// user error decide the status.
struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match (self.0.downcast_ref::<StoreError>(), self.0.kind()) {
            (Some(StoreError::NotFound { .. }), _) => StatusCode::NOT_FOUND,
            (None, ErrorKind::LoopClosed | ErrorKind::Full) => StatusCode::SERVICE_UNAVAILABLE,
            (None, _) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // `{:#}`-style: the crate's context, then the cause, each once.
        let mut message = self.0.to_string();
        if let Some(cause) = std::error::Error::source(&self.0) {
            message = format!("{message}: {cause}");
        }
        if self.0.kind() == ErrorKind::Full {
            // Overload, not an outage: the client may try again shortly.
            return (status, [("retry-after", "1")], message + "\n").into_response();
        }
        (status, message + "\n").into_response()
    }
}

fn router<S: Store>(store: S) -> Router {
    Router::new()
        .route(
            "/kv/{key}",
            get(get_value::<S>)
                .put(put_value::<S>)
                .delete(delete_value::<S>),
        )
        .route("/many", get(get_many::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/panic", get(panic::<S>))
        .with_state(store)
}

async fn put_value<S: Store>(
    State(store): State<S>,
    Path(key): Path<String>,
    value: String,
) -> Result<StatusCode, ApiError> {
    let created = store.put(key, value).await?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

async fn get_value<S: Store>(
    State(store): State<S>,
    Path(key): Path<String>,
) -> Result<String, ApiError> {
    Ok(store.get(key).await?)
}

async fn delete_value<S: Store>(
    State(store): State<S>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    store.delete(key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /many?keys=a,b,c`: a line `key=value` or `key missing` per key, sorted.
async fn get_many<S: Store>(
    State(store): State<S>,
    RawQuery(query): RawQuery,
) -> Result<String, ApiError> {
    let keys = query
        .as_deref()
        .and_then(|q| q.strip_prefix("keys="))
        .map(|list| {
            list.split(',')
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let found = store.many(keys).await?;
    let mut lines: Vec<String> = found
        .into_iter()
        .map(|(key, value)| match value {
            Some(value) => format!("{key}={value}\n"),
            None => format!("{key} missing\n"),
        })
        .collect();
    lines.sort();
    Ok(lines.concat())
}

async fn metrics<S: Store>(State(store): State<S>) -> String {
    store.metrics()
}

async fn panic<S: Store>(State(store): State<S>) -> Result<(), ApiError> {
    Ok(store.panic().await?)
}

// ---------------------------------------------------------------------------------
// Serving and the shutdown sequence.

/// Set by the shutdown signal, before the server stops accepting.
#[derive(Clone, Default)]
struct ShutdownBegan(Arc<AtomicBool>);

impl ShutdownBegan {
    fn now(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// SIGTERM or Ctrl-C (or `stop`, for `--compare`), whichever comes first.
async fn shutdown_signal(began: ShutdownBegan, stop: tokio::sync::oneshot::Receiver<()>) {
    let ctrl_c = async {
        // An error here means no handler could be installed: then only the others stop us.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
        _ = stop => {}
    }
    began.0.store(true, Ordering::SeqCst);
}

/// Serves until the signal, then returns once every request in flight has its answer.
async fn serve<S: Store>(
    listener: tokio::net::TcpListener,
    store: S,
    began: ShutdownBegan,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<()> {
    axum::serve(listener, router(store))
        .with_graceful_shutdown(shutdown_signal(began, stop))
        .await
}

/// The pool's half of the shutdown: drain what the loops still hold, by the deadline,
/// and say what happened on each loop.
async fn drain(store: &PoolStore) -> Result<Duration, Error> {
    let started = Instant::now();
    let reports = store.pool().shutdown_async(DRAIN_DEADLINE).await?;
    let took = started.elapsed();
    for (i, r) in reports.iter().enumerate() {
        println!(
            "  shard-{i}: {} calls ran, {} cut; {} tasks finished, {} cut",
            r.ran, r.cut, r.tasks_finished, r.tasks_cut
        );
    }
    Ok(took)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        None | Some("--check") => check().await,
        Some("--serve") => match args.get(1).map(|a| a.parse::<SocketAddr>()) {
            Some(Ok(addr)) => serve_until_signal(addr).await,
            _ => Err("--serve needs an address, e.g. --serve 127.0.0.1:3000".to_owned()),
        },
        Some("--compare") => compare().await,
        Some(other) => Err(format!(
            "unknown argument {other:?}; use --check, --serve ADDR or --compare"
        )),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("service: {why}");
            ExitCode::FAILURE
        }
    }
}

/// `--serve ADDR`: the service as it runs in production, until SIGTERM or Ctrl-C.
async fn serve_until_signal(addr: SocketAddr) -> Result<(), String> {
    let store = PoolStore::start().map_err(|e| format!("cannot start the pool: {e}"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("serving on http://{addr} (SIGTERM or Ctrl-C stops it)");
    let (_keep, stop) = tokio::sync::oneshot::channel();
    serve(listener, store.clone(), ShutdownBegan::default(), stop)
        .await
        .map_err(|e| format!("the server failed: {e}"))?;
    println!("stopped accepting; in-flight requests answered; draining the pool");
    let took = drain(&store)
        .await
        .map_err(|e| format!("the drain failed: {e}"))?;
    println!("shutdown drained in {} ms", took.as_millis());
    Ok(())
}

// ---------------------------------------------------------------------------------
// The load: hyper's client over real connections, every answer checked.

mod load {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper::{Method, Request};
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    use hyper_util::rt::TokioExecutor;

    /// A request's time limit: a bug shows as a failure, never a hang.
    const REQUEST_LIMIT: Duration = Duration::from_secs(10);

    /// What the load saw.
    #[derive(Debug, Default)]
    pub struct Tally {
        pub ok: usize,
        /// Clean refusals: a 503 (the loops are closing), or no connection once the
        /// shutdown began.
        pub refused: usize,
        pub failed: usize,
        /// Writes the service acknowledged (2xx), with their values.
        pub acknowledged: Vec<(String, String)>,
        pub latencies: Vec<Duration>,
        pub first_failures: Vec<String>,
        pub elapsed: Duration,
    }

    impl Tally {
        fn fail(&mut self, why: String) {
            self.failed += 1;
            if self.first_failures.len() < 5 {
                self.first_failures.push(why);
            }
        }

        fn absorb(&mut self, other: Tally) {
            self.ok += other.ok;
            self.refused += other.refused;
            self.failed += other.failed;
            self.acknowledged.extend(other.acknowledged);
            self.latencies.extend(other.latencies);
            for why in other.first_failures {
                if self.first_failures.len() < 5 {
                    self.first_failures.push(why);
                }
            }
        }

        /// The `q`-quantile of the answered requests' latency.
        pub fn quantile(&mut self, q: f64) -> Duration {
            if self.latencies.is_empty() {
                return Duration::ZERO;
            }
            self.latencies.sort_unstable();
            let at = ((self.latencies.len() - 1) as f64 * q).round() as usize;
            self.latencies[at]
        }

        pub fn per_second(&self) -> f64 {
            self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
        }
    }

    /// What a correct answer to a request is.
    enum Expect {
        /// This status, any body.
        Status(u16),
        /// 200 with these `key=value` lines; a key whose write was not acknowledged
        /// (it was refused once the shutdown began) may read `key missing` instead.
        Lines(Vec<(String, String, bool)>),
        /// 200 with this value, or 404 when its write was not acknowledged.
        Value(String, bool),
    }

    impl Expect {
        fn holds(&self, status: u16, text: &str) -> bool {
            match self {
                Expect::Status(want) => status == *want,
                Expect::Value(value, maybe_absent) => {
                    (status == 200 && text == value) || (*maybe_absent && status == 404)
                }
                Expect::Lines(pairs) => {
                    status == 200
                        && text.lines().count() == pairs.len()
                        && pairs
                            .iter()
                            .zip(text.lines())
                            .all(|((k, v, maybe_absent), line)| {
                                line == format!("{k}={v}")
                                    || (*maybe_absent && line == format!("{k} missing"))
                            })
                }
            }
        }
    }

    /// Runs `requests` requests over `connections` connections against `addr`; calls
    /// `at_share` once `share` of them have been answered.
    pub async fn run(
        addr: SocketAddr,
        requests: usize,
        connections: usize,
        began: ShutdownBegan,
        share: f64,
        at_share: impl FnOnce() + Send + 'static,
    ) -> Tally {
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .build_http();
        let answered = Arc::new(AtomicUsize::new(0));
        let trigger_at = (requests as f64 * share) as usize;
        let at_share = Arc::new(Mutex::new(Some(at_share)));
        let started = Instant::now();
        let workers: Vec<_> = (0..connections)
            .map(|w| {
                let mine = requests / connections + usize::from(w < requests % connections);
                let (client, began) = (client.clone(), began.clone());
                let (answered, at_share) = (answered.clone(), at_share.clone());
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    // The writes of this worker the service did not acknowledge.
                    let mut unacknowledged = std::collections::HashSet::new();
                    for n in 0..mine {
                        let (method, path, body, expect) = plan(w, n, &unacknowledged);
                        let sent = Instant::now();
                        let answer = send(&client, addr, method, &path, body.clone()).await;
                        let done = answered.fetch_add(1, Ordering::Relaxed) + 1;
                        if done == trigger_at {
                            if let Some(f) = at_share.lock().ok().and_then(|mut f| f.take()) {
                                f();
                            }
                        }
                        let put = (method_is_put(&expect), n / 2);
                        let acknowledged = judge(
                            &mut tally,
                            &began,
                            &path,
                            body,
                            expect,
                            answer,
                            sent.elapsed(),
                        );
                        if put.0 && !acknowledged {
                            unacknowledged.insert(put.1);
                        }
                    }
                    tally
                })
            })
            .collect();
        let mut all = Tally::default();
        for worker in workers {
            match worker.await {
                Ok(tally) => all.absorb(tally),
                Err(e) => all.fail(format!("a load worker died: {e}")),
            }
        }
        all.elapsed = started.elapsed();
        all
    }

    /// Request `n` of worker `w`: a write of a key of its own, its read back, and every
    /// tenth a gather over its last keys and a read of a key nobody wrote.
    fn plan(
        w: usize,
        n: usize,
        unacknowledged: &std::collections::HashSet<usize>,
    ) -> (Method, String, Option<String>, Expect) {
        let key = |i: usize| format!("w{w}-k{i}");
        let value = |i: usize| format!("v{w}-{i}");
        let i = n / 2;
        match (n % 20, n % 2) {
            (19, _) if i >= 2 => {
                let pairs: Vec<_> = [i - 2, i - 1]
                    .into_iter()
                    .map(|j| (key(j), value(j), unacknowledged.contains(&j)))
                    .collect();
                let path = format!("/many?keys={},{}", pairs[0].0, pairs[1].0);
                (Method::GET, path, None, Expect::Lines(pairs))
            }
            (9, _) => (
                Method::GET,
                format!("/kv/w{w}-never-{n}"),
                None,
                Expect::Status(404),
            ),
            (_, 0) => (
                Method::PUT,
                format!("/kv/{}", key(i)),
                Some(value(i)),
                Expect::Status(201),
            ),
            _ => {
                let read = Expect::Value(value(i), unacknowledged.contains(&i));
                (Method::GET, format!("/kv/{}", key(i)), None, read)
            }
        }
    }

    fn method_is_put(expect: &Expect) -> bool {
        matches!(expect, Expect::Status(201))
    }

    type Answer = Result<(u16, String), String>;

    async fn send(
        client: &Client<HttpConnector, Full<Bytes>>,
        addr: SocketAddr,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| format!("bad request {path}: {e}"))?;
        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{e:?}"))?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        };
        match tokio::time::timeout(REQUEST_LIMIT, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {REQUEST_LIMIT:?}")),
        }
    }

    /// Counts the answer; `true` when it is a correct 2xx (for a write: acknowledged).
    fn judge(
        tally: &mut Tally,
        began: &ShutdownBegan,
        path: &str,
        body: Option<String>,
        expect: Expect,
        answer: Answer,
        took: Duration,
    ) -> bool {
        let (status, text) = match answer {
            Ok(answer) => answer,
            Err(_) if began.now() => {
                tally.refused += 1;
                return false;
            }
            Err(why) => {
                tally.fail(format!("{path}: {why} before the shutdown began"));
                return false;
            }
        };
        if status == 503 {
            tally.refused += 1;
            return false;
        }
        if !expect.holds(status, &text) {
            tally.fail(format!("{path}: got {status} {text:?}"));
            return false;
        }
        tally.ok += 1;
        tally.latencies.push(took);
        if let (Some(value), true) = (body, method_is_put(&expect)) {
            if let Some(key) = path.strip_prefix("/kv/") {
                tally.acknowledged.push((key.to_owned(), value));
            }
        }
        true
    }
}

/// A service started on `127.0.0.1:0` in a task of its own.
struct Running {
    addr: SocketAddr,
    /// Set by the shutdown signal.
    began: ShutdownBegan,
    /// Stops the server as a signal would (`--compare`).
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_service<S: Store>(store: S) -> Result<Running, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("no address: {e}"))?;
    let began = ShutdownBegan::default();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(serve(listener, store, began.clone(), stopped));
    Ok(Running {
        addr,
        began,
        stop,
        server,
    })
}

fn start_pool() -> Result<PoolStore, String> {
    PoolStore::start().map_err(|e| format!("cannot start the pool: {e}"))
}

/// `--check`, first: an overloaded shard sheds load. On a store of one shard bounded
/// at one call, the shard is held busy and its one place taken; a request then gets
/// 503 with `Retry-After` at once (the refused call never runs), and once the shard is
/// free the same request is served.
async fn check_overload() -> Result<(), String> {
    let store = PoolStore::with(1, 1).map_err(|e| format!("cannot start the pool: {e}"))?;
    let running = start_service(store.clone()).await?;
    let lp = store.pool().loop_at(0).map_err(|e| e.to_string())?.clone();
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let (started, running_now) = tokio::sync::oneshot::channel::<()>();
    let busy = pulsar_async::run_in_loop(&lp, move || {
        let _ = started.send(());
        let _ = hold.recv_timeout(Duration::from_secs(10));
    });
    let _ = tokio::time::timeout(Duration::from_secs(10), running_now).await;
    let queued = pulsar_async::run_in_loop(&lp, || ()); // the one place
    let shed = raw_get(running.addr, "/kv/overload").await?;
    let _ = release.send(());
    let _ = busy.await;
    let _ = queued.await;
    let served = raw_get(running.addr, "/kv/overload").await?;
    let _ = running.stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), running.server).await;
    store.pool().close();
    let (shed_status, served_status) = (status_of(&shed), status_of(&served));
    println!(
        "overload: a full shard answers {shed_status} ({}), then {served_status} once free; {} refused",
        if shed.to_ascii_lowercase().contains("retry-after: 1") { "Retry-After: 1" } else { "no Retry-After" },
        lp.metrics().calls_refused,
    );
    if shed_status != 503 || !shed.to_ascii_lowercase().contains("retry-after: 1") {
        return Err(format!("a full shard answered:\n{shed}"));
    }
    if served_status != 404 {
        return Err(format!("a free shard answered:\n{served}"));
    }
    Ok(())
}

/// One `GET` over a fresh connection; the whole response as text.
async fn raw_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nhost: check\r\nconnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        conn.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    match tokio::time::timeout(Duration::from_secs(10), exchange).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(format!("GET {path}: {e}")),
        Err(_) => Err(format!("GET {path}: no answer within 10 s")),
    }
}

/// The status code of a raw HTTP response (0 if there is none).
fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// `--check`: load, SIGTERM with requests in flight, verify, drain.
async fn check() -> Result<(), String> {
    check_overload().await?;
    let store = start_pool()?;
    // `_stop` is held to the end: only the signal stops this server.
    let Running {
        addr,
        began,
        stop: _stop,
        server,
    } = start_service(store.clone()).await?;
    println!("service on http://{addr}: {REQUESTS} requests over {CONNECTIONS} connections; SIGTERM at {:.0}%", SIGNAL_AT * 100.0);
    let mut tally = load::run(
        addr,
        REQUESTS,
        CONNECTIONS,
        began.clone(),
        SIGNAL_AT,
        send_sigterm,
    )
    .await;
    match tokio::time::timeout(Duration::from_secs(30), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(format!("the server failed: {e}")),
        Ok(Err(e)) => return Err(format!("the server task died: {e}")),
        Err(_) => return Err("the server did not stop within 30 s of SIGTERM".into()),
    }
    if !began.now() {
        return Err("the load ended before SIGTERM stopped the server".into());
    }

    // Every acknowledged write is in its shard, read straight from the pool before it
    // drains.
    let lost = read_back(&store, &tally.acknowledged).await?;

    // The HTTP server has stopped; the pool's loops drain what they still hold.
    println!("drain reports:");
    let drained = drain(&store)
        .await
        .map_err(|e| format!("the drain failed: {e}"))?;

    let (p50, p99) = (tally.quantile(0.5), tally.quantile(0.99));
    println!(
        "{:.0} requests/s answered; latency p50 {} us, p99 {} us",
        tally.per_second(),
        p50.as_micros(),
        p99.as_micros()
    );
    println!(
        "requests: {} ok, {} refused, {} failed, {} lost; shutdown drained in {} ms",
        tally.ok,
        tally.refused,
        tally.failed,
        lost,
        drained.as_millis()
    );
    for why in &tally.first_failures {
        eprintln!("  failed: {why}");
    }
    if tally.ok == 0 {
        return Err("no request was answered before the shutdown".into());
    }
    let answered = tally.ok + tally.refused + tally.failed;
    if tally.failed > 0 || lost > 0 || answered != REQUESTS {
        return Err(format!(
            "{} failed, {lost} lost, {answered} of {REQUESTS} answered",
            tally.failed
        ));
    }
    if drained >= DRAIN_DEADLINE {
        return Err(format!(
            "the drain took {drained:?}, past its {DRAIN_DEADLINE:?} deadline"
        ));
    }
    Ok(())
}

/// How many acknowledged writes are missing or wrong in their shards.
async fn read_back(store: &PoolStore, writes: &[(String, String)]) -> Result<usize, String> {
    let reads: Vec<_> = writes
        .iter()
        .map(|(key, _)| store.get(key.clone()))
        .collect();
    let mut lost = 0;
    for ((key, want), read) in writes.iter().zip(reads) {
        match read.await {
            Ok(got) if got == *want => {}
            Ok(got) => {
                eprintln!("  lost: {key} reads {got:?}, acknowledged as {want:?}");
                lost += 1;
            }
            Err(e) => {
                eprintln!("  lost: {key}: {e}");
                lost += 1;
            }
        }
    }
    Ok(lost)
}

/// SIGTERM to this process, by the `kill` command (no `unsafe` for a signal).
fn send_sigterm() {
    let pid = std::process::id().to_string();
    if let Err(e) = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
    {
        eprintln!("service: cannot send SIGTERM: {e}");
    }
}

/// `--compare`: the same load against this service and the plain tokio one.
async fn compare() -> Result<(), String> {
    println!("{REQUESTS} requests over {CONNECTIONS} connections, each service in turn");
    let store = start_pool()?;
    let mut pool = load_then_stop(start_service(store.clone()).await?).await;
    drain(&store)
        .await
        .map_err(|e| format!("the drain failed: {e}"))?;

    let actors = plain_tokio::Actors::start();
    let mut actor = load_then_stop(start_service(actors).await?).await;

    println!("| service | requests/s | p50 | p99 | failed |");
    println!("|---|---|---|---|---|");
    for (name, tally) in [
        ("plain tokio: an actor task per shard", &mut actor),
        ("pulsar-async: PoolLocal::call_keyed", &mut pool),
    ] {
        let (p50, p99) = (tally.quantile(0.5), tally.quantile(0.99));
        println!(
            "| {name} | {:.0} | {} us | {} us | {} |",
            tally.per_second(),
            p50.as_micros(),
            p99.as_micros(),
            tally.failed
        );
    }
    println!(
        "pool / actor time per request: {:.2}x",
        actor.per_second() / pool.per_second().max(1e-9)
    );
    if pool.failed + actor.failed > 0 {
        return Err("requests failed".into());
    }
    Ok(())
}

/// `--compare`'s load on one service, without a signal; then the server is stopped.
async fn load_then_stop(service: Running) -> load::Tally {
    let tally = load::run(
        service.addr,
        REQUESTS,
        CONNECTIONS,
        service.began,
        1.0,
        || {},
    )
    .await;
    let _ = service.stop.send(());
    let _ = service.server.await;
    tally
}

/// The same store written the plain tokio way, for `--compare`: a task per shard on
/// the service's own runtime, owning its map, fed by `mpsc` and answering by `oneshot`.
mod plain_tokio {
    use super::*;
    use std::hash::{BuildHasher, RandomState};
    use tokio::sync::{mpsc, oneshot};

    enum Message {
        Put(String, String, oneshot::Sender<bool>),
        Get(String, oneshot::Sender<Option<String>>),
        Delete(String, oneshot::Sender<bool>),
    }

    #[derive(Clone)]
    pub struct Actors {
        shards: Arc<[mpsc::Sender<Message>]>,
        hash: RandomState,
    }

    fn gone() -> Error {
        Error::new(ErrorKind::LoopClosed, "the shard's actor is gone")
    }

    impl Actors {
        pub fn start() -> Actors {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let shards = (0..cores)
                .map(|_| {
                    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE_CAPACITY);
                    tokio::spawn(async move {
                        let mut entries = HashMap::<String, String>::new();
                        while let Some(m) = rx.recv().await {
                            match m {
                                Message::Put(k, v, r) => {
                                    let _ = r.send(entries.insert(k, v).is_none());
                                }
                                Message::Get(k, r) => {
                                    let _ = r.send(entries.get(&k).cloned());
                                }
                                Message::Delete(k, r) => {
                                    let _ = r.send(entries.remove(&k).is_some());
                                }
                            }
                        }
                    });
                    tx
                })
                .collect();
            Actors {
                shards,
                hash: RandomState::new(),
            }
        }

        async fn ask<T>(
            &self,
            key: &str,
            m: impl FnOnce(oneshot::Sender<T>) -> Message,
        ) -> Result<T, Error> {
            let shard = &self.shards[self.hash.hash_one(key) as usize % self.shards.len()];
            let (tx, rx) = oneshot::channel();
            shard.send(m(tx)).await.map_err(|_| gone())?;
            rx.await.map_err(|_| gone())
        }
    }

    impl Store for Actors {
        async fn put(&self, key: String, value: String) -> Result<bool, Error> {
            self.ask(&key.clone(), |r| Message::Put(key, value, r))
                .await
        }

        async fn get(&self, key: String) -> Result<String, Error> {
            match self
                .ask(&key.clone(), |r| Message::Get(key.clone(), r))
                .await?
            {
                Some(value) => Ok(value),
                None => Err(Error::user(StoreError::NotFound { key })),
            }
        }

        async fn delete(&self, key: String) -> Result<(), Error> {
            match self
                .ask(&key.clone(), |r| Message::Delete(key.clone(), r))
                .await?
            {
                true => Ok(()),
                false => Err(Error::user(StoreError::NotFound { key })),
            }
        }

        async fn many(&self, keys: Vec<String>) -> Result<HashMap<String, Option<String>>, Error> {
            let mut found = HashMap::new();
            for key in keys {
                let value = self
                    .ask(&key.clone(), |r| Message::Get(key.clone(), r))
                    .await?;
                found.insert(key, value);
            }
            Ok(found)
        }

        fn metrics(&self) -> String {
            format!("{} actors\n", self.shards.len())
        }

        async fn panic(&self) -> Result<(), Error> {
            Err(Error::new(
                ErrorKind::Panicked,
                "not served by the plain tokio store",
            ))
        }
    }
}
