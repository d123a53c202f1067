"""python -m bench http: gunicorn serving the app, wrk at 32 connections on the search API and on /healthz.

One server as deployed (the project's gunicorn.conf.py, 127.0.0.1 only) on a copy of the seed
directory in SQLite. Its search API and its /healthz are loaded in turns, round after round, and
the throughput goal is the search's requests/s over the same server's /healthz in the same round.
The searches cycle through real places (ZIP codes and "City, ST" of real centers, and any US ZIP
code) with the search benchmark's mix of radii and filters.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
from bench.processes import Service, free_port, require_program, tree_cpu_seconds, wait_for
from bench.queries import make_queries
from bench.results import machine_line, wrap, write_section

NAME = "http"
LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_paths.lua"
SEARCH_PATH = "/api/v1/centers/search"
HEALTHZ_PATH = "/healthz"
ENDPOINTS = {"healthz": HEALTHZ_PATH, "search": SEARCH_PATH}
#: Share of searches near "City, ST" of a real center instead of a ZIP code.
CITY_SHARE = 0.3
#: The issue's goals.
GOAL_THROUGHPUT_RATIO = 0.3
GOAL_P99_MS = 100.0
CORES = os.cpu_count() or 1


@dataclass
class WrkRun:
    """One wrk run on one endpoint."""

    endpoint: str
    round: int
    requests: int
    seconds: float
    errors: dict[str, int]
    latency_ms: dict[str, float]
    #: CPU seconds (user + system) during the run: the server's (gunicorn's master and workers), wrk's.
    server_cpu: float = 0.0
    wrk_cpu: float = 0.0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms(self) -> tuple[float, float]:
        """CPU milliseconds per request: the server's, wrk's."""
        return self.server_cpu / self.requests * 1000, self.wrk_cpu / self.requests * 1000


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench http",
        description="Load the search API and /healthz of one gunicorn server (gunicorn.conf.py) with wrk, in "
        "turns; report requests/s and latency of each, and the search's throughput over /healthz's.",
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


def run_wrk(
    base: str, endpoint: str, paths_file: Path, args: argparse.Namespace, round_number: int, server_pid: int
) -> WrkRun:
    """One wrk run; `server_pid`: gunicorn's master, whose CPU time (with its workers') is measured over the run."""
    argv = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration:g}s", "--timeout", "10s",
        "-s", str(LUA_SCRIPT), base, "--", str(paths_file),
    ]  # fmt: skip
    server_cpu, wrk_cpu = tree_cpu_seconds(server_pid), _children_cpu_seconds()
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    server_cpu, wrk_cpu = tree_cpu_seconds(server_pid) - server_cpu, _children_cpu_seconds() - wrk_cpu
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
        server_cpu=server_cpu,
        wrk_cpu=wrk_cpu,
    )
    log(
        f"  {endpoint:7} round {round_number}: {run.per_second:8,.0f} req/s"
        f"  p50 {run.latency_ms['p50']:6.1f} ms  p99 {run.latency_ms['p99']:6.1f} ms"
        f"  errors {sum(run.errors.values())}  CPU {server_cpu + wrk_cpu:.1f} s of {run.seconds * CORES:.1f}"
    )
    return run


def _children_cpu_seconds() -> float:
    """CPU time (user + system) of this process's ended and reaped children (wrk, once it has run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def profile_workers(master_pid: int, base: str, paths_file: Path, args: argparse.Namespace, workdir: Path) -> str:
    """py-spy on every gunicorn worker during one search run: the functions with the most samples."""
    py_spy = require_program("py-spy", "install it with `pip install py-spy`")
    raw = workdir / "py-spy.txt"
    spy = subprocess.Popen(
        [py_spy, "record", "--pid", str(master_pid), "--subprocesses", "--format", "raw", "--rate", "200",
         "--duration", str(int(args.duration) + 1), "--output", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1)
    run_wrk(base, "search", paths_file, args, 0, master_pid)
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
    """How many workers gunicorn has started so far, from its log."""
    return log_file.read_text(errors="replace").count("Booting worker")


def start_server(database: Path, workdir: Path, args: argparse.Namespace) -> tuple[Service, str]:
    """A gunicorn server of the app on a free port, once it answers /healthz: the service and its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": "bench-http-not-secret",  # gunicorn.conf.py refuses to start without one
        "GEOCODER": "offline",
        "REDIS_URL": "",
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server makes a metrics folder of its own
    argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    if args.workers:
        argv += ["--workers", str(args.workers)]
    service = Service("gunicorn", [*argv, "directory:create_app()"], workdir / "gunicorn.log", env).start()

    def healthy() -> bool:
        service.check_running()
        try:
            return get(base + HEALTHZ_PATH)[0] == 200
        except OSError:
            return False

    wait_for(healthy, 60, "gunicorn to answer /healthz")
    return service, base


def center_count(database: Path) -> int:
    """How many centers the database holds."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        return connection.execute("SELECT count(*) FROM centers").fetchone()[0]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[2:] if argv is None else argv)
    require_program("wrk", "install it with `apt-get install wrk` (Debian's package), then run this again")
    started, clock, machine = datetime.now(UTC), time.perf_counter(), machine_line()
    seed = data.seed_database(log)
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    service = None
    profile = None
    try:
        database = workdir / "directory.sqlite3"
        shutil.copyfile(seed, database)
        service, base = start_server(database, workdir, args)
        assert service.process is not None
        pid = service.process.pid
        candidates = search_paths(seed, args.places, args.random_seed)
        log(f"gunicorn is up; checking {len(candidates)} searches (warm-up) ...")
        paths, totals, rejected = check_paths(base, candidates)
        if len(paths) < len(candidates) * 0.9:
            raise SystemExit(f"Too many searches did not answer 200: {dict(rejected)}")
        files = {"healthz": workdir / "healthz-paths.txt", "search": workdir / "search-paths.txt"}
        files["healthz"].write_text(HEALTHZ_PATH + "\n")
        files["search"].write_text("\n".join(paths) + "\n")
        log("Warm-up: one unmeasured search run ...")
        run_wrk(base, "search", files["search"], args, 0, pid)
        # By now every worker has booted and served (the first /healthz answered with only some up).
        workers = worker_boots(service.log)
        runs: list[WrkRun] = []
        for round_number in range(1, args.rounds + 1):
            order = ("healthz", "search") if round_number % 2 else ("search", "healthz")
            for endpoint in order:
                runs.append(run_wrk(base, endpoint, files[endpoint], args, round_number, pid))
        restarts = worker_boots(service.log) - workers
        if args.profile:
            profile = profile_workers(pid, base, files["search"], args, workdir)
    finally:
        if service is not None:
            service.stop()
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
        centers=center_count(seed),
        totals=totals,
        rejected=rejected,
        machine=machine,
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
    centers: int,
    totals: list[int],
    rejected: Counter,
    machine: str | None = None,
) -> str:
    """The results block, as Markdown (`machine`: `machine_line()` taken when the run started)."""

    def of(endpoint: str) -> list[WrkRun]:
        return [r for r in runs if r.endpoint == endpoint]

    def median(endpoint: str, value: Callable[[WrkRun], float]) -> float:
        return statistics.median(value(r) for r in of(endpoint))

    ratios = [s.per_second / h.per_second for s, h in zip(of("search"), of("healthz"), strict=True)]
    ratio = statistics.median(ratios)
    p99s = [r.latency_ms["p99"] for r in of("search")]
    p99 = statistics.median(p99s)
    load_end = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"### Results: {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}` (took {seconds / 60:.1f} min).",
        "",
        machine or machine_line(),
        f"- Server: gunicorn with gunicorn.conf.py, {workers} sync workers, on 127.0.0.1, the seed directory "
        f"({centers:,} centers) in SQLite; it replaced {restarts} worker(s) during the runs (`max_requests`)",
        f"- Load: wrk on the same machine, {args.threads} threads, {args.connections} connections, {args.rounds} "
        f"run(s) of {args.duration:g} s per endpoint, in turns, after one unmeasured search run; searches cycle "
        f"through {len(totals)} real places and filters (results per search: mean {np.mean(totals):.0f}, median "
        f"{np.median(totals):.0f}, max {max(totals)}); load average at the end (1, 5, 15 min) {load_end}",
        "",
        "| goal | measured | met |",
        "|---|---:|---|",
        f"| search throughput at least {GOAL_THROUGHPUT_RATIO:.0%} of /healthz throughput | {ratio:.1%} (median of "
        f"{len(ratios)} rounds: {', '.join(f'{x:.1%}' for x in ratios)}) "
        f"| {'yes' if ratio >= GOAL_THROUGHPUT_RATIO else 'no'} |",
        f"| search p99 under {GOAL_P99_MS:g} ms | {p99:.1f} ms (median of {len(p99s)} runs; highest "
        f"{max(p99s):.1f} ms) | {'yes' if p99 < GOAL_P99_MS else 'no'} |",
        "",
        "| endpoint (median of runs) | requests/s | p50 ms | p90 ms | p99 ms | max ms | requests | errors "
        "| gunicorn CPU ms per request | wrk CPU ms per request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in ("search", "healthz"):
        p50, p90, p99 = (median(endpoint, lambda r, q=q: r.latency_ms[q]) for q in ("p50", "p90", "p99"))
        ours, theirs = (median(endpoint, lambda r, i=i: r.cpu_ms[i]) for i in (0, 1))
        lines.append(
            f"| `{ENDPOINTS[endpoint]}` | {median(endpoint, lambda r: r.per_second):,.0f} | {p50:.1f} | {p90:.1f} "
            f"| {p99:.1f} | {max(r.latency_ms['max'] for r in of(endpoint)):.1f} "
            f"| {sum(r.requests for r in of(endpoint)):,} | {sum(sum(r.errors.values()) for r in of(endpoint))} "
            f"| {ours:.2f} | {theirs:.2f} |"
        )
    if rejected:
        lines += ["", f"Searches left out because they did not answer 200: {dict(rejected)}."]
    return "\n".join(lines)
