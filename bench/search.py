"""Radius search benchmark: the app's search against the raw index query and a full scan.

For every search of the workload, on each database, in turns (so machine noise hits all alike;
three turns by default, each search's time the median of them):

- search: `find_centers_near(session, SearchQuery(...))`, page 1 of 20, the function the app calls,
  as the app runs it: from the process's copy of the search rows in memory (memory.py), read
  before the measurements;
- search from the database: the same with `from_memory=False`: the database's own statements;
- engine SQL alone: every statement that search from the database sent to SQLite (recorded
  once beforehand), replayed through the DBAPI connection: what it costs before any Python;
- raw index SQL: the spatial-index query any indexed implementation must run, on the index
  the search counts with: the ids of the centers in the engine's box, read from the band index
  (migration 0011: each latitude band of the box between the box's longitudes, index-only),
  that pass the same filters as the engine writes them (masks; languages EXISTS), through the
  DBAPI connection;
- R*Tree index SQL: the baseline of the runs before the band index (session 10): the ids in
  the same box from the R*Tree that pass the same filters (the R*Tree joined to
  center_search_rows for the masks);
- R*Tree alone: the same box without the filters (`SELECT id FROM center_locations WHERE ...`);
- page load alone: loading the page's 20 listings (with their attributes) as the search does,
  the part of a search that does not grow with the number of candidates;
- full scan: the exact answer without any index, as lean as we could make it: every center's
  id and point through the DBAPI connection, the exact distance to each (Vincenty's, with NumPy:
  bench/vincenty.py), then the
  filters in SQL for those inside the radius only, and the engine's order;
- box scan SQL: the R*Tree query's twin without the index
  (`SELECT id FROM centers NOT INDEXED WHERE latitude BETWEEN ? AND ? AND longitude BETWEEN ...`).

Every search's total and page are checked against the full scan, and for a sample of the
searches the complete ordered list of matches too.
"""

from __future__ import annotations

import cProfile
import io
import math
import pstats
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Select, and_, event, func, select, text
from sqlalchemy.orm import Session

from bench.queries import BenchQuery
from bench.vincenty import vincenty_miles
from directory import create_app
from directory.extensions import db
from directory.models import Center
from directory.search import engine, memory
from directory.search import statements as search_statements
from directory.search.engine import (
    SearchQuery,
    SearchResult,
    center_locations,
    filter_conditions,
    find_centers_near,
    in_box,
    matching_center_distances,
    order_matches,
    with_filters,
)
from directory.search.geodesy import BoundingBox, bounding_box, degree_lengths
from directory.search.listing import CenterListing, load_listings

SEARCH = "search"
SEARCH_DB = "search from the database"
ENGINE_SQL = "engine SQL alone"
RAW_INDEX = "raw index SQL"
RTREE_INDEX = "R*Tree index SQL"
RTREE_ONLY = "R*Tree alone"
FULL_SCAN = "full scan"
BOX_SCAN = "box scan SQL"
PAGE_LOAD = "page load alone"
#: Check the complete ordered list of matches (not just total and page) on every n-th search.
FULL_LIST_CHECK_EVERY = 10
#: The scan's distances are Vincenty's (bench/vincenty.py), the app's Karney's: they agree far within this.
DISTANCE_TOLERANCE_MILES = 1e-6
#: Turns of the measurements per search (`time_in_turns`); `--repeats` sets it.
REPEATS = 3
#: Measurements taken in the first turn only: they take a second or more at a million
#: centers, where a millisecond of noise does not matter, and repeating them would triple
#: the run.
ONCE = frozenset({FULL_SCAN, BOX_SCAN})


@dataclass
class DatabaseRun:
    """Timings (seconds: each turn's, one per search) and checks of every measurement on one database."""

    name: str
    path: Path
    centers: int
    queries: list[BenchQuery]
    #: Per measurement, the seconds of each turn (one list per turn, one value per search).
    turns: dict[str, list[list[float]]] = field(default_factory=dict)
    results: list[int] = field(default_factory=list)
    candidates: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checked_full_lists: int = 0
    plans: dict[str, str] = field(default_factory=dict)

    def seconds(self, measurement: str) -> np.ndarray:
        """Each search's seconds: the median of its turns."""
        return median_of_turns(self.turns[measurement])


def median_of_turns(turns: list[list[float]]) -> np.ndarray:
    """Per search, the median of its turns' seconds (one list per turn, one value per search)."""
    return np.median(np.array(turns), axis=0)


