//! Errors print each message once: an error either shows its cause
//! in its own message or returns it as its `source()`, never both. Checked on the exact
//! output of `anyhow`'s `{:?}` and `{:#}`, and of a reporter walking `source()` as
//! `std::error::Report` does.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use pulsar_async::bench::CallError;
use pulsar_async::{poll_until, run_in_loop, try_run_in_loop, Bench, Error, ErrorKind, EventLoop};

/// Every message of the chain, outermost first, as a `source()`-walking reporter
/// (`std::error::Report`) prints them.
fn chain(err: &(dyn StdError + 'static)) -> Vec<String> {
    let mut out = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        out.push(e.to_string());
        next = e.source();
    }
    out
}

/// `anyhow`'s two renderings of `err`: `{:#}` (one line) and `{:?}` (with "Caused by"),
/// without the backtrace anyhow adds when `RUST_BACKTRACE` is set.
fn anyhow_renderings(err: Error) -> (String, String) {
    let err = anyhow::Error::new(err);
    let debug = format!("{err:?}");
    let debug = debug
        .split("\n\nStack backtrace:")
        .next()
        .unwrap_or_default();
    (format!("{err:#}"), debug.to_owned())
}

/// An application error with a cause, as a user would write it.
#[derive(Debug)]
struct ReadConfig(std::io::Error);

impl fmt::Display for ReadConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("reading the config")
    }
}

