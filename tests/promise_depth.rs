//! Settling, flattening, gathering and dropping run in constant
//! stack, whatever the length of a chain or the depth of nesting, through the real
//! `chain_future` and `multi_async`. Each test runs on a thread with a 256 KiB stack
//! and prints its cost per link (`cargo test --release --test promise_depth --
//! --nocapture --test-threads=1`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use pulsar_async::{chain_future, multi_async, ErrorKind, MultiFuture, Promise};

const SMALL_STACK: usize = 256 * 1024;

fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .unwrap()
        .join()
        .expect("the thread overflowed its stack or panicked")
}

fn report(what: &str, links: usize, started: Instant) {
    let ns = started.elapsed().as_nanos() as f64 / links as f64;
    println!("{what}: {links} links, {ns:.0} ns per link (build + settle + drop)");
}

/// A chain of `n` links, each adding one, on `source`.
fn chain_of(source: Promise<u64>, n: usize) -> Promise<u64> {
    (0..n).fold(source, |last, _| {
        chain_future(last).callback(|v: u64| Ok(v + 1)).start()
    })
}

/// `n` levels of flattening: each level's callback returns the level below, pending.
fn flatten_of(
    leaf: Promise<u64>,
    n: usize,
) -> (Promise<u64>, Vec<pulsar_async::promise::Setter<()>>) {
    let mut sources = Vec::with_capacity(n);
    let mut inner = leaf;
    for _ in 0..n {
        let source = Promise::<()>::new();
        sources.push(source.setter());
        let returned = inner;
        inner = chain_future(source).callback(move |()| returned).start();
    }
    (inner, sources)
}

/// `n` gathers, each over the one below (brought back to a `u64` by a chain).
fn nested_gather_of(leaf: Promise<u64>, n: usize) -> MultiFuture<Vec<u64>> {
    let mut level = multi_async(vec![leaf]);
    for _ in 1..n {
        let flat = chain_future(level.into_promise())
            .callback(|v: Vec<u64>| Ok(v[0]))
            .start();
        level = multi_async(vec![flat]);
    }
    level
}

#[test]
fn a_million_link_chain_settles_and_drops_on_a_small_stack() {
    const N: usize = 1_000_000;
    on_small_stack(|| {
        let started = Instant::now();
        let source = Promise::<u64>::new();
        let setter = source.setter();
        let last = chain_of(source, N);
        setter.set_result(0).unwrap();
        assert_eq!(last.try_take().ok().unwrap().unwrap(), N as u64);
        drop(setter);
        report("chain settle", N, started);
    });
}

#[test]
fn a_million_link_unsettled_chain_drops_on_a_small_stack() {
    const N: usize = 1_000_000;
    on_small_stack(|| {
        let started = Instant::now();
        let source = Promise::<u64>::new();
        let setter = source.setter();
        let last = chain_of(source, N);
        // Dropping the source's last handle: nothing can settle it any more; the
        // chain fails link after link, from the work list.
        drop(setter);
        let err = last.try_take().ok().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidState);
        report("chain drop unsettled", N, started);
    });
}

#[test]
fn a_million_link_chain_dropped_from_its_end_drops_on_a_small_stack() {
    const N: usize = 1_000_000;
    on_small_stack(|| {
        let source = Promise::<u64>::new();
        let last = chain_of(source.clone(), N);
        drop(last);
        drop(source);
    });
}

#[test]
fn a_million_level_flatten_settles_and_drops_on_a_small_stack() {
    const N: usize = 1_000_000;
    on_small_stack(|| {
        let started = Instant::now();
        let leaf = Promise::<u64>::new();
        let leaf_setter = leaf.setter();
        let (top, sources) = flatten_of(leaf, N);
        for source in &sources {
            source.set_result(()).unwrap();
        }
        leaf_setter.set_result(7).unwrap();
        assert_eq!(top.try_take().ok().unwrap().unwrap(), 7);
        drop(sources);
        report("flatten", N, started);
    });
}

#[test]
fn a_million_level_unsettled_flatten_drops_on_a_small_stack() {
    const N: usize = 1_000_000;
    on_small_stack(|| {
        let (top, sources) = flatten_of(Promise::<u64>::new(), N);
        drop(top);
        drop(sources);
    });
}

#[test]
fn a_hundred_thousand_deep_nested_gather_settles_and_drops_on_a_small_stack() {
    const N: usize = 100_000;
    on_small_stack(|| {
        let started = Instant::now();
        let leaf = Promise::<u64>::new();
        let leaf_setter = leaf.setter();
        let top = nested_gather_of(leaf, N);
        leaf_setter.set_result(3).unwrap();
        assert_eq!(top.into_promise().try_take().ok().unwrap().unwrap(), [3]);
        report("nested gather", N, started);
    });
}

#[test]
fn a_hundred_thousand_deep_unsettled_gather_drops_on_a_small_stack() {
    const N: usize = 100_000;
    on_small_stack(|| {
        let leaf = Promise::<u64>::new();
        let leaf_setter = leaf.setter();
        let top = nested_gather_of(leaf, N);
        drop(top);
        drop(leaf_setter);
    });
}

#[test]
fn a_million_promises_held_by_each_others_callbacks_drop_on_a_small_stack() {
    const N: usize = 1_000_000;
    struct Count(Arc<AtomicUsize>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    on_small_stack(move || {
        let mut next = Promise::<u8>::new();
        for _ in 0..N {
            let p = Promise::<u8>::new();
            let (held, count) = (next, Count(d.clone()));
            p.add_done_callback(move |_| drop((held, count)));
            next = p;
        }
        drop(next);
    });
    assert_eq!(dropped.load(Ordering::Relaxed), N);
}

#[test]
fn a_million_link_chain_of_callbacks_settles_on_a_small_stack() {
    // Each done-callback settles the next promise: the callbacks of a promise bound to
    // no loop run on the settling thread, from its work list, not by recursion.
    const N: usize = 1_000_000;
    on_small_stack(|| {
        let first = Promise::<u64>::new();
        let mut prev = first.clone();
        for _ in 0..N {
            let next = Promise::<u64>::new();
            let setter = next.setter();
            prev.add_done_callback(move |r| {
                let _ = setter.set_result(r.as_ref().unwrap() + 1);
            });
            prev = next;
        }
        first.set_result(0).unwrap();
        assert_eq!(prev.try_result().unwrap(), N as u64);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_hundred_thousand_link_chain_awaited_inside_a_tokio_worker_settles() {
    // The defect's own reproduction: 5,000 links aborted a tokio worker (2 MiB).
    let source = Promise::<u64>::new();
    let setter = source.setter();
    let last = chain_of(source, 100_000);
    let settler = tokio::spawn(async move { setter.set_result(0).unwrap() });
    assert_eq!(last.await.unwrap(), 100_000);
    settler.await.unwrap();
}
