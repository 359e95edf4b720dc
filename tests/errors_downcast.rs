//! The user's error is never hidden by the crate's own wrappers:
//!
//! - `Error::downcast_ref::<E>()` finds the user's `E` through a raised gather's
//!   `KeyedError`, a broadcast's (of a `LoopPool` and of a `PoolLocal`), a bench's
//!   `CallError`, a `poll_until` that timed out after an error, and gathers nested in
//!   gathers; it does not look inside the user's own error.
//! - `Error::downcast::<E>(self)` moves `E` out by value through the same wrappers once
//!   no clone of the error lives, and gives the error back untouched when it carries
//!   no `E` or a clone of it lives.
//! - A broadcast's error names the broadcast and the loop, not `multi_async`.

mod common;

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use common::block_within;
use pulsar_async::bench::CallError;
use pulsar_async::multi::KeyedError;
use pulsar_async::{multi_async, poll_until, Bench, Error, ErrorKind, EventLoop, Promise};

const LIMIT: Duration = Duration::from_secs(10);

/// A user's error, as a handler would match on it.
#[derive(Debug, PartialEq)]
enum StoreError {
    NotFound(u32),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound(id) => write!(f, "room {id} not found"),
        }
    }
}

impl StdError for StoreError {}

/// A user's error with a cause of its own.
#[derive(Debug)]
struct Wrapped(std::io::Error);

impl fmt::Display for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wrapped")
    }
}

