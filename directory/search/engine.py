"""Radius search: every matching center within the radius, nearest first, counted exactly.

The database narrows the candidates with a spatial index and the filters:
- on SQLite, a B-tree over each search row's latitude band and longitude (migration 0011: the
  circle read band by band, index-only), and an R*Tree over each center's point for a box
  across the antimeridian or over a pole and for the full list of candidates;
- on PostgreSQL, a GiST index over each search row's point (postgres.py, migration 0009), or
  where that path does not apply (a box across the antimeridian or a pole) PostGIS's
  `ST_DWithin` on the sphere, widened to hold every point of the ellipsoid's circle;
- without PostGIS, and on any other database, the (latitude, longitude) index.
A process that keeps a copy of the search rows in memory (memory.py) answers from it instead
whenever the copy is of the revision the session sees, with the same answers.

Filters on the small vocabularies read one bitmask per center (`center_search_rows`, see
masks.py). The exact WGS-84 distance then decides who is inside the circle and in what order,
so every path gives the same answer; on SQLite and PostgreSQL only the centers near the
circle's edge and the page's neighbourhood are measured (`_count_and_rank` here,
`postgres.count_and_rank`), the rest counted from bounds.
"""

from __future__ import annotations

import functools
import json
import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import (
    ARRAY,
    BigInteger,
    BindParameter,
    Column,
    ColumnElement,
    CompoundSelect,
    Engine,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from directory import schema
from directory.models import Center, CenterAttribute
from directory.models.base import utcnow
from directory.models.centers import VERIFICATION_VALID_DAYS
from directory.search.geocoding import Place
from directory.search.geodesy import BoundingBox, DegreeLengths, bounding_box, degree_lengths, geodesic_miles
from directory.search.listing import CenterListing, load_listings
from directory.search.masks import ACCEPTING_REFERRALS, MASKED_KINDS, center_search_rows
from directory.search.masks import bits as mask_bits
from directory.search.statements import DRIVERS, id_list, in_ids, json_each, run_select, run_sqlite, sqlite_connection
from directory.vocabulary import expand_medication_filter

if TYPE_CHECKING:
    from directory.search.memory import SearchIndex

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


NO_FILTERS = SearchFilters()


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
    center: CenterListing
    distance_miles: float


@dataclass(frozen=True)
class SearchResult:
    query: SearchQuery
    total: int
    hits: list[SearchHit]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


def find_centers_near(
    session: Session, query: SearchQuery, *, now: datetime | None = None, from_memory: bool = True
) -> SearchResult:
    """Find the centers within the radius that match the filters, in the query's order, one page of
    them: from the process's copy of the search rows when it has a current one (memory.py), else
    (or with `from_memory=False`) by the database's own statements."""
    now = now or utcnow()
    first, last = (query.page - 1) * query.per_page, query.page * query.per_page
    from directory.search import memory  # it imports this module

    if from_memory and (index := memory.index_for(session)) is not None:
        return _search_in_memory(session, query, index, first, last, now)
    if session.get_bind().dialect.name != "sqlite":
        if session.get_bind().dialect.name == "postgresql":
            from directory.search import postgres  # it imports this module

            if (result := postgres.find_centers_near(session, query, now=now)) is not None:
                return result
        # Elsewhere, and on PostgreSQL where its path does not apply: one pass over the candidates.
        ids, distances = matching_center_distances(session, query, now=now)
        return _load_page(session, query, len(ids), ids[first:last], distances[first:last])
    connection = sqlite_connection(session)
    values = filter_values(query.filters, now)
    shape = filter_shape(query.filters)

    def rank(confirmed: bool | None, lo: int, hi: int) -> Ranking:
        return _count_and_rank(connection, query, shape, confirmed, values, lo, hi)

    total, ids, distances = rank_page(query, first, last, rank)
    return _load_page(session, query, total, ids, distances, connection)


Ranking = tuple[int, list[int], list[float]]


def _search_in_memory(
    session: Session, query: SearchQuery, index: SearchIndex, first: int, last: int, now: datetime
) -> SearchResult:
    """`find_centers_near` from the process's copy of the search rows (memory.py), the page's
    listings from those it holds (or from the database, the first time)."""
    from directory.search import memory

    values, shape = filter_values(query.filters, now), filter_shape(query.filters)

    def names_of(ids: list[int]) -> list[str]:
        """Names of centers at equal distances: mostly on the page, so mostly held by the copy."""
        held, missing = index.listings.find(ids)
        names = {center_id: listing.name for center_id, listing in held.items()}
        if missing:
            names.update(_names(session, missing))
        return [names[i] for i in ids]

    def rank(confirmed: bool | None, lo: int, hi: int) -> Ranking:
        return memory.rank(index, query, shape, values, confirmed, lo, hi, names_of)

    total, ids, distances = rank_page(query, first, last, rank)
    centers = memory.page_listings(index, session, ids)
    return SearchResult(query, total, [SearchHit(centers[i], d) for i, d in zip(ids, distances, strict=True)])


def rank_page(query: SearchQuery, first: int, last: int, rank: Callable[[bool | None, int, int], Ranking]) -> Ranking:
    """(total, ids, distances) of the matches ranked `first` to `last` (0-based, last excluded) in
    the query's order, from `rank(confirmed, first, last)`, which ranks one group (None: all) by
    distance: with sort "confirmed_first", the confirmed group, then the rest from where it ends."""
    if query.sort != "confirmed_first":
        return rank(None, first, last)
    total, ids, distances = rank(True, first, last)
    rest_total, rest_ids, rest_distances = rank(False, max(0, first - total), max(0, last - total))
    return total + rest_total, ids + rest_ids, distances + rest_distances


def matching_center_distances(
    session: Session, query: SearchQuery, *, now: datetime | None = None
) -> tuple[list[int], list[float]]:
    """Ids and distances of every match, ordered by distance, then name, then id; with sort
    "confirmed_first", centers confirmed within VERIFICATION_VALID_DAYS come first, each group in that order."""
    now = now or utcnow()
    if query.sort != "confirmed_first" and query.filters == NO_FILTERS and session.get_bind().dialect.driver in DRIVERS:
        rows = _unfiltered_candidates(session, query)
    else:
        stmt = candidate_select(session, query, now=now)
        if query.sort == "confirmed_first":
            stmt = stmt.add_columns(_confirmed(now))
        rows = session.execute(stmt).all()
    if not rows:
        return [], []
    columns = list(zip(*rows, strict=True))
    ids = np.array(columns[0], dtype=np.int64)
    lats, lons = np.array(columns[1], dtype=np.float64), np.array(columns[2], dtype=np.float64)
    distances = geodesic_miles(query.origin.latitude, query.origin.longitude, lats, lons)
    inside = np.flatnonzero(distances <= query.radius_miles)
    later = ~np.array(columns[4], dtype=bool)[inside] if query.sort == "confirmed_first" else None
    chosen = inside[
        order_matches(
            ids[inside], distances[inside], lambda positions: [columns[3][k] for k in inside[positions]], later
        )
    ]
    return ids[chosen].tolist(), distances[chosen].tolist()


def _unfiltered_candidates(session: Session, query: SearchQuery) -> list[Sequence[Any]]:
    """No filters: (id, latitude, longitude, name) of the centers `candidate_select` reads, from a
    statement built once (per number of longitude ranges) with the place bound at execution,
    and sent straight to the driver (on PostgreSQL, prepared by psycopg after a few runs). The
    router reads its candidates this way for each referral: building and compiling the
    statement anew, and SQLAlchemy's work around running it, cost more than the database's own."""
    lat, lon, radius = query.origin.latitude, query.origin.longitude, query.radius_miles
    if session.get_bind().dialect.name == "postgresql" and uses_postgis(session):
        meters = (radius * SPHERE_WIDENING + 0.01) * METERS_PER_MILE
        return run_select(session, _sphere_statement(), {"lat": lat, "lon": lon, "meters": meters})
    box = bounding_box(lat, lon, radius)
    params: dict[str, Any] = {"south": box.south, "north": box.north}
    for i, (west, east) in enumerate(box.longitude_ranges):
        params[f"west_{i}"], params[f"east_{i}"] = west, east
    rtree = session.get_bind().dialect.name == "sqlite"
    return run_select(session, _box_statement(len(box.longitude_ranges), rtree), params)


@functools.cache
def _sphere_statement() -> Select:
    """PostGIS: `candidate_select`'s circle on the sphere, the place and distance bound at execution."""
    origin = func.geography(
        func.ST_SetSRID(func.ST_MakePoint(bindparam("lon", type_=Float), bindparam("lat", type_=Float)), 4326)
    )
    location = literal_column(f"centers.{schema.POSTGIS_COLUMN}")
    within = func.ST_DWithin(location, origin, bindparam("meters", type_=Float), literal_column("false"))
    return select(Center.id, Center.latitude, Center.longitude, Center.name).where(within)


@functools.cache
def _box_statement(ranges: int, rtree: bool) -> Select:
    """`candidate_select`'s bounding box, its edges bound at execution: on SQLite's R*Tree, or
    on the centers' own coordinates (PostgreSQL without PostGIS)."""
    stmt = select(Center.id, Center.latitude, Center.longitude, Center.name)
    if not rtree:
        return stmt.where(
            Center.latitude.between(bindparam("south", type_=Float), bindparam("north", type_=Float)),
            or_(
                *(
                    Center.longitude.between(bindparam(f"west_{i}", type_=Float), bindparam(f"east_{i}", type_=Float))
                    for i in range(ranges)
                )
            ),
        )
    loc = center_locations.c
    return stmt.join(center_locations, loc.id == Center.id).where(
        loc.max_lat >= bindparam("south"),
        loc.min_lat <= bindparam("north"),
        or_(
            *(and_(loc.max_lon >= bindparam(f"west_{i}"), loc.min_lon <= bindparam(f"east_{i}")) for i in range(ranges))
        ),
    )


def candidate_select(session: Session, query: SearchQuery, *, now: datetime | None = None) -> Select:
    """The SQL that returns (id, latitude, longitude, name) of every center in the bounding box
    that passes the filters: a superset of the answer, narrowed by the spatial index."""
    lat, lon, radius = query.origin.latitude, query.origin.longitude, query.radius_miles
    box = bounding_box(lat, lon, radius)
    stmt = select(Center.id, Center.latitude, Center.longitude, Center.name)
    if session.get_bind().dialect.name == "sqlite":
        stmt = stmt.join(center_locations, center_locations.c.id == Center.id).where(*in_box(box))
    elif uses_postgis(session):
        stmt = stmt.where(within_on_sphere(lat, lon, radius * SPHERE_WIDENING + 0.01))
    else:
        stmt = stmt.where(Center.latitude.between(box.south, box.north))
        stmt = stmt.where(or_(*(Center.longitude.between(w, e) for w, e in box.longitude_ranges)))
    return with_filters(stmt, query.filters, now or utcnow())


def with_filters(
    stmt: Select, filters: SearchFilters, now: datetime, center_id: ColumnElement[int] = Center.id
) -> Select:
    """`stmt` (which reads the centers row or the R*Tree row of `center_id`) narrowed to the
    centers passing the filters: joined to their filter masks when the filters use them."""
    if not uses_masks(filter_shape(filters)):
        return stmt.where(*filter_conditions(filters, now, center_id))
    stmt = stmt.join(center_search_rows, center_search_rows.c.center_id == center_id)
    return stmt.where(*filter_conditions(filters, now, center_id, mask=center_search_rows.c.mask))


#: A distance on PostGIS's sphere (mean radius 6,371,008.8 m) is at most 0.57% longer than the
#: WGS-84 geodesic between the same points (the meridian's radius of curvature is 6,335 km at
#: the equator): a circle widened by 1% on the sphere holds every point of the ellipsoid's circle.
SPHERE_WIDENING = 1.01
METERS_PER_MILE = 1609.344

_postgis_by_engine: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def uses_postgis(session: Session) -> bool:
    """Whether this PostgreSQL database has the PostGIS location column (looked up once per engine)."""
    engine = session.get_bind().engine
    if engine not in _postgis_by_engine:
        _postgis_by_engine[engine] = schema.has_postgis_locations(session.connection())
    return _postgis_by_engine[engine]


def within_on_sphere(lat: float, lon: float, miles: float) -> ColumnElement[bool]:
    """PostGIS: the center's point is within `miles` of (lat, lon) on the sphere (GiST index)."""
    origin = func.geography(func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326))
    location = literal_column(f"centers.{schema.POSTGIS_COLUMN}")
    return func.ST_DWithin(location, origin, miles * METERS_PER_MILE, False)


