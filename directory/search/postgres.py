"""Radius search on PostgreSQL: count the centers certainly inside in SQL, measure only the rest.

The same method as SQLite's `_count_and_rank` (engine.py), on PostgreSQL's own index: the GiST
over each search row's point (`center_search_rows.lon_lat`, migration 0009), which carries the
row's center id and filter mask, so every statement here is an index-only scan of narrow
entries and never reads the wide `centers` rows (unless a filter needs them: languages,
verified only, confirmed first).

1. One statement counts the matches certainly inside the circle and lists the uncertain ones
   with their points. The circle's bounding box is split in five: the largest box of degrees
   whose every point is certainly inside (counted without any arithmetic), and four strips
   around it, where each point gets a lower and an upper bound of its distance from the
   degree lengths over the box (geodesy.DegreeLengths): certainly inside if the upper bound
   is, left out if the lower bound is outside, uncertain otherwise. The same statement returns
   the matches nearest the origin in degrees (the GiST's own `<->` ordering, LIMIT `nearest`):
   every match within a radius `reach` that the farthest of them guarantees is among them;
   and, in rows of their own, the listings of those of the nearest that may be on the page,
   chosen by the bounds of their distances (the nearest read from the index once, for both).
2. The uncertain ones and the nearest are measured exactly (`geodesic_miles`); the
   matches within `reach` are ordered by distance, name and id, and the page taken from them.
   If they are fewer than the page needs (a tight cluster, a later page), one more index-only
   statement reads the matches within a wider radius, widened until they suffice.

A point is in a box (`<@`) by exact comparisons of its coordinates, in the operator and in the
GiST alike (PostgreSQL 15; a test checks it on the server), so the inner box, closed, is
counted exactly; the strips leave it out, and each other, by exact comparisons of the
coordinates (the tests place points on every line between them).

Each statement is prepared on the server and runs with its generic plan (`_run`): planned once
per connection, not again for each search's values. Planning the count's six index scans was
about a third of a small search, and gave the same plan whatever the box.

Searches whose bounding box crosses the antimeridian or covers a pole, and databases without
the column, take the engine's one-pass path instead (`matching_center_distances`).
"""

from __future__ import annotations

import functools
import math
import weakref
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    CompoundSelect,
    Engine,
    Float,
    Integer,
    Select,
    bindparam,
    exists,
    func,
    literal_column,
    null,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from directory.models import Center
from directory.search.engine import (
    FilterShape,
    SearchHit,
    SearchQuery,
    SearchResult,
    _box_values,
    bound_filter_conditions,
    filter_shape,
    filter_values,
    order_matches,
    rank_page,
)
from directory.search.geodesy import bounding_box, degree_lengths, geodesic_miles
from directory.search.listing import CenterListing, listing_sql, listings_from_rows, load_listings
from directory.search.masks import center_search_rows
from directory.search.statements import run_selects

#: The point column and its index (migration 0009).
COLUMN = "lon_lat"
INDEX = "ix_center_search_rows_lon_lat"

#: Distance bounds are widened by this much (miles, 16 cm): more than the rounding of the
#: bounds' float arithmetic and the geodesic's own error, so a point this close to the circle is
#: always measured rather than counted.
SLACK_MILES = 1e-4

#: At most this many of the nearest matches are returned with the count (more: another statement).
MAX_NEAREST = 5000

#: The search rows under a short name (the statements repeat it, and psycopg converts and
#: prepares statements of at most 4,096 characters once, longer ones on every execution).
_table = center_search_rows.alias("r")
_rows = _table.c
_point = literal_column(f"r.{COLUMN}")
#: The point's longitude (x) and latitude (y): the row's exact float8 values.
_lon = literal_column(f"r.{COLUMN}[0]", Float)
_lat = literal_column(f"r.{COLUMN}[1]", Float)

_has_points: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def has_points(session: Session) -> bool:
    """Whether this PostgreSQL database has the search rows' point column (looked up once per engine)."""
    engine = session.get_bind().engine
    if engine not in _has_points:
        found = session.execute(
            text(
                "SELECT 1 FROM information_schema.columns"
                " WHERE table_name = 'center_search_rows' AND column_name = :column"
            ),
            {"column": COLUMN},
        ).first()
        _has_points[engine] = found is not None
    return _has_points[engine]


