"""python -m bench http: gunicorn serving the app, wrk at 32 connections on the search API and on /healthz.

Three servers run side by side on the same database (the seed directory in SQLite, the project's
gunicorn.conf.py, 127.0.0.1 only): one as deployed, with the search-results cache; one with the
cache off (SEARCH_CACHE_SIZE=0), so every search runs, from each worker's copy of the search rows
in memory; and one with the cache off and that copy off too (SEARCH_INDEX_IN_MEMORY=off), so
every search runs the database's statements. Each server's search and /healthz are
measured in the same run, in turns, and each search ratio is over the same server's /healthz in
the same round. The searches cycle through real places (ZIP codes and "City, ST" of real
centers, and any US ZIP code) with the search benchmark's mix of radii and filters; the cache's
hit rate during the runs is read from the server's /metrics.
"""

from __future__ import annotations

import argparse
import itertools
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
from bench.results import machine_lines, wrap, write_section

NAME = "http"
LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_paths.lua"
SEARCH_PATH = "/api/v1/centers/search"
HEALTHZ_PATH = "/healthz"
METRICS_PATH = "/metrics"
METRICS_TOKEN = "bench-http-metrics"
#: The servers measured: as deployed (the search cache on, its default size), and the cache off.
SERVERS = {
    "cached": {},
    "uncached": {"SEARCH_CACHE_SIZE": "0"},
    "uncached-database": {"SEARCH_CACHE_SIZE": "0", "SEARCH_INDEX_IN_MEMORY": "off"},
}
SERVER_LABELS = {
    "cached": "cache on (as deployed)",
    "uncached": "cache off (SEARCH_CACHE_SIZE=0)",
    "uncached-database": "cache off, every search from the database (SEARCH_INDEX_IN_MEMORY=off)",
}
#: Share of searches near "City, ST" of a real center instead of a ZIP code.
CITY_SHARE = 0.3
#: With --zipf: requests in the drawn sequence, and how far apart in it the runs start (each
#: run's threads take fewer than that between them, so no run repeats another's requests).
ZIPF_REQUESTS = 250_000
ZIPF_RUN_STRIDE = 20_011
#: The issue's goals.
GOAL_THROUGHPUT_RATIO = 0.6
GOAL_P99_MS = 100.0
CORES = os.cpu_count() or 1


@dataclass
class WrkRun:
    """One wrk run on one endpoint of one server."""

    server: str
    endpoint: str
    round: int
    requests: int
    seconds: float
    errors: dict[str, int]
    latency_ms: dict[str, float]
    #: Search-cache lookups during the run (from /metrics): hits, misses.
    cache_lookups: tuple[int, int] = (0, 0)
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
        description="Load the search API and /healthz of two gunicorn servers (search cache on, as deployed, "
        "and off) with wrk, in turns; report requests/s, p50 and p99 of each, their ratios and the cache hit rate.",
    )
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 8; --quick: 3)")
    parser.add_argument("--rounds", type=int, help="runs per endpoint, alternating (default 4; --quick: 1)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's, 2 x cores + 1)")
    parser.add_argument("--places", type=int, help="distinct searches cycled through (default 400; --quick: 60)")
    parser.add_argument(
        "--zipf",
        type=float,
        metavar="S",
        help="instead of cycling through the searches, ask them in one long random sequence with skewed "
        "popularity: the k-th most popular 1/k^S as often as the most popular (e.g. 0.8); each run starts at "
        "its own place in the sequence",
    )
    parser.add_argument("--random-seed", type=int, default=1)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also record each server's gunicorn workers with py-spy during one extra search run and print the "
        "top functions",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: one 3-second run per endpoint")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file (between markers)")
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 8.0)
    args.rounds = args.rounds or (1 if args.quick else 4)
    args.places = args.places or (60 if args.quick else 400)
    if args.zipf is not None and args.zipf < 0:
        parser.error("--zipf must be 0 or more")
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


