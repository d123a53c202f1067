"""The one-time links people receive by mail (or from the command line), and the mails that carry them,
written in the language of the request that sends them (English from the command line)."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

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
    return ngettext("%(num)s hour", "%(num)s hours", hours)


def send_invitation(invitation: Invitation, token: str) -> bool:
    """Mail the invitation link, in the language of the request that sends it; False (and a log line
    without the link) if the mail could not be sent."""
    body = _(
        "You have been invited to the Treatment Directory as %(role)s.\n\n"
        "Choose a password to finish setting up your account:\n\n%(url)s\n\n"
        "The link works once and expires in %(lifetime)s. "
        "If you did not expect this invitation, you can ignore this message.\n",
        role=_(ROLE_LABELS[Role(invitation.role)]).lower(),
        url=invitation_url(token),
        lifetime=_hours(INVITATION_LIFETIME),
    )
    return _send(invitation.email, _("Your invitation to the Treatment Directory"), body)


def send_password_reset(user: User, token: str) -> bool:
    """Mail the password reset link, in the language of the request that asks for it; False if the
    mail could not be sent."""
    body = _(
        "Someone asked to reset the password of your Treatment Directory account.\n\n"
        "Choose a new password here:\n\n%(url)s\n\n"
        "The link works once and expires in %(lifetime)s. "
        "If you did not ask for this, ignore this message: your password stays as it is.\n",
        url=password_reset_url(token),
        lifetime=_hours(PASSWORD_RESET_LIFETIME),
    )
    return _send(user.email, _("Reset your Treatment Directory password"), body)


def _send(to: str, subject: str, body: str) -> bool:
    try:
        current_app.extensions["mailer"].send(to, subject, body)
    except OSError:  # smtplib's errors included
        log.exception("could not send mail (%s)", subject)
        return False
    return True