def find_centers_near(session: Session, query: SearchQuery, *, now: datetime) -> SearchResult | None:
    """The engine's `find_centers_near` on PostgreSQL; None where this path does not apply
    (a box across the antimeridian or around a pole, or no point column): the caller then
    takes the one-pass path."""
    box = bounding_box(query.origin.latitude, query.origin.longitude, query.radius_miles)
    if len(box.longitude_ranges) != 1 or box.longitude_ranges[0] == (-180.0, 180.0) or not has_points(session):
        return None
    first, last = (query.page - 1) * query.per_page, query.page * query.per_page
    values = filter_values(query.filters, now)
    shape = filter_shape(query.filters)
    centers: dict[int, CenterListing] = {}

    def rank(confirmed: bool | None, lo: int, hi: int) -> tuple[int, list[int], list[float]]:
        total, ids, distances, listings = count_and_rank(session, query, shape, confirmed, values, lo, hi)
        centers.update(listings)
        return total, ids, distances

    total, ids, distances = rank_page(query, first, last, rank)
    # The page's listings came with the count, unless the page came from a wider neighbourhood.
    if missing := [i for i in ids if i not in centers]:
        centers = centers | load_listings(session, missing)
    return SearchResult(query, total, [SearchHit(centers[i], d) for i, d in zip(ids, distances, strict=True)])


def count_and_rank(
    session: Session,
    query: SearchQuery,
    shape: FilterShape,
    confirmed: bool | None,
    values: dict[str, Any],
    first: int,
    last: int,
) -> tuple[int, list[int], list[float], dict[int, CenterListing]]:
    """How many centers passing the filters (and, unless `confirmed` is None, confirmed or not)
    are within the radius, the ids and distances of those ranked first to last (0-based, last
    excluded) in (distance, name, id) order, and the listings of those of them that were among
    the nearest (`_count_and_page_statement`: usually all; maybe others too)."""
    lat, lon, radius = float(query.origin.latitude), float(query.origin.longitude), float(query.radius_miles)
    box = bounding_box(lat, lon, radius)
    lengths = degree_lengths(box)
    params = {**values, **_box_values(lat, lon, box, lengths)}
    inner = max(0.0, radius - SLACK_MILES)
    params["inner"], params["outer"] = inner**2, (radius + SLACK_MILES) ** 2
    # The inner box: a square in degrees at the longest degree lengths, half-side `half` miles,
    # so every point of it has its upper bound within `inner`.
    half = inner / math.sqrt(2)
    dlat, dlon = half / lengths.meridian_max, half / lengths.parallel_max
    params.update(south_in=lat - dlat, north_in=lat + dlat, west_in=lon - dlon, east_in=lon + dlon)
    # The neighbourhood, in the same statement: the `nearest` matches in the box closest to the
    # origin in degrees (the GiST's own ordering), enough to hold about twice `last` matches
    # within the geodesic radius that the farthest of them guarantees (see below).
    lowest = min(lengths.meridian_min, lengths.parallel_min)
    nearest = min(MAX_NEAREST, math.ceil(2 * last * lengths.meridian_max * lengths.parallel_max / lowest**2) + 10)
    params["nearest"] = nearest
    if first < last:
        # The listings of the page's candidates among the nearest come with the count.
        params.update(page_first=first, last_offset=last - 1)
        params.update(page_slack=2 * SLACK_MILES, radius_out=radius + SLACK_MILES)
        (rows,) = _run(session, (_count_and_page_statement(shape, confirmed), params))
        row = next(r for r in rows if r[0] is not None)[:-_LISTING_COLUMNS]
        listings = listings_from_rows(r[-_LISTING_COLUMNS:] for r in rows if r[0] is None)
    else:
        ((row,),), listings = _run(session, (_count_statement(shape, confirmed), params)), {}
    certain, arrays = row[0], [array or [] for array in row[1:]]  # array_agg of no rows is NULL
    edge_ids, edge_lats, edge_lons, knn_ids, knn_lats, knn_lons = arrays
    if not certain and not edge_ids:
        return 0, [], [], {}
    ids = np.array([*edge_ids, *knn_ids], dtype=np.int64)
    distances = geodesic_miles(lat, lon, np.array([*edge_lats, *knn_lats]), np.array([*edge_lons, *knn_lons]))
    total = certain + int(np.count_nonzero(distances[: len(edge_ids)] <= radius))
    ids, distances = ids[len(edge_ids) :], distances[len(edge_ids) :]
    if len(knn_ids) < nearest:  # every match in the box
        reach = radius
    else:
        # A point within `reach` of the origin is less than `farthest` degrees from it (the
        # lower bound of its distance is at least `lowest` miles per degree), so all such
        # points are among those returned, whatever ties the LIMIT cut.
        farthest = float(np.max(np.hypot(np.array(knn_lats) - lat, np.array(knn_lons) - lon)))
        reach = min(radius, lowest * farthest * (1 - 1e-9) - SLACK_MILES)
    within = distances <= reach
    ids, distances = ids[within], distances[within]
    # Too few within `reach` (clustered, or a high latitude): matches within a wider `reach`,
    # guessed from the count (taking the uncertain ones as inside) and widened until enough.
    if len(ids) < min(last, total) and reach < radius:
        estimate = certain + len(edge_ids)
        reach = max(2 * reach, radius * min(1.0, math.sqrt(2 * last / estimate)))
        while True:
            reach = min(radius, reach)
            near = _near(session, lat, lon, reach, shape, confirmed, values)
            ids = np.array([r[0] for r in near], dtype=np.int64)
            distances = geodesic_miles(lat, lon, np.array([r[1] for r in near]), np.array([r[2] for r in near]))
            within = distances <= reach
            ids, distances = ids[within], distances[within]
            if len(ids) >= min(last, total) or reach >= radius:
                break
            reach *= 2
    if first >= min(last, total):
        return total, [], [], {}

    def names_of(positions: np.ndarray) -> list[str]:
        # Ties that touch the page are among the listings whenever the page is (`_page_candidates`).
        wanted = ids[positions].tolist()
        found = {i: listings[i].name for i in wanted if i in listings}
        if unlisted := [i for i in wanted if i not in found]:
            (names,) = _run(session, (_NAMES_STATEMENT, {"ids": unlisted}))
            found.update(names)
        return [found[i] for i in wanted]

    chosen = order_matches(ids, distances, names_of, window=slice(first, last))[first:last]
    return total, ids[chosen].tolist(), distances[chosen].tolist(), listings


