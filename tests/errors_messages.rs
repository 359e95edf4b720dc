//! Each message says what happened, with the names a user types:
//!
//! - a loop-local (or pool-state) init that panicked fails every call with the panic's
//!   own message, "panicked" printed once;
//! - a call made after `close()` says it never ran;
//! - a pool of one loop says "1 loop";
//! - a comparison with a zero-latency bench says which is faster, with no "inf".

mod common;

use std::time::Duration;

use pulsar_async::{run_in_loop, Bench, Error, ErrorKind, EventLoop};

const LIMIT: Duration = Duration::from_secs(10);

fn full(err: &Error) -> String {
    format!("{:#}", anyhow::Error::new(err.clone()))
}

#[test]
fn a_loop_local_init_that_panicked_fails_every_call_with_the_panics_message() {
    let lp = EventLoop::new().unwrap();
    let db = lp.local(|| -> u8 { panic!("no database at db:5432") });
    for _ in 0..2 {
        let err = db.call(|n| *n).wait_timeout(LIMIT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Panicked);
        let shown = full(&err);
        assert!(shown.contains("no database at db:5432"), "{shown}");
        assert!(shown.contains("init of this loop-local state"), "{shown}");
        assert_eq!(shown.matches("panicked").count(), 1, "{shown}");
    }
}

#[test]
fn a_pool_state_init_that_panicked_prints_panicked_once_with_the_message() {
    let pool = EventLoop::builder().pool(2).unwrap();
    let state = pool.local(|i| -> usize {
        if i == 1 {
            panic!("loop 1 has no cache")
        } else {
            i
        }
    });
    let err = state.call_at(1, |n| *n).wait_timeout(LIMIT).unwrap_err();
    let shown = full(&err);
    assert!(shown.contains("loop 1 has no cache"), "{shown}");
    assert_eq!(shown.matches("panicked").count(), 1, "{shown}");
}

#[test]
fn a_call_made_after_close_says_it_never_ran() {
    let lp = EventLoop::new().unwrap();
    lp.close();
    let err = run_in_loop(&lp, || 1).wait_timeout(LIMIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LoopClosed);
    assert!(err.to_string().contains("never ran"), "{err}");
    let local = lp.local(|| 0u8);
    let err = local.call(|n| *n).wait_timeout(LIMIT).unwrap_err();
    assert!(err.to_string().contains("never ran"), "{err}");
}

#[test]
fn an_index_out_of_range_of_a_one_loop_pool_says_one_loop() {
    let pool = EventLoop::builder().pool(1).unwrap();
    let err = pool.loop_at(3).unwrap_err();
    assert!(err.to_string().ends_with("the pool has 1 loop"), "{err}");
    let two = EventLoop::builder().pool(2).unwrap();
    assert!(two.loop_at(3).unwrap_err().to_string().ends_with("2 loops"));
}

#[test]
fn a_comparison_with_a_zero_latency_bench_says_which_is_faster_without_inf() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let instant = rt
        .block_on(Bench::builder(4).run(|_| async { Ok::<_, Error>(()) }))
        .unwrap();
    let slow = rt
        .block_on(Bench::builder(4).concurrency(1).run(|_| async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok::<_, Error>(())
        }))
        .unwrap();
    for (table, faster) in [
        (
            instant.compare(&slow).labels("instant", "slow").to_string(),
            "instant is faster than slow",
        ),
        (
            slow.compare(&instant).labels("slow", "instant").to_string(),
            "instant is faster than slow",
        ),
    ] {
        assert!(!table.contains("inf"), "{table}");
        assert!(table.contains(faster), "{table}");
    }
}
