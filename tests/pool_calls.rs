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
