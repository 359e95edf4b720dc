//! The auto traits of every public type, asserted both ways.

use pulsar_async::{Builder, Error, ErrorKind, EventLoop, MaybeAsync, Promise, SetError, Take};
use std::cell::Cell;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::rc::Rc;

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}
fn unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}

/// `T` does not implement `Send`: a probe in the style of `static_assertions`.
trait NotSend<A> {
    fn check() {}
}
impl<T: ?Sized> NotSend<()> for T {}
impl<T: ?Sized + Send> NotSend<u8> for T {}

trait NotSync<A> {
    fn check() {}
}
impl<T: ?Sized> NotSync<()> for T {}
impl<T: ?Sized + Sync> NotSync<u8> for T {}

#[test]
fn handles_that_cross_threads_are_send_sync_and_unpin() {
    send::<EventLoop>();
    sync::<EventLoop>();
    unpin::<EventLoop>();
    send::<Promise<u32>>();
    sync::<Promise<u32>>();
    unpin::<Promise<u32>>();
    send::<MaybeAsync<String>>();
    unpin::<MaybeAsync<String>>();
    send::<Take<Vec<u8>>>();
    send::<Error>();
    sync::<Error>();
    send::<ErrorKind>();
    send::<SetError<u8>>();
    send::<Builder>();
    sync::<Builder>();
    unwind_safe::<ErrorKind>();
}

#[test]
fn promises_of_values_that_cannot_cross_threads_cannot_either() {
    // These compile only while the probe picks the blanket impl, i.e. the type is
    // not Send / not Sync.
    <Promise<Rc<u8>> as NotSend<_>>::check();
    <Promise<Cell<u8>> as NotSync<_>>::check();
    <MaybeAsync<Rc<u8>> as NotSend<_>>::check();
    // Unpin holds whatever the value is.
    unpin::<Promise<std::marker::PhantomPinned>>();
    unpin::<MaybeAsync<std::marker::PhantomPinned>>();
}
