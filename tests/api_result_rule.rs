//! The one rule for `Result`: at every entry point an `Err` from user
//! code fails the promise with that error (`Error::user(e)`: kind `User`, `e` reachable
//! with `downcast_ref`; an `Error` of this crate keeps its kind), unless the caller
//! asks for the raw `Result` (`#[task(raw)]`, the plain `run_in_loop*` and
//! `maybe_async*` without `flatten_result`, whose closure or future may return
//! anything). One `?` per call, and the user's error, passed up with `?` into
//! `anyhow::Result`, is found by `chain()` and printed once by `{:#}`, from every
//! fallible entry point (the `try_*` forms of `run_in_loop`, `LoopLocal`, `LoopPool`,
//! `PoolLocal`, and `#[task]`).

use std::fmt;
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
    let source = std::error::Error::source(err).expect("the user's error is the source");
    assert_eq!(source.downcast_ref::<DiskOnFire>(), Some(&DiskOnFire(n)));
    assert_eq!(
        format!("{:#}", anyhow::Error::new(err.clone())),
        format!("the call failed: disk {n} on fire"),
        "printed once"
    );
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

/// Passes `p`'s error up with `?` into `anyhow`, as a handler does, and checks that
/// `chain()` finds the user's `DiskOnFire(n)` and `{:#}` prints its message once.
fn through_anyhow<T: Clone + Send + fmt::Debug + 'static>(p: Promise<T>, n: u8) {
    fn handler<T: Clone + Send + 'static>(p: Promise<T>) -> anyhow::Result<T> {
        Ok(p.wait_timeout(LONG)?)
    }
    let err = handler(p).unwrap_err();
    let found = err.chain().find_map(|e| e.downcast_ref::<DiskOnFire>());
    assert_eq!(found, Some(&DiskOnFire(n)), "{err:?}");
    let shown = format!("{err:#}");
    assert_eq!(
        shown.matches(&format!("disk {n} on fire")).count(),
        1,
        "{shown}"
    );
}

fn fails(n: u8) -> Result<u8, DiskOnFire> {
    Err(DiskOnFire(n))
}

#[test]
fn every_try_form_passes_the_users_error_up_through_the_question_mark_into_anyhow() {
    let lp = EventLoop::new().unwrap();
    let store = Store { lp: lp.clone() };
    through_anyhow(store.read(0), 0);
    through_anyhow(try_run_in_loop(&lp, || fails(1)), 1);
    through_anyhow(try_run_in_loop_async(&lp, || async { fails(2) }), 2);
    let local = lp.local(|| 3u8);
    through_anyhow(local.try_call(|n| fails(*n)), 3);
    let pool = EventLoop::builder().pool(2).unwrap();
    through_anyhow(pool.try_run_keyed(&"k", || fails(4)), 4);
    through_anyhow(pool.try_run_any(|| fails(5)), 5);
    through_anyhow(pool.try_run_keyed_async(&"k", || async { fails(6) }), 6);
    through_anyhow(pool.try_run_any_async(|| async { fails(7) }), 7);
    let rooms = pool.local(|_| 8u8);
    through_anyhow(rooms.try_call_keyed(&"k", |n| fails(*n)), 8);
    through_anyhow(rooms.try_call_any(|n| fails(*n + 1)), 9);
    through_anyhow(rooms.try_call_at(1, |n| fails(*n + 2)), 10);
    through_anyhow(
        rooms.try_call_async_keyed(&"k", |s| async move { fails(*s.borrow() + 3) }),
        11,
    );
    through_anyhow(
        rooms.try_call_async_any(|s| async move { fails(*s.borrow() + 4) }),
        12,
    );
    through_anyhow(
        local.try_call_async(|s| async move { fails(*s.borrow() + 10) }),
        13,
    );
    let all = rooms.try_broadcast(|n| fails(*n + 6));
    through_anyhow(Promise::from(all), 14);
}

