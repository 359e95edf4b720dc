//! Bad input gets a documented, typed outcome: never a panic, a hang or a lost result.

use pulsar_async::{chain_future, run_in_loop, Bench, Error, ErrorKind, EventLoop, Promise};
use std::time::Duration;

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

#[test]
fn a_loop_name_with_a_nul_byte_is_an_invalid_input_error_not_a_panic() {
    let err = EventLoop::builder().name("bad\0name").spawn().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn zero_and_huge_durations_are_accepted_everywhere() {
    let lp = EventLoop::builder()
        .spin(Duration::ZERO)
        .slow_callback(Duration::ZERO)
        .spawn()
        .unwrap();
    assert_eq!(
        lp.call_later(Duration::ZERO, || 1)
            .wait_timeout(LIMIT)
            .unwrap(),
        1
    );
    let far = lp.call_later(Duration::MAX, || 2);
    assert!(far.cancel());
    let p = Promise::<u8>::new();
    assert_eq!(
        p.wait_timeout(Duration::ZERO).unwrap_err().kind(),
        ErrorKind::Timeout
    );
    p.set_result(3).unwrap();
    assert_eq!(p.wait_timeout(Duration::MAX).unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_zero_chain_timeout_fails_a_pending_source_with_timeout() {
    // The source stays alive (and pending): a source whose every handle is dropped
    // can never settle, and fails its chain at once.
    let source = Promise::<u8>::new();
    let next = chain_future(source.clone()).timeout(Duration::ZERO).start();
    assert_eq!(next.await.unwrap_err().kind(), ErrorKind::Timeout);
    drop(source);
}

#[tokio::test(start_paused = true)]
async fn a_zero_chain_timeout_keeps_the_value_of_a_ready_source() {
    let next = chain_future(Promise::resolved(4))
        .timeout(Duration::ZERO)
        .start();
    assert_eq!(next.await.unwrap(), 4);
}

#[tokio::test]
async fn a_bench_of_zero_calls_is_an_empty_bench() {
    let bench = Bench::builder(0)
        .run(|_| async { Ok::<_, Error>(()) })
        .await
        .unwrap();
    assert!(bench.results().is_empty());
    assert!(bench.latency().is_none());
}

#[test]
fn settling_twice_and_awaiting_a_closed_loop_are_typed_errors() {
    let lp = EventLoop::new().unwrap();
    let p = run_in_loop(&lp, || 1);
    assert_eq!(p.wait_timeout(LIMIT).unwrap(), 1);
    assert_eq!(p.set_result(2).unwrap_err().kind(), ErrorKind::InvalidState);
    lp.close();
    let late = run_in_loop(&lp, || 1);
    assert_eq!(
        futures::executor::block_on(late).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
}
