"""Radius search benchmark: the app's search against a full scan, on SQLite and on PostgreSQL.

For every search of the workload, on each database, in turns (so machine noise hits all alike;
three turns by default, each search's time the median of them):

- search: `find_centers_near(session, SearchQuery(...))`, page 1 of 20, the function the app calls;
- page load alone: loading the page's 20 listings as the search does, the part of a search
  that does not grow with the number of candidates;
- full scan: the exact answer without any index, as lean as we could make it: every center's
  id and point through the DBAPI connection, the exact distance to each (Vincenty's, with NumPy:
  bench/vincenty.py), then the filters in SQL for those inside the radius only, and the
  search's order.

Every search's total, page and distances are checked against the full scan, and for a sample of
the searches the complete ordered list of matches too.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench.queries import BenchQuery
from bench.vincenty import vincenty_miles
from directory import create_app
from directory.extensions import db
from directory.models import Center
from directory.search.listing import load_listings
from directory.search.query import confirmed_since, filter_conditions
from directory.search.service import SearchQuery, SearchResult, find_centers_near

SEARCH = "search"
PAGE_LOAD = "page load alone"
FULL_SCAN = "full scan"
#: Check the complete ordered list of matches (not just total and page) on every n-th search.
FULL_LIST_CHECK_EVERY = 10
#: The scan's distances are Vincenty's (bench/vincenty.py), the app's Karney's: they agree far within this.
DISTANCE_TOLERANCE_MILES = 1e-6
#: Turns of the measurements per search (`time_in_turns`); `--repeats` sets it.
REPEATS = 3
#: Measurements taken in the first turn only: they take a second or more at a million
#: centers, where a millisecond of noise does not matter, and repeating them would triple the run.
ONCE = frozenset({FULL_SCAN})


@dataclass
class DatabaseRun:
    """Timings (seconds: each turn's, one per search) and checks of every measurement on one database."""

    name: str
    database: str
    centers: int
    queries: list[BenchQuery]
    #: Per measurement, the seconds of each turn (one list per turn, one value per search).
    turns: dict[str, list[list[float]]] = field(default_factory=dict)
    results: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checked_full_lists: int = 0
    #: Whether every total was also compared with the SQLite run's.
    against_sqlite: bool = False

    def seconds(self, measurement: str) -> np.ndarray:
        """Each search's seconds: the median of its turns."""
        return median_of_turns(self.turns[measurement])


def median_of_turns(turns: list[list[float]]) -> np.ndarray:
    """Per search, the median of its turns' seconds (one list per turn, one value per search)."""
    return np.median(np.array(turns), axis=0)


def full_scan(session: Session, query: SearchQuery, now: datetime) -> tuple[list[int], list[float]]:
    """Every match, exactly, by measuring the distance to every center: ids and distances in order."""
    cursor = session.connection().connection.driver_connection.cursor()  # plain tuples, on either driver
    cursor.execute("SELECT id, latitude, longitude FROM centers")
    points = np.array(cursor.fetchall(), dtype=np.float64)
    cursor.close()
    distances = vincenty_miles(query.origin.latitude, query.origin.longitude, points[:, 1], points[:, 2])
    inside = np.flatnonzero(distances <= query.radius_miles)
    ids, distances = points[inside, 0].astype(np.int64), distances[inside]
    conditions = filter_conditions(query.filters)
    if conditions and len(ids):
        kept_ids = select(Center.id).where(Center.id.in_(ids.tolist()), *conditions)
        kept = set(session.scalars(kept_ids, {"confirmed_since": confirmed_since(now)}))
        keep = np.array([i in kept for i in ids.tolist()], dtype=bool)
        ids, distances = ids[keep], distances[keep]
    order = np.lexsort((ids, distances))
    ids, distances = ids[order].tolist(), distances[order].tolist()
    tied = {i for k, i in enumerate(ids) if k > 0 and distances[k] == distances[k - 1]}
    tied |= {ids[k - 1] for k in range(1, len(ids)) if distances[k] == distances[k - 1]}
    if tied:  # names only for equal distances (rare), as the search orders them
        names = dict(session.execute(select(Center.id, Center.name).where(Center.id.in_(tied))).all())
        order = sorted(range(len(ids)), key=lambda k: (distances[k], names.get(ids[k], ""), ids[k]))
        ids, distances = [ids[k] for k in order], [distances[k] for k in order]
    return ids, distances


def measure_database(
    name: str,
    url: str,
    queries: list[BenchQuery],
    *,
    now: datetime,
    warmup: int,
    repeats: int = REPEATS,
    sqlite_totals: list[int] | None = None,
    log: Callable[[str], None] = print,
) -> DatabaseRun:
    """Time every measurement on every search, in a shuffled order, and check the answers."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "GEOCODER": "offline"})
    with app.app_context():
        session = db.session
        centers = session.scalar(select(func.count()).select_from(Center)) or 0
        run = DatabaseRun(name, db.engine.dialect.name, centers, queries)
        log(f"{name} ({run.database}): {centers:,} centers; finding each search's page, then warming up ...")
        pages = [[h.center.id for h in find_centers_near(session, q.query, now=now).hits] for q in queries]
        measurements: dict[str, Callable[[int, SearchQuery], Any]] = {
            SEARCH: lambda i, q: find_centers_near(session, q, now=now),
            PAGE_LOAD: lambda i, q: sorted(load_listings(session, pages[i])),
            FULL_SCAN: lambda i, q: full_scan(session, q, now),
        }
        run.turns = time_in_turns(
            session,
            measurements,
            queries,
            warmup=warmup,
            repeats=repeats,
            check=lambda i, bq, answers: check(run, session, bq, answers, full_list=i % FULL_LIST_CHECK_EVERY == 0),
            log=log,
        )
        if sqlite_totals is not None:
            run.against_sqlite = True
            run.problems += [
                f"{bq.label}: total {mine} here, {theirs} on SQLite"
                for bq, mine, theirs in zip(queries, run.results, sqlite_totals, strict=True)
                if mine != theirs
            ]
        session.rollback()
        db.engine.dispose()
    return run


#: Seeds the order of the measurements within each search (see `time_in_turns`).
ORDER_SEED = 20261121


def time_in_turns(
    session: Session,
    measurements: dict[str, Callable[[int, SearchQuery], Any]],
    queries: list[BenchQuery],
    *,
    warmup: int,
    check: Callable[[int, BenchQuery, dict[str, Any]], None],
    log: Callable[[str], None],
    repeats: int = 1,
    once: frozenset[str] = ONCE,
) -> dict[str, list[list[float]]]:
    """Seconds of every measurement on every search in each of `repeats` turns (a search's time
    is the median of its turns: `median_of_turns`), after `warmup` untimed searches; `check`
    gets each search's answers (from its first turn) in plain values.

    Each turn runs the measurements in its own shuffled order (seeded: the same in every run),
    so machine noise hits all alike and each measurement follows each of the others about
    equally often (the full scans read a whole table and leave the CPU's caches cold). The
    median of the turns keeps a single stall out of a search's time. The measurements in
    `once` take the first turn only."""
    names = list(measurements)
    turns: dict[str, list[list[float]]] = {m: [[] for _ in range(1 if m in once else repeats)] for m in names}
    for i, bench_query in enumerate(queries[:warmup]):
        for m in names:
            measurements[m](i, bench_query.query)
            session.expunge_all()
    started = time.perf_counter()
    shuffler = random.Random(ORDER_SEED)
    for i, bench_query in enumerate(queries):
        answers = {}
        for turn in range(repeats):
            taking = [m for m in names if turn < len(turns[m])]
            for m in shuffler.sample(taking, len(taking)):
                t0 = time.perf_counter()
                answer = measurements[m](i, bench_query.query)
                turns[m][turn].append(time.perf_counter() - t0)
                if turn == 0:
                    answers[m] = summary(answer)
                del answer
                session.expunge_all()
        check(i, bench_query, answers)
        if (i + 1) % max(1, len(queries) // 10) == 0:
            log(f"  {i + 1}/{len(queries)} searches, {time.perf_counter() - started:.0f} s")
    return turns


@dataclass(frozen=True)
class Page:
    """What a search answered, in plain values."""

    total: int
    ids: list[int]
    distances: list[float]


def summary(answer: Any) -> Any:
    """The answer in plain values: a Page for a search, the answer itself otherwise."""
    if isinstance(answer, SearchResult):
        return Page(answer.total, [h.center.id for h in answer.hits], [h.distance_miles for h in answer.hits])
    return answer


def check(run: DatabaseRun, session: Session, bench_query: BenchQuery, answers: dict[str, Any], *, full_list: bool):
    """Compare the search's answer with the full scan; record the number of results."""
    query = bench_query.query
    per_page = query.per_page or 20
    scan_ids, scan_distances = answers[FULL_SCAN]
    run.results.append(len(scan_ids))
    problems = []
    page = answers[SEARCH]
    if page.total != len(scan_ids) or page.ids != scan_ids[:per_page]:
        problems.append(f"total {page.total} and page {page.ids[:5]}... differ from the full scan")
    elif not same_distances(page.distances, scan_distances[:per_page]):
        problems.append("distances differ from the full scan")
    if answers[PAGE_LOAD] != sorted(scan_ids[:per_page]):
        problems.append("the page loaded alone is not the full scan's page")
    if full_list:
        everything = SearchQuery(query.origin, query.radius_miles, query.filters, per_page=None)
        hits = find_centers_near(session, everything).hits
        run.checked_full_lists += 1
        if [h.center.id for h in hits] != scan_ids or not same_distances(
            [h.distance_miles for h in hits], scan_distances
        ):
            problems.append("the complete list of matches differs from the full scan")
    run.problems.extend(f"{bench_query.label}: {p}" for p in problems)


def same_distances(a: Sequence[float], b: Sequence[float]) -> bool:
    return len(a) == len(b) and np.allclose(a, b, rtol=0, atol=DISTANCE_TOLERANCE_MILES)


def profile_search(url: str, queries: list[BenchQuery], *, now: datetime) -> str:
    """Where `find_centers_near` spends its time over the workload (pyinstrument if installed, else cProfile)."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "GEOCODER": "offline"})
    with app.app_context():
        session = db.session

        def run_all() -> None:
            for q in queries:
                find_centers_near(session, q.query, now=now)
                session.expunge_all()

        run_all()  # warm
        try:
            from pyinstrument import Profiler
        except ImportError:
            profiler = cProfile.Profile()
            profiler.runcall(run_all)
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
            return out.getvalue()
        with Profiler() as profiler:
            run_all()
        return profiler.output_text(unicode=False, color=False)
