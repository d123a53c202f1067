"""The search's statements sent straight to SQLite give what SQLAlchemy's execution gives."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from directory.models import Center
from directory.search.engine import (
    SearchFilters,
    SearchQuery,
    _box_shape,
    _box_values,
    _count_statement,
    _near_statement,
    filter_shape,
    filter_values,
    find_centers_near,
    matching_center_distances,
)
from directory.search.geocoding import Place
from directory.search.geodesy import bounding_box, degree_lengths
from directory.search.listing import _LISTINGS
from directory.search.statements import compiled_statement, run_select
from tests.factories import add_centers, center_record

CHICAGO = {"latitude": 41.8858, "longitude": -87.6181}


def test_straight_to_the_driver_matches_sqlalchemy(seeded_session):
    if seeded_session.get_bind().dialect.name != "sqlite":
        ids = seeded_session.scalars(select(Center.id).limit(3)).all()
        assert run_select(seeded_session, select(Center.id).where(Center.id.in_(ids)), {}) == [(i,) for i in ids]
        return
    now = datetime(2026, 11, 21, tzinfo=UTC)
    origin = Place("Denver, CO", 39.7392, -104.9903)
    narrow = SearchFilters(payment=("medicaid",), verified_only=True, accepting_referrals=True)
    for filters in (SearchFilters(), narrow):
        box = bounding_box(origin.latitude, origin.longitude, 100)
        params = {
            **filter_values(filters, now),
            **_box_values(origin.latitude, origin.longitude, box, degree_lengths(box)),
            "inner": 99.0**2,
            "outer": 101.0**2,
        }
        for confirmed in (None, True, False):
            for stmt in (
                _count_statement(_box_shape(box), filter_shape(filters), confirmed),
                _near_statement(_box_shape(box), filter_shape(filters), confirmed),
            ):
                assert compiled_statement(stmt, seeded_session.get_bind().dialect) is not None
                expected = [tuple(row) for row in seeded_session.execute(stmt, params)]
                assert [tuple(row) for row in run_select(seeded_session, stmt, params)] == expected
    ids = seeded_session.scalars(select(Center.id).order_by(Center.last_verified_at.desc()).limit(30)).all()
    seeded_session.get(Center, ids[0]).last_verified_at = now - timedelta(days=1)
    seeded_session.flush()
    assert compiled_statement(_LISTINGS.sqlite, seeded_session.get_bind().dialect) is not None  # compiled once
    listing_params = {"ids": "[" + ",".join(map(str, ids)) + "]"}
    expected = [tuple(row) for row in seeded_session.execute(_LISTINGS.sqlite, listing_params)]
    got = [tuple(row) for row in run_select(seeded_session, _LISTINGS.sqlite, listing_params)]
    assert got == expected
    assert any(isinstance(row[20], datetime) for row in got)  # last_verified_at, converted
    assert all(isinstance(row[15], bool) for row in got)  # accepting_referrals


@pytest.mark.parametrize("path", ["search page", "router's candidates"])
def test_a_driver_error_comes_out_as_sqlalchemys(session, path):
    """A connection dropped under a statement sent straight to the driver raises SQLAlchemy's
    error, as it would through SQLAlchemy: what the tasks retry on and the error pages handle."""
    add_centers(session, center_record(**CHICAGO))
    session.commit()
    query = SearchQuery(Place("here", CHICAGO["latitude"], CHICAGO["longitude"]), radius_miles=25)
    search = find_centers_near if path == "search page" else matching_center_distances
    search(session, query)  # what is looked up once per database (through SQLAlchemy) is looked up
    connection = session.connection()
    connection.connection.driver_connection.close()  # as if the server had dropped it
    with pytest.raises(DBAPIError) as raised:
        search(session, query)
    assert isinstance(raised.value.orig, sqlite3.Error | psycopg.Error)
    connection.invalidate()
    session.rollback()
