//! `LoopPool`: N loops sharing work, by load, by key, by index; one value of state per
//! loop; closing and shutting down all at once.

use pulsar_async::event_loop::LoopState;
use pulsar_async::{ErrorKind, EventLoop, LoopPool};
use std::collections::HashSet;
use std::time::Duration;

mod loops;
use loops::Held;

const LIMIT: Duration = Duration::from_secs(10);

/// Every loop of `pool` held busy by a call, until released.
fn hold_every_loop(pool: &LoopPool) -> Vec<Held> {
    pool.loops()
        .iter()
        .map(|lp| Held::new(lp.clone()))
        .collect()
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

#[test]
fn a_pool_has_n_loops_on_n_threads_named_in_order_with_the_builders_settings() {
    let pool = EventLoop::builder().name("w").debug(true).pool(3).unwrap();
    assert_eq!(pool.len(), 3);
    let names = pool.broadcast(thread_name).wait_timeout(LIMIT).unwrap();
    assert_eq!(names, ["w-0", "w-1", "w-2"]);
    assert!(pool.loops().iter().all(|lp| lp.is_debug()));
    let default = LoopPool::new().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(default.len(), cores);
}

#[test]
fn a_pool_of_zero_loops_and_an_index_out_of_range_are_invalid_input() {
    let err = EventLoop::builder().pool(0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let pool = EventLoop::builder().pool(2).unwrap();
    assert_eq!(pool.loop_at(2).unwrap_err().kind(), ErrorKind::InvalidInput);
    let local = pool.local(|_| 0u8);
    assert_eq!(local.at(5).unwrap_err().kind(), ErrorKind::InvalidInput);
    let call = local.call_at(usize::MAX, |n| *n);
    assert_eq!(
        call.try_result().unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn calls_with_the_same_key_run_on_the_same_loop_in_the_order_issued() {
    let pool = EventLoop::builder().name("k").pool(4).unwrap();
    let log = pool.local(|_| Vec::<(u32, u32)>::new());
    let keys = 0..64u32;
    let mut last = Vec::new();
    for i in 0..50u32 {
        for key in keys.clone() {
            let expected = pool.loop_at(pool.index_of(&key)).unwrap().name().to_owned();
            last.push(pool.run_keyed(&key, move || (thread_name() == expected) as u32));
            log.call_keyed(&key, move |l| l.push((key, i)));
        }
    }
    assert!(last
        .into_iter()
        .all(|p| p.wait_timeout(LIMIT).unwrap() == 1));
    let logs = log.broadcast(|l| l.clone()).wait_timeout(LIMIT).unwrap();
    let mut loops_used = HashSet::new();
    for key in keys {
        let holders: Vec<_> = (0..4)
            .filter(|&i| logs[i].iter().any(|(k, _)| *k == key))
            .collect();
        assert_eq!(holders.len(), 1, "key {key} on one loop only");
        loops_used.insert(holders[0]);
        let order: Vec<u32> = logs[holders[0]]
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(order, (0..50).collect::<Vec<_>>(), "key {key} in order");
    }
    assert!(
        loops_used.len() > 1,
        "64 keys spread over more than one loop"
    );
}

#[test]
fn run_goes_to_the_least_busy_loop() {
    let pool = EventLoop::builder().name("lb").pool(2).unwrap();
    // Loop 0 is held and has calls queued: new calls go to loop 1.
    let mut held = Held::new(pool.loop_at(0).unwrap().clone());
    let _queued: Vec<_> = (0..10)
        .map(|i| pulsar_async::run_in_loop(pool.loop_at(0).unwrap(), move || i))
        .collect();
    for _ in 0..20 {
        assert_eq!(
            pool.run_any(thread_name).wait_timeout(LIMIT).unwrap(),
            "lb-1"
        );
    }
    held.release();
}

#[test]
fn each_loop_has_its_own_value_built_and_used_on_its_thread() {
    let pool = EventLoop::builder().name("v").pool(2).unwrap();
    let local = pool.local(|i| (i, thread_name(), std::rc::Rc::new(())));
    for i in 0..2 {
        let (index, built_on) = local
            .call_at(i, |(n, name, _)| (*n, name.clone()))
            .wait_timeout(LIMIT)
            .unwrap();
        assert_eq!((index, built_on), (i, format!("v-{i}")));
    }
    let hits = pool.local(|_| 0u32);
    let calls: Vec<_> = (0..100).map(|_| hits.call_any(|n| *n += 1)).collect();
    for c in calls {
        c.wait_timeout(LIMIT).unwrap();
    }
    let per_loop = hits.broadcast(|n| *n).wait_timeout(LIMIT).unwrap();
    assert_eq!(per_loop.iter().sum::<u32>(), 100);
}

#[test]
fn closing_a_pool_fails_pending_calls_with_loop_closed() {
    let pool = EventLoop::builder().pool(2).unwrap();
    let mut held = hold_every_loop(&pool);
    let pending: Vec<_> = (0..20).map(|i| pool.run_keyed(&i, move || i)).collect();
    let releasers: Vec<_> = held.iter_mut().map(Held::releaser).collect();
    let closer = {
        let pool = pool.clone();
        std::thread::spawn(move || pool.close())
    };
    loops::within(LIMIT, {
        let pool = pool.clone();
        move || {
            while !pool.loops().iter().all(|lp| lp.is_closed()) {
                std::thread::yield_now()
            }
        }
    })
    .expect("the pool begins closing");
    for r in releasers {
        r();
    }
    closer.join().unwrap();
    for p in pending {
        assert_eq!(
            p.wait_timeout(LIMIT).unwrap_err().kind(),
            ErrorKind::LoopClosed
        );
    }
    assert_eq!(
        pool.run_any(|| 1).try_result().unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
}

#[test]
fn shutdown_drains_every_loop_and_reports_per_loop() {
    let pool = EventLoop::builder().pool(2).unwrap();
    let mut held = hold_every_loop(&pool);
    let queued: Vec<_> = (0..40u32).map(|i| pool.run_keyed(&i, move || i)).collect();
    let releasers: Vec<_> = held.iter_mut().map(Held::releaser).collect();
    let shutdown = {
        let pool = pool.clone();
        std::thread::spawn(move || pool.shutdown(Duration::from_secs(5)))
    };
    loops::within(LIMIT, {
        let pool = pool.clone();
        move || {
            // Every loop has left running (a probe call would itself be queued,
            // and counted as ran by the drain).
            while pool
                .loops()
                .iter()
                .any(|lp| lp.state() == LoopState::Running)
            {
                std::thread::yield_now()
            }
        }
    })
    .expect("the pool stops taking work");
    for r in releasers {
        r();
    }
    let reports = shutdown.join().unwrap().unwrap();
    assert_eq!(reports.len(), 2);
    // The 40 queued calls ran during the drain (the holding calls had started before).
    assert_eq!(
        reports.iter().map(|r| r.ran).sum::<usize>(),
        40,
        "{reports:?}"
    );
    assert!(reports.iter().all(|r| r.cut == 0));
    let sum: u32 = queued
        .into_iter()
        .map(|p| p.wait_timeout(LIMIT).unwrap())
        .sum();
    assert_eq!(sum, (0..40).sum());
}

#[test]
fn shutdown_from_a_loop_of_the_pool_is_would_deadlock() {
    let pool = EventLoop::builder().pool(2).unwrap();
    let inner = pool.clone();
    let err = pool.run_any(move || inner.shutdown(Duration::from_secs(1)).unwrap_err().kind());
    assert_eq!(err.wait_timeout(LIMIT).unwrap(), ErrorKind::WouldDeadlock);
}

#[tokio::test]
async fn shutdown_async_reports_every_loop_in_index_order_inside_a_tokio_runtime() {
    let pool = EventLoop::builder().pool(3).unwrap();
    let err = pool.shutdown(LIMIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
    assert!(err.to_string().contains("shutdown_async"), "{err}");
    // Two tasks on loop 1 only: its report alone counts them.
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            pool.loop_at(1).unwrap().spawn(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
            })
        })
        .collect();
    pulsar_async::run_in_loop(pool.loop_at(1).unwrap(), || ())
        .await
        .unwrap();
    let closed = pool.closed();
    let reports = pool.shutdown_async(LIMIT).await.unwrap();
    let finished: Vec<_> = reports.iter().map(|r| r.tasks_finished).collect();
    assert_eq!(finished, [0, 2, 0]);
    assert_eq!(closed.await, reports, "closed() gives the same reports");
    for t in tasks {
        t.await.unwrap();
    }
}

#[test]
fn shutdown_async_on_a_loop_of_the_pool_is_would_deadlock_and_changes_nothing() {
    let pool = EventLoop::builder().pool(2).unwrap();
    let inner = pool.clone();
    let err = pulsar_async::run_in_loop_async(pool.loop_at(0).unwrap(), move || async move {
        inner.shutdown_async(LIMIT).await.unwrap_err().kind()
    });
    assert_eq!(err.wait_timeout(LIMIT).unwrap(), ErrorKind::WouldDeadlock);
    assert!(pool
        .loops()
        .iter()
        .all(|lp| lp.state() == LoopState::Running));
}

#[test]
fn dropping_the_last_handle_closes_every_loop() {
    let pool = EventLoop::builder().pool(3).unwrap();
    let watchers: Vec<_> = pool.loops().iter().map(|lp| lp.closed()).collect();
    drop(pool);
    for w in watchers {
        loops::within(LIMIT, move || futures::executor::block_on(w)).expect("every loop closed");
    }
}

#[test]
fn metrics_per_loop_of_a_pool() {
    let pool = EventLoop::builder().name("m").pool(2).unwrap();
    for i in 0..10u32 {
        pool.loop_at(0)
            .map(|lp| pulsar_async::run_in_loop(lp, move || i))
            .unwrap()
            .wait_timeout(LIMIT)
            .unwrap();
    }
    let m = pool.metrics();
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].name, "m-1");
    assert!(m[0].calls_served >= 9, "{}", m[0]);
}

#[test]
fn dropping_the_pool_closes_only_the_loops_whose_last_handle_it_held() {
    let pool = EventLoop::builder().pool(2).unwrap();
    let kept = pool.loop_at(0).unwrap().clone();
    let other = pool.loop_at(1).unwrap().closed();
    drop(pool);
    // Loop 1 had no other handle: it closes.
    let closed = loops::within(LIMIT, move || futures::executor::block_on(other));
    assert!(closed.is_some(), "loop 1 closed in time");
    // Loop 0 is held by a clone of loop_at: it stays open and serves.
    assert_eq!(kept.state(), LoopState::Running);
    let answer = pulsar_async::run_in_loop(&kept, || 42);
    assert_eq!(answer.wait_timeout(LIMIT).unwrap(), 42);
}

#[test]
fn a_pool_of_more_loops_than_a_machine_can_serve_is_refused_up_front() {
    for loops in [4097, usize::MAX] {
        let err = EventLoop::builder().pool(loops).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("at most 4096"), "{err}");
    }
}

