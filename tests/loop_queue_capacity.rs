//! The rules of a bounded loop (`Builder::queue_capacity`): a full loop refuses a call
//! at once with `ErrorKind::Full`, drops its closure on the caller's thread and never
//! runs it; nothing it accepted is lost; a started call frees its place; the bound
//! covers every entry point; `reserve()` waits for room (first come, first served) and
//! its permit is never refused; a closing loop fails its waiters; bad input is
//! `InvalidInput`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::ThreadId;
use std::time::Duration;

use pulsar_async::{
    run_in_loop, run_in_loop_async, try_run_in_loop, ErrorKind, EventLoop, LoopLocal, LoopPool,
};

const LONG: Duration = Duration::from_secs(20);

/// Records the thread that drops it.
struct DropsOn(Arc<std::sync::Mutex<Option<ThreadId>>>);
impl Drop for DropsOn {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(std::thread::current().id());
    }
}

/// A threaded loop held busy by a call that waits for `release`: while it waits, the
/// loop starts nothing else.
fn busy_loop(capacity: usize) -> (EventLoop, mpsc::Sender<()>, pulsar_async::Promise<()>) {
    let lp = EventLoop::builder()
        .queue_capacity(capacity)
        .spawn()
        .unwrap();
    let (release, wait) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let blocker = run_in_loop(&lp, move || {
        started_tx.send(()).unwrap();
        let _ = wait.recv_timeout(LONG);
    });
    started.recv_timeout(LONG).expect("the blocker started");
    (lp, release, blocker)
}

#[test]
fn a_full_loop_refuses_a_call_at_once_with_full_drops_it_on_the_callers_thread_and_never_runs_it() {
    let lp = EventLoop::builder()
        .queue_capacity(2)
        .build_driven()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let accepted: Vec<_> = (0..2)
        .map(|_| {
            let ran = ran.clone();
            run_in_loop(&lp, move || ran.fetch_add(1, Ordering::SeqCst))
        })
        .collect();
    let dropped_on = Arc::new(std::sync::Mutex::new(None));
    let guard = DropsOn(dropped_on.clone());
    let ran2 = ran.clone();
    let refused = run_in_loop(&lp, move || {
        let _g = &guard;
        ran2.fetch_add(100, Ordering::SeqCst)
    });
    let err = refused.try_result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Full);
    assert!(err.to_string().contains("full"), "{err}");
    assert_eq!(
        *dropped_on.lock().unwrap(),
        Some(std::thread::current().id()),
        "the refused closure is dropped at once, here"
    );
    for p in accepted {
        lp.run_until_complete(p).unwrap().unwrap();
    }
    assert_eq!(ran.load(Ordering::SeqCst), 2, "the refused call never ran");
    assert_eq!(lp.metrics().calls_refused, 1);
    assert!(lp.metrics().to_string().ends_with(", 1 refused"));
}

#[test]
fn a_started_call_frees_its_place_so_it_may_queue_another_on_its_own_loop() {
    let lp = EventLoop::builder()
        .queue_capacity(1)
        .build_driven()
        .unwrap();
    let inner = lp.clone();
    let outer = run_in_loop(&lp, move || run_in_loop(&inner, || 7));
    let inner = lp.run_until_complete(outer).unwrap().unwrap();
    assert_eq!(lp.run_until_complete(inner).unwrap().unwrap(), 7);
    assert_eq!(lp.metrics().calls_refused, 0);
}

#[test]
fn the_bound_covers_every_entry_point() {
    let (lp, release, blocker) = busy_loop(1);
    // The state's init is the loop's own work: never refused, it holds no place.
    let state = LoopLocal::new(&lp, || 0u32);
    let filler = run_in_loop(&lp, || ());
    let kinds = [
        run_in_loop(&lp, || ()).try_result().unwrap_err().kind(),
        try_run_in_loop(&lp, || Ok::<_, std::io::Error>(()))
            .try_result()
            .unwrap_err()
            .kind(),
        run_in_loop_async(&lp, || async {})
            .try_result()
            .unwrap_err()
            .kind(),
        lp.spawn(async {}).try_result().unwrap_err().kind(),
        lp.call_soon_threadsafe(|| ()).unwrap_err().kind(),
        state.call(|_| ()).try_result().unwrap_err().kind(),
        lp.try_reserve().unwrap_err().kind(),
    ];
    assert!(kinds.iter().all(|k| *k == ErrorKind::Full), "{kinds:?}");
    release.send(()).unwrap();
    blocker.wait_timeout(LONG).unwrap();
    filler.wait_timeout(LONG).unwrap();
    assert_eq!(state.call(|n| *n + 1).wait_timeout(LONG).unwrap(), 1);
    assert_eq!(lp.metrics().calls_refused, kinds.len() as u64);
}