def in_box(box: BoundingBox) -> list[ColumnElement[bool]]:
    """Conditions on the R*Tree that keep the points in the box."""
    loc = center_locations.c
    return [
        loc.max_lat >= box.south,
        loc.min_lat <= box.north,
        or_(*(and_(loc.max_lon >= w, loc.min_lon <= e) for w, e in box.longitude_ranges)),
    ]


#: The R*Tree keeps each coordinate as a 32-bit float rounded outwards (within 4e-5 degrees,
#: 4 m, of the exact one): distance bounds computed from its coordinates are widened by this much.
#: The band index holds the exact coordinates; its statements keep the same margin, which also
#: covers the rounding of their arithmetic.
RTREE_SLACK_MILES = 0.005


FilterShape = tuple[tuple[str, ...], bool, bool | None, bool]


def _count_and_rank(
    connection: Any,
    query: SearchQuery,
    shape: FilterShape,
    confirmed: bool | None,
    values: dict[str, Any],
    first: int,
    last: int,
) -> tuple[int, list[int], list[float]]:
    """How many centers passing the filters (and, unless `confirmed` is None, confirmed or not) are
    within the radius, and the ids and distances of those ranked first to last (0-based, last
    excluded) in (distance, name, id) order.

    SQLite only (`connection` is the sqlite3 connection). Only the centers near the circle's
    edge and near its centre are measured exactly: one aggregate over the band index counts
    those certainly inside from distance bounds and lists the uncertain ones (`_sqlite_count`);
    then the nearest are found within a small radius that holds enough of them. The statements are built once per
    shape (filters present, longitude ranges) and cached; each search only binds its values.
    """
    lat, lon, radius = query.origin.latitude, query.origin.longitude, query.radius_miles
    certain, uncertain = _sqlite_count(connection, lat, lon, radius, shape, confirmed, values)
    if not certain and not uncertain:
        return 0, [], []
    # The matches within `reach` hold the first `last` once they are `last` or more (or all of
    # them): `reach` is guessed from the count, taking the uncertain ones as inside, and
    # widened if it falls short.
    estimate = certain + (uncertain.count(",") + 1 if uncertain else 0)
    reach = radius if estimate <= last else radius * min(1.0, math.sqrt(2 * last / estimate))
    total = None
    while True:
        if total is None:  # the uncertain points come with the first neighbourhood, measured with it
            rows = _sqlite_near(connection, lat, lon, reach, shape, confirmed, values, f"[{uncertain or ''}]")
            ids, distances = _distances(lat, lon, rows)
            edge = np.array([row[3] for row in rows], dtype=bool)
            total = certain + int(np.count_nonzero(distances[edge] <= radius))
            ids, distances = ids[~edge], distances[~edge]
        else:
            ids, distances = _distances(lat, lon, _sqlite_near(connection, lat, lon, reach, shape, confirmed, values))
        within = distances <= reach
        ids, distances = ids[within], distances[within]
        if len(ids) >= min(last, total) or reach >= radius:
            break
        reach = min(radius, reach * 2)
    if first >= min(last, total):
        return total, [], []

    def names_of(positions: np.ndarray) -> list[str]:
        wanted = ids[positions].tolist()
        found = dict(run_sqlite(connection, _NAMES_STATEMENT, {"ids": id_list(wanted)}))
        return [found[i] for i in wanted]

    chosen = order_matches(ids, distances, names_of, window=slice(first, last))[first:last]
    return total, ids[chosen].tolist(), distances[chosen].tolist()


