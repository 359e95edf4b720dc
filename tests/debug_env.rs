//! `PULSAR_ASYNC_DEBUG=1` turns debug mode on. Alone in its binary, since the flag is
//! read once per process: every test here sets it first.

mod common;

use pulsar_async::EventLoop;

/// Sets `PULSAR_ASYNC_DEBUG=1` before anything in this process reads it.
fn debug_env_on() {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| std::env::set_var("PULSAR_ASYNC_DEBUG", "1"));
}

#[test]
fn the_environment_variable_turns_debug_mode_on_for_new_loops() {
    debug_env_on();
    let lp = EventLoop::new().unwrap();
    assert!(lp.is_debug());
    let explicit = EventLoop::builder().debug(false).spawn().unwrap();
    assert!(!explicit.is_debug(), "the builder still decides");
}

#[test]
fn the_environment_variable_reports_a_failed_promise_with_no_loop_dropped_unread() {
    debug_env_on();
    let logs = common::LogCapture::global();
    let line = line!() + 1;
    let p = pulsar_async::Promise::<u8>::new();
    p.set_error(pulsar_async::Error::user("unbound and unread"))
        .unwrap();
    drop(p);
    let reports = logs.lines_with(&format!("created_at=tests/debug_env.rs:{line}:"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("never retrieved"), "{}", reports[0]);
    assert!(reports[0].contains("unbound and unread"), "{}", reports[0]);
}
