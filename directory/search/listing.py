"""A center as a search result shows it: read-only, loaded in one statement without ORM objects.

A results page shows 20 centers with their levels of care, payments and medications. Loading
them as ORM `Center` objects with their `CenterAttribute` rows made ~350 objects per page and
cost more than finding the page; a `CenterListing` is built from plain rows instead. It has the
same attribute names as `Center` for everything a result shows, so templates and API presenters
take either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

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

    def codes(self, kind: str) -> list[str]:
        """The vocabulary codes of one attribute (e.g. "levels_of_care"), sorted."""
        return list(self.codes_by_kind.get(kind, ()))


_CODES = (
    select(func.aggregate_strings(CenterAttribute.kind + ":" + CenterAttribute.code, ","))
    .where(CenterAttribute.center_id == Center.id)
    .scalar_subquery()
)
#: Built once: each page only binds its ids.
_LISTINGS = select(*COLUMNS, _CODES).where(Center.id.in_(bindparam("ids", expanding=True)))


def load_listings(session: Session, ids: Sequence[int]) -> dict[int, CenterListing]:
    """The listings of these centers, by id, in one statement (codes aggregated per center)."""
    if not ids:
        return {}
    listings = {}
    for *values, packed in session.execute(_LISTINGS, {"ids": list(ids)}):
        by_kind: dict[str, list[str]] = {}
        for pair in packed.split(",") if packed else ():
            kind, _, code = pair.partition(":")
            by_kind.setdefault(kind, []).append(code)
        listing = CenterListing(*values, codes_by_kind={k: tuple(sorted(v)) for k, v in by_kind.items()})
        listings[listing.id] = listing
    return listings