#[test]
fn the_pools_try_forms_give_the_ok_value_and_fail_with_the_users_error() {
    let pool = EventLoop::builder().pool(2).unwrap();
    let ok = |n: u8| Ok::<u8, DiskOnFire>(n);
    assert_eq!(
        pool.try_run_keyed(&1, move || ok(1))
            .wait_timeout(LONG)
            .unwrap(),
        1
    );
    assert_eq!(
        pool.try_run_any(move || ok(2)).wait_timeout(LONG).unwrap(),
        2
    );
    let p = pool.try_run_keyed_async(&1, move || async move { ok(3) });
    assert_eq!(p.wait_timeout(LONG).unwrap(), 3);
    let p = pool.try_run_any_async(move || async move { ok(4) });
    assert_eq!(p.wait_timeout(LONG).unwrap(), 4);
    is_disk_on_fire(
        &pool
            .try_run_keyed(&1, || fails(1))
            .wait_timeout(LONG)
            .unwrap_err(),
        1,
    );
    is_disk_on_fire(
        &pool
            .try_run_any(|| fails(2))
            .wait_timeout(LONG)
            .unwrap_err(),
        2,
    );
}

#[test]
fn the_pool_states_try_forms_give_the_ok_value_and_fail_with_the_users_error() {
    let pool = EventLoop::builder().pool(2).unwrap();
    let rooms = pool.local(|i| i as u8);
    let at1 = rooms.try_call_at(1, |n| Ok::<u8, DiskOnFire>(*n));
    assert_eq!(at1.wait_timeout(LONG).unwrap(), 1);
    let keyed = rooms.try_call_keyed(&"k", |n| Ok::<u8, DiskOnFire>(*n));
    assert_eq!(
        keyed.wait_timeout(LONG).unwrap() as usize,
        pool.index_of(&"k")
    );
    let any = rooms.try_call_any(|n| Ok::<u8, DiskOnFire>(*n));
    assert!(any.wait_timeout(LONG).unwrap() < 2);
    let p = rooms.try_call_async_keyed(&"k", |s| async move { Ok::<u8, DiskOnFire>(*s.borrow()) });
    assert_eq!(p.wait_timeout(LONG).unwrap() as usize, pool.index_of(&"k"));
    let p = rooms.try_call_async_any(|s| async move { Ok::<u8, DiskOnFire>(*s.borrow()) });
    assert!(p.wait_timeout(LONG).unwrap() < 2);
    let all = rooms.try_broadcast(|n| Ok::<u8, DiskOnFire>(*n));
    assert_eq!(all.wait_timeout(LONG).unwrap(), [0, 1]);
    let err = rooms
        .try_broadcast(|n| if *n == 1 { fails(7) } else { Ok(0) })
        .wait_timeout(LONG)
        .unwrap_err();
    assert_eq!(KeyedError::<usize>::key_of(&err), Some(&1));
    assert_eq!(err.downcast_ref::<DiskOnFire>(), Some(&DiskOnFire(7)));
    let out_of_range = rooms.try_call_at(2, |n| Ok::<u8, DiskOnFire>(*n));
    assert_eq!(
        out_of_range.wait_timeout(LONG).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn a_loop_local_try_call_async_returning_err_fails_its_promise_and_call_async_is_the_raw_form() {
    let lp = EventLoop::new().unwrap();
    let local = lp.local(|| 5u8);
    let ok = local.try_call_async(|s| async move { Ok::<u8, DiskOnFire>(*s.borrow()) });
    assert_eq!(ok.wait_timeout(LONG).unwrap(), 5);
    let err = local.try_call_async(|s| async move {
        tokio::task::yield_now().await;
        fails(*s.borrow())
    });
    is_disk_on_fire(&err.wait_timeout(LONG).unwrap_err(), 5);
    let raw = local.call_async(|s| async move { fails(*s.borrow()) });
    assert_eq!(raw.wait_timeout(LONG).unwrap(), Err(DiskOnFire(5)));
}
