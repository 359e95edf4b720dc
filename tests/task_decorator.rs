//! `#[task]`: SPEC Part 1 "task" — where the call runs and how its promise comes back.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pulsar_async::{run_in_loop, task, AsyncObject, ErrorKind, EventLoop, Promise};

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// An async object whose `#[task]` methods report the thread they ran on.
#[derive(Clone)]
struct Service {
    lp: Option<EventLoop>,
    calls: Arc<AtomicU32>,
}

impl AsyncObject for Service {
    fn event_loop(&self) -> Option<&EventLoop> {
        self.lp.as_ref()
    }
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned()
}

impl Service {
    fn on(lp: &EventLoop) -> Self {
        Service {
            lp: Some(lp.clone()),
            calls: Arc::default(),
        }
    }

    #[task]
    fn where_am_i(&self, tag: String) -> (String, String) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        (tag, thread_name())
    }

    #[task]
    async fn where_am_i_later(&self, delay_ms: u64) -> String {
        // `!Send` across an await: fine, the body runs on the loop.
        let local = std::rc::Rc::new(thread_name());
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        self.calls.fetch_add(1, Ordering::SeqCst);
        (*local).clone()
    }

    /// Whether the object's loop was running while the body ran.
    #[task]
    fn its_loop_is_running(&self) -> bool {
        self.lp.as_ref().is_some_and(EventLoop::is_running)
    }

    #[task]
    fn boom(&self) -> u32 {
        panic!("boom in a task method")
    }

    #[task]
    async fn boom_later(&self) -> u32 {
        tokio::task::yield_now().await;
        panic!("boom in an async task method")
    }

    #[task]
    fn sum((a, b): (u32, u32), mut c: u32) -> u32 {
        c += a + b;
        c
    }

    #[task]
    fn into_calls(self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[task]
fn current_loop_name() -> Option<String> {
    EventLoop::current().map(|lp| lp.name().to_owned())
}

#[task]
async fn doubled_after_a_tick(x: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    x * 2
}

#[test]
fn a_task_method_called_from_another_thread_runs_on_the_objects_loop() {
    let lp = EventLoop::builder().name("svc").spawn().unwrap();
    let svc = Service::on(&lp);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let svc = svc.clone();
            std::thread::spawn(move || svc.where_am_i(format!("t{i}")).wait_timeout(LIMIT).unwrap())
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), (format!("t{i}"), "svc".to_owned()));
    }
    assert_eq!(svc.where_am_i_later(1).wait_timeout(LIMIT).unwrap(), "svc");
    assert_eq!(svc.calls.load(Ordering::SeqCst), 5);
}

#[test]
fn a_task_method_called_on_the_objects_loop_is_scheduled_there_after_the_caller_returns() {
    let lp = EventLoop::builder().name("own").spawn().unwrap();
    let svc = Service::on(&lp);
    let inside = run_in_loop(&lp, move || {
        // Plain or async, the call is queued on the loop, as Pulsar's Task: it runs
        // after this call returns, on the same thread.
        let now = svc.where_am_i("now".into());
        let later = svc.where_am_i_later(0);
        (now.is_done(), later.is_done(), now, later)
    });
    let (now_was_done, later_was_done, now, later) = inside.wait_timeout(LIMIT).unwrap();
    assert!(!now_was_done && !later_was_done);
    assert_eq!(now.wait_timeout(LIMIT).unwrap().1, "own");
    assert_eq!(later.wait_timeout(LIMIT).unwrap(), "own");
}

#[test]
fn a_task_method_on_an_idle_caller_driven_loop_runs_it_to_completion() {
    let lp = EventLoop::builder().name("driven").build_driven().unwrap();
    let svc = Service::on(&lp);
    let _watchdog = common::stop_after(&lp, Duration::from_secs(5));
    // The async body sleeps on the loop's timer: it ran inside the loop.
    let p = svc.where_am_i_later(5);
    assert!(p.is_done(), "returned already settled");
    assert_eq!(p.try_result().unwrap(), thread_name());
    let q = svc.where_am_i("plain".into());
    assert!(q.is_done());
    assert_eq!(q.try_result().unwrap().0, "plain");
    // The loop was running while the body ran, and is idle again after.
    let running = svc.its_loop_is_running();
    assert!(
        running.try_result().unwrap(),
        "the body ran inside the loop"
    );
    assert!(!lp.is_running());
}