def rtree_sql(box: BoundingBox) -> tuple[str, list[float]]:
    """The R*Tree query for the box, as the engine states it, returning candidate ids only."""
    ranges = ["max_lon >= ? AND min_lon <= ?" for _ in box.longitude_ranges]
    longitude = ranges[0] if len(ranges) == 1 else "(" + " OR ".join(f"({r})" for r in ranges) + ")"
    sql = f"SELECT id FROM center_locations WHERE max_lat >= ? AND min_lat <= ? AND {longitude}"
    return sql, [box.south, box.north, *(x for r in box.longitude_ranges for x in r)]


def box_scan_sql(box: BoundingBox) -> tuple[str, list[float]]:
    """The same box over the centers table, every row read (NOT INDEXED forbids the lat/lon index)."""
    ranges = ["longitude BETWEEN ? AND ?" for _ in box.longitude_ranges]
    longitude = ranges[0] if len(ranges) == 1 else "(" + " OR ".join(ranges) + ")"
    sql = f"SELECT id FROM centers NOT INDEXED WHERE latitude BETWEEN ? AND ? AND {longitude}"
    return sql, [box.south, box.north, *(x for r in box.longitude_ranges for x in r)]


def positional_sql(session: Session, stmt: Select) -> tuple[str, list[Any]]:
    """A statement as the SQL text and parameters SQLAlchemy hands to the driver."""
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"render_postcompile": True})
    return str(compiled), [compiled.params[name] for name in compiled.positiontup or ()]


def raw_index_select(query: SearchQuery, now: datetime) -> Select:
    """The ids in the engine's box, from the band index, that pass the filters as the engine
    writes them: what any search on that index must run (a box across the antimeridian or over
    a pole, which the search reads through the R*Tree, from the R*Tree)."""
    box = _box(query)
    if engine._box_shape(box) != (1, False):
        return rtree_index_select(query, now)
    lat, lon = query.origin.latitude, query.origin.longitude
    bands = engine.band_bounds()
    rows = engine.search_row_bands.c
    stmt = (
        select(rows.center_id)
        .select_from(
            bands.join(
                engine.search_row_bands,
                and_(rows.band == bands.c.band, rows.longitude.between(bands.c.west_out, bands.c.east_out)),
            )
        )
        .where(*engine._band_group_sql(engine.filter_shape(query.filters), None))
    )
    values = {
        **engine._box_values(lat, lon, box, degree_lengths(box)),
        **engine._band_values(box),
        **engine.filter_values(query.filters, now),
        "inner": -1.0,  # no middle
        "outer": math.inf,  # every band between the box's longitudes (west0 to east0)
    }
    return stmt.params(**values)  # the values of the statement's parameters (the rest are ignored)


def rtree_index_select(query: SearchQuery, now: datetime) -> Select:
    """The ids in the R*Tree box that pass the filters (joined to the search rows for their masks)."""
    loc = center_locations.c
    return with_filters(select(loc.id).where(*in_box(_box(query))), query.filters, now, loc.id)


def full_scan(raw: sqlite3.Connection, session: Session, query: SearchQuery, now: datetime) -> tuple[list, list]:
    """Every match, exactly, by measuring the distance to every center: ids and distances in order."""
    return exact_matches(raw.execute("SELECT id, latitude, longitude FROM centers").fetchall(), session, query, now)


def exact_matches(rows: Sequence, session: Session, query: SearchQuery, now: datetime) -> tuple[list, list]:
    """The matches among (id, latitude, longitude) rows of every center, by exact distance, then
    the filters in SQL for those inside only, in the engine's order: ids and distances."""
    points = np.array(rows, dtype=np.float64)
    distances = vincenty_miles(query.origin.latitude, query.origin.longitude, points[:, 1], points[:, 2])
    inside = np.flatnonzero(distances <= query.radius_miles)
    ids = points[inside, 0].astype(np.int64)
    distances = distances[inside]
    conditions = filter_conditions(query.filters, now)
    if conditions and len(ids):
        kept = set(session.scalars(select(Center.id).where(Center.id.in_(ids.tolist()), *conditions)))
        keep = np.array([i in kept for i in ids.tolist()], dtype=bool)
        ids, distances = ids[keep], distances[keep]
    if not len(ids):
        return [], []

    def names_of(positions: np.ndarray) -> list[str]:
        found = dict(
            session.execute(select(Center.id, Center.name).where(Center.id.in_(ids[positions].tolist()))).all()
        )
        return [found[i] for i in ids[positions].tolist()]

    order = order_matches(ids, distances, names_of)
    return ids[order].tolist(), distances[order].tolist()


