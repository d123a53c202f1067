"""Radius search on SQLite: the R*Tree narrows the centers to the circle's bounding box.

`center_locations` is an R*Tree over each center's point, kept in step with `centers` by
triggers (migration 0001). It holds 32-bit floats rounded outwards, so it finds a superset of
the box; the exact point is read from `centers`, the filters are SQL conditions beside it, and
`rank` measures what the bounds leave open. The statement is built once for each kind of
search (its filters, sort and the box's longitude ranges), with the box as parameters.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import Column, Float, Integer, MetaData, Select, Table, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from directory.models import Center
from directory.search.geodesy import bounding_box
from directory.search.query import (
    SearchFilters,
    SearchQuery,
    SearchResult,
    candidate_columns,
    confirmed_since,
    filter_conditions,
    page_of_matches,
)

center_locations = Table(
    "center_locations",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("min_lat", Float),
    Column("max_lat", Float),
    Column("min_lon", Float),
    Column("max_lon", Float),
)


def find_centers_near(session: Session, query: SearchQuery, now: datetime) -> SearchResult:
    """The centers within the radius that match the filters, in the query's order: one page."""
    box = bounding_box(query.origin.latitude, query.origin.longitude, query.radius_miles)
    parameters = {"south": box.south, "north": box.north, "confirmed_since": confirmed_since(now)}
    for i, (west, east) in enumerate(box.longitude_ranges):
        parameters |= {f"west{i}": west, f"east{i}": east}
    connection = session.connection()
    statement = _candidates(query.filters, query.sort, len(box.longitude_ranges))
    candidates = connection.execute(statement, parameters).all()
    return page_of_matches(connection, query, candidates)


@lru_cache(maxsize=256)
def _candidates(filters: SearchFilters, sort: str, longitude_ranges: int) -> Select:
    """The candidates in a box (`south`, `north`, and `west0`, `east0`, ... for each of its
    longitude ranges) that pass the filters: the centers `rank` is given."""
    loc = center_locations.c
    ranges = [
        and_(loc.max_lon >= bindparam(f"west{i}"), loc.min_lon <= bindparam(f"east{i}"))
        for i in range(longitude_ranges)
    ]
    return (
        select(*candidate_columns(sort))
        .select_from(center_locations)
        .join(Center, Center.id == loc.id)
        .where(loc.max_lat >= bindparam("south"), loc.min_lat <= bindparam("north"), or_(*ranges))
        .where(*filter_conditions(filters))
    )