def _near(
    session: Session, lat: float, lon: float, reach: float, shape: FilterShape, confirmed: bool | None, values: dict
) -> list[Any]:
    """(id, latitude, longitude) of the matches that may be within `reach` (lower bound within it)."""
    box = bounding_box(lat, lon, reach + SLACK_MILES)
    params = {**values, **_box_values(lat, lon, box, degree_lengths(box)), "outer": (reach + SLACK_MILES) ** 2}
    (rows,) = _run(session, (_near_statement(shape, confirmed), params))
    return rows


def _run(session: Session, *statements: tuple[Select, dict[str, Any]]) -> list[list[Any]]:
    """The rows of each of these statements of the search, in one round trip, each with its
    generic plan (`run_selects`): scans of the GiST index and lookups by primary key, whose
    plans are the same for any box (PostgreSQL would otherwise plan them again for each search)."""
    return run_selects(session, *statements, generic_plans=True)


def _param(name: str) -> Any:
    return bindparam(name, type_=Float)


def _in_box(south: str, west: str, north: str, east: str) -> ColumnElement[bool]:
    """The point is in the box, edges included (the GiST index's own condition)."""
    corner = func.point
    return _point.op("<@")(func.box(corner(_param(west), _param(south)), corner(_param(east), _param(north))))


def _bounds(
    dy2: ColumnElement[float] | None = None, dx2: ColumnElement[float] | None = None
) -> tuple[ColumnElement[float], ColumnElement[float]]:
    """SQL for squared lower and upper bounds (square miles) of each point's distance from the
    origin, from the degree lengths over the box (see engine._box_values and geodesy.DegreeLengths),
    given the squared differences of latitude and longitude (by default computed on the row)."""
    if dy2 is None or dx2 is None:
        dy, dx = _lat - _param("lat"), _lon - _param("lon")
        dy2, dx2 = dy * dy, dx * dx
    lower = dy2 * _param("meridian_min2") + dx2 * _param("parallel_min2")
    upper = dy2 * _param("meridian_max2") + dx2 * _param("parallel_max2")
    return lower, upper


