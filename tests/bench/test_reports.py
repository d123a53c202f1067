"""The benchmarks' results blocks: goals judged from the numbers, and the helpers they use."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

import numpy as np

from bench.http_load import summarize_py_spy
from bench.imports import ImportRun
from bench.imports import render as render_import
from bench.processes import tree_cpu_seconds
from bench.routing import Phase
from bench.routing import render as render_routing

STARTED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_routing_goals():
    def phase(seconds: float, latencies: list[float]) -> Phase:
        values = np.array(latencies)
        return Phase(
            "x", 1000, seconds, {"offered": 800, "unplaced": 150, "needs_review": 50}, 1.0, values, values, 9.0
        )

    args = argparse.Namespace(concurrency=2, postgres=None, rate=100.0, submitters=4)
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
