"""The benchmarks' results blocks: goals judged from the numbers, and the helpers they use."""

from __future__ import annotations

import argparse
import os
from collections import Counter
from datetime import UTC, datetime

import numpy as np

from bench.http_load import WrkRun, summarize_py_spy
from bench.http_load import render as render_http
from bench.imports import ImportRun
from bench.imports import render as render_import
from bench.processes import tree_cpu_seconds
from bench.routing import Phase
from bench.routing import render as render_routing

STARTED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def wrk(endpoint: str, round_number: int, per_second: float, p99: float) -> WrkRun:
    latency = {"p50": p99 / 3, "p90": p99 / 2, "p99": p99, "max": p99 * 2, "mean": p99 / 3}
    return WrkRun(endpoint, round_number, int(per_second * 10), 10.0, {"status": 0}, latency)


def test_http_goals_are_judged_on_the_median_round():
    runs = [
        wrk("healthz", 1, 1000, 20),
        wrk("search", 1, 700, 80),
        wrk("search", 2, 500, 90),
        wrk("healthz", 2, 1000, 20),
    ]
    args = argparse.Namespace(threads=2, connections=32, rounds=2, duration=10)
    block = render_http(runs, command="python -m bench http", started=STARTED, seconds=60, args=args, workers=5,
                        restarts=0, totals=[3, 10, 40], rejected=Counter())  # fmt: skip
    assert (
        "| search throughput at least 60% of /healthz throughput | 60.0% (median of 2 rounds: 70.0%, 50.0%) | yes |"
        in (block)
    )
    assert "| search p99 under 100 ms | 85.0 ms | yes |" in block
    assert "### Results: 2026-11-21 09:00 UTC" in block


def test_routing_goals():
    def phase(seconds: float, latencies: list[float]) -> Phase:
        values = np.array(latencies)
        return Phase(
            "x", 1000, seconds, {"offered": 800, "unplaced": 150, "needs_review": 50}, 1.0, values, values, 9.0
        )

    args = argparse.Namespace(concurrency=2, postgres=None, rate=100.0)
    block = render_routing(phase(8.0, [5.0] * 10), phase(10.0, [0.05] * 90 + [2.0] * 10), phase(20.0, [0.05] * 10),
                           np.array([0.01, 0.02]), command="c", started=STARTED, seconds=60, args=args)  # fmt: skip
    assert "| at least 100 referrals routed per second | 125.0/s | yes |" in block
    assert "| submit-to-first-offer p99 under 1 s (at 100 submissions/s) | 2,000 ms | no |" in block


def test_import_report_shows_memory_over_startup():
    runs = [
        ImportRun("header", "centers", 0, 0, 3.0, 1.5, 170.0, 0.0),
        ImportRun("seed", "centers", 11689, 11689, 8.0, 5.0, 170.0, 4.6),
        ImportRun("big", "centers", 1_000_000, 1_000_000, 303.0, 280.0, 190.0, 344.0),
    ]
    block = render_import(runs, command="c", started=STARTED, seconds=400, database="SQLite")
    assert "| big | centers | 1,000,000 | 1,000,000 | 344.0 | 303.0 | 3,300 | 3,333 | 280.0 | 190 | +20 |" in block


def test_py_spy_summary_lists_project_functions_and_own_samples(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text(
        'process 1:"gunicorn";run (gunicorn/app.py:1);search_centers (directory/api/views.py:41);'
        "write (gunicorn/util.py:348) 3\n"
        'process 1:"gunicorn";run (gunicorn/app.py:1);search_centers (directory/api/views.py:41) 1\n'
    )
    summary = summarize_py_spy(raw)
    assert "100.0%  search_centers (directory/api/views.py:41)" in summary
    assert " 75.0%  write (gunicorn/util.py:348)" in summary


def test_tree_cpu_seconds_counts_this_process():
    sum(i * i for i in range(200_000))
    assert tree_cpu_seconds(os.getpid()) > 0
