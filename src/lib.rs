//! # pulsar-async
//!
//! The asynchronous API of the [Pulsar](https://github.com/quantmind/pulsar) framework,
//! brought to Rust on tokio: event-loop threads you can call into from anywhere,
//! `!Send` state kept on its own loop, promise-style futures, and helpers to chain
//! and gather them.
//!
//! - [`EventLoop`]: a tokio current-thread runtime plus a local task set, on a thread
//!   of its own or driven by its caller; its handle is `Clone + Send + Sync`.
//! - [`Promise`]: asyncio's future, settable and awaitable from any thread and any
//!   executor, with cancellation, done-callbacks and a blocking [`Promise::wait`].
//! - [`run_in_loop`]: run a callable on a loop's thread from any thread, get a
//!   promise back at once.
//! - [`maybe_async`] / [`MaybeAsync`]: a value ready now or promised, handled alike.
//! - [`chain_future`]: callbacks and errbacks on a promise, flattening promises.
//! - [`multi_async`] / [`MultiFuture`]: one future over many values, the same shape
//!   in and out (`Vec`, arrays, maps), counted per input so any number is cheap; a
//!   failure names its key ([`multi::KeyedError`]); [`multi::as_completed`] gives the
//!   same inputs as a stream of `(key, result)` in the order they finish.
//! - [`Bench`]: call an async function many times at once; time taken, latency
//!   percentiles, throughput, as a table.
//! - [`async_while`](fn@async_while): the asynchronous `while clause():`, with a growing interval and
//!   a timeout: it resolves by the deadline, except when an async clause's first
//!   evaluation is still running then (that one is awaited to its end);
//!   [`poll_until`] polls the same way until a clause gives `Some(value)` or
//!   `Ok(value)`, and resolves to it or to a timeout error by the deadline (every
//!   async evaluation, the first included, is cut there at its await point; a clause
//!   that blocks the thread is not cut while it blocks).
//! - [`AsyncObject`] and [`task`]: objects bound to a loop, whose `#[task]` methods
//!   run there whichever thread calls them; a [`Logger`](object::Logger) on `tracing`
//!   per object.
//! - [`LoopLocal`]: `!Send` state that lives on one loop's thread, reached from any
//!   thread by a `Clone + Send + Sync` handle (the actor pattern in a closure per call).
//! - [`LoopPool`]: N loops on N threads; calls by load, by key or by index, and one
//!   value of state per loop ([`pool::PoolLocal`]); [`event_loop::LoopMetrics`] tells
//!   what each loop is doing.
//! - [`Error`]: one error type with [`ErrorKind`]s to match on.
//!
//! The root holds the seed's names and the main types; the machinery behind them is in
//! public modules named for their concept: [`event_loop::Builder`],
//! [`promise::Take`], [`error::SetError`], [`maybe::IntoMaybeAsync`],
//! [`chain::Chain`], [`gather::Gather`], [`multi::KeyedError`] and
//! [`multi::AsCompleted`], [`async_while::Truthy`] and the other clause
//! types, [`bench::Builder`] and [`bench::CallError`], [`object::Logger`].
//!
//! The [`guide`] says the rules the crate holds to, with examples: how a loop is fair
//! and how every loop ends, the one rule for `Result`, which input of a gather
//! failed, state on a loop and a pool of loops, benchmarks, debug mode, reliability.
//!
//! # A tour
//!
//! ```
//! use pulsar_async::{chain_future, run_in_loop, run_in_loop_async, ErrorKind, EventLoop};
//! use std::{cell::RefCell, rc::Rc};
//!
//! // A loop on a thread of its own, holding `!Send` state.
//! let lp = EventLoop::builder().name("state").spawn().unwrap();
//! thread_local!(static LOG: Rc<RefCell<Vec<String>>> = Rc::default());
//!
//! // Any thread calls into it and gets a promise at once.
//! let workers: Vec<_> = (0..4)
//!     .map(|i| {
//!         let lp = lp.clone();
//!         std::thread::spawn(move || {
//!             run_in_loop(&lp, move || LOG.with(|l| l.borrow_mut().push(format!("w{i}"))))
//!                 .wait()
//!         })
//!     })
//!     .collect();
//! for w in workers {
//!     w.join().unwrap().unwrap();
//! }
//! let len = run_in_loop(&lp, || LOG.with(|l| l.borrow().len()));
//! assert_eq!(len.wait().unwrap(), 4);
//!
//! // Futures made on the loop may be `!Send`; panics become errors, the loop survives.
//! let doubled = run_in_loop_async(&lp, || async { 21 * 2 });
//! let boom = run_in_loop(&lp, || -> u8 { panic!("boom") });
//! assert_eq!(doubled.wait().unwrap(), 42);
//! assert_eq!(boom.wait().unwrap_err().kind(), ErrorKind::Panicked);
//!
//! // Chains run a callback on the outcome.
//! let next = chain_future(doubled).callback(|v: i32| Ok(v + 1)).start();
//! assert_eq!(next.wait().unwrap(), 43);
//!
//! // Dropping the last handle closes the loop and waits for its thread to exit.
//! drop(lp);
//! ```
//!
//! # One rule for `Result`
//!
//! At every entry point that runs user code, an `Err` the code returns fails the
//! promise with that error, as [`Error::user`] carries it: kind
//! [`ErrorKind::User`], the error itself reachable with [`Error::downcast_ref`],
//! printed once (an [`Error`] of this crate keeps its own kind). The caller gets the
//! `Ok` value, with one `?`. Where the entry point sees the `Result`, that is what it
//! does; where a generic closure or future could return anything (Rust on stable
//! cannot tell a `Result` apart from any `T` there), the entry point comes in two
//! forms, and the `try_` one (or `flatten_result`) is the one that follows the rule:
//!
//! | entry point | an `Err` fails the promise | the raw `Result`, when asked for |
//! |---|---|---|
//! | [`#[task]`](task) on a fn returning `Result<T, E>`, `io::Result<T>`, `anyhow::Result<T>` (any path ending in `Result`) | `Promise<T>` | `#[task(raw)]`: `Promise<Result<T, E>>` |
//! | a callable on a loop | [`try_run_in_loop`], [`try_run_in_loop_async`] | [`run_in_loop`], [`run_in_loop_async`] |
//! | a call on loop-local state | [`LoopLocal::try_call`] | [`LoopLocal::call`] |
//! | a future on loop-local state | [`LoopLocal::try_call_async`] | [`LoopLocal::call_async`] |
//! | a callable on a pool's loop: a key's, any | [`LoopPool::try_run_keyed`], [`LoopPool::try_run_any`] | [`LoopPool::run_keyed`], [`LoopPool::run_any`] |
//! | a future on a pool's loop: a key's, any | [`LoopPool::try_run_keyed_async`], [`LoopPool::try_run_any_async`] | [`LoopPool::run_keyed_async`], [`LoopPool::run_any_async`] |
//! | a call on a pool's state: a key's, any loop's, loop `i`'s | [`PoolLocal::try_call_keyed`](pool::PoolLocal::try_call_keyed), [`try_call_any`](pool::PoolLocal::try_call_any), [`try_call_at`](pool::PoolLocal::try_call_at) | [`call_keyed`](pool::PoolLocal::call_keyed), [`call_any`](pool::PoolLocal::call_any), [`call_at`](pool::PoolLocal::call_at) |
//! | a future on a pool's state: a key's, any loop's | [`PoolLocal::try_call_async_keyed`](pool::PoolLocal::try_call_async_keyed), [`try_call_async_any`](pool::PoolLocal::try_call_async_any) | [`call_async_keyed`](pool::PoolLocal::call_async_keyed), [`call_async_any`](pool::PoolLocal::call_async_any) |
//! | a call on every loop's state | [`PoolLocal::try_broadcast`](pool::PoolLocal::try_broadcast): the first `Err` fails it, naming the loop | [`PoolLocal::broadcast`](pool::PoolLocal::broadcast) |
//! | a future | [`maybe_async(f).flatten_result()`](MaybeAsync::flatten_result), the same after [`maybe_async_in`] | [`maybe_async`], [`maybe_async_in`] |
//! | [`Bench`] calls | always: the bench fails, its error carries a [`bench::CallError`] with the call's index and error | — |
//! | a gather ([`multi_async`]) | the first `Err` fails it, its error carries a [`multi::KeyedError`] with the key | [`multi_async_settled`] keeps each outcome in its slot |
//!
//! New entry points follow the same rule (`ARCHITECTURE.md`, "One rule for
//! `Result`"); `tests/api_result_rule.rs` holds a test per entry point.
//!
//! ```
//! use pulsar_async::{maybe_async_in, task, try_run_in_loop, AsyncObject, EventLoop};
//!
//! #[derive(Clone)]
//! struct Files(EventLoop);
//! impl AsyncObject for Files {
//!     fn event_loop(&self) -> Option<&EventLoop> { Some(&self.0) }
//! }
//! impl Files {
//!     #[task]
//!     fn read(&self, path: String) -> std::io::Result<Vec<u8>> {
//!         std::fs::read(path)
//!     }
//! }
//!
//! # fn main() -> Result<(), pulsar_async::Error> {
//! let lp = EventLoop::new()?;
//! let files = Files(lp.clone());
//! let err = files.read("/definitely/not/here".into()).wait().unwrap_err(); // Promise<Vec<u8>>
//! assert!(err.downcast_ref::<std::io::Error>().is_some());
//! let port: u16 = try_run_in_loop(&lp, || "8080".parse::<u16>()).wait()?; // one `?`
//! let len = maybe_async_in(&lp, async { "abc".parse::<u8>() }).flatten_result().into_promise().wait();
//! assert_eq!((port, len.is_err()), (8080, true));
//! # Ok(())
//! # }
//! ```
//!
//! # Gathering and benchmarking
//!
//! ```
//! use pulsar_async::{multi_async, multi_async_settled, run_in_loop, Bench, Error, EventLoop};
//! use std::collections::HashMap;
//!
//! let lp = EventLoop::new().unwrap();
//!
//! // Promises of any loop or thread, gathered into the same shape they came in.
//! let prices = HashMap::from([("tea", run_in_loop(&lp, || 3)), ("cake", run_in_loop(&lp, || 5))]);
//! let prices = multi_async(prices).wait().unwrap();
//! assert_eq!(prices["cake"], 5);
//!
//! // Without raise-on-error, failures stay in their slots and are listed by key.
//! let mixed = multi_async_settled(vec![Ok(1), Err(Error::user("sold out"))]);
//! assert_eq!(mixed.failures()[0].0, 1);
//! assert!(mixed.wait().unwrap()[1].is_err());
//!
//! // A bench of 1000 calls on the loop, all started at once.
//! let bench = Bench::builder(1000).spawn(&lp, |i| async move { Ok::<_, Error>(i % 7) });
//! let bench = bench.wait().unwrap();
//! assert_eq!(bench.results().len(), 1000);
//! println!("{bench}");
//! ```
//!
//! # Async objects
//!
//! ```
//! use pulsar_async::{async_while, task, AsyncObject, EventLoop};
//! use std::sync::{atomic::{AtomicU32, Ordering}, Arc};
//! use std::time::Duration;
//!
//! #[derive(Clone)]
//! struct Jobs {
//!     lp: EventLoop,
//!     left: Arc<AtomicU32>,
//! }
//!
//! impl AsyncObject for Jobs {
//!     fn event_loop(&self) -> Option<&EventLoop> {
//!         Some(&self.lp)
//!     }
//! }
//!
//! impl Jobs {
//!     /// Waits, on the object's loop, while jobs are left; `true` if it timed out.
//!     #[task]
//!     async fn drain(&self, timeout: Duration) -> bool {
//!         let left = self.left.clone();
//!         async_while(timeout, move || left.fetch_sub(1, Ordering::SeqCst) > 1)
//!             .first_interval(Duration::from_millis(1))
//!             .await
//!     }
//! }
//!
//! let jobs = Jobs { lp: EventLoop::new().unwrap(), left: Arc::new(AtomicU32::new(3)) };
//! // Called from this thread, run on the loop; the promise comes back at once.
//! let timed_out = jobs.drain(Duration::from_secs(5));
//! assert!(!timed_out.wait().unwrap());
//! jobs.logger().in_scope(|| tracing::info!("drained")); // tagged with the loop's name
//! ```
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

