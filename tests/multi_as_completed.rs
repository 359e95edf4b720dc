//! `multi::as_completed`: a gather's inputs as a stream of
//! `(key, outcome)` in completion order, with the shapes of `multi_async`, linear
//! cost, cancel-on-drop, on any executor.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use pulsar_async::multi::{self, AsCompleted};
use pulsar_async::{maybe_async_in, run_in_loop, Error, ErrorKind, EventLoop, MaybeAsync, Promise};

const LONG: Duration = Duration::from_secs(10);

/// Reads the next item, failing the test after `LONG` instead of hanging.
async fn next<K, T>(stream: &mut AsCompleted<K, T>) -> Option<(K, Result<T, Error>)> {
    tokio::time::timeout(LONG, stream.next())
        .await
        .expect("an item within the time limit")
}

/// An item with its error reduced to its kind, to compare.
fn kinded<K, T>((key, outcome): (K, Result<T, Error>)) -> (K, Result<T, ErrorKind>) {
    (key, outcome.map_err(|e| e.kind()))
}

/// The item the stream has now, without waiting (`None` if it would wait).
fn now<K, T>(stream: &mut AsCompleted<K, T>) -> Option<Option<(K, Result<T, Error>)>> {
    futures::FutureExt::now_or_never(stream.next())
}

#[tokio::test]
async fn items_come_in_the_order_the_inputs_finish_with_their_vec_index() {
    let inputs: Vec<Promise<u32>> = (0..4).map(|_| Promise::new()).collect();
    let mut done = multi::as_completed(inputs.clone());
    assert!(now(&mut done).is_none(), "nothing finished yet");
    for i in [2, 0, 3, 1] {
        inputs[i].set_result(i as u32 * 10).unwrap();
    }
    let mut seen = Vec::new();
    while let Some((index, outcome)) = next(&mut done).await {
        seen.push((index, outcome.unwrap()));
    }
    assert_eq!(seen, [(2, 20), (0, 0), (3, 30), (1, 10)]);
}

#[tokio::test]
async fn a_hashmap_or_btreemap_yields_each_key_with_its_outcome() {
    let (a, b) = (Promise::<&str>::new(), Promise::<&str>::new());
    let mut done = multi::as_completed(HashMap::from([("a", a.clone()), ("b", b.clone())]));
    b.set_result("B").unwrap();
    assert_eq!(kinded(next(&mut done).await.unwrap()), ("b", Ok("B")));
    a.set_result("A").unwrap();
    assert_eq!(kinded(next(&mut done).await.unwrap()), ("a", Ok("A")));

    let p = Promise::<u8>::new();
    let mut done = multi::as_completed(BTreeMap::from([(String::from("later"), p.clone())]));
    p.set_result(1).unwrap();
    assert_eq!(
        kinded(next(&mut done).await.unwrap()),
        ("later".to_owned(), Ok(1))
    );
    assert!(next(&mut done).await.is_none());
}

#[tokio::test]
async fn ready_inputs_come_first_in_input_order_then_pending_ones_as_they_finish() {
    let pending = Promise::<u8>::new();
    let mut done = multi::as_completed([
        MaybeAsync::from(pending.clone()),
        MaybeAsync::ready(1),
        MaybeAsync::failed(Error::from(ErrorKind::Timeout)),
        MaybeAsync::from(Promise::resolved(3)),
    ]);
    assert_eq!(kinded(now(&mut done).unwrap().unwrap()), (1, Ok(1)));
    let (key, outcome) = now(&mut done).unwrap().unwrap();
    assert_eq!((key, outcome.unwrap_err().kind()), (2, ErrorKind::Timeout));
    assert_eq!(kinded(now(&mut done).unwrap().unwrap()), (3, Ok(3)));
    assert!(now(&mut done).is_none());
    pending.set_result(0).unwrap();
    assert_eq!(kinded(next(&mut done).await.unwrap()), (0, Ok(0)));
}

