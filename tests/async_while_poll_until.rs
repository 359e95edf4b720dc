//! `async_while` under tokio's paused clock: SPEC Part 1 "async_while", plus its
//! deadline (kept, except for an async clause's first evaluation, which is awaited
//! to its end); and its Rust-shaped companion `poll_until`, on the
//! same intervals, whose every evaluation is cut at the deadline.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use pulsar_async::async_while::{PollUntil, SyncClause, Truthy};
use pulsar_async::{async_while, poll_until, ErrorKind, EventLoop};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A clause that records when it is evaluated and is truthy `rounds` times.
fn recording(rounds: usize) -> (Rc<RefCell<Vec<Instant>>>, impl FnMut() -> bool) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let clause = move || {
        s.borrow_mut().push(Instant::now());
        s.borrow().len() <= rounds
    };
    (seen, clause)
}

fn gaps(seen: &[Instant]) -> Vec<Duration> {
    seen.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn the_clause_is_evaluated_at_once_and_a_falsy_value_returns_without_sleeping() {
    let start = Instant::now();
    let (seen, clause) = recording(0);
    let done = async_while(Duration::from_secs(10), clause).await;
    assert!(!done);
    assert_eq!(seen.borrow().len(), 1);
    assert_eq!(seen.borrow()[0], start);
    assert_eq!(Instant::now(), start);
}

#[tokio::test(start_paused = true)]
async fn intervals_grow_by_a_tenth_of_a_second_up_to_one_second() {
    let (seen, clause) = recording(12);
    let done = async_while(Duration::ZERO, clause).await;
    assert!(!done, "falsy once the condition is met");
    let expected: Vec<Duration> = [
        100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1000, 1000,
    ]
    .into_iter()
    .map(ms)
    .collect();
    assert_eq!(gaps(&seen.borrow()), expected);
}

#[tokio::test(start_paused = true)]
async fn first_interval_step_and_max_are_configurable() {
    let (seen, clause) = recording(5);
    let done = async_while(Duration::ZERO, clause)
        .first_interval(ms(50))
        .interval_step(ms(25))
        .max_interval(ms(110))
        .await;
    assert!(!done);
    let expected: Vec<Duration> = [50, 75, 100, 110, 110].into_iter().map(ms).collect();
    assert_eq!(gaps(&seen.borrow()), expected);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_returns_the_truthy_value_exactly_at_the_deadline() {
    let start = Instant::now();
    let (seen, clause) = recording(usize::MAX);
    let still = async_while(Duration::from_secs(10), clause).await;
    assert!(still, "truthy: timed out");
    assert_eq!(
        Instant::now() - start,
        Duration::from_secs(10),
        "never later"
    );
    // Evaluated at 0, 0.1, 0.3, ... 5.5, 6.5, ... 9.5; the last sleep was cut to 0.5 s
    // and the clause was not evaluated again at the deadline.
    let last = *seen.borrow().last().unwrap();
    assert_eq!(last - start, ms(9500));
    assert_eq!(seen.borrow().len(), 15);
}

#[test]
fn a_ten_second_timeout_takes_milliseconds_of_real_time() {
    let real = std::time::Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let still = runtime.block_on(async_while(Duration::from_secs(10), || Some("busy")));
    assert_eq!(still, Some("busy"));
    assert!(
        real.elapsed() < Duration::from_secs(2),
        "took {:?}",
        real.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_zero_timeout_means_no_timeout() {
    let start = Instant::now();
    let until = start + Duration::from_secs(100);
    let done = async_while(Duration::ZERO, || Instant::now() < until).await;
    assert!(!done);
    assert!(Instant::now() >= until);
    assert_eq!(async_while(Duration::ZERO, || false).timeout(), None);
}

#[tokio::test(start_paused = true)]
async fn an_async_clause_is_awaited_and_its_run_time_counts_against_the_deadline() {
    let start = Instant::now();
    let rounds = Rc::new(RefCell::new(Vec::new()));
    let r = rounds.clone();
    let still = async_while(ms(1000), move || {
        let r = r.clone();
        async move {
            r.borrow_mut().push(Instant::now());
            tokio::time::sleep(ms(300)).await;
            true
        }
    })
    .await;
    assert!(still);
    // 0 (evaluates until 0.3) sleeps 0.1 -> 0.4 (evaluates until 0.7) sleeps 0.2
    // -> 0.9, whose evaluation is cut at the deadline, 1.0.
    let started: Vec<Duration> = rounds.borrow().iter().map(|t| *t - start).collect();
    assert_eq!(started, vec![ms(0), ms(400), ms(900)]);
    assert_eq!(Instant::now() - start, ms(1000));
}

#[tokio::test(start_paused = true)]
async fn a_hanging_evaluation_after_the_first_is_cut_at_the_deadline() {
    let start = Instant::now();
    let mut round = 0;
    let still = async_while(ms(500), move || {
        round += 1;
        let hang = round > 1;
        async move {
            if hang {
                std::future::pending::<()>().await;
            }
            Some(round)
        }
    })
    .await;
    assert_eq!(still, Some(1), "the last value the clause gave");
    assert_eq!(Instant::now() - start, ms(500));
}

#[tokio::test(start_paused = true)]
async fn the_first_evaluation_is_awaited_even_past_the_deadline() {
    let start = Instant::now();
    let still = async_while(ms(100), || async {
        tokio::time::sleep(ms(300)).await;
        true
    })
    .await;
    assert!(still);
    assert_eq!(Instant::now() - start, ms(300));
}

#[tokio::test(start_paused = true)]
async fn option_clauses_return_the_last_value() {
    let mut left = 3u32;
    let out = async_while(Duration::ZERO, move || {
        left -= 1;
        (left > 0).then_some(left)
    })
    .await;
    assert_eq!(out, None);
}

#[tokio::test(start_paused = true)]
async fn a_zero_interval_yields_to_other_tasks_between_evaluations() {
    let flag = Rc::new(RefCell::new(false));
    let f = flag.clone();
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            tokio::task::spawn_local(async move { *f.borrow_mut() = true });
            let still = async_while(Duration::ZERO, || !*flag.borrow())
                .first_interval(Duration::ZERO)
                .interval_step(Duration::ZERO)
                .await;
            assert!(!still);
        })
        .await;
}

#[test]
fn async_while_runs_on_a_caller_driven_loop() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let mut n = 0;
    let out = lp
        .run_until_complete(async_while(Duration::from_secs(1), move || {
            n += 1;
            n < 3
        }))
        .unwrap();
    assert!(!out);
}

#[test]
fn custom_types_can_be_truthy() {
    struct Pending(usize);
    impl Truthy for Pending {
        fn is_truthy(&self) -> bool {
            self.0 > 0
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let mut n = 2;
    let out = runtime.block_on(async_while(Duration::ZERO, move || {
        n -= 1;
        Pending(n)
    }));
    assert_eq!(out.0, 0);
}

// ---- poll_until ----

/// A clause that records when it is evaluated and gives `Some(n)` on its `n`-th
/// evaluation, from evaluation `ready_at` on (never when `None`).
fn recording_until(
    ready_at: Option<usize>,
) -> (Rc<RefCell<Vec<Instant>>>, impl FnMut() -> Option<usize>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let clause = move || {
        s.borrow_mut().push(Instant::now());
        let n = s.borrow().len();
        ready_at.filter(|r| n >= *r).map(|_| n)
    };
    (seen, clause)
}

#[tokio::test(start_paused = true)]
async fn poll_until_resolves_to_the_first_value_at_the_round_it_appears() {
    let start = Instant::now();
    let (seen, clause) = recording_until(Some(3));
    let value = poll_until(Duration::from_secs(10), clause).await;
    assert_eq!(value.unwrap(), 3);
    assert_eq!(Instant::now() - start, ms(300), "0, 0.1, then 0.3");
    assert_eq!(seen.borrow().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn poll_until_sleeps_the_same_growing_intervals_as_async_while() {
    let (while_seen, while_clause) = recording(12);
    assert!(!async_while(Duration::ZERO, while_clause).await);
    let (until_seen, until_clause) = recording_until(Some(13));
    assert_eq!(poll_until(Duration::MAX, until_clause).await.unwrap(), 13);
    assert_eq!(gaps(&until_seen.borrow()), gaps(&while_seen.borrow()));
}

#[tokio::test(start_paused = true)]
async fn poll_until_intervals_are_configurable_like_async_while() {
    let (seen, clause) = recording_until(Some(6));
    poll_until(Duration::MAX, clause)
        .first_interval(ms(50))
        .interval_step(ms(25))
        .max_interval(ms(110))
        .await
        .unwrap();
    let expected: Vec<Duration> = [50, 75, 100, 110, 110].into_iter().map(ms).collect();
    assert_eq!(gaps(&seen.borrow()), expected);
}

#[tokio::test(start_paused = true)]
async fn poll_until_times_out_exactly_at_the_deadline_with_a_timeout_error() {
    let start = Instant::now();
    let (seen, clause) = recording_until(None);
    let err = poll_until(Duration::from_secs(10), clause)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(
        Instant::now() - start,
        Duration::from_secs(10),
        "never later"
    );
    // As async_while: the last evaluation at 9.5 s, none at the deadline.
    assert_eq!(*seen.borrow().last().unwrap() - start, ms(9500));
    assert_eq!(seen.borrow().len(), 15);
    assert_eq!(
        err.to_string(),
        "timed out: no value within 10s (15 attempts)"
    );
}

#[tokio::test(start_paused = true)]
async fn an_err_is_a_failed_attempt_and_the_last_one_is_the_timeout_cause() {
    let mut n = 0;
    let err = poll_until(ms(350), move || {
        n += 1;
        Err::<(), _>(std::io::Error::other(format!("refused #{n}")))
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let cause = std::error::Error::source(&err).expect("the last error");
    assert_eq!(cause.to_string(), "refused #3");
    assert!(err.downcast_ref::<std::io::Error>().is_some());
}

#[tokio::test(start_paused = true)]
async fn an_ok_after_errors_is_the_value() {
    let mut n = 0;
    let value = poll_until(Duration::from_secs(5), move || {
        n += 1;
        if n < 4 {
            Err("not yet")
        } else {
            Ok(n)
        }
    })
    .await;
    assert_eq!(value.unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_value_that_holds_an_error_ends_the_polling() {
    let mut n = 0;
    let value = poll_until(Duration::from_secs(5), move || {
        n += 1;
        Some(Err::<u8, _>(format!("fatal at #{n}")))
    })
    .await;
    assert_eq!(value.unwrap(), Err("fatal at #1".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn every_async_evaluation_of_poll_until_is_bounded_by_the_deadline_even_the_first() {
    let start = Instant::now();
    let err = poll_until(ms(100), || async {
        tokio::time::sleep(ms(300)).await;
        Some(1)
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(
        Instant::now() - start,
        ms(100),
        "cut at the deadline, not at 300 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hanging_later_evaluation_of_poll_until_is_cut_at_the_deadline() {
    let start = Instant::now();
    let mut round = 0;
    let err = poll_until(ms(500), move || {
        round += 1;
        let hang = round > 1;
        async move {
            if hang {
                std::future::pending::<()>().await;
            }
            Err::<u8, _>(format!("round {round}"))
        }
    })
    .await
    .unwrap_err();
    assert_eq!(Instant::now() - start, ms(500));
    let cause = std::error::Error::source(&err).expect("round 1's error");
    assert_eq!(cause.to_string(), "round 1");
}

#[tokio::test(start_paused = true)]
async fn a_zero_timeout_gives_poll_until_one_attempt() {
    let start = Instant::now();
    let (seen, clause) = recording_until(None);
    let err = poll_until(Duration::ZERO, clause).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(seen.borrow().len(), 1);
    assert_eq!(Instant::now(), start);
    let ready = poll_until(Duration::ZERO, || Some("now")).await;
    assert_eq!(ready.unwrap(), "now");
    let polled_once = poll_until(Duration::ZERO, || async {
        tokio::task::yield_now().await;
        Some(1)
    })
    .await;
    assert_eq!(polled_once.unwrap_err().kind(), ErrorKind::Timeout);
}

#[tokio::test(start_paused = true)]
async fn duration_max_means_no_timeout_for_poll_until() {
    let start = Instant::now();
    let until = start + Duration::from_secs(1000);
    let value = poll_until(Duration::MAX, || (Instant::now() >= until).then_some(7)).await;
    assert_eq!(value.unwrap(), 7);
    assert!(Instant::now() >= until);
}

#[test]
fn poll_until_runs_on_a_caller_driven_loop_and_is_send_when_its_clause_is() {
    fn assert_send<T: Send>(_: &T) {}
    let lp = EventLoop::builder().build_driven().unwrap();
    let mut n = 0u8;
    let future: PollUntil<_, SyncClause> = poll_until(Duration::from_secs(1), move || {
        n += 1;
        (n == 2).then_some(n)
    });
    assert_send(&future);
    assert_eq!(lp.run_until_complete(future).unwrap().unwrap(), 2);
}
