//! A guided run of pulsar-async: `cargo run --release --example tour`.
//!
//! Each section prints what it shows in a line or two, and asserts every value it
//! prints, so the tour also fails loudly (a panic on the main thread, a non-zero
//! exit) if a behaviour breaks.

use futures::StreamExt;
use pulsar_async::event_loop::LoopState;
use pulsar_async::multi::{self, KeyedError};
use pulsar_async::{
    async_while, chain_future, maybe_async, multi_async, multi_async_settled, poll_until,
    run_in_loop, run_in_loop_async, task, try_run_in_loop, try_run_in_loop_async, AsyncObject,
    Bench, Error, ErrorKind, EventLoop, LoopLocal, MaybeAsync, Promise,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Error> {
    println!("pulsar-async tour\n");
    // The panics on loop threads are part of the tour: print them in one line. A
    // panic on the main thread is a failed check: report it as usual.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            report(info)
        } else {
            println!("   (a panic, as planned: {info})")
        }
    }));

    section("1. An event loop on its own thread, reached from any thread");
    let lp = EventLoop::builder().name("tour-loop").spawn()?;
    let where_ = run_in_loop(&lp, || std::thread::current().name().map(String::from)).wait()?;
    println!(
        "   run_in_loop ran on thread {:?}",
        where_.as_deref().unwrap_or("?")
    );
    assert_eq!(where_.as_deref(), Some("tour-loop"));

    section("2. !Send state (Rc<RefCell<_>>) lives on the loop; 4 threads mutate it");
    thread_local!(static COUNTS: Rc<RefCell<Vec<usize>>> = Rc::default());
    let callers: Vec<_> = (0..4)
        .map(|t| {
            let lp = lp.clone();
            std::thread::spawn(move || {
                let calls: Vec<_> = (0..1000)
                    .map(|_| run_in_loop(&lp, move || COUNTS.with(|c| c.borrow_mut().push(t))))
                    .collect();
                calls.iter().try_for_each(|p| p.wait())
            })
        })
        .collect();
    for c in callers {
        c.join().expect("caller thread")?;
    }
    let total = run_in_loop(&lp, || COUNTS.with(|c| c.borrow().len())).wait()?;
    println!("   4 threads x 1000 calls -> {total} pushes onto one Rc<RefCell<Vec>>, no locks");
    assert_eq!(total, 4000);

    section("3. Promise: set from one thread, awaited on another, cancelled, set twice");
    let p = Promise::new();
    let setter = p.clone();
    std::thread::spawn(move || setter.set_result("hello from a thread"));
    let got = futures_lite_block_on(p.clone())?;
    println!("   futures::executor::block_on(promise) = {got:?}");
    assert_eq!(got, "hello from a thread");
    let twice = p.set_result("again").unwrap_err();
    let (kind, message) = (twice.kind(), twice.to_string());
    let handed_back = twice.into_inner()?;
    println!("   setting it again -> {message} (value handed back: {handed_back:?})");
    assert_eq!(kind, ErrorKind::InvalidState);
    assert_eq!(handed_back, "again");
    assert_eq!(
        p.try_result()?,
        "hello from a thread",
        "the first value stays"
    );
    let c = Promise::<u8>::new();
    let (on_pending, on_done) = (c.cancel(), c.cancel());
    println!("   cancel() on pending -> {on_pending}, on done -> {on_done}");
    assert!(on_pending && !on_done);
    let cancelled = c.try_result().unwrap_err();
    println!("   result of a cancelled promise -> {cancelled}");
    assert!(cancelled.is_cancelled());

    section("4. Errors are values: panics, user errors, closed loops");
    let boom = run_in_loop(&lp, || -> u8 { panic!("a bug in a callback") })
        .wait()
        .unwrap_err();
    println!("   panic in a call   -> kind {:?}: {boom}", boom.kind());
    assert_eq!(boom.kind(), ErrorKind::Panicked);
    assert_eq!(boom.message(), Some("a bug in a callback"));
    let parse = try_run_in_loop(&lp, || "x".parse::<u8>())
        .wait()
        .unwrap_err();
    println!("   Err from a call   -> kind {:?}: {parse}", parse.kind());
    assert_eq!(parse.kind(), ErrorKind::User);
    assert!(parse.downcast_ref::<std::num::ParseIntError>().is_some());
    let survived = run_in_loop(&lp, || "still serving").wait()?;
    println!("   the loop survived -> {survived}");
    assert_eq!(survived, "still serving");
    let gone = EventLoop::new()?;
    gone.close();
    let refused = run_in_loop(&gone, || 1).wait().unwrap_err();
    println!("   a call into a closed loop -> kind {:?}", refused.kind());
    assert_eq!(refused.kind(), ErrorKind::LoopClosed);

    section("5. No deadlock: waiting on the loop's own thread is an error");
    let inner = lp.clone();
    let kind = run_in_loop(&lp, move || {
        inner.create_promise::<u8>().wait().unwrap_err().kind()
    })
    .wait()?;
    println!("   wait() on the loop thread -> {kind:?}");
    assert_eq!(kind, ErrorKind::WouldDeadlock);

    section("6. Futures made on the loop may be !Send; timers use tokio's clock");
    let started = Instant::now();
    let slept = run_in_loop_async(&lp, || {
        let local = Rc::new(21);
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            *local * 2
        }
    })
    .wait()?;
    let took = started.elapsed();
    println!("   run_in_loop_async -> {slept} after {:?}", round(took));
    assert_eq!(slept, 42);
    assert!(took >= Duration::from_millis(20), "{took:?}");

    section("7. maybe_async: ready futures cost no task; chain_future flattens promises");
    let ready = maybe_async(async { 7 });
    println!(
        "   maybe_async(ready future).is_ready() = {}",
        ready.is_ready()
    );
    assert!(ready.is_ready());
    let source = lp.create_promise();
    let next = chain_future(source.clone())
        .callback(|v: u32| {
            let lp = EventLoop::current().expect("callbacks run on the source's loop");
            run_in_loop(&lp, move || v * 10) // a promise: chained in, not the value
        })
        .errback(|_e: Error| Ok(0))
        .start();
    source.set_result(4).map_err(Error::from)?;
    let chained = next.wait()?;
    println!("   chain_future(4).callback(promise of x*10) -> {chained}");
    assert_eq!(chained, 40);

    section("8. multi_async: one future over many, same shape in and out");
    let mut prices = HashMap::new();
    for (item, cents) in [("apple", 120u32), ("pear", 95), ("fig", 300)] {
        prices.insert(item, run_in_loop(&lp, move || cents * 2)); // promises from the loop
    }
    let doubled: HashMap<&str, u32> = multi_async(prices).wait()?;
    let mut shown: Vec<_> = doubled.iter().collect();
    shown.sort();
    println!("   HashMap of promises -> HashMap of values, keys kept: {shown:?}");
    assert_eq!(shown, [(&"apple", &240), (&"fig", &600), (&"pear", &190)]);
    let (a, b) = (Promise::new(), Promise::new());
    let gathered = multi_async(vec![
        MaybeAsync::from(a.clone()),
        b.clone().into(),
        MaybeAsync::ready("bla"),
    ]);
    b.set_result("b").map_err(Error::from)?;
    a.set_result("a").map_err(Error::from)?;
    let in_order = gathered.wait()?;
    println!("   [pending a, pending b, \"bla\"], b settled first -> {in_order:?}");
    assert_eq!(in_order, ["a", "b", "bla"]);
    let settled = multi_async_settled(vec![
        Promise::resolved(1u8),
        Promise::failed(Error::user("bad")),
    ]);
    let failures: Vec<_> = settled
        .failures()
        .iter()
        // The input's own error is the source of the Error that carries it.
        .map(|(i, e)| {
            (
                *i,
                std::error::Error::source(e).map_or(e.to_string(), |s| s.to_string()),
            )
        })
        .collect();
    println!("   raise_on_error = false -> failures() = {failures:?}");
    assert_eq!(failures, [(1, "bad".to_owned())]);
    let raised = multi_async(HashMap::from([
        ("tea", Promise::resolved(1u8)),
        ("cake", Promise::failed(Error::user("oven broke"))),
    ]));
    let err = raised.wait().expect_err("cake failed");
    let key = KeyedError::<&str>::key_of(&err).copied();
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    println!("   raise_on_error = true -> \"{err}\", key {key:?}, source {cause:?}");
    assert_eq!(err.to_string(), r#"multi_async: input "cake" failed"#);
    assert_eq!((key, cause.as_deref()), (Some("cake"), Some("oven broke")));

    section("8b. multi::as_completed: each result as it finishes, with its key");
    let (slow, fast) = (Promise::<u32>::new(), Promise::<u32>::new());
    let mut done = multi::as_completed(HashMap::from([
        ("slow", slow.clone()),
        ("fast", fast.clone()),
        ("boom", run_in_loop(&lp, || -> u32 { panic!("boom") })),
    ]));
    let order = futures::executor::block_on(async {
        let mut order = Vec::new();
        let first = done.next().await; // the panicking call finishes first
        fast.set_result(1).map_err(Error::from)?;
        let second = done.next().await;
        slow.set_result(2).map_err(Error::from)?;
        let third = done.next().await;
        for (key, outcome) in [first, second, third].into_iter().flatten() {
            order.push((key, outcome.map_err(|e| e.kind())));
        }
        Ok::<_, Error>(order)
    })?;
    println!(
        "   {} inputs, read as they finished -> {order:?}",
        order.len()
    );
    assert_eq!(
        order,
        [
            ("boom", Err(ErrorKind::Panicked)),
            ("fast", Ok(1)),
            ("slow", Ok(2))
        ]
    );
    assert!(done.is_empty());

    section("9. AsyncObject + #[task]: methods run on the object's loop, whoever calls");
    let store = Store {
        lp: EventLoop::builder().name("store").spawn()?,
        hits: Arc::new(AtomicU64::new(0)),
    };
    let remote = store.clone();
    let from_thread = std::thread::spawn(move || remote.get(7).wait())
        .join()
        .expect("caller")?;
    println!("   store.get(7) from another thread -> {from_thread:?}");
    assert_eq!(from_thread, (14, Some("store".to_owned())));
    let waited = async_while_hits(&store)?;
    println!("   async_while(hits < 3) on the loop -> still waiting = {waited}");
    assert!(!waited, "the clause turned false before the 5 s timeout");
    let hits = store.hits.clone();
    let seen = try_run_in_loop_async(&store.lp, move || {
        poll_until(Duration::from_secs(5), move || {
            let now = hits.load(Ordering::Relaxed);
            (now >= 3).then_some(now) // None: not yet; Some(value): done
        })
        .first_interval(Duration::from_millis(1))
    })
    .wait()?;
    println!("   poll_until(Some(hits) once hits >= 3) -> {seen}");
    assert!(seen >= 3);
    let nothing = run_in_loop_async(&store.lp, || {
        poll_until(Duration::from_millis(50), || None::<u8>)
    })
    .wait()?;
    let timed_out = nothing.unwrap_err();
    println!("   poll_until(never Some) for 50 ms -> {timed_out}");
    assert_eq!(timed_out.kind(), ErrorKind::Timeout);

    section("10. Bench: percentiles, a histogram you can look at, two ways compared, repeats");
    let bench = store.timeit(2_000, |s| s.get(1)).wait()?;
    println!("   store.timeit(2000, |s| s.get(1)), all at once:");
    for line in bench.to_string().lines() {
        println!("     {line}");
    }
    assert_eq!(bench.times(), 2_000);
    assert_eq!(bench.results().len(), 2_000);
    assert!(bench
        .results()
        .iter()
        .all(|r| *r == (2, Some("store".to_owned()))));
    assert!(bench.latency().is_some() && bench.throughput().is_some());
    let table = bench.to_string();
    let row: Vec<_> = table
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(row.first(), Some(&"2000"), "{table}");
    // The same 2000 calls one at a time, printed with `{:#}`: the table and a histogram.
    let one_by_one = Bench::builder(2_000)
        .concurrency(1)
        .spawn(&store.lp, {
            let s = store.clone();
            move |_| s.get(1)
        })
        .wait()?;
    println!("   the same, one at a time, printed with {{:#}}:");
    for line in format!("{one_by_one:#}").lines() {
        println!("     {line}");
    }
    let counted: usize = one_by_one
        .histogram()
        .buckets()
        .iter()
        .map(|b| b.count)
        .sum();
    assert_eq!(counted, 2_000);
    assert!(format!("{one_by_one:#}").contains("latency histogram (2000 calls, log scale)"));
    let cmp = bench.compare(&one_by_one).labels("at once", "one by one");
    println!("   bench.compare(&one_by_one):");
    for line in cmp.to_string().lines() {
        println!("     {line}");
    }
    let verdict = cmp.to_string();
    assert!(verdict.contains("than one by one") || verdict.contains("are as fast"));
    // How sure is a figure? The same job twice, in 5 rounds each after a warm-up
    // round: the table shows the mean round and each column's low and high, and the
    // comparison says "within noise" when the rounds' ranges overlap.
    let repeated = || {
        let s = store.clone();
        Bench::builder(500)
            .repeats(5)
            .warm_up(1)
            .spawn(&store.lp, move |_| s.get(1))
    };
    let (first, second) = (repeated().wait()?, repeated().wait()?);
    println!("   Bench::builder(500).repeats(5).warm_up(1), twice:");
    for line in first.to_string().lines() {
        println!("     {line}");
    }
    assert_eq!(first.repeats().len(), 5);
    assert_eq!(first.latencies().len(), 5 * 500); // the warm-up's 500 not counted
    let table = first.to_string();
    let labels: Vec<_> = table
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(labels, ["5", "mean", "low", "high", "(after"], "{table}");
    let again = first.compare(&second).labels("first", "second");
    let headline = again.to_string();
    let headline = headline.lines().last().unwrap_or("");
    println!("   first.compare(&second) -> {headline}");
    assert!(
        headline == "first and second are within noise (calls per second)"
            || headline.ends_with("across rounds)"),
        "{headline}"
    );

    section("11. A caller-driven loop: run_until_complete on this thread");
    let driven = EventLoop::builder().name("driven").build_driven()?;
    let queued = run_in_loop(&driven, || 5);
    println!("   queued call before running: done = {}", queued.is_done());
    assert!(!queued.is_done());
    let out = driven.run_until_complete(async move { queued.await.map(|v| v + 1) })??;
    println!("   run_until_complete -> {out}");
    assert_eq!(out, 6);
    // Closed: from here on this thread has no loop of its own, so gathers made here
    // are bound to no loop and may be waited for here.
    drop(driven);

    section("12. Closing: pending work fails with loop-closed; the thread is joined");
    let timer = lp.call_later(Duration::from_secs(3600), || "never");
    let thread_ended = thread_end_flag(&lp)?;
    drop(lp);
    let closed = timer.wait().unwrap_err();
    println!("   timer after the last handle dropped -> {closed}");
    assert_eq!(closed.kind(), ErrorKind::LoopClosed);
    let joined = thread_ended.load(Ordering::SeqCst);
    println!("   the loop's thread had ended when drop returned -> {joined}");
    assert!(joined);

    section("12. shutdown(deadline): no new work; what was queued runs until the deadline");
    let draining = EventLoop::builder().name("draining").spawn()?;
    let deadline = Instant::now() + Duration::from_millis(200);
    // A call holds the loop until the shutdown begins, so the ten below wait in its
    // queue (the report counts calls queued when it began).
    let (started, is_started) = std::sync::mpsc::channel();
    let holder = run_in_loop(&draining, move || {
        let _ = started.send(());
        let me = EventLoop::current().expect("on the loop");
        while me.state() == LoopState::Running {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    is_started.recv().expect("the holding call runs");
    let queued: Vec<_> = (0..10u64)
        .map(|i| {
            run_in_loop(&draining, move || {
                // The fourth call runs past the deadline: the six behind it are cut.
                while i == 3 && Instant::now() <= deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                i
            })
        })
        .collect();
    let report = draining.shutdown(deadline)?;
    holder.wait()?;
    let late = run_in_loop(&draining, || 0u64).wait().unwrap_err();
    println!(
        "   shutdown: {} calls ran, {} were cut; a call made after it -> {late}",
        report.ran, report.cut
    );
    assert_eq!((report.ran, report.cut), (4, 6));
    assert_eq!(late.kind(), ErrorKind::LoopClosed);
    let outcomes: Vec<_> = queued.iter().map(|p| p.wait().is_ok()).collect();
    assert_eq!(outcomes.iter().filter(|ran| **ran).count(), 4);

    section("13. LoopLocal: a !Send cache on a loop, used from 4 threads and from tokio tasks");
    let cache_loop = EventLoop::builder().name("cache").spawn()?;
    let cache = LoopLocal::new(&cache_loop, || {
        Rc::new(RefCell::new(HashMap::<u32, String>::new()))
    });
    let writers: Vec<_> = (0..4u32)
        .map(|t| {
            let cache = cache.clone(); // Clone + Send + Sync, whatever the state is
            std::thread::spawn(move || {
                let puts: Vec<_> = (0..100u32)
                    .map(|i| {
                        cache.call(move |c| c.borrow_mut().insert(t * 100 + i, format!("v{i}")))
                    })
                    .collect();
                puts.iter().try_for_each(|p| p.wait().map(drop))
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer thread")?;
    }
    let rt = tokio::runtime::Runtime::new().map_err(Error::user)?;
    let lens = rt.block_on(async {
        let readers: Vec<_> = (0..4u32)
            .map(|t| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    cache
                        .call(move |c| c.borrow().get(&(t * 100)).cloned())
                        .await
                })
            })
            .collect();
        let mut found = 0;
        for r in readers {
            found += usize::from(r.await.map_err(Error::user)??.is_some());
        }
        Ok::<_, Error>(found)
    })?;
    let size = cache.call(|c| c.borrow().len()).wait()?;
    let boom = cache.call(|c| -> usize {
        c.borrow_mut().insert(9999, "kept".into());
        panic!("after one insert")
    });
    let after = cache.call(|c| c.borrow().len()).wait()?;
    println!(
        "   4 threads x 100 inserts -> {size} entries; 4 tokio tasks found {lens}/4; a panicking call -> {}, and the entry it inserted stays ({after} entries)",
        boom.wait().unwrap_err().kind()
    );
    assert_eq!((size, lens, after), (400, 4, 401));

    section("14. LoopPool: one loop per core; calls by key always land on the same loop");
    let pool = EventLoop::builder().name("shard").pool(2)?;
    let sessions = pool.local(|_| HashMap::<String, u32>::new()); // one map per loop
    for user in ["ada", "bob", "cy", "ada", "ada", "bob"] {
        sessions.call_keyed(user, move |s| *s.entry(user.to_owned()).or_default() += 1);
    }
    let ada = sessions
        .call_keyed("ada", |s| s.get("ada").copied())
        .wait()?;
    let where_ada = pool
        .run_keyed("ada", || std::thread::current().name().map(String::from))
        .wait()?;
    let per_loop = sessions.broadcast(|s| s.len()).wait()?;
    println!(
        "   ada's 3 logins all counted on {}; users per loop {per_loop:?}",
        where_ada.as_deref().unwrap_or("?")
    );
    assert_eq!(ada, Some(3));
    assert_eq!(per_loop.iter().sum::<usize>(), 3);
    assert_eq!(where_ada, Some(format!("shard-{}", pool.index_of("ada"))));

    section("15. LoopMetrics: what a loop is doing, always on");
    let live = cache_loop.metrics();
    println!("   {live}");
    // Published as the loop goes; final once it is closed.
    cache_loop.close();
    let m = cache_loop.metrics();
    println!(
        "   closed: {} calls served, {} queued",
        m.calls_served, m.queue_depth
    );
    assert_eq!((m.calls_served, m.queue_depth), (408, 0));
    assert!(m.to_string().starts_with("cache: "));

    section("16. Cancel on drop: a promise whose awaiter gives up cancels its work");
    let worker = EventLoop::builder().name("worker").spawn()?;
    let slow = worker.spawn(async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        "never"
    });
    let watcher = slow.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(Error::user)?;
    let gave_up = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(1), slow.abort_on_drop()).await
    });
    let why = watcher.wait().unwrap_err().kind();
    println!("   timed out: {}, the task: {why:?}", gave_up.is_err());
    assert!(gave_up.is_err());
    assert_eq!(why, ErrorKind::Cancelled);

    section("16b. Backpressure: a full loop refuses a call at once; reserve() waits for room");
    let bounded = EventLoop::builder()
        .name("bounded")
        .queue_capacity(4)
        .spawn()?;
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let (started, running) = std::sync::mpsc::channel::<()>();
    let _holding = run_in_loop(&bounded, move || {
        let _ = started.send(());
        hold.recv_timeout(Duration::from_secs(10))
    });
    // The loop runs the holding call: the next four wait in its queue.
    running
        .recv_timeout(Duration::from_secs(10))
        .map_err(Error::user)?;
    let queued: Vec<_> = (0..4).map(|i| run_in_loop(&bounded, move || i)).collect();
    let refused = run_in_loop(&bounded, || 99);
    let kind = refused.try_result().unwrap_err().kind();
    let mut reserve = bounded.reserve();
    let waiting = futures::executor::block_on(futures::future::poll_immediate(&mut reserve));
    println!(
        "   5th call: {kind:?}; reserve() while full: {}",
        if waiting.is_none() { "waits" } else { "ready" }
    );
    assert_eq!(kind, ErrorKind::Full);
    assert!(waiting.is_none());
    release.send(()).map_err(Error::user)?;
    let permit = futures::executor::block_on(reserve)?; // room once the loop starts a call
    let through = permit.run(|| "through the permit").wait()?;
    let sum: u32 = queued
        .iter()
        .map(|p| p.wait())
        .sum::<Result<u32, Error>>()?;
    let m = bounded.metrics();
    println!(
        "   then: {through}; the 4 accepted ran (sum {sum}); {} refused",
        m.calls_refused
    );
    assert_eq!((sum, m.calls_refused), (6, 1));
    drop(bounded);

    section("17. PromiseSet: a growing set read as each finishes (tokio's JoinSet)");
    let mut set = multi::PromiseSet::new();
    set.push(run_in_loop(&worker, || 1u32));
    let mut order = Vec::new();
    futures::executor::block_on(async {
        while let Some(outcome) = set.join_next().await {
            let n = outcome?;
            order.push(n);
            if n < 3 {
                // Pushed while it is read: served too.
                set.push(run_in_loop(&worker, move || n + 1));
            }
        }
        Ok::<_, Error>(())
    })?;
    println!("   read: {order:?}");
    assert_eq!(order, [1, 2, 3]);
    drop(worker);

    println!("\ntour complete");
    Ok(())
}

