"""What the HSDS API answers: its query parameters checked, the listings found, and the paged
envelope of Open Referral's reference API (`schema/openapi.json` of HSDS 3.0).

Lists are in order of the listings' ids, except proximity searches (`postcode`), which are the
directory's own radius search and come nearest first, without superseded listings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from directory.models import Center, CenterAttribute
from directory.search.geocoding import Geocoder, PlaceNotFound
from directory.search.service import MAX_PER_PAGE, MAX_RADIUS_MILES, SearchFilters, SearchQuery, find_centers_near
from directory.sources import hsds
from directory.vocabulary import ATTRIBUTE_VOCABULARIES

DEFAULT_PER_PAGE = 20
MAX_PAGE = 1_000_000
DEFAULT_PROXIMITY_MILES = 25
METERS_PER_MILE = 1609.344
MAX_PROXIMITY_METERS = int(MAX_RADIUS_MILES * METERS_PER_MILE)

_PAGING = ("page", "per_page", "format")
#: The query parameters of each answer, as the reference API names them.
PARAMETERS: dict[str, tuple[str, ...]] = {
    "services": ("search", *_PAGING, "taxonomy_term_id", "taxonomy_id", "organization_id", "modified_after",
                 "minimal", "full"),
    "service_at_locations": ("search", *_PAGING, "taxonomy_term_id", "taxonomy_id", "organization_id",
                             "modified_after", "full", "postcode", "proximity"),
    "organizations": ("search", *_PAGING, "full_service", "full"),
    "taxonomies": ("search", *_PAGING),
    "taxonomy_terms": ("search", *_PAGING, "taxonomy_id", "top_only", "parent_id"),
    "organization": ("full_service",),
    "one": (),
}  # fmt: skip
#: Parameters a proximity search (`postcode`) does not take: the radius search has no such filter.
NOT_WITH_POSTCODE = ("search", "modified_after", "organization_id", "taxonomy_id")
#: The search filter of each attribute kind (directory.search.query.SearchFilters).
FILTER_OF_KIND = {
    "levels_of_care": "level_of_care",
    "payment_options": "payment",
    "medications": "medication",
    "populations": "population",
    "languages": "language",
}
_ZIP = re.compile(r"^(\d{5})(?:-\d{4})?$")
_BOOLEANS = {"true": True, "false": False}


class ParameterError(ValueError):
    """Query parameters that are wrong: a message for each, by name."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(" ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class ListRequest:
    """A request's query parameters, checked."""

    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    search: str = ""
    modified_after: datetime | None = None
    #: taxonomy_term_id: (kind, code), or (kind, None) for a parent term.
    term: tuple[str, str | None] | None = None
    taxonomy_id: str | None = None
    #: organization_id: the listing it stands for.
    center_id: int | None = None
    minimal: bool = False
    full: bool = False
    full_service: bool = False
    postcode: str | None = None
    proximity_miles: float = DEFAULT_PROXIMITY_MILES
    top_only: bool = False
    parent_kind: str | None = None


def read_parameters(answer: str, args: Mapping[str, list[str]]) -> ListRequest:
    """The parameters of one answer (a key of PARAMETERS), checked; ParameterError names each
    that is wrong and says what is accepted."""
    accepted = PARAMETERS[answer]
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, given in args.items():
        if name not in accepted:
            errors[name] = f"not a parameter here; accepted: {', '.join(accepted) or 'none'}."
        elif len(given) != 1:
            errors[name] = "give it once."
        else:
            try:
                values[name] = _READERS[name](given[0].strip())
            except ValueError as error:
                errors[name] = str(error)
    if "postcode" in values:
        errors |= {name: "cannot be combined with postcode (a proximity search)." for name in NOT_WITH_POSTCODE
                   if name in values}  # fmt: skip
    elif "proximity" in values:
        errors["proximity"] = "needs postcode: the distance is measured from the postcode's centre."
    if errors:
        raise ParameterError(errors)
    term = values.get("taxonomy_term_id")
    return ListRequest(
        page=values.get("page", 1),
        per_page=values.get("per_page", DEFAULT_PER_PAGE),
        search=values.get("search", ""),
        modified_after=values.get("modified_after"),
        term=term,
        taxonomy_id=values.get("taxonomy_id"),
        center_id=values.get("organization_id"),
        minimal=values.get("minimal", False),
        full=values.get("full", False),
        full_service=values.get("full_service", False),
        postcode=values.get("postcode"),
        proximity_miles=values.get("proximity", DEFAULT_PROXIMITY_MILES * METERS_PER_MILE) / METERS_PER_MILE,
        top_only=values.get("top_only", False),
        parent_kind=values.get("parent_id"),
    )


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    def read(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"a whole number from {low} to {high}.")
        return int(text)

    return read


