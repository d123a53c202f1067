"""What a radius search asks and answers, the filters' SQL, and the exact ranking of candidates.

Both database paths (sqlite.py, postgis.py) narrow the centers to candidates with a spatial
index and the filters in SQL, then hand them to `page_of_matches`: in `rank` the exact WGS-84
distance decides who is inside the circle and in what order (distance, then name, then id), and
the page's listings are loaded.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import BindParameter, ColumnElement, Connection, bindparam, exists, select

from directory.models import Center, CenterAttribute
from directory.models.centers import VERIFICATION_VALID_DAYS
from directory.search.geocoding import Place
from directory.search.geodesy import bounding_box, distance_bounds, geodesic_miles_to, in_box
from directory.search.listing import CenterListing, load_listings
from directory.translatable import N_
from directory.vocabulary import expand_medication_filter

DEFAULT_RADIUS_MILES = 25
MAX_RADIUS_MILES = 500
MAX_PER_PAGE = 100

#: Pathways: named combinations of requirements, e.g. detox followed by naltrexone.
PATHWAYS: dict[str, str] = {
    "detox_naltrexone": N_("Medical detox and naltrexone at the same center"),
}
PATHWAY_CODES = {
    "levels_of_care": ("medical_detox",),
    "medications": tuple(expand_medication_filter(["naltrexone"])),
}

#: Result orders. Within each group of "confirmed_first", nearest first as usual.
SORTS: dict[str, str] = {
    "distance": N_("Nearest first"),
    "confirmed_first": N_("Listings confirmed by the center first, then nearest"),
}
DEFAULT_SORT = "distance"


@dataclass(frozen=True)
class SearchFilters:
    """What the person needs. Several values of one filter: any of them; different filters: all."""

    level_of_care: tuple[str, ...] = ()
    detox_substance: tuple[str, ...] = ()
    payment: tuple[str, ...] = ()
    medication: tuple[str, ...] = ()
    population: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    accepting_referrals: bool | None = None
    verified_only: bool = False
    pathway: str | None = None


@dataclass(frozen=True)
class SearchQuery:
    """One search: a page of the matches, or with `per_page=None` all of them (the router's)."""

    origin: Place
    radius_miles: float = DEFAULT_RADIUS_MILES
    filters: SearchFilters = field(default_factory=SearchFilters)
    page: int = 1
    per_page: int | None = 20
    sort: str = DEFAULT_SORT

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")
        if not 0 < self.radius_miles <= MAX_RADIUS_MILES:
            raise ValueError(f"radius_miles must be above 0 and at most {MAX_RADIUS_MILES}")
        if self.page < 1 or (self.per_page is not None and not 1 <= self.per_page <= MAX_PER_PAGE):
            raise ValueError(f"page must be 1 or more and per_page 1 to {MAX_PER_PAGE}")

    @property
    def window(self) -> slice:
        """The positions of this page among all the matches, in order."""
        if self.per_page is None:
            return slice(0, None)
        return slice((self.page - 1) * self.per_page, self.page * self.per_page)


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
        if self.query.per_page is None:
            return 1
        return max(1, -(-self.total // self.query.per_page))


def confirmed_since(now: datetime) -> datetime:
    """Listings confirmed after this moment count as confirmed (sort "confirmed_first")."""
    return now - timedelta(days=VERIFICATION_VALID_DAYS)


#: `confirmed_since(now)` in the search's SQL: a parameter, so the statements need not change with the time.
CONFIRMED_SINCE: BindParameter[datetime] = bindparam("confirmed_since", type_=Center.last_verified_at.type)


def candidate_columns(sort: str) -> tuple[ColumnElement[Any], ...]:
    """What `rank` takes of each candidate: id, latitude, longitude, and with sort
    "confirmed_first" whether the listing is confirmed."""
    if sort == "confirmed_first":
        return Center.id, Center.latitude, Center.longitude, Center.last_verified_at > CONFIRMED_SINCE
    return Center.id, Center.latitude, Center.longitude


#: Built once, as `directory.search.listing` builds its statement.
_NAMES = select(Center.id, Center.name).where(Center.id.in_(bindparam("ids", expanding=True)))


def center_names(connection: Connection, ids: Collection[int]) -> dict[int, str]:
    """The names of these centers, by id (to order equal distances)."""
    return dict(connection.execute(_NAMES, {"ids": list(ids)}).all())


def filter_conditions(filters: SearchFilters) -> list[ColumnElement[bool]]:
    """SQL conditions on `centers` for the filters: any value within a filter, all filters together;
    never a superseded listing (directory.sources.supersession). `verified_only` takes the
    parameter `confirmed_since`."""
    wanted = {
        "levels_of_care": filters.level_of_care,
        "detox_substances": filters.detox_substance,
        "payment_options": filters.payment,
        "medications": tuple(expand_medication_filter(list(filters.medication))),
        "populations": filters.population,
        "languages": filters.language,
    }
    conditions = [Center.superseded_at.is_(None)]
    if filters.pathway == "detox_naltrexone":
        conditions += [_has_any(kind, codes) for kind, codes in PATHWAY_CODES.items()]
    conditions += [_has_any(kind, codes) for kind, codes in wanted.items() if codes]
    if filters.accepting_referrals is not None:
        conditions.append(Center.accepting_referrals.is_(filters.accepting_referrals))
    if filters.verified_only:
        conditions.append(Center.last_verified_at > CONFIRMED_SINCE)
    return conditions


def _has_any(kind: str, codes: Sequence[str]) -> ColumnElement[bool]:
    """The center lists at least one of these codes of this kind."""
    return exists().where(
        CenterAttribute.center_id == Center.id, CenterAttribute.kind == kind, CenterAttribute.code.in_(codes)
    )


def page_of_matches(connection: Connection, query: SearchQuery, candidates: Sequence[Sequence[Any]]) -> SearchResult:
    """The search's answer from its candidates (rows of `candidate_columns`): how many match, and
    its page of them in order, each with its listing."""
    total, page = rank(connection, query, candidates)
    listings = load_listings(connection, [center_id for center_id, _ in page])
    return SearchResult(query, total, [SearchHit(listings[center_id], miles) for center_id, miles in page])


def rank(
    connection: Connection, query: SearchQuery, candidates: Sequence[Sequence[Any]]
) -> tuple[int, list[tuple[int, float]]]:
    """How many candidates lie within the radius, and the (id, miles) of those on the query's page.

    `candidates` are rows of `candidate_columns`: a superset of the matches (every center
    passing the filters near the circle). Distance bounds settle most of them; only those near
    the circle's edge, and those that may be among the nearest enough to fill the page, are
    measured exactly. With sort "confirmed_first" the confirmed group comes first. Equal
    distances are ordered by name (read on `connection`), then id.
    """
    if not candidates:
        return 0, []
    lat, lon, radius = query.origin.latitude, query.origin.longitude, query.radius_miles
    box = bounding_box(lat, lon, radius)
    columns = list(zip(*candidates, strict=True))
    ids = np.array(columns[0], dtype=np.int64)
    lats, lons = np.array(columns[1], dtype=float), np.array(columns[2], dtype=float)
    lower, upper = distance_bounds(lat, lon, box, lats, lons)
    maybe = np.flatnonzero(in_box(box, lats, lons) & (lower <= radius))
    miles = np.full(len(ids), np.nan)

    def measure(ks: np.ndarray) -> None:
        unmeasured = ks[np.isnan(miles[ks])]
        miles[unmeasured] = geodesic_miles_to(lat, lon, lats[unmeasured], lons[unmeasured])

    near_edge = maybe[upper[maybe] > radius]
    measure(near_edge)
    inside = np.concatenate([maybe[upper[maybe] <= radius], near_edge[miles[near_edge] <= radius]])
    groups = [inside]
    if query.sort == "confirmed_first":
        first_group = np.array(columns[3], dtype=bool)[inside]
        groups = [inside[first_group], inside[~first_group]]
    window = query.window
    wanted = len(inside) if window.stop is None else min(window.stop, len(inside))
    ranked: list[int] = []
    for group in groups:
        need = min(wanted - len(ranked), len(group))
        if need <= 0:
            continue
        if need < len(group):
            # The `need` nearest all lie within the need-th smallest upper bound.
            within = np.partition(upper[group], need - 1)[need - 1]
            group = group[lower[group] <= within]
        measure(group)
        order = group[np.lexsort((ids[group], miles[group]))].tolist()
        ranked += _names_break_ties(connection, order, miles, ids)[:need]
    return len(inside), [(int(ids[k]), float(miles[k])) for k in ranked[window]]


def _names_break_ties(connection: Connection, ordered: list[int], miles: np.ndarray, ids: np.ndarray) -> list[int]:
    """`ordered` (by distance, then id) with equal distances put in order of name, then id."""
    tied = {int(ids[k]) for a, b in zip(ordered, ordered[1:], strict=False) if miles[a] == miles[b] for k in (a, b)}
    if not tied:
        return ordered
    names = center_names(connection, tied)
    return sorted(ordered, key=lambda k: (miles[k], names.get(int(ids[k]), ""), ids[k]))
