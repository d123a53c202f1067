"""Account operations: users, invitations, sign-in, password resets and API tokens.

Plain functions over a SQLAlchemy session; the web views and the command line call them. The
messages a person reads on the account pages are marked for the catalogue (directory.translatable).
Tokens are returned once, in clear, to be sent or printed; only their hashes are stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.accounts import audit
from directory.accounts.passwords import hash_password, needs_rehash, password_problem, verify_password
from directory.accounts.tokens import hash_token, new_token
from directory.models import ApiToken, Center, Invitation, PasswordReset, Role, User
from directory.models.base import utcnow
from directory.translatable import N_

INVITATION_LIFETIME = timedelta(hours=72)
PASSWORD_RESET_LIFETIME = timedelta(hours=1)
API_TOKEN_PREFIX = "tdk_"


class AccountError(ValueError):
    """A request about an account that cannot be done; `field` names the input at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def normalize_email(email: str) -> str:
    """The canonical (lower-case) form of an email address; raises AccountError if it is not one."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise AccountError(f"Not a valid email address: {error}", "email") from error


def normalize_new_email(email: str) -> str:
    """The canonical form of an address given to a new account or invitation, which the app must be
    able to mail: ASCII before the @, as every mail server takes (a domain with accents is mailed in
    its ASCII form, IDNA); raises AccountError if it is not."""
    address = normalize_email(email)
    if not address.rpartition("@")[0].isascii():
        raise AccountError(
            f"Not every mail server can deliver to {email.strip()}: before the @, use only unaccented letters "
            "(a-z), digits and punctuation such as . _ + - (after the @, accents are fine, e.g. maria@exämple.org).",
            "email",
        )
    return address


def parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        accepted = ", ".join(r.value for r in Role)
        raise AccountError(f"Unknown role {role!r}; accepted: {accepted}.", "role") from None


def _centers(session: Session, role: Role, center_ids: Iterable[int]) -> list[Center]:
    ids = sorted(set(center_ids))
    if role != Role.CENTER_STAFF:
        if ids:
            raise AccountError("Only center staff belong to centers.", "centers")
        return []
    if not ids:
        raise AccountError("Center staff need at least one center.", "centers")
    centers = list(session.scalars(select(Center).where(Center.id.in_(ids))))
    missing = sorted(set(ids) - {c.id for c in centers})
    if missing:
        raise AccountError(f"No center has id {', '.join(map(str, missing))}.", "centers")
    return centers


def find_user(session: Session, email: str) -> User | None:
    try:
        return session.scalar(select(User).where(User.email == normalize_email(email)))
    except AccountError:
        return None


def create_user(
    session: Session,
    email: str,
    role: str,
    center_ids: Iterable[int] = (),
    *,
    password: str | None = None,
    actor: User | None = None,
) -> User:
    """A new account; without a password it can only be entered through an invitation."""
    address, parsed = normalize_new_email(email), parse_role(role)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise AccountError(f"There is already an account for {address}.", "email")
    if password is not None and (problem := password_problem(password)):
        raise AccountError(problem, "password")
    user = User(email=address, role=parsed.value, centers=_centers(session, parsed, center_ids))
    if password is not None:
        user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", "user", user.id, detail=f"role {parsed.value}")
    return user


def create_invitation(
    session: Session,
    email: str,
    role: str,
    center_ids: Iterable[int] = (),
    *,
    invited_by: User | None = None,
    now: datetime | None = None,
) -> tuple[Invitation, str]:
    """An invitation and its one-time token (to be mailed, never stored in clear)."""
    address, parsed = normalize_new_email(email), parse_role(role)
    existing = session.scalar(select(User).where(User.email == address))
    if existing is not None and existing.password_hash is not None:
        raise AccountError(f"{address} already has an account.", "email")
    centers = _centers(session, parsed, center_ids)
    token = new_token()
    invitation = Invitation(
        email=address,
        role=parsed.value,
        center_ids=[c.id for c in centers],
        token_hash=hash_token(token),
        invited_by_id=invited_by.id if invited_by else None,
        expires_at=(now or utcnow()) + INVITATION_LIFETIME,
    )
    session.add(invitation)
    session.flush()
    audit.record(session, invited_by, "invitation.create", "invitation", invitation.id, detail=f"role {parsed.value}")
    return invitation, token


def find_invitation(session: Session, token: str, now: datetime | None = None) -> Invitation:
    """The open invitation for a token; raises AccountError if unknown, used or expired."""
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if invitation is None:
        raise AccountError(N_("This invitation link is not valid. Ask for a new one."))
    if invitation.used_at is not None:
        raise AccountError(N_("This invitation link has already been used. Sign in, or ask for a new one."))
    if invitation.expires_at <= (now or utcnow()):
        raise AccountError(N_("This invitation link has expired. Ask for a new one."))
    return invitation


def accept_invitation(session: Session, token: str, password: str, now: datetime | None = None) -> User:
    """Create (or complete) the invited account with its password; the link then stops working."""
    now = now or utcnow()
    invitation = find_invitation(session, token, now)
    if problem := password_problem(password):
        raise AccountError(problem, "password")
    user = session.scalar(select(User).where(User.email == invitation.email))
    role = Role(invitation.role)
    if user is None:
        user = User(email=invitation.email, role=role.value)
        session.add(user)
    user.role = role.value
    user.centers = _centers(session, role, invitation.center_ids) if role == Role.CENTER_STAFF else []
    user.password_hash = hash_password(password)
    user.session_version = (user.session_version or 0) + 1
    invitation.used_at = now
    session.flush()
    audit.record(session, user, "invitation.accept", "invitation", invitation.id)
    return user


def authenticate(session: Session, email: str, password: str, now: datetime | None = None) -> User | None:
    """The user for these credentials, or None; an unknown email costs as much time as a wrong password."""
    user = find_user(session, email)
    if not verify_password(user.password_hash if user else None, password) or user is None or not user.active:
        return None
    if needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    user.last_login_at = now or utcnow()
    return user


def sign_out_everywhere(user: User) -> None:
    """Invalidate every login cookie of this user (each carries the session version)."""
    user.session_version = (user.session_version or 0) + 1


def start_password_reset(session: Session, email: str, now: datetime | None = None) -> tuple[User, str] | None:
    """A reset token for an active account, or None (the caller says the same either way)."""
    user = find_user(session, email)
    if user is None or not user.active:
        return None
    token = new_token()
    session.add(
        PasswordReset(
            user_id=user.id, token_hash=hash_token(token), expires_at=(now or utcnow()) + PASSWORD_RESET_LIFETIME
        )
    )
    audit.record(session, user, "password.reset_requested", "user", user.id)
    return user, token


def find_password_reset(session: Session, token: str, now: datetime | None = None) -> PasswordReset:
    """The open reset for a link; raises AccountError if unknown, used or expired."""
    reset = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == hash_token(token)))
    if reset is None or reset.used_at is not None or reset.expires_at <= (now or utcnow()):
        raise AccountError(N_("This password reset link is not valid any more. Ask for a new one."))
    return reset


def reset_password(session: Session, token: str, password: str, now: datetime | None = None) -> User:
    """Set a new password from a reset link (single use); signs the user out everywhere."""
    now = now or utcnow()
    reset = find_password_reset(session, token, now)
    if problem := password_problem(password):
        raise AccountError(problem, "password")
    reset.used_at = now
    reset.user.password_hash = hash_password(password)
    sign_out_everywhere(reset.user)
    revoke_api_tokens_of(session, reset.user, now)
    audit.record(session, reset.user, "password.reset", "user", reset.user.id)
    return reset.user


def change_password(session: Session, user: User, current: str, new: str, now: datetime | None = None) -> None:
    """Set a new password given the current one; signs the user out everywhere and revokes
    their API tokens (whoever knew the old password may have made one)."""
    if not verify_password(user.password_hash, current):
        raise AccountError(N_("That is not your current password."), "current_password")
    if problem := password_problem(new):
        raise AccountError(problem, "new_password")
    user.password_hash = hash_password(new)
    sign_out_everywhere(user)
    revoke_api_tokens_of(session, user, now)
    audit.record(session, user, "password.change", "user", user.id)


def set_language(session: Session, user: User, language: str) -> bool:
    """Make `language` (one of the site's, directory.i18n.LANGUAGES) the account's: the worker's
    notices to the person are written in it. Returns whether it changed (only a change is written
    and audited)."""
    if user.language == language:
        return False
    audit.record(session, user, "user.language", "user", user.id, changes={"language": (user.language, language)})
    user.language = language
    return True


#: Passed as `actor` when the system (the command line) acts, not a signed-in person.
SYSTEM = None
_SELF = object()


def issue_api_token(
    session: Session, user: User, name: str, actor: User | None | object = _SELF
) -> tuple[ApiToken, str]:
    """A new API token for the user; the clear token is returned once and never stored.

    `actor` is who asked for it: the user themself by default, another user, or SYSTEM.
    """
    name = name.strip() or "API token"
    token = new_token(API_TOKEN_PREFIX)
    api_token = ApiToken(user_id=user.id, name=name[:100], prefix=token[:10], token_hash=hash_token(token))
    session.add(api_token)
    session.flush()
    by = user if actor is _SELF else actor
    audit.record(session, by, "api_token.create", "api_token", api_token.id, detail=name[:100])  # type: ignore[arg-type]
    return api_token, token


def user_for_api_token(session: Session, token: str, now: datetime | None = None) -> User | None:
    """The active user a bearer token stands for, or None if unknown or revoked."""
    api_token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if api_token is None or api_token.revoked_at is not None or not api_token.user.active:
        return None
    api_token.last_used_at = now or utcnow()
    return api_token.user


def revoke_api_token(session: Session, api_token: ApiToken, actor: User, now: datetime | None = None) -> None:
    if api_token.revoked_at is None:
        api_token.revoked_at = now or utcnow()
        audit.record(session, actor, "api_token.revoke", "api_token", api_token.id)


def revoke_api_tokens_of(session: Session, user: User, now: datetime | None = None) -> None:
    """Revoke every API token of the user that still works (on a new password: a token made by
    whoever knew the old one must not outlive it)."""
    working = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    for api_token in session.scalars(working).all():
        revoke_api_token(session, api_token, user, now)