impl StdError for Wrapped {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

fn not_found(id: u32) -> Error {
    Error::user(StoreError::NotFound(id))
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

#[test]
fn downcast_ref_finds_the_users_error_through_a_raised_gather() {
    let all = multi_async(vec![
        Promise::<u8>::resolved(1),
        Promise::failed(not_found(7)),
    ]);
    let err = all.try_result().unwrap_err();
    assert_eq!(
        err.downcast_ref::<StoreError>(),
        Some(&StoreError::NotFound(7))
    );
    assert_eq!(KeyedError::<usize>::key_of(&err), Some(&1));
}

#[test]
fn downcast_ref_finds_the_users_error_through_nested_gathers() {
    let inner = multi_async(vec![Promise::<u8>::failed(not_found(3))]);
    let outer = multi_async(vec![Promise::from(inner)]);
    let deeper = multi_async([outer]);
    let err = deeper.try_result().unwrap_err();
    assert_eq!(
        err.downcast_ref::<StoreError>(),
        Some(&StoreError::NotFound(3))
    );
}

#[test]
fn a_broadcasts_error_names_the_broadcast_and_the_loop() {
    let pool = EventLoop::builder().pool(2).unwrap();
    let loops = pool.loops().to_vec();
    let err = pool
        .broadcast(move || -> u8 {
            if loops[1].is_current_thread() {
                panic!("loop 1 burned")
            }
            0
        })
        .wait_timeout(LIMIT)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(err.to_string(), "broadcast: the call on loop 1 failed");
    assert_eq!(KeyedError::<usize>::key_of(&err), Some(&1));
    let rooms = pool.local(|i| i);
    let err = rooms
        .broadcast(|i| -> u8 {
            if *i == 0 {
                panic!("room 0 burned")
            }
            0
        })
        .wait_timeout(LIMIT)
        .unwrap_err();
    assert_eq!(err.to_string(), "broadcast: the call on loop 0 failed");
    assert_eq!(
        StdError::source(&err).map(ToString::to_string).as_deref(),
        Some("panicked: room 0 burned")
    );
}

#[test]
fn downcast_ref_finds_the_users_error_through_a_bench_call() {
    let err = paused_runtime()
        .block_on(Bench::builder(4).run(|i| async move {
            if i == 2 {
                Err(StoreError::NotFound(2))
            } else {
                Ok(())
            }
        }))
        .unwrap_err();
    assert_eq!(CallError::index_of(&err), Some(2));
    assert_eq!(
        err.downcast_ref::<StoreError>(),
        Some(&StoreError::NotFound(2))
    );
    // And by value: the bench's error is the only handle to it.
    assert_eq!(
        err.downcast::<StoreError>().unwrap(),
        StoreError::NotFound(2)
    );
}

#[test]
fn downcast_ref_finds_the_users_error_a_poll_until_timed_out_after() {
    let err = paused_runtime()
        .block_on(poll_until(Duration::from_millis(250), || {
            Err::<u8, _>(StoreError::NotFound(9))
        }))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(
        err.downcast_ref::<StoreError>(),
        Some(&StoreError::NotFound(9))
    );
    assert_eq!(
        err.downcast::<StoreError>().unwrap(),
        StoreError::NotFound(9)
    );
}

#[test]
fn downcast_ref_does_not_look_inside_the_users_own_error() {
    let err = Error::user(Wrapped(std::io::Error::other("disk")));
    assert!(err.downcast_ref::<Wrapped>().is_some());
    assert!(err.downcast_ref::<std::io::Error>().is_none());
    assert!(Error::new(ErrorKind::Timeout, "late")
        .downcast_ref::<StoreError>()
        .is_none());
    assert!(Error::from(ErrorKind::Cancelled)
        .downcast_ref::<StoreError>()
        .is_none());
}

#[test]
fn downcast_moves_the_users_error_out_through_a_gather_once_no_clone_lives() {
    let all = multi_async(vec![
        Promise::<u8>::resolved(1),
        Promise::failed(not_found(4)),
    ]);
    let err = all.try_result().unwrap_err();
    drop(all);
    let err = err.downcast::<std::io::Error>().unwrap_err();
    assert_eq!(KeyedError::<usize>::key_of(&err), Some(&1), "untouched");
    assert_eq!(
        err.downcast::<StoreError>().unwrap(),
        StoreError::NotFound(4)
    );
}

#[test]
fn downcast_moves_a_crate_wrapper_itself_out() {
    let err = multi_async(vec![Promise::<u8>::failed(not_found(5))])
        .try_result()
        .unwrap_err();
    let keyed = err.downcast::<KeyedError<usize>>().unwrap();
    assert_eq!(*keyed.key(), 0);
    assert_eq!(
        keyed.error().downcast_ref::<StoreError>(),
        Some(&StoreError::NotFound(5))
    );
}

#[test]
fn downcast_gives_the_error_back_untouched_while_a_clone_lives() {
    let err = not_found(6);
    let clone = err.clone();
    let back = err.downcast::<StoreError>().unwrap_err();
    assert_eq!(back.kind(), ErrorKind::User);
    assert_eq!(
        back.downcast_ref::<StoreError>(),
        Some(&StoreError::NotFound(6))
    );
    drop(back);
    assert_eq!(
        clone.downcast::<StoreError>().unwrap(),
        StoreError::NotFound(6)
    );
    // A promise holds a clone of its error while a handle of it lives.
    let p = Promise::<u8>::failed(not_found(8));
    let read = p.try_result().unwrap_err();
    let read = read.downcast::<StoreError>().unwrap_err();
    drop(p);
    assert_eq!(
        read.downcast::<StoreError>().unwrap(),
        StoreError::NotFound(8)
    );
}

#[test]
fn downcast_of_an_error_read_from_a_loops_call_moves_it_out_once_the_call_lets_go() {
    let lp = EventLoop::new().unwrap();
    let p = pulsar_async::try_run_in_loop(&lp, || Err::<u8, _>(StoreError::NotFound(10)));
    let mut err = block_within(LIMIT, p).unwrap_err();
    // The loop's call may hold its share of the promise for an instant after the settle.
    let deadline = std::time::Instant::now() + LIMIT;
    let found = loop {
        match err.downcast::<StoreError>() {
            Ok(found) => break found,
            Err(back) => err = back,
        }
        assert!(std::time::Instant::now() < deadline, "never let go");
        std::thread::sleep(Duration::from_micros(200));
    };
    assert_eq!(found, StoreError::NotFound(10));
}