/// The loop a key goes to, by the name of its thread (`a-<index>`).
fn loop_name(pool: &LoopPool, key: &u32) -> String {
    format!("a-{}", pool.index_of(key))
}

#[test]
fn run_keyed_async_runs_the_whole_future_on_the_keys_loop_in_order_with_run_keyed() {
    let pool = EventLoop::builder().name("a").pool(3).unwrap();
    for key in 0..12u32 {
        let sync = pool.run_keyed(&key, thread_name);
        let later = pool.run_keyed_async(&key, || async {
            let before = thread_name();
            tokio::task::yield_now().await;
            (before, thread_name())
        });
        let want = loop_name(&pool, &key);
        assert_eq!(sync.wait_timeout(LIMIT).unwrap(), want);
        assert_eq!(later.wait_timeout(LIMIT).unwrap(), (want.clone(), want));
    }
}

#[test]
fn run_any_async_runs_its_future_on_a_loop_of_the_pool() {
    let pool = EventLoop::builder().name("a").pool(2).unwrap();
    let names: HashSet<String> = ["a-0", "a-1"].iter().map(|s| s.to_string()).collect();
    for _ in 0..8 {
        let (before, after) = pool
            .run_any_async(|| async {
                let before = thread_name();
                tokio::task::yield_now().await;
                (before, thread_name())
            })
            .wait_timeout(LIMIT)
            .unwrap();
        assert!(names.contains(&before), "{before}");
        assert_eq!(before, after, "the future stays on its loop");
    }
}