#[tokio::test]
async fn a_failed_input_is_its_keys_error_and_the_stream_goes_on() {
    let (bad, good) = (Promise::<u8>::new(), Promise::<u8>::new());
    let mut done = multi::as_completed(vec![bad.clone(), good.clone()]);
    bad.set_error(Error::user("no")).unwrap();
    good.set_result(2).unwrap();
    let (key, outcome) = next(&mut done).await.unwrap();
    assert_eq!(
        (
            key,
            std::error::Error::source(&outcome.unwrap_err()).map(|s| s.to_string())
        ),
        (0, Some("no".to_owned()))
    );
    assert_eq!(kinded(next(&mut done).await.unwrap()), (1, Ok(2)));
}

#[tokio::test]
async fn a_panicking_input_gives_panicked_for_its_key_and_the_rest_continue() {
    let lp = EventLoop::new().unwrap();
    let mut done = multi::as_completed(BTreeMap::from([
        ("boom", run_in_loop(&lp, || -> u8 { panic!("boom") })),
        ("fine", run_in_loop(&lp, || 7)),
    ]));
    let mut seen = BTreeMap::new();
    while let Some((key, outcome)) = next(&mut done).await {
        seen.insert(key, outcome);
    }
    let boom = seen["boom"].as_ref().unwrap_err();
    assert_eq!(
        (boom.kind(), boom.message()),
        (ErrorKind::Panicked, Some("boom"))
    );
    assert_eq!(*seen["fine"].as_ref().unwrap(), 7);
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_inputs_it_has_not_yielded() {
    let (yielded, waiting) = (Promise::<u8>::new(), Promise::<u8>::new());
    let mut done = multi::as_completed(vec![yielded.clone(), waiting.clone()]);
    yielded.set_result(1).unwrap();
    assert_eq!(kinded(next(&mut done).await.unwrap()), (0, Ok(1)));
    drop(done);
    assert!(waiting.is_cancelled());
    assert_eq!(
        yielded.try_result().unwrap(),
        1,
        "a yielded input is left alone"
    );
}

#[test]
fn dropping_the_stream_aborts_a_task_behind_a_pending_input_and_drops_its_future() {
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let lp = EventLoop::new().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = OnDrop(dropped.clone());
    let forever = maybe_async_in(&lp, async move {
        let _guard = guard;
        std::future::pending::<u8>().await
    });
    let done = multi::as_completed(vec![forever]);
    drop(done);
    common::wait_until(LONG, "the task's future is dropped", || {
        dropped.load(Ordering::SeqCst) == 1
    });
}

#[test]
fn dropping_the_stream_drops_outcomes_that_arrived_but_were_not_read() {
    let value = Arc::new(());
    let p = Promise::new();
    let done = multi::as_completed(vec![p.clone()]);
    p.set_result(value.clone()).unwrap();
    drop(p);
    assert_eq!(Arc::strong_count(&value), 2, "held by the stream");
    drop(done);
    assert_eq!(Arc::strong_count(&value), 1);
}

#[test]
fn an_input_nobody_settles_keeps_the_stream_waiting_as_futures_unordered_does() {
    let p = Promise::<u8>::new();
    let mut done = multi::as_completed(vec![p]); // the stream holds the only handle
    assert!(now(&mut done).is_none(), "waiting, not ended");
    assert_eq!(done.len(), 1);
}

#[tokio::test]
async fn len_and_size_hint_count_the_items_still_to_come_and_it_stays_ended() {
    let p = Promise::<u8>::new();
    let mut done = multi::as_completed(vec![Promise::resolved(1), p.clone()]);
    assert_eq!((done.len(), done.size_hint()), (2, (2, Some(2))));
    assert!(!done.is_empty());
    assert!(!futures::stream::FusedStream::is_terminated(&done));
    next(&mut done).await.unwrap().1.unwrap();
    assert_eq!((done.len(), done.size_hint()), (1, (1, Some(1))));
    p.set_result(2).unwrap();
    next(&mut done).await.unwrap().1.unwrap();
    assert!(done.is_empty());
    assert!(futures::stream::FusedStream::is_terminated(&done));
    assert!(next(&mut done).await.is_none());
    assert!(next(&mut done).await.is_none(), "still ended");
}

#[test]
fn the_stream_runs_on_any_executor_woken_by_inputs_settled_on_other_threads() {
    let inputs: Vec<Promise<usize>> = (0..64).map(|_| Promise::new()).collect();
    let done = multi::as_completed(inputs.clone());
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let items: Vec<_> = futures::executor::block_on(done.collect());
        tx.send(items).unwrap();
    });
    let setters: Vec<_> = inputs
        .chunks(16)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            std::thread::spawn(move || {
                for p in chunk.iter().rev() {
                    std::thread::yield_now();
                    p.set_result(0).unwrap();
                }
            })
        })
        .collect();
    let items = rx
        .recv_timeout(LONG)
        .expect("every item within the time limit");
    for setter in setters {
        common::join_within(LONG, "a setter thread", setter);
    }
    common::join_within(LONG, "the reader thread", reader);
    let mut keys: Vec<usize> = items.iter().map(|(k, _)| *k).collect();
    keys.sort_unstable();
    assert_eq!(keys, (0..64).collect::<Vec<_>>(), "each key once");
}

