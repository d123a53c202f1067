"""python -m bench http: gunicorn serving the app, wrk at 32 connections on the search API and on /healthz.

Both endpoints are measured in the same run, in turns (healthz, search, search, healthz, ...),
against the same server: the seed directory in SQLite, the project's gunicorn.conf.py, on
127.0.0.1 only. The searches cycle through real places (ZIP codes and "City, ST" of real
centers, and any US ZIP code) with the search benchmark's mix of radii and filters.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from bench import data
from bench.processes import Service, free_port, require_program, wait_for
from bench.queries import make_queries
from bench.results import machine_lines, wrap, write_section

NAME = "http"
LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_paths.lua"
SEARCH_PATH = "/api/v1/centers/search"
HEALTHZ_PATH = "/healthz"
#: Share of searches near "City, ST" of a real center instead of a ZIP code.
CITY_SHARE = 0.3
#: The issue's goals.
GOAL_THROUGHPUT_RATIO = 0.6
GOAL_P99_MS = 100.0


@dataclass
class WrkRun:
    """One wrk run on one endpoint."""

    endpoint: str
    round: int
    requests: int
    seconds: float
    errors: dict[str, int]
    latency_ms: dict[str, float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench http",
        description="Load the search API and /healthz of one gunicorn server with wrk, in turns; report "
        "requests/s, p50 and p99 of each and their ratio.",
    )
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 8; --quick: 3)")
    parser.add_argument("--rounds", type=int, help="runs per endpoint, alternating (default 4; --quick: 1)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's, 2 x cores + 1)")
    parser.add_argument("--places", type=int, help="distinct searches cycled through (default 400; --quick: 60)")
    parser.add_argument("--random-seed", type=int, default=1)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also record the gunicorn workers with py-spy during one extra search run and print the top functions",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: one 3-second run per endpoint")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file (between markers)")
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 8.0)
    args.rounds = args.rounds or (1 if args.quick else 4)
    args.places = args.places or (60 if args.quick else 400)
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def search_paths(seed_database: Path, count: int, random_seed: int) -> list[str]:
    """API search paths from real places, with the search benchmark's radii and filters."""
    rng = np.random.default_rng(random_seed + 1)
    with closing(sqlite3.connect(f"file:{seed_database}?mode=ro", uri=True)) as connection:
        cities = [
            f"{city}, {state}"
            for city, state in connection.execute("SELECT DISTINCT city, state FROM centers ORDER BY state, city")
        ]
    paths = []
    for query in make_queries(count, seed_database, random_seed):
        near = cities[rng.integers(len(cities))] if rng.random() < CITY_SHARE else query.zip
        params: list[tuple[str, str]] = [("near", near), ("radius_miles", f"{query.query.radius_miles:g}")]
        if query.filter_label != "none":
            name, _, value = query.filter_label.partition("=")
            params.append((name, value))
        paths.append(f"{SEARCH_PATH}?{urlencode(params)}")
    return paths


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check_paths(base: str, paths: list[str]) -> tuple[list[str], list[int], Counter]:
    """Request each search once (also a warm-up): the paths that answer 200, their totals, other statuses."""
    good, totals, other = [], [], Counter()
    for path in paths:
        status, body = get(base + path)
        if status == 200:
            good.append(path)
            totals.append(json.loads(body)["total"])
        else:
            other[status] += 1
    return good, totals, other


