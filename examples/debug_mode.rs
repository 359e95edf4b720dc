//! Debug mode in action: `cargo run --release --example debug_mode`.
//!
//! Turns on a loop's debug flag, then does three things debug mode reports through
//! `tracing`: a call that blocks the loop, a task poll that blocks it, and a failed
//! promise dropped without anyone reading its error.

use pulsar_async::{run_in_loop, run_in_loop_async, EventLoop};
use std::time::Duration;

fn main() -> Result<(), pulsar_async::Error> {
    tracing_subscriber::fmt()
        .with_env_filter("pulsar_async=warn")
        .with_target(true)
        .without_time()
        .init();
    // The planned panic below is part of the demo: keep its report to one line.
    std::panic::set_hook(Box::new(|info| eprintln!("(planned panic: {info})")));

    let lp = EventLoop::builder()
        .name("db")
        .debug(true) // or PULSAR_ASYNC_DEBUG=1 in the environment
        .slow_callback(Duration::from_millis(50))
        .spawn()?;

    // A call that holds the loop for 120 ms.
    run_in_loop(&lp, || std::thread::sleep(Duration::from_millis(120))).wait()?;

    // A task whose second poll blocks the loop.
    run_in_loop_async(&lp, || async {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(80));
    })
    .wait()?;

    // A failed promise nobody reads.
    let forgotten = run_in_loop(&lp, || -> u32 { panic!("lost update") });
    while !forgotten.is_done() {
        std::thread::yield_now();
    }
    drop(forgotten);

    run_in_loop(&lp, || ()).wait()?; // let the loop finish its reports
    Ok(())
}