#[tokio::test]
async fn inputs_settled_by_a_loop_thread_wake_a_tokio_task() {
    let lp = EventLoop::new().unwrap();
    let inputs: Vec<_> = (0..100u32).map(|i| run_in_loop(&lp, move || i)).collect();
    let done = multi::as_completed(inputs);
    let items: Vec<_> = tokio::time::timeout(LONG, done.collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(items
        .iter()
        .all(|(k, v)| v.as_ref().ok() == Some(&(*k as u32))));
    assert_eq!(items.len(), 100);
}

/// Streams `n` pending inputs, polled once, then settled in reverse order: the time
/// to drain them, checking they come in completion order.
fn drain_reversed(n: usize) -> Duration {
    let inputs: Vec<Promise<usize>> = (0..n).map(|_| Promise::new()).collect();
    let start = Instant::now();
    let mut done = multi::as_completed(inputs.clone());
    assert!(now(&mut done).is_none(), "every input waits on its waker");
    for (i, p) in inputs.iter().enumerate().rev() {
        p.set_result(i).unwrap();
    }
    // Every input is settled: each item is there at once, and the stream ends.
    let mut expected = n;
    while let Some((key, outcome)) = now(&mut done).expect("an item at once") {
        expected -= 1;
        assert_eq!((key, outcome.unwrap()), (expected, expected));
    }
    assert_eq!(expected, 0);
    start.elapsed()
}

#[test]
fn streaming_100_000_inputs_settled_in_reverse_reads_every_item_at_once() {
    // The cost rule (each input polled once, then once per wake: linear, nothing
    // scanned) is checked by counting polls, in the unit tests of `src/multi/`; here,
    // the same drain at a size where a scanning design takes minutes, bounded.
    let took = drain_reversed(100_000);
    assert!(took < LONG, "100,000 inputs took {took:?}");
}

/// A waker that counts its wakes.
struct CountWakes(AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_stream_polled_by_another_task_wakes_that_task() {
    let p = Promise::<u8>::new();
    let mut done = multi::as_completed(vec![p.clone()]);
    let (first, second) = (
        Arc::new(CountWakes(AtomicUsize::new(0))),
        Arc::new(CountWakes(AtomicUsize::new(0))),
    );
    for waker in [&first, &second] {
        let waker = std::task::Waker::from(waker.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut done)
            .poll_next(&mut cx)
            .is_pending());
    }
    p.set_result(1).unwrap();
    assert_eq!(
        second.0.load(Ordering::SeqCst),
        1,
        "the last task to poll is woken"
    );
    assert_eq!(first.0.load(Ordering::SeqCst), 0);
}

#[test]
fn debug_shows_the_stream_and_its_items_still_to_come() {
    let done = multi::as_completed(vec![Promise::<u8>::new(), Promise::resolved(1)]);
    let shown = format!("{done:?}");
    assert!(shown.starts_with("AsCompleted"), "{shown}");
    assert!(shown.contains("remaining: 2"), "{shown}");
}