EdgeRows = Sequence[Sequence[Any]]


def _sqlite_count(
    connection: Any, lat: float, lon: float, radius: float, shape: FilterShape, confirmed: bool | None, values: dict
) -> tuple[int, str | None]:
    """SQLite: how many matches the distance bounds put certainly inside, and the ids of the
    uncertain ones (comma-separated; None for none): band by band (`_band_count_statement`), or
    through the R*Tree for a box across the antimeridian or over a pole."""
    box = bounding_box(lat, lon, radius)
    lengths = degree_lengths(box)
    params = _box_values(lat, lon, box, lengths)
    params.update(values)
    params["inner"] = (radius - RTREE_SLACK_MILES) ** 2 if radius > RTREE_SLACK_MILES else -1.0
    params["outer"] = (radius + RTREE_SLACK_MILES) ** 2
    box_shape = _box_shape(box)
    if box_shape == (1, False):  # one longitude range (not across the antimeridian or a pole)
        params.update(_band_values(box))
        stmt = _band_count_statement(shape, confirmed)
    else:
        stmt = _count_statement(box_shape, shape, confirmed)
    ((certain, uncertain),) = run_sqlite(connection, stmt, params)
    return certain, uncertain


def _sqlite_near(
    connection: Any,
    lat: float,
    lon: float,
    reach: float,
    shape: FilterShape,
    confirmed: bool | None,
    values: dict,
    edge_ids: str | None = None,
) -> EdgeRows:
    """SQLite: (id, latitude, longitude) of the matches that may be within `reach`; with
    `edge_ids` (a JSON array of ids), each of them flagged 0, followed in the same statement by
    the (id, latitude, longitude, 1) of those ids (`_with_edge`)."""
    box = bounding_box(lat, lon, reach + RTREE_SLACK_MILES)
    lengths = degree_lengths(box)
    params = _box_values(lat, lon, box, lengths)
    params.update(values)
    params["outer"] = (reach + RTREE_SLACK_MILES) ** 2
    params["inner"] = -1.0  # the near statement needs no middle
    box_shape = _box_shape(box)
    if box_shape == (1, False):
        params.update(_band_values(box))
        stmt = _band_near_statement(shape, confirmed)
    else:
        stmt = _near_statement(box_shape, shape, confirmed)
    if edge_ids is None:
        return run_sqlite(connection, stmt, params)
    params["ids"] = edge_ids
    return run_sqlite(connection, _with_edge(stmt), params)


