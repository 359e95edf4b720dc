//! The auto traits (`Send`, `Sync`, `Unpin`) of every public type, asserted both ways:
//! what holds, and what does not when a part does not have it.

use pulsar_async::async_while::{AsyncClause, AsyncWhile, SyncClause};
use pulsar_async::bench::{BenchFuture, CallError, Latency};
use pulsar_async::chain::{Chain, Configured, Fresh, Passthrough, Propagate};
use pulsar_async::error::SetError;
use pulsar_async::object::Logger;
use pulsar_async::promise::AbortOnDrop;
use pulsar_async::promise::{CallbackKey, Setter, Take, WeakPromise};
use pulsar_async::{bench, event_loop};
use pulsar_async::{multi, Bench, Error, ErrorKind, EventLoop, MaybeAsync, MultiFuture, Promise};
use std::cell::Cell;
use std::collections::HashMap;
use std::future::{Future, Ready};
use std::marker::PhantomPinned;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::pin::Pin;
use std::rc::Rc;

/// `$ty` implements every trait listed.
macro_rules! assert_impl {
    ($ty:ty: $($tr:path),+) => {{
        fn check<T: ?Sized $(+ $tr)+>() {}
        check::<$ty>();
    }};
}

/// `$ty` does not implement `$tr`: the probe of `static_assertions`. The call to
/// `some_item` is ambiguous, and does not compile, exactly when `$ty: $tr`.
macro_rules! assert_not_impl {
    ($ty:ty: $tr:path) => {{
        trait AmbiguousIfImpl<A> {
            fn some_item() {}
        }
        impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
        impl<T: ?Sized + $tr> AmbiguousIfImpl<u8> for T {}
        let _ = <$ty as AmbiguousIfImpl<_>>::some_item;
    }};
}

type Local = Rc<u8>;
type SendCall = fn(usize) -> Ready<Result<u8, Error>>;
type LocalFuture = Pin<Box<dyn Future<Output = Result<u8, Error>>>>;
type Chained<T> = Chain<T, T, Passthrough<T>, Propagate<T>, Fresh>;
/// A future that is not `Unpin`, with the output of choice.
type Pinned<O> = futures::future::Map<tokio::time::Sleep, fn(()) -> O>;

