//! Soak test: `cargo run --release --example soak -- --seconds N`.
//!
//! For N seconds, one producer thread per core pushes calls into one long-lived loop
//! (plain calls, async calls, calls that panic, calls that return errors) and hands
//! the promises to a pool of waiter threads; meanwhile a churn thread starts short
//! loops, calls into them and closes them under load. At the end it prints calls
//! made, calls resolved, errors by kind and peak RSS, and exits non-zero if a single
//! result was lost or wrong.

use pulsar_async::{
    run_in_loop, run_in_loop_async, try_run_in_loop, Error, ErrorKind, EventLoop, Promise,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What a call is expected to give.
#[derive(Clone, Copy)]
enum Expect {
    Value(u64),
    Kind(ErrorKind),
}

#[derive(Default)]
struct Tally {
    made: AtomicU64,
    resolved: AtomicU64,
    wrong: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    fn record(&self, outcome: Result<u64, Error>, expect: Expect) {
        self.resolved.fetch_add(1, Ordering::Relaxed);
        let ok = match (&outcome, expect) {
            (Ok(v), Expect::Value(want)) => *v == want,
            // A churned loop may close before the call runs.
            (Err(e), _) if e.kind() == ErrorKind::LoopClosed => true,
            (Err(e), Expect::Kind(kind)) => e.kind() == kind,
            _ => false,
        };
        if !ok {
            self.wrong.fetch_add(1, Ordering::Relaxed);
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
    let (tx, rx) = mpsc::sync_channel::<Vec<(Promise<u64>, Expect)>>(waiters * 4);
    let rx = Arc::new(Mutex::new(rx));

    let waiter_threads: Vec<_> = (0..waiters)
        .map(|_| {
            let (rx, tally) = (rx.clone(), tally.clone());
            thread::spawn(move || loop {
                let batch = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok(batch) = batch else { return };
                for (p, expect) in batch {
                    tally.record(p.wait_timeout(Duration::from_secs(30)), expect);
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
                            submit(&lp, n)
                        })
                        .collect();
                    tally.made.fetch_add(batch.len() as u64, Ordering::Relaxed);
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
                let batch: Vec<_> = (0..64)
                    .map(|_| {
                        n += 1;
                        submit(&short, n)
                    })
                    .collect();
                tally.made.fetch_add(batch.len() as u64, Ordering::Relaxed);
                short.close(); // under load: some calls ran, the rest fail loop-closed
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
            "  t={s:>4}s  made {:>11}  resolved {:>11}  rss {:>7} KiB",
            tally.made.load(Ordering::Relaxed),
            tally.resolved.load(Ordering::Relaxed),
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

    let made = tally.made.load(Ordering::Relaxed);
    let resolved = tally.resolved.load(Ordering::Relaxed);
    let wrong = tally.wrong.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    println!("\ncalls made      {made}");
    println!(
        "calls resolved  {resolved}  ({:.0} calls/s)",
        resolved as f64 / elapsed
    );
    println!("lost results    {}", made - resolved.min(made));
    println!("wrong results   {wrong}");
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
    if made != resolved || wrong != 0 {
        eprintln!("FAILED: lost or wrong results");
        std::process::exit(1);
    }
}

/// Submits one call of a kind chosen by `n`, with what it must give.
fn submit(lp: &EventLoop, n: u64) -> (Promise<u64>, Expect) {
    match n % 100 {
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
