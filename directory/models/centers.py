"""A treatment center's listing and its multi-valued attributes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from directory.models.base import Base, utcnow
from directory.vocabulary import ATTRIBUTE_VOCABULARIES

#: A listing not confirmed by its center for this many days shows as unconfirmed again.
VERIFICATION_VALID_DAYS = 180


def is_verified(last_verified_at: datetime | None, now: datetime) -> bool:
    """Whether a listing last confirmed at `last_verified_at` counts as confirmed at `now` (180 days)."""
    if last_verified_at is None:
        return False
    return (now - last_verified_at).days < VERIFICATION_VALID_DAYS


class ListingFacts:
    """What a listing shows of its codes, and whether it is confirmed: shared by `Center` and the
    read-only `CenterListing` of search results. Needs `codes(kind)` and `last_verified_at`."""

    def codes(self, kind: str) -> list[str]:
        raise NotImplementedError

    @property
    def levels_of_care(self) -> list[str]:
        return self.codes("levels_of_care")

    @property
    def detox_substances(self) -> list[str]:
        return self.codes("detox_substances")

    @property
    def payment_options(self) -> list[str]:
        return self.codes("payment_options")

    @property
    def medications(self) -> list[str]:
        return self.codes("medications")

    @property
    def populations(self) -> list[str]:
        return self.codes("populations")

    @property
    def languages(self) -> list[str]:
        return self.codes("languages")

    def is_verified(self, now: datetime) -> bool:
        """Whether the center confirmed its listing within the last 180 days."""
        return is_verified(self.last_verified_at, now)  # type: ignore[attr-defined]


class Center(ListingFacts, Base):
    __tablename__ = "centers"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    #: "<source>:<the source's own id>", the key re-imports update by.
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    alt_name: Mapped[str | None] = mapped_column(String(200))
    street1: Mapped[str | None] = mapped_column(String(200))
    street2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(2))
    zip: Mapped[str] = mapped_column(String(5))
    phone: Mapped[str | None] = mapped_column(String(40))
    intake_phone: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str | None] = mapped_column(String(300))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    #: Whether the center takes referrals now; None until its center says (imported listings).
    accepting_referrals: Mapped[bool | None] = mapped_column(Boolean)
    beds_available: Mapped[int | None] = mapped_column(Integer)
    detox_stay_days: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(60))
    source_vintage: Mapped[int | None] = mapped_column(Integer)
    #: The day the source listed the center (e.g. the date of a FindTreatment.gov download), when known.
    source_date: Mapped[date | None]
    last_verified_at: Mapped[datetime | None]
    #: When the center's staff were last mailed to confirm the listing (directory/upkeep/confirmations.py).
    confirmation_requested_at: Mapped[datetime | None]
    #: Set when the center's own staff edit the listing; imports then leave it alone.
    center_edited_at: Mapped[datetime | None]
    #: Set when an import covering the listing's state from a newer source no longer had it: the
    #: listing then leaves search and routing, and its profile says so (directory.sources.supersession).
    superseded_at: Mapped[datetime | None]
    #: The source, and the day of it, that no longer had the listing. Kept when an administrator
    #: restores the listing: only an import newer than that day can supersede it again.
    superseded_by: Mapped[str | None] = mapped_column(String(60))
    superseded_by_date: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    attributes: Mapped[list[CenterAttribute]] = relationship(
        back_populates="center",
        cascade="all, delete-orphan",
        order_by="CenterAttribute.code",
        lazy="selectin",
    )

    former_external_ids: Mapped[list[FormerExternalId]] = relationship(
        back_populates="center", cascade="all, delete-orphan", lazy="raise"
    )

    __table_args__ = (Index("ix_centers_state_city", "state", "city"), Index("ix_centers_zip", "zip"))

    @property
    def superseded(self) -> bool:
        """Whether a newer source covering the listing's state no longer has it."""
        return self.superseded_at is not None

    def codes(self, kind: str) -> list[str]:
        """The vocabulary codes of one attribute (e.g. "levels_of_care"), sorted."""
        return sorted(a.code for a in self.attributes if a.kind == kind)

    def set_codes(self, kind: str, codes: list[str]) -> None:
        """Replace one attribute's codes, keeping rows that stay."""
        wanted = set(codes)
        keep = [a for a in self.attributes if a.kind != kind or a.code in wanted]
        have = {a.code for a in keep if a.kind == kind}
        keep.extend(CenterAttribute(kind=kind, code=c) for c in sorted(wanted - have))
        self.attributes = keep


class CenterAttribute(Base):
    """One vocabulary code of a center: e.g. kind "medications", code "naltrexone_oral"."""

    __tablename__ = "center_attributes"

    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    code: Mapped[str] = mapped_column(String(60), primary_key=True)

    center: Mapped[Center] = relationship(back_populates="attributes")

    __table_args__ = (Index("ix_center_attributes_kind_code", "kind", "code"),)


class FormerExternalId(Base):
    """An external id a center had before an import from a newer source matched it to its place,
    so that importing the older source again updates nothing and creates no duplicate."""

    __tablename__ = "former_external_ids"

    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"), index=True)

    center: Mapped[Center] = relationship(back_populates="former_external_ids")


ATTRIBUTE_KINDS = tuple(ATTRIBUTE_VOCABULARIES)
