"""The HTTP benchmark's report: the search against the same server's /healthz, round by round."""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from datetime import UTC, datetime

from bench.http_load import WrkRun, render

STARTED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ARGS = argparse.Namespace(threads=2, connections=32, rounds=2, duration=10)


def wrk(endpoint: str, round_number: int, per_second: float, p99: float) -> WrkRun:
    latency = {"p50": p99 / 3, "p90": p99 / 2, "p99": p99, "max": p99 * 2, "mean": p99 / 3}
    return WrkRun(endpoint, round_number, int(per_second * 10), 10.0, {"status": 0}, latency)


def report(runs: list[WrkRun]) -> str:
    return render(runs, command="python -m bench http", started=STARTED, seconds=60, args=ARGS, workers=5,
                  restarts=0, centers=11_689, totals=[3, 10, 40], rejected=Counter())  # fmt: skip


def test_goals_are_judged_on_the_median_round():
    block = report(
        [
            wrk("healthz", 1, 1000, 20),
            wrk("search", 1, 400, 80),
            wrk("search", 2, 200, 120),
            wrk("healthz", 2, 800, 20),
        ]
    )
    assert (
        "| search throughput at least 30% of /healthz throughput | 32.5% (median of 2 rounds: 40.0%, 25.0%) | yes |"
        in block
    )
    assert "| search p99 under 100 ms | 100.0 ms (median of 2 runs; highest 120.0 ms) | no |" in block
    assert "| `/api/v1/centers/search` | 300 | 33.3 | 50.0 | 100.0 | 240.0 | 6,000 | 0 |" in block
    assert "### Results: 2026-11-21 09:00 UTC" in block
    assert "the seed directory (11,689 centers) in SQLite" in block
    assert "searches cycle through 3 real places and filters" in block


def test_cpu_per_request_of_gunicorn_and_of_wrk():
    def measured(endpoint, round_number, per_second, server_cpu, wrk_cpu):
        return dataclasses.replace(wrk(endpoint, round_number, per_second, 50), server_cpu=server_cpu, wrk_cpu=wrk_cpu)

    # 10 s runs: requests = per_second * 10.
    block = report(
        [
            measured("healthz", 1, 2000, server_cpu=18.0, wrk_cpu=2.0),  # 0.9 + 0.1 ms per request
            measured("search", 1, 800, server_cpu=19.2, wrk_cpu=0.8),  # 2.4 + 0.1 ms
            measured("search", 2, 700, server_cpu=16.8, wrk_cpu=0.7),  # 2.4 + 0.1 ms
            measured("healthz", 2, 1800, server_cpu=16.2, wrk_cpu=1.8),  # 0.9 + 0.1 ms
        ]
    )
    assert "| `/api/v1/centers/search` | 750 | 16.7 | 25.0 | 50.0 | 100.0 | 15,000 | 0 | 2.40 | 0.10 |" in block
    assert "| `/healthz` | 1,900 | 16.7 | 25.0 | 50.0 | 100.0 | 38,000 | 0 | 0.90 | 0.10 |" in block