def zipf_sequence(paths: list[str], exponent: float, length: int, random_seed: int) -> list[str]:
    """`length` requests drawn from `paths` at random, the k-th most popular (in an order drawn
    at random) asked with probability proportional to 1/k**exponent: traffic that repeats its
    popular searches often and the rest seldom, unlike the uniform cycle."""
    rng = np.random.default_rng(random_seed + 2)
    weights = 1.0 / np.arange(1, len(paths) + 1) ** exponent
    popularity = rng.permutation(len(paths))  # the k-th most popular is paths[popularity[k]]
    drawn = rng.choice(len(paths), size=length, p=weights / weights.sum())
    return [paths[i] for i in popularity[drawn]]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
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


def cache_lookups(base: str) -> tuple[int, int]:
    """The server's search-cache hits and misses so far, summed over its workers (from /metrics)."""
    status, body = get(base + METRICS_PATH, {"Authorization": f"Bearer {METRICS_TOKEN}"})
    if status != 200:
        raise SystemExit(f"{METRICS_PATH} answered {status}")
    counts = {"hit": 0.0, "miss": 0.0}
    for line in body.decode().splitlines():
        for result in counts:
            if line.startswith(f'directory_search_cache_lookups_total{{result="{result}"}} '):
                counts[result] += float(line.rpartition(" ")[2])
    return int(counts["hit"]), int(counts["miss"])


