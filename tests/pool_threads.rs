//! Pools leak no thread. Alone in its own test binary so that no other test's
//! threads come and go while it counts.

use pulsar_async::EventLoop;

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or_else(|_| panic!("this test counts threads through /proc"))
}

#[test]
fn a_hundred_pools_created_used_and_dropped_leave_no_thread_behind() {
    let before = os_threads();
    for i in 0..100u32 {
        let pool = EventLoop::builder().pool(4).unwrap();
        let local = pool.local(|_| 0u32);
        if i % 2 == 0 {
            assert_eq!(
                pool.run_keyed(&i, move || i).wait_timeout(LIMIT).unwrap(),
                i
            );
            local.call_any(|n| *n += 1).wait_timeout(LIMIT).unwrap();
        }
        if i % 3 == 0 {
            pool.close();
        }
        drop(local);
        drop(pool);
    }
    assert_eq!(os_threads(), before);
}