#[test]
fn a_task_call_from_another_thread_waits_for_the_caller_driven_loop_to_run() {
    let lp = EventLoop::builder()
        .name("driven-remote")
        .build_driven()
        .unwrap();
    let svc = Service::on(&lp);
    let remote = std::thread::spawn(move || svc.where_am_i("remote".into()))
        .join()
        .unwrap();
    assert!(!remote.is_done(), "queued until the loop runs");
    let out = lp.run_until_complete(remote).unwrap().unwrap();
    assert_eq!(out, ("remote".to_owned(), thread_name()));
}

#[test]
fn a_task_method_called_inside_a_running_caller_driven_loop_is_scheduled_on_it() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let svc = Service::on(&lp);
    let out = lp
        .run_until_complete(async move {
            let plain = svc.where_am_i("inside".into());
            assert!(!plain.is_done(), "queued, not run inline");
            assert_eq!(plain.await.unwrap().0, "inside");
            svc.where_am_i_later(1).await
        })
        .unwrap();
    assert_eq!(out.unwrap(), thread_name());
}

#[test]
fn a_panic_in_a_task_method_becomes_its_promise_error_and_the_loop_keeps_serving() {
    let lp = EventLoop::builder().name("panics").spawn().unwrap();
    let svc = Service::on(&lp);
    let err = svc.boom().wait_timeout(LIMIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(err.message(), Some("boom in a task method"));
    let err = svc.boom_later().wait_timeout(LIMIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    // Called on the loop's own thread.
    let on_loop = {
        let svc = svc.clone();
        run_in_loop(&lp, move || svc.boom())
    };
    let err = on_loop
        .wait_timeout(LIMIT)
        .unwrap()
        .wait_timeout(LIMIT)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    // The loop still serves.
    assert_eq!(
        svc.where_am_i("after".into())
            .wait_timeout(LIMIT)
            .unwrap()
            .1,
        "panics"
    );
}

#[test]
fn a_panic_in_a_task_on_an_idle_caller_driven_loop_becomes_its_error() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let svc = Service::on(&lp);
    assert_eq!(
        svc.boom().try_result().unwrap_err().kind(),
        ErrorKind::Panicked
    );
    assert_eq!(
        svc.boom_later().try_result().unwrap_err().kind(),
        ErrorKind::Panicked
    );
    assert_eq!(lp.run_until_complete(async { 1 }).unwrap(), 1);
}

#[test]
fn a_free_task_function_runs_on_the_current_loop() {
    let lp = EventLoop::builder().name("free").spawn().unwrap();
    let name = run_in_loop(&lp, current_loop_name)
        .wait_timeout(LIMIT)
        .unwrap();
    assert_eq!(name.wait_timeout(LIMIT).unwrap().as_deref(), Some("free"));
    let doubled = run_in_loop(&lp, || doubled_after_a_tick(21))
        .wait_timeout(LIMIT)
        .unwrap();
    assert_eq!(doubled.wait_timeout(LIMIT).unwrap(), 42);
}

#[test]
fn a_free_task_function_without_a_current_loop_fails_with_wrong_thread() {
    std::thread::spawn(|| {
        let err = current_loop_name().try_result().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongThread);
    })
    .join()
    .unwrap();
}

#[test]
fn a_free_task_function_on_an_idle_caller_driven_loop_runs_it() {
    let lp = EventLoop::builder().name("mine").build_driven().unwrap();
    assert_eq!(doubled_after_a_tick(4).try_result().unwrap(), 8);
    assert_eq!(
        current_loop_name().try_result().unwrap().as_deref(),
        Some("mine")
    );
    drop(lp);
}

#[test]
fn an_object_without_a_loop_runs_its_tasks_on_the_current_loop() {
    let lp = EventLoop::builder().name("fallback").spawn().unwrap();
    let svc = Service {
        lp: None,
        calls: Arc::default(),
    };
    let p = run_in_loop(&lp, move || svc.where_am_i("x".into()));
    assert_eq!(
        p.wait_timeout(LIMIT)
            .unwrap()
            .wait_timeout(LIMIT)
            .unwrap()
            .1,
        "fallback"
    );
    let unbound = Service {
        lp: None,
        calls: Arc::default(),
    };
    let err = std::thread::spawn(move || unbound.where_am_i("y".into()).try_result())
        .join()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongThread);
}