def run_wrk(
    base: str,
    server: str,
    endpoint: str,
    paths_file: Path,
    args: argparse.Namespace,
    round_number: int,
    start: int = 0,
    server_pid: int | None = None,
) -> WrkRun:
    """One wrk run; `start`: where in the paths file its first thread begins (the others further on);
    `server_pid`: gunicorn's master, whose CPU time (with its workers') is measured over the run."""
    before = cache_lookups(base) if endpoint == "search" else (0, 0)
    argv = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration:g}s", "--timeout", "10s",
        "-s", str(LUA_SCRIPT), base, "--", str(paths_file), str(start),
    ]  # fmt: skip
    server_cpu = tree_cpu_seconds(server_pid) if server_pid else 0.0
    wrk_cpu = _children_cpu_seconds()
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    wrk_cpu = _children_cpu_seconds() - wrk_cpu
    server_cpu = tree_cpu_seconds(server_pid) - server_cpu if server_pid else 0.0
    line = next((x for x in output.splitlines() if x.startswith("WRK-RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{output}")
    result = json.loads(line.removeprefix("WRK-RESULT "))
    after = cache_lookups(base) if endpoint == "search" else (0, 0)
    run = WrkRun(
        server=server,
        endpoint=endpoint,
        round=round_number,
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        errors=result["errors"],
        latency_ms={k: v / 1000 for k, v in result["latency_us"].items()},
        cache_lookups=(after[0] - before[0], after[1] - before[1]),
        server_cpu=server_cpu,
        wrk_cpu=wrk_cpu,
    )
    hits, misses = run.cache_lookups
    rate = f"  cache hits {hits / (hits + misses):.1%}" if hits + misses else ""
    log(
        f"  {server:8} {endpoint:7} round {round_number}: {run.per_second:8,.0f} req/s"
        f"  p50 {run.latency_ms['p50']:6.1f} ms  p99 {run.latency_ms['p99']:6.1f} ms"
        f"  errors {sum(run.errors.values())}{rate}"
        + (f"  CPU {server_cpu + wrk_cpu:.1f} s of {run.seconds * CORES:.1f}" if server_pid else "")
    )
    return run


def _children_cpu_seconds() -> float:
    """CPU time (user + system) of this process's ended and reaped children (wrk, once it has run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def profile_workers(
    server: str, master_pid: int, base: str, paths_file: Path, args: argparse.Namespace, workdir: Path
) -> str:
    """py-spy on every gunicorn worker of a server during one search run: the functions with the most samples."""
    py_spy = require_program("py-spy", "install it with `pip install py-spy`")
    raw = workdir / f"py-spy-{server}.txt"
    spy = subprocess.Popen(
        [
            py_spy,
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
    run_wrk(base, server, "search", paths_file, args, 0)
    spy.wait(timeout=120)
    data.CACHE.mkdir(exist_ok=True)
    shutil.copyfile(raw, data.CACHE / f"http-py-spy-{server}.txt")  # kept for a closer look
    return f"{SERVER_LABELS[server]}:\n{summarize_py_spy(raw)}"


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


def start_server(name: str, database: Path, workdir: Path, args: argparse.Namespace) -> tuple[Service, str]:
    """A gunicorn server of the app on a free port, once it answers /healthz: the service and its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": "bench-http-not-secret",
        "GEOCODER": "offline",
        "REDIS_URL": "",
        "RATELIMIT_STORAGE_URI": "memory://",
        "METRICS_TOKEN": METRICS_TOKEN,
        **SERVERS[name],
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each server gets a metrics folder of its own
    argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    if args.workers:
        argv += ["--workers", str(args.workers)]
    log_file = workdir / f"gunicorn-{name}.log"
    service = Service(f"gunicorn ({name})", [*argv, "directory:create_app()"], log_file, env).start()

    def healthy() -> bool:
        service.check_running()
        try:
            return get(base + HEALTHZ_PATH)[0] == 200
        except OSError:
            return False

    wait_for(healthy, 60, f"gunicorn ({name}) to answer /healthz")
    return service, base


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[2:] if argv is None else argv)
    require_program("wrk", "install it with `apt-get install wrk` (Debian's package), then run this again")
    started, clock, machine = datetime.now(UTC), time.perf_counter(), machine_lines()
    seed = data.seed_database(log)
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    servers: dict[str, tuple[Service, str]] = {}
    profiles: list[str] = []
    try:
        database = workdir / "directory.sqlite3"
        shutil.copyfile(seed, database)
        for name in SERVERS:
            servers[name] = start_server(name, database, workdir, args)
        candidates = search_paths(seed, args.places, args.random_seed)
        if args.zipf is not None:  # each search once: its popularity is its rank's alone
            candidates = list(dict.fromkeys(candidates))
        log(f"{len(servers)} gunicorn servers; checking {len(candidates)} searches on each (warm-up) ...")
        checked = {name: check_paths(base, candidates) for name, (_, base) in servers.items()}
        paths, totals, rejected = checked["cached"]
        if any(answers[:2] != (paths, totals) for answers in checked.values()):
            raise SystemExit("The servers answered the searches differently.")
        if len(paths) < len(candidates) * 0.9:
            raise SystemExit(f"Too many searches did not answer 200: {dict(rejected)}")
        search_file, healthz_file = workdir / "search-paths.txt", workdir / "healthz-paths.txt"
        requests = paths if args.zipf is None else zipf_sequence(paths, args.zipf, ZIPF_REQUESTS, args.random_seed)
        search_file.write_text("\n".join(requests) + "\n")
        runs_started = itertools.count()

        def start(endpoint: str) -> int:
            """Where a run starts in its paths file: with --zipf, each search run further on."""
            return next(runs_started) * ZIPF_RUN_STRIDE if endpoint == "search" and args.zipf is not None else 0

        healthz_file.write_text(HEALTHZ_PATH + "\n")
        files = {"healthz": healthz_file, "search": search_file}
        log("Warm-up: one unmeasured search run on each server (each worker fills its own cache) ...")
        for name, (_, base) in servers.items():
            run_wrk(base, name, "search", search_file, args, 0, start("search"))
        turns = [(server, endpoint) for server in SERVERS for endpoint in ("healthz", "search")]
        runs: list[WrkRun] = []
        boots_before = {name: worker_boots(service.log) for name, (service, _) in servers.items()}
        # By now every worker has booted and served (the first /healthz answered with only some up).
        workers = boots_before["cached"]
        for round_number in range(1, args.rounds + 1):
            for server, endpoint in turns if round_number % 2 else reversed(turns):
                service, base = servers[server]
                assert service.process is not None
                pid = service.process.pid
                runs.append(run_wrk(base, server, endpoint, files[endpoint], args, round_number, start(endpoint), pid))
        restarts = sum(worker_boots(service.log) - boots_before[name] for name, (service, _) in servers.items())
        if args.profile:
            for name, (service, base) in servers.items():
                assert service.process is not None
                profiles.append(profile_workers(name, service.process.pid, base, search_file, args, workdir))
    finally:
        for service, _ in servers.values():
            service.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for profile in profiles:
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
        machine=machine,
    )
    if args.output:
        write_section(args.output, NAME, wrap(NAME, block))
        log(f"Results written to {args.output}")
    print(block)


