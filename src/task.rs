//! The runtime of the [`#[task]`](crate::task) attribute: where a call goes and how it
//! comes back as a [`Promise`]. The macro's expansion calls the functions of
//! [`private`]; they are not a public API.

use std::error::Error as StdError;
use std::future::Future;

use crate::error::{Error, ErrorKind};
use crate::event_loop::EventLoop;
use crate::object::AsyncObject;
use crate::promise::Promise;
use crate::run::{run_in_loop, run_in_loop_async, try_run_in_loop, try_run_in_loop_async};

/// Where a `#[task]` call runs, decided on the caller's thread.
enum Route {
    /// A caller-driven loop of this thread that is not running: run it until the
    /// call completes.
    Drive(EventLoop),
    /// Any other case, the loop's own running thread included: queued on the loop,
    /// so it runs after the caller returns (Pulsar wraps the call in a Task).
    Submit(EventLoop),
}

/// The route to `lp`, or to the current loop when `lp` is `None`.
fn route(lp: Option<EventLoop>) -> Result<Route, Error> {
    let lp = match lp {
        Some(lp) => lp,
        None => EventLoop::current().ok_or_else(|| {
            Error::new(
                ErrorKind::WrongThread,
                "#[task]: no event loop to run on: the object has none and this thread has no current loop",
            )
        })?,
    };
    Ok(
        if lp.is_current_thread() && !lp.is_running() && !lp.owns_thread() {
            Route::Drive(lp)
        } else {
            Route::Submit(lp)
        },
    )
}

/// Runs a plain call on `lp` (the current loop when `None`).
fn call_in<T, F>(lp: Option<EventLoop>, call: F) -> Promise<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match route(lp) {
        // Inside the loop's runtime, so the call may use tokio and the current loop.
        Ok(Route::Drive(lp)) => Promise::settled(lp.run_until_complete(async move { call() })),
        Ok(Route::Submit(lp)) => run_in_loop(&lp, call),
        Err(e) => Promise::failed(e),
    }
}

/// Runs the future made by `make` on `lp` (the current loop when `None`).
fn spawn_in<T, F, Fut>(lp: Option<EventLoop>, make: F) -> Promise<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    match route(lp) {
        Ok(Route::Drive(lp)) => {
            Promise::settled(lp.run_until_complete(async move { make().await }))
        }
        Ok(Route::Submit(lp)) => run_in_loop_async(&lp, make),
        Err(e) => Promise::failed(e),
    }
}

/// What a `#[task]` function returning a `Result` gives: the `Ok` value in the
/// promise, the `Err` as the promise's error ([`Error::user`]: kind `User`, the error
/// reachable with `downcast_ref`; an [`Error`] of this crate keeps its kind). The
/// crate's one rule for `Result`s (see the crate docs, "One rule for `Result`").
#[diagnostic::on_unimplemented(
    message = "`{Self}` is named `Result`, so `#[task]` flattens it into the promise, but it is not a `Result<T, E>` whose `E` converts into `Box<dyn Error + Send + Sync>`",
    label = "flattened because its name is `Result`",
    note = "write `#[task(raw)]` to get a `Promise` of the value as it is, or return a `Result` whose error is a `std::error::Error + Send + Sync + 'static`"
)]
pub trait Fallible {
    /// The `Ok` type.
    type Value;
    /// The value, or the error the promise fails with.
    fn into_outcome(self) -> Result<Self::Value, Error>;
}

impl<T, E> Fallible for Result<T, E>
where
    E: Into<Box<dyn StdError + Send + Sync + 'static>>,
{
    type Value = T;
    #[inline]
    fn into_outcome(self) -> Result<T, Error> {
        self.map_err(Error::user)
    }
}

