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
    "Offer",
    "OfferStatus",
    "OutboxMessage",
    "PasswordReset",
    "Referral",
    "ReferralStatus",
    "Role",
    "TimelineEntry",
    "User",
    "center_staff",
]