def _group(shape: FilterShape, confirmed: bool | None) -> list[ColumnElement[bool]]:
    """The filters on the search row (its mask, or EXISTS on the other tables), and the confirmed group."""
    conditions = bound_filter_conditions(shape, _rows.center_id, mask=_rows.mask, array_codes=True)
    if confirmed is not None:
        is_confirmed = (
            exists()
            .where(Center.id == _rows.center_id, Center.last_verified_at > bindparam("verified_after"))
            .correlate_except(Center)
        )
        conditions.append(is_confirmed if confirmed else ~is_confirmed)
    return conditions


@functools.lru_cache(maxsize=256)
def _count_statement(shape: FilterShape, confirmed: bool | None) -> Select:
    """(certain count, then the uncertain ones' ids, latitudes and longitudes as arrays, then the
    `nearest` matches' ids, latitudes and longitudes as arrays): see `_counted` and `_nearest`."""
    group = _group(shape, confirmed)
    knn = _nearest(group, _rows.center_id.label("id"), _lat.label("lat"), _lon.label("lon")).subquery("knn")
    return _count_row(group, knn)


#: The columns of a listing, after the count's in `_count_and_page_statement`'s rows.
_LISTING_COLUMNS = len(listing_sql())


@functools.lru_cache(maxsize=256)
def _count_and_page_statement(shape: FilterShape, confirmed: bool | None) -> CompoundSelect:
    """`_count_statement`'s row (followed by NULL for each column of a listing), and then the
    listings (listing.listing_sql, after NULL for each of the count's columns) of those of the
    nearest that may be ranked `page_first` to `last_offset` (0-based, both included) by
    distance (`_page_candidates`): one statement, so the page usually needs no round trip of its
    own, though its ids are known only once Python has measured the nearest. The nearest are
    read from the index once (a CTE), for the count's arrays and the page's candidates alike."""
    group = _group(shape, confirmed)
    lower, upper = _bounds()
    knn = _nearest(
        group,
        _rows.center_id.label("id"),
        _lat.label("lat"),
        _lon.label("lon"),
        func.sqrt(lower).label("lower"),
        func.sqrt(upper).label("upper"),
        _rows.mask.label("mask"),
    ).cte("knn")
    count_row = _count_row(group, knn)
    candidates = _page_candidates(knn).subquery("page")
    listing = listing_sql(mask=candidates.c.mask)  # the mask from the index entry: no lookup by id
    pages = select(*(null() for _ in count_row.selected_columns), *listing).select_from(
        candidates.join(Center, Center.id == candidates.c.id)
    )
    return union_all(count_row.add_columns(*(null() for _ in listing)), pages)


def _count_row(group: list[ColumnElement[bool]], knn: Any) -> Select:
    """The count's row: `_counted`, then the nearest (`knn`: `_nearest` with columns id, lat, lon) as arrays."""
    counted = _counted(group)
    nearest = select(
        func.array_agg(knn.c.id).label("ids"),
        func.array_agg(knn.c.lat).label("lats"),
        func.array_agg(knn.c.lon).label("lons"),
    ).subquery("nearest")
    return select(*counted.c, *nearest.c).select_from(counted.join(nearest, true()))