/// Runs a plain call returning a `Result` on `lp`, its `Err` failing the promise.
fn try_call_in<R, F>(lp: Option<EventLoop>, call: F) -> Promise<R::Value>
where
    F: FnOnce() -> R + Send + 'static,
    R: Fallible + 'static,
    R::Value: Send + 'static,
{
    match route(lp) {
        Ok(Route::Drive(lp)) => Promise::settled(
            lp.run_until_complete(async move { call().into_outcome() })
                .and_then(|outcome| outcome),
        ),
        Ok(Route::Submit(lp)) => try_run_in_loop(&lp, move || call().into_outcome()),
        Err(e) => Promise::failed(e),
    }
}

/// Runs the future made by `make`, whose output is a `Result`, on `lp`, its `Err`
/// failing the promise.
fn try_spawn_in<R, F, Fut>(lp: Option<EventLoop>, make: F) -> Promise<R::Value>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = R> + 'static,
    R: Fallible + 'static,
    R::Value: Send + 'static,
{
    match route(lp) {
        Ok(Route::Drive(lp)) => Promise::settled(
            lp.run_until_complete(async move { make().await.into_outcome() })
                .and_then(|outcome| outcome),
        ),
        Ok(Route::Submit(lp)) => try_run_in_loop_async(&lp, move || {
            let future = make();
            async move { future.await.into_outcome() }
        }),
        Err(e) => Promise::failed(e),
    }
}

/// What the expansion of `#[task]` calls. Not a public API: it may change in any
/// release.
pub mod private {
    use super::*;

    pub use super::Fallible;
    pub use crate::bounds::{TaskArgument, TaskOutput};
    pub use crate::promise::Promise;

    /// The loop of `obj`, cloned so the call can move on.
    pub fn object_loop<S: AsyncObject + ?Sized>(obj: &S) -> Option<EventLoop> {
        obj.event_loop().cloned()
    }

    /// A clone of a `&self` receiver, to move into the call.
    pub fn clone_receiver<S: AsyncObject + Clone + Send + 'static>(obj: &S) -> S {
        obj.clone()
    }

    /// A clone of a `self: &Arc<Self>` receiver's `Arc` (the object is not copied).
    pub fn clone_arc_receiver<S: AsyncObject + Send + Sync + 'static>(
        obj: &std::sync::Arc<S>,
    ) -> std::sync::Arc<S> {
        obj.clone()
    }

    /// Checks a `self: Arc<Self>` receiver.
    pub fn arc_receiver<S: AsyncObject + Send + Sync + 'static>(_: &std::sync::Arc<S>) {}

    /// Checks a `self` receiver taken by value.
    pub fn owned_receiver<S: AsyncObject + Send + 'static>(_: &S) {}

    /// Checks an argument's type: it moves to the loop's thread.
    pub fn argument<T: TaskArgument>() {}

    /// Checks the return type: it is read through a [`Promise`] from any thread.
    pub fn output<T: Send + 'static>() {}

    /// A plain method call on its object's loop (`lp`), else on the current loop.
    pub fn call<T, F>(lp: Option<EventLoop>, call: F) -> Promise<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: TaskOutput,
    {
        call_in(lp, call)
    }

    /// An async method call on its object's loop (`lp`), else on the current loop.
    pub fn spawn<T, F, Fut>(lp: Option<EventLoop>, make: F) -> Promise<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: TaskOutput,
    {
        spawn_in(lp, make)
    }

    /// A plain method returning a `Result`: the promise of its `Ok` value, failed
    /// by its `Err`.
    pub fn try_call<R, F>(lp: Option<EventLoop>, call: F) -> Promise<R::Value>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Fallible + 'static,
        R::Value: TaskOutput,
    {
        try_call_in(lp, call)
    }

    /// An async method returning a `Result`: the promise of its `Ok` value, failed
    /// by its `Err`.
    pub fn try_spawn<R, F, Fut>(lp: Option<EventLoop>, make: F) -> Promise<R::Value>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Fallible + 'static,
        R::Value: TaskOutput,
    {
        try_spawn_in(lp, make)
    }
}
