"""PostgreSQL's search path (directory/search/postgres.py): counted in SQL through the GiST over
the search rows' points, only the edge and the page's neighbourhood measured; the same answers
as the one-pass path and as a brute-force geodesic scan.

The search tests in test_engine.py run on PostgreSQL in the PostgreSQL pass too; these check
what is particular to this path.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from geopy.distance import geodesic
from psycopg import RawCursor
from sqlalchemy import event, literal_column, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from directory.models import Center
from directory.models.base import utcnow
from directory.search import memory, postgres, statements
from directory.search.engine import SearchFilters, SearchQuery, find_centers_near, matching_center_distances
from directory.search.geocoding import Place
from directory.search.geodesy import bounding_box, degree_lengths, geodesic_miles
from directory.search.masks import center_search_rows
from tests.conftest import TEST_DATABASE_URL
from tests.factories import add_centers, center_record
from tests.search.test_engine import random_places

pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL, reason="PostgreSQL only (the PostgreSQL pass runs it)")


@pytest.fixture(autouse=True)
def from_the_database(monkeypatch):
    """These tests are of PostgreSQL's own statements: the searches here never answer from the
    copy of the search rows in memory (memory.py; tests/search/test_memory.py)."""
    monkeypatch.setattr(memory, "index_for", lambda session: None)


def test_migration_adds_the_point_column_and_its_index(session):
    assert postgres.has_points(session)
    index = session.execute(
        text("SELECT indexdef FROM pg_indexes WHERE tablename = 'center_search_rows' AND indexname = :name"),
        {"name": postgres.INDEX},
    ).scalar_one()
    assert f"USING gist ({postgres.COLUMN}) INCLUDE (center_id, mask)" in index


def _points(session: Session) -> set[tuple]:
    return set(
        session.execute(text(f"SELECT center_id, {postgres.COLUMN}[0], {postgres.COLUMN}[1] FROM center_search_rows"))
    )


def test_the_point_follows_every_write(session):
    add_centers(session, center_record(external_id="t:1", latitude=40.5, longitude=-75.25))
    session.commit()
    (center_id,) = session.scalars(select(Center.id)).all()
    assert _points(session) == {(center_id, -75.25, 40.5)}
    session.execute(update(Center).where(Center.id == center_id).values(latitude=41.125, longitude=-80.0625))
    session.commit()
    assert _points(session) == {(center_id, -80.0625, 41.125)}
    expected = set(
        session.execute(
            select(center_search_rows.c.center_id, center_search_rows.c.longitude, center_search_rows.c.latitude)
        )
    )
    assert _points(session) == expected


def _sent_statements(session: Session, query: SearchQuery) -> list[tuple[str, object]]:
    """Every statement the search sends, through SQLAlchemy or straight to the driver."""
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, parameters))

    def record_direct(statement: str, parameters: object) -> None:
        sent.append((statement, parameters))

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", record)
    statements.LISTENERS.append(record_direct)
    try:
        find_centers_near(session, query)
    finally:
        event.remove(engine, "before_cursor_execute", record)
        statements.LISTENERS.remove(record_direct)
    return sent


def _plan(session: Session, sql: str, params: object) -> str:
    """EXPLAIN of a statement as it was sent: through SQLAlchemy (named parameters) or straight
    to the driver (`$1` placeholders, a list of values: through a RawCursor, as it was sent)."""
    raw = session.connection().connection.driver_connection
    with RawCursor(raw) if isinstance(params, list) else raw.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_count_and_the_neighbourhood_read_the_index_alone(session):
    """One statement counts, reads the nearest and loads the page: the search rows only through
    the GiST index (index-only), the nearest once for the count and the page alike (the page's
    masks too), and the centers rows only for the page, by primary key."""
    add_centers(
        session,
        *(center_record(external_id=f"t:{i}", latitude=40 + i / 200, longitude=-75 + i / 300) for i in range(60)),
    )
    session.commit()
    session.execute(text("SET enable_seqscan = off"))  # a 60-row table would otherwise be scanned
    query = SearchQuery(Place("here", 40.05, -74.95), radius_miles=5, filters=SearchFilters(payment=("self_pay",)))
    sent = _sent_statements(session, query)
    plans = [_plan(session, sql, params) for sql, params in sent if "lon_lat" in sql]
    assert len(plans) == 1, sent  # the count, with the neighbourhood and the page
    (plan,) = plans
    scans = [line.strip() for line in plan.splitlines() if " on center" in line]
    by_point = [line for line in scans if postgres.INDEX in line]
    assert len(by_point) == 6, plan  # the inner box, the four strips and the nearest, each once
    assert all(f"Index Only Scan using {postgres.INDEX}" in line for line in by_point), plan
    assert plan.count("Order By: (lon_lat <->") == 1, plan
    # The page's centers rows by id (and their languages from center_attributes); their masks
    # come from the nearest's index entries, not from the search rows again.
    on_centers = [line for line in scans if " on centers " in line]
    assert on_centers and all(" using pk_centers " in line for line in on_centers), plan
    assert all(postgres.INDEX in line for line in scans if " on center_search_rows " in line), plan


def test_the_page_comes_with_the_count_in_one_round_trip(seeded_session, monkeypatch):
    """The page's listings are read by the count's own statement, not loaded after it, with a
    language filter too; the answer equals the one-pass path's, ties broken by name included."""
    pipelined = []
    monkeypatch.setattr(
        statements, "run_selects", lambda *a, **k: pipelined.append(1) or real_run_selects(*a, **k), raising=True
    )
    monkeypatch.setattr(postgres, "run_selects", statements.run_selects)
    monkeypatch.setattr(postgres, "load_listings", lambda *a: pytest.fail("the page was loaded after the count"))
    postgres.has_points(seeded_session)  # looked up once per engine
    spanish = SearchFilters(language=("es",))  # languages have no mask bits: an array parameter
    direct: list[str] = []
    for i, origin in enumerate(random_places(10, seed=5)):
        query = SearchQuery(origin, radius_miles=50, filters=spanish if i % 2 else SearchFilters())
        direct.clear()
        statements.LISTENERS.append(lambda sql, params: direct.append(sql))
        try:
            sent = _sent_statements(seeded_session, query)
        finally:
            statements.LISTENERS.pop()
        assert len(sent) == 1 and "JOIN centers" in sent[0][0], sent  # the count, with the page's listings
        assert direct == [sql for sql, _ in sent]  # straight to the driver
        assert all("$1" in sql and "%(" not in sql for sql in direct)  # as PostgreSQL takes them (RawCursor)
        ids, distances = matching_center_distances(seeded_session, query)
        result = find_centers_near(seeded_session, query)
        assert [h.center.id for h in result.hits] == ids[:20]
        assert [h.distance_miles for h in result.hits] == pytest.approx(distances[:20], rel=0, abs=1e-9)
    assert pipelined


