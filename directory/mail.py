"""Outgoing mail behind one small interface: an outbox folder (default, offline) or SMTP."""

from __future__ import annotations

import logging
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from directory.accounts.tokens import new_token

log = logging.getLogger(__name__)


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None:
        """Send a plain-text message."""
        ...


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(body)
    return message


class OutboxMailer:
    """Writes each message as an .eml file into a folder; works offline (the embedded default)."""

    def __init__(self, folder: str | Path, sender: str) -> None:
        self.folder = Path(folder)
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{new_token()[:8]}.eml"
        (self.folder / name).write_bytes(bytes(_message(self.sender, to, subject, body)))
        # The subject and the file name only: the address and the body (links) stay out of logs.
        log.info("mail written to outbox: %s (%s)", name, subject)


class SmtpMailer:
    """Sends through an SMTP server (STARTTLS when asked)."""

    def __init__(self, host: str, port: int, sender: str, *, username: str = "", password: str = "", tls: bool = True):
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.tls = username, password, tls

    def send(self, to: str, subject: str, body: str) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            if self.tls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(_message(self.sender, to, subject, body))
        log.info("mail sent by SMTP (%s)", subject)


def make_mailer(config: dict) -> Mailer:
    """SMTP when MAIL_SMTP_HOST is set, else the outbox folder."""
    sender = config["MAIL_FROM"]
    if config.get("MAIL_SMTP_HOST"):
        return SmtpMailer(
            config["MAIL_SMTP_HOST"],
            int(config.get("MAIL_SMTP_PORT") or 587),
            sender,
            username=config.get("MAIL_SMTP_USERNAME") or "",
            password=config.get("MAIL_SMTP_PASSWORD") or "",
            tls=config.get("MAIL_SMTP_TLS", True),
        )
    return OutboxMailer(config["MAIL_OUTBOX"], sender)
