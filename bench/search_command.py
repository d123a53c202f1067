"""python -m bench search: the radius search benchmark on the real seed directory and on synthetic centers."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import data, postgres
from bench.queries import make_queries
from bench.report import END_MARKER, render, write_results
from bench.search import REPEATS, measure_database, profile_search


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench search",
        description="Time find_centers_near against a full scan, on the seed directory and on synthetic "
        "centers, on SQLite and PostgreSQL; print (or write) the results as Markdown.",
    )
    parser.add_argument("--synthetic", type=int, metavar="N", help="synthetic centers (default 1,000,000; 0: none)")
    parser.add_argument("--queries", type=int, metavar="N", help="searches per database (default 100)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 synthetic centers, 20 searches")
    parser.add_argument("--random-seed", type=int, default=1, help="for the synthetic centers and the searches")
    parser.add_argument("--warmup", type=int, default=5, help="searches run untimed first (default 5)")
    parser.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help=f"turns of the measurements per search, each search's time the median of them (default {REPEATS}; "
        "--quick: 1); the full scan takes one",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print where the search spends its time on the largest db (pyinstrument if installed, else cProfile)",
    )
    parser.add_argument(
        "--postgres",
        default=postgres.DEFAULT_URL,
        metavar="URL",
        help="PostgreSQL server (with PostGIS) for the same benchmark there; databases directory_bench_* "
        f"are made and kept (default {postgres.DEFAULT_URL})",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--no-sqlite",
        action="store_true",
        help="PostgreSQL only (the SQLite databases are still built, as the source of the copies)",
    )
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file (between markers)")
    args = parser.parse_args(argv)
    if args.synthetic is None:
        args.synthetic = 20_000 if args.quick else 1_000_000
    if args.queries is None:
        args.queries = 20 if args.quick else 100
    if args.repeats is None:
        args.repeats = 1 if args.quick else REPEATS
    if args.repeats < 1:
        parser.error("--repeats must be 1 or more")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[2:] if argv is None else argv)
    started, clock = datetime.now(UTC), time.perf_counter()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    databases = [("Seed directory", data.seed_database(log))]
    if args.synthetic:
        databases.append(("Synthetic", data.synthetic_database(args.synthetic, args.random_seed, log)))
    queries = make_queries(args.queries, databases[0][1], args.random_seed)
    now = started.replace(tzinfo=None)
    warmup = min(args.warmup, len(queries))
    runs = []
    if not args.no_sqlite:
        runs = [
            measure_database(
                name, f"sqlite:///{path.resolve()}", queries, now=now, warmup=warmup, repeats=args.repeats, log=log
            )
            for name, path in databases
        ]
    if args.profile:
        log(profile_search(f"sqlite:///{databases[-1][1].resolve()}", queries, now=now))
    note = ""
    if not args.no_postgres:
        why_not = postgres.reachable(args.postgres)
        if why_not:
            log(f"PostgreSQL skipped: {why_not}")
            note = f"PostgreSQL not measured in this run: {why_not}."
        else:
            sqlite_runs = {run.name: run for run in runs}
            for name, path in databases:
                url = postgres.server_url(args.postgres, postgres.postgres_copy(args.postgres, path, log))
                sqlite_run = sqlite_runs.get(name)
                runs.append(
                    measure_database(
                        name,
                        url.render_as_string(hide_password=False),
                        queries,
                        now=now,
                        warmup=warmup,
                        repeats=args.repeats,
                        sqlite_totals=sqlite_run.results if sqlite_run else None,
                        log=log,
                    )
                )
    command = " ".join(["python -m bench search", *(sys.argv[2:] if argv is None else argv)])
    block = render(runs, command=command, started=started, seconds=time.perf_counter() - clock)
    if note:
        head, _, tail = block.partition(END_MARKER)
        block = head.rstrip("\n") + "\n\n" + note + "\n\n" + END_MARKER + tail
    if args.output:
        write_results(args.output, block)
        log(f"Results written to {args.output}")
    print(block)
