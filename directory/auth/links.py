"""The one-time links people receive by mail (or from the command line), and the mails that carry them."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from directory.accounts.service import INVITATION_LIFETIME, PASSWORD_RESET_LIFETIME
from directory.models import Invitation, Role, User
from directory.models.accounts import ROLE_LABELS

log = logging.getLogger(__name__)


def invitation_url(token: str) -> str:
    return f"{current_app.config['BASE_URL']}/invitations/{token}"


def password_reset_url(token: str) -> str:
    return f"{current_app.config['BASE_URL']}/password/reset/{token}"


def _hours(lifetime: timedelta) -> str:
    hours = int(lifetime.total_seconds() // 3600)
    return "1 hour" if hours == 1 else f"{hours} hours"


def send_invitation(invitation: Invitation, token: str) -> bool:
    """Mail the invitation link; False (and a log line without the link) if the mail could not be sent."""
    role = ROLE_LABELS[Role(invitation.role)]
    body = (
        f"You have been invited to the Treatment Directory as {role.lower()}.\n\n"
        f"Choose a password to finish setting up your account:\n\n{invitation_url(token)}\n\n"
        f"The link works once and expires in {_hours(INVITATION_LIFETIME)}. "
        "If you did not expect this invitation, you can ignore this message.\n"
    )
    return _send(invitation.email, "Your invitation to the Treatment Directory", body)


def send_password_reset(user: User, token: str) -> bool:
    """Mail the password reset link; False if the mail could not be sent."""
    body = (
        "Someone asked to reset the password of your Treatment Directory account.\n\n"
        f"Choose a new password here:\n\n{password_reset_url(token)}\n\n"
        f"The link works once and expires in {_hours(PASSWORD_RESET_LIFETIME)}. "
        "If you did not ask for this, ignore this message: your password stays as it is.\n"
    )
    return _send(user.email, "Reset your Treatment Directory password", body)


def _send(to: str, subject: str, body: str) -> bool:
    try:
        current_app.extensions["mailer"].send(to, subject, body)
    except OSError:  # smtplib's errors included
        log.exception("could not send mail (%s)", subject)
        return False
    return True