#[test]
fn pattern_and_mut_arguments_are_passed_through() {
    let lp = EventLoop::new().unwrap();
    let p = run_in_loop(&lp, || Service::sum((1, 2), 3))
        .wait_timeout(LIMIT)
        .unwrap();
    assert_eq!(p.wait_timeout(LIMIT).unwrap(), 6);
}

#[test]
fn a_self_by_value_method_moves_the_object_to_its_loop() {
    let lp = EventLoop::new().unwrap();
    let svc = Service::on(&lp);
    svc.where_am_i("one".into()).wait_timeout(LIMIT).unwrap();
    let p: Promise<u32> = svc.into_calls();
    assert_eq!(p.wait_timeout(LIMIT).unwrap(), 1);
}

#[test]
fn a_task_on_a_closed_loop_fails_with_loop_closed() {
    let lp = EventLoop::new().unwrap();
    let svc = Service::on(&lp);
    lp.close();
    let err = svc
        .where_am_i("late".into())
        .wait_timeout(LIMIT)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LoopClosed);
}

/// An object holding a large `Vec` that counts its copies.
struct Big {
    lp: EventLoop,
    data: Vec<u64>,
    copies: Arc<std::sync::atomic::AtomicUsize>,
}

impl Clone for Big {
    fn clone(&self) -> Self {
        self.copies
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Big {
            lp: self.lp.clone(),
            data: self.data.clone(),
            copies: self.copies.clone(),
        }
    }
}

impl AsyncObject for Big {
    fn event_loop(&self) -> Option<&EventLoop> {
        Some(&self.lp)
    }
}

impl Big {
    fn new(lp: &EventLoop) -> Big {
        Big {
            lp: lp.clone(),
            data: vec![1; 1_000_000],
            copies: Arc::default(),
        }
    }

    fn copies(&self) -> usize {
        self.copies.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[task]
    fn len_cloned(&self) -> usize {
        self.data.len()
    }

    #[task]
    fn len_shared(self: &Arc<Self>) -> usize {
        self.data.len()
    }

    #[task]
    async fn len_shared_async(self: &Arc<Self>) -> usize {
        tokio::task::yield_now().await;
        self.data.len()
    }

    #[task]
    fn len_owned(self: Arc<Self>) -> usize {
        self.data.len()
    }
}

#[test]
fn arc_receivers_make_no_copy_of_the_object_where_ref_self_clones_it_each_call() {
    let lp = EventLoop::new().unwrap();
    let big = Arc::new(Big::new(&lp));
    for _ in 0..100 {
        assert_eq!(big.len_shared().wait_timeout(LIMIT).unwrap(), 1_000_000);
    }
    for _ in 0..10 {
        assert_eq!(
            big.len_shared_async().wait_timeout(LIMIT).unwrap(),
            1_000_000
        );
    }
    assert_eq!(
        big.clone().len_owned().wait_timeout(LIMIT).unwrap(),
        1_000_000
    );
    assert_eq!(big.copies(), 0);
    // The `&self` form copies the object into every call.
    for _ in 0..100 {
        big.len_cloned().wait_timeout(LIMIT).unwrap();
    }
    assert_eq!(big.copies(), 100);
}

/// An object whose state lives on its loop: `&self` clones two cheap handles, and the
/// state may be `!Send`.
#[derive(Clone)]
struct Sessions {
    lp: EventLoop,
    open: pulsar_async::LoopLocal<std::rc::Rc<std::cell::RefCell<Vec<String>>>>,
}

impl AsyncObject for Sessions {
    fn event_loop(&self) -> Option<&EventLoop> {
        Some(&self.lp)
    }
}

impl Sessions {
    #[task]
    fn open(&self, who: String) -> usize {
        // On the loop's thread: the state is reached at once, no round trip.
        self.open
            .with(|s| {
                s.borrow_mut().push(who);
                s.borrow().len()
            })
            .unwrap()
    }
}

#[test]
fn a_task_method_reaches_loop_local_state_without_a_round_trip() {
    let lp = EventLoop::new().unwrap();
    let sessions = Sessions {
        open: lp.local(Default::default),
        lp,
    };
    assert_eq!(sessions.open("ada".into()).wait_timeout(LIMIT).unwrap(), 1);
    assert_eq!(sessions.open("bob".into()).wait_timeout(LIMIT).unwrap(), 2);
}
