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
from bench.search import (
    BOX_SCAN,
    FULL_SCAN,
    PAGE_LOAD,
    RAW_INDEX,
    RTREE_INDEX,
    RTREE_ONLY,
    SEARCH,
    SEARCH_DB,
    DatabaseRun,
)

START_MARKER = start_marker("search")
END_MARKER = end_marker("search")
#: The issue's goals at 1,000,000 centers.
GOAL_SEARCH_OVER_RAW_INDEX = 2.0
GOAL_SCAN_OVER_SEARCH = 100.0


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
        "NumPy / Numba / SQLAlchemy": f"{np.__version__} / {version('numba')} / {sqlalchemy.__version__}",
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
    """Tables for one database: latencies, ratios, and latencies by kind of search."""
    results, candidates = np.array(run.results), np.array(run.candidates)
    lines = [
        f"#### {run.name}: {run.centers:,} centers",
        "",
        f"{len(run.queries)} searches. Per search: {results.mean():,.0f} results on average (median"
        f" {np.median(results):,.0f}, max {results.max():,}); {candidates.mean():,.0f} R*Tree candidates on average"
        f" (median {np.median(candidates):,.0f}, max {candidates.max():,}).",
        "",
        "| measurement | p50 ms | p95 ms | mean ms |",
        "|---|---:|---:|---:|",
    ]
    for m in run.turns:
        t = run.seconds(m)
        lines.append(f"| {m} | {fmt(ms(t, 50))} | {fmt(ms(t, 95))} | {fmt(t.mean() * 1000)} |")
    lines += [
        "",
        "| ratio, same run | of p50s | of p95s | median per search |",
        "|---|---:|---:|---:|",
    ]
    for label, a, b in ratio_rows(run):
        x, y = run.seconds(a), run.seconds(b)
        lines.append(f"| {label} | {fmt(ratio(x, y, 50))} | {fmt(ratio(x, y, 95))} | {fmt(paired_ratio(x, y))} |")
    lines += ["", *kind_table(run)]
    return lines


def ratio_rows(run: DatabaseRun) -> list[tuple[str, str, str]]:
    rows = [
        ("search / raw index SQL (goal at 1M: at most 2)", SEARCH, RAW_INDEX),
        ("full scan / search (goal at 1M: at least 100)", FULL_SCAN, SEARCH),
        ("search from the database / raw index SQL", SEARCH_DB, RAW_INDEX),
        ("search from the database / search", SEARCH_DB, SEARCH),
        ("search / R*Tree index SQL (the baseline before the band index)", SEARCH, RTREE_INDEX),
        ("raw index SQL / R*Tree index SQL (the band index against the R*Tree)", RAW_INDEX, RTREE_INDEX),
        ("search / R*Tree alone (no filters)", SEARCH, RTREE_ONLY),
        ("page load alone / raw index SQL (the floor under the first ratio)", PAGE_LOAD, RAW_INDEX),
        ("box scan SQL / R*Tree alone (the index alone)", BOX_SCAN, RTREE_ONLY),
    ]
    return rows


def kind_table(run: DatabaseRun) -> list[str]:
    """p50 latencies per kind of search: dense unfiltered searches cost the most per query."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(run.queries):
        groups[q.kind].append(i)
    shown = [m for m in run.turns if m != BOX_SCAN]
    lines = [
        "| kind of search (p50 ms) | searches | mean results | mean candidates | "
        + " | ".join(shown)
        + " | search / raw index |",
        "|---|---:|---:|---:|" + "---:|" * len(shown) + "---:|",
    ]
    for kind in sorted(groups, key=lambda k: (float(k.split()[0]), k)):
        idx = groups[kind]
        cells = [fmt(ms(run.seconds(m)[idx], 50)) for m in shown]
        r = ratio(run.seconds(SEARCH)[idx], run.seconds(RAW_INDEX)[idx], 50)
        lines.append(
            f"| {kind} | {len(idx)} | {np.mean(np.array(run.results)[idx]):,.0f}"
            f" | {np.mean(np.array(run.candidates)[idx]):,.0f} | " + " | ".join(cells) + f" | {fmt(r)} |"
        )
    return lines


def goals(run: DatabaseRun) -> list[str]:
    """The issue's goals, judged on p50 and p95 of this run."""
    lines = [
        "| goal at 1M centers | p50 | p95 | single turns (p50 / p95) | met |",
        "|---|---:|---:|---:|---|",
    ]
    for m in [SEARCH, SEARCH_DB]:
        if m not in run.turns:
            continue
        s, r, f = run.seconds(m), run.seconds(RAW_INDEX), run.seconds(FULL_SCAN)
        over_raw = ratio(s, r, 50), ratio(s, r, 95)
        under_scan = ratio(f, s, 50), ratio(f, s, 95)
        name = "search (as the app runs it: the search rows in memory)" if m == SEARCH else m
        met = max(over_raw) <= GOAL_SEARCH_OVER_RAW_INDEX
        lines.append(
            f"| {name}: within {GOAL_SEARCH_OVER_RAW_INDEX:g}x of the raw index SQL"
            f" | {fmt(over_raw[0])}x | {fmt(over_raw[1])}x | {spread(run.turns, m, RAW_INDEX)}"
            f" | {'yes' if met else 'no'} |"
        )
        met = min(under_scan) >= GOAL_SCAN_OVER_SEARCH
        lines.append(
            f"| {name}: at least {GOAL_SCAN_OVER_SEARCH:g}x faster than the full scan"
            f" | {fmt(under_scan[0])}x | {fmt(under_scan[1])}x | {spread(run.turns, FULL_SCAN, m)}"
            f" | {'yes' if met else 'no'} |"
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
    big = max(runs, key=lambda r: r.centers)
    if big.centers >= 1_000_000:
        lines += [f"Goals, judged on the {big.centers:,}-center database:", "", *goals(big), ""]
    for run in runs:
        lines += [*database_section(run), ""]
    lines += ["#### Checks and query plans", ""]
    for run in runs:
        verdict = "all agree" if not run.problems else f"**{len(run.problems)} problems**"
        lines.append(
            f"- {run.name}: every search's total, page ids and distances compared with the full scan, and the"
            f" complete ordered list of matches for {run.checked_full_lists} of them: {verdict}."
        )
        lines += [f"  - {p}" for p in run.problems[:10]]
    run = runs[-1]
    lines += ["", f"SQLite's plans on the {run.name.lower()} database (a filtered search):", ""]
    lines += [f"- {m}: `{plan}`" for m, plan in run.plans.items()]
    lines += ["", END_MARKER]
    return "\n".join(lines) + "\n"


def write_results(path: Path, block: str) -> None:
    """Put the results block into `path`, replacing the previous one (the rest of the file is kept)."""
    write_section(path, "search", block)