// The ground floor: what every other room builds on.
mod bounds;
mod debug;
pub mod error;
mod loom;
mod panic;
mod ready;
mod schedule;
mod time;

// The promise.
pub mod promise;

// Values: ready now or promised, chained, gathered, waited for.
pub mod async_while;
pub mod chain;
pub mod gather;
pub mod maybe;
pub mod multi;

// The loop.
pub mod event_loop;

// On top: handing work to loops, objects bound to them, benchmarks.
pub mod bench;
pub mod local;
pub mod object;
pub mod pool;
mod run;
mod task;
mod test_attr;

pub use async_while::{async_while, poll_until};
pub use bench::Bench;
pub use chain::chain_future;
pub use error::{Error, ErrorKind};
pub use event_loop::EventLoop;
pub use local::LoopLocal;
pub use maybe::MaybeAsync;
pub use multi::{multi_async, multi_async_settled, MultiFuture};
pub use object::AsyncObject;
pub use pool::LoopPool;
pub use promise::Promise;
/// Runs a function, or a method of an [`AsyncObject`], on an event loop, from any
/// thread, and returns a [`Promise`] of its result: Pulsar's "thread-safe decorator
/// to run a function in an event loop".
///
/// The function may be a plain `fn` or an `async fn`; a function returning `T`
/// becomes one returning `Promise<T>`. A panic in it becomes the promise's
/// `Panicked` error, and the loop goes on.
///
/// **Which loop.** On a method (`&self` or `self`) of a type implementing
/// [`AsyncObject`], the object's [`event_loop`](AsyncObject::event_loop); on a
/// function without `self`, or when the object has no loop, the caller's current
/// loop ([`EventLoop::current`]).
/// Without any, the promise fails with `WrongThread`.
///
/// **How the call gets there.**
/// - The loop is a caller-driven loop of this thread that is not running: the call
///   runs it until the call completes
///   ([`run_until_complete`](EventLoop::run_until_complete)), and the promise comes
///   back already settled.
/// - Otherwise, the loop's own running thread included: the call is queued on the
///   loop, as [`run_in_loop`] does (Pulsar wraps it in a Task), so it runs after the
///   caller returns, never inside the caller's own borrows; the promise is settled
///   there.
///
/// **What it can wrap.** The call may run on another thread, later, so everything
/// it takes must travel there:
/// - `self: &Arc<Self>` methods clone the `Arc` into the call, never the object:
///   `Self: AsyncObject + Send + Sync + 'static`; `self: Arc<Self>` methods move the
///   `Arc`;
/// - `&self` methods clone the object into the call: `Self: AsyncObject + Clone +
///   Send + 'static`; `self` methods move it: `Self: AsyncObject + Send + 'static`;
///
/// **What a call costs.** A call makes one allocation for the call and its promise,
/// plus whatever the receiver costs to move: an `Arc` receiver one atomic increment;
/// `&self` a full `Clone` of the object, so a `&self` method on an object holding a
/// large `Vec` copies the `Vec` on every call (`tests/task_decorator.rs`: 100 calls, 100 copies;
/// with `self: &Arc<Self>`, none). For `&self`, keep the object cheap to clone: shared
/// state behind an `Arc`, or state on the loop in a [`LoopLocal`] (a handle: two
/// atomic increments to clone, and the state may be `!Send`), which the body reaches
/// at once with [`LoopLocal::with`], since it runs on the loop's thread.
///
/// More rules:
/// - arguments must be `Send + 'static` (no borrowed `&str`: take a `String`);
/// - the result must be `Send + 'static`;
/// - `&mut self`, other `self: Type` receivers, generic, `const`, `unsafe` and `extern` functions are
///   refused with a compile error;
/// - a function without `self` runs its body in a nested function, so it cannot name
///   `Self`; `#[task]` goes on inherent methods (not on trait impls, whose signature
///   it would change).
///
/// The body itself runs on the loop's thread, so inside an `async fn` it may hold
/// `!Send` values across `.await`.
///
/// **A `Result` return type** follows the crate's [one rule for
/// `Result`](crate#one-rule-for-result): a function returning `Result<T, E>` (any
/// path whose last segment is `Result`: `io::Result<T>`, `anyhow::Result<T>`, an alias
/// of your own) gives a `Promise<T>`, and an `Err` fails it with that error
/// ([`Error::user`]). `E` must convert into `Box<dyn Error + Send + Sync>`; a type
/// named `Result` that is not one is a compile error that says so.
/// `#[task(raw)]` keeps the `Result` as the promise's value instead:
/// `Promise<Result<T, E>>`.
///
/// `#[task(crate = path::to::pulsar_async)]` names the crate when it is re-exported
/// under another path (`#[task(raw, crate = ...)]` for both).
///
/// # Examples
///
/// ```
/// use pulsar_async::{task, AsyncObject, EventLoop};
/// use std::sync::{Arc, Mutex};
///
/// #[derive(Clone)]
/// struct Counter {
///     lp: EventLoop,
///     hits: Arc<Mutex<u32>>,
/// }
///
/// impl AsyncObject for Counter {
///     fn event_loop(&self) -> Option<&EventLoop> {
///         Some(&self.lp)
///     }
/// }
///
/// impl Counter {
///     /// Adds `n`; always runs on the counter's loop.
///     #[task]
///     fn add(&self, n: u32) -> (u32, String) {
///         let mut hits = self.hits.lock().unwrap();
///         *hits += n;
///         (*hits, std::thread::current().name().unwrap_or("?").to_owned())
///     }
///
///     /// An async method: its future runs on the loop too, so it may hold `!Send`
///     /// values across `.await`.
///     #[task]
///     async fn total(&self) -> u32 {
///         let local = std::rc::Rc::new(*self.hits.lock().unwrap());
///         pulsar_async::Promise::resolved(()).await.unwrap();
///         *local
///     }
/// }
///
/// let lp = EventLoop::builder().name("counter").spawn().unwrap();
/// let counter = Counter { lp, hits: Arc::default() };
/// // Called from this thread, run on the loop's.
/// let (total, thread) = counter.add(2).wait().unwrap();
/// assert_eq!((total, thread.as_str()), (2, "counter"));
/// assert_eq!(counter.total().wait().unwrap(), 2);
/// ```
///
/// A function without `self` runs on the current loop; on a caller-driven loop
/// that is not running, it runs the loop and comes back settled:
///
/// ```
/// use pulsar_async::{task, EventLoop};
///
/// #[task]
/// async fn double(x: u64) -> u64 {
///     let half = pulsar_async::Promise::resolved(x);
///     half.await.unwrap() * 2
/// }
///
/// let lp = EventLoop::builder().build_driven().unwrap();
/// let p = double(21);
/// assert!(p.is_done());
/// assert_eq!(p.try_result().unwrap(), 42);
/// # drop(lp);
/// ```
///
pub use pulsar_async_macros::task;
pub use run::{
    maybe_async, maybe_async_in, run_in_loop, run_in_loop_async, try_run_in_loop,
    try_run_in_loop_async,
};

