"""Prototypes of a faster `find_centers_near`, measured beside the real one (python -m bench --prototypes).

Nothing in the app imports this. Each prototype must give exactly the engine's answer (the
benchmark checks it against the full scan on every query); they differ only in how much of
the work they leave to Python.

- `find_centers_near_vectorised`: the engine's own SQL, but the candidates are ordered with
  NumPy instead of a Python `sorted` with a key function (names only break exact ties).
- `find_centers_near_counted`: the candidates never leave SQLite. One pass over the R*Tree box
  counts the centers that are certainly inside the circle (from bounds on the distance that
  need no trigonometry) and lists the few near its edge; only those, and the centers near
  the origin that can make up the page, are measured exactly in Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from directory.models import Center, CenterAttribute
from directory.search.engine import (
    SearchFilters,
    SearchHit,
    SearchQuery,
    SearchResult,
    candidate_select,
    center_locations,
    find_centers_near,
)
from directory.search.geodesy import (
    METERS_PER_MILE,
    WGS84_A,
    WGS84_F,
    BoundingBox,
    bounding_box,
    geodesic_miles,
)
from directory.vocabulary import expand_medication_filter


def order_by_distance_name_id(ids: np.ndarray, distances: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Positions that put the matches in (distance, name, id) order, the engine's order."""
    order = np.lexsort((ids, distances))
    ordered = distances[order]
    tie = ordered[1:] == ordered[:-1]
    if tie.any():
        # Equal distances (centers at one address) are rare: sort just those runs by name, then id.
        starts = np.flatnonzero(tie & ~np.r_[False, tie[:-1]])
        ends = np.flatnonzero(tie & ~np.r_[tie[1:], False]) + 2
        for start, end in zip(starts, ends, strict=True):
            order[start:end] = sorted(order[start:end], key=lambda k: (names[k], ids[k]))
    return order


def page_of(session: Session, query: SearchQuery, ids: list[int], distances: list[float], total: int) -> SearchResult:
    """Load the page's centers, as the engine does."""
    centers = {c.id: c for c in session.scalars(select(Center).where(Center.id.in_(ids)))}
    return SearchResult(query, total, [SearchHit(centers[i], d) for i, d in zip(ids, distances, strict=True)])


def find_centers_near_vectorised(session: Session, query: SearchQuery, *, now: datetime | None = None) -> SearchResult:
    """The engine's search with the matches ordered by NumPy."""
    if getattr(query, "sort", "distance") != "distance":
        return find_centers_near(session, query, now=now)  # not prototyped: other orders
    rows = session.execute(candidate_select(session, query, now=now)).all()
    if not rows:
        return SearchResult(query, 0, [])
    ids_, lats, lons, names = zip(*rows, strict=True)
    ids = np.array(ids_, dtype=np.int64)
    distances = geodesic_miles(query.origin.latitude, query.origin.longitude, np.array(lats), np.array(lons))
    inside = np.flatnonzero(distances <= query.radius_miles)
    order = inside[order_by_distance_name_id(ids[inside], distances[inside], [names[k] for k in inside])]
    start = (query.page - 1) * query.per_page
    chosen = order[start : start + query.per_page]
    return page_of(session, query, ids[chosen].tolist(), distances[chosen].tolist(), len(inside))


#: The R*Tree keeps each coordinate as a 32-bit float rounded outwards, within 2e-7 of its size
#: (under 4e-5 degrees, 4 m); distance bounds from R*Tree coordinates are widened by this much.
RTREE_SLACK_MILES = 0.005
_E2 = WGS84_F * (2 - WGS84_F)
_MILES_PER_RADIAN = 1 / METERS_PER_MILE


def _miles_per_degree(latitude: float) -> tuple[float, float]:
    """(along a meridian, along a parallel): the length of one degree at this latitude, in miles."""
    s = math.sin(math.radians(latitude))
    w = math.sqrt(1 - _E2 * s * s)
    meridian = WGS84_A * (1 - _E2) / w**3
    parallel = WGS84_A / w * math.cos(math.radians(latitude))
    return meridian * math.pi / 180 * _MILES_PER_RADIAN, max(0.0, parallel * math.pi / 180 * _MILES_PER_RADIAN)


def distance_bounds(lat: float, lon: float, box: BoundingBox, latitude, longitude):
    """SQL for squared lower and upper bounds, in square miles, of the geodesic distance from
    (lat, lon) to a point of the box, and whether they can be trusted for this box.

    Upper: the length of the straight line in (latitude, longitude), with the longest degree
    lengths found in the box's latitudes. Lower: any path to a point inside the radius stays
    within the box's latitudes (the box is that wide), so it is at least as long as with the
    shortest degree lengths there (Minkowski's inequality).
    """
    equatorward = 0.0 if box.south <= 0 <= box.north else min(abs(box.south), abs(box.north))
    poleward = max(abs(box.south), abs(box.north))
    meridian_min, parallel_max = _miles_per_degree(equatorward)
    meridian_max, parallel_min = _miles_per_degree(poleward)
    dy = latitude - lat
    if len(box.longitude_ranges) == 1 and box.longitude_ranges[0] != (-180.0, 180.0):
        dx = longitude - lon
    else:  # across the antimeridian or around a pole: the shorter way round
        dx = func.min(func.abs(longitude - lon), 360 - func.abs(longitude - lon))
    upper = dy * dy * literal(meridian_max**2) + dx * dx * literal(parallel_max**2)
    lower = dy * dy * literal(meridian_min**2) + dx * dx * literal(parallel_min**2)
    return lower, upper


