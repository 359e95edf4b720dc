//! Closed means settled: when a caller-driven loop is closed, or shut down, from
//! another thread while its owning thread does not drive it, every promise of work it
//! held is settled with `LoopClosed` there and then (the calls its owner queued, its
//! tasks), and the report counts them; on the owning thread, a blocking wait for a
//! promise of the closed loop returns `LoopClosed` instead of refusing. A close from
//! another thread while the owner drives ends the drive and settles its work too.

mod loops;

use loops::{within, LIMIT};
use pulsar_async::{run_in_loop, ErrorKind, EventLoop, Promise};
use std::sync::mpsc;
use std::thread;

/// Builds a caller-driven loop on a thread of its own, runs `queue` there (without
/// driving the loop), sends the loop and what `queue` gave, then keeps the thread
/// alive, not touching the loop, until the returned sender sends (or `LIMIT`).
fn owned_elsewhere<T: Send + 'static>(
    queue: impl FnOnce(&EventLoop) -> T + Send + 'static,
) -> (EventLoop, T, mpsc::Sender<()>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let (release, held) = mpsc::channel::<()>();
    let owner = thread::spawn(move || {
        let lp = EventLoop::builder().build_driven().unwrap();
        let out = queue(&lp);
        tx.send((lp.clone(), out)).unwrap();
        let _ = held.recv_timeout(LIMIT);
    });
    let (lp, out) = rx.recv_timeout(LIMIT).unwrap();
    (lp, out, release, owner)
}

#[test]
fn a_close_from_another_thread_settles_the_calls_the_owner_queued_and_counts_them() {
    let (lp, queued, release, owner) = owned_elsewhere(|lp| {
        let call = run_in_loop(lp, || 1);
        let job = lp.spawn(async { 2 });
        (call, job)
    });
    let closed = lp.closed();
    within(LIMIT, move || lp.close()).expect("close() returned");
    // Settled by the close, on this thread: the owner never ran the loop again.
    let (call, job) = queued;
    assert_eq!(call.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    assert_eq!(job.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    let report = futures::executor::block_on(closed);
    assert_eq!((report.ran, report.cut), (0, 2));
    release.send(()).unwrap();
    owner.join().unwrap();
}

#[test]
fn a_shutdown_from_another_thread_settles_the_owners_calls_at_its_deadline() {
    let (lp, call, release, owner) = owned_elsewhere(|lp| run_in_loop(lp, || 1));
    let report = within(LIMIT, move || {
        lp.shutdown(std::time::Duration::from_millis(10))
    })
    .expect("the shutdown returned")
    .unwrap();
    assert_eq!(call.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    assert_eq!((report.ran, report.cut), (0, 1));
    release.send(()).unwrap();
    owner.join().unwrap();
}

#[test]
fn on_the_owning_thread_a_wait_for_a_promise_of_the_closed_loop_gives_loop_closed() {
    let (closer, closed) = mpsc::channel::<EventLoop>();
    let (done, is_done) = mpsc::channel::<()>();
    let owner = thread::spawn(move || {
        let lp = EventLoop::builder().build_driven().unwrap();
        let call = run_in_loop(&lp, || 1);
        let task: Promise<u8> = lp.spawn_local(std::future::pending());
        closer.send(lp.clone()).unwrap();
        // Closed from another thread meanwhile; the loop never runs again.
        is_done.recv_timeout(LIMIT).unwrap();
        (
            call.wait_timeout(LIMIT).map_err(|e| e.kind()),
            task.wait_timeout(LIMIT).map_err(|e| e.kind()),
        )
    });
    let lp = closed.recv_timeout(LIMIT).unwrap();
    lp.close();
    done.send(()).unwrap();
    let (call, task) = within(LIMIT, move || owner.join().unwrap()).expect("the waits returned");
    assert_eq!(call, Err(ErrorKind::LoopClosed));
    assert_eq!(task, Err(ErrorKind::LoopClosed));
}

#[test]
fn a_close_from_another_thread_while_the_owner_drives_ends_the_drive_and_settles_its_work() {
    let (tx, rx) = mpsc::channel();
    let owner = thread::spawn(move || {
        let lp = EventLoop::builder().build_driven().unwrap();
        // A task that never ends on its own, and a call that says the drive is on.
        let task: Promise<u8> = lp.spawn(std::future::pending());
        let driving = mpsc::Sender::clone(&tx);
        let remote = lp.clone();
        lp.call_soon(move || driving.send(Some(remote.clone())).unwrap())
            .unwrap();
        let drive = lp.run_forever();
        tx.send(None).unwrap();
        (drive, task)
    });
    let lp: EventLoop = rx
        .recv_timeout(LIMIT)
        .expect("the owner drives the loop")
        .expect("a loop, not the drive's end");
    let queued = run_in_loop(&lp, || 2u8);
    lp.close();
    assert!(
        rx.recv_timeout(LIMIT).expect("the drive ends").is_none(),
        "the drive ended"
    );
    let (drive, task) = owner.join().unwrap();
    let _ = drive; // Ok or a LoopClosed error: either way the drive returned.
    assert_eq!(
        task.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
    // Queued before the close from this thread: run by the drive, or cut by the close.
    match queued.wait_timeout(LIMIT) {
        Ok(v) => assert_eq!(v, 2),
        Err(e) => assert_eq!(e.kind(), ErrorKind::LoopClosed),
    }
    let after = run_in_loop(&lp, || 3u8);
    assert_eq!(
        after.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
}
