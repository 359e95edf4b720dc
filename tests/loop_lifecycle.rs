//! One lifecycle (running, stopping, closing, closed) that every path follows: close
//! from inside a call, from another thread, twice at once; the last drop; the exit of
//! a caller-driven loop's owning thread; a loop kept only by its own work.

mod common;
mod loops;

use loops::{within, Held, LIMIT};
use pulsar_async::{run_in_loop, ErrorKind, EventLoop, Promise};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn closing_from_inside_a_call_cuts_every_call_queued_behind_it() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let remote = lp.clone();
    // Queued from another thread while the loop is idle, so that one iteration takes
    // them all: the closing call first, 100 calls behind it.
    let (closing, behind) = thread::spawn(move || {
        let inner = remote.clone();
        let closing = run_in_loop(&remote, move || {
            inner.close();
            "the closing call returns its value"
        });
        let behind: Vec<_> = (0..100).map(|i| run_in_loop(&remote, move || i)).collect();
        (closing, behind)
    })
    .join()
    .unwrap();
    let _ = lp.run_until_complete(std::future::pending::<()>());
    assert_eq!(
        closing.try_result().unwrap(),
        "the closing call returns its value"
    );
    for p in behind {
        assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    }
}

#[test]
fn close_from_another_thread_cuts_every_call_that_has_not_started() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let (remote, inner) = (lp.clone(), lp.clone());
    let started = Promise::<()>::new();
    let s = started.clone();
    // One iteration: a call that holds the loop until the close has begun, then
    // 10,000 calls behind it.
    let (holder, behind) = thread::spawn(move || {
        let holder = run_in_loop(&remote, move || {
            s.set_result(()).unwrap();
            let start = Instant::now();
            while !inner.is_closed() && start.elapsed() < LIMIT {
                thread::yield_now();
            }
            "held"
        });
        let behind: Vec<_> = (0..10_000)
            .map(|i| run_in_loop(&remote, move || i))
            .collect();
        (holder, behind)
    })
    .join()
    .unwrap();
    // Closes the loop while the holding call runs.
    let closer = {
        let lp = lp.clone();
        thread::spawn(move || {
            started.wait_timeout(LIMIT).unwrap();
            lp.close();
        })
    };
    let _ = lp.run_until_complete(std::future::pending::<()>());
    closer.join().unwrap();
    assert_eq!(holder.try_result().unwrap(), "held");
    let ran = behind.iter().filter(|p| p.try_result().is_ok()).count();
    assert_eq!(ran, 0, "no call that had not started when close began ran");
    for p in behind {
        assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    }
}

#[test]
fn a_second_concurrent_close_returns_only_once_the_loop_is_closed() {
    let lp = EventLoop::new().unwrap();
    let exited = common::thread_exit_flag(&lp);
    let mut held = Held::new(lp.clone());
    let closers: Vec<_> = (0..2)
        .map(|_| {
            let (lp, exited) = (lp.clone(), exited.clone());
            thread::spawn(move || {
                lp.close();
                // Returned: the loop is closed and its thread is gone.
                (lp.is_closed(), exited.load(Ordering::SeqCst))
            })
        })
        .collect();
    let start = Instant::now();
    while !lp.is_closed() && start.elapsed() < LIMIT {
        thread::yield_now();
    }
    thread::sleep(Duration::from_millis(50));
    let early = closers.iter().filter(|c| c.is_finished()).count();
    held.release();
    for c in closers {
        assert_eq!(c.join().unwrap(), (true, true));
    }
    assert_eq!(
        early, 0,
        "no close() returned while the loop was still running"
    );
    assert!(
        held.busy.wait_timeout(LIMIT).unwrap(),
        "the running call finished"
    );
}