#: SQLite: each search row's latitude band is CAST(latitude * BANDS_PER_DEGREE + 90 *
#: BANDS_PER_DEGREE AS INTEGER), a generated column indexed with the row's longitude, latitude
#: and mask (migration 0011, which has the same number: a test holds them equal).
BANDS_PER_DEGREE = 20
_FIRST_BAND_OFFSET = 90 * BANDS_PER_DEGREE
#: Each band's latitudes are taken as this much wider on either side (degrees, 0.1 mm) than its
#: edges, so that float rounding in a row's band cannot put it outside the latitudes assumed.
_BAND_PADDING = 1e-9
#: Longitudes that no row has: a band with nothing certainly inside gets (_NO_WEST, _NO_EAST).
_NO_WEST, _NO_EAST = 1000.0, -1000.0

search_row_bands = Table(
    "center_search_rows",
    MetaData(),
    Column("center_id", Integer, primary_key=True),
    Column("band", Integer),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("mask", BigInteger),
)


def _band(latitude: float) -> int:
    """The band of a row at this latitude, as SQLite computes it (migration 0011)."""
    return int(latitude * BANDS_PER_DEGREE + _FIRST_BAND_OFFSET)


def _band_values(box: BoundingBox) -> dict[str, int]:
    """The `first_band` and `last_band` of the band statements: the bands the box crosses."""
    return {"first_band": _band(box.south), "last_band": _band(box.north)}


