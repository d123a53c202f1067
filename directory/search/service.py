"""The radius search every caller uses (web pages, API, referral router): one path per database."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from directory.models.base import utcnow
from directory.search import postgis, sqlite
from directory.search.query import (
    DEFAULT_RADIUS_MILES,
    DEFAULT_SORT,
    MAX_PER_PAGE,
    MAX_RADIUS_MILES,
    PATHWAYS,
    SORTS,
    SearchFilters,
    SearchHit,
    SearchQuery,
    SearchResult,
)

__all__ = [
    "DEFAULT_RADIUS_MILES",
    "DEFAULT_SORT",
    "MAX_PER_PAGE",
    "MAX_RADIUS_MILES",
    "PATHWAYS",
    "SORTS",
    "SearchFilters",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "find_centers_near",
    "nearest_match",
]

#: The search path of each supported database, by SQLAlchemy dialect name.
BACKENDS = {"sqlite": sqlite.find_centers_near, "postgresql": postgis.find_centers_near}


def find_centers_near(session: Session, query: SearchQuery, *, now: datetime | None = None) -> SearchResult:
    """The centers within the query's radius that pass its filters: how many, and its page of
    them in order (nearest first, then by name), each with its WGS-84 geodesic distance."""
    dialect = session.get_bind().dialect.name
    if dialect not in BACKENDS:
        raise RuntimeError(f"radius search supports {' and '.join(BACKENDS)} databases, not {dialect}")
    return BACKENDS[dialect](session, query, now or utcnow())


def nearest_match(session: Session, query: SearchQuery, *, now: datetime | None = None) -> SearchHit | None:
    """The center nearest the query's origin that passes its filters, within the largest radius
    (whatever the query's own): how far a search that found nothing would have to reach."""
    widest = replace(query, radius_miles=MAX_RADIUS_MILES, page=1, per_page=1, sort=DEFAULT_SORT)
    hits = find_centers_near(session, widest, now=now).hits
    return hits[0] if hits else None