#[test]
fn a_caller_driven_loop_whose_owning_thread_exits_is_closed_and_its_work_fails() {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let lp = EventLoop::builder().build_driven().unwrap();
        let queued = run_in_loop(&lp, || 1);
        tx.send((lp.clone(), queued)).unwrap();
        // The thread ends without closing or running the loop.
    })
    .join()
    .unwrap();
    let (lp, queued) = rx.recv_timeout(LIMIT).unwrap();
    assert!(lp.is_closed());
    let err = queued.wait_timeout(LIMIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LoopClosed);
    let later = run_in_loop(&lp, || 2).wait_timeout(LIMIT).unwrap_err();
    assert_eq!(later.kind(), ErrorKind::LoopClosed);
}

#[test]
fn closing_a_caller_driven_loop_from_another_thread_fails_its_tasks_promptly() {
    let (tx, rx) = mpsc::channel();
    let (release, held) = mpsc::channel::<()>();
    let owner = thread::spawn(move || {
        let lp = EventLoop::builder().build_driven().unwrap();
        // A task and a timer, started on the loop's task set; then the owning thread
        // goes on with other things and does not run the loop.
        let task = lp.spawn(std::future::pending::<u8>());
        let timer = lp.call_later(Duration::from_secs(3600), || 2u8);
        lp.run_until_complete(tokio::task::yield_now()).unwrap();
        tx.send((lp.clone(), task, timer)).unwrap();
        held.recv_timeout(LIMIT).ok();
    });
    let (lp, task, timer) = rx.recv_timeout(LIMIT).unwrap();
    let closed = within(LIMIT, move || lp.close());
    assert!(closed.is_some(), "close() returned");
    for p in [task, timer] {
        let err = p.wait_timeout(Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LoopClosed);
    }
    release.send(()).unwrap();
    owner.join().unwrap();
}

#[test]
fn a_handle_from_current_held_by_a_timer_does_not_keep_the_loop_alive() {
    let lp = EventLoop::new().unwrap();
    let exited = common::thread_exit_flag(&lp);
    run_in_loop(&lp, || {
        let me = EventLoop::current().unwrap();
        let later = me.clone();
        let _timer = me.call_later(Duration::from_secs(3600), move || drop(later));
    })
    .wait_timeout(LIMIT)
    .unwrap();
    let dropped = within(LIMIT, move || drop(lp));
    assert!(dropped.is_some(), "the last user handle's drop returned");
    assert!(exited.load(Ordering::SeqCst), "the loop's thread exited");
}

#[test]
fn the_last_drop_while_a_call_runs_returns_and_the_loop_closes_when_the_call_returns() {
    // The std `JoinHandle` shape: the drop does not wait for a running call (it may
    // be waiting for the dropping thread); the loop closes, and its thread exits, as
    // soon as the call returns. `close()` is the way to wait.
    let lp = EventLoop::new().unwrap();
    let exited = common::thread_exit_flag(&lp);
    let (go, wait) = mpsc::channel::<()>();
    let started = Promise::<()>::new();
    let s = started.clone();
    let running = run_in_loop(&lp, move || {
        s.set_result(()).unwrap();
        wait.recv_timeout(LIMIT).is_ok()
    });
    let queued = run_in_loop(&lp, || "never runs");
    started.wait_timeout(LIMIT).unwrap();
    assert!(
        within(LIMIT, move || drop(lp)).is_some(),
        "the drop returned"
    );
    assert!(
        !exited.load(Ordering::SeqCst),
        "the loop's thread waits for its call"
    );
    go.send(()).unwrap();
    assert!(
        running.wait_timeout(LIMIT).unwrap(),
        "the call ran to its end, after the drop returned"
    );
    assert_eq!(
        queued.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
    let limit = Instant::now() + LIMIT;
    while !exited.load(Ordering::SeqCst) && Instant::now() < limit {
        thread::yield_now();
    }
    assert!(exited.load(Ordering::SeqCst), "the loop's thread exited");
}

#[test]
fn dropping_the_last_handle_while_a_call_waits_for_the_dropping_thread_does_not_deadlock() {
    let lp = EventLoop::new().unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    let started = Promise::<()>::new();
    let s = started.clone();
    let waiting = run_in_loop(&lp, move || {
        s.set_result(()).unwrap();
        // Waits for the thread that drops the last handle: had the drop waited for
        // this call, the call would give up at its time limit and return `false`.
        rx.recv_timeout(LIMIT).is_ok()
    });
    started.wait_timeout(LIMIT).unwrap();
    let dropper = within(LIMIT, move || {
        drop(lp);
        tx.send(()).unwrap();
    });
    assert!(dropper.is_some(), "the drop returned");
    assert!(
        waiting.wait_timeout(LIMIT).unwrap(),
        "the call got its message: the drop did not wait for it"
    );
}

#[tokio::test]
async fn dropping_the_last_handle_inside_a_tokio_runtime_does_not_block_it() {
    let mut held = Held::new(EventLoop::new().unwrap());
    let release = held.releaser();
    let (lp, busy) = (held.lp, held.busy);
    // Releases the loop later, from a plain thread, should the drop block.
    let opener = thread::spawn(move || {
        thread::sleep(Duration::from_millis(500));
        release();
    });
    let start = Instant::now();
    drop(lp); // the last handle
    let took = start.elapsed();
    opener.join().unwrap();
    assert!(
        took < Duration::from_millis(250),
        "the drop blocked the runtime {took:?}"
    );
    assert!(busy.await.unwrap());
}

/// A flag set by a thread-local destructor of the loop's thread that takes 50 ms.
fn slow_thread_exit_flag(lp: &EventLoop) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    common::thread_exit_flag_after(lp, Duration::from_millis(50))
}

