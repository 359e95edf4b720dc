//! Debug mode in action: `cargo run --release --example debug_mode`.
//!
//! Turns on a loop's debug flag, then does three things debug mode reports through
//! `tracing`: a call that blocks the loop, a task poll that blocks it, and a failed
//! promise dropped without anyone reading its error. It checks that each was reported
//! once, naming the loop and where the work came from, and exits non-zero otherwise.

use pulsar_async::{run_in_loop, run_in_loop_async, EventLoop};
use std::time::Duration;

fn main() -> Result<(), pulsar_async::Error> {
    tracing_subscriber::fmt()
        .with_env_filter("pulsar_async=warn")
        .with_ansi(false)
        .without_time()
        .with_writer(|| report::Tee)
        .init();
    // The planned panic below is part of the demo: keep its report to one line. A
    // panic on the main thread is a failed check: report it as usual.
    let failed_check = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            failed_check(info)
        } else {
            eprintln!("(planned panic: {info})")
        }
    }));

    let lp = EventLoop::builder()
        .name("db")
        .debug(true) // or PULSAR_ASYNC_DEBUG=1 in the environment
        .slow_callback(Duration::from_millis(50))
        .spawn()?;

    // A call that holds the loop for 120 ms.
    let slow_call = line!() + 1;
    run_in_loop(&lp, || std::thread::sleep(Duration::from_millis(120))).wait()?;

    // A task whose second poll blocks the loop.
    let slow_poll = line!() + 1;
    run_in_loop_async(&lp, || async {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(80));
    })
    .wait()?;

    // A failed promise nobody reads.
    let unread = line!() + 1;
    let forgotten = run_in_loop(&lp, || -> u32 { panic!("lost update") });
    while !forgotten.is_done() {
        std::thread::yield_now();
    }
    drop(forgotten);

    run_in_loop(&lp, || ()).wait()?; // let the loop finish its reports
    report::check([
        (
            "slow call",
            format!("scheduled_at=examples/debug_mode.rs:{slow_call}:"),
        ),
        (
            "slow task poll",
            format!("scheduled_at=examples/debug_mode.rs:{slow_poll}:"),
        ),
        (
            "never retrieved",
            format!("created_at=examples/debug_mode.rs:{unread}:"),
        ),
    ]);
    Ok(())
}

/// What the subscriber wrote, printed and kept for the check.
mod report {
    use std::io::Write;
    use std::sync::Mutex;

    static WRITTEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    /// Writes to stdout and keeps a copy.
    pub struct Tee;

    impl Write for Tee {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            WRITTEN
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            std::io::stdout().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            std::io::stdout().flush()
        }
    }

    /// Exactly one `WARN` line per `(what, where)`, from the loop "db" for the slow
    /// work, and nothing else.
    pub fn check(expected: [(&str, String); 3]) {
        let text = String::from_utf8_lossy(&WRITTEN.lock().unwrap_or_else(|e| e.into_inner()))
            .into_owned();
        for (what, at) in &expected {
            let found = text
                .lines()
                .filter(|l| l.contains("WARN") && l.contains(what) && l.contains(at.as_str()))
                .filter(|l| *what == "never retrieved" || l.contains("event_loop=\"db\""))
                .count();
            assert_eq!(found, 1, "one {what:?} report at {at:?} in:\n{text}");
        }
        assert_eq!(text.lines().count(), 3, "nothing else reported:\n{text}");
    }
}