BoxShape = tuple[int, bool]


def _box_shape(box: BoundingBox) -> BoxShape:
    """What decides the box's SQL: how many longitude ranges, and whether it wraps around."""
    wraps = not (len(box.longitude_ranges) == 1 and box.longitude_ranges[0] != (-180.0, 180.0))
    return len(box.longitude_ranges), wraps


def _box_values(lat: float, lon: float, box: BoundingBox, lengths: DegreeLengths) -> dict[str, float]:
    """The values bound into the box's SQL (see `_box_sql`); `lengths` are the box's `degree_lengths`."""
    values = {
        "lat": lat,
        "lon": lon,
        "south": box.south,
        "north": box.north,
        "meridian_min2": lengths.meridian_min**2,
        "parallel_min2": lengths.parallel_min**2,
        "meridian_max2": lengths.meridian_max**2,
        "parallel_max2": lengths.parallel_max**2,
    }
    for i, (west, east) in enumerate(box.longitude_ranges):
        values[f"west{i}"], values[f"east{i}"] = west, east
    return values


def _box_sql(box: BoxShape) -> tuple[list[ColumnElement[bool]], ColumnElement[float], ColumnElement[float]]:
    """The R*Tree conditions of a box of this shape, and SQL for squared lower and upper bounds
    (square miles) of the distance to each point (see geodesy.DegreeLengths), with no
    trigonometry; every number is a bound parameter (`_box_values`)."""
    ranges, wraps = box
    loc = center_locations.c
    in_the_box = [
        loc.max_lat >= bindparam("south"),
        loc.min_lat <= bindparam("north"),
        or_(*(and_(loc.max_lon >= bindparam(f"west{i}"), loc.min_lon <= bindparam(f"east{i}")) for i in range(ranges))),
    ]
    dy = loc.min_lat - bindparam("lat", type_=Float)
    if wraps:  # across the antimeridian or around a pole: the shorter way round
        dx = func.min(
            func.abs(loc.min_lon - bindparam("lon", type_=Float)),
            360 - func.abs(loc.min_lon - bindparam("lon", type_=Float)),
        )
    else:
        dx = loc.min_lon - bindparam("lon", type_=Float)
    dy2, dx2 = dy * dy, dx * dx
    lower = dy2 * bindparam("meridian_min2", type_=Float) + dx2 * bindparam("parallel_min2", type_=Float)
    upper = dy2 * bindparam("meridian_max2", type_=Float) + dx2 * bindparam("parallel_max2", type_=Float)
    return in_the_box, lower, upper


def _group_sql(
    shape: FilterShape,
    confirmed: bool | None,
    center_id: ColumnElement[int] = center_locations.c.id,
    mask: ColumnElement[int] = center_search_rows.c.mask,
) -> list[ColumnElement[bool]]:
    """The filters (and the confirmed group, unless `confirmed` is None) on the center `center_id`,
    whose filter mask is `mask` (the R*Tree's id and the joined search row's mask by default)."""
    conditions = bound_filter_conditions(shape, center_id, mask=mask if uses_masks(shape) else None, json_codes=True)
    if confirmed is not None:
        is_confirmed = (
            exists()
            .where(Center.id == center_id, Center.last_verified_at > bindparam("verified_after"))
            .correlate_except(Center)
        )
        conditions.append(is_confirmed if confirmed else ~is_confirmed)
    return conditions