#[test]
fn call_soon_on_the_loops_own_thread_is_bounded_too() {
    let lp = EventLoop::builder()
        .queue_capacity(1)
        .build_driven()
        .unwrap();
    let first = lp.call_soon(|| ()).unwrap();
    assert_eq!(lp.call_soon(|| ()).unwrap_err().kind(), ErrorKind::Full);
    drop(first);
    lp.run_until_complete(tokio::task::yield_now()).unwrap();
    assert!(
        lp.call_soon(|| ()).is_ok(),
        "the place came back once it ran"
    );
}

#[test]
fn a_pool_with_a_capacity_bounds_each_of_its_loops() {
    let pool = LoopPool::builder().queue_capacity(1).pool(2).unwrap();
    // The inits are the loops' own work: they hold no place.
    let local = pool.local(|i| i);
    let (release, wait) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let blocker = local.call_at(0, move |_| {
        started_tx.send(()).unwrap();
        let _ = wait.recv_timeout(LONG);
    });
    started.recv_timeout(LONG).unwrap();
    let queued = local.call_at(0, |i| *i);
    assert_eq!(
        local.call_at(0, |i| *i).try_result().unwrap_err().kind(),
        ErrorKind::Full
    );
    assert_eq!(local.call_at(1, |i| *i).wait_timeout(LONG).unwrap(), 1);
    release.send(()).unwrap();
    blocker.wait_timeout(LONG).unwrap();
    assert_eq!(queued.wait_timeout(LONG).unwrap(), 0);
}

#[test]
fn nothing_a_bounded_loop_accepted_is_lost_under_four_producers() {
    let lp = EventLoop::builder().queue_capacity(8).spawn().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..4)
        .map(|_| {
            let (lp, ran) = (lp.clone(), ran.clone());
            std::thread::spawn(move || {
                let (mut accepted, mut refused) = (Vec::new(), 0usize);
                for _ in 0..5_000 {
                    let ran = ran.clone();
                    let p = run_in_loop(&lp, move || {
                        ran.fetch_add(1, Ordering::SeqCst);
                    });
                    match p.try_result() {
                        Err(e) if e.kind() == ErrorKind::Full => refused += 1,
                        _ => accepted.push(p),
                    }
                }
                for p in &accepted {
                    p.wait_timeout(LONG).unwrap();
                }
                (accepted.len(), refused)
            })
        })
        .collect();
    let (mut accepted, mut refused) = (0, 0);
    for t in producers {
        let (a, r) = t.join().unwrap();
        accepted += a;
        refused += r;
    }
    assert_eq!(accepted + refused, 20_000);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        accepted,
        "every accepted call ran once"
    );
    assert_eq!(lp.metrics().calls_refused, refused as u64);
}

#[test]
fn a_producer_that_reserves_never_has_more_than_the_capacity_waiting() {
    const CAPACITY: usize = 16;
    let lp = EventLoop::builder()
        .queue_capacity(CAPACITY)
        .spawn()
        .unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let most = rt.block_on(async {
        tokio::time::timeout(LONG, async {
            let mut most = 0;
            let mut last = None;
            for submitted in 1..=100_000usize {
                let permit = lp.reserve().await.unwrap();
                let counter = started.clone();
                last = Some(permit.run(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                }));
                most = most.max(submitted - started.load(Ordering::SeqCst));
            }
            last.unwrap().await.unwrap();
            most
        })
        .await
        .expect("the producer finished")
    });
    // A place is given back as its call starts, just before it counts as started.
    assert!(most <= CAPACITY + 1, "{most} calls waited at once");
    assert_eq!(started.load(Ordering::SeqCst), 100_000);
    assert_eq!(lp.metrics().calls_refused, 0, "a permit is never refused");
}

#[tokio::test]
async fn reserve_waits_for_room_and_is_served_when_a_call_starts() {
    let (lp, release, blocker) = busy_loop(1);
    let queued = run_in_loop(&lp, || 1);
    let mut reserve = lp.reserve();
    assert!(
        futures::poll!(&mut reserve).is_pending(),
        "no room while the loop holds its one call"
    );
    release.send(()).unwrap();
    let permit = tokio::time::timeout(LONG, reserve)
        .await
        .expect("woken when the queued call started")
        .unwrap();
    assert_eq!(permit.run(|| 2).await.unwrap(), 2);
    blocker.await.unwrap();
    assert_eq!(queued.await.unwrap(), 1);
}

