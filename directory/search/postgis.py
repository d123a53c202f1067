"""Radius search on PostgreSQL with PostGIS: `ST_DWithin` on the centers' geography, by its GiST index.

`centers.location` is a geography point generated from latitude and longitude, under a GiST
index (directory.schema, migrations 0004 and 0013). The circle is taken on PostGIS's sphere,
which is cheaper than the ellipsoid and overstates no WGS-84 distance by more than 0.57%:
widened by 1% it holds every point of the ellipsoid's circle. The filters are SQL conditions
beside it, and `rank` measures what the bounds leave open. The statement is built once for
each kind of search (its filters and sort), with the circle as parameters.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import Select, bindparam, func, literal_column, select
from sqlalchemy.orm import Session

from directory import schema
from directory.search.geodesy import METERS_PER_MILE
from directory.search.query import (
    SearchFilters,
    SearchQuery,
    SearchResult,
    candidate_columns,
    confirmed_since,
    filter_conditions,
    page_of_matches,
)

SPHERE_WIDENING = 1.01


def find_centers_near(session: Session, query: SearchQuery, now: datetime) -> SearchResult:
    """The centers within the radius that match the filters, in the query's order: one page."""
    parameters = {
        "longitude": query.origin.longitude,
        "latitude": query.origin.latitude,
        "meters": (query.radius_miles * SPHERE_WIDENING + 0.01) * METERS_PER_MILE,
        "confirmed_since": confirmed_since(now),
    }
    connection = session.connection()
    candidates = connection.execute(_candidates(query.filters, query.sort), parameters).all()
    return page_of_matches(connection, query, candidates)


@lru_cache(maxsize=256)
def _candidates(filters: SearchFilters, sort: str) -> Select:
    """The candidates within `meters` (on the sphere) of (`longitude`, `latitude`) that pass the
    filters: the centers `rank` is given."""
    point = func.ST_MakePoint(bindparam("longitude"), bindparam("latitude"))
    origin = func.geography(func.ST_SetSRID(point, 4326))
    location = literal_column(f"centers.{schema.POSTGIS_COLUMN}")
    return (
        select(*candidate_columns(sort))
        .where(func.ST_DWithin(location, origin, bindparam("meters"), False))
        .where(*filter_conditions(filters))
    )
