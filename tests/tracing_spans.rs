//! tracing spans carry over: a call handed to a loop runs inside the caller's span.

mod common;

use common::LogCapture;
use pulsar_async::{run_in_loop, run_in_loop_async, task, AsyncObject, EventLoop};
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

fn capture() -> &'static LogCapture {
    static ONCE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let capture = LogCapture::default();
        tracing_subscriber::fmt()
            .with_env_filter("tracing_spans=info")
            .with_ansi(false)
            .with_writer(capture.clone())
            .init();
        capture
    })
}

fn logged_in_span(event: &str, span: &str) -> bool {
    let lines: Vec<_> = capture()
        .lines_with(event)
        .into_iter()
        .filter(|l| l.ends_with(&format!(": {event}")))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].contains(span)
}

struct Obj {
    lp: EventLoop,
}

impl AsyncObject for Obj {
    fn event_loop(&self) -> Option<&EventLoop> {
        Some(&self.lp)
    }
}

impl Obj {
    #[task]
    fn work(self: &Arc<Self>) {
        tracing::info!("task-event");
    }
}

#[test]
fn run_in_loop_loop_local_and_task_calls_run_inside_the_callers_span() {
    capture();
    let lp = EventLoop::new().unwrap();
    let local = lp.local(|| ());
    let obj = Arc::new(Obj { lp: lp.clone() });
    tracing::info_span!("request", id = 7).in_scope(|| {
        let a = run_in_loop(&lp, || tracing::info!("call-event"));
        let b = run_in_loop_async(&lp, || async {
            tokio::task::yield_now().await;
            tracing::info!("async-event");
        });
        let c = local.call(|_| tracing::info!("local-event"));
        let d = local.call_async(|_| async { tracing::info!("local-async-event") });
        let e = obj.work();
        let (tx, rx) = std::sync::mpsc::channel();
        lp.call_soon_threadsafe(move || {
            tracing::info!("threadsafe-event");
            let _ = tx.send(());
        })
        .unwrap();
        rx.recv_timeout(LIMIT).unwrap();
        for p in [a, b, c, d, e] {
            p.wait_timeout(LIMIT).unwrap();
        }
    });
    for event in [
        "call-event",
        "async-event",
        "local-event",
        "local-async-event",
        "task-event",
        "threadsafe-event",
    ] {
        assert!(logged_in_span(event, "request{id=7}"), "{event}");
    }
    // Outside any span, nothing is carried.
    run_in_loop(&lp, || tracing::info!("bare-event"))
        .wait_timeout(LIMIT)
        .unwrap();
    assert!(!logged_in_span("bare-event", "request"));
}