#[test]
fn call_async_keyed_reaches_the_keys_value_whether_the_future_is_ready_at_once_or_awaits() {
    let pool = EventLoop::builder().name("a").pool(3).unwrap();
    let counts = pool.local(|i| (i, 0u32));
    for key in 0..12u32 {
        // Ready at its first poll.
        let at_once = counts.call_async_keyed(&key, |state| async move {
            state.borrow_mut().1 += 1;
            (state.borrow().0, thread_name())
        });
        // Awaits before it reads the value again.
        let later = counts.call_async_keyed(&key, |state| async move {
            tokio::task::yield_now().await;
            let s = state.borrow();
            (s.0, s.1)
        });
        let index = pool.index_of(&key);
        assert_eq!(
            at_once.wait_timeout(LIMIT).unwrap(),
            (index, format!("a-{index}"))
        );
        let (seen_index, count) = later.wait_timeout(LIMIT).unwrap();
        assert_eq!(seen_index, index);
        assert!(count >= 1, "the first call's update is seen by the second");
    }
    let total: u32 = counts
        .broadcast(|s| s.1)
        .wait_timeout(LIMIT)
        .unwrap()
        .iter()
        .sum();
    assert_eq!(total, 12);
}

#[test]
fn call_async_any_reaches_the_value_of_a_loop_of_the_pool() {
    let pool = EventLoop::builder().name("a").pool(2).unwrap();
    let values = pool.local(|i| i);
    for _ in 0..8 {
        let (index, name) = values
            .call_async_any(|state| async move {
                tokio::task::yield_now().await;
                (*state.borrow(), thread_name())
            })
            .wait_timeout(LIMIT)
            .unwrap();
        assert_eq!(name, format!("a-{index}"), "each loop's own value");
    }
}

#[test]
fn shutdown_background_returns_at_once_and_the_pool_closes_with_a_report_per_loop() {
    let pool = EventLoop::builder().pool(3).unwrap();
    let queued: Vec<_> = (0..30u32).map(|i| pool.run_keyed(&i, move || i)).collect();
    let closed = pool.closed();
    pool.shutdown_background(Duration::from_secs(5));
    // Refused at once: the pool takes no new work.
    let refused = pool.run_any(|| 0u32);
    assert_eq!(
        refused.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
    let reports = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(async move { tokio::time::timeout(LIMIT, closed).await });
    let reports = reports.expect("the pool closed within the limit");
    assert_eq!(reports.len(), 3);
    // Calls served before the shutdown began are not in its reports; nothing queued
    // is cut with 5 s to drain.
    let (ran, cut): (usize, usize) = reports
        .iter()
        .fold((0, 0), |(r, c), x| (r + x.ran, c + x.cut));
    assert!(ran <= 30 && cut == 0, "{reports:?}");
    for (i, p) in queued.into_iter().enumerate() {
        assert_eq!(p.wait_timeout(LIMIT).unwrap(), i as u32);
    }
    assert!(pool
        .loops()
        .iter()
        .all(|lp| lp.state() == LoopState::Closed));
}