real_run_selects = statements.run_selects


def _prepared(session: Session) -> dict[str, tuple[int, int]]:
    """The connection's prepared statements: SQL -> (generic plans, custom plans) run so far."""
    rows = session.execute(text("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"))
    return {sql: (generic, custom) for sql, generic, custom in rows}


def test_the_search_statements_run_with_generic_plans_and_leave_the_setting_as_it_was(seeded_session):
    """Every statement of the search is prepared at its first run and runs with its generic plan
    (planned once, not for each search's values), from the first search on; the rest of the
    transaction plans as the server is configured to."""
    sent: list[str] = []
    statements.LISTENERS.append(lambda sql, params: sent.append(sql))
    try:
        for i, origin in enumerate(random_places(6, seed=11)):
            filters = SearchFilters(payment=("medicaid",)) if i % 2 else SearchFilters()
            query = SearchQuery(
                origin, radius_miles=60, filters=filters, sort="confirmed_first" if i % 3 else "distance"
            )
            ids, _ = matching_center_distances(seeded_session, query)
            result = find_centers_near(seeded_session, query)
            assert [h.center.id for h in result.hits] == ids[:20]
            assert seeded_session.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"
    finally:
        statements.LISTENERS.pop()
    prepared = _prepared(seeded_session)
    searched = {sql for sql in sent if "lon_lat" in sql}
    assert len(searched) >= 4  # counts (with their pages), of two filter shapes and both sort orders
    for sql in searched:
        generic, custom = prepared[sql]
        assert generic >= 1 and custom == 0, (generic, custom, sql[:200])