def recorded_sql(session: Session, query: SearchQuery, now: datetime) -> list[tuple[str, Any]]:
    """Every statement (and its parameters) that `find_centers_near` sends to SQLite answering
    from the database (`from_memory=False`): through
    SQLAlchemy, and straight to the driver (directory.search.statements)."""
    statements: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append((statement, parameters))

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", record)
    search_statements.LISTENERS.append(lambda sql, args: statements.append((sql, args)))
    try:
        find_centers_near(session, query, now=now, from_memory=False)
    finally:
        event.remove(bind, "before_cursor_execute", record)
        search_statements.LISTENERS.clear()
        session.expunge_all()
    return statements


def replay(raw: sqlite3.Connection, statements: list[tuple[str, Any]]) -> None:
    for statement, parameters in statements:
        raw.execute(statement, parameters).fetchall()


def _box(query: SearchQuery) -> BoundingBox:
    return bounding_box(query.origin.latitude, query.origin.longitude, query.radius_miles)


def measure_database(
    name: str,
    path: Path,
    queries: list[BenchQuery],
    *,
    now: datetime,
    warmup: int,
    repeats: int = REPEATS,
    pragmas: tuple[str, ...] = (),
    log: Callable[[str], None] = print,
) -> DatabaseRun:
    """Time every measurement on every search, in a shuffled order, and check the answers."""
    app = create_app({"DATABASE_URL": f"sqlite:///{path.resolve()}", "SECRET_KEY": "bench", "GEOCODER": "offline"})
    with app.app_context():
        session = db.session
        # The session's own DBAPI connection: the raw queries share its SQLite page cache.
        raw: sqlite3.Connection = session.connection().connection.driver_connection
        centers = session.scalar(select(func.count()).select_from(Center)) or 0
        run = DatabaseRun(name, path, centers, queries)
        filtered = [q for q in queries if q.filter_label != "none"] or queries
        run.plans = query_plans(raw, session, filtered[0].query, now)
        for pragma in pragmas:
            raw.execute(f"PRAGMA {pragma}")
        index_sql = [positional_sql(session, raw_index_select(q.query, now)) for q in queries]
        rtree_index_sql = [positional_sql(session, rtree_index_select(q.query, now)) for q in queries]
        log(f"{name}: {centers:,} centers; finding each search's page and SQL, then warming up ...")
        memory.enable(db.engine, background=False)
        copy = memory.refresh(db.engine)
        log(f"{name}: search rows of {len(copy):,} centers read into memory")
        engine_sql = [recorded_sql(session, q.query, now) for q in queries]
        pages = [matching_center_distances(session, q.query, now=now)[0][: q.query.per_page] for q in queries]
        measurements: dict[str, Callable[[int, SearchQuery], Any]] = {
            SEARCH: lambda i, q: find_centers_near(session, q, now=now),
            SEARCH_DB: lambda i, q: find_centers_near(session, q, now=now, from_memory=False),
            ENGINE_SQL: lambda i, q: replay(raw, engine_sql[i]),
            RAW_INDEX: lambda i, q: raw.execute(*index_sql[i]).fetchall(),
            RTREE_INDEX: lambda i, q: raw.execute(*rtree_index_sql[i]).fetchall(),
            RTREE_ONLY: lambda i, q: raw.execute(*rtree_sql(_box(q))).fetchall(),
            PAGE_LOAD: lambda i, q: list(load_listings(session, pages[i]).values()),
            FULL_SCAN: lambda i, q: full_scan(raw, session, q, now),
            BOX_SCAN: lambda i, q: raw.execute(*box_scan_sql(_box(q))).fetchall(),
        }
        run.turns = time_in_turns(
            session,
            measurements,
            queries,
            warmup=warmup,
            repeats=repeats,
            check=lambda i, bq, answers: check(
                run, session, bq, answers, full_list=i % FULL_LIST_CHECK_EVERY == 0, now=now
            ),
            log=log,
        )
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

    Each search runs the measurements `repeats` times in turns, each turn in its own shuffled
    order (seeded: the same in every run), so machine noise hits all alike and each measurement
    follows each of the others about equally often. A rotated fixed order would not do: the one
    after the full scans (which read a whole table and leave the CPU's caches cold) would always
    be the same one, and the raw query would always run right after the engine's own statements
    had warmed its pages. The median of the turns keeps a single stall (this machine's page
    cache being reclaimed, another process) out of a search's time: with one timing per search,
    PostgreSQL's p50 ratio of the same code measured 1.77x and 2.19x an hour apart. The
    measurements in `once` take the first turn only."""
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
                # Keep no ORM objects: each measurement starts with an empty identity map.
                if turn == 0:
                    answers[m] = summary(answer)
                del answer
                session.expunge_all()
        check(i, bench_query, answers)
        if (i + 1) % max(1, len(queries) // 10) == 0:
            log(f"  {i + 1}/{len(queries)} searches, {time.perf_counter() - started:.0f} s")
    return turns


def check(
    run: DatabaseRun,
    session: Session,
    bench_query: BenchQuery,
    answers: dict[str, Any],
    *,
    full_list: bool,
    now: datetime,
) -> None:
    """Compare every search-like answer with the full scan; record candidates and results."""
    query = bench_query.query
    scan_ids, scan_distances = answers[FULL_SCAN]
    index_ids = {row[0] for row in answers[RAW_INDEX]}
    run.results.append(len(scan_ids))
    run.candidates.append(len(index_ids))
    problems = []
    if not index_ids.issuperset(scan_ids):
        problems.append("the index box misses matches")
    if not {row[0] for row in answers[RTREE_INDEX]}.issuperset(scan_ids):
        problems.append("the R*Tree's box misses matches")
    if not {row[0] for row in answers[RTREE_ONLY]}.issuperset(row[0] for row in answers[BOX_SCAN]):
        problems.append("the R*Tree misses centers the table has in the box")
    for m, answer in answers.items():
        if isinstance(answer, Page):
            if answer.total != len(scan_ids) or answer.ids != scan_ids[: query.per_page]:
                problems.append(f"{m}: total {answer.total} and page {answer.ids[:5]}... differ from the full scan")
            elif not same_distances(answer.distances, scan_distances[: query.per_page]):
                problems.append(f"{m}: distances differ from the full scan")
    if sorted(answers[PAGE_LOAD]) != sorted(scan_ids[: query.per_page]):
        problems.append("the page loaded alone is not the full scan's page")
    if full_list:
        ids, distances = matching_center_distances(session, query, now=now)
        run.checked_full_lists += 1
        if ids != scan_ids or not same_distances(distances, scan_distances):
            problems.append("matching_center_distances differs from the full scan")
    run.problems.extend(f"{bench_query.label}: {p}" for p in problems)


@dataclass(frozen=True)
class Page:
    """What a search answered, without its ORM objects."""

    total: int
    ids: list[int]
    distances: list[float]


def summary(answer: Any) -> Any:
    """The answer in plain values: a Page for a search, ids for loaded centers, rows or ids otherwise."""
    if isinstance(answer, SearchResult):
        return Page(answer.total, [h.center.id for h in answer.hits], [h.distance_miles for h in answer.hits])
    if isinstance(answer, Sequence) and answer and isinstance(answer[0], Center | CenterListing):
        return [c.id for c in answer]
    return answer


def same_distances(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and np.allclose(a, b, rtol=0, atol=DISTANCE_TOLERANCE_MILES)


def query_plans(raw: sqlite3.Connection, session: Session, query: SearchQuery, now: datetime) -> dict[str, str]:
    """SQLite's plan for each SQL measurement, to show which reads the index and which scans."""

    def plan(sql: str, params: Any) -> str:
        return "; ".join(row[-1] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))

    plans = {
        f"search, statement {n}": plan(sql, params)
        for n, (sql, params) in enumerate(recorded_sql(session, query, now), start=1)
    }
    return {
        **plans,
        RAW_INDEX: plan(*positional_sql(session, raw_index_select(query, now))),
        RTREE_INDEX: plan(*positional_sql(session, rtree_index_select(query, now))),
        FULL_SCAN: plan("SELECT id, latitude, longitude FROM centers", ()),
        BOX_SCAN: plan(*box_scan_sql(_box(query))),
    }


