//! Stopping and closing loops: from inside, from another thread, during a burst of
//! calls; no hang, no panic, no lost result.

use pulsar_async::{run_in_loop, run_in_loop_async, ErrorKind, EventLoop, Promise};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

#[test]
fn stop_lets_the_current_callback_finish() {
    let lp = EventLoop::new().unwrap();
    // A blocking wait on a promise inside a loop call is refused (the loop is a tokio
    // runtime): a std channel keeps the loop busy instead.
    let (started, (gate, g)) = (Promise::<()>::new(), std::sync::mpsc::channel::<()>());
    let s = started.clone();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let running = run_in_loop(&lp, move || {
        s.set_result(()).unwrap();
        g.recv_timeout(LIMIT).unwrap();
        f.store(true, Ordering::SeqCst);
        "finished"
    });
    started.wait_timeout(LIMIT).unwrap();
    let stopper = {
        let lp = lp.clone();
        thread::spawn(move || lp.stop())
    };
    gate.send(()).unwrap();
    stopper.join().unwrap();
    assert_eq!(running.wait_timeout(LIMIT).unwrap(), "finished");
    assert!(finished.load(Ordering::SeqCst));
    assert_eq!(
        run_in_loop(&lp, || 1)
            .wait_timeout(LIMIT)
            .unwrap_err()
            .kind(),
        ErrorKind::LoopClosed
    );
}

#[test]
fn closing_from_inside_the_loop_takes_effect_after_the_current_call() {
    let lp = EventLoop::new().unwrap();
    let inner = lp.clone();
    let closing = run_in_loop(&lp, move || {
        inner.close();
        "the call that closed it still returns"
    });
    assert_eq!(
        closing.wait_timeout(LIMIT).unwrap(),
        "the call that closed it still returns"
    );
    assert!(lp.is_closed());
    assert_eq!(
        run_in_loop(&lp, || 1)
            .wait_timeout(LIMIT)
            .unwrap_err()
            .kind(),
        ErrorKind::LoopClosed
    );
}

#[test]
fn closing_from_inside_a_task_fails_the_other_tasks_but_not_the_caller() {
    let lp = EventLoop::new().unwrap();
    let sleeper = lp.spawn(std::future::pending::<u8>());
    let inner = lp.clone();
    let closer = run_in_loop_async(&lp, move || async move {
        tokio::task::yield_now().await;
        inner.close();
        7
    });
    assert_eq!(closer.wait_timeout(LIMIT).map_err(|e| e.kind()), Ok(7));
    assert_eq!(
        sleeper.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
}

#[test]
fn closing_during_a_burst_of_calls_loses_no_result() {
    for _round in 0..20 {
        let lp = EventLoop::new().unwrap();
        let submitted = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let lp = lp.clone();
                let submitted = submitted.clone();
                thread::spawn(move || {
                    let mut promises = Vec::new();
                    for i in 0..5_000u32 {
                        promises.push((i, run_in_loop(&lp, move || i)));
                        submitted.fetch_add(1, Ordering::Relaxed);
                    }
                    promises
                })
            })
            .collect();
        while submitted.load(Ordering::Relaxed) < 2_000 {
            std::hint::spin_loop();
        }
        lp.close();
        let (mut ok, mut closed) = (0, 0);
        for s in submitters {
            for (i, p) in s.join().unwrap() {
                match p.wait_timeout(Duration::from_secs(10)) {
                    Ok(v) => {
                        assert_eq!(v, i);
                        ok += 1;
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::LoopClosed, "no other outcome");
                        closed += 1;
                    }
                }
            }
        }
        assert_eq!(ok + closed, 10_000);
    }
}

#[test]
fn dropping_the_last_handle_during_a_burst_loses_no_result() {
    let lp = EventLoop::new().unwrap();
    let feeder = {
        let lp = lp.clone();
        thread::spawn(move || {
            (0..20_000u32)
                .map(|i| run_in_loop(&lp, move || i))
                .collect::<Vec<_>>()
        })
    };
    drop(lp);
    // The feeder held the last handle: its drop closed and joined the loop. Every
    // call either ran (its value) or was still queued (loop-closed); none hangs.
    let promises = feeder.join().unwrap();
    for (i, p) in promises.iter().enumerate() {
        assert!(
            p.is_done(),
            "settled by the time the loop thread was joined"
        );
        match p.try_result() {
            Ok(v) => assert_eq!(v, i as u32),
            Err(e) => assert_eq!(e.kind(), ErrorKind::LoopClosed),
        }
    }
}

#[test]
fn a_promise_of_a_closed_loop_can_still_be_awaited_and_gives_loop_closed() {
    let lp = EventLoop::new().unwrap();
    let p = lp.spawn(std::future::pending::<u8>());
    run_in_loop(&lp, || ()).wait_timeout(LIMIT).unwrap();
    drop(lp);
    let err = futures::executor::block_on(p).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LoopClosed);
}

#[test]
fn stop_and_close_are_idempotent() {
    let lp = EventLoop::new().unwrap();
    lp.stop();
    lp.stop();
    lp.close();
    lp.close();
    assert!(lp.is_closed());
    let driven = EventLoop::builder().build_driven().unwrap();
    driven.close();
    driven.close();
    driven.stop();
    assert!(driven.is_closed());
}

#[test]
fn a_thread_loop_closed_from_many_threads_at_once_closes_once_without_panic() {
    let lp = EventLoop::new().unwrap();
    let closers: Vec<_> = (0..8)
        .map(|_| {
            let lp = lp.clone();
            thread::spawn(move || lp.close())
        })
        .collect();
    for c in closers {
        c.join().unwrap();
    }
    assert!(lp.is_closed());
}
