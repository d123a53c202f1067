"""Referrals: the intake (minimum necessary data), offers to centers, the timeline, the outbox.

Statuses and their FHIR Task equivalents (Task.status):

| referral     | FHIR Task   | | offer     | FHIR Task   |
| ------------ | ----------- | | --------- | ----------- |
| received     | received    | | offered   | requested   |
| routing      | ready       | | accepted  | accepted    |
| offered      | requested   | | declined  | rejected    |
| accepted     | accepted    | | expired   | failed      |
| in_progress  | in-progress | | withdrawn | cancelled   |
| completed    | completed   | | admitted  | in-progress |
| unplaced     | failed      | | no_show   | failed      |
| needs_review | on-hold     | | completed | completed   |
| cancelled    | cancelled   | |           |             |
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from directory.models.accounts import User
from directory.models.base import Base, utcnow
from directory.models.centers import Center


class ReferralStatus(StrEnum):
    RECEIVED = "received"
    ROUTING = "routing"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    UNPLACED = "unplaced"
    NEEDS_REVIEW = "needs_review"
    CANCELLED = "cancelled"


class OfferStatus(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    ADMITTED = "admitted"
    NO_SHOW = "no_show"
    COMPLETED = "completed"


FHIR_TASK_STATUS = {
    ReferralStatus.RECEIVED: "received",
    ReferralStatus.ROUTING: "ready",
    ReferralStatus.OFFERED: "requested",
    ReferralStatus.ACCEPTED: "accepted",
    ReferralStatus.IN_PROGRESS: "in-progress",
    ReferralStatus.COMPLETED: "completed",
    ReferralStatus.UNPLACED: "failed",
    ReferralStatus.NEEDS_REVIEW: "on-hold",
    ReferralStatus.CANCELLED: "cancelled",
    OfferStatus.OFFERED: "requested",
    OfferStatus.DECLINED: "rejected",
    OfferStatus.EXPIRED: "failed",
    OfferStatus.WITHDRAWN: "cancelled",
    OfferStatus.ADMITTED: "in-progress",
    OfferStatus.NO_SHOW: "failed",
}

OPEN_REFERRAL_STATUSES = (ReferralStatus.RECEIVED, ReferralStatus.ROUTING, ReferralStatus.OFFERED)


def _new_id() -> str:
    return uuid.uuid4().hex


class Referral(Base):
    """One person's referral: only what routing needs, no name or date of birth."""

    __tablename__ = "referrals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_new_id)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: The referrer's own id for the person (their case number), not a name.
    client_reference: Mapped[str] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    location: Mapped[str] = mapped_column(String(120))
    latitude: Mapped[float]
    longitude: Mapped[float]
    max_distance_miles: Mapped[float]
    payment: Mapped[str] = mapped_column(String(40))
    #: What the referral is for: alcohol use disorder, opioid use disorder, or both (at least one).
    alcohol_use_disorder: Mapped[bool]
    opioid_use_disorder: Mapped[bool] = mapped_column(default=True, server_default=true())
    #: Alcohol alone: any opioid use in the last 10 days ("yes", "no" or "unknown"); None for opioids.
    recent_opioid_use: Mapped[str | None] = mapped_column(String(10))
    #: Required for opioid use disorder; for alcohol alone, as far as known when opioids were used lately.
    primary_opioid: Mapped[str | None] = mapped_column(String(20))
    last_opioid_use: Mapped[datetime | None]
    #: The referrer's IANA time zone: the intake's local times were read in it, and are shown in it.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    liver_disease: Mapped[str] = mapped_column(String(10))
    on_opioid_pain_therapy: Mapped[bool]
    interacting_medications: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(20))
    populations: Mapped[list[str]] = mapped_column(JSON, default=list)
    consent_recipients: Mapped[str] = mapped_column(Text)
    consent_purpose: Mapped[str] = mapped_column(Text)
    consent_expires_on: Mapped[date] = mapped_column(Date)
    consent_revoked_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default=ReferralStatus.RECEIVED)
    status_reason: Mapped[str | None] = mapped_column(Text)
    #: The routing plan (steps, dates, flags), as shown to staff; rebuilt as offers change.
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    created_by: Mapped[User | None] = relationship()
    offers: Mapped[list[Offer]] = relationship(back_populates="referral", order_by="Offer.id")
    timeline: Mapped[list[TimelineEntry]] = relationship(order_by="TimelineEntry.id")

    __table_args__ = (
        Index("ix_referrals_status", "status"),
        Index("ix_referrals_created_by_id_client_reference", "created_by_id", "client_reference"),
    )

    @property
    def use_disorders(self) -> list[str]:
        """What the referral is for: ["alcohol"], ["opioids"] or ["alcohol", "opioids"]."""
        return [name for name, named in (("alcohol", self.alcohol_use_disorder), ("opioids", self.opioid_use_disorder))
                if named]  # fmt: skip


class Offer(Base):
    """The referral offered to one center for one step of the pathway."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(20))  # "detox" or "naltrexone"
    rank: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=OfferStatus.OFFERED)
    why: Mapped[list[str]] = mapped_column(JSON, default=list)
    distance_miles: Mapped[float]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    responded_at: Mapped[datetime | None]
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    admission_date: Mapped[date | None] = mapped_column(Date)
    target_start: Mapped[date | None] = mapped_column(Date)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    #: When the center's staff were reminded of the open offer (once, after OFFER_REMINDER_MINUTES).
    reminded_at: Mapped[datetime | None]

    referral: Mapped[Referral] = relationship(back_populates="offers")
    center: Mapped[Center] = relationship()

    # One offer per center per step: a repeated task delivery cannot offer twice.
    __table_args__ = (
        UniqueConstraint("referral_id", "step", "center_id"),
        Index("ix_offers_status_expires_at", "status", "expires_at"),
        Index("ix_offers_center_id_status", "center_id", "status"),
    )


class TimelineEntry(Base):
    """A change of a referral's or an offer's status: who, when, why."""

    __tablename__ = "referral_timeline"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(40))
    #: A user id, or None for the router itself.
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    by_label: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    """A task to send, written in the same transaction as the change that needs it: a routing
    task (`route_referral`), or a notice to mail (`notify_center_staff` of a new offer,
    `remind_center_staff` of an offer still open, `notify_placed_elsewhere` of an offer withdrawn
    because another center accepted, `notify_referrer` of a referral's new status,
    `ask_to_confirm_listing` of a center's stale listing, the one kind about a center rather than
    a referral).

    The committing process sends it after commit; beat's `dispatch_outbox` re-sends any not sent,
    or sent and not done in time, so a broker outage loses nothing. A notice's row is deleted once
    its mail went; a routing task is done when its referral is routed. Carries only ids.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(60))
    referral_id: Mapped[str | None] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    #: The center an `ask_to_confirm_listing` notice is about.
    center_id: Mapped[int | None] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    #: The offer a `notify_center_staff`, `remind_center_staff` or `notify_placed_elsewhere` notice is about.
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_outbox_dispatched_at", "dispatched_at"),
        Index("ix_outbox_offer_id", "offer_id"),
        Index("ix_outbox_center_id", "center_id"),
    )
