//! `async_while` under tokio's paused clock: SPEC Part 1 "async_while", plus never
//! overshooting the timeout.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use pulsar_async::async_while::Truthy;
use pulsar_async::{async_while, EventLoop};
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
