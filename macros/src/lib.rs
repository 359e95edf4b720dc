//! The `#[task]` attribute of [`pulsar-async`](https://docs.rs/pulsar-async); use it
//! as `pulsar_async::task`.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

use proc_macro::TokenStream;

mod task;

/// Runs a function, or a method of an [`AsyncObject`], on an event loop, from any
/// thread, and returns a [`Promise`] of its result: Pulsar's "thread-safe decorator
/// to run a function in an event loop".
///
/// The function may be a plain `fn` or an `async fn`; a function returning `T`
/// becomes one returning `Promise<T>`. A panic in it becomes the promise's
/// `Panicked` error, and the loop goes on.
///
/// **Which loop.** On a method (`&self` or `self`) of a type implementing
/// [`AsyncObject`], the object's [`event_loop`]; on a function without `self`, or
/// when the object has no loop, the caller's current loop ([`EventLoop::current`]).
/// Without any, the promise fails with `WrongThread`.
///
/// **How the call gets there.**
/// - The caller is on that loop's thread and the loop is running: a plain `fn` runs
///   at once; an `async fn` is spawned as a task on the loop (it starts at the
///   loop's next turn).
/// - The loop is a caller-driven loop of this thread that is not running: the call
///   runs it until the call completes ([`run_until_complete`]), and the promise comes
///   back already settled.
/// - Otherwise (another thread): through the loop's thread-safe entry, as
///   [`run_in_loop`] does; the promise is settled there.
///
/// **What it can wrap.** The call may run on another thread, later, so everything
/// it takes must travel there:
/// - `&self` methods clone the object into the call: `Self: AsyncObject + Clone +
///   Send + 'static` (keep shared state behind an `Arc`, loop-local state on the loop);
///   `self` methods move it: `Self: AsyncObject + Send + 'static`;
/// - arguments must be `Send + 'static` (no borrowed `&str`: take a `String`);
/// - the result must be `Send + Sync + 'static`;
/// - `&mut self`, `self: Type`, generic, `const`, `unsafe` and `extern` functions are
///   refused with a compile error;
/// - a function without `self` runs its body in a nested function, so it cannot name
///   `Self`; `#[task]` goes on inherent methods (not on trait impls, whose signature
///   it would change).
///
/// The body itself runs on the loop's thread, so inside an `async fn` it may hold
/// `!Send` values across `.await`.
///
/// `#[task(crate = path::to::pulsar_async)]` names the crate when it is re-exported
/// under another path.
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
/// [`AsyncObject`]: https://docs.rs/pulsar-async/latest/pulsar_async/trait.AsyncObject.html
/// [`event_loop`]: https://docs.rs/pulsar-async/latest/pulsar_async/trait.AsyncObject.html#tymethod.event_loop
/// [`Promise`]: https://docs.rs/pulsar-async/latest/pulsar_async/struct.Promise.html
/// [`EventLoop::current`]: https://docs.rs/pulsar-async/latest/pulsar_async/struct.EventLoop.html#method.current
/// [`run_until_complete`]: https://docs.rs/pulsar-async/latest/pulsar_async/struct.EventLoop.html#method.run_until_complete
/// [`run_in_loop`]: https://docs.rs/pulsar-async/latest/pulsar_async/fn.run_in_loop.html
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    task::expand(args.into(), item.into()).into()
}