#[tokio::test]
async fn waiters_are_served_first_come_first_served() {
    let (lp, release, blocker) = busy_loop(1);
    let queued = run_in_loop(&lp, || ());
    let mut first = lp.reserve();
    let mut second = lp.reserve();
    assert!(futures::poll!(&mut first).is_pending());
    assert!(futures::poll!(&mut second).is_pending());
    release.send(()).unwrap();
    blocker.await.unwrap();
    queued.await.unwrap();
    let permit = tokio::time::timeout(LONG, &mut first)
        .await
        .unwrap()
        .unwrap();
    assert!(
        futures::poll!(&mut second).is_pending(),
        "the one place went to the first waiter"
    );
    drop(permit); // unused: its place goes to the next waiter
    let permit = tokio::time::timeout(LONG, second).await.unwrap().unwrap();
    assert_eq!(permit.run(|| "second").await.unwrap(), "second");
}

#[tokio::test]
async fn a_waiter_fails_with_loop_closed_when_the_loop_closes() {
    let (lp, release, blocker) = busy_loop(1);
    let queued = run_in_loop(&lp, || ());
    let mut reserve = lp.reserve();
    assert!(futures::poll!(&mut reserve).is_pending());
    lp.close_background();
    let err = tokio::time::timeout(LONG, reserve)
        .await
        .expect("the close woke the waiter")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LoopClosed);
    release.send(()).unwrap();
    let _ = blocker.await;
    assert_eq!(queued.await.unwrap_err().kind(), ErrorKind::LoopClosed);
    assert_eq!(lp.try_reserve().unwrap_err().kind(), ErrorKind::LoopClosed);
}

#[test]
fn a_permit_run_on_a_loop_closed_meanwhile_fails_with_loop_closed() {
    let lp = EventLoop::builder().queue_capacity(1).spawn().unwrap();
    let permit = lp.try_reserve().unwrap();
    lp.close();
    let err = permit.run(|| ()).wait_timeout(LONG).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LoopClosed);
}

#[test]
fn a_closed_loop_says_loop_closed_not_full() {
    let lp = EventLoop::builder()
        .queue_capacity(1)
        .build_driven()
        .unwrap();
    let _held = lp.try_reserve().unwrap();
    lp.close();
    let err = run_in_loop(&lp, || ()).try_result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LoopClosed);
    assert_eq!(lp.metrics().calls_refused, 0);
}

#[test]
fn the_loops_own_work_is_never_refused_on_a_full_loop() {
    let lp = EventLoop::builder()
        .queue_capacity(1)
        .build_driven()
        .unwrap();
    let p = lp.create_promise::<u8>();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    p.add_done_callback(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
    });
    let _held = lp.try_reserve().unwrap(); // the loop is full
    p.set_result(1).unwrap(); // schedules the callback on the loop anyway
    lp.run_until_complete(tokio::task::yield_now()).unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[test]
fn a_queue_capacity_of_zero_is_invalid_input() {
    let kinds = [
        EventLoop::builder()
            .queue_capacity(0)
            .spawn()
            .unwrap_err()
            .kind(),
        EventLoop::builder()
            .queue_capacity(0)
            .build_driven()
            .unwrap_err()
            .kind(),
        LoopPool::builder()
            .queue_capacity(0)
            .pool(2)
            .unwrap_err()
            .kind(),
    ];
    assert_eq!(kinds, [ErrorKind::InvalidInput; 3]);
}

#[test]
fn an_unbounded_loop_refuses_nothing_and_its_reserve_is_ready_at_once() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let calls: Vec<_> = (0..10_000).map(|i| run_in_loop(&lp, move || i)).collect();
    let permits: Vec<_> = (0..100).map(|_| lp.try_reserve().unwrap()).collect();
    assert_eq!(
        futures::executor::block_on(futures::future::poll_immediate(lp.reserve()))
            .map(|r| r.is_ok()),
        Some(true)
    );
    drop(permits);
    let last = calls.into_iter().last().unwrap();
    assert_eq!(lp.run_until_complete(last).unwrap().unwrap(), 9_999);
    assert_eq!(lp.metrics().calls_refused, 0);
}
