"""Keeping listings true: problem reports from the public, and how often each profile is seen."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from directory.models.base import Base, utcnow
from directory.models.centers import Center
from directory.translatable import N_


class ReportReason(StrEnum):
    WRONG_PHONE = "wrong_phone"
    CLOSED = "closed"
    WRONG_SERVICES = "wrong_services"
    OTHER = "other"


#: What a person may say is wrong with a listing, in the order the form offers it.
REPORT_REASONS = {
    ReportReason.WRONG_PHONE: N_("The phone number is wrong"),
    ReportReason.CLOSED: N_("The center has closed"),
    ReportReason.WRONG_SERVICES: N_("The services listed are wrong"),
    ReportReason.OTHER: N_("Something else"),
}


class ReportOutcome(StrEnum):
    FIXED = "fixed"
    NOT_A_PROBLEM = "not_a_problem"


REPORT_OUTCOMES = {ReportOutcome.FIXED: N_("Fixed"), ReportOutcome.NOT_A_PROBLEM: N_("Not a problem")}

#: The longest note a report or a resolution may carry, in characters.
MAX_NOTE_LENGTH = 500


class ListingReport(Base):
    """Someone saying a listing is out of date; open until the center's staff or an admin resolve it.

    Nothing about the person who reported it is stored (no account, no address)."""

    __tablename__ = "listing_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(MAX_NOTE_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: How it was resolved: a `ReportOutcome`.
    resolution: Mapped[str | None] = mapped_column(String(20))
    resolution_note: Mapped[str | None] = mapped_column(String(MAX_NOTE_LENGTH))

    center: Mapped[Center] = relationship()

    __table_args__ = (
        Index("ix_listing_reports_center_id_resolved_at", "center_id", "resolved_at"),
        Index("ix_listing_reports_resolved_at", "resolved_at"),
    )


class ProfileViews(Base):
    """How many times a center's public profile was opened on one day (UTC)."""

    __tablename__ = "center_profile_views"

    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    views: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_center_profile_views_day", "day"),)
