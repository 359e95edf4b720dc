//! What a closed loop leaves behind, over thousands of lifetimes.
//!
//! Rules proved here:
//!
//! - once a loop is closed, its runtime (with its I/O driver's descriptors and its
//!   timer wheel) and its thread are gone, whatever promises of it live on: a settled
//!   promise holds its outcome, not the loop's resources. 10,000 loops (threaded and
//!   caller-driven) and 1,000 pools of 2, each created, called, closed, with every
//!   result promise kept: the process's open descriptors and threads stay where they
//!   were, and its resident memory grows by less than a few kilobytes per kept
//!   promise (a live loop costs far more);
//! - there is no list of every loop in the process: a `call_soon_threadsafe` handle
//!   reaches its loop directly, so its cancel works the same with 2,000 idle loops
//!   alive, and a handle kept past its loop's end pins none of the loop's resources.
//!
//! Linux only (the counts come from `/proc/self`); elsewhere the tests say so and pass.

use pulsar_async::event_loop::CallHandle;
use pulsar_async::{run_in_loop, EventLoop, LoopPool, Promise};
use std::time::Duration;

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: Duration = Duration::from_secs(10);

/// What the process holds now: open descriptors, threads, resident memory (bytes).
#[derive(Debug, Clone, Copy)]
struct Usage {
    fds: usize,
    threads: usize,
    rss: usize,
}

/// `None` off Linux.
fn usage() -> Option<Usage> {
    let count = |dir: &str| std::fs::read_dir(dir).ok().map(|d| d.count());
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(Usage {
        fds: count("/proc/self/fd")?,
        threads: count("/proc/self/task")?,
        rss: rss_kb * 1024,
    })
}

fn linux_only(test: &str) -> Option<Usage> {
    let now = usage();
    if now.is_none() {
        eprintln!("{test}: skipped, /proc/self is Linux only");
    }
    now
}

/// The tests of this file measure the whole process: one at a time.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the test `name` of this file again in a process of its own, so that what it
/// measures is not memory that the other tests freed (and the allocator kept), and
/// passes if it passes there; `true` in that process, which runs the test itself.
fn in_own_process(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    eprint!("{text}");
    assert!(out.status.success(), "{name} failed in its own process");
    assert!(
        text.contains("rss"),
        "{name} did not run in its own process"
    );
    false
}

const CHILD: &str = "PULSAR_LOOP_RESOURCES_CHILD";

/// One loop's lifetime: created, called once, closed; gives the kept promise, and
/// the handle of a call cut by the close.
fn loop_lifetime(i: usize) -> (Promise<usize>, CallHandle) {
    if i.is_multiple_of(2) {
        let lp = EventLoop::new().unwrap();
        let p = run_in_loop(&lp, move || i);
        p.wait_timeout(LIMIT).unwrap();
        let handle = lp.call_soon_threadsafe(|| ()).unwrap();
        lp.close();
        (p, handle)
    } else {
        let lp = EventLoop::builder().build_driven().unwrap();
        let p = run_in_loop(&lp, move || i);
        lp.run_until_complete(p.clone()).unwrap().unwrap();
        let handle = lp.call_soon_threadsafe(|| ()).unwrap();
        lp.close();
        (p, handle)
    }
}

/// One pool's lifetime: created, called on each loop, closed; gives the kept promises.
fn pool_lifetime(i: usize) -> [Promise<usize>; 2] {
    let pool = LoopPool::builder().pool(2).unwrap();
    let a = pool
        .loop_at(0)
        .map(|lp| run_in_loop(lp, move || i))
        .unwrap();
    let b = pool
        .loop_at(1)
        .map(|lp| run_in_loop(lp, move || i + 1))
        .unwrap();
    a.wait_timeout(LIMIT).unwrap();
    b.wait_timeout(LIMIT).unwrap();
    pool.close();
    [a, b]
}

/// Runs `lives` lifetimes (after a few to warm up the allocator and the runtime's
/// statics), keeping what each gives, and says what the process held before and after.
fn measure<K>(lives: usize, life: impl Fn(usize) -> K) -> (Usage, Usage, Vec<K>) {
    let warm: Vec<K> = (0..64).map(&life).collect();
    drop(warm);
    let before = usage().unwrap();
    let kept: Vec<K> = (0..lives).map(&life).collect();
    let after = usage().unwrap();
    (before, after, kept)
}

/// Open descriptors and threads may differ by a few (the test harness, the
/// allocator); a leak is one or two per loop.
const SLACK: usize = 8;

/// Resident memory a kept promise of a closed loop may cost, on average (with, for
/// the loops, a kept call handle): the promise's allocation and the link it shares
/// with the other promises of its loop. A closed loop whose promises kept its state
/// (about 1.5 KiB) or its runtime's drivers (about 9 KiB more) costs more than that.
const BYTES_PER_PROMISE: usize = 1024;

fn assert_flat_fds_and_threads(what: &str, before: Usage, after: Usage) {
    eprintln!(
        "{what}: fds {} -> {}, threads {} -> {}",
        before.fds, after.fds, before.threads, after.threads
    );
    assert!(after.fds <= before.fds + SLACK, "{what}: descriptors leak");
    assert!(
        after.threads <= before.threads + SLACK,
        "{what}: threads leak"
    );
}