def cpu_lines(servers: list[str], median: Callable[[str, str, Callable[[WrkRun], float]], float]) -> list[str]:
    """CPU per request of each server's search and /healthz (`median(server, endpoint, value)`:
    the median over that server's runs of the endpoint), and what the throughput goal leaves a
    search: with both cores busy, requests/s go as the inverse of the CPU each request takes."""
    lines = [
        "CPU per request (median of runs; user + system time from /proc over each run, divided by its "
        "requests: the server's gunicorn master and workers, and wrk, on the same cores):",
        "",
        "| server | endpoint | server CPU ms | wrk CPU ms | both, ms |",
        "|---|---|---:|---:|---:|",
    ]
    both: dict[tuple[str, str], float] = {}
    for server in servers:
        for endpoint in ("search", "healthz"):
            ours, theirs = (median(server, endpoint, lambda r, i=i: r.cpu_ms[i]) for i in (0, 1))
            both[server, endpoint] = median(server, endpoint, lambda r: sum(r.cpu_ms))
            lines.append(
                f"| {SERVER_LABELS[server]} | {endpoint} | {ours:.3f} | {theirs:.3f} | {both[server, endpoint]:.3f} |"
            )
    lines.append("")
    for server in servers:
        search, healthz = both[server, "search"], both[server, "healthz"]
        budget = healthz / GOAL_THROUGHPUT_RATIO
        lines.append(
            f"- {SERVER_LABELS[server]}: a search took {search:.2f} ms of CPU, {search / healthz:.2f}x /healthz's "
            f"{healthz:.2f} ms. At {GOAL_THROUGHPUT_RATIO:.0%} a search may take {budget:.2f} ms: its own work "
            f"(beyond what /healthz costs), {search - healthz:.2f} ms here, may be at most {budget - healthz:.2f} ms."
        )
    return lines