#[test]
fn handles_that_cross_threads_are_send_sync_and_unpin() {
    assert_impl!(EventLoop: Send, Sync, Unpin);
    assert_impl!(event_loop::Builder: Send, Sync, Unpin);
    assert_impl!(Promise<u32>: Send, Sync, Unpin);
    assert_impl!(Setter<u32>: Send, Sync, Unpin);
    assert_impl!(WeakPromise<u32>: Send, Sync, Unpin);
    assert_impl!(CallbackKey: Send, Sync, Unpin);
    assert_impl!(Take<Vec<u8>>: Send, Sync, Unpin);
    assert_impl!(AbortOnDrop<Vec<u8>>: Send, Sync, Unpin);
    assert_impl!(MaybeAsync<String>: Send, Sync, Unpin);
    assert_impl!(MultiFuture<Vec<u8>>: Send, Sync, Unpin);
    assert_impl!(MultiFuture<HashMap<String, u8>, String>: Send, Sync, Unpin);
    assert_impl!(multi::AsCompleted<String, u8>: Send, Sync, Unpin);
    assert_impl!(multi::PromiseSet<String>: Send, Sync, Unpin);
    assert_impl!(multi::JoinNext<'static, String>: Send, Sync, Unpin);
    assert_impl!(multi::AsCompleted<PhantomPinned, PhantomPinned>: Unpin);
    assert_impl!(multi::KeyedError<String>: Send, Sync, Unpin);
    assert_impl!(Logger: Send, Sync, Unpin);
    assert_impl!(EventLoop: UnwindSafe, RefUnwindSafe);
    assert_impl!(event_loop::CallHandle: Send, Sync, Unpin);
    assert_impl!(event_loop::Closed: Send, Sync, Unpin);
    assert_impl!(event_loop::ShutdownReport: Send, Sync, Unpin, Copy);
    assert_impl!(event_loop::LoopState: Send, Sync, Unpin, Copy);
    assert_impl!(event_loop::Deadline: Send, Sync, Unpin, Copy);
    assert_impl!(event_loop::ShutdownAsync: Send, Sync, Unpin);
    assert_impl!(pulsar_async::pool::PoolShutdown: Send, Sync, Unpin);
    assert_impl!(pulsar_async::pool::PoolClosed: Send, Sync, Unpin);
    assert_impl!(pulsar_async::bench::Histogram: Send, Sync, Unpin);
    assert_impl!(pulsar_async::bench::Comparison: Send, Sync, Unpin);
}

/// `PollUntil`'s clause type is the caller's closure: asserted on a value.
fn send_sync_unpin<T: Send + Sync + Unpin>(_: &T) {}

#[test]
fn poll_until_of_a_send_sync_clause_is_send_sync_and_unpin() {
    let polling = pulsar_async::poll_until(std::time::Duration::from_millis(1), || Some(1u8));
    send_sync_unpin(&polling);
}

#[test]
fn the_handle_of_a_call_queued_on_the_loops_own_thread_stays_there() {
    assert_not_impl!(event_loop::LocalCallHandle: Send);
    assert_not_impl!(event_loop::LocalCallHandle: Sync);
}

#[test]
fn errors_are_send_sync_and_unpin_and_kinds_are_unwind_safe() {
    assert_impl!(Error: Send, Sync, Unpin);
    assert_impl!(ErrorKind: Send, Sync, Unpin, UnwindSafe, RefUnwindSafe);
    assert_impl!(SetError<u8>: Send, Sync, Unpin);
    assert_impl!(CallError: Send, Sync, Unpin);
}

#[test]
fn promises_of_values_that_cannot_cross_threads_cannot_either() {
    assert_not_impl!(Promise<Local>: Send);
    assert_not_impl!(Promise<Local>: Sync);
    assert_not_impl!(Setter<Local>: Send);
    assert_not_impl!(WeakPromise<Local>: Sync);
    assert_not_impl!(Take<Local>: Send);
    assert_not_impl!(AbortOnDrop<Local>: Send);
    assert_not_impl!(AbortOnDrop<Local>: Sync);
    assert_not_impl!(MaybeAsync<Local>: Send);
    assert_not_impl!(MaybeAsync<Local>: Sync);
    assert_not_impl!(MultiFuture<Vec<Local>>: Send);
    assert_not_impl!(MultiFuture<Vec<Local>>: Sync);
    assert_not_impl!(MultiFuture<Vec<u8>, Local>: Send);
    assert_not_impl!(multi::AsCompleted<u8, Local>: Send);
    assert_not_impl!(multi::AsCompleted<Local, u8>: Send);
    assert_not_impl!(multi::AsCompleted<u8, Local>: Sync);
    assert_not_impl!(multi::PromiseSet<Local>: Send);
    assert_not_impl!(multi::PromiseSet<Local>: Sync);
    assert_not_impl!(multi::JoinNext<'static, Local>: Send);
    assert_not_impl!(SetError<Local>: Send);
    assert_not_impl!(SetError<Cell<u8>>: Sync);
}

#[test]
fn promises_of_values_that_are_send_but_not_sync_are_send_and_sync() {
    // Clones of such a value are made one at a time (under the promise's state word)
    // and the reads that lend `&T` need `T: Sync`, so the handles need only `T: Send`.
    assert_impl!(Promise<Cell<u8>>: Send, Sync);
    assert_impl!(Setter<Cell<u8>>: Send, Sync);
    assert_impl!(Take<Cell<u8>>: Send, Sync);
    assert_impl!(AbortOnDrop<Cell<u8>>: Send, Sync);
    assert_impl!(Promise<Box<dyn std::error::Error + Send>>: Send, Sync);
    assert_impl!(MultiFuture<Vec<Cell<u8>>>: Send, Sync);
}

#[test]
fn promise_futures_are_unpin_whatever_their_value() {
    assert_impl!(Promise<PhantomPinned>: Unpin);
    assert_impl!(Take<PhantomPinned>: Unpin);
    assert_impl!(AbortOnDrop<PhantomPinned>: Unpin);
    assert_impl!(multi::PromiseSet<PhantomPinned>: Unpin);
    assert_impl!(multi::JoinNext<'static, PhantomPinned>: Unpin);
    assert_impl!(MaybeAsync<PhantomPinned>: Unpin);
    assert_impl!(MultiFuture<Vec<PhantomPinned>>: Unpin);
}

#[test]
fn a_chain_is_send_and_sync_exactly_when_its_values_and_callbacks_are() {
    assert_impl!(Chained<u8>: Send, Sync, Unpin);
    assert_impl!(Chain<u8, String, fn(u8) -> Result<String, Error>, Propagate<String>>: Send, Sync, Unpin);
    assert_not_impl!(Chained<Local>: Send);
    assert_not_impl!(Chained<Local>: Sync);
    assert_not_impl!(Chain<u8, u8, Passthrough<u8>, Box<dyn FnOnce(Error) -> Result<u8, Error>>>: Send);
    assert_not_impl!(Chain<u8, u8, Passthrough<u8>, Box<dyn FnOnce(Error) -> Result<u8, Error>>>: Sync);
    assert_impl!(Fresh: Send, Sync, Unpin);
    assert_impl!(Configured: Send, Sync, Unpin);
}

#[test]
fn async_while_is_send_exactly_when_its_clause_and_value_are() {
    assert_impl!(AsyncWhile<fn() -> bool, SyncClause>: Send, Sync, Unpin);
    assert_impl!(AsyncWhile<fn() -> Ready<bool>, AsyncClause>: Send, Sync, Unpin);
    assert_not_impl!(AsyncWhile<fn() -> Option<Local>, SyncClause>: Send);
    assert_not_impl!(AsyncWhile<fn() -> Option<Local>, SyncClause>: Sync);
    assert_not_impl!(AsyncWhile<fn() -> Ready<Option<Local>>, AsyncClause>: Send);
    // Unpin whatever the clause's future: it is boxed.
    assert_not_impl!(Pinned<bool>: Unpin);
    assert_impl!(AsyncWhile<fn() -> Pinned<bool>, AsyncClause>: Unpin);
    assert_impl!(SyncClause: Send, Sync, Unpin);
    assert_impl!(AsyncClause: Send, Sync, Unpin);
}

#[test]
fn async_while_of_closures_is_send_when_they_are() {
    fn is_send<T: Send>(_: &T) {}
    let w = pulsar_async::async_while(std::time::Duration::ZERO, || true);
    is_send(&w);
    let a = pulsar_async::async_while(std::time::Duration::ZERO, || async { true });
    is_send(&a);
}

#[test]
fn bench_types_are_send_exactly_when_their_parts_are() {
    assert_impl!(Bench<u8>: Send, Sync, Unpin);
    assert_impl!(Latency: Send, Sync, Unpin);
    assert_impl!(bench::Builder: Send, Sync, Unpin);
    assert_impl!(BenchFuture<SendCall, Ready<Result<u8, Error>>, u8>: Send, Sync, Unpin);
    assert_not_impl!(Bench<Local>: Send);
    assert_not_impl!(Bench<Cell<u8>>: Sync);
    assert_not_impl!(BenchFuture<SendCall, LocalFuture, u8>: Send);
    assert_not_impl!(BenchFuture<SendCall, LocalFuture, u8>: Sync);
    // Unpin whatever the calls' futures: each is boxed.
    assert_impl!(BenchFuture<SendCall, Pinned<Result<u8, Error>>, u8>: Unpin);
    assert_not_impl!(Bench<PhantomPinned>: Unpin);
}