@functools.cache
def band_bounds() -> Any:
    """SQLite: the bands `first_band` to `last_band` (see `_band_values`) that may hold a point
    within `outer` (squared miles), with the longitudes where their rows may be (west_out to
    east_out) and their middle (west_in to east_in), where every point is certainly within
    `inner`: a CTE of (band, west_in, east_in, west_out, east_out).

    Each band's longitudes are computed in SQL from the same bounds as `_box_sql`'s: the middle
    by the upper bound at the band's latitude farthest from the centre, the reach by the lower
    bound at its nearest (see geodesy.DegreeLengths), within the box's longitudes (`west0` to
    `east0`). A band is taken to reach _BAND_PADDING beyond its edges, so that no row's rounding
    puts it outside them. A band with no middle gets (_NO_WEST, _NO_EAST), which no longitude
    is between."""
    lat, lon = bindparam("lat", type_=Float), bindparam("lon", type_=Float)
    inner, outer = bindparam("inner", type_=Float), bindparam("outer", type_=Float)
    numbers = select(bindparam("first_band", type_=Integer).label("band")).cte("band_numbers", recursive=True)
    numbers = numbers.union_all(
        select(numbers.c.band + 1).where(numbers.c.band < bindparam("last_band", type_=Integer))
    )
    south = (numbers.c.band - _FIRST_BAND_OFFSET) / float(BANDS_PER_DEGREE) - _BAND_PADDING
    north = (numbers.c.band + (1 - _FIRST_BAND_OFFSET)) / float(BANDS_PER_DEGREE) + _BAND_PADDING
    edges = select(numbers.c.band, func.abs(south - lat).label("dy_south"), func.abs(north - lat).label("dy_north"))
    edges = edges.add_columns(and_(south <= lat, lat <= north).label("holds_centre")).subquery("edges")
    farthest = func.max(edges.c.dy_south, edges.c.dy_north)
    nearest = case((edges.c.holds_centre, 0.0), else_=func.min(edges.c.dy_south, edges.c.dy_north))
    middle_left = inner - farthest * farthest * bindparam("meridian_max2", type_=Float)
    reach_left = outer - nearest * nearest * bindparam("meridian_min2", type_=Float)
    half_in = func.sqrt(middle_left / bindparam("parallel_max2", type_=Float))
    half_out = func.sqrt(reach_left / bindparam("parallel_min2", type_=Float))
    return (
        select(
            edges.c.band,
            case((middle_left >= 0, lon - half_in), else_=_NO_WEST).label("west_in"),
            case((middle_left >= 0, lon + half_in), else_=_NO_EAST).label("east_in"),
            func.max(bindparam("west0", type_=Float), lon - half_out).label("west_out"),
            func.min(bindparam("east0", type_=Float), lon + half_out).label("east_out"),
        )
        .where(reach_left >= 0)
        .cte("bands")
        .prefix_with("MATERIALIZED")  # each band's values computed once, not once per row
    )


def _band_sql() -> tuple[Any, ColumnElement[bool], ColumnElement[float], ColumnElement[float]]:
    """The search rows of the bands (`band_bounds`), each read through the band index
    (migration 0011, index-only) between the longitudes where its rows may be (west_out to
    east_out); whether a row is in its band's middle (west_in to east_in), where every point is
    certainly within `inner`; and SQL for squared lower and upper bounds of a row's distance (as
    `_box_sql`, from its exact point)."""
    lat, lon = bindparam("lat", type_=Float), bindparam("lon", type_=Float)
    bands = band_bounds()
    rows = search_row_bands.c
    source = bands.join(
        search_row_bands,
        and_(rows.band == bands.c.band, rows.longitude >= bands.c.west_out, rows.longitude <= bands.c.east_out),
    )
    in_middle = and_(rows.longitude >= bands.c.west_in, rows.longitude <= bands.c.east_in)
    dy = rows.latitude - lat
    dx = rows.longitude - lon
    dy2, dx2 = dy * dy, dx * dx
    lower = dy2 * bindparam("meridian_min2", type_=Float) + dx2 * bindparam("parallel_min2", type_=Float)
    upper = dy2 * bindparam("meridian_max2", type_=Float) + dx2 * bindparam("parallel_max2", type_=Float)
    return source, in_middle, lower, upper


def _band_group_sql(shape: FilterShape, confirmed: bool | None) -> list[ColumnElement[bool]]:
    """`_group_sql` on the search row of the band statements."""
    return _group_sql(shape, confirmed, search_row_bands.c.center_id, search_row_bands.c.mask)


@functools.lru_cache(maxsize=256)
def _band_count_statement(shape: FilterShape, confirmed: bool | None) -> Select:
    """`_count_statement` band by band: the rows within each band's west_in to east_in are
    counted with no arithmetic, and only the rest (near the circle's edge) are bounded."""
    source, in_middle, lower, upper = _band_sql()
    inner = bindparam("inner", type_=Float)
    certain = case((in_middle, 1), (upper <= inner, 1), else_=0)
    uncertain = case(
        (and_(~in_middle, upper > inner, lower <= bindparam("outer", type_=Float)), search_row_bands.c.center_id)
    )
    return (
        select(func.coalesce(func.sum(certain), 0), func.group_concat(uncertain))
        .select_from(source)
        .where(*_band_group_sql(shape, confirmed))
    )


@functools.lru_cache(maxsize=256)
def _band_near_statement(shape: FilterShape, confirmed: bool | None) -> Select:
    """`_near_statement` band by band."""
    source, _, lower, _ = _band_sql()
    rows = search_row_bands.c
    return (
        select(rows.center_id, rows.latitude, rows.longitude)
        .select_from(source)
        .where(lower <= bindparam("outer", type_=Float), *_band_group_sql(shape, confirmed))
    )


@functools.lru_cache(maxsize=512)
def _count_statement(box: BoxShape, shape: FilterShape, confirmed: bool | None) -> Select:
    """Count the centers certainly inside (upper bound within `inner`) and list the ids of the
    uncertain ones, among those in the box whose lower bound is within `outer`."""
    in_the_box, lower, upper = _box_sql(box)
    inner = bindparam("inner", type_=Float)
    return (
        select(
            func.coalesce(func.sum(case((upper <= inner, 1), else_=0)), 0),
            func.group_concat(case((upper > inner, center_locations.c.id))),
        )
        .select_from(_locations(shape))
        .where(
            *in_the_box,
            lower <= bindparam("outer", type_=Float),
            *_group_sql(shape, confirmed),  # bound first
        )
    )


