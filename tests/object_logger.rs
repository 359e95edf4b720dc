//! `AsyncObject`: SPEC Part 1 "AsyncObject" — the logger's fallback order and the debug
//! flag.

mod common;

use pulsar_async::object::Logger;
use pulsar_async::{AsyncObject, EventLoop};

struct Object {
    lp: Option<EventLoop>,
    own: Option<Logger>,
}

impl AsyncObject for Object {
    fn event_loop(&self) -> Option<&EventLoop> {
        self.lp.as_ref()
    }
    fn own_logger(&self) -> Option<&Logger> {
        self.own.as_ref()
    }
}

/// A struct implementing only the required method.
struct Minimal(EventLoop);

impl AsyncObject for Minimal {
    fn event_loop(&self) -> Option<&EventLoop> {
        Some(&self.0)
    }
}

#[test]
fn the_logger_is_the_objects_own_when_it_has_one() {
    let lp = EventLoop::builder().name("io").spawn().unwrap();
    let obj = Object {
        lp: Some(lp),
        own: Some(Logger::new("cache")),
    };
    assert_eq!(obj.logger().name(), "cache");
}

#[test]
fn the_logger_falls_back_to_the_loops() {
    let lp = EventLoop::builder().name("io").spawn().unwrap();
    let obj = Object {
        lp: Some(lp.clone()),
        own: None,
    };
    assert_eq!(obj.logger().name(), "io");
    assert_eq!(Minimal(lp).logger().name(), "io");
}

#[test]
fn the_logger_falls_back_to_the_crates_without_a_loop() {
    let obj = Object {
        lp: None,
        own: None,
    };
    assert_eq!(obj.logger().name(), "pulsar_async");
    assert_eq!(Logger::default().name(), "pulsar_async");
}

#[test]
fn debug_is_the_loops_debug_flag_and_false_without_a_loop() {
    let lp = EventLoop::builder().debug(true).spawn().unwrap();
    let obj = Minimal(lp.clone());
    assert!(obj.debug());
    lp.set_debug(false);
    assert!(!obj.debug(), "follows the loop's flag");
    assert!(!Object {
        lp: None,
        own: None
    }
    .debug());
    let quiet = EventLoop::builder().debug(false).spawn().unwrap();
    assert!(!Minimal(quiet).debug());
}

#[test]
fn events_logged_through_a_logger_carry_its_span_and_name() {
    let out = common::LogCapture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(out.clone())
        .finish();
    let lp = EventLoop::builder().name("io").spawn().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let own = Object {
            lp: Some(lp.clone()),
            own: Some(Logger::new("cache")),
        };
        own.logger().in_scope(|| tracing::info!("from the object"));
        Minimal(lp.clone())
            .logger()
            .in_scope(|| tracing::info!("from the loop"));
        Object {
            lp: None,
            own: None,
        }
        .logger()
        .in_scope(|| tracing::info!("from the crate"));
        let custom = Logger::with_span("server", tracing::info_span!("server", port = 8080));
        futures::executor::block_on(custom.instrument(async { tracing::info!("from a span") }));
    });
    let text = out.text();
    assert!(text.contains("object{logger=cache}"), "{text}");
    assert!(text.contains("event_loop{logger=io}"), "{text}");
    assert!(
        text.contains("pulsar_async{logger=\"pulsar_async\"}"),
        "{text}"
    );
    assert!(text.contains("server{port=8080}"), "{text}");
}

#[test]
fn async_objects_can_be_trait_objects_and_loggers_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Logger>();
    let objects: Vec<Box<dyn AsyncObject>> = vec![Box::new(Object {
        lp: None,
        own: None,
    })];
    assert!(!objects[0].debug());
}

mod timeit {
    use pulsar_async::bench::CallError as BenchCallError;

    /// How long any wait in these tests may take: a bug shows as a failure, not a hang.
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);
    use pulsar_async::{task, AsyncObject, ErrorKind, EventLoop};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[derive(Clone)]
    struct Counter {
        lp: Option<EventLoop>,
        calls: Arc<AtomicUsize>,
    }

    impl AsyncObject for Counter {
        fn event_loop(&self) -> Option<&EventLoop> {
            self.lp.as_ref()
        }
    }

    impl Counter {
        #[task]
        async fn bump(&self) -> (usize, Option<String>) {
            tokio::task::yield_now().await;
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            (n, std::thread::current().name().map(String::from))
        }

        #[task]
        fn fail_on_third(&self) -> usize {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            assert!(n != 2, "third call fails");
            n
        }
    }

    fn counter(lp: Option<EventLoop>) -> Counter {
        Counter {
            lp,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    #[test]
    fn timeit_benchmarks_an_async_method_on_the_objects_loop() {
        let c = counter(Some(
            EventLoop::builder().name("bench-loop").spawn().unwrap(),
        ));
        let bench = c.timeit(50, |c| c.bump()).wait_timeout(LIMIT).unwrap();
        assert_eq!(bench.results().len(), 50);
        assert_eq!(c.calls.load(Ordering::SeqCst), 50);
        assert!(bench
            .results()
            .iter()
            .all(|(_, t)| t.as_deref() == Some("bench-loop")));
        let latency = bench.latency().unwrap();
        assert!(latency.min <= latency.p50 && latency.p50 <= latency.max);
        assert!(bench.to_string().contains("p99"));
    }

    #[test]
    fn a_failing_call_fails_timeit_with_its_index() {
        let c = counter(Some(EventLoop::new().unwrap()));
        let err = c
            .timeit(5, |c| c.fail_on_third())
            .wait_timeout(LIMIT)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Panicked);
        assert_eq!(BenchCallError::index_of(&err), Some(2));
    }

    #[test]
    fn timeit_of_zero_calls_is_an_empty_bench() {
        let c = counter(Some(EventLoop::new().unwrap()));
        let bench = c.timeit(0, |c| c.bump()).wait_timeout(LIMIT).unwrap();
        assert!(bench.results().is_empty());
    }

    #[test]
    fn timeit_without_any_loop_fails_with_wrong_thread() {
        let c = counter(None);
        let err = c.timeit(3, |c| c.bump()).wait_timeout(LIMIT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongThread);
    }
}