def profile_search(
    path: Path, queries: list[BenchQuery], *, now: datetime, pragmas: tuple[str, ...] = (), top: int = 25
) -> str:
    """Where `find_centers_near`'s time goes over the workload: pyinstrument's call tree if it is
    installed (a sampling profiler, true to proportions), else cProfile's busiest functions."""
    app = create_app({"DATABASE_URL": f"sqlite:///{path.resolve()}", "SECRET_KEY": "bench", "GEOCODER": "offline"})
    with app.app_context():
        session = db.session
        for pragma in pragmas:
            session.execute(text(f"PRAGMA {pragma}"))
        for bench_query in queries[:3]:
            find_centers_near(session, bench_query.query, now=now)
        try:
            from pyinstrument import Profiler
        except ImportError:
            Profiler = None
        if Profiler is not None:
            sampler = Profiler(interval=0.0005)
            with sampler:
                for bench_query in queries:
                    find_centers_near(session, bench_query.query, now=now)
                    session.expunge_all()
            report = sampler.output_text(unicode=False, color=False)
        else:
            profiler = cProfile.Profile()
            profiler.enable()
            for bench_query in queries:
                find_centers_near(session, bench_query.query, now=now)
                session.expunge_all()
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
            report = out.getvalue()
        session.rollback()
        db.engine.dispose()
    return report
