"""What administrators decide: listing claims, and which accounts may sign in (plain functions, no Flask)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from directory.accounts import audit
from directory.accounts.service import sign_out_everywhere
from directory.models import ClaimStatus, ListingClaim, Role, User
from directory.models.accounts import ROLE_LABELS
from directory.models.base import utcnow


class DecisionError(ValueError):
    """A decision that cannot be made as asked; the message says why and what to do instead."""


def approve_claim(session: Session, claim: ListingClaim, actor: User, now: datetime | None = None) -> None:
    """Let the claimant manage the claimed center.

    Only center staff manage centers, and approving a claim never changes anyone's role: a claim
    by referral staff or an administrator is refused (reject it, or invite the person as center
    staff). That keeps the one way to gain a role an explicit invitation.
    """
    _require_pending(claim)
    user = claim.user
    if user.role != Role.CENTER_STAFF:
        role = ROLE_LABELS[Role(user.role)].lower()
        raise DecisionError(
            f"{user.email} is {role}, and only center staff manage listings. "
            "Reject the claim, or invite them as center staff."
        )
    if not user.active:
        raise DecisionError(f"The account of {user.email} is deactivated. Reactivate it first, or reject the claim.")
    before = sorted(c.id for c in user.centers)
    if claim.center_id not in before:
        user.centers.append(claim.center)
        after = sorted([*before, claim.center_id])
        audit.record(session, actor, "user.centers", "user", user.id, changes={"centers": (before, after)})
    _decide(session, claim, ClaimStatus.APPROVED, actor, now)


def reject_claim(session: Session, claim: ListingClaim, actor: User, now: datetime | None = None) -> None:
    """Turn the claim down; the claimant's centers stay as they are."""
    _require_pending(claim)
    _decide(session, claim, ClaimStatus.REJECTED, actor, now)


def _require_pending(claim: ListingClaim) -> None:
    if claim.status != ClaimStatus.PENDING:
        raise DecisionError(f"This claim was already {claim.status}.")


def _decide(session: Session, claim: ListingClaim, status: ClaimStatus, actor: User, now: datetime | None) -> None:
    claim.status = status.value
    claim.decided_by_id = actor.id
    claim.decided_at = now or utcnow()
    audit.record(
        session,
        actor,
        "claim.approve" if status == ClaimStatus.APPROVED else "claim.reject",
        "listing_claim",
        claim.id,
        changes={"status": (ClaimStatus.PENDING.value, status.value)},
        detail=f"user {claim.user_id} for center {claim.center_id}",
    )


def set_active(session: Session, user: User, active: bool, actor: User) -> None:
    """Deactivate (and sign out everywhere) or reactivate an account; nobody can deactivate themselves."""
    if not active and user.id == actor.id:
        raise DecisionError("You cannot deactivate your own account. Ask another administrator.")
    if user.active == active:
        return
    user.active = active
    if not active:
        sign_out_everywhere(user)
    action = "user.activate" if active else "user.deactivate"
    audit.record(session, actor, action, "user", user.id, changes={"active": (not active, active)})
