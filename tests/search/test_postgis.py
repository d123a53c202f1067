"""PostgreSQL's spatial index: PostGIS geography + GiST.

The search tests in test_service.py run on PostgreSQL in the PostgreSQL pass, so they check
the PostGIS path against the brute-force scan too; these tests check what is particular to it.
"""

from __future__ import annotations

import math

import pytest
from geopy.distance import geodesic
from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from directory import schema
from directory.models import Center
from directory.search.geocoding import Place
from directory.search.service import SearchQuery, find_centers_near
from tests.conftest import TEST_DATABASE_URL, skip_missing_service
from tests.factories import add_centers, center_record

pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL, reason="PostgreSQL only (the PostgreSQL pass runs it)")


def postgis_installed(session: Session) -> bool:
    return schema.postgis_available(session.connection())


@pytest.fixture
def postgis(session: Session) -> Session:
    if not postgis_installed(session):
        skip_missing_service("PostGIS is not installed on this server (scripts/test.sh installs it)")
    return session


def test_migrations_add_the_location_column_and_its_gist_index(postgis):
    assert schema.has_postgis_locations(postgis.connection())
    index = postgis.execute(
        text("SELECT indexdef FROM pg_indexes WHERE tablename = 'centers' AND indexname = :name"),
        {"name": schema.POSTGIS_INDEX},
    ).scalar_one()
    assert "USING gist (location)" in index


def test_the_search_uses_the_gist_index(postgis):
    add_centers(
        postgis, *(center_record(external_id=f"t:{i}", latitude=40 + i / 100, longitude=-75.0) for i in range(50))
    )
    postgis.commit()
    postgis.execute(text("SET enable_seqscan = off"))  # a 50-row table would otherwise be scanned
    origin = Place("40.1,-75", 40.1, -75.0)
    sent = []
    engine = postgis.get_bind().engine

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert find_centers_near(postgis, SearchQuery(origin, radius_miles=5)).total > 0
    finally:
        event.remove(engine, "before_cursor_execute", record)
    statement, parameters = next((s, p) for s, p in sent if "ST_DWithin" in s)
    plan = "\n".join(row[0] for row in postgis.connection().exec_driver_sql("EXPLAIN " + statement, parameters))
    assert schema.POSTGIS_INDEX in plan, plan


def test_moved_and_new_centers_are_in_the_index_at_once(postgis):
    add_centers(postgis, center_record(external_id="t:1", latitude=40.0, longitude=-75.0))
    postgis.commit()
    here = Place("41,-80", 41.0, -80.0)
    assert find_centers_near(postgis, SearchQuery(here, radius_miles=10)).total == 0
    postgis.execute(update(Center).where(Center.external_id == "t:1").values(latitude=41.01, longitude=-80.01))
    postgis.commit()
    assert find_centers_near(postgis, SearchQuery(here, radius_miles=10)).total == 1


@pytest.mark.parametrize("latitude", [0.0, 30.0, 60.0, 89.0])
def test_points_just_inside_the_ellipsoid_circle_are_found(postgis, latitude):
    """The sphere overstates north-south distances near the equator by up to 0.57%; the
    widened ST_DWithin must still hold a point 1 foot inside the WGS-84 circle, in every direction."""
    radius = 100.0
    records = []
    for bearing in range(0, 360, 45):
        point = geodesic(miles=radius - 0.0002).destination((latitude, 10.0), bearing)
        records.append(center_record(external_id=f"t:{bearing}", latitude=point.latitude, longitude=point.longitude))
        outside = geodesic(miles=radius + 0.0002).destination((latitude, 10.0), bearing)
        records.append(
            center_record(external_id=f"o:{bearing}", latitude=outside.latitude, longitude=outside.longitude)
        )
    add_centers(postgis, *records)
    postgis.commit()
    origin = Place("here", latitude, 10.0)
    result = find_centers_near(postgis, SearchQuery(origin, radius_miles=radius, per_page=100))
    found = {hit.center.external_id for hit in result.hits}
    assert found == {f"t:{bearing}" for bearing in range(0, 360, 45)}
    assert all(math.isclose(hit.distance_miles, radius, abs_tol=0.001) for hit in result.hits)


def test_init_db_adds_the_index_once_postgis_is_there(postgis):
    engine = postgis.get_bind().engine
    postgis.close()
    with engine.begin() as connection:
        schema.drop_postgis_locations(connection)
        assert not schema.has_postgis_locations(connection)
    schema.upgrade(engine)  # already at head: adds what PostGIS makes possible
    with engine.connect() as connection:
        assert schema.has_postgis_locations(connection)
        assert connection.scalar(select(text("count(*)")).select_from(text("centers"))) == 0


def test_attribute_filters_have_joint_statistics(session):
    """Migration 0005: without them the planner starts a filtered search from the filter, not the index."""
    found = session.scalar(text("SELECT count(*) FROM pg_statistic_ext WHERE stxname = 'center_attributes_kind_code'"))
    assert found == 1
