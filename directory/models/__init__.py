"""SQLAlchemy 2 models, one module per aggregate."""

from directory.models.accounts import (
    ApiToken,
    ClaimStatus,
    Invitation,
    ListingClaim,
    PasswordReset,
    Role,
    User,
    center_staff,
)
from directory.models.audit import AuditEvent
from directory.models.base import Base
from directory.models.centers import Center, CenterAttribute, FormerExternalId
from directory.models.referrals import (
    Offer,
    OfferStatus,
    OutboxMessage,
    Referral,
    ReferralStatus,
    TimelineEntry,
)
from directory.models.upkeep import ListingReport, ProfileViews, ReportOutcome, ReportReason

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Center",
    "CenterAttribute",
    "FormerExternalId",
    "ClaimStatus",
    "Invitation",
    "ListingClaim",
    "ListingReport",
    "Offer",
    "OfferStatus",
    "OutboxMessage",
    "PasswordReset",
    "ProfileViews",
    "Referral",
    "ReferralStatus",
    "ReportOutcome",
    "ReportReason",
    "Role",
    "TimelineEntry",
    "User",
    "center_staff",
]
