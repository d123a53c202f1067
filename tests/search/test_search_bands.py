"""SQLite: the search counts band by band through the band index (migration 0011)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from geopy.distance import geodesic
from sqlalchemy import select, text

import directory
from directory.search import engine
from directory.search.engine import SearchFilters, SearchQuery, find_centers_near, matching_center_distances
from directory.search.geocoding import Place
from directory.search.geodesy import bounding_box, degree_lengths, geodesic_miles
from directory.search.statements import compiled_statement, sqlite_connection
from tests.conftest import TEST_DATABASE_URL
from tests.factories import add_centers, center_record

pytestmark = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite only (the SQLite pass runs it)")

MIGRATION = importlib.import_module("directory.migrations.versions.0011_search_row_bands")


def test_the_engine_and_the_migration_cut_the_same_bands():
    assert engine.BANDS_PER_DEGREE == MIGRATION.BANDS_PER_DEGREE


def test_sqlite_puts_each_row_in_the_band_the_engine_computes(session):
    """The engine lists the bands from the box's edges by its own arithmetic: for the count to
    be exact, SQLite's generated column must give every latitude the same band, edges included."""
    edges = [
        k / engine.BANDS_PER_DEGREE for k in range(-90 * engine.BANDS_PER_DEGREE, 90 * engine.BANDS_PER_DEGREE, 37)
    ]
    latitudes = [y for edge in edges for y in (edge, math.nextafter(edge, -91), math.nextafter(edge, 91))]
    latitudes = [y for y in latitudes if -90 <= y <= 90] + [-90.0, 90.0, 0.0, -0.0, 41.8858, -33.8688]
    add_centers(
        session, *(center_record(external_id=f"t:{i}", latitude=y, longitude=0.0) for i, y in enumerate(latitudes))
    )
    session.commit()
    rows = session.execute(text("SELECT latitude, band FROM center_search_rows")).all()
    assert len(rows) == len(latitudes)
    assert [band for _, band in rows] == [engine._band(latitude) for latitude, _ in rows]


def test_the_band_statements_read_the_band_index_alone(session):
    """Every shape of filter seeks the band index and reads nothing but its entries (a language
    or the confirmed group also looks up its own table, as before)."""
    connection = sqlite_connection(session)
    shapes = [
        SearchFilters(),
        SearchFilters(medication=("naltrexone",), payment=("medicaid",)),
        SearchFilters(pathway="detox_naltrexone", accepting_referrals=True),
        SearchFilters(language=("es",), verified_only=True),
    ]
    for filters in shapes:
        for confirmed in (None, True):
            for stmt in (
                engine._band_count_statement(engine.filter_shape(filters), confirmed),
                engine._band_near_statement(engine.filter_shape(filters), confirmed),
            ):
                compiled = compiled_statement(stmt, session.get_bind().dialect)
                plan = [
                    row[3]
                    for row in connection.execute(f"EXPLAIN QUERY PLAN {compiled.sql}", [None] * len(compiled.names))
                ]
                searches = [step for step in plan if "center_search_rows" in step]
                assert searches == [
                    "SEARCH center_search_rows USING COVERING INDEX ix_center_search_rows_band"
                    " (band=? AND longitude>? AND longitude<?)"
                ], plan


def _band_edges(session, lat: float, lon: float, radius: float) -> list[tuple[float, float]]:
    """Points on (and a float's width either side of) every line the band count draws: each
    band's southern edge, and the longitudes where its middle and its reach end, as SQLite
    computes them for this search."""
    box = bounding_box(lat, lon, radius)
    params = {
        **engine._box_values(lat, lon, box, degree_lengths(box)),
        **engine._band_values(box),
        "inner": (radius - engine.RTREE_SLACK_MILES) ** 2,
        "outer": (radius + engine.RTREE_SLACK_MILES) ** 2,
    }
    bands = session.execute(select(engine.band_bounds()), params).all()
    assert len(bands) > 2 * radius / 69 * engine.BANDS_PER_DEGREE
    points = []
    for band, *longitudes in bands:
        edge = (band - 90 * engine.BANDS_PER_DEGREE) / engine.BANDS_PER_DEGREE
        for y in (edge, math.nextafter(edge, -91), math.nextafter(edge, 91), edge + 0.5 / engine.BANDS_PER_DEGREE):
            for x in longitudes:
                if abs(x) <= 180:
                    points += [(y, x), (y, math.nextafter(x, -181)), (y, math.nextafter(x, 181))]
    return points


@pytest.mark.parametrize(("latitude", "radius"), [(0.0, 30.0), (35.0, 30.0), (64.0, 30.0), (-33.9, 3.0), (41.9, 120.0)])
def test_points_on_the_band_lines_and_the_circle_are_counted_once(session, latitude, radius):
    """Points exactly on each band's edges and on the ends of its certain and possible
    longitudes, a float's width either side, and a whisker inside and outside the circle in
    every direction: the total and the order equal a brute-force count with the same distances."""
    lon = -100.0
    points = _band_edges(session, latitude, lon, radius)
    for bearing in range(0, 360, 15):
        for miles in (radius - 0.001, radius - 1e-5, radius + 1e-5, radius + 0.001):
            point = geodesic(miles=miles).destination((latitude, lon), bearing)
            points.append((point.latitude, point.longitude))
    add_centers(
        session, *(center_record(external_id=f"t:{i}", latitude=y, longitude=x) for i, (y, x) in enumerate(points))
    )
    session.commit()
    distances = geodesic_miles(latitude, lon, np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    expected = sorted(d for d in distances.tolist() if d <= radius)
    query = SearchQuery(Place("here", latitude, lon), radius_miles=radius, per_page=100)
    result = find_centers_near(session, query)
    assert result.total == len(expected) > 0
    assert [h.distance_miles for h in result.hits] == expected[:100]
    ids, _ = matching_center_distances(session, query)  # the one-pass path, through the R*Tree
    assert [h.center.id for h in result.hits] == ids[:100]
    last = find_centers_near(session, SearchQuery(query.origin, radius, per_page=100, page=result.pages))
    assert [h.center.id for h in last.hits] == ids[(result.pages - 1) * 100 :]


def test_a_sqlite_without_math_functions_searches_with_pythons_square_root(session):
    """The app gives a connection whose SQLite was built without its math functions a `sqrt`
    of its own (directory._connection_settings); the band count gives the same answer with it."""
    lat, lon, radius = 41.9, -87.6, 40.0
    rng = np.random.default_rng(3)
    points = list(zip(lat + rng.uniform(-1, 1, 300), lon + rng.uniform(-1.3, 1.3, 300), strict=True))
    add_centers(
        session, *(center_record(external_id=f"t:{i}", latitude=y, longitude=x) for i, (y, x) in enumerate(points))
    )
    session.commit()
    query = SearchQuery(Place("here", lat, lon), radius_miles=radius, per_page=100)
    expected = find_centers_near(session, query)
    connection = sqlite_connection(session)
    connection.create_function("sqrt", 1, directory._sqrt, deterministic=True)  # replaces SQLite's own
    assert connection.execute("SELECT sqrt(2.25), sqrt(-1.0), sqrt(NULL)").fetchone() == (1.5, None, None)
    result = find_centers_near(session, query)
    assert (result.total, [h.center.id for h in result.hits]) == (expected.total, [h.center.id for h in expected.hits])
    distances = geodesic_miles(lat, lon, np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    assert result.total == int(np.count_nonzero(distances <= radius)) > 50
