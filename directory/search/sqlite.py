"""Radius search on SQLite: the R*Tree narrows the centers to the circle's bounding box.

`center_locations` is an R*Tree over each center's point, kept in step with `centers` by
triggers (migration 0001). It holds 32-bit floats rounded outwards, so it finds a superset of
the box; the exact point is read from `centers`, the filters are SQL conditions beside it, and
`rank` measures what the bounds leave open.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Float, Integer, MetaData, Table, and_, or_, select
from sqlalchemy.orm import Session

from directory.models import Center
from directory.search.geodesy import bounding_box
from directory.search.listing import load_listings
from directory.search.query import (
    SearchHit,
    SearchQuery,
    SearchResult,
    candidate_columns,
    center_names,
    filter_conditions,
    rank,
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
    loc = center_locations.c
    connection = session.connection()
    candidates = connection.execute(
        select(*candidate_columns(query, now))
        .select_from(center_locations)
        .join(Center, Center.id == loc.id)
        .where(
            loc.max_lat >= box.south,
            loc.min_lat <= box.north,
            or_(*(and_(loc.max_lon >= west, loc.min_lon <= east) for west, east in box.longitude_ranges)),
            *filter_conditions(query.filters, now),
        )
    ).all()
    total, page = rank(query, candidates, lambda ids: center_names(connection, ids))
    listings = load_listings(connection, [center_id for center_id, _ in page])
    return SearchResult(query, total, [SearchHit(listings[center_id], miles) for center_id, miles in page])