@functools.lru_cache(maxsize=512)
def _near_statement(box: BoxShape, shape: FilterShape, confirmed: bool | None) -> Select:
    """(id, latitude, longitude) of the centers in the box whose lower bound is within `outer`
    (the exact point from the narrow search row, not the wide centers row)."""
    in_the_box, lower, _ = _box_sql(box)
    rows = center_search_rows.c
    return (
        select(rows.center_id, rows.latitude, rows.longitude)
        .select_from(center_locations.join(center_search_rows, rows.center_id == center_locations.c.id))
        .where(*in_the_box, lower <= bindparam("outer", type_=Float), *_group_sql(shape, confirmed))
    )


def _locations(shape: FilterShape) -> Any:
    """The R*Tree, joined to the filter masks when the filters use them."""
    if not uses_masks(shape):
        return center_locations
    return center_locations.join(center_search_rows, center_search_rows.c.center_id == center_locations.c.id)


@functools.lru_cache(maxsize=512)
def _with_edge(near: Select) -> CompoundSelect:
    """The rows of a near statement, each flagged 0, and then the (id, latitude, longitude, 1) of
    the centers whose ids are in the JSON array parameter `ids` (any number of ids, one bound
    value): the count's uncertain points, read with the first neighbourhood."""
    rows = center_search_rows.c
    edge = select(rows.center_id, rows.latitude, rows.longitude, literal_column("1")).where(in_ids(rows.center_id))
    return union_all(near.add_columns(literal_column("0")), edge)


def _names(session: Session, ids: list[int]) -> dict[int, str]:
    """The names of these centers, by id (to break ties in distance)."""
    connection = sqlite_connection(session)
    if connection is not None:
        return dict(run_sqlite(connection, _NAMES_STATEMENT, {"ids": id_list(ids)}))
    return dict(session.execute(_ANY_NAMES_STATEMENT, {"ids": ids}).all())


#: SQLite: (id, name) of the centers whose ids are in the JSON array `ids` (to break distance ties).
_NAMES_STATEMENT = select(Center.id, Center.name).where(in_ids(Center.id))
#: Any database: the same, the ids a list.
_ANY_NAMES_STATEMENT = select(Center.id, Center.name).where(Center.id.in_(bindparam("ids", expanding=True)))


