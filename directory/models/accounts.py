"""People who sign in, what they may manage, and the tokens that stand in for them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from directory.models.base import Base, utcnow
from directory.models.centers import Center
from directory.translatable import N_


class Role(StrEnum):
    ADMIN = "admin"
    REFERRAL_STAFF = "referral_staff"
    CENTER_STAFF = "center_staff"


ROLE_LABELS = {
    Role.ADMIN: N_("Administrator"),
    Role.REFERRAL_STAFF: N_("Referral staff"),
    Role.CENTER_STAFF: N_("Center staff"),
}

center_staff = Table(
    "center_staff",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("center_id", ForeignKey("centers.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    """A signed-in person: an admin, referral staff, or staff of one or more centers."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: Argon2id hash; None until the person sets a password from an invitation.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)
    #: Part of the login cookie's user id; bumping it signs out every copy of every cookie.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    #: The language the person picked ("en" or "es"; None: not known, English): the worker's
    #: notices to them are written in it.
    language: Mapped[str | None] = mapped_column(String(5))

    centers: Mapped[list[Center]] = relationship(secondary=center_staff, order_by="Center.name", lazy="selectin")

    # The attributes Flask-Login expects, without importing Flask into the models.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    def manages(self, center: Center | int) -> bool:
        """Whether this user may edit the center (admins manage every center)."""
        if self.role == Role.ADMIN:
            return True
        center_id = center if isinstance(center, int) else center.id
        return self.role == Role.CENTER_STAFF and any(c.id == center_id for c in self.centers)


class Invitation(Base):
    """A single-use, expiring invitation to create an account with a role (and centers)."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(20))
    center_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PasswordReset(Base):
    """A single-use, short-lived password reset link."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token for the API, acting as its user; stored only as a hash."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    #: The first characters of the token, so a person can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class ClaimStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ListingClaim(Base):
    """A signed-in person asking to manage an imported listing; an admin decides."""

    __tablename__ = "listing_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=ClaimStatus.PENDING)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    center: Mapped[Center] = relationship()

    __table_args__ = (Index("ix_listing_claims_status", "status"),)
