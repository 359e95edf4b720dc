//! The builder's hooks into tokio: the threads' stack size, start and stop hooks,
//! tokio's paused clock (`test-util` feature), and the runtime's handle.

use pulsar_async::{run_in_loop, run_in_loop_async, EventLoop};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn the_loops_thread_gets_the_stack_size_asked_for() {
    let lp = EventLoop::builder().stack_size(64 << 20).spawn().unwrap();
    // 8 MiB on the stack would overflow the default 2 MiB thread. An unoptimised
    // build keeps a few copies of the array on the stack, hence the wide margin.
    let used = run_in_loop(&lp, || {
        let big = std::hint::black_box([1u8; 8 << 20]);
        big.iter().map(|b| *b as usize).sum::<usize>()
    });
    assert_eq!(used.wait_timeout(LIMIT).unwrap(), 8 << 20);
}

#[test]
fn thread_hooks_run_on_the_loops_thread_and_on_its_blocking_threads() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (start, stop) = (seen.clone(), seen.clone());
    let name = |t: std::thread::Thread| t.name().unwrap_or("?").to_owned();
    let lp = EventLoop::builder()
        .name("hooked")
        .on_thread_start(move || {
            start
                .lock()
                .unwrap()
                .push(format!("start {}", name(std::thread::current())))
        })
        .on_thread_stop(move || {
            stop.lock()
                .unwrap()
                .push(format!("stop {}", name(std::thread::current())))
        })
        .spawn()
        .unwrap();
    let blocking = run_in_loop_async(&lp, || async {
        tokio::task::spawn_blocking(|| std::thread::current().id())
            .await
            .unwrap()
    });
    let blocking_thread = blocking.wait_timeout(LIMIT).unwrap();
    assert_ne!(blocking_thread, lp.thread_id());
    lp.close();
    // The blocking pool's thread started and stopped too (it may stop a little after
    // the loop's thread, which waits at most `shutdown_timeout` for it).
    let deadline = std::time::Instant::now() + LIMIT;
    let seen = loop {
        let seen = seen.lock().unwrap().clone();
        if seen.iter().filter(|s| s.starts_with("stop")).count() == 2 {
            break seen;
        }
        assert!(std::time::Instant::now() < deadline, "{seen:?}");
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(
        seen.first().map(String::as_str),
        Some("start hooked"),
        "{seen:?}"
    );
    assert!(seen.contains(&"stop hooked".to_owned()), "{seen:?}");
    assert_eq!(
        seen.iter().filter(|s| s.starts_with("start")).count(),
        2,
        "{seen:?}"
    );
}

#[test]
fn a_panicking_thread_hook_is_logged_and_the_loop_runs() {
    let lp = EventLoop::builder()
        .on_thread_start(|| panic!("hook"))
        .spawn()
        .unwrap();
    assert_eq!(run_in_loop(&lp, || 3).wait_timeout(LIMIT).unwrap(), 3);
}

#[test]
fn tokio_handle_spawns_on_the_loops_thread() {
    let lp = EventLoop::builder().name("handle").spawn().unwrap();
    let handle = lp.tokio_handle();
    let task = handle.spawn(async { std::thread::current().name().map(String::from) });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let name = rt.block_on(async { tokio::time::timeout(LIMIT, task).await });
    assert_eq!(name.unwrap().unwrap().as_deref(), Some("handle"));
}

#[cfg(feature = "test-util")]
mod paused {
    use super::*;
    use pulsar_async::async_while;

    fn paused() -> EventLoop {
        EventLoop::builder().start_paused(true).spawn().unwrap()
    }

    #[test]
    fn call_later_on_a_paused_loop_lands_exactly_on_its_deadline() {
        let lp = paused();
        for delay in [1u64, 250, 3_600_000] {
            let scheduled = lp.time();
            let inner = lp.clone();
            let ran_at = lp.call_later(Duration::from_millis(delay), move || inner.time());
            let ran_at = ran_at.wait_timeout(LIMIT).unwrap();
            assert_eq!(ran_at - scheduled, Duration::from_millis(delay));
        }
    }

    #[test]
    fn async_while_on_a_paused_loop_times_out_after_exactly_its_timeout() {
        let lp = paused();
        let real = std::time::Instant::now();
        let out = run_in_loop_async(&lp, || async {
            let start = tokio::time::Instant::now();
            let timed_out = async_while(Duration::from_secs(10), || true).await;
            (timed_out, start.elapsed())
        });
        let (timed_out, took) = out.wait_timeout(LIMIT).unwrap();
        assert!(timed_out);
        assert_eq!(took, Duration::from_secs(10));
        assert!(
            real.elapsed() < Duration::from_secs(5),
            "the clock jumped, nobody slept"
        );
    }

    #[test]
    fn the_loops_clock_reads_the_same_paused_time_from_any_thread() {
        let lp = paused();
        let inner = lp.clone();
        let on_loop = run_in_loop(&lp, move || inner.time())
            .wait_timeout(LIMIT)
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(lp.time(), on_loop);
    }
}
