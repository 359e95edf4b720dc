//! `multi_async` and `MultiFuture`: one test per rule of SPEC Part 1, plus the Rust
//! design's own (shape kept, linear cost, thread safety, auto traits).

mod common;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio::sync::oneshot::error::RecvError;

use std::error::Error as _;

use pulsar_async::multi::KeyedError;
use pulsar_async::{
    maybe_async, multi_async, multi_async_settled, run_in_loop, Error, ErrorKind, EventLoop,
    MaybeAsync, MultiFuture, Promise,
};

const LONG: Duration = Duration::from_secs(10);

use common::Counted;

/// A value that counts how often it is cloned.
#[derive(Debug)]
struct CloneCount(Arc<AtomicUsize>);

impl Clone for CloneCount {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::Relaxed);
        CloneCount(self.0.clone())
    }
}

// SPEC: `data` None gives `[]`; an empty input is done right after construction.

#[test]
fn an_empty_vec_is_done_at_once_with_an_empty_vec() {
    let all: MultiFuture<Vec<u8>> = multi_async(Vec::<Promise<u8>>::new());
    assert!(all.is_done());
    let out: Vec<u8> = all.try_result().unwrap();
    assert!(out.is_empty());
    assert!(all.failures().is_empty());
}

#[test]
fn an_empty_hashmap_is_done_at_once_with_an_empty_hashmap() {
    let all = multi_async(HashMap::<String, Promise<u8>>::new());
    assert!(all.is_done());
    let out: HashMap<String, u8> = all.try_result().unwrap();
    assert!(out.is_empty());
}

// SPEC: a mapping gives a mapping of the same type with the same keys.

#[test]
fn a_hashmap_gives_a_hashmap_with_the_same_keys() {
    let (slow, fast) = (Promise::new(), Promise::new());
    let all = multi_async(HashMap::from([
        ("slow", MaybeAsync::from(slow.clone())),
        ("fast", MaybeAsync::from(fast.clone())),
        ("now", MaybeAsync::ready(0)),
    ]));
    fast.set_result(1).unwrap();
    slow.set_result(2).unwrap();
    let out: HashMap<&str, i32> = all.try_result().unwrap();
    assert_eq!(out, HashMap::from([("slow", 2), ("fast", 1), ("now", 0)]));
}

#[test]
fn a_hashmap_keeps_its_own_hasher_type() {
    type Hasher = BuildHasherDefault<std::collections::hash_map::DefaultHasher>;
    let mut input: HashMap<u32, Result<u32, Error>, Hasher> = HashMap::default();
    input.insert(7, Ok(49));
    let out: HashMap<u32, u32, Hasher> = multi_async(input).try_result().unwrap();
    assert_eq!(out[&7], 49);
}

#[test]
fn a_btreemap_gives_a_btreemap_in_key_order() {
    let later = Promise::new();
    let all = multi_async(BTreeMap::from([
        (3, MaybeAsync::from(later.clone())),
        (1, MaybeAsync::ready('a')),
        (2, MaybeAsync::ready('b')),
    ]));
    later.set_result('c').unwrap();
    let out: BTreeMap<i32, char> = all.try_result().unwrap();
    assert_eq!(
        out.into_iter().collect::<Vec<_>>(),
        [(1, 'a'), (2, 'b'), (3, 'c')]
    );
}

#[cfg(feature = "indexmap")]
#[test]
fn an_indexmap_keeps_its_insertion_order() {
    let later = Promise::new();
    let mut input = indexmap::IndexMap::new();
    input.insert("z", MaybeAsync::from(later.clone()));
    input.insert("a", MaybeAsync::ready(1));
    let all = multi_async(input);
    later.set_result(26).unwrap();
    let out: indexmap::IndexMap<&str, i32> = all.try_result().unwrap();
    assert_eq!(out.into_iter().collect::<Vec<_>>(), [("z", 26), ("a", 1)]);
}

// SPEC: any other iterable gives a list in input order.

#[test]
fn any_iterator_gives_a_vec_in_input_order() {
    let promises: Vec<Promise<usize>> = (0..5).map(|_| Promise::new()).collect();
    let all: MultiFuture<Vec<usize>> = promises.iter().cloned().collect();
    for (i, p) in promises.iter().enumerate().rev() {
        p.set_result(i * 10).unwrap();
    }
    assert_eq!(all.try_result().unwrap(), [0, 10, 20, 30, 40]);
}

