//! How a `LoopPool` routes work, at every pool size (the three-or-more-loops branch
//! is what `LoopPool::new()` takes on any machine with more than two cores):
//!
//! - keys of every common type spread over all the loops: `&str`, `String`, `u64`,
//!   `u32`, tuples, byte slices; no loop gets less than half or more than twice its
//!   share;
//! - the least busy of two loops (with three or more, two chosen at random) gets the
//!   call: a loop with calls queued is never chosen over an idle one, and among three
//!   or more idle loops each is chosen;
//! - a keyed call runs on the loop `index_of` names.

use pulsar_async::{run_in_loop, EventLoop, LoopPool};
use std::time::Duration;

mod loops;
use loops::{Held, LIMIT};

/// Pool sizes that take each branch of the routing (1, 2, and three or more loops),
/// with an odd count and a power of two above two.
const SIZES: [usize; 5] = [2, 3, 4, 5, 8];

/// Keys per loop in a spread check: enough that a fair hash leaves no loop below half
/// or above twice its share except with negligible probability (Poisson(256) below
/// 128: about 1e-17).
const KEYS_PER_LOOP: usize = 256;

/// How many of `keys` each loop of `pool` gets, by `index_of`.
fn spread<K: std::hash::Hash + ?Sized>(pool: &LoopPool, keys: &[&K]) -> Vec<usize> {
    let mut counts = vec![0; pool.len()];
    for key in keys {
        counts[pool.index_of(*key)] += 1;
    }
    counts
}

/// Asserts every loop got between half and twice its share of `total` keys.
fn assert_fair(counts: &[usize], total: usize, what: &str) {
    let share = total / counts.len();
    for (i, &n) in counts.iter().enumerate() {
        assert!(
            n >= share / 2 && n <= share * 2,
            "{what}: loop {i} of {} got {n} of {total} keys (share {share}): {counts:?}",
            counts.len()
        );
    }
}

/// Checks the spread of `make(i)` for `KEYS_PER_LOOP` keys per loop, at every size.
fn check_spread<K: std::hash::Hash>(what: &str, make: impl Fn(usize) -> K) {
    for size in SIZES {
        let pool = EventLoop::builder().pool(size).unwrap();
        let total = size * KEYS_PER_LOOP;
        let keys: Vec<K> = (0..total).map(&make).collect();
        let refs: Vec<&K> = keys.iter().collect();
        assert_fair(
            &spread(&pool, &refs),
            total,
            &format!("{what}, {size} loops"),
        );
    }
}

#[test]
fn string_slice_keys_spread_over_every_loop() {
    let names: Vec<String> = (0..8 * KEYS_PER_LOOP)
        .map(|i| format!("room-{i}"))
        .collect();
    check_spread("&str", |i| names[i].as_str());
}

#[test]
fn string_keys_spread_over_every_loop() {
    check_spread("String", |i| format!("user:{i}"));
}

#[test]
fn long_string_keys_that_share_a_prefix_spread_over_every_loop() {
    check_spread("long String", |i| {
        format!("tenant/0000000000000000/session/{i}")
    });
}

#[test]
fn integer_keys_spread_over_every_loop() {
    check_spread("u64", |i| i as u64);
    check_spread("u64 multiples of 2^32", |i| (i as u64) << 32);
    check_spread("u32", |i| i as u32);
}

#[test]
fn tuple_and_byte_keys_spread_over_every_loop() {
    check_spread("(u32, &str)", |i| (i as u32 % 7, format!("k{i}")));
    check_spread("(u64, u64)", |i| (1u64, i as u64));
    check_spread("Vec<u8>", |i| i.to_le_bytes().to_vec());
}

#[test]
fn a_keyed_call_runs_on_the_loop_index_of_names() {
    for size in SIZES {
        let pool = EventLoop::builder().name("r").pool(size).unwrap();
        for key in (0..64).map(|i| format!("key-{i}")) {
            let want = format!("r-{}", pool.index_of(&key));
            let ran_on = pool
                .run_keyed(&key, || std::thread::current().name().map(str::to_owned))
                .wait_timeout(LIMIT)
                .unwrap();
            assert_eq!(ran_on.as_deref(), Some(want.as_str()), "key {key}");
        }
    }
}

/// Loop `busy` of `pool` held by a call, with `queued` more calls waiting behind it;
/// returns the hold (release it to let the queue run).
fn make_busy(pool: &LoopPool, busy: usize, queued: usize) -> Held {
    let lp = pool.loop_at(busy).unwrap().clone();
    let held = Held::new(lp.clone());
    for _ in 0..queued {
        drop(run_in_loop(&lp, || ()));
    }
    held
}

#[test]
fn a_loop_with_calls_queued_is_never_chosen_over_an_idle_one() {
    for size in SIZES {
        for busy in 0..size {
            let pool = EventLoop::builder().pool(size).unwrap();
            let mut held = make_busy(&pool, busy, 16);
            for _ in 0..200 {
                assert_ne!(
                    pool.least_busy(),
                    busy,
                    "{size} loops: loop {busy} has 16 calls queued, the others none"
                );
            }
            held.release();
        }
    }
}

#[test]
fn among_three_or_more_idle_loops_each_is_chosen() {
    // Two loops compare both depths and a tie goes to the first; three or more pick
    // two at random, so each idle loop has its turn.
    for size in [3usize, 4, 5, 8] {
        let pool = EventLoop::builder().pool(size).unwrap();
        let mut chosen = vec![0usize; size];
        // 100 choices per loop: a loop never chosen has probability (1 - 1/n)^(100 n),
        // about e^-100, under a fair choice.
        for _ in 0..100 * size {
            chosen[pool.least_busy()] += 1;
        }
        assert!(
            chosen.iter().all(|&n| n > 0),
            "{size} idle loops, choices per loop: {chosen:?}"
        );
    }
}

#[test]
fn the_least_busy_of_three_or_more_loops_is_the_idle_one_when_only_one_is_idle() {
    // Every loop but `idle` busy: the two random picks include the idle loop only
    // sometimes, but whenever the pick is the idle loop, it must be; and over many
    // picks it is picked (a choice that ignored the depths, or preferred the busier
    // loop, would pick it 1/n of the time or never).
    for size in [3usize, 4, 5] {
        let pool = EventLoop::builder().pool(size).unwrap();
        let idle = size - 1;
        let holds: Vec<Held> = (0..size)
            .filter(|&i| i != idle)
            .map(|i| make_busy(&pool, i, 16))
            .collect();
        let picks = 100 * size;
        let idle_picks = (0..picks).filter(|_| pool.least_busy() == idle).count();
        // Two distinct random loops include the idle one with probability 2/n.
        let expected = picks * 2 / size;
        assert!(
            idle_picks >= expected / 2,
            "{size} loops, one idle: picked {idle_picks} of {picks} times (expected about {expected})"
        );
        for mut held in holds {
            held.release();
        }
    }
}

#[test]
fn routing_by_load_sends_calls_to_the_idle_loop_while_another_is_held() {
    let pool = EventLoop::builder().name("l").pool(3).unwrap();
    let mut held = make_busy(&pool, 0, 16);
    for _ in 0..50 {
        let ran_on = pool.loop_at(pool.least_busy()).unwrap().clone();
        let name = run_in_loop(&ran_on, || std::thread::current().name().map(str::to_owned))
            .wait_timeout(Duration::from_secs(10))
            .unwrap();
        assert_ne!(name.as_deref(), Some("l-0"));
    }
    held.release();
}
