"""A center as a search result shows it: read-only, loaded in one statement without ORM objects.

A results page shows 20 centers with their levels of care, payments and medications. Loading
them as ORM `Center` objects with their `CenterAttribute` rows made ~350 objects per page and
cost more than finding the page; a `CenterListing` is built from plain rows instead. It has the
same attribute names as `Center` for everything a result shows, so templates and API presenters
take either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Integer, any_, bindparam, column, func, or_, select, table
from sqlalchemy.orm import Session

from directory.models import Center, CenterAttribute
from directory.models.centers import ListingFacts
from directory.search.masks import MASKED_KINDS, center_search_rows, codes_of_mask
from directory.search.statements import id_list, in_ids, run_select, run_sqlite, sqlite_connection
from directory.vocabulary import ATTRIBUTE_VOCABULARIES

#: The listing's own columns, in the order `CenterListing` takes them.
COLUMNS = (
    Center.id,
    Center.slug,
    Center.external_id,
    Center.name,
    Center.alt_name,
    Center.street1,
    Center.street2,
    Center.city,
    Center.state,
    Center.zip,
    Center.phone,
    Center.intake_phone,
    Center.website,
    Center.latitude,
    Center.longitude,
    Center.accepting_referrals,
    Center.beds_available,
    Center.detox_stay_days,
    Center.source,
    Center.source_vintage,
    Center.last_verified_at,
)


@dataclass(frozen=True)
class CenterListing(ListingFacts):
    id: int
    slug: str
    external_id: str
    name: str
    alt_name: str | None
    street1: str | None
    street2: str | None
    city: str
    state: str
    zip: str
    phone: str | None
    intake_phone: str | None
    website: str | None
    latitude: float
    longitude: float
    accepting_referrals: bool
    beds_available: int | None
    detox_stay_days: int | None
    source: str
    source_vintage: int | None
    last_verified_at: datetime | None
    #: kind -> sorted codes, e.g. {"medications": ("naltrexone_oral",)}
    codes_by_kind: Mapping[str, tuple[str, ...]]
    #: What presenters made of this listing, by their own key (e.g. the API's JSON of a search
    #: result): kept with it, so a listing the copy of the directory holds (memory.py) is
    #: rendered once. Not part of the listing's value.
    renderings: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def codes(self, kind: str) -> list[str]:
        """The vocabulary codes of one attribute (e.g. "levels_of_care"), sorted."""
        return list(self.codes_by_kind.get(kind, ()))

    @classmethod
    def from_row(cls, values: Sequence[object], codes_by_kind: Mapping[str, tuple[str, ...]]) -> CenterListing:
        """A listing from the values of `COLUMNS`, in order. The same as calling the class, in a
        fifth of the time: a frozen dataclass's own __init__ sets each of its 22 fields through
        object.__setattr__, which was a third of loading a page in Python."""
        listing = object.__new__(cls)
        listing.__dict__.update(zip(_FIELDS, values, strict=True))
        listing.__dict__["codes_by_kind"] = codes_by_kind
        listing.__dict__["renderings"] = {}
        return listing


_FIELDS = tuple(column.key for column in COLUMNS)
assert tuple(f.name for f in fields(CenterListing))[: len(COLUMNS)] == _FIELDS

UNMASKED_KINDS = tuple(kind for kind in ATTRIBUTE_VOCABULARIES if kind not in MASKED_KINDS)
#: The codes without a bit in the search row's mask (languages), aggregated per center.
_UNMASKED_CODES = (
    select(func.aggregate_strings(CenterAttribute.kind + ":" + CenterAttribute.code, ","))
    .where(
        CenterAttribute.center_id == Center.id,
        # One bound value per kind, not an expanding list: the statement compiles once (statements.py).
        or_(*(CenterAttribute.kind == bindparam(f"unmasked_{kind}", kind) for kind in UNMASKED_KINDS)),
    )
    .scalar_subquery()
)
_MASK = select(center_search_rows.c.mask).where(center_search_rows.c.center_id == Center.id).scalar_subquery()


def listing_sql(mask: ColumnElement[int] = _MASK) -> tuple[ColumnElement[Any], ...]:
    """What a listing is read from, per centers row: `COLUMNS`, the search row's mask and the
    packed unmasked codes (`listings_from_rows` takes rows of these). The mask is looked up by
    the center's id unless the statement has it already (`mask`): PostgreSQL's search selects
    its page's listings in its count's statement, with the masks its index scan read (postgres.py)."""
    return (*COLUMNS, mask, _UNMASKED_CODES)


LISTING_SQL = listing_sql()
#: The directory revision, in a listing statement's own snapshot (one statement sees one).
_REVISION = (
    select(column("revision")).select_from(table("directory_revision")).where(column("id") == 1).scalar_subquery()
)


@dataclass(frozen=True)
class _Statements:
    """One listing statement, built once, in the form each database binds its ids best."""

    #: Any database: the ids as an expanding list.
    any: Any
    #: PostgreSQL: the ids as one array, the same SQL for every page (compiled once, and prepared).
    postgresql: Any
    #: SQLite: the ids as one JSON array (one statement for any number of ids, compiled once).
    sqlite: Any


def _statements(*columns: ColumnElement[Any]) -> _Statements:
    return _Statements(
        any=select(*columns).where(Center.id.in_(bindparam("ids", expanding=True))),
        postgresql=select(*columns).where(Center.id == any_(bindparam("ids", type_=ARRAY(Integer)))),
        sqlite=select(*columns).where(in_ids(Center.id)),
    )


_LISTINGS = _statements(*LISTING_SQL)
_LISTINGS_AT_REVISION = _statements(*LISTING_SQL, _REVISION)


def load_listings(session: Session, ids: Sequence[int], connection: Any = None) -> dict[int, CenterListing]:
    """The listings of these centers, by id, in one statement: the codes of the small
    vocabularies read from the search row's mask, the others (languages) aggregated.
    `connection`: the session's `sqlite_connection`, if the caller has it."""
    return listings_from_rows(_rows(session, _LISTINGS, ids, connection))


def load_listings_at_revision(session: Session, ids: Sequence[int]) -> tuple[int | None, dict[int, CenterListing]]:
    """`load_listings`, with the directory revision the statement read them at (revision.py;
    None if none of the centers was found): listings kept for one revision are of that revision."""
    rows = _rows(session, _LISTINGS_AT_REVISION, ids, None)
    revision = int(rows[0][-1]) if rows else None
    return revision, listings_from_rows(row[:-1] for row in rows)


def _rows(session: Session, statements: _Statements, ids: Sequence[int], connection: Any) -> Sequence[Sequence[Any]]:
    if not ids:
        return []
    connection = connection if connection is not None else sqlite_connection(session)
    if connection is not None:
        return run_sqlite(connection, statements.sqlite, {"ids": id_list(ids)})
    if session.get_bind().dialect.name == "postgresql":
        return run_select(session, statements.postgresql, {"ids": list(ids)})
    return session.execute(statements.any, {"ids": list(ids)}).all()


def listings_from_rows(rows: Iterable[Sequence[Any]]) -> dict[int, CenterListing]:
    """Listings by id from rows of `LISTING_SQL`."""
    listings = {}
    for *values, mask, packed in rows:
        codes = dict(codes_of_mask(mask or 0))
        if packed:
            by_kind: dict[str, list[str]] = {}
            for pair in packed.split(","):
                kind, _, code = pair.partition(":")
                by_kind.setdefault(kind, []).append(code)
            codes.update((kind, tuple(sorted(found))) for kind, found in by_kind.items())
        listing = CenterListing.from_row(values, codes)
        listings[listing.id] = listing
    return listings