#[test]
fn an_array_gives_an_array_of_the_same_length() {
    let p = Promise::new();
    let all = multi_async([
        MaybeAsync::ready(1),
        MaybeAsync::from(p.clone()),
        MaybeAsync::ready(3),
    ]);
    p.set_result(2).unwrap();
    let out: [i32; 3] = all.try_result().unwrap();
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn a_vecdeque_gives_a_vecdeque_in_order() {
    let all = multi_async(VecDeque::from([Ok(1), Ok(2)]));
    let out: VecDeque<i32> = all.try_result().unwrap();
    assert_eq!(out, [1, 2]);
}

// SPEC: plain values are stored as they are; futures already done are stored at once;
// only pending futures are waited for.

#[test]
fn pending_a_pending_b_ready_bla_resolved_b_then_a_gives_a_b_bla() {
    let (a, b) = (Promise::new(), Promise::new());
    let all = multi_async(vec![
        MaybeAsync::from(a.clone()),
        MaybeAsync::from(b.clone()),
        MaybeAsync::ready("bla"),
    ]);
    assert!(!all.is_done());
    b.set_result("b").unwrap();
    assert!(!all.is_done());
    a.set_result("a").unwrap();
    assert_eq!(all.try_result().unwrap(), ["a", "b", "bla"]);
}

#[test]
fn plain_values_and_done_promises_are_stored_at_once() {
    let done = Promise::resolved(2);
    let shared_done = Promise::resolved(3);
    let keep = shared_done.clone();
    let all = multi_async(vec![
        MaybeAsync::ready(1),
        MaybeAsync::from(done),
        MaybeAsync::from(shared_done),
        MaybeAsync::from(Ok(4)),
    ]);
    assert!(all.is_done());
    assert_eq!(all.try_result().unwrap(), [1, 2, 3, 4]);
    drop(keep);
}

#[test]
fn ready_values_and_unique_done_promises_are_moved_not_cloned() {
    let clones = Arc::new(AtomicUsize::new(0));
    let all = multi_async(vec![
        MaybeAsync::ready(CloneCount(clones.clone())),
        MaybeAsync::from(Promise::resolved(CloneCount(clones.clone()))),
    ]);
    let out = all.into_promise().take();
    let out = futures::executor::block_on(out).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(clones.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn futures_finishing_in_reverse_order_keep_input_order() {
    let inputs: Vec<_> = (0..5u64)
        .map(|i| {
            maybe_async(async move {
                tokio::time::sleep(Duration::from_secs(5 - i)).await;
                i
            })
        })
        .collect();
    let start = tokio::time::Instant::now();
    let all = multi_async(inputs);
    assert_eq!(all.await.unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

// SPEC: when nothing is pending the result is set: all-ready inputs are done right
// after construction, with no loop iteration.

#[test]
fn all_ready_inputs_are_done_at_construction_without_a_loop_iteration() {
    // A caller-driven loop that is never run: nothing could iterate it.
    let lp = EventLoop::builder().build_driven().unwrap();
    let done_on_loop = lp.create_promise();
    done_on_loop.set_result(3).unwrap();
    let all = multi_async(vec![
        MaybeAsync::ready(1),
        MaybeAsync::from(Ok(2)),
        MaybeAsync::from(done_on_loop),
    ]);
    assert!(all.is_done());
    assert_eq!(all.try_result().unwrap(), [1, 2, 3]);
}

#[test]
fn the_last_pending_input_sets_the_result_on_its_own_thread_at_once() {
    let p = Promise::new();
    let all = multi_async(vec![MaybeAsync::from(p.clone()), MaybeAsync::ready(1)]);
    p.set_result(0).unwrap();
    // No loop, no executor: the done-callback completed the gather inline.
    assert!(all.is_done());
}

// SPEC: raise_on_error=True: the first failure (exception or cancellation) fails the
// whole at once; the other futures are no longer waited for (not cancelled).

#[test]
fn with_raise_on_error_the_first_failure_fails_the_whole_at_once() {
    let (a, b, c) = (
        Promise::<u8>::new(),
        Promise::<u8>::new(),
        Promise::<u8>::new(),
    );
    let all = multi_async(vec![a.clone(), b.clone(), c.clone()]);
    b.set_error(Error::user("b broke")).unwrap();
    assert!(all.is_done());
    let err = all.try_result().unwrap_err();
    assert_eq!(err.to_string(), "multi_async: input 1 failed");
    assert_eq!(err.source().unwrap().to_string(), "b broke");
    assert!(!a.is_done() && !c.is_done(), "the others are not cancelled");
    c.set_error(Error::user("c broke too")).unwrap();
    let err = all.try_result().unwrap_err();
    assert_eq!(err.source().unwrap().to_string(), "b broke");
    let failures = all.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, 1);
}

#[test]
fn with_raise_on_error_a_cancelled_input_fails_the_whole_as_cancelled() {
    let (a, b) = (Promise::<u8>::new(), Promise::<u8>::new());
    let all = multi_async(vec![a.clone(), b.clone()]);
    assert!(b.cancel());
    assert_eq!(all.try_result().unwrap_err().kind(), ErrorKind::Cancelled);
    assert!(!a.is_done());
}

#[test]
fn with_raise_on_error_a_ready_failure_fails_the_whole_at_construction() {
    let pending = Promise::<u8>::new();
    let all = multi_async(BTreeMap::from([
        ("bad", MaybeAsync::failed(Error::from(ErrorKind::Timeout))),
        ("later", MaybeAsync::from(pending.clone())),
    ]));
    assert!(all.is_done());
    assert_eq!(all.try_result().unwrap_err().kind(), ErrorKind::Timeout);
    assert_eq!(all.failures()[0].0, "bad");
    assert!(!pending.is_done());
}

// With raise_on_error, the error names the failed input's key (its
// `Debug`), the key is retrievable typed, and the input's error stays the source.

/// The key the gather's error names, its message, and its source's message.
fn keyed<K: std::fmt::Debug + Clone + Send + Sync + 'static>(err: &Error) -> (K, String, String) {
    let keyed = err
        .downcast_ref::<KeyedError<K>>()
        .expect("a raised gather error carries a KeyedError");
    let source = err.source().expect("the input's error is the source");
    (keyed.key().clone(), err.to_string(), source.to_string())
}

#[test]
fn a_raised_error_names_the_index_of_the_failed_vec_input() {
    let (a, b) = (Promise::<u8>::new(), Promise::<u8>::new());
    let all = multi_async(vec![a.clone(), b.clone()]);
    b.set_error(Error::user("b broke")).unwrap();
    let err = all.try_result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::User, "the input's kind is kept");
    assert_eq!(
        keyed::<usize>(&err),
        (1, "multi_async: input 1 failed".into(), "b broke".into())
    );
    assert_eq!(KeyedError::<usize>::key_of(&err), Some(&1));
    let inner = err.downcast_ref::<KeyedError<usize>>().unwrap().error();
    assert_eq!(
        std::error::Error::source(inner).unwrap().to_string(),
        "b broke"
    );
    drop(a);
}

#[test]
fn a_raised_error_names_the_index_of_the_failed_array_input_ready_or_pending() {
    let ready = multi_async([
        MaybeAsync::ready(1u8),
        MaybeAsync::failed(Error::from(ErrorKind::Timeout)),
    ]);
    let err = ready.try_result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(
        keyed::<usize>(&err),
        (1, "multi_async: input 1 failed".into(), "timed out".into())
    );

    let p = Promise::<u8>::new();
    let pending = multi_async([Promise::resolved(1), p.clone(), Promise::new()]);
    p.set_error(Error::user("late")).unwrap();
    assert_eq!(keyed::<usize>(&pending.try_result().unwrap_err()).0, 1);
}

#[test]
fn a_raised_error_names_the_key_of_the_failed_hashmap_input() {
    let (tea, cake) = (Promise::<u8>::new(), Promise::<u8>::new());
    let all = multi_async(HashMap::from([
        (String::from("tea"), tea.clone()),
        (String::from("cake"), cake.clone()),
    ]));
    cake.set_error(Error::user("oven broke")).unwrap();
    assert_eq!(
        keyed::<String>(&all.try_result().unwrap_err()),
        (
            "cake".into(),
            r#"multi_async: input "cake" failed"#.into(),
            "oven broke".into()
        )
    );
    drop(tea);
}

#[test]
fn a_raised_error_names_the_key_of_the_failed_btreemap_input_even_when_cancelled() {
    let (a, b) = (Promise::<u8>::new(), Promise::<u8>::new());
    let all = multi_async(BTreeMap::from([(10u32, a.clone()), (20u32, b.clone())]));
    assert!(a.cancel());
    let err = all.try_result().unwrap_err();
    assert!(
        err.is_cancelled(),
        "a cancelled input still fails it as cancelled"
    );
    assert_eq!(keyed::<u32>(&err).0, 10);
    assert_eq!(err.to_string(), "multi_async: input 10 failed");
}

#[test]
fn a_raised_error_names_the_index_of_a_failed_vecdeque_or_iterator_input() {
    let err = multi_async(VecDeque::from([Ok(1u8), Err(Error::user("x"))]))
        .try_result()
        .unwrap_err();
    assert_eq!(keyed::<usize>(&err).0, 1);
    let all: MultiFuture<Vec<u8>> = (0..3u8)
        .map(|i| {
            if i == 2 {
                Err(Error::user("two"))
            } else {
                Ok(i)
            }
        })
        .collect();
    assert_eq!(keyed::<usize>(&all.try_result().unwrap_err()).0, 2);
}

#[cfg(feature = "indexmap")]
#[test]
fn a_raised_error_names_the_key_of_the_failed_indexmap_input() {
    let p = Promise::<u8>::new();
    let all = multi_async(indexmap::IndexMap::from([
        ("one", Promise::resolved(1)),
        ("two", p.clone()),
    ]));
    p.set_error(Error::user("no")).unwrap();
    assert_eq!(keyed::<&str>(&all.try_result().unwrap_err()).0, "two");
}

#[test]
fn anyhow_prints_the_failed_key_and_then_the_input_error_each_once() {
    let all = multi_async(BTreeMap::from([(
        "disk",
        Promise::<u8>::failed(Error::user("on fire")),
    )]));
    let report = anyhow::Error::new(all.try_result().unwrap_err());
    assert_eq!(
        format!("{report:#}"),
        r#"multi_async: input "disk" failed: on fire"#
    );
    let debug = format!("{report:?}");
    assert_eq!(debug.matches("on fire").count(), 1, "{debug}");
    assert_eq!(debug.matches("disk").count(), 1, "{debug}");
}

#[test]
fn a_nested_gather_error_names_the_outer_key_with_the_innermost_error_as_source() {
    let leaf = Promise::<u8>::new();
    let inner = multi_async(vec![Promise::resolved(0), leaf.clone()]).into_promise();
    let outer = multi_async(vec![
        Promise::resolved(vec![0]),
        Promise::resolved(vec![1]),
        inner,
    ]);
    leaf.set_error(Error::user("leaf broke")).unwrap();
    let err = outer.try_result().unwrap_err();
    assert_eq!(
        keyed::<usize>(&err),
        (2, "multi_async: input 2 failed".into(), "leaf broke".into())
    );
    let keyed = err.downcast_ref::<KeyedError<usize>>().unwrap();
    assert!(
        keyed.error().downcast_ref::<KeyedError<usize>>().is_none(),
        "one link deep"
    );
}

#[test]
fn a_settled_gather_keeps_each_failure_as_it_is_in_its_slot() {
    let out = multi_async_settled(vec![Promise::<u8>::failed(Error::user("x"))])
        .try_result()
        .unwrap();
    let err = out[0].as_ref().unwrap_err();
    assert_eq!(std::error::Error::source(err).unwrap().to_string(), "x");
    assert!(err.downcast_ref::<KeyedError<usize>>().is_none());
}

// SPEC: raise_on_error=False: a failure is stored in its slot as the error value, and
// appended to `failures`; the whole succeeds.

#[test]
fn without_raise_on_error_failures_sit_in_their_slots_and_keep_their_keys() {
    let (ok, bad, gone) = (Promise::new(), Promise::<u8>::new(), Promise::<u8>::new());
    let all = multi_async_settled(HashMap::from([
        ("ok", MaybeAsync::from(ok.clone())),
        ("bad", MaybeAsync::from(bad.clone())),
        ("gone", MaybeAsync::from(gone.clone())),
        ("ready-bad", MaybeAsync::failed(Error::user("at once"))),
    ]));
    bad.set_error(Error::user("later")).unwrap();
    gone.cancel();
    assert!(!all.is_done(), "a failure does not stop the gather");
    ok.set_result(1).unwrap();

    let mut keys: Vec<&str> = all.failures().into_iter().map(|(k, _)| k).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["bad", "gone", "ready-bad"]);
    let out = all.try_result().unwrap();
    assert_eq!(*out["ok"].as_ref().unwrap(), 1);
    let later = out["bad"].as_ref().unwrap_err();
    assert_eq!(
        std::error::Error::source(later).unwrap().to_string(),
        "later"
    );
    assert!(out["gone"].as_ref().unwrap_err().is_cancelled());
    assert_eq!(
        std::error::Error::source(out["ready-bad"].as_ref().unwrap_err())
            .unwrap()
            .to_string(),
        "at once"
    );
}

#[test]
fn without_raise_on_error_failures_are_listed_in_the_order_they_were_seen() {
    let (a, b) = (Promise::<u8>::new(), Promise::<u8>::new());
    let all = multi_async_settled(vec![
        MaybeAsync::from(a.clone()),
        MaybeAsync::from(b.clone()),
        MaybeAsync::failed(Error::user("ready")),
    ]);
    b.set_error(Error::user("b")).unwrap();
    a.set_error(Error::user("a")).unwrap();
    let order: Vec<usize> = all.failures().into_iter().map(|(i, _)| i).collect();
    assert_eq!(order, [2, 1, 0]);
    assert_eq!(all.try_result().unwrap().len(), 3);
}

// SPEC: thread safe; a done-callback from a future of another loop or thread is
// handed to the MultiFuture's own loop.

#[test]
fn inputs_from_two_other_loops_threads_are_gathered_in_order() {
    let one = EventLoop::builder().name("one").spawn().unwrap();
    let two = EventLoop::builder().name("two").spawn().unwrap();
    let inputs: Vec<Promise<(usize, Option<String>)>> = (0..20_000)
        .map(|i| {
            let lp = if i % 2 == 0 { &one } else { &two };
            run_in_loop(lp, move || {
                (i, std::thread::current().name().map(String::from))
            })
        })
        .collect();
    let out = multi_async(inputs).wait_timeout(LONG).unwrap();
    assert_eq!(out.len(), 20_000);
    for (i, (index, thread)) in out.into_iter().enumerate() {
        assert_eq!(index, i);
        assert_eq!(
            thread.as_deref(),
            Some(if i % 2 == 0 { "one" } else { "two" })
        );
    }
}

#[test]
fn inputs_settled_by_many_threads_at_once_are_each_counted_once() {
    for _ in 0..20 {
        let promises: Vec<Promise<usize>> = (0..400).map(|_| Promise::new()).collect();
        let all = multi_async_settled(promises.clone());
        let threads: Vec<_> = promises
            .chunks(100)
            .map(|chunk| chunk.to_vec())
            .enumerate()
            .map(|(t, chunk)| {
                std::thread::spawn(move || {
                    for (i, p) in chunk.into_iter().enumerate() {
                        let n = t * 100 + i;
                        if n % 7 == 0 {
                            p.set_error(Error::user("seven")).unwrap();
                        } else {
                            p.set_result(n).unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let out = all.wait_timeout(LONG).unwrap();
        assert_eq!(out.len(), 400);
        for (n, slot) in out.iter().enumerate() {
            assert_eq!(slot.is_err(), n % 7 == 0);
        }
        assert_eq!(
            all.failures().len(),
            (0..400).filter(|n| n % 7 == 0).count()
        );
    }
}

#[test]
fn on_a_loop_the_result_runs_its_done_callbacks_on_that_loop() {
    let home = EventLoop::builder().name("home").spawn().unwrap();
    let input = Promise::<u8>::new();
    let theirs = input.clone();
    let all = run_in_loop(&home, move || multi_async(vec![theirs]).into_promise())
        .wait_timeout(LONG)
        .unwrap();
    let (tx, rx) = mpsc::channel();
    all.add_done_callback(move |_| {
        let _ = tx.send(std::thread::current().name().map(String::from));
    });
    input.set_result(1).unwrap(); // settled on this thread, not the loop's
    assert_eq!(rx.recv_timeout(LONG).unwrap().as_deref(), Some("home"));
}

// Linear cost: completion is counted per item, never by re-polling every input.

/// `n` oneshot receivers whose values were already sent, each counting its polls and
/// gone through `maybe_async`.
fn completed_inputs(
    n: usize,
    polls: &Arc<AtomicUsize>,
) -> Vec<MaybeAsync<Result<usize, RecvError>>> {
    (0..n)
        .map(|i| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            tx.send(i).unwrap();
            maybe_async(Counted {
                inner: rx,
                polls: polls.clone(),
            })
        })
        .collect()
}

#[test]
fn gathering_100_000_completed_futures_polls_each_once_and_is_done_at_once() {
    const N: usize = 100_000;
    let polls = Arc::new(AtomicUsize::new(0));
    let all = multi_async(completed_inputs(N, &polls));
    assert!(all.is_done());
    let out = all.try_result().unwrap();
    assert_eq!(out.len(), N);
    assert_eq!(out[N - 1], Ok(N - 1));
    assert_eq!(polls.load(Ordering::Relaxed), N);
}

/// Awaits `all` (counting its own polls) and checks its `n` values are `Ok(0..n)` in
/// order, with at most two polls per input (`polls`) and two of the whole.
async fn assert_in_order_with_at_most_two_polls_each<E>(
    all: MultiFuture<Vec<Result<usize, E>>>,
    n: usize,
    polls: &AtomicUsize,
) where
    E: PartialEq + Clone + Send + Sync + 'static,
{
    let whole_polls = Arc::new(AtomicUsize::new(0));
    let out = Counted {
        inner: all,
        polls: whole_polls.clone(),
    }
    .await
    .unwrap();
    assert_eq!(out.len(), n);
    assert!(out.iter().enumerate().all(|(i, v)| *v == Ok(i)));
    assert!(
        polls.load(Ordering::Relaxed) <= 2 * n,
        "polls: {}",
        polls.load(Ordering::Relaxed)
    );
    assert!(whole_polls.load(Ordering::Relaxed) <= 2);
}

#[tokio::test(flavor = "current_thread")]
async fn gathering_100_000_completed_futures_in_a_tokio_task_polls_each_at_most_twice() {
    // Inside a task, tokio's cooperative budget makes its resources answer `Pending`
    // after a while, completed or not: those inputs become tasks, polled once more.
    const N: usize = 100_000;
    let polls = Arc::new(AtomicUsize::new(0));
    let all = multi_async(completed_inputs(N, &polls));
    assert_in_order_with_at_most_two_polls_each(all, N, &polls).await;
}

#[tokio::test(flavor = "current_thread")]
async fn gathering_100_000_futures_that_finish_later_polls_each_at_most_twice() {
    const N: usize = 100_000;
    let polls = Arc::new(AtomicUsize::new(0));
    let (senders, inputs): (Vec<_>, Vec<_>) = (0..N)
        .map(|_| {
            let (tx, rx) = tokio::sync::oneshot::channel::<usize>();
            let input = maybe_async(Counted {
                inner: rx,
                polls: polls.clone(),
            });
            (tx, input)
        })
        .unzip();
    let all = multi_async(inputs);
    assert!(!all.is_done());
    for (i, tx) in senders.into_iter().enumerate().rev() {
        tx.send(i).unwrap();
    }
    assert_in_order_with_at_most_two_polls_each(all, N, &polls).await;
}

// The result as a promise: awaitable, chainable, with a blocking wait.

#[test]
fn the_result_is_a_promise_a_plain_thread_can_wait_for() {
    let p = Promise::new();
    let all = multi_async(vec![p.clone(), Promise::resolved(2)]);
    let promise: Promise<Vec<i32>> = all.promise();
    let setter = std::thread::spawn(move || p.set_result(1).unwrap());
    assert_eq!(promise.wait_timeout(LONG).unwrap(), [1, 2]);
    setter.join().unwrap();
    assert_eq!(all.wait_timeout(LONG).unwrap(), [1, 2]);
}

#[test]
fn a_multi_future_can_be_an_input_of_another() {
    let p = Promise::new();
    let inner = multi_async(vec![p.clone()]);
    let outer = multi_async(vec![
        pulsar_async::maybe::IntoMaybeAsync::into_maybe_async(inner),
        MaybeAsync::ready(vec![0]),
    ]);
    p.set_result(9).unwrap();
    assert_eq!(outer.try_result().unwrap(), [vec![9], vec![0]]);
}

#[test]
fn cancelling_the_multi_future_leaves_the_inputs_alone() {
    let input = Promise::<u8>::new();
    let all = multi_async(vec![input.clone()]);
    assert!(all.cancel());
    assert!(all.try_result().unwrap_err().is_cancelled());
    input.set_result(1).unwrap();
    assert!(all.try_result().unwrap_err().is_cancelled());
    assert!(!all.cancel());
}

#[test]
fn a_blocking_wait_on_the_loop_that_owns_the_result_fails_instead_of_hanging() {
    let lp = EventLoop::new().unwrap();
    let never = Promise::<u8>::new();
    // Kept alive: an input whose every handle is gone fails the gather at once.
    let input = never.clone();
    let err = run_in_loop(&lp, move || multi_async(vec![input]).wait().unwrap_err())
        .wait_timeout(LONG)
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
    drop(never);
}

#[test]
fn a_gather_runs_inside_a_caller_driven_loop() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let local = Rc::new(Cell::new(0));
    let out = lp
        .run_until_complete({
            let local = local.clone();
            async move {
                let inputs: Vec<_> = (1..=3u32)
                    .map(|i| {
                        maybe_async(async move {
                            tokio::task::yield_now().await;
                            i
                        })
                    })
                    .collect();
                let out = multi_async(inputs).await;
                local.set(1);
                out
            }
        })
        .unwrap();
    assert_eq!(out.unwrap(), [1, 2, 3]);
    assert_eq!(local.get(), 1);
}

#[test]
fn a_panic_while_building_the_output_fails_the_whole_instead_of_hanging() {
    #[derive(Debug)]
    struct Fragile;
    impl Clone for Fragile {
        fn clone(&self) -> Self {
            panic!("cannot clone")
        }
    }
    let p = Promise::new();
    let keep = p.clone(); // a second handle: the value must be cloned out
    let all = multi_async(vec![p]);
    keep.set_result(Fragile).unwrap();
    let err = all
        .promise()
        .peek()
        .unwrap()
        .as_ref()
        .map(|_| ())
        .unwrap_err()
        .clone();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    // Reading input 0 panicked: the gather's error names it.
    let keyed = err.downcast_ref::<KeyedError<usize>>().unwrap();
    assert_eq!(
        (*keyed.key(), keyed.error().message()),
        (0, Some("cannot clone"))
    );
}

#[tokio::test]
async fn a_map_of_join_handles_whose_outputs_are_not_clone_is_gathered() {
    type Read = Result<Vec<u8>, std::io::Error>;
    let handles: HashMap<&str, _> = HashMap::from([
        (
            "a",
            tokio::spawn(async { Ok::<_, std::io::Error>(vec![1]) }),
        ),
        (
            "b",
            tokio::spawn(async { std::fs::read("/definitely/not/here") }),
        ),
    ]);
    let inputs: HashMap<&str, MaybeAsync<Result<Read, tokio::task::JoinError>>> = handles
        .into_iter()
        .map(|(k, h)| (k, maybe_async(h)))
        .collect();
    let out = multi_async(inputs).await.unwrap();
    assert_eq!(out["a"].as_ref().unwrap().as_ref().unwrap(), &[1]);
    assert!(out["b"].as_ref().unwrap().is_err());
}

// Mutation testing (TESTING.md): the rules below were each left unchecked by a
// mutant that survived the suite.

#[test]
fn a_pending_gather_given_as_an_input_is_waited_for() {
    let p = Promise::new();
    // The inner gather itself is the input: it says it is not ready, and is waited for.
    let outer = multi_async(vec![multi_async(vec![p.clone()])]);
    assert!(!outer.is_done());
    p.set_result(9).unwrap();
    assert_eq!(outer.try_result().unwrap(), [vec![9]]);
}

#[test]
fn a_done_gather_given_as_an_input_is_gathered_at_once() {
    let outer = multi_async(vec![multi_async(vec![Promise::resolved(9)])]);
    assert_eq!(outer.try_result().unwrap(), [vec![9]]);
}

#[test]
fn a_gather_turns_into_the_promise_of_its_output() {
    let input = Promise::<u8>::new();
    let from: Promise<Vec<u8>> = Promise::from(multi_async(vec![input.clone()]));
    let into = multi_async(vec![input.clone()]).into_promise();
    input.set_result(3).unwrap();
    assert_eq!(from.wait_timeout(LONG).unwrap(), [3]);
    assert_eq!(into.wait_timeout(LONG).unwrap(), [3]);
}

#[test]
fn debug_shows_the_gather_and_how_many_inputs_failed() {
    let all = multi_async_settled(vec![
        MaybeAsync::ready(1),
        MaybeAsync::failed(Error::user("no")),
    ]);
    let shown = format!("{all:?}");
    assert!(shown.starts_with("MultiFuture"), "{shown}");
    assert!(shown.contains("failures: 1"), "{shown}");
}

#[test]
fn the_failures_of_a_gather_of_ready_inputs_are_listed_by_key() {
    let all = multi_async_settled(HashMap::from([
        ("ok", MaybeAsync::ready(1)),
        ("bad", MaybeAsync::failed(Error::user("no"))),
    ]));
    let keys: Vec<&str> = all.failures().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["bad"]);
}

/// An input that is ready although it says it may not be (`is_ready` is `false` by
/// default): a gather must find out as it takes it.
struct ReadyUnannounced(Result<u8, Error>);

impl pulsar_async::maybe::IntoMaybeAsync for ReadyUnannounced {
    type Output = u8;
    fn into_maybe_async(self) -> MaybeAsync<u8> {
        MaybeAsync::from(self.0)
    }
}

#[test]
fn inputs_ready_without_saying_so_are_gathered_at_once_with_their_failures_listed() {
    let all = multi_async_settled(vec![
        ReadyUnannounced(Ok(1)),
        ReadyUnannounced(Err(Error::user("no"))),
    ]);
    let out = all.try_result().unwrap();
    assert_eq!(*out[0].as_ref().unwrap(), 1);
    assert!(out[1].is_err());
    let indexes: Vec<usize> = all.failures().into_iter().map(|(i, _)| i).collect();
    assert_eq!(indexes, [1]);
}

/// A value that counts its drops.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn cancelling_a_gather_drops_the_values_it_holds_at_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pending = Promise::<DropCount>::new();
    let setter = pending.setter();
    let all = multi_async(vec![Promise::resolved(DropCount(drops.clone())), pending]);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert!(all.cancel());
    // The other input is still pending, and still holds the gather's callback.
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(setter);
    drop(all);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_keyed_error_debugs_as_its_key_and_its_inputs_error() {
    let all = multi_async(vec![
        MaybeAsync::ready(1),
        MaybeAsync::failed(Error::user("no")),
    ]);
    let err = all.try_result().unwrap_err();
    let keyed = err.downcast_ref::<KeyedError<usize>>().unwrap();
    let shown = format!("{keyed:?}");
    assert!(shown.starts_with("KeyedError { key: 1, error: "), "{shown}");
    assert!(shown.contains("no"), "{shown}");
}

/// An input that says it holds a value and then gives none (a wrong `is_value`).
struct ClaimsAValue;

impl pulsar_async::maybe::IntoMaybeAsync for ClaimsAValue {
    type Output = u8;
    fn into_maybe_async(self) -> MaybeAsync<u8> {
        MaybeAsync::failed(Error::user("no value after all"))
    }
    fn is_value(&self) -> bool {
        true
    }
}

#[test]
fn an_input_that_says_it_holds_a_value_and_gives_none_fails_the_gather_with_panicked() {
    let all = multi_async(vec![ClaimsAValue, ClaimsAValue]);
    let err = all.try_result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(err.to_string().contains("said it held a value"), "{err}");
}

#[test]
fn a_gather_of_values_keeps_the_shape_and_order_of_every_container() {
    let n = 10_000u64;
    let v: Vec<u64> = multi_async((0..n).map(Ok).collect::<Vec<Result<u64, Error>>>())
        .try_result()
        .unwrap();
    assert_eq!(v, (0..n).collect::<Vec<_>>());
    let d = multi_async((0..n).map(Ok).collect::<VecDeque<Result<u64, Error>>>())
        .try_result()
        .unwrap();
    assert!(d.iter().copied().eq(0..n));
    let m = multi_async(
        (0..n)
            .map(|i| (i, Ok(i * 2)))
            .collect::<HashMap<u64, Result<u64, Error>>>(),
    )
    .try_result()
    .unwrap();
    assert!(m.len() == n as usize && m.iter().all(|(k, v)| *v == k * 2));
    let a = multi_async([Ok::<u8, Error>(1), Ok(2), Ok(3)])
        .try_result()
        .unwrap();
    assert_eq!(a, [1, 2, 3]);
    let settled = multi_async_settled(vec![MaybeAsync::ready(7u8), MaybeAsync::ready(8)])
        .try_result()
        .unwrap();
    assert_eq!(*settled[1].as_ref().unwrap(), 8);
}
