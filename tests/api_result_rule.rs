//! The one rule for `Result`: at every entry point an `Err` from user
//! code fails the promise with that error (`Error::user(e)`: kind `User`, `e` reachable
//! with `downcast_ref`; an `Error` of this crate keeps its kind), unless the caller
//! asks for the raw `Result` (`#[task(raw)]`, the plain `run_in_loop*` and
//! `maybe_async*` without `flatten_result`, whose closure or future may return
//! anything). One `?` per call.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pulsar_async::bench::CallError;
use pulsar_async::multi::KeyedError;
use pulsar_async::{
    maybe_async, maybe_async_in, multi_async, run_in_loop, task, try_run_in_loop,
    try_run_in_loop_async, AsyncObject, Bench, Error, ErrorKind, EventLoop, Promise,
};

const LONG: Duration = Duration::from_secs(10);

/// A user's own error.
#[derive(Debug, Clone, PartialEq)]
struct DiskOnFire(u8);

impl std::fmt::Display for DiskOnFire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "disk {} on fire", self.0)
    }
}

impl std::error::Error for DiskOnFire {}

/// Checks that `err` is the user's `DiskOnFire(n)`, carried as the rule says.
fn is_disk_on_fire(err: &Error, n: u8) {
    assert_eq!(err.kind(), ErrorKind::User, "{err:?}");
    assert_eq!(err.downcast_ref::<DiskOnFire>(), Some(&DiskOnFire(n)));
    assert_eq!(err.to_string(), format!("disk {n} on fire"), "printed once");
}

#[derive(Clone)]
struct Store {
    lp: EventLoop,
}

impl AsyncObject for Store {
    fn event_loop(&self) -> Option<&EventLoop> {
        Some(&self.lp)
    }
}

impl Store {
    #[task]
    fn read(&self, n: u8) -> Result<u8, DiskOnFire> {
        if n == 0 {
            Err(DiskOnFire(n))
        } else {
            Ok(n * 2)
        }
    }

    #[task]
    async fn read_later(&self, n: u8) -> Result<u8, DiskOnFire> {
        tokio::task::yield_now().await;
        if n == 0 {
            Err(DiskOnFire(n))
        } else {
            Ok(n * 2)
        }
    }

    #[task]
    fn read_file(&self) -> io::Result<Vec<u8>> {
        std::fs::read("/definitely/not/here")
    }

    #[task]
    fn timed_out(&self) -> Result<u8, Error> {
        Err(Error::from(ErrorKind::Timeout))
    }

    #[task(raw)]
    fn read_raw(&self, n: u8) -> Result<u8, DiskOnFire> {
        if n == 0 {
            Err(DiskOnFire(n))
        } else {
            Ok(n)
        }
    }
}

fn store() -> Store {
    Store {
        lp: EventLoop::new().unwrap(),
    }
}

#[test]
fn a_task_returning_err_fails_its_promise_with_that_error() {
    let store = store();
    let ok: Promise<u8> = store.read(2); // the `Ok` type, not a `Result`
    assert_eq!(ok.wait_timeout(LONG).unwrap(), 4);
    is_disk_on_fire(&store.read(0).wait_timeout(LONG).unwrap_err(), 0);
}

#[test]
fn an_async_task_returning_err_fails_its_promise_with_that_error() {
    let store = store();
    assert_eq!(store.read_later(3).wait_timeout(LONG).unwrap(), 6);
    is_disk_on_fire(&store.read_later(0).wait_timeout(LONG).unwrap_err(), 0);
}

#[test]
fn a_task_returning_an_alias_of_result_is_flattened_the_same_way() {
    let err = store().read_file().wait_timeout(LONG).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::User);
    assert_eq!(
        err.downcast_ref::<io::Error>().map(io::Error::kind),
        Some(io::ErrorKind::NotFound)
    );
}

#[test]
fn a_task_returning_an_error_of_this_crate_keeps_its_kind() {
    let err = store().timed_out().wait_timeout(LONG).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
}

#[test]
fn a_raw_task_gives_the_result_as_it_is() {
    let store = store();
    let raw: Promise<Result<u8, DiskOnFire>> = store.read_raw(0);
    assert_eq!(raw.wait_timeout(LONG).unwrap(), Err(DiskOnFire(0)));
}

#[test]
fn a_task_in_a_caller_driven_loop_returning_err_fails_its_promise_with_that_error() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let store = Store { lp };
    // Not running: the call drives the loop and comes back settled.
    let err = store.read(0).try_result().unwrap_err();
    is_disk_on_fire(&err, 0);
    assert_eq!(store.read_later(5).try_result().unwrap(), 10);
}

#[test]
fn try_run_in_loop_returning_err_fails_its_promise_with_that_error() {
    let lp = EventLoop::new().unwrap();
    let err = try_run_in_loop(&lp, || Err::<u8, _>(DiskOnFire(1)))
        .wait_timeout(LONG)
        .unwrap_err();
    is_disk_on_fire(&err, 1);
    let bytes = try_run_in_loop(&lp, || std::fs::read("/definitely/not/here"));
    assert!(bytes
        .wait_timeout(LONG)
        .unwrap_err()
        .downcast_ref::<io::Error>()
        .is_some());
}