def test_a_failed_statement_leaves_no_generic_plan_setting_behind(session):
    """The setting is local to the transaction: a statement failing between it and its reset
    (the pipeline skips the rest) leaves the connection planning as configured once rolled back."""
    failing = select(literal_column("1") / literal_column("0"))
    with pytest.raises(DBAPIError, match="division by zero"):
        statements.run_selects(session, (failing, {}), generic_plans=True)
    session.rollback()
    assert session.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"
    (rows,) = statements.run_selects(session, (select(literal_column("2")), {}), generic_plans=True)
    assert [tuple(r) for r in rows] == [(2,)]
    assert session.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"


def _split(lat: float, lon: float, radius: float) -> tuple[float, float, float, float]:
    """The inner box of `postgres.count_and_rank` (south, west, north, east)."""
    lengths = degree_lengths(bounding_box(lat, lon, radius))
    half = max(0.0, radius - postgres.SLACK_MILES) / math.sqrt(2)
    dlat, dlon = half / lengths.meridian_max, half / lengths.parallel_max
    return lat - dlat, lon - dlon, lat + dlat, lon + dlon


@pytest.mark.parametrize("latitude", [0.0, 35.0, 64.0])
def test_points_on_the_split_lines_and_the_circle_are_counted_once(session, latitude):
    """Points exactly on the lines between the inner box and the strips, at its corners, and a
    whisker inside and outside the circle in every direction: the total and the order equal a
    brute-force count with the same distances."""
    lon, radius = -100.0, 30.0
    south, west, north, east = _split(latitude, lon, radius)
    points = [(y, x) for y in (south, north, latitude) for x in (west, east, lon)]
    points += [(math.nextafter(y, d), x) for y in (south, north) for d in (-math.inf, math.inf) for x in (west, east)]
    points += [(y, math.nextafter(x, d)) for y in (south, north) for x in (west, east) for d in (-math.inf, math.inf)]
    for bearing in range(0, 360, 30):
        for miles in (radius - 0.001, radius - 1e-5, radius + 1e-5, radius + 0.001):
            point = geodesic(miles=miles).destination((latitude, lon), bearing)
            points.append((point.latitude, point.longitude))
    lats, lons = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    add_centers(
        session,
        *(center_record(external_id=f"t:{i}", latitude=y, longitude=x) for i, (y, x) in enumerate(points)),
    )
    session.commit()
    distances = geodesic_miles(latitude, lon, lats, lons)
    origin = Place("here", latitude, lon)
    result = find_centers_near(session, SearchQuery(origin, radius_miles=radius, per_page=100))
    assert result.total == int(np.count_nonzero(distances <= radius))
    expected = sorted(d for d in distances.tolist() if d <= radius)
    assert [h.distance_miles for h in result.hits] == expected[:100]


