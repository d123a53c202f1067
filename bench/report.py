"""The benchmark's results as Markdown, and the machine they were measured on."""

from __future__ import annotations

import os
import platform
import sqlite3
from collections import defaultdict
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import sqlalchemy

from bench.results import end_marker, start_marker, write_section
from bench.search import FULL_SCAN, SEARCH, DatabaseRun

START_MARKER = start_marker("search")
END_MARKER = end_marker("search")
#: The goal at 1,000,000 centers, for 25-mile searches with and without filters.
GOAL_SCAN_OVER_SEARCH = 100.0
GOAL_KINDS = ("25 mi, no filter", "25 mi, one filter")


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    return {
        "CPU": f"{cpu}, {len(os.sched_getaffinity(0))} usable of {os.cpu_count()} (nproc)",
        "RAM": memory,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "NumPy / SQLAlchemy": f"{np.__version__} / {sqlalchemy.__version__}",
        "pyproj (geodesics)": version("pyproj"),
        "Load average at start (1, 5, 15 min)": load,
    }


def ms(seconds: np.ndarray, q: float) -> float:
    return float(np.percentile(seconds, q)) * 1000


def ratio(a: np.ndarray, b: np.ndarray, q: float) -> float:
    return float(np.percentile(a, q) / np.percentile(b, q))


def paired_ratio(a: np.ndarray, b: np.ndarray) -> float:
    """The median over searches of a/b, each pair timed back to back: the least noisy ratio."""
    return float(np.median(a / b))


def turn_ratios(turns: dict[str, list[list[float]]], a: str, b: str, q: float) -> list[float]:
    """Percentile `q` of measurement a over b in each turn (one taken in the first turn only is
    paired with every turn of the other): how far a run's ratio moves between its own turns."""
    ta, tb = turns.get(a) or [], turns.get(b) or []
    if not ta or not tb:
        return []
    return [
        ratio(np.array(ta[min(t, len(ta) - 1)]), np.array(tb[min(t, len(tb) - 1)]), q)
        for t in range(max(len(ta), len(tb)))
    ]


def spread(turns: dict[str, list[list[float]]], a: str, b: str) -> str:
    """The lowest and highest p50 and p95 ratios of a over b among the turns ("-" for one turn)."""
    cells = []
    for q in (50, 95):
        values = turn_ratios(turns, a, b, q)
        if len(values) < 2:
            return "-"
        cells.append(f"{fmt(min(values))}-{fmt(max(values))}x")
    return " / ".join(cells)


def fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}" if x < 10 else f"{x:.1f}"


def database_section(run: DatabaseRun) -> list[str]:
    """Tables for one database: latencies, the ratio to the full scan, and latencies by kind of search."""
    results = np.array(run.results)
    lines = [
        f"#### {run.name} on {run.database}: {run.centers:,} centers",
        "",
        f"{len(run.queries)} searches. Per search: {results.mean():,.0f} results on average (median"
        f" {np.median(results):,.0f}, max {results.max():,}).",
        "",
        "| measurement | p50 ms | p95 ms | mean ms |",
        "|---|---:|---:|---:|",
    ]
    for m in run.turns:
        t = run.seconds(m)
        lines.append(f"| {m} | {fmt(ms(t, 50))} | {fmt(ms(t, 95))} | {fmt(t.mean() * 1000)} |")
    x, y = run.seconds(FULL_SCAN), run.seconds(SEARCH)
    lines += [
        "",
        "| ratio, same run | of p50s | of p95s | median per search |",
        "|---|---:|---:|---:|",
        f"| full scan / search | {fmt(ratio(x, y, 50))} | {fmt(ratio(x, y, 95))} | {fmt(paired_ratio(x, y))} |",
        "",
        *kind_table(run),
    ]
    return lines


def _kinds(run: DatabaseRun) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(run.queries):
        groups[q.kind].append(i)
    return groups


def kind_table(run: DatabaseRun) -> list[str]:
    """p50 latencies per kind of search: dense unfiltered searches cost the most per query."""
    groups = _kinds(run)
    shown = list(run.turns)
    lines = [
        "| kind of search (p50 ms) | searches | mean results | " + " | ".join(shown) + " | full scan / search |",
        "|---|---:|---:|" + "---:|" * len(shown) + "---:|",
    ]
    for kind in sorted(groups, key=lambda k: (float(k.split()[0]), k)):
        idx = groups[kind]
        cells = [fmt(ms(run.seconds(m)[idx], 50)) for m in shown]
        r = ratio(run.seconds(FULL_SCAN)[idx], run.seconds(SEARCH)[idx], 50)
        lines.append(
            f"| {kind} | {len(idx)} | {np.mean(np.array(run.results)[idx]):,.0f} | "
            + " | ".join(cells)
            + f" | {fmt(r)} |"
        )
    return lines


def goals(runs: list[DatabaseRun]) -> list[str]:
    """The goal on each database's largest run: 25-mile searches, with and without filters, at
    least GOAL_SCAN_OVER_SEARCH times faster than the full scan at p50 and at p95."""
    lines = [
        "| database | searches | full scan / search, p50 | p95 | single turns (p50 / p95) | met |",
        "|---|---|---:|---:|---:|---|",
    ]
    for run in runs:
        groups = _kinds(run)
        for kind in GOAL_KINDS:
            idx = groups.get(kind)
            if not idx:
                continue
            f, s = run.seconds(FULL_SCAN)[idx], run.seconds(SEARCH)[idx]
            p50, p95 = ratio(f, s, 50), ratio(f, s, 95)
            turns = {m: [[t[i] for i in idx] for t in run.turns[m]] for m in (FULL_SCAN, SEARCH)}
            met = min(p50, p95) >= GOAL_SCAN_OVER_SEARCH
            lines.append(
                f"| {run.database}, {run.centers:,} centers | {kind} ({len(idx)}) | {fmt(p50)}x | {fmt(p95)}x"
                f" | {spread(turns, FULL_SCAN, SEARCH)} | {'yes' if met else 'no'} |"
            )
    return lines


def render(runs: list[DatabaseRun], *, command: str, started: datetime, seconds: float) -> str:
    """The results block for docs/benchmarks.md."""
    lines = [
        START_MARKER,
        f"### Results: {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}` (took {seconds / 60:.1f} min, including any database builds).",
        "",
        *(f"- {k}: {v}" for k, v in machine().items()),
        "",
    ]
    largest = {}
    for run in runs:
        if run.centers >= largest.get(run.database, run).centers:
            largest[run.database] = run
    big = [run for run in largest.values() if run.centers >= 1_000_000]
    if big:
        lines += [f"Goal: at least {GOAL_SCAN_OVER_SEARCH:g}x faster than the full scan at 1M centers.", ""]
        lines += [*goals(big), ""]
    for run in runs:
        lines += [*database_section(run), ""]
    lines += ["#### Checks", ""]
    for run in runs:
        verdict = "all agree" if not run.problems else f"**{len(run.problems)} problems**"
        also = ", and every total with SQLite's" if run.against_sqlite else ""
        lines.append(
            f"- {run.name} on {run.database}: every search's total, page ids and distances compared with the full"
            f" scan{also}, and the complete ordered list of matches for {run.checked_full_lists} of them: {verdict}."
        )
        lines += [f"  - {p}" for p in run.problems[:10]]
    lines += ["", END_MARKER]
    return "\n".join(lines) + "\n"


def write_results(path: Path, block: str) -> None:
    """Put the results block into `path`, replacing the previous one (the rest of the file is kept)."""
    write_section(path, "search", block)