def has_any(center_id: ColumnElement[int], kind: str, codes: Sequence[str]) -> ColumnElement[bool]:
    """The engine's `has_any`, correlated to any id column (here the R*Tree's)."""
    return exists().where(
        CenterAttribute.center_id == center_id, CenterAttribute.kind == kind, CenterAttribute.code.in_(codes)
    )


def attribute_conditions(filters: SearchFilters, center_id: ColumnElement[int]) -> list[ColumnElement[bool]]:
    """The engine's attribute filters on `center_id` (the scalar ones need the centers table)."""
    conditions = []
    if filters.pathway == "detox_naltrexone":
        conditions.append(has_any(center_id, "levels_of_care", ("medical_detox",)))
        conditions.append(has_any(center_id, "medications", expand_medication_filter(["naltrexone"])))
    wanted = {
        "levels_of_care": filters.level_of_care,
        "payment_options": filters.payment,
        "medications": tuple(expand_medication_filter(list(filters.medication))),
        "populations": filters.population,
        "languages": filters.language,
    }
    conditions.extend(has_any(center_id, kind, codes) for kind, codes in wanted.items() if codes)
    return conditions


def _in_box(box: BoundingBox) -> list[ColumnElement[bool]]:
    loc = center_locations.c
    return [
        loc.max_lat >= box.south,
        loc.min_lat <= box.north,
        or_(*(and_(loc.max_lon >= w, loc.min_lon <= e) for w, e in box.longitude_ranges)),
    ]


def find_centers_near_counted(session: Session, query: SearchQuery, *, now: datetime | None = None) -> SearchResult:
    """The engine's answer, with the matches counted in SQL and only the edge and the page measured."""
    f = query.filters
    if f.accepting_referrals is not None or f.verified_only or getattr(query, "sort", "distance") != "distance":
        return find_centers_near(session, query, now=now)  # not prototyped: filters on centers, other orders
    lat, lon, radius = query.origin.latitude, query.origin.longitude, query.radius_miles
    loc = center_locations.c
    filters = attribute_conditions(f, loc.id)
    box = bounding_box(lat, lon, radius)
    lower, upper = distance_bounds(lat, lon, box, loc.min_lat, loc.min_lon)
    inner, outer = (radius - RTREE_SLACK_MILES) ** 2, (radius + RTREE_SLACK_MILES) ** 2
    # One pass: the number certainly inside, and the ids of those that may be either side.
    certain, edge = session.execute(
        select(
            func.coalesce(func.sum(case((upper <= inner, 1), else_=0)), 0),
            func.group_concat(case((and_(upper > inner, lower <= outer), loc.id))),
        ).where(*_in_box(box), lower <= outer, *filters)  # the cheap test first spares the box's corners
    ).one()
    total = certain
    if edge:
        edge_ids = [int(i) for i in edge.split(",")]
        rows = session.execute(select(*EXACT_COLUMNS).where(Center.id.in_(edge_ids))).all()
        total += len(_exact(lat, lon, rows, radius)[0])
    # The page: every center within a small radius that holds at least as many as the page needs.
    end = query.page * query.per_page
    reach = radius if total <= end else min(radius, radius * math.sqrt(2 * end / total))
    while True:
        near_box = bounding_box(lat, lon, reach + RTREE_SLACK_MILES)
        near_lower, _ = distance_bounds(lat, lon, near_box, loc.min_lat, loc.min_lon)
        rows = session.execute(
            select(*EXACT_COLUMNS)
            .select_from(center_locations)
            .join(Center, Center.id == loc.id)
            .where(*_in_box(near_box), near_lower <= (reach + RTREE_SLACK_MILES) ** 2, *filters)
        ).all()
        ids, distances, names = _exact(lat, lon, rows, reach)
        if len(ids) >= end or reach >= radius:
            break
        reach = min(radius, reach * 2)
    order = order_by_distance_name_id(ids, distances, names)[end - query.per_page : end]
    return page_of(session, query, ids[order].tolist(), distances[order].tolist(), total)


EXACT_COLUMNS = (Center.id, Center.latitude, Center.longitude, Center.name)


def _exact(lat: float, lon: float, rows: Sequence, radius: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Ids, exact distances and names of the (id, latitude, longitude, name) rows within `radius`."""
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0), []
    found_ids, lats, lons, names = zip(*rows, strict=True)
    distances = geodesic_miles(lat, lon, np.array(lats), np.array(lons))
    inside = np.flatnonzero(distances <= radius)
    return np.array(found_ids, dtype=np.int64)[inside], distances[inside], [names[k] for k in inside]
