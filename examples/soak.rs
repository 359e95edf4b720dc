//! Soak test: `cargo run --release --example soak -- --seconds N`.
//!
//! For N seconds, one producer thread per core pushes calls into one long-lived loop
//! (plain calls, async calls, calls that panic, calls that return errors) and hands
//! the promises to a pool of waiter threads; meanwhile a churn thread starts short
//! loops, calls into them, closes them under load and calls into them once closed.
//!
//! Each answer is checked against what the state of its loop allows:
//! - the long-lived loop is open for the whole run: every call must give exactly its
//!   expected value (or its planned error); `LoopClosed` there is wrong;
//! - a short loop is closed right after its calls are made: each call gives its
//!   expected answer, or `LoopClosed` if the close came first;
//! - a call made after its loop was closed must give `LoopClosed`.
//!
//! A promise still unsettled [`SETTLE_LIMIT`] after a waiter took it is counted lost.
//! At the end it prints calls made, settled, lost and wrong, the share of refusals
//! (`LoopClosed`) by kind of loop, errors by kind and peak RSS, and exits non-zero if
//! a single result was lost or wrong.

use pulsar_async::{
    run_in_loop, run_in_loop_async, try_run_in_loop, Error, ErrorKind, EventLoop, Promise,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a waiter gives a promise to settle before it counts it lost.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// What a call is expected to give when it runs.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Value(u64),
    Kind(ErrorKind),
}

/// The state of the loop a call went into, which decides which answers are right.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// The long-lived loop, open for the whole run: only the expected answer.
    LongLived,
    /// A short loop, open when the call was made and closed right after: the
    /// expected answer, or `LoopClosed` if the close came first.
    Closing,
    /// A short loop already closed: only `LoopClosed`.
    Closed,
}

const TARGETS: [Target; 3] = [Target::LongLived, Target::Closing, Target::Closed];

/// One call to check.
struct Call {
    promise: Promise<u64>,
    expect: Expect,
    target: Target,
}

/// Counts per [`Target`].
#[derive(Default)]
struct PerLoop {
    made: AtomicU64,
    settled: AtomicU64,
    lost: AtomicU64,
    wrong: AtomicU64,
    refused: AtomicU64,
}

#[derive(Default)]
struct Tally {
    by_loop: [PerLoop; 3],
    errors: Mutex<BTreeMap<String, u64>>,
    /// The first few wrong answers, for the report.
    wrong_examples: Mutex<Vec<String>>,
}

impl Tally {
    fn of(&self, target: Target) -> &PerLoop {
        &self.by_loop[target as usize]
    }