def run_wrk(base: str, endpoint: str, paths_file: Path, args: argparse.Namespace, round_number: int) -> WrkRun:
    argv = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration:g}s", "--timeout", "10s",
        "-s", str(LUA_SCRIPT), base, "--", str(paths_file),
    ]  # fmt: skip
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next((x for x in output.splitlines() if x.startswith("WRK-RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{output}")
    result = json.loads(line.removeprefix("WRK-RESULT "))
    run = WrkRun(
        endpoint=endpoint,
        round=round_number,
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        errors=result["errors"],
        latency_ms={k: v / 1000 for k, v in result["latency_us"].items()},
    )
    log(
        f"  {endpoint:7} round {round_number}: {run.per_second:8,.0f} req/s  p50 {run.latency_ms['p50']:6.1f} ms"
        f"  p99 {run.latency_ms['p99']:6.1f} ms  errors {sum(run.errors.values())}"
    )
    return run


def profile_workers(master_pid: int, base: str, paths_file: Path, args: argparse.Namespace, workdir: Path) -> str:
    """py-spy on every gunicorn worker during one search run: the functions with the most samples."""
    require_program("py-spy", "install it with `pip install py-spy`")
    raw = workdir / "py-spy.txt"
    spy = subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(master_pid),
            "--subprocesses",
            "--format",
            "raw",
            "--rate",
            "200",
            "--duration",
            str(int(args.duration) + 1),
            "--output",
            str(raw),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    run_wrk(base, "search", paths_file, args, 0)
    spy.wait(timeout=120)
    data.CACHE.mkdir(exist_ok=True)
    shutil.copyfile(raw, data.CACHE / "http-py-spy.txt")  # kept for a closer look
    return summarize_py_spy(raw)


def summarize_py_spy(raw: Path, top: int = 25) -> str:
    """Where the workers spent their samples, from py-spy's raw format: the project's functions
    (inclusive) and the functions with the most samples of their own (any code)."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        total += int(count)
        if frames:
            own[frames[-1]] += int(count)
        for frame in set(frames):
            if "directory/" in frame:
                inclusive[frame] += int(count)
    lines = [f"py-spy: {total} samples of the gunicorn workers during one search run.", "", "Project functions:"]
    lines += [f"{count / total:6.1%}  {frame}" for frame, count in inclusive.most_common(top)]
    lines += ["", "Own samples (any code):"]
    lines += [f"{count / total:6.1%}  {frame}" for frame, count in own.most_common(top)]
    return "\n".join(lines)


def worker_boots(log_file: Path) -> int:
    return log_file.read_text(errors="replace").count("Booting worker")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[2:] if argv is None else argv)
    require_program("wrk", "install it with `apt-get install wrk` (Debian's package), then run this again")
    started, clock = datetime.now(UTC), time.perf_counter()
    seed = data.seed_database(log)
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    gunicorn = None
    try:
        database = workdir / "directory.sqlite3"
        shutil.copyfile(seed, database)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{database}",
            "SECRET_KEY": "bench-http-not-secret",
            "GEOCODER": "offline",
            "REDIS_URL": "",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
        argv_gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
        if args.workers:
            argv_gunicorn += ["--workers", str(args.workers)]
        gunicorn_log = workdir / "gunicorn.log"
        gunicorn = Service("gunicorn", [*argv_gunicorn, "directory:create_app()"], gunicorn_log, env).start()

        def healthy() -> bool:
            gunicorn.check_running()
            try:
                return get(base + HEALTHZ_PATH)[0] == 200
            except OSError:
                return False

        wait_for(healthy, 60, "gunicorn to answer /healthz")
        workers = worker_boots(gunicorn_log)
        log(f"gunicorn on {base} with {workers} workers; checking {args.places} searches once (warm-up) ...")
        paths, totals, rejected = check_paths(base, search_paths(seed, args.places, args.random_seed))
        if len(paths) < args.places * 0.9:
            raise SystemExit(f"Too many searches did not answer 200: {dict(rejected)}")
        search_file, healthz_file = workdir / "search-paths.txt", workdir / "healthz-paths.txt"
        search_file.write_text("\n".join(paths) + "\n")
        healthz_file.write_text(HEALTHZ_PATH + "\n")
        files = {"healthz": healthz_file, "search": search_file}
        runs: list[WrkRun] = []
        boots_before = worker_boots(gunicorn_log)
        for round_number in range(1, args.rounds + 1):
            order = ("healthz", "search") if round_number % 2 else ("search", "healthz")
            for endpoint in order:
                runs.append(run_wrk(base, endpoint, files[endpoint], args, round_number))
        restarts = worker_boots(gunicorn_log) - boots_before
        profile = profile_workers(gunicorn.process.pid, base, search_file, args, workdir) if args.profile else None
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if profile:
        log(profile)
    command = " ".join(["python -m bench http", *(sys.argv[2:] if argv is None else argv)])
    block = render(
        runs,
        command=command,
        started=started,
        seconds=time.perf_counter() - clock,
        args=args,
        workers=workers,
        restarts=restarts,
        totals=totals,
        rejected=rejected,
    )
    if args.output:
        write_section(args.output, NAME, wrap(NAME, block))
        log(f"Results written to {args.output}")
    print(block)


def render(
    runs: list[WrkRun],
    *,
    command: str,
    started: datetime,
    seconds: float,
    args: argparse.Namespace,
    workers: int,
    restarts: int,
    totals: list[int],
    rejected: Counter,
) -> str:
    """The results block, as Markdown."""

    def of(endpoint: str) -> list[WrkRun]:
        return [r for r in runs if r.endpoint == endpoint]

    def median(endpoint: str, value: Callable[[WrkRun], float]) -> float:
        return statistics.median(value(r) for r in of(endpoint))

    rounds = sorted({r.round for r in runs})
    ratios = [
        next(r for r in runs if r.round == n and r.endpoint == "search").per_second
        / next(r for r in runs if r.round == n and r.endpoint == "healthz").per_second
        for n in rounds
    ]
    ratio = statistics.median(ratios)
    search_p99 = median("search", lambda r: r.latency_ms["p99"])
    errors = {e: sum(sum(r.errors.values()) for r in of(e)) for e in ("search", "healthz")}
    lines = [
        f"### Results: {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}` (took {seconds / 60:.1f} min).",
        "",
        *machine_lines(),
        f"- Server: gunicorn with gunicorn.conf.py, {workers} sync workers, on 127.0.0.1; "
        f"the seed directory (11,689 centers) in SQLite; wrk on the same machine ({args.threads} threads)",
        f"- Load: {args.connections} connections, {args.rounds} run(s) of {args.duration:g} s per endpoint, "
        "alternating; searches cycle through "
        f"{len(totals)} real places and filters (results per search: mean {np.mean(totals):.0f}, "
        f"median {np.median(totals):.0f}, max {max(totals)})",
        "",
        "| goal | measured | met |",
        "|---|---:|---|",
        f"| search throughput at least {GOAL_THROUGHPUT_RATIO:.0%} of /healthz throughput | {ratio:.1%} "
        f"(median of {len(ratios)} rounds: {', '.join(f'{x:.1%}' for x in ratios)}) | "
        f"{'yes' if ratio >= GOAL_THROUGHPUT_RATIO else 'no'} |",
        f"| search p99 under {GOAL_P99_MS:g} ms | {search_p99:.1f} ms "
        f"| {'yes' if search_p99 < GOAL_P99_MS else 'no'} |",
        "",
        "| endpoint | requests/s | p50 ms | p90 ms | p99 ms | max ms | requests | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint, path in (("search", SEARCH_PATH), ("healthz", HEALTHZ_PATH)):
        p50, p90, p99 = (median(endpoint, lambda r, q=q: r.latency_ms[q]) for q in ("p50", "p90", "p99"))
        lines.append(
            f"| `{path}` (median of runs) | {median(endpoint, lambda r: r.per_second):,.0f} | {p50:.1f} | {p90:.1f} | "
            f"{p99:.1f} | {max(r.latency_ms['max'] for r in of(endpoint)):.1f} | "
            f"{sum(r.requests for r in of(endpoint)):,} | {errors[endpoint]} |"
        )
    lines += [
        "",
        "Every run, in the order run:",
        "",
        "| round | endpoint | requests/s | p50 ms | p99 ms |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in runs:
        p50, p99 = r.latency_ms["p50"], r.latency_ms["p99"]
        lines.append(f"| {r.round} | {r.endpoint} | {r.per_second:,.0f} | {p50:.1f} | {p99:.1f} |")
    lines += [
        "",
        f"Gunicorn replaced {restarts} worker(s) during the runs (`max_requests` in gunicorn.conf.py).",
    ]
    if rejected:
        lines.append(f"Searches left out because they did not answer 200: {dict(rejected)}.")
    return "\n".join(lines)