impl StdError for ReadConfig {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

fn disk_on_fire() -> std::io::Error {
    std::io::Error::other("disk on fire")
}

/// The rule itself: no message of a chain contains the next one.
fn assert_each_message_once(err: &(dyn StdError + 'static)) {
    let links = chain(err);
    for pair in links.windows(2) {
        assert!(
            !pair[0].contains(&pair[1]),
            "{:?} repeats its source {:?}",
            pair[0],
            pair[1]
        );
    }
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

#[test]
fn a_user_error_prints_once_in_anyhow_after_the_crates_context() {
    let (alternate, debug) = anyhow_renderings(Error::user(disk_on_fire()));
    assert_eq!(alternate, "the call failed: disk on fire");
    assert_eq!(debug, "the call failed\n\nCaused by:\n    disk on fire");
}

#[test]
fn a_user_error_is_the_source_itself_and_continues_its_own_chain() {
    let err = Error::user(ReadConfig(disk_on_fire()));
    assert_eq!(
        chain(&err),
        ["the call failed", "reading the config", "disk on fire"]
    );
    assert!(StdError::source(&err).unwrap().is::<ReadConfig>());
    let (alternate, debug) = anyhow_renderings(err);
    assert_eq!(
        alternate,
        "the call failed: reading the config: disk on fire"
    );
    assert_eq!(
        debug,
        "the call failed\n\nCaused by:\n    0: reading the config\n    1: disk on fire"
    );
}

#[test]
fn a_user_error_passed_up_with_the_question_mark_is_found_by_anyhows_chain_and_root_cause() {
    fn handler(lp: &EventLoop) -> anyhow::Result<u8> {
        let n = try_run_in_loop(lp, || Err::<u8, _>(ReadConfig(disk_on_fire())))
            .wait_timeout(Duration::from_secs(10))?;
        Ok(n)
    }
    let lp = EventLoop::new().expect("a loop");
    let err = handler(&lp).expect_err("the call fails");
    let found = err.chain().find_map(|e| e.downcast_ref::<ReadConfig>());
    assert!(found.is_some(), "{err:?}");
    assert!(err.root_cause().is::<std::io::Error>());
    assert_eq!(
        format!("{err:#}"),
        "the call failed: reading the config: disk on fire"
    );
}

#[test]
fn a_user_error_stays_reachable_by_type() {
    let err = Error::user(ReadConfig(disk_on_fire()));
    assert!(err.downcast_ref::<ReadConfig>().is_some());
    let any = anyhow::Error::new(err);
    let ours = any.downcast_ref::<Error>().expect("our error at the top");
    assert_eq!(ours.kind(), ErrorKind::User);
    assert_eq!(
        ours.downcast_ref::<ReadConfig>().map(|r| r.0.kind()),
        Some(std::io::ErrorKind::Other)
    );
}

#[test]
fn an_err_returned_by_a_call_on_a_loop_prints_once() {
    let lp = EventLoop::new().expect("a loop");
    let err = try_run_in_loop(&lp, || "x".parse::<u8>())
        .wait_timeout(Duration::from_secs(10))
        .expect_err("not a number");
    assert_eq!(
        chain(&err),
        ["the call failed", "invalid digit found in string"]
    );
    assert_eq!(
        anyhow_renderings(err).0,
        "the call failed: invalid digit found in string"
    );
}

#[test]
fn kinds_without_a_cause_print_the_kind_and_message_and_have_no_source() {
    let cases = [
        (Error::from(ErrorKind::Cancelled), "cancelled"),
        (Error::from(ErrorKind::LoopClosed), "event loop closed"),
        (Error::from(ErrorKind::Full), "event loop full"),
        (
            Error::new(ErrorKind::Timeout, "no answer within 5s"),
            "timed out: no answer within 5s",
        ),
        (
            Error::new(ErrorKind::InvalidInput, "a limit of 0"),
            "invalid input: a limit of 0",
        ),
    ];
    for (err, shown) in cases {
        assert_eq!(chain(&err), [shown]);
        assert_eq!(anyhow_renderings(err), (shown.to_owned(), shown.to_owned()));
    }
}

#[test]
fn a_panic_prints_its_message_once() {
    let lp = EventLoop::new().expect("a loop");
    let err = run_in_loop(&lp, || -> u8 { panic!("a bug") })
        .wait_timeout(Duration::from_secs(10))
        .expect_err("it panicked");
    assert_eq!(chain(&err), ["panicked: a bug"]);
}

#[test]
fn a_failed_bench_call_prints_where_then_what() {
    let err = paused_runtime()
        .block_on(Bench::builder(5).run(|i| async move {
            if i == 3 {
                Err(ReadConfig(disk_on_fire()))
            } else {
                Ok(i)
            }
        }))
        .expect_err("call 3 fails");
    assert_eq!(CallError::index_of(&err), Some(3));
    assert_eq!(err.kind(), ErrorKind::User);
    assert_eq!(
        chain(&err),
        ["bench call 3 failed", "reading the config", "disk on fire"]
    );
    let (alternate, debug) = anyhow_renderings(err);
    assert_eq!(
        alternate,
        "bench call 3 failed: reading the config: disk on fire"
    );
    assert_eq!(
        debug,
        "bench call 3 failed\n\nCaused by:\n    0: reading the config\n    1: disk on fire"
    );
}

#[test]
fn a_panicking_bench_call_keeps_the_kind_and_prints_the_panic_once() {
    let err = paused_runtime()
        .block_on(Bench::builder(2).run(|i| async move {
            if i == 1 {
                panic!("seven");
            }
            Ok::<_, Error>(())
        }))
        .expect_err("call 1 panics");
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(chain(&err), ["bench call 1 failed", "panicked: seven"]);
}

#[test]
fn a_timeout_that_saw_an_error_says_so_then_gives_the_error() {
    let err = paused_runtime()
        .block_on(poll_until(Duration::from_millis(350), || {
            Err::<u8, _>(ReadConfig(disk_on_fire()))
        }))
        .expect_err("never ready");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(
        chain(&err),
        [
            "timed out: no value within 350ms (3 attempts)",
            "reading the config",
            "disk on fire"
        ]
    );
    assert!(err.downcast_ref::<ReadConfig>().is_some());
}

#[test]
fn every_error_of_the_crate_prints_each_message_once() {
    let runtime = paused_runtime();
    let bench = runtime
        .block_on(
            Bench::builder(1)
                .run(|_| async { Err::<(), _>(Error::user(ReadConfig(disk_on_fire()))) }),
        )
        .expect_err("fails");
    let timeout = runtime
        .block_on(poll_until(Duration::from_secs(1), || {
            Err::<(), _>(disk_on_fire())
        }))
        .expect_err("times out");
    let lp = EventLoop::new().expect("a loop");
    let limit = Duration::from_secs(10);
    let pool = EventLoop::builder().pool(2).expect("a pool");
    let gathered = pulsar_async::multi_async(vec![
        pulsar_async::Promise::<u8>::resolved(1),
        pulsar_async::Promise::failed(Error::user(ReadConfig(disk_on_fire()))),
    ])
    .try_result()
    .expect_err("input 1 fails");
    let rooms = pool.local(|i| i);
    let broadcast = rooms
        .try_broadcast(|i| {
            if *i == 1 {
                Err(ReadConfig(disk_on_fire()))
            } else {
                Ok(())
            }
        })
        .wait_timeout(limit)
        .expect_err("loop 1 fails");
    let init_panic = lp
        .local(|| -> u8 { panic!("no database") })
        .call(|n| *n)
        .wait_timeout(limit)
        .expect_err("the init panicked");
    let set: pulsar_async::error::SetError<u8> = pulsar_async::Promise::resolved(1)
        .set_result(2)
        .expect_err("already set");
    let out_of_range = pool.loop_at(5).expect_err("no loop 5");
    let closed = EventLoop::new().expect("a loop");
    closed.close();
    let never_ran = run_in_loop(&closed, || 1)
        .wait_timeout(limit)
        .expect_err("closed");
    let mut errors = vec![
        Error::user(disk_on_fire()),
        Error::user(ReadConfig(disk_on_fire())),
        Error::user("plain text"),
        Error::new(ErrorKind::WouldDeadlock, "waiting on the loop's own thread"),
        bench,
        timeout,
        gathered,
        broadcast,
        init_panic,
        out_of_range,
        never_ran,
        Error::from(set),
    ];
    errors.extend(
        [
            ErrorKind::Cancelled,
            ErrorKind::Timeout,
            ErrorKind::InvalidState,
            ErrorKind::InvalidInput,
            ErrorKind::LoopClosed,
            ErrorKind::Full,
            ErrorKind::Panicked,
            ErrorKind::WouldDeadlock,
            ErrorKind::WrongThread,
            ErrorKind::User,
            ErrorKind::Taken,
        ]
        .map(Error::from),
    );
    for err in &errors {
        assert_each_message_once(err);
        // A user's error is in the chain itself, by type, and printed once.
        if err.downcast_ref::<ReadConfig>().is_some() {
            let mut link: Option<&(dyn StdError + 'static)> = Some(err);
            let mut found = false;
            while let Some(e) = link {
                found |= e.is::<ReadConfig>();
                link = e.source();
            }
            assert!(
                found,
                "{err:?}: the user's error is not a link of the chain"
            );
            let shown = format!("{:#}", anyhow::Error::new(err.clone()));
            assert_eq!(shown.matches("reading the config").count(), 1, "{shown}");
        }
    }
    let set = pulsar_async::Promise::resolved(1u8)
        .set_result(2)
        .expect_err("set");
    assert_each_message_once(&set);
}