def test_the_path_is_taken_and_agrees_with_the_one_pass_path(seeded_session):
    """Random places, radii, filters (languages and verified only too), sorts and pages: totals,
    pages and distances equal those of the complete list the one-pass path measures."""
    rng = random.Random(23)
    now = utcnow()
    filter_choices = [
        SearchFilters(),
        SearchFilters(level_of_care=("residential",), payment=("medicaid", "self_pay")),
        SearchFilters(language=("es",)),
        SearchFilters(verified_only=True, medication=("buprenorphine",)),
        SearchFilters(accepting_referrals=False),
        SearchFilters(population=("veterans",), pathway="detox_naltrexone"),
    ]
    for origin in random_places(20, seed=31):
        radius = rng.choice([1, 10, 25, 50, 150, 500])
        filters = rng.choice(filter_choices)
        sort = rng.choice(["distance", "confirmed_first"])
        ids, distances = matching_center_distances(
            seeded_session, SearchQuery(origin, radius, filters, sort=sort), now=now
        )
        for page, per_page in [(1, 1), (1, 20), (3, 20), (2, 100)]:
            query = SearchQuery(origin, radius, filters, page=page, per_page=per_page, sort=sort)
            result = postgres.find_centers_near(seeded_session, query, now=now)
            assert result is not None, origin  # none of these boxes crosses the antimeridian
            window = slice((page - 1) * per_page, page * per_page)
            label = (origin.label, radius, filters, sort, page, per_page)
            assert result.total == len(ids), label
            assert [h.center.id for h in result.hits] == ids[window], label
            assert [h.distance_miles for h in result.hits] == pytest.approx(distances[window], rel=0, abs=1e-9)


def test_boxes_across_the_antimeridian_take_the_one_pass_path(session):
    add_centers(
        session, center_record(latitude=51.88, longitude=179.9), center_record(latitude=51.88, longitude=-179.9)
    )
    session.commit()
    query = SearchQuery(Place("Adak", 51.88, 179.95), radius_miles=20)
    assert postgres.find_centers_near(session, query, now=utcnow()) is None
    assert find_centers_near(session, query).total == 2


def test_a_neighbourhood_the_nearest_do_not_cover_is_measured_apart(session):
    """120 centers at one point due east of the origin at latitude 60: the nearest in degrees
    guarantee no radius that holds any of them, so the page comes from the neighbourhood
    statement (index-only too); the answer equals the one-pass path's."""
    add_centers(session, *(center_record(external_id=f"t:{i}", latitude=60.0, longitude=-100.01) for i in range(120)))
    add_centers(session, center_record(external_id="n", latitude=60.02, longitude=-100.0))
    session.commit()
    session.execute(text("SET enable_seqscan = off"))
    query = SearchQuery(Place("here", 60.0, -100.0), radius_miles=5)
    sent = [(sql, params) for sql, params in _sent_statements(session, query) if "lon_lat" in sql]
    assert len(sent) == 2  # the count with the nearest (and the page's listings), then the neighbourhood
    plan = _plan(session, *sent[1])
    assert f"Index Only Scan using {postgres.INDEX}" in plan, plan
    for page in (1, 2, 7):
        paged = SearchQuery(query.origin, 5, page=page)
        ids, distances = matching_center_distances(session, paged)
        result = find_centers_near(session, paged)
        assert result.total == len(ids) == 121
        assert [h.center.id for h in result.hits] == ids[(page - 1) * 20 : page * 20]


def test_a_point_in_a_box_is_decided_exactly(session):
    """The split of the count relies on `point <@ box` comparing exactly, edges included, in the
    operator and in the GiST: a point one float step outside a box is outside, one on its edge inside."""
    just_outside = math.nextafter(1.0, math.inf)
    add_centers(
        session,
        center_record(external_id="edge", latitude=1.0, longitude=0.5),
        center_record(external_id="out", latitude=just_outside, longitude=0.5),
    )
    session.commit()
    box = "box(point(0, 0), point(1, 1))"
    assert session.execute(text(f"SELECT point(0.5, :y) <@ {box}"), {"y": just_outside}).scalar() is False
    assert session.execute(text(f"SELECT point(0.5, 1.0) <@ {box}")).scalar() is True
    for seqscan in ("on", "off"):
        session.execute(text(f"SET enable_seqscan = {seqscan}"))
        found = session.execute(text(f"SELECT count(*) FROM center_search_rows WHERE lon_lat <@ {box}")).scalar()
        assert found == 1