    fn made(&self, calls: &[Call]) {
        for call in calls {
            self.of(call.target).made.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits for `call` until `deadline` and checks its answer.
    fn check(&self, call: Call, deadline: Instant) {
        let Call {
            promise,
            expect,
            target,
        } = call;
        let counts = self.of(target);
        let outcome: Result<u64, Error> =
            promise.wait_timeout(deadline.saturating_duration_since(Instant::now()));
        if !promise.is_done() {
            counts.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        counts.settled.fetch_add(1, Ordering::Relaxed);
        let refused = matches!(&outcome, Err(e) if e.kind() == ErrorKind::LoopClosed);
        if refused {
            counts.refused.fetch_add(1, Ordering::Relaxed);
        }
        let as_expected = match (&outcome, expect) {
            (Ok(v), Expect::Value(want)) => *v == want,
            (Err(e), Expect::Kind(kind)) => e.kind() == kind,
            _ => false,
        };
        let right = match target {
            Target::LongLived => as_expected,
            Target::Closing => as_expected || refused,
            Target::Closed => refused,
        };
        if !right {
            counts.wrong.fetch_add(1, Ordering::Relaxed);
            let mut examples = self
                .wrong_examples
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if examples.len() < 5 {
                examples.push(format!(
                    "call into a {target:?} loop expecting {expect:?} gave {outcome:?}"
                ));
            }
        }
        if let Err(e) = outcome {
            *self
                .errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(format!("{:?}", e.kind()))
                .or_default() += 1;
        }
    }

    fn sum(&self, field: impl Fn(&PerLoop) -> &AtomicU64) -> u64 {
        self.by_loop
            .iter()
            .map(|c| field(c).load(Ordering::Relaxed))
            .sum()
    }
}

/// `part` as a percentage of `whole`.
fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn main() {
    let seconds = parse_seconds();
    // The panics below are deliberate; count them, do not print each one.
    std::panic::set_hook(Box::new(|_| {}));
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    let waiters = 2.max(cores / 2);
    println!(
        "soak: {seconds} s, {cores} producer threads, {waiters} waiter threads, 1 churn thread"
    );

    let lp = EventLoop::builder()
        .name("soak")
        .spawn()
        .expect("start the loop");
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    // Bounded: producers block when waiters fall behind, so memory stays flat.
    let (tx, rx) = mpsc::sync_channel::<Vec<Call>>(waiters * 4);
    let rx = Arc::new(Mutex::new(rx));

    let waiter_threads: Vec<_> = (0..waiters)
        .map(|_| {
            let (rx, tally) = (rx.clone(), tally.clone());
            thread::spawn(move || loop {
                let batch = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok(batch) = batch else { return };
                let deadline = Instant::now() + SETTLE_LIMIT;
                for call in batch {
                    tally.check(call, deadline);
                }
            })
        })
        .collect();

    let producers: Vec<_> = (0..cores)
        .map(|t| {
            let (lp, tx, tally, stop) = (lp.clone(), tx.clone(), tally.clone(), stop.clone());
            thread::spawn(move || {
                let mut n = (t as u64) << 40;
                while !stop.load(Ordering::Relaxed) {
                    let batch: Vec<_> = (0..256)
                        .map(|_| {
                            n += 1;
                            submit(&lp, n, Target::LongLived)
                        })
                        .collect();
                    tally.made(&batch);
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();

    let churn = {
        let (tx, tally, stop) = (tx.clone(), tally.clone(), stop.clone());
        thread::spawn(move || {
            let mut loops = 0u64;
            let mut n = u64::MAX >> 1;
            while !stop.load(Ordering::Relaxed) {
                let short = EventLoop::new().expect("start a short loop");
                let mut batch: Vec<_> = (0..64)
                    .map(|_| {
                        n += 1;
                        submit(&short, n, Target::Closing)
                    })
                    .collect();
                short.close(); // under load: some calls ran, the rest fail loop-closed
                batch.extend((0..4).map(|_| {
                    n += 1;
                    submit(&short, n, Target::Closed)
                }));
                tally.made(&batch);
                loops += 1;
                if tx.send(batch).is_err() {
                    break;
                }
            }
            loops
        })
    };
    drop(tx);

    let started = Instant::now();
    let mut rss_after_warmup = None;
    let mut rss_max = 0;
    for s in 1..=seconds {
        thread::sleep(
            Duration::from_secs(1)
                .saturating_sub(started.elapsed().saturating_sub(Duration::from_secs(s - 1))),
        );
        let rss = rss_kib("VmRSS");
        rss_max = rss_max.max(rss);
        if s == (seconds / 4).max(1) {
            rss_after_warmup = Some(rss);
        }
        println!(
            "  t={s:>4}s  made {:>11}  settled {:>11}  rss {:>7} KiB",
            tally.sum(|c| &c.made),
            tally.sum(|c| &c.settled),
            rss
        );
    }
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.join().expect("producer");
    }
    let churned = churn.join().expect("churn");
    for w in waiter_threads {
        w.join().expect("waiter");
    }
    drop(lp);

    let elapsed = started.elapsed().as_secs_f64();
    let made = tally.sum(|c| &c.made);
    let settled = tally.sum(|c| &c.settled);
    let lost = tally.sum(|c| &c.lost);
    let wrong = tally.sum(|c| &c.wrong);
    let refused = tally.sum(|c| &c.refused);
    println!("\ncalls made      {made}");
    println!(
        "calls settled   {settled}  ({:.0} calls/s)",
        settled as f64 / elapsed
    );
    println!("lost results    {lost}  (unsettled {SETTLE_LIMIT:?} after a waiter took them)");
    println!("wrong results   {wrong}");
    println!(
        "refusals        {refused}  ({:.2}% of all calls are LoopClosed)",
        share(refused, made)
    );
    for target in TARGETS {
        let c = tally.of(target);
        let (m, r) = (
            c.made.load(Ordering::Relaxed),
            c.refused.load(Ordering::Relaxed),
        );
        let rule = match target {
            Target::LongLived => "the long-lived loop, must answer every call",
            Target::Closing => "short loops closed right after the call, may refuse",
            Target::Closed => "short loops already closed, must refuse",
        };
        println!(
            "  {:<10} {m:>11} calls, {r:>9} refused ({:>6.2}%), {} wrong, {} lost: {rule}",
            format!("{target:?}"),
            share(r, m),
            c.wrong.load(Ordering::Relaxed),
            c.lost.load(Ordering::Relaxed),
        );
    }
    println!("loops churned   {churned}");
    println!("errors by kind:");
    for (kind, count) in tally
        .errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        println!("  {kind:<12} {count}");
    }
    let end_rss = rss_kib("VmRSS");
    println!("peak RSS        {} KiB", rss_kib("VmHWM").max(rss_max));
    if let Some(warm) = rss_after_warmup {
        println!("RSS after warm-up {warm} KiB, at the end {end_rss} KiB");
    }
    for example in tally
        .wrong_examples
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        eprintln!("wrong: {example}");
    }
    if lost != 0 || wrong != 0 || settled + lost != made {
        eprintln!("FAILED: lost or wrong results (made {made}, settled {settled}, lost {lost})");
        std::process::exit(1);
    }
}

/// Submits one call of a kind chosen by `n` into `lp`, whose state is `target`.
fn submit(lp: &EventLoop, n: u64, target: Target) -> Call {
    let (promise, expect) = match n % 100 {
        0 => (
            run_in_loop(lp, move || -> u64 { panic!("planned panic {n}") }),
            Expect::Kind(ErrorKind::Panicked),
        ),
        1 => (
            try_run_in_loop(lp, move || Err::<u64, _>(format!("planned error {n}"))),
            Expect::Kind(ErrorKind::User),
        ),
        2..=11 => (
            run_in_loop_async(lp, move || async move {
                tokio::task::yield_now().await;
                n * 2
            }),
            Expect::Value(n * 2),
        ),
        _ => (run_in_loop(lp, move || n + 1), Expect::Value(n + 1)),
    };
    Call {
        promise,
        expect,
        target,
    }
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn parse_seconds() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--seconds") {
        Some(i) => match args.get(i + 1).and_then(|v| v.parse::<u64>().ok()) {
            Some(s) if s > 0 => s,
            _ => {
                eprintln!("usage: soak --seconds N   (N a whole number of seconds, at least 1)");
                std::process::exit(2);
            }
        },
        None => 10,
    }
}
