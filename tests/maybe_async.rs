//! `maybe_async` and `MaybeAsync` (SPEC Part 1).

use pulsar_async::{maybe_async, maybe_async_in, Error, ErrorKind, EventLoop, MaybeAsync, Promise};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A future that is ready after `pending` polls, counting how often it is polled.
struct Counted {
    pending: usize,
    polls: Arc<AtomicUsize>,
}

impl Future for Counted {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.pending == 0 {
            return Poll::Ready(self.polls.load(Ordering::SeqCst));
        }
        self.pending -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_plain_value_is_returned_untouched_and_ready() {
    let m = MaybeAsync::ready(vec![1, 2]);
    assert!(m.is_ready());
    assert_eq!(m.into_ready().unwrap().unwrap(), vec![1, 2]);
}

#[test]
fn a_future_that_is_ready_at_once_gives_a_ready_value_without_a_loop_or_task() {
    let polls = Arc::new(AtomicUsize::new(0));
    let m = maybe_async(Counted {
        pending: 0,
        polls: polls.clone(),
    });
    assert!(m.is_ready());
    assert_eq!(m.into_ready().unwrap().unwrap(), 1);
    assert_eq!(polls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_pending_future_is_scheduled_on_the_given_loop() {
    let lp = EventLoop::builder().name("maybe").spawn().unwrap();
    let m = maybe_async_in(&lp, async {
        tokio::task::yield_now().await;
        std::thread::current().name().map(String::from)
    });
    assert!(!m.is_ready());
    assert_eq!(
        m.into_promise().wait_timeout(LIMIT).unwrap().as_deref(),
        Some("maybe")
    );
}

#[test]
fn a_pending_future_runs_on_the_current_loop_when_there_is_one() {
    let lp = EventLoop::builder().name("current").spawn().unwrap();
    let p = pulsar_async::run_in_loop(&lp, || {
        maybe_async(async {
            tokio::task::yield_now().await;
            std::thread::current().name().map(String::from)
        })
        .into_promise()
    });
    let inner = p.wait_timeout(LIMIT).unwrap();
    assert_eq!(
        inner.wait_timeout(LIMIT).unwrap().as_deref(),
        Some("current")
    );
}

#[tokio::test]
async fn a_pending_future_runs_on_the_current_tokio_runtime_without_a_loop() {
    let polls = Arc::new(AtomicUsize::new(0));
    let m = maybe_async(Counted {
        pending: 3,
        polls: polls.clone(),
    });
    assert!(!m.is_ready());
    assert_eq!(m.await.unwrap(), 4);
}

#[test]
fn a_pending_future_with_no_loop_or_runtime_is_a_wrong_thread_error() {
    let m = maybe_async(std::future::pending::<u8>());
    let err = m.into_ready().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongThread);
}

#[test]
fn a_panic_in_the_first_poll_becomes_the_error_of_the_outcome() {
    let m = maybe_async(async { panic!("first poll") });
    let err: Error = m.into_ready().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
}

#[test]
fn a_promise_is_pending_until_settled_and_awaits_to_its_value() {
    let p = Promise::new();
    let m = MaybeAsync::from(p.clone());
    assert!(!m.is_ready());
    p.set_result("later").unwrap();
    assert!(m.is_ready());
    assert_eq!(futures::executor::block_on(m).unwrap(), "later");
}

#[test]
fn into_ready_gives_back_a_pending_value_unchanged() {
    let p = Promise::<u8>::new();
    let m = MaybeAsync::from(p.clone()).into_ready().unwrap_err();
    p.set_result(3).unwrap();
    assert_eq!(m.into_promise().try_result().unwrap(), 3);
}

#[test]
fn into_ready_moves_a_done_promise_value_out_when_it_holds_the_only_handle() {
    struct NotClone(u8);
    let p = Promise::new();
    p.set_result(NotClone(9)).unwrap();
    let value = MaybeAsync::from(p).into_ready().ok().unwrap().unwrap();
    assert_eq!(value.0, 9);
}

#[test]
fn a_ready_failure_awaits_to_its_error() {
    let m = MaybeAsync::<u8>::failed(ErrorKind::Timeout.into());
    assert_eq!(
        futures::executor::block_on(m).unwrap_err().kind(),
        ErrorKind::Timeout
    );
}
