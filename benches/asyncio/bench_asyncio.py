#!/usr/bin/env python3
"""The asyncio side of the peers' rows, measured by hand with CPython (3.11 here).

    python3 benches/asyncio/bench_asyncio.py

Prints medians: a round trip into a loop thread (run_coroutine_threadsafe + result,
after a pause so the loop is parked), Future create + set + await, and asyncio.gather
over 10,000 completed futures. Not part of `cargo bench` (Rust only); BENCHMARKS.md
quotes its output.
"""
import asyncio
import statistics
import threading
import time


def median_ns(samples):
    return statistics.median(samples) * 1e9


def round_trip_parked(calls=1001, pause=200e-6):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def one():
        return 1

    times = []
    for _ in range(calls):
        time.sleep(pause)
        start = time.perf_counter()
        asyncio.run_coroutine_threadsafe(one(), loop).result()
        times.append(time.perf_counter() - start)
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()
    return median_ns(times)


async def future_create_set_await(n=10_000, samples=31):
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(n):
            f = loop.create_future()
            f.set_result(1)
            await f
        times.append((time.perf_counter() - start) / n)
    return median_ns(times)


async def gather_completed(n=10_000, samples=11):
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(samples):
        futures = []
        for i in range(n):
            f = loop.create_future()
            f.set_result(i)
            futures.append(f)
        start = time.perf_counter()
        await asyncio.gather(*futures)
        times.append(time.perf_counter() - start)
    return median_ns(times)


def main():
    print(f"round trip, parked loop (run_coroutine_threadsafe): {round_trip_parked() / 1e3:.1f} us")
    print(f"Future create + set + await: {asyncio.run(future_create_set_await()):.0f} ns")
    print(f"asyncio.gather over 10,000 completed futures: {asyncio.run(gather_completed()) / 1e6:.2f} ms")


if __name__ == "__main__":
    main()