/// An object bound to a loop: its `#[task]` methods run there.
#[derive(Clone)]
struct Store {
    lp: EventLoop,
    hits: Arc<AtomicU64>,
}

impl AsyncObject for Store {
    fn event_loop(&self) -> Option<&EventLoop> {
        Some(&self.lp)
    }
}

impl Store {
    /// Looks `key` up (here: doubles it after a yield), counting hits.
    #[task]
    async fn get(&self, key: u64) -> (u64, Option<String>) {
        tokio::task::yield_now().await;
        self.hits.fetch_add(1, Ordering::Relaxed);
        (key * 2, std::thread::current().name().map(String::from))
    }

    /// Waits on the loop while fewer than `n` hits were counted (at most 5 s).
    #[task]
    async fn wait_for_hits(&self, n: u64) -> bool {
        let hits = self.hits.clone();
        async_while(Duration::from_secs(5), move || {
            hits.load(Ordering::Relaxed) < n
        })
        .first_interval(Duration::from_millis(1))
        .await
    }
}

/// Starts a wait for 3 hits, then makes them from this thread.
fn async_while_hits(store: &Store) -> Result<bool, Error> {
    let waiting = store.wait_for_hits(3);
    for key in 0..2 {
        store.get(key).wait()?;
    }
    waiting.wait()
}

/// A flag set when the thread of `lp` ends (by a thread-local's destructor there).
fn thread_end_flag(lp: &EventLoop) -> Result<Arc<AtomicBool>, Error> {
    struct SetOnEnd(Arc<AtomicBool>);
    impl Drop for SetOnEnd {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    thread_local!(static ON_END: RefCell<Option<SetOnEnd>> = const { RefCell::new(None) });
    let ended = Arc::new(AtomicBool::new(false));
    let flag = ended.clone();
    run_in_loop(lp, move || {
        ON_END.with(|e| *e.borrow_mut() = Some(SetOnEnd(flag)))
    })
    .wait()?;
    Ok(ended)
}

fn section(title: &str) {
    println!("{title}");
}

fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// Blocks on a promise the way a non-tokio executor would.
fn futures_lite_block_on<T: Clone>(p: Promise<T>) -> Result<T, Error> {
    futures::executor::block_on(p)
}
