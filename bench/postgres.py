"""The radius search benchmark on PostgreSQL: the same databases and searches as on SQLite.

Each SQLite benchmark database is copied, row for row (same ids), into a PostgreSQL database
made by the app's own migrations (so it has the PostGIS column and its GiST index, and the
search rows' point column with its GiST index), named `directory_bench_<key>` and kept for
later runs. For every search, in turns:

- search: `find_centers_near` as the app runs it: from the process's copy of the search rows
  in memory (memory.py, read from PostgreSQL before the measurements), the page's listings
  from PostgreSQL;
- search from the database: the same with `from_memory=False`: PostgreSQL's own statements
  (directory/search/postgres.py: counted in SQL through the GiST over
  `center_search_rows.lon_lat`, only the edge and the page's neighbourhood measured exactly);
- raw index SQL: the baseline of the 2x goal, the query any search through that index must
  run: the ids of the search rows whose point is in the engine's `bounding_box` (the GiST
  index's own question, index-only) that pass the same filters (`mask & bits != 0`; EXISTS on
  center_attributes for languages), as SQLite's raw index SQL is the R*Tree's box; compiled
  once per filter shape and sent straight to the driver, as the search's own statements are;
- raw ST_DWithin SQL: the PostGIS query of earlier runs, `SELECT id FROM centers WHERE
  ST_DWithin(location, origin, radius)` with the same filters (the wide rows' GiST), beside it
  (through SQLAlchemy, as in earlier runs);
- page load alone: loading the page's centers with their attributes, as the search does;
- full scan: every center's point through the DBAPI, the exact distance with NumPy, then the
  filters for the ones inside: the exact answer without any index.

Every search's total, page and distances are checked against the full scan and against the
SQLite run's answer for the same search on the same data.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy
from psycopg import RawCursor
from sqlalchemy import URL, Float, Select, bindparam, create_engine, func, literal_column, make_url, or_, select, text
from sqlalchemy.orm import Session

from bench.queries import BenchQuery
from bench.report import spread
from bench.search import (
    FULL_SCAN,
    PAGE_LOAD,
    REPEATS,
    SEARCH,
    SEARCH_DB,
    Page,
    exact_matches,
    median_of_turns,
    same_distances,
    time_in_turns,
)
from directory import schema
from directory.models import Center
from directory.search import memory
from directory.search import postgres as search_postgres
from directory.search import statements as search_statements
from directory.search.engine import (
    METERS_PER_MILE,
    FilterShape,
    bound_filter_conditions,
    filter_conditions,
    filter_shape,
    filter_values,
    find_centers_near,
    matching_center_distances,
    with_filters,
)
from directory.search.geodesy import bounding_box
from directory.search.listing import load_listings
from directory.search.masks import center_search_rows
from directory.search.statements import run_select

RAW_INDEX = "raw index SQL"
RAW_ST_DWITHIN = "raw ST_DWithin SQL"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
#: Tables copied from the SQLite database, in this order (foreign keys).
TABLES = ("centers", "center_attributes")


@dataclass
class PostgresRun:
    """Timings (seconds: each turn's, one per search) and checks on one PostgreSQL database."""

    name: str
    database: str
    centers: int
    queries: list[BenchQuery]
    #: Per measurement, the seconds of each turn (one list per turn, one value per search).
    turns: dict[str, list[list[float]]] = field(default_factory=dict)
    results: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    plans: dict[str, str] = field(default_factory=dict)
    #: Whether every total was also compared with the SQLite run's.
    against_sqlite: bool = False
    server: str = ""

    def seconds(self, measurement: str) -> np.ndarray:
        """Each search's seconds: the median of its turns."""
        return median_of_turns(self.turns[measurement])


def server_url(url: str, database: str) -> URL:
    return make_url(url).set(database=database)


def reachable(url: str) -> str | None:
    """None if the server answers and has PostGIS, else why not."""
    try:
        engine = create_engine(url)
        with engine.connect() as connection:
            if not schema.postgis_available(connection):
                return "PostGIS is not installed on the server (Debian: postgresql-15-postgis-3)"
        engine.dispose()
    except sqlalchemy.exc.OperationalError as error:
        return f"the server does not answer ({type(error.orig).__name__})"
    return None


def postgres_copy(url: str, sqlite_path: Path, log: Callable[[str], None]) -> str:
    """A PostgreSQL database holding exactly the rows of the SQLite benchmark database (built once)."""
    name = "directory_bench_" + sqlite_path.stem.replace("-", "_")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        state = connection.execute(
            text("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if state is not None and state[0] == "complete":
            admin.dispose()
            return name
        # Copies of earlier builds of the same database (another cache key) are stale: drop them.
        family = name.rsplit("_", 1)[0] + "_"
        stale = connection.scalars(
            text("SELECT datname FROM pg_database WHERE starts_with(datname, :family)"), {"family": family}
        ).all()
        for old in stale:
            log(f"Dropping the stale PostgreSQL copy {old}")
            connection.execute(text(f'DROP DATABASE "{old}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    log(f"Copying {sqlite_path.name} into PostgreSQL database {name} ...")
    started = time.perf_counter()
    engine = create_engine(server_url(url, name))
    schema.upgrade(engine)
    source = sqlite3.connect(sqlite_path)
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor:
            # Build the GiST indexes once at the end, not row by row.
            cursor.execute(f"DROP INDEX {schema.POSTGIS_INDEX}")
            cursor.execute(f"DROP INDEX {search_postgres.INDEX}")
            for table in TABLES:
                columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
                sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                with cursor.copy(sql) as copy:
                    rows = source.execute(f"SELECT {', '.join(columns)} FROM {table}")
                    while batch := rows.fetchmany(50_000):
                        for row in batch:
                            copy.write_row(row)
                log(f"  {table}: copied, {time.perf_counter() - started:.0f} s")
            cursor.execute(f"CREATE INDEX {schema.POSTGIS_INDEX} ON centers USING gist ({schema.POSTGIS_COLUMN})")
            cursor.execute(
                f"CREATE INDEX {search_postgres.INDEX} ON center_search_rows"
                f" USING gist ({search_postgres.COLUMN}) INCLUDE (center_id, mask)"
            )
            cursor.execute("SELECT setval(pg_get_serial_sequence('centers', 'id'), (SELECT max(id) FROM centers))")
    source.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE centers"))
        connection.execute(text("VACUUM ANALYZE center_attributes"))
        connection.execute(text("VACUUM ANALYZE center_search_rows"))  # filled by migration 0007's triggers
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f"COMMENT ON DATABASE \"{name}\" IS 'complete'"))
    admin.dispose()
    log(f"  done in {time.perf_counter() - started:.0f} s")
    return name


def within_radius(query) -> Any:
    """ST_DWithin(location, origin, radius) on the sphere: the GiST index's own question."""
    origin = func.geography(func.ST_SetSRID(func.ST_MakePoint(query.origin.longitude, query.origin.latitude), 4326))
    location = literal_column(f"centers.{schema.POSTGIS_COLUMN}")
    return func.ST_DWithin(location, origin, query.radius_miles * METERS_PER_MILE, False)


def in_bounding_box(query) -> Any:
    """The search row's point is in the engine's bounding box of the search (its GiST index's question)."""
    box = bounding_box(query.origin.latitude, query.origin.longitude, query.radius_miles)
    point = literal_column(f"center_search_rows.{search_postgres.COLUMN}")
    return or_(
        *(
            point.op("<@")(func.box(func.point(west, box.south), func.point(east, box.north)))
            for west, east in box.longitude_ranges
        )
    )


@functools.lru_cache(maxsize=64)
def raw_index_statement(shape: FilterShape, ranges: int) -> Select:
    """The raw index SQL of one filter shape and number of longitude ranges, with every value a
    bound parameter (`west0`, `east0`, ..., `south`, `north`, and the filters' as in `filter_values`)."""
    rows = center_search_rows.c
    point = literal_column(f"center_search_rows.{search_postgres.COLUMN}")
    corner = func.point
    boxes = [
        point.op("<@")(
            func.box(
                corner(bindparam(f"west{i}", type_=Float), bindparam("south", type_=Float)),
                corner(bindparam(f"east{i}", type_=Float), bindparam("north", type_=Float)),
            )
        )
        for i in range(ranges)
    ]
    return select(rows.center_id).where(or_(*boxes), *bound_filter_conditions(shape, rows.center_id, mask=rows.mask))


def raw_index(session: Session, query, now: datetime) -> list[int]:
    """Ids of the search rows in the bounding box (GiST on center_search_rows.lon_lat) passing the
    filters: one statement per shape, compiled once and sent straight to the driver, as the search's are."""
    box = bounding_box(query.origin.latitude, query.origin.longitude, query.radius_miles)
    params: dict[str, Any] = {**filter_values(query.filters, now), "south": box.south, "north": box.north}
    for i, (west, east) in enumerate(box.longitude_ranges):
        params[f"west{i}"], params[f"east{i}"] = west, east
    stmt = raw_index_statement(filter_shape(query.filters), len(box.longitude_ranges))
    return [row[0] for row in run_select(session, stmt, params)]


def raw_st_dwithin(session: Session, query, now: datetime) -> list[int]:
    """The ids within the radius (PostGIS on the sphere, GiST index) that pass the same filters."""
    within = within_radius(query)
    return session.scalars(with_filters(select(Center.id).where(within), query.filters, now)).all()


def full_scan(session: Session, query, now: datetime) -> tuple[list[int], list[float]]:
    """Every match, exactly, by measuring the distance to every center."""
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute("SELECT id, latitude, longitude FROM centers")
        rows = cursor.fetchall()
    return exact_matches(rows, session, query, now)


def measure_postgres(
    name: str,
    url: str,
    database: str,
    queries: list[BenchQuery],
    *,
    now: datetime,
    warmup: int,
    repeats: int = REPEATS,
    sqlite_totals: list[int] | None = None,
    log: Callable[[str], None] = print,
) -> PostgresRun:
    """Time every measurement on every search, in a shuffled order, and check the answers."""
    engine = create_engine(server_url(url, database))
    with Session(engine) as session:
        centers = session.scalar(select(func.count()).select_from(Center)) or 0
        run = PostgresRun(name, database, centers, queries, against_sqlite=sqlite_totals is not None)
        run.server = session.scalar(text("SELECT version()")).split(",")[0]
        postgis = session.scalar(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'"))
        run.server += f", PostGIS {postgis}"
        filtered = [q for q in queries if q.filter_label != "none"] or queries
        run.plans = explain(session, filtered[0].query, now)
        memory.enable(engine, background=False)
        copy = memory.refresh(engine)
        log(
            f"PostgreSQL {name}: {centers:,} centers, their search rows read into memory ({len(copy):,});"
            " finding each search's page, then warming up ..."
        )
        pages = [matching_center_distances(session, q.query, now=now)[0][: q.query.per_page] for q in queries]
        measurements: dict[str, Callable[[int, Any], Any]] = {
            SEARCH: lambda i, q: find_centers_near(session, q, now=now),
            SEARCH_DB: lambda i, q: find_centers_near(session, q, now=now, from_memory=False),
            RAW_INDEX: lambda i, q: raw_index(session, q, now),
            RAW_ST_DWITHIN: lambda i, q: raw_st_dwithin(session, q, now),
            PAGE_LOAD: lambda i, q: list(load_listings(session, pages[i]).values()),
            FULL_SCAN: lambda i, q: full_scan(session, q, now),
        }
        run.turns = time_in_turns(
            session,
            measurements,
            queries,
            warmup=warmup,
            repeats=repeats,
            check=lambda i, bq, answers: check(run, bq, answers, sqlite_totals[i] if sqlite_totals else None),
            log=log,
        )
        session.rollback()
    engine.dispose()
    return run


def check(run: PostgresRun, bench_query: BenchQuery, answers: dict[str, Any], sqlite_total: int | None) -> None:
    query = bench_query.query
    scan_ids, scan_distances = answers[FULL_SCAN]
    run.results.append(len(scan_ids))
    problems = []
    for m in (SEARCH, SEARCH_DB):
        page: Page = answers[m]
        if page.total != len(scan_ids) or page.ids != scan_ids[: query.per_page]:
            problems.append(f"{m}: total {page.total} and page {page.ids[:5]}... differ from the full scan")
        elif not same_distances(page.distances, scan_distances[: query.per_page]):
            problems.append(f"{m}: distances differ from the full scan")
        if sqlite_total is not None and page.total != sqlite_total:
            problems.append(f"{m}: total {page.total} differs from SQLite's {sqlite_total}")
    if sorted(answers[PAGE_LOAD]) != sorted(scan_ids[: query.per_page]):
        problems.append("the page loaded alone is not the full scan's page")
    run.problems.extend(f"{bench_query.label}: {p}" for p in problems)


def explain(session: Session, query, now: datetime) -> dict[str, str]:
    """PostgreSQL's plans for a filtered search: each statement the search sends, the raw index
    SQL and the raw ST_DWithin SQL (the scan and join nodes of each, in one line)."""
    sent: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, parameters))

    def record_direct(statement: str, parameters: Any) -> None:
        sent.append((statement, parameters))

    find_centers_near(session, query, now=now, from_memory=False)  # any first-use lookups happen here, not below
    engine = session.get_bind().engine
    sqlalchemy.event.listen(engine, "before_cursor_execute", record)
    search_statements.LISTENERS.append(record_direct)
    try:
        find_centers_near(session, query, now=now, from_memory=False)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", record)
        search_statements.LISTENERS.remove(record_direct)
    session.expunge_all()
    statements = {f"search, statement {n}": sql_and_params for n, sql_and_params in enumerate(sent, 1)}
    for name, stmt in [
        (RAW_INDEX, select(center_search_rows.c.center_id).where(in_bounding_box(query))),
        (RAW_ST_DWITHIN, select(Center.id).where(within_radius(query))),
    ]:
        rows = center_search_rows.c
        if name == RAW_INDEX:
            stmt = stmt.where(*filter_conditions(query.filters, now, rows.center_id, mask=rows.mask))
        else:
            stmt = with_filters(stmt, query.filters, now)
        compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        statements[name] = (str(compiled), None)
    plans = {}
    raw = session.connection().connection.driver_connection
    for name, (sql, params) in statements.items():
        # Sent straight to the driver: `$1` placeholders and a list of values, for a RawCursor.
        with RawCursor(raw) if isinstance(params, list) else raw.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            lines = [row[0].strip() for row in cursor.fetchall()]
            nodes = [line.split("  (cost")[0].lstrip("-> ") for line in lines if "Scan" in line or "Join" in line]
            plans[name] = "; ".join(nodes)
    return plans


def render(runs: list[PostgresRun], ms: Callable[[np.ndarray, float], float], fmt: Callable[[float], str]) -> list[str]:
    """The PostgreSQL results as Markdown lines (inserted in the search benchmark's block)."""
    if not runs:
        return []
    lines = ["", "### PostgreSQL", "", f"Server: {runs[0].server}.", ""]
    largest = runs[-1]
    raw, scan = largest.seconds(RAW_INDEX), largest.seconds(FULL_SCAN)
    lines += [
        f"Goals, judged on the {largest.centers:,}-center database:",
        "",
        f"| goal at {largest.centers:,} centers | p50 | p95 | single turns (p50 / p95) | met |",
        "|---|---:|---:|---:|---|",
    ]
    for m, name in ((SEARCH, "search (as the app runs it: the search rows in memory)"), (SEARCH_DB, SEARCH_DB)):
        s = largest.seconds(m)
        over = [ms(s, 50) / ms(raw, 50), ms(s, 95) / ms(raw, 95)]
        under = [ms(scan, 50) / ms(s, 50), ms(scan, 95) / ms(s, 95)]
        lines.append(
            f"| {name}: within 2x of the raw index SQL | {over[0]:.2f}x | {over[1]:.2f}x"
            f" | {spread(largest.turns, m, RAW_INDEX)} | {'yes' if max(over) <= 2 else 'no'} |"
        )
        lines.append(
            f"| {name}: at least 100x faster than the full scan | {under[0]:.3g}x | {under[1]:.3g}x"
            f" | {spread(largest.turns, FULL_SCAN, m)} | {'yes' if min(under) >= 100 else 'no'} |"
        )
    for run in runs:
        lines += ["", f"#### PostgreSQL, {run.name}: {run.centers:,} centers", ""]
        results = np.array(run.results)
        lines += [
            f"{len(run.queries)} searches. Per search: {np.mean(results):,.0f} results on average "
            f"(median {np.median(results):,.0f}, max {np.max(results):,}).",
            "",
        ]
        lines += ["| measurement | p50 ms | p95 ms | mean ms |", "|---|---:|---:|---:|"]
        for m in run.turns:
            t = run.seconds(m)
            lines.append(f"| {m} | {fmt(ms(t, 50))} | {fmt(ms(t, 95))} | {fmt(float(np.mean(t)) * 1000)} |")
        lines += ["", "| ratio, same run | of p50s | of p95s | median per search |", "|---|---:|---:|---:|"]
        for label, a, b in [
            ("search / raw index SQL (goal at 1M: at most 2)", SEARCH, RAW_INDEX),
            ("full scan / search (goal at 1M: at least 100)", FULL_SCAN, SEARCH),
            ("search from the database / raw index SQL", SEARCH_DB, RAW_INDEX),
            ("search from the database / search", SEARCH_DB, SEARCH),
            ("search / raw ST_DWithin SQL", SEARCH, RAW_ST_DWITHIN),
            ("full scan / raw index SQL (what the index alone gains)", FULL_SCAN, RAW_INDEX),
            ("raw ST_DWithin SQL / raw index SQL", RAW_ST_DWITHIN, RAW_INDEX),
        ]:
            x, y = run.seconds(a), run.seconds(b)
            lines.append(
                f"| {label} | {fmt(ms(x, 50) / ms(y, 50))} | {fmt(ms(x, 95) / ms(y, 95))} "
                f"| {fmt(float(np.median(x / y)))} |"
            )
        lines += ["", "| results per search (p50 ms) | searches | search | raw index SQL | raw ST_DWithin SQL |"]
        lines += ["|---|---:|---:|---:|---:|"]
        for low, high in [(0, 1_000), (1_000, 5_000), (5_000, 15_000), (15_000, 10**9)]:
            chosen = (results >= low) & (results < high)
            if chosen.any():
                cells = [fmt(ms(run.seconds(m)[chosen], 50)) for m in (SEARCH, RAW_INDEX, RAW_ST_DWITHIN)]
                span = f"{low:,} or more" if high == 10**9 else f"{low:,} to {high - 1:,}"
                lines.append(f"| {span} | {int(chosen.sum())} | " + " | ".join(cells) + " |")
        lines += ["", "Plans (a filtered search):", ""]
        lines += [f"- {name}: `{plan}`" for name, plan in run.plans.items()]
        lines += [
            "",
            "Checks: "
            + (
                "every search's total, page and distances agree with the full scan"
                + (", and every total with SQLite's." if run.against_sqlite else " (SQLite not run).")
                if not run.problems
                else f"{len(run.problems)} problems: " + "; ".join(run.problems[:5])
            ),
        ]
    return lines
