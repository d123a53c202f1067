"""The HTTP benchmark's report: each server's search against its own /healthz, and the cache's hit rate."""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from datetime import UTC, datetime

from bench.http_load import WrkRun, render, workload, zipf_sequence

STARTED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def wrk(server: str, endpoint: str, round_number: int, per_second: float, p99: float, lookups=(0, 0)) -> WrkRun:
    latency = {"p50": p99 / 3, "p90": p99 / 2, "p99": p99, "max": p99 * 2, "mean": p99 / 3}
    return WrkRun(server, endpoint, round_number, int(per_second * 10), 10.0, {"status": 0}, latency, lookups)


def test_goals_are_judged_per_server_on_the_median_round_with_the_hit_rate():
    runs = [
        wrk("cached", "healthz", 1, 1000, 20),
        wrk("cached", "search", 1, 700, 80, (990, 10)),
        wrk("uncached", "healthz", 1, 1000, 20),
        wrk("uncached", "search", 1, 300, 150),
        wrk("uncached", "search", 2, 200, 160),
        wrk("uncached", "healthz", 2, 800, 20),
        wrk("cached", "search", 2, 500, 90, (1000, 0)),
        wrk("cached", "healthz", 2, 1000, 20),
    ]
    args = argparse.Namespace(threads=2, connections=32, rounds=2, duration=10, zipf=None)
    block = render(runs, command="python -m bench http", started=STARTED, seconds=60, args=args, workers=5,
                   restarts=0, totals=[3, 10, 40], rejected=Counter())  # fmt: skip
    assert (
        "| search throughput at least 60% of /healthz throughput | cache on (as deployed) "
        "| 60.0% (median of 2 rounds: 70.0%, 50.0%) | yes |" in block
    )
    assert "| search p99 under 100 ms | cache on (as deployed) | 85.0 ms | yes |" in block
    assert (
        "| search throughput at least 60% of /healthz throughput | cache off (SEARCH_CACHE_SIZE=0) "
        "| 27.5% (median of 2 rounds: 30.0%, 25.0%) | no |" in block
    )
    assert "| search p99 under 100 ms | cache off (SEARCH_CACHE_SIZE=0) | 155.0 ms | no |" in block
    assert "cache on (as deployed) 99.5% of 2,000 searches; cache off (SEARCH_CACHE_SIZE=0) no lookups (off)" in block
    assert "### Results: 2026-11-21 09:00 UTC" in block
    assert "searches cycle through 3 real places and filters" in block


def test_zipf_sequence_asks_the_popular_searches_most():
    paths = [f"/p{i}" for i in range(1000)]
    sequence = zipf_sequence(paths, 1.0, 200_000, random_seed=1)
    assert len(sequence) == 200_000 and set(sequence) <= set(paths)
    assert sequence == zipf_sequence(paths, 1.0, 200_000, random_seed=1)  # the same in every run
    counts = sorted(Counter(sequence).values(), reverse=True)
    # The most popular of 1,000 at s = 1 takes 1 / H(1000) = 13.4% of the requests, the second
    # half of that, the tenth a tenth.
    assert 0.125 < counts[0] / len(sequence) < 0.143
    assert 0.45 < counts[1] / counts[0] < 0.55
    assert 0.08 < counts[9] / counts[0] < 0.12
    # The popularity order is drawn at random, not the order of the paths given.
    assert Counter(sequence).most_common(1)[0][0] != paths[0]
    # s = 0: every search about as often as any other (1 in 1,000; the busiest within chance of it).
    flat = Counter(zipf_sequence(paths, 0.0, 200_000, random_seed=1))
    assert len(flat) == 1000 and max(flat.values()) / 200_000 < 0.0015


def test_workload_names_the_skew():
    args = argparse.Namespace(zipf=0.8)
    assert workload(args, 20_000) == (
        "searches drawn from 20000 real places and filters with skewed popularity (--zipf 0.8: the k-th most "
        "popular asked 1/k^0.8 as often as the first), in one sequence of 250,000 requests, each run from its "
        "own place in it"
    )


def test_cpu_per_request_and_what_the_goal_leaves_a_search():
    def measured(endpoint, round_number, per_second, server_cpu, wrk_cpu):
        run = wrk("uncached", endpoint, round_number, per_second, 50)
        return dataclasses.replace(run, server_cpu=server_cpu, wrk_cpu=wrk_cpu)

    # 10 s runs: requests = per_second * 10.
    runs = [
        measured("healthz", 1, 2000, server_cpu=18.0, wrk_cpu=2.0),  # 0.9 + 0.1 ms per request
        measured("search", 1, 800, server_cpu=19.2, wrk_cpu=0.8),  # 2.4 + 0.1 ms
        measured("search", 2, 700, server_cpu=16.8, wrk_cpu=0.7),  # 2.4 + 0.1 ms
        measured("healthz", 2, 1800, server_cpu=16.2, wrk_cpu=1.8),  # 0.9 + 0.1 ms
    ]
    args = argparse.Namespace(threads=2, connections=32, rounds=2, duration=10, zipf=None)
    block = render(runs, command="python -m bench http", started=STARTED, seconds=60, args=args, workers=5,
                   restarts=0, totals=[3, 10, 40], rejected=Counter())  # fmt: skip
    assert "| cache off (SEARCH_CACHE_SIZE=0) | search | 2.400 | 0.100 | 2.500 |" in block
    assert "| cache off (SEARCH_CACHE_SIZE=0) | healthz | 0.900 | 0.100 | 1.000 |" in block
    assert (
        "- cache off (SEARCH_CACHE_SIZE=0): a search took 2.50 ms of CPU, 2.50x /healthz's 1.00 ms. At 60% a "
        "search may take 1.67 ms: its own work (beyond what /healthz costs), 1.50 ms here, may be at most 0.67 ms."
        in block
    )


def test_runs_without_cpu_figures_print_none():
    runs = [wrk("uncached", "healthz", 1, 1000, 20), wrk("uncached", "search", 1, 400, 60)]
    args = argparse.Namespace(threads=2, connections=32, rounds=1, duration=10, zipf=None)
    block = render(runs, command="python -m bench http", started=STARTED, seconds=60, args=args, workers=5,
                   restarts=0, totals=[3], rejected=Counter())  # fmt: skip
    assert "CPU per request" not in block
