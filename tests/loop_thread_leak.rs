//! Creating and dropping loops leaks no OS thread. Alone in its own test binary so
//! that no other test's threads come and go while it counts.

use pulsar_async::{run_in_loop, EventLoop};

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or_else(|_| panic!("this test counts threads through /proc"))
}

#[test]
fn creating_and_dropping_a_thousand_thread_loops_leaves_no_thread_behind() {
    let before = os_threads();
    for i in 0..1000 {
        let lp = EventLoop::new().unwrap();
        if i % 10 == 0 {
            // Some loops did work, some never ran a call: both must go away.
            assert_eq!(run_in_loop(&lp, move || i).wait_timeout(LIMIT).unwrap(), i);
        }
        drop(lp);
    }
    // Closed explicitly, then dropped.
    for _ in 0..100 {
        let lp = EventLoop::new().unwrap();
        lp.close();
    }
    // The last drop never blocks without bound: when it takes the loop's call for a
    // blocked one, it returns and the thread exits on its own right after. A leak is
    // a thread that never goes; wait for them, up to a limit.
    let limit = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut after = os_threads();
    while after != before && std::time::Instant::now() < limit {
        std::thread::sleep(std::time::Duration::from_millis(1));
        after = os_threads();
    }
    assert_eq!(after, before, "threads before: {before}, after: {after}");
}