#[doc(hidden)]
pub use task::private as __private;
#[doc(hidden)]
pub use test_attr::runtime as __test;

/// Runs an `async fn` test on a fresh caller-driven [`EventLoop`] of the test's
/// thread: `#[tokio::test]` for this crate's loops.
///
/// The body runs as [`run_until_complete`](EventLoop::run_until_complete) runs it,
/// so `!Send` state, [`EventLoop::spawn_local`] and [`EventLoop::current`] work in
/// it, and so does everything of tokio (timers, I/O, `tokio::spawn`). The body may
/// return a `Result` (the test fails on `Err`, as a `#[test]` does). When the test
/// ends, passed or failed (a panic included), its loop is closed: what it still had
/// queued or running is dropped there, and nothing of it reaches the next test.
///
/// Options, comma-separated:
/// - `start_paused = true`: the loop runs on tokio's paused clock
///   ([`Builder::start_paused`](event_loop::Builder::start_paused)); needs this
///   crate's `test-util` feature (without it, a compile error says so);
/// - `name = ".."`: the loop's name (the test's name by default).
///
/// Other attributes (`#[ignore]`, `#[should_panic]`) stay on the test.
///
/// # Examples
///
/// ```
/// // (A doctest compiles `#[test]` functions out: the tests below are shown, and
/// // `tests/macro_test_attribute.rs` runs the same.)
/// #[pulsar_async::test]
/// async fn the_body_runs_on_a_loop_of_this_thread() {
///     let lp = pulsar_async::EventLoop::current().expect("the test's loop");
///     let local = std::rc::Rc::new(20); // `!Send` state is fine
///     let task = lp.spawn_local({ let local = local.clone(); async move { *local + 1 } });
///     assert_eq!(task.await.unwrap(), 21);
/// }
///
/// #[pulsar_async::test(name = "parser")]
/// async fn a_body_may_return_a_result() -> Result<(), pulsar_async::Error> {
///     let v = pulsar_async::Promise::resolved(2).await?;
///     assert_eq!(v, 2);
///     Ok(())
/// }
/// # fn main() {}
/// ```
pub use pulsar_async_macros::test;

#[doc = include_str!("guide.md")]
pub mod guide {}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The "coming from tokio" page's snippets, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../COMING_FROM_TOKIO.md")]
pub struct ComingFromTokioDoctests;