fn assert_flat(what: &str, before: Usage, after: Usage, promises: usize) {
    eprintln!(
        "{what}: fds {} -> {}, threads {} -> {}, rss {} KiB -> {} KiB ({} B per kept promise)",
        before.fds,
        after.fds,
        before.threads,
        after.threads,
        before.rss / 1024,
        after.rss / 1024,
        after.rss.saturating_sub(before.rss) / promises
    );
    assert!(after.fds <= before.fds + SLACK, "{what}: descriptors leak");
    assert!(
        after.threads <= before.threads + SLACK,
        "{what}: threads leak"
    );
    assert!(
        after.rss <= before.rss + promises * BYTES_PER_PROMISE,
        "{what}: memory leaks"
    );
}

#[test]
fn once_closed_a_loop_holds_no_descriptor_thread_or_runtime_whatever_promises_of_it_live_on() {
    if linux_only("loop lifetimes").is_none()
        || !in_own_process(
            "once_closed_a_loop_holds_no_descriptor_thread_or_runtime_whatever_promises_of_it_live_on",
        )
    {
        return;
    }
    let (before, after, kept) = measure(10_000, loop_lifetime);
    for (i, (p, handle)) in kept.iter().enumerate() {
        assert_eq!(p.try_result().unwrap(), i);
        assert!(
            p.get_loop().is_none(),
            "a closed loop's promise gives no loop"
        );
        assert!(!handle.cancel(), "the call was cut with its loop");
    }
    assert_flat("10,000 loops", before, after, kept.len());
}

#[test]
fn once_closed_a_pool_holds_no_descriptor_thread_or_runtime_whatever_promises_of_it_live_on() {
    if linux_only("pool lifetimes").is_none()
        || !in_own_process(
            "once_closed_a_pool_holds_no_descriptor_thread_or_runtime_whatever_promises_of_it_live_on",
        )
    {
        return;
    }
    let (before, after, kept) = measure(1_000, pool_lifetime);
    for (i, [a, b]) in kept.iter().enumerate() {
        assert_eq!(
            (a.try_result().unwrap(), b.try_result().unwrap()),
            (i, i + 1)
        );
    }
    assert_flat("1,000 pools of 2", before, after, 2 * kept.len());
}

#[test]
fn once_closed_a_loop_holds_no_descriptor_or_thread_whatever_handles_of_it_live_on() {
    let _alone = alone();
    if linux_only("kept handles").is_none() {
        return;
    }
    // The handles keep the loop's state (its report, its name), not its runtime.
    let (before, after, kept) = measure(2_000, |i| {
        let lp = match i % 2 {
            0 => EventLoop::new().unwrap(),
            _ => EventLoop::builder().build_driven().unwrap(),
        };
        let p = run_in_loop(&lp, move || i);
        match lp.owns_thread() {
            true => drop(p.wait_timeout(LIMIT).unwrap()),
            false => drop(lp.run_until_complete(p.clone()).unwrap().unwrap()),
        }
        lp.close();
        (lp, p)
    });
    for (lp, p) in &kept {
        assert!(lp.is_closed());
        // What a closed loop's runtime handle gives: a runtime that is shut down.
        let task = lp.tokio_handle().spawn(async { 1 });
        let out = futures::executor::block_on(task);
        assert!(out.unwrap_err().is_cancelled());
        assert!(p.try_result().is_ok());
    }
    assert_flat_fds_and_threads("2,000 loops with their handles kept", before, after);
}

/// Idle caller-driven loops, built on a thread of their own that keeps them open
/// until told; each holds a runtime (three descriptors).
fn idle_loops(
    n: usize,
) -> (
    Vec<EventLoop>,
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (loops_tx, loops_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let owner = std::thread::spawn(move || {
        let loops: Vec<EventLoop> = (0..n)
            .map(|_| EventLoop::builder().build_driven().unwrap())
            .collect();
        loops_tx.send(loops.clone()).unwrap();
        let _ = stop_rx.recv_timeout(Duration::from_secs(60));
        for lp in loops {
            lp.close();
        }
    });
    (loops_rx.recv_timeout(LIMIT * 6).unwrap(), stop_tx, owner)
}

/// The soft limit of open descriptors (Linux).
fn fd_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[test]
fn a_call_handle_reaches_its_loop_directly_so_cancel_works_the_same_with_2000_idle_loops_alive() {
    let _alone = alone();
    if linux_only("idle loops").is_none() {
        return;
    }
    let mut n = 2_000;
    if let Some(limit) = fd_limit() {
        if limit < 4 * n {
            n = limit / 8;
            eprintln!("only {limit} descriptors may be open: {n} idle loops");
        }
    }
    let (idle, stop, owner) = idle_loops(n);
    // Each idle loop's queue, and a loop of its own: cancels reach the right one.
    let mine = EventLoop::builder().build_driven().unwrap();
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handles: Vec<CallHandle> = idle
        .iter()
        .chain(std::iter::once(&mine))
        .map(|lp| {
            let ran = ran.clone();
            lp.call_soon_threadsafe(move || {
                ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .unwrap()
        })
        .collect();
    for h in &handles {
        assert!(h.cancel());
        assert!(!h.cancel(), "only once");
    }
    let kept = mine.call_soon_threadsafe(|| ()).unwrap();
    mine.run_until_complete(tokio::task::yield_now()).unwrap();
    assert!(!kept.cancel(), "it ran");
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 0);
    stop.send(()).unwrap();
    owner.join().unwrap();
    drop(idle);
    // The idle loops are closed and gone: their handles let go of them.
    for h in &handles[..n] {
        assert!(!h.cancel());
    }
}