def _boolean(text: str) -> bool:
    if text.lower() not in _BOOLEANS:
        raise ValueError("true or false.")
    return _BOOLEANS[text.lower()]


def _format(text: str) -> str:
    if text != "json":
        raise ValueError("only json is served.")
    return text


def _search(text: str) -> str:
    if len(text) > 200:
        raise ValueError("at most 200 characters.")
    return text


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("an ISO 8601 date and time, e.g. 2026-01-31T00:00:00Z, or a date, e.g. 2026-01-31.") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _term(text: str) -> tuple[str, str | None]:
    if text not in hsds.TERMS:
        raise ValueError("not the id of a term of this directory's taxonomy (listed at /hsds/taxonomy_terms).")
    return hsds.TERMS[text]


def _parent(text: str) -> str:
    kind, code = _term(text)
    if code is not None:
        raise ValueError("this term has no child terms; parents are the terms without a parent_id.")
    return kind


def _taxonomy(text: str) -> str:
    if text != hsds.TAXONOMY_ID:
        raise ValueError(f"this directory has one taxonomy, {hsds.TAXONOMY_ID}.")
    return text


def _organization(text: str) -> int:
    center_id = hsds.center_id_of("organization", text)
    if center_id is None:
        raise ValueError("not the id of an organization of this directory.")
    return center_id


def _postcode(text: str) -> str:
    match = _ZIP.match(text)
    if match is None:
        raise ValueError("a US ZIP code of 5 digits, e.g. 60601.")
    return match.group(1)


def _proximity(text: str) -> float:
    try:
        meters = float(text)
    except ValueError:
        meters = float("nan")
    if not 0 < meters <= MAX_PROXIMITY_METERS:
        most = f"{MAX_PROXIMITY_METERS} ({MAX_RADIUS_MILES} miles)"
        raise ValueError(f"a distance in meters, above 0 and at most {most}.")
    return meters


_READERS: dict[str, Callable[[str], Any]] = {
    "search": _search,
    "page": _whole_number(1, MAX_PAGE),
    "per_page": _whole_number(1, MAX_PER_PAGE),
    "format": _format,
    "taxonomy_term_id": _term,
    "taxonomy_id": _taxonomy,
    "organization_id": _organization,
    "modified_after": _moment,
    "minimal": _boolean,
    "full": _boolean,
    "full_service": _boolean,
    "postcode": _postcode,
    "proximity": _proximity,
    "top_only": _boolean,
    "parent_id": _parent,
}