#[test]
fn close_returns_only_once_the_loops_thread_has_exited() {
    let lp = EventLoop::new().unwrap();
    let exited = slow_thread_exit_flag(&lp);
    lp.close();
    assert!(
        exited.load(Ordering::SeqCst),
        "close returned while the loop's thread was still exiting"
    );
}

#[test]
fn the_last_drop_returns_only_once_the_loops_thread_has_exited() {
    let lp = EventLoop::new().unwrap();
    let exited = slow_thread_exit_flag(&lp);
    drop(lp);
    assert!(
        exited.load(Ordering::SeqCst),
        "the last drop returned while the loop's thread was still exiting"
    );
}

#[test]
fn calls_queued_on_the_loops_own_thread_and_not_started_never_run_after_a_close() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    let lp = EventLoop::new().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let inner = lp.clone();
    let counter = ran.clone();
    // On the loop's own thread, one iteration queues on its local queue a call that
    // closes the loop and ten calls behind it: the next iteration runs the first,
    // which closes the loop, and must start none of the ten.
    let queued = run_in_loop(&lp, move || {
        let closer = inner.clone();
        let _closing = run_in_loop(&inner, move || closer.close());
        let queued: Vec<Promise<()>> = (0..10)
            .map(|_| {
                let counter = counter.clone();
                run_in_loop(&inner, move || {
                    counter.fetch_add(1, SeqCst);
                })
            })
            .collect();
        queued
    })
    .wait_timeout(LIMIT)
    .unwrap();
    lp.close();
    for p in queued {
        assert_eq!(
            p.wait_timeout(LIMIT).unwrap_err().kind(),
            ErrorKind::LoopClosed
        );
    }
    assert_eq!(
        ran.load(SeqCst),
        0,
        "a call not started ran after the close"
    );
}

#[test]
fn calls_the_owner_queued_on_a_caller_driven_loop_never_run_after_it_closes() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    let lp = EventLoop::builder().build_driven().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<Promise<()>> = (0..10)
        .map(|_| {
            let ran = ran.clone();
            run_in_loop(&lp, move || {
                ran.fetch_add(1, SeqCst);
            })
        })
        .collect();
    lp.close();
    for p in queued {
        assert_eq!(
            p.wait_timeout(LIMIT).unwrap_err().kind(),
            ErrorKind::LoopClosed
        );
    }
    assert_eq!(ran.load(SeqCst), 0);
    assert!(
        lp.run_until_complete(async {}).is_err(),
        "a closed loop runs nothing"
    );
    assert_eq!(ran.load(SeqCst), 0);
}
