//! `PULSAR_ASYNC_DEBUG=1` turns debug mode on. Alone in its binary, since the flag is
//! read once per process.

use pulsar_async::EventLoop;

#[test]
fn the_environment_variable_turns_debug_mode_on_for_new_loops() {
    std::env::set_var("PULSAR_ASYNC_DEBUG", "1");
    let lp = EventLoop::new().unwrap();
    assert!(lp.is_debug());
    let explicit = EventLoop::builder().debug(false).spawn().unwrap();
    assert!(!explicit.is_debug(), "the builder still decides");
}
