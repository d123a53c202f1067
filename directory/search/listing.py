"""A center as a search result shows it: read-only, loaded without ORM objects.

A page of results shows each center with its codes; loading `Center` objects with their
`CenterAttribute` rows makes hundreds of objects per page, so a `CenterListing` is built from
plain rows instead. It has the same attribute names as `Center` for everything a result shows,
so templates and API presenters take either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, bindparam, func, select

from directory.models import Center, CenterAttribute
from directory.models.centers import ListingFacts

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
    Center.source_date,
    Center.last_verified_at,
)
#: Ids per statement: well within every database's limit on bound parameters.
_IDS_PER_STATEMENT = 5000


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
    accepting_referrals: bool | None
    beds_available: int | None
    detox_stay_days: int | None
    source: str
    source_vintage: int | None
    source_date: date | None
    last_verified_at: datetime | None
    #: kind -> sorted codes, e.g. {"medications": ("naltrexone_oral",)}
    codes_by_kind: Mapping[str, tuple[str, ...]]

    def codes(self, kind: str) -> list[str]:
        """The vocabulary codes of one attribute (e.g. "levels_of_care"), sorted."""
        return list(self.codes_by_kind.get(kind, ()))


_CODES = (
    select(func.aggregate_strings(CenterAttribute.kind + ":" + CenterAttribute.code, ","))
    .where(CenterAttribute.center_id == Center.id)
    .scalar_subquery()
)
#: Built once: SQLAlchemy keeps its compiled form, and the ids go in as one expanding parameter.
_LISTINGS = select(*COLUMNS, _CODES).where(Center.id.in_(bindparam("ids", expanding=True)))


def load_listings(connection: Connection, ids: Sequence[int]) -> dict[int, CenterListing]:
    """The listings of these centers, by id, each with its codes (one row per center)."""
    listings = {}
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        chunk = list(ids[start : start + _IDS_PER_STATEMENT])
        for *values, packed in connection.execute(_LISTINGS, {"ids": chunk}).all():
            by_kind: dict[str, list[str]] = {}
            for pair in packed.split(",") if packed else ():
                kind, _, code = pair.partition(":")
                by_kind.setdefault(kind, []).append(code)
            codes = {kind: tuple(sorted(found)) for kind, found in by_kind.items()}
            listing = CenterListing(*values, codes_by_kind=codes)
            listings[listing.id] = listing
    return listings
