#!/usr/bin/env python3
"""Prints the medians of the last `cargo bench --bench peers` run, with each row's ratio
to the first row of its group (the floor or the peer it is measured against).

Usage: python3 benches/tools/criterion_table.py [target/criterion]
"""
import json
import os
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
# The row every other row of the group is divided by.
BASE = {
    "round_trip_parked": "raw_channel_oneshot_floor",
    "round_trip_busy": "raw_channel_oneshot_floor",
    "round_trip_back_to_back": "raw_channel_oneshot_floor",
    "burst_100k": "raw_channel_floor_no_replies",
    "promise": "tokio_oneshot",
    "chain_resolved": "promise_create_set_await",
    "gather_10k_completed": "sequential_await_loop",
    "gather_10k_plain": "collect_vec",
    "gather_10k_map": "rebuild_hashmap",
    "bench_10k_no_op_calls": "sequential_await",
}


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


for group in sorted(os.listdir(ROOT)):
    gdir = os.path.join(ROOT, group)
    if not os.path.isdir(gdir) or group == "report":
        continue
    rows = {}
    for bench in sorted(os.listdir(gdir)):
        est = os.path.join(gdir, bench, "new", "estimates.json")
        if os.path.exists(est):
            with open(est) as f:
                rows[bench] = json.load(f)["median"]["point_estimate"]
    base = rows.get(BASE.get(group, ""))
    print(f"## {group}")
    for bench, ns in rows.items():
        ratio = f"{ns / base:.2f}x" if base else "-"
        per_call = {"burst_100k": 100_000, "bench_10k_no_op_calls": 10_000}.get(group)
        extra = f"  ({ns / per_call:.0f} ns/call)" if per_call else ""
        print(f"  {bench:34} {fmt(ns):>10}  {ratio:>7}{extra}")
