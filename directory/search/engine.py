"""Radius search: every matching center within the radius, nearest first, counted exactly.

The database narrows the candidates with a spatial index (SQLite: an R*Tree over each
center's point; other databases: the (latitude, longitude) index) and the filters; the
exact WGS-84 distance then decides who is inside the circle and in what order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Column, Float, Integer, MetaData, Select, Table, and_, exists, or_, select
from sqlalchemy.orm import Session

from directory.models import Center, CenterAttribute
from directory.models.base import utcnow
from directory.models.centers import VERIFICATION_VALID_DAYS
from directory.search.geocoding import Place
from directory.search.geodesy import bounding_box, geodesic_miles
from directory.vocabulary import expand_medication_filter

DEFAULT_RADIUS_MILES = 25
MAX_RADIUS_MILES = 500
MAX_PER_PAGE = 100

#: Pathways: named combinations of requirements, e.g. detox followed by naltrexone.
PATHWAYS: dict[str, str] = {
    "detox_naltrexone": "Medical detox and naltrexone at the same center",
}

#: Result orders. Within each group of "confirmed_first", nearest first as usual.
SORTS: dict[str, str] = {
    "distance": "Nearest first",
    "confirmed_first": "Listings confirmed by the center first, then nearest",
}
DEFAULT_SORT = "distance"

# The SQLite R*Tree virtual table (created by the first migration, not an ORM model).
center_locations = Table(
    "center_locations",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("min_lat", Float),
    Column("max_lat", Float),
    Column("min_lon", Float),
    Column("max_lon", Float),
)


@dataclass(frozen=True)
class SearchFilters:
    """What the person needs. Several values of one filter: any of them; different filters: all."""

    level_of_care: tuple[str, ...] = ()
    payment: tuple[str, ...] = ()
    medication: tuple[str, ...] = ()
    population: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    accepting_referrals: bool | None = None
    verified_only: bool = False
    pathway: str | None = None


@dataclass(frozen=True)
class SearchQuery:
    origin: Place
    radius_miles: float = DEFAULT_RADIUS_MILES
    filters: SearchFilters = field(default_factory=SearchFilters)
    page: int = 1
    per_page: int = 20
    sort: str = DEFAULT_SORT

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")
        if not 0 < self.radius_miles <= MAX_RADIUS_MILES:
            raise ValueError(f"radius_miles must be above 0 and at most {MAX_RADIUS_MILES}")
        if self.page < 1 or not 1 <= self.per_page <= MAX_PER_PAGE:
            raise ValueError(f"page must be 1 or more and per_page 1 to {MAX_PER_PAGE}")


@dataclass(frozen=True)
class SearchHit:
    center: Center
    distance_miles: float


@dataclass(frozen=True)
class SearchResult:
    query: SearchQuery
    total: int
    hits: list[SearchHit]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


def find_centers_near(session: Session, query: SearchQuery, *, now: datetime | None = None) -> SearchResult:
    """Find the centers within the radius that match the filters, in the query's order, one page of them."""
    ids, distances = matching_center_distances(session, query, now=now)
    start = (query.page - 1) * query.per_page
    page_ids = ids[start : start + query.per_page]
    centers = {c.id: c for c in session.scalars(select(Center).where(Center.id.in_(page_ids)))}
    hits = [SearchHit(centers[i], d) for i, d in zip(page_ids, distances[start : start + query.per_page], strict=False)]
    return SearchResult(query, len(ids), hits)


def matching_center_distances(
    session: Session, query: SearchQuery, *, now: datetime | None = None
) -> tuple[list[int], list[float]]:
    """Ids and distances of every match, ordered by distance, then name, then id; with sort
    "confirmed_first", centers confirmed within VERIFICATION_VALID_DAYS come first, each group in that order."""
    now = now or utcnow()
    stmt = candidate_select(session, query, now=now)
    confirmed_first = query.sort == "confirmed_first"
    if confirmed_first:
        stmt = stmt.add_columns(Center.last_verified_at)
    rows = session.execute(stmt).all()
    if not rows:
        return [], []
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    lats = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    lons = np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows))
    distances = geodesic_miles(query.origin.latitude, query.origin.longitude, lats, lons)
    inside = np.flatnonzero(distances <= query.radius_miles)
    names = [rows[i][3] for i in inside]
    if confirmed_first:
        cutoff = now - timedelta(days=VERIFICATION_VALID_DAYS)
        group = [0 if rows[i][4] is not None and rows[i][4] > cutoff else 1 for i in inside]
    else:
        group = [0] * len(inside)
    order = sorted(range(len(inside)), key=lambda k: (group[k], distances[inside[k]], names[k], ids[inside[k]]))
    chosen = inside[order]
    return ids[chosen].tolist(), distances[chosen].tolist()


def candidate_select(session: Session, query: SearchQuery, *, now: datetime | None = None) -> Select:
    """The SQL that returns (id, latitude, longitude, name) of every center in the bounding box
    that passes the filters: a superset of the answer, narrowed by the spatial index."""
    box = bounding_box(query.origin.latitude, query.origin.longitude, query.radius_miles)
    stmt = select(Center.id, Center.latitude, Center.longitude, Center.name)
    if session.get_bind().dialect.name == "sqlite":
        loc = center_locations.c
        stmt = stmt.join(center_locations, loc.id == Center.id).where(
            loc.max_lat >= box.south, loc.min_lat <= box.north
        )
        stmt = stmt.where(or_(*(and_(loc.max_lon >= w, loc.min_lon <= e) for w, e in box.longitude_ranges)))
    else:
        stmt = stmt.where(Center.latitude.between(box.south, box.north))
        stmt = stmt.where(or_(*(Center.longitude.between(w, e) for w, e in box.longitude_ranges)))
    return stmt.where(*filter_conditions(query.filters, now or utcnow()))


def filter_conditions(filters: SearchFilters, now: datetime) -> list:
    """SQL conditions for the filters: any value within a filter, all filters together."""
    conditions = []
    wanted = {
        "levels_of_care": filters.level_of_care,
        "payment_options": filters.payment,
        "medications": tuple(expand_medication_filter(list(filters.medication))),
        "populations": filters.population,
        "languages": filters.language,
    }
    if filters.pathway == "detox_naltrexone":
        conditions.append(has_any("levels_of_care", ("medical_detox",)))
        conditions.append(has_any("medications", tuple(expand_medication_filter(["naltrexone"]))))
    for kind, codes in wanted.items():
        if codes:
            conditions.append(has_any(kind, codes))
    if filters.accepting_referrals is not None:
        conditions.append(Center.accepting_referrals.is_(filters.accepting_referrals))
    if filters.verified_only:
        conditions.append(Center.last_verified_at > now - timedelta(days=VERIFICATION_VALID_DAYS))
    return conditions


def has_any(kind: str, codes: tuple[str, ...]):
    """Condition: the center has at least one of these codes for this attribute."""
    return exists().where(
        CenterAttribute.center_id == Center.id,
        CenterAttribute.kind == kind,
        CenterAttribute.code.in_(codes),
    )
