//! A loop's thread does not die of user code that panics where few expect it: here a
//! `tracing` subscriber that panics on the loop's own reports. (A test binary of its
//! own: the subscriber is global.)

mod loops;

use loops::LIMIT;
use pulsar_async::{run_in_loop, ErrorKind, EventLoop};
use tracing::{Event, Metadata};

/// A subscriber that panics on every event.
struct PanickingSubscriber;

impl tracing::Subscriber for PanickingSubscriber {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &Event<'_>) {
        panic!("the subscriber panicked");
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_panicking_subscriber_does_not_kill_the_loop_thread_reporting_a_panicking_call() {
    tracing::subscriber::set_global_default(PanickingSubscriber).unwrap();
    let lp = EventLoop::new().unwrap();
    // The loop logs this panic; the subscriber panics in turn.
    lp.call_soon_threadsafe(|| panic!("a callback panicked"))
        .unwrap();
    let boom = run_in_loop(&lp, || -> u8 { panic!("a call panicked") });
    assert_eq!(
        boom.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::Panicked
    );
    assert_eq!(
        run_in_loop(&lp, || "alive").wait_timeout(LIMIT).unwrap(),
        "alive"
    );
    assert!(!lp.is_closed());
}