def _distances(lat: float, lon: float, rows: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Ids and exact distances of (id, latitude, longitude, ...) rows."""
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    ids, lats, lons = list(zip(*rows, strict=True))[:3]
    return np.array(ids, dtype=np.int64), geodesic_miles(lat, lon, np.array(lats), np.array(lons))


def order_matches(
    ids: np.ndarray,
    distances: np.ndarray,
    names_of: Callable[[np.ndarray], Sequence[str]],
    later: np.ndarray | None = None,
    window: slice = slice(0, None),
) -> np.ndarray:
    """Positions that put the matches in (group, distance, name, id) order, exact at least within
    `window`; `later` marks the second group (none: one group). Equal distances are rare, so
    names (`names_of` positions) are looked up only for the runs of them that touch the window."""
    keys = (ids, distances) if later is None else (ids, distances, later)
    order = np.lexsort(keys)
    ordered = distances[order] if later is None else np.stack([distances[order], later[order]])
    tie = ordered[..., 1:] == ordered[..., :-1]
    tie = tie if tie.ndim == 1 else tie.all(axis=0)
    if not tie.any():
        return order
    stop = len(order) if window.stop is None else window.stop
    edges = np.diff(np.concatenate(([False], tie, [False])).view(np.int8))  # 1: a run starts, -1: it ended
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) + 1
    runs = [(a, b) for a, b in zip(starts, ends, strict=True) if a < stop and b > window.start]
    if runs:
        positions = np.concatenate([order[a:b] for a, b in runs])
        names = dict(zip(positions.tolist(), names_of(positions), strict=True))
        for a, b in runs:
            order[a:b] = sorted(order[a:b], key=lambda k: (names[k], ids[k]))
    return order


def _confirmed(now: datetime) -> ColumnElement[bool]:
    return Center.last_verified_at > now - timedelta(days=VERIFICATION_VALID_DAYS)


def _load_page(
    session: Session, query: SearchQuery, total: int, ids: list[int], distances: list[float], connection: Any = None
) -> SearchResult:
    """The page's centers, loaded with their attributes, in the given order."""
    centers = load_listings(session, ids, connection)
    return SearchResult(query, total, [SearchHit(centers[i], d) for i, d in zip(ids, distances, strict=True)])


def filter_conditions(
    filters: SearchFilters,
    now: datetime,
    center_id: ColumnElement[int] = Center.id,
    mask: ColumnElement[int] | None = None,
) -> list[ColumnElement[bool]]:
    """SQL conditions for the filters: any value within a filter, all filters together; on the
    centers row of `center_id` (Center.id when the query reads `centers`, else the R*Tree's id),
    and on its filter mask `mask` when the query joins `center_search_rows` (see `uses_masks`)."""
    return bound_filter_conditions(filter_shape(filters), center_id, filter_values(filters, now), mask=mask)


def _wanted(filters: SearchFilters) -> dict[str, tuple[str, ...]]:
    return {
        "levels_of_care": filters.level_of_care,
        "payment_options": filters.payment,
        "medications": tuple(expand_medication_filter(list(filters.medication))),
        "populations": filters.population,
        "languages": filters.language,
    }


def filter_shape(filters: SearchFilters) -> FilterShape:
    """What decides the filters' SQL, leaving out the values bound into it (see `filter_values`)."""
    kinds = tuple(kind for kind, codes in _wanted(filters).items() if codes)
    return kinds, filters.pathway == "detox_naltrexone", filters.accepting_referrals, filters.verified_only


def filter_values(filters: SearchFilters, now: datetime) -> dict[str, Any]:
    """The values bound into `bound_filter_conditions` (and the confirmed-first groups)."""
    wanted = {kind: codes for kind, codes in _wanted(filters).items() if codes}
    values: dict[str, Any] = {f"codes_{kind}": list(codes) for kind, codes in wanted.items()}
    values.update({f"codes_json_{kind}": json.dumps(list(codes)) for kind, codes in wanted.items()})
    values.update({f"bits_{kind}": mask_bits(kind, codes) for kind, codes in wanted.items() if kind in MASKED_KINDS})
    values["verified_after"] = now - timedelta(days=VERIFICATION_VALID_DAYS)
    return values


def uses_masks(shape: FilterShape) -> bool:
    """Whether any of these filters is answered from the filter masks (`center_search_rows`)."""
    kinds, pathway, accepting, _ = shape
    return pathway or accepting is not None or any(kind in MASKED_KINDS for kind in kinds)


PATHWAY_CODES = {
    "levels_of_care": ("medical_detox",),
    "medications": tuple(expand_medication_filter(["naltrexone"])),
}


def bound_filter_conditions(
    shape: FilterShape,
    center_id: ColumnElement[int],
    values: dict[str, Any] | None = None,
    *,
    mask: ColumnElement[int] | None = None,
    json_codes: bool = False,
    array_codes: bool = False,
) -> list[ColumnElement[bool]]:
    """`filter_conditions` with the codes and dates as bound parameters named as in `filter_values`,
    given at execution (so one statement serves every search of the same shape) unless `values`
    are given here; on the centers row of `center_id`, and on its filter mask `mask` if given.
    With `json_codes` (SQLite) a filter's codes are bound as one JSON array, with `array_codes`
    (PostgreSQL) as one array, so the statement has no list parameter and compiles once
    (statements.py)."""
    kinds, pathway, accepting, verified_only = shape

    def param(name: str, **kw: Any) -> BindParameter[Any]:
        return bindparam(name, values[name], **kw) if values is not None else bindparam(name, **kw)

    def has_bits(bits: BindParameter[Any] | int) -> ColumnElement[bool]:
        assert mask is not None
        return mask.op("&")(bits) != 0

    conditions = []
    if pathway:
        for kind, codes in PATHWAY_CODES.items():
            if mask is None:
                conditions.append(has_any(center_id, kind, codes))
            else:
                conditions.append(has_bits(bindparam(f"pathway_{kind}", mask_bits(kind, codes), type_=BigInteger)))
    for kind in kinds:
        if mask is not None and kind in MASKED_KINDS:
            conditions.append(has_bits(param(f"bits_{kind}", type_=BigInteger)))
        else:
            if array_codes:
                codes = param(f"codes_{kind}", type_=ARRAY(String))
                conditions.append(_exists_attribute(center_id, kind, CenterAttribute.code == any_(codes)))
                continue
            codes = json_each(param(f"codes_json_{kind}")) if json_codes else param(f"codes_{kind}", expanding=True)
            conditions.append(has_any(center_id, kind, codes))
    if accepting is not None and mask is not None:
        accepts = bindparam("accepting_referrals_bit", ACCEPTING_REFERRALS, type_=BigInteger)
        conditions.append(has_bits(accepts) if accepting else mask.op("&")(accepts) == 0)
    on_center = []
    if accepting is not None and mask is None:
        on_center.append(Center.accepting_referrals.is_(accepting))
    if verified_only:
        on_center.append(Center.last_verified_at > param("verified_after"))
    if on_center and center_id is not Center.id:
        return [*conditions, exists().where(Center.id == center_id, *on_center).correlate_except(Center)]
    return [*conditions, *on_center]


def has_any(center_id: ColumnElement[int], kind: str, codes: tuple[str, ...] | Any) -> ColumnElement[bool]:
    """Condition: the center has at least one of these codes for this attribute."""
    return _exists_attribute(center_id, kind, CenterAttribute.code.in_(codes))


def _exists_attribute(center_id: ColumnElement[int], kind: str, code: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(CenterAttribute.center_id == center_id, CenterAttribute.kind == kind, code)
