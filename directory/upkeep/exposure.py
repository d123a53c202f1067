"""How much people see each listing, and the stale listings ranked by it, for the admin dashboard.

Exposure is profile views in the last 30 days (one upsert per view, in `center_profile_views`) plus
referral offers made to the center in the last 90 days. Searches are not counted: a write per search
would slow the search down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from directory.models import Center, ListingReport, Offer, ProfileViews
from directory.upkeep.confirmations import unconfirmed

VIEWS_WINDOW = timedelta(days=30)
OFFERS_WINDOW = timedelta(days=90)


def count_profile_view(session: Session, center_id: int, day: date) -> None:
    """Add one view of a center's profile to its count for `day` (the caller commits)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(ProfileViews).values(center_id=center_id, day=day, views=1)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[ProfileViews.center_id, ProfileViews.day], set_={"views": ProfileViews.views + 1}
        )
    )


@dataclass(frozen=True)
class StaleListing:
    """A listing not confirmed for 90 days, with how much people see it and its open reports."""

    center_id: int
    name: str
    city: str
    state: str
    slug: str
    last_verified_at: datetime | None
    confirmation_requested_at: datetime | None
    open_reports: int
    views: int
    offers: int

    @property
    def exposure(self) -> int:
        return self.views + self.offers


@dataclass(frozen=True)
class StalePage:
    listings: list[StaleListing]
    page: int
    pages: int
    total: int


def stale_listings(session: Session, *, now: datetime, page: int = 1, per_page: int = 50) -> StalePage:
    """One page of the listings not confirmed for 90 days, most seen (views + offers) first, then by name."""
    views = (
        select(ProfileViews.center_id, func.sum(ProfileViews.views).label("n"))
        .where(ProfileViews.day >= (now - VIEWS_WINDOW).date())
        .group_by(ProfileViews.center_id)
        .subquery()
    )
    offers = (
        select(Offer.center_id, func.count().label("n"))
        .where(Offer.created_at >= now - OFFERS_WINDOW)
        .group_by(Offer.center_id)
        .subquery()
    )
    reports = (
        select(ListingReport.center_id, func.count().label("n"))
        .where(ListingReport.resolved_at.is_(None))
        .group_by(ListingReport.center_id)
        .subquery()
    )
    view_count, offer_count = func.coalesce(views.c.n, 0), func.coalesce(offers.c.n, 0)
    stale = unconfirmed(now)
    total = session.scalar(select(func.count()).select_from(Center).where(stale)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = session.execute(
        select(
            Center.id,
            Center.name,
            Center.city,
            Center.state,
            Center.slug,
            Center.last_verified_at,
            Center.confirmation_requested_at,
            func.coalesce(reports.c.n, 0),
            view_count,
            offer_count,
        )
        .outerjoin(views, views.c.center_id == Center.id)
        .outerjoin(offers, offers.c.center_id == Center.id)
        .outerjoin(reports, reports.c.center_id == Center.id)
        .where(stale)
        .order_by((view_count + offer_count).desc(), Center.name, Center.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return StalePage([StaleListing(*row) for row in rows], page, pages, total)