def workload(args: argparse.Namespace, places: int) -> str:
    """How the searches were asked, for the results block."""
    if args.zipf is None:
        return f"searches cycle through {places} real places and filters"
    return (
        f"searches drawn from {places} real places and filters with skewed popularity (--zipf {args.zipf:g}: the "
        f"k-th most popular asked 1/k^{args.zipf:g} as often as the first), in one sequence of "
        f"{ZIPF_REQUESTS:,} requests, each run from its own place in it"
    )


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
    machine: list[str] | None = None,
) -> str:
    """The results block, as Markdown (`machine`: `machine_lines()` taken when the run started)."""

    def of(server: str, endpoint: str) -> list[WrkRun]:
        return [r for r in runs if r.server == server and r.endpoint == endpoint]

    def median(server: str, endpoint: str, value: Callable[[WrkRun], float]) -> float:
        return statistics.median(value(r) for r in of(server, endpoint))

    def ratios(server: str) -> list[float]:
        return [
            search.per_second / healthz.per_second
            for search, healthz in zip(of(server, "search"), of(server, "healthz"), strict=True)
        ]

    def hit_rate(server: str) -> str:
        hits = sum(r.cache_lookups[0] for r in of(server, "search"))
        lookups = hits + sum(r.cache_lookups[1] for r in of(server, "search"))
        return f"{hits / lookups:.1%} of {lookups:,} searches" if lookups else "no lookups (off)"

    measured = [server for server in SERVERS if of(server, "search")]
    goal_rows = []
    for server in measured:
        server_ratios = ratios(server)
        ratio = statistics.median(server_ratios)
        p99 = median(server, "search", lambda r: r.latency_ms["p99"])
        goal_rows += [
            f"| search throughput at least {GOAL_THROUGHPUT_RATIO:.0%} of /healthz throughput | "
            f"{SERVER_LABELS[server]} | {ratio:.1%} (median of {len(server_ratios)} rounds: "
            f"{', '.join(f'{x:.1%}' for x in server_ratios)}) | {'yes' if ratio >= GOAL_THROUGHPUT_RATIO else 'no'} |",
            f"| search p99 under {GOAL_P99_MS:g} ms | {SERVER_LABELS[server]} | {p99:.1f} ms "
            f"| {'yes' if p99 < GOAL_P99_MS else 'no'} |",
        ]
    load_end = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"### Results: {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}` (took {seconds / 60:.1f} min).",
        "",
        *(machine or machine_lines()),
        f"- Load average at the end (1, 5, 15 min): {load_end}",
        f"- Servers: {len(measured)} gunicorn servers with gunicorn.conf.py, {workers} sync workers each, on "
        "127.0.0.1, on one copy of the seed directory (11,689 centers) in SQLite: "
        + "; ".join(SERVER_LABELS[server] for server in measured)
        + f"; wrk on the same machine ({args.threads} threads)",
        f"- Load: {args.connections} connections, {args.rounds} run(s) of {args.duration:g} s per endpoint and "
        f"server, in turns, after one unmeasured search run on each server; {workload(args, len(totals))} "
        f"(results per search: mean {np.mean(totals):.0f}, "
        f"median {np.median(totals):.0f}, max {max(totals)})",
        "- Search cache hit rate during the search runs: "
        + "; ".join(f"{SERVER_LABELS[server]} {hit_rate(server)}" for server in measured),
        "",
        "| goal | server | measured | met |",
        "|---|---|---:|---|",
        *goal_rows,
        "",
        "| server | endpoint | requests/s | p50 ms | p90 ms | p99 ms | max ms | requests | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for server in measured:
        for endpoint, path in (("search", SEARCH_PATH), ("healthz", HEALTHZ_PATH)):
            p50, p90, p99 = (median(server, endpoint, lambda r, q=q: r.latency_ms[q]) for q in ("p50", "p90", "p99"))
            errors = sum(sum(r.errors.values()) for r in of(server, endpoint))
            lines.append(
                f"| {SERVER_LABELS[server]} | `{path}` (median of runs) | "
                f"{median(server, endpoint, lambda r: r.per_second):,.0f} | {p50:.1f} | {p90:.1f} | {p99:.1f} | "
                f"{max(r.latency_ms['max'] for r in of(server, endpoint)):.1f} | "
                f"{sum(r.requests for r in of(server, endpoint)):,} | {errors} |"
            )
    if all(r.server_cpu for r in runs):
        lines += ["", *cpu_lines(measured, median)]
    lines += [
        "",
        "Every run, in the order run:",
        "",
        "| round | server | endpoint | requests/s | p50 ms | p99 ms | cache hits |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in runs:
        p50, p99 = r.latency_ms["p50"], r.latency_ms["p99"]
        hits, misses = r.cache_lookups
        rate = f"{hits / (hits + misses):.1%}" if hits + misses else "-"
        lines.append(
            f"| {r.round} | {r.server} | {r.endpoint} | {r.per_second:,.0f} | {p50:.1f} | {p99:.1f} | {rate} |"
        )
    lines += [
        "",
        f"Gunicorn replaced {restarts} worker(s) during the runs (`max_requests` in gunicorn.conf.py).",
    ]
    if rejected:
        lines.append(f"Searches left out because they did not answer 200: {dict(rejected)}.")
    return "\n".join(lines)