#[test]
fn a_loop_local_try_call_returning_err_fails_its_promise_and_call_is_the_raw_form() {
    let lp = EventLoop::new().unwrap();
    let seen = lp.local(Vec::<u8>::new);
    let err = seen
        .try_call(|v| {
            v.push(3);
            Err::<u8, _>(DiskOnFire(3))
        })
        .wait_timeout(LONG)
        .unwrap_err();
    is_disk_on_fire(&err, 3);
    let ok: u8 = seen
        .try_call(|v| Ok::<_, DiskOnFire>(v[0]))
        .wait_timeout(LONG)
        .unwrap();
    assert_eq!(ok, 3, "the failed call's change to the state stays");
    let raw: Result<u8, DiskOnFire> = seen
        .call(|_| Err(DiskOnFire(4)))
        .wait_timeout(LONG)
        .unwrap();
    assert_eq!(raw, Err(DiskOnFire(4)));
}

#[test]
fn try_run_in_loop_async_returning_err_fails_its_promise_with_that_error() {
    let lp = EventLoop::new().unwrap();
    let err = try_run_in_loop_async(&lp, || async { Err::<u8, _>(DiskOnFire(2)) })
        .wait_timeout(LONG)
        .unwrap_err();
    is_disk_on_fire(&err, 2);
}

#[test]
fn run_in_loop_is_the_raw_form_and_gives_the_result_as_it_is() {
    let lp = EventLoop::new().unwrap();
    let raw = run_in_loop(&lp, || Err::<u8, _>(DiskOnFire(3)));
    assert_eq!(raw.wait_timeout(LONG).unwrap(), Err(DiskOnFire(3)));
}

#[tokio::test]
async fn a_fallible_future_handed_to_maybe_async_fails_the_flattened_outcome_with_that_error() {
    // Ready at once: no task.
    let ready = maybe_async(async { Err::<u8, _>(DiskOnFire(4)) }).flatten_result();
    is_disk_on_fire(&ready.into_ready().unwrap().unwrap_err(), 4);
    // Pending: a task of this runtime.
    let later = maybe_async(async {
        tokio::task::yield_now().await;
        Err::<u8, _>(DiskOnFire(5))
    })
    .flatten_result();
    assert!(!later.is_ready());
    let err = tokio::time::timeout(LONG, later)
        .await
        .unwrap()
        .unwrap_err();
    is_disk_on_fire(&err, 5);
}

#[test]
fn a_fallible_future_handed_to_maybe_async_in_fails_the_flattened_outcome_with_that_error() {
    let lp = EventLoop::new().unwrap();
    let m = maybe_async_in(&lp, async {
        tokio::task::yield_now().await;
        Err::<u8, _>(DiskOnFire(6))
    })
    .flatten_result();
    is_disk_on_fire(&m.into_promise().wait_timeout(LONG).unwrap_err(), 6);
    let ok = maybe_async_in(&lp, async { Ok::<_, DiskOnFire>(7u8) }).flatten_result();
    assert_eq!(ok.into_promise().wait_timeout(LONG).unwrap(), 7);
}

#[test]
fn a_gather_of_fallible_futures_fails_at_the_first_err_naming_its_key() {
    let lp = EventLoop::new().unwrap();
    let all = multi_async(vec![
        maybe_async_in(&lp, async { Ok::<u8, DiskOnFire>(1) }).flatten_result(),
        maybe_async_in(&lp, async { Err::<u8, _>(DiskOnFire(8)) }).flatten_result(),
    ]);
    let err = all.wait_timeout(LONG).unwrap_err();
    let keyed = err.downcast_ref::<KeyedError<usize>>().unwrap();
    assert_eq!(*keyed.key(), 1);
    is_disk_on_fire(keyed.error(), 8);
}

#[test]
fn cancelling_a_pending_flattened_outcome_cancels_its_task() {
    struct OnDrop(Arc<AtomicBool>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let lp = EventLoop::new().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = OnDrop(dropped.clone());
    let m = maybe_async_in(&lp, async move {
        let _guard = guard;
        std::future::pending::<()>().await;
        Ok::<u8, DiskOnFire>(0)
    })
    .flatten_result();
    let p = m.into_promise();
    assert!(p.cancel());
    assert!(p.try_result().unwrap_err().is_cancelled());
    let deadline = std::time::Instant::now() + LONG;
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "the task was not aborted"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[tokio::test]
async fn a_bench_call_returning_err_fails_the_bench_with_that_error() {
    let err = tokio::time::timeout(
        LONG,
        Bench::builder(3).run(|i| async move {
            if i == 1 {
                Err(DiskOnFire(9))
            } else {
                Ok(())
            }
        }),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::User);
    let call = err.downcast_ref::<CallError>().unwrap();
    assert_eq!(call.index(), 1);
    is_disk_on_fire(call.error(), 9);
}