@dataclass(frozen=True)
class Page:
    """One page of a list, in the reference API's envelope."""

    contents: list[dict[str, Any]]
    total: int
    request: ListRequest

    def envelope(self) -> dict[str, Any]:
        pages = -(-self.total // self.request.per_page)
        return {
            "total_items": self.total,
            "total_pages": pages,
            "page_number": self.request.page,
            "size": len(self.contents),
            "first_page": self.request.page == 1,
            "last_page": self.request.page >= pages,
            "empty": not self.contents,
            "contents": self.contents,
        }


def _has_term(kind: str, code: str | None) -> ColumnElement[bool]:
    """The listing has this code (or with no code, any code of this kind)."""
    match = [CenterAttribute.center_id == Center.id, CenterAttribute.kind == kind]
    return exists().where(*match, *([CenterAttribute.code == code] if code is not None else []))


def _conditions(request: ListRequest) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if request.search:
        conditions.append(
            Center.name.icontains(request.search, autoescape=True)
            | Center.alt_name.icontains(request.search, autoescape=True)
        )
    if request.modified_after is not None:
        conditions.append(Center.updated_at >= request.modified_after)
    if request.term is not None:
        conditions.append(_has_term(*request.term))
    if request.taxonomy_id is not None:
        conditions.append(exists().where(CenterAttribute.center_id == Center.id))
    if request.center_id is not None:
        conditions.append(Center.id == request.center_id)
    return conditions


def _centers(session: Session, request: ListRequest) -> tuple[list[Center], int]:
    """A page of the listings (superseded ones too) that pass the request's filters, in id order,
    and how many pass them."""
    conditions = _conditions(request)
    total = session.scalar(select(func.count()).select_from(Center).where(*conditions)) or 0
    offset = (request.page - 1) * request.per_page
    query = select(Center).where(*conditions).order_by(Center.id).offset(offset).limit(request.per_page)
    return list(session.scalars(query)), total


def services_page(session: Session, request: ListRequest) -> Page:
    """A page of services: each a listing, superseded ones with status "inactive"."""
    centers, total = _centers(session, request)
    if request.minimal:
        return Page([hsds.minimal_service(center) for center in centers], total, request)
    return Page([hsds.service(center, full=request.full) for center in centers], total, request)


def organizations_page(session: Session, request: ListRequest) -> Page:
    """A page of organizations, with `full_service` each with its full service."""
    centers, total = _centers(session, request)
    return Page([_organization_with_services(center, request) for center in centers], total, request)


def _organization_with_services(center: Center, request: ListRequest, *, full: bool = False) -> dict[str, Any]:
    found = hsds.organization(center, full=full or request.full)
    if request.full_service:
        return {**found, "services": [hsds.service(center, full=True)]}
    if full:
        return {**found, "services": [hsds.service(center)]}
    return found


def service_at_locations_page(session: Session, request: ListRequest, geocoder: Geocoder) -> Page:
    """A page of services at locations; with `postcode`, the directory's radius search around
    it (nearest first, filters by taxonomy term, never a superseded listing)."""
    if request.postcode is None:
        centers, total = _centers(session, request)
    else:
        centers, total = _near(session, request, geocoder)
    return Page([hsds.service_at_location(center, full=request.full) for center in centers], total, request)


def _near(session: Session, request: ListRequest, geocoder: Geocoder) -> tuple[list[Center], int]:
    try:
        origin = geocoder.locate(request.postcode or "")
    except PlaceNotFound as error:
        raise ParameterError({"postcode": str(error)}) from None
    filters = SearchFilters()
    if request.term is not None:
        kind, code = request.term
        codes = (code,) if code is not None else tuple(ATTRIBUTE_VOCABULARIES[kind])
        filters = SearchFilters(**{FILTER_OF_KIND[kind]: codes})
    query = SearchQuery(origin, request.proximity_miles, filters, page=request.page, per_page=request.per_page)
    result = find_centers_near(session, query)
    ids = [hit.center.id for hit in result.hits]
    by_id = {center.id: center for center in session.scalars(select(Center).where(Center.id.in_(ids)))}
    return [by_id[center_id] for center_id in ids], result.total


def taxonomies_page(request: ListRequest) -> Page:
    """The directory's one taxonomy (if `search` finds it)."""
    found = [hsds.taxonomy()]
    return _page_of([item for item in found if _matches(item, request.search)], request)


def taxonomy_terms_page(request: ListRequest) -> Page:
    """A page of the vocabulary's terms, in order of id."""
    terms = [hsds.taxonomy_term(kind, code) for kind, code in hsds.TERMS.values()]
    if request.top_only:
        terms = [term for term in terms if "parent_id" not in term]
    if request.parent_kind is not None:
        terms = [term for term in terms if term.get("parent_id") == hsds.term_id(request.parent_kind)]
    return _page_of([term for term in terms if _matches(term, request.search)], request)


def _matches(item: dict[str, Any], search: str) -> bool:
    wanted = search.casefold()
    return not wanted or any(wanted in str(item.get(name, "")).casefold() for name in ("name", "code", "description"))


def _page_of(items: list[dict[str, Any]], request: ListRequest) -> Page:
    start = (request.page - 1) * request.per_page
    return Page(items[start : start + request.per_page], len(items), request)


def find_listing(session: Session, kind: str, hsds_id: str) -> Center | None:
    """The listing an id of this kind (a key of hsds.LISTING_KINDS) stands for, if there is one."""
    center_id = hsds.center_id_of(kind, hsds_id)
    return None if center_id is None else session.get(Center, center_id)


def full_service(center: Center) -> dict[str, Any]:
    """`/services/{id}`: the service with every related object nested."""
    return hsds.service(center, full=True)


def full_organization(center: Center, request: ListRequest) -> dict[str, Any]:
    """`/organizations/{id}`: the organization, its location, and its service (in full with `full_service`)."""
    return _organization_with_services(center, request, full=True)


def full_service_at_location(center: Center) -> dict[str, Any]:
    """`/service_at_locations/{id}`: the service at its location, both nested in full."""
    return {**hsds.service_at_location(center, full=True), "service": hsds.service(center, full=True)}


def find_term(hsds_id: str) -> dict[str, Any] | None:
    """`/taxonomy_terms/{id}`: the term with this id, if there is one."""
    found = hsds.TERMS.get(hsds_id)
    return None if found is None else hsds.taxonomy_term(*found)