def _counted(group: list[ColumnElement[bool]]) -> Subquery:
    """(certain count, then the uncertain ones' ids, latitudes and longitudes as arrays): the inner
    box counted without bounds; in the four strips around it (north and south the full width),
    each point certain if its upper bound is within `inner`, left out if its lower bound is
    beyond `outer`."""
    middle = [_lat >= _param("south_in"), _lat <= _param("north_in")]
    inner_count = (
        select(func.count())
        .select_from(_table)
        .where(_in_box("south_in", "west_in", "north_in", "east_in"), *group)
        .scalar_subquery()
    )
    strips = [
        (_in_box("north_in", "west0", "north", "east0"), [_lat > _param("north_in")]),
        (_in_box("south", "west0", "south_in", "east0"), [_lat < _param("south_in")]),
        (_in_box("south_in", "west0", "north_in", "west_in"), [*middle, _lon < _param("west_in")]),
        (_in_box("south_in", "east_in", "north_in", "east0"), [*middle, _lon > _param("east_in")]),
    ]
    in_strips = union_all(
        *(
            select(_rows.center_id.label("id"), _lat.label("lat"), _lon.label("lon"))
            .select_from(_table)
            .where(in_strip, *exact, *group)
            for in_strip, exact in strips
        )
    ).subquery("u")
    dy, dx = in_strips.c.lat - _param("lat"), in_strips.c.lon - _param("lon")
    squares = select(*in_strips.c, (dy * dy).label("dy2"), (dx * dx).label("dx2")).subquery("s")
    lower, upper = _bounds(squares.c.dy2, squares.c.dx2)
    ring = (
        select(squares.c.id, squares.c.lat, squares.c.lon, (upper > _param("inner")).label("uncertain"))
        .where(lower <= _param("outer"))
        .subquery("ring")
    )
    uncertain = ring.c.uncertain
    return select(
        (inner_count + func.count().filter(~uncertain)).label("certain"),
        func.array_agg(ring.c.id).filter(uncertain).label("edge_ids"),
        func.array_agg(ring.c.lat).filter(uncertain).label("edge_lats"),
        func.array_agg(ring.c.lon).filter(uncertain).label("edge_lons"),
    ).subquery("counted")


def _nearest(group: list[ColumnElement[bool]], *columns: ColumnElement[Any]) -> Select:
    """`columns` of the `nearest` matches in the box closest to the origin in degrees (the
    GiST's own `<->` ordering)."""
    return (
        select(*columns)
        .select_from(_table)
        .where(_in_box("south", "west0", "north", "east0"), *group)
        .order_by(_point.op("<->")(func.point(_param("lon"), _param("lat"))))
        .limit(bindparam("nearest", type_=Integer))
    )


def _page_candidates(knn: Any) -> Select:
    """The ids and masks of those of the nearest (`knn`: id, the lower and upper bounds of its
    distance in miles, see `_bounds`, and mask) that may be ranked `page_first` to `last_offset`
    by distance.

    Those whose lower bound is within the (`last_offset` + 1)-th smallest upper bound (that many
    of them are that close, so none ranked later is closer), whose upper bound reaches the
    (`page_first` + 1)-th smallest lower bound (at most `page_first` of them can be closer than
    one that does not), and whose lower bound is within the circle; each comparison widened by
    the slack of both bounds. Whenever the page comes from the nearest, these hold it, and every
    distance tie around it that `order_matches` breaks by name; count_and_rank loads any other
    listing."""
    slack = _param("page_slack")
    offset = functools.partial(bindparam, type_=Integer)
    last_upper = select(knn.c.upper).order_by(knn.c.upper).offset(offset("last_offset")).limit(1).scalar_subquery()
    first_lower = select(knn.c.lower).order_by(knn.c.lower).offset(offset("page_first")).limit(1).scalar_subquery()
    return select(knn.c.id, knn.c.mask).where(
        knn.c.lower <= _param("radius_out"),
        # Fewer of them than `last_offset` + 1: any may be on the page.
        knn.c.lower <= func.coalesce(last_upper, literal_column("'infinity'", Float)) + slack,
        # Fewer than `page_first` + 1: none is (the comparison with NULL is not true).
        knn.c.upper + slack >= first_lower,
    )


@functools.lru_cache(maxsize=256)
def _near_statement(shape: FilterShape, confirmed: bool | None) -> Select:
    """(id, latitude, longitude) of the points in the box whose lower bound is within `outer`."""
    lower, _ = _bounds()
    return (
        select(_rows.center_id, _lat, _lon)
        .select_from(_table)
        .where(_in_box("south", "west0", "north", "east0"), lower <= _param("outer"), *_group(shape, confirmed))
    )


#: (id, name) of the centers with these ids (to break distance ties).
_NAMES_STATEMENT = select(Center.id, Center.name).where(Center.id == func.any(bindparam("ids", type_=ARRAY(Integer))))
