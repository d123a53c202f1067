"""Outgoing mail behind one small interface: an outbox folder (default, offline) or SMTP."""

from __future__ import annotations

import logging
import re
import smtplib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from pathlib import Path
from typing import Protocol

import idna

from directory.accounts.tokens import new_token
from directory.instance import write_private_file

log = logging.getLogger(__name__)


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None:
        """Send a plain-text message."""
        ...

    def batch(self) -> AbstractContextManager[Mailer]:
        """A mailer for several messages in a row (e.g. one delivery of notices), sharing one connection."""
        ...


#: A body is sent as UTF-8: as it is (7bit) if it is ASCII in short lines, as `EmailMessage` does,
#: else in quoted-printable (still readable, and 7-bit clean for any SMTP server).
_UTF8_7BIT = Charset("utf-8")
_UTF8_7BIT.body_encoding = None
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP
_MAX_LINE = 78
_LINE_BREAKS = re.compile(r"[\r\n]")


def _message(sender: str, to: str, subject: str, body: str) -> Message:
    """A plain-text message: From, To, Subject, then the body as UTF-8.

    Built with the compat32 `MIMEText` (about a fifth of the CPU time of an `EmailMessage`, which
    parses each header through the header registry); a subject that is not ASCII is encoded as an
    RFC 2047 word. Addresses that are not ASCII (a display name in the sender, a domain with
    accents) take the `EmailMessage` way (`_email_message`), and so do headers holding a line break,
    which `EmailMessage` refuses (compat32 would write them out: a header injection).
    """
    if not (sender.isascii() and to.isascii()) or _LINE_BREAKS.search(sender + to + subject):
        return _email_message(sender, to, subject, body)
    message = MIMEText(body, "plain", _UTF8_7BIT if _is_plain(body) else _UTF8_QP)
    message["From"], message["To"] = sender, to
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8", header_name="Subject").encode()
    return message


def _email_message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """A display name that is not ASCII as an RFC 2047 word, a domain as IDNA ("xn--exmple-cua.org"):
    7-bit headers any mail server takes. A mailbox name that is not ASCII ("ünicode@", which
    accounts are not given) has no such form: the headers are then UTF-8 (RFC 6532), which goes only
    to an SMTP server offering SMTPUTF8 (smtplib refuses others: the send fails)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    try:
        for name in ("From", "To"):
            message.replace_header(name, [_ascii_address(address) for address in message[name].addresses])
    except UnicodeError:
        message.policy = policy.default.clone(utf8=True)
        message.set_content(body)
    else:
        message.set_content(body, cte=None if _is_plain(body) else "quoted-printable")
    return message


def _is_plain(body: str) -> bool:
    """Whether the body can be sent as it is in 7 bits: ASCII in short lines."""
    return body.isascii() and all(len(line) <= _MAX_LINE for line in body.splitlines())


def _ascii_address(address: Address) -> Address:
    """The address with its domain in IDNA; raises UnicodeError if it has none (the part before the @
    is not ASCII)."""
    address.username.encode("ascii")
    domain = address.domain if address.domain.isascii() else idna.encode(address.domain, uts46=True).decode("ascii")
    return Address(address.display_name, address.username, domain)


class OutboxMailer:
    """Writes each message as an .eml file into a folder; works offline (the embedded default)."""

    def __init__(self, folder: str | Path, sender: str) -> None:
        self.folder = Path(folder)
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        # Owner-only: messages hold live links (password resets, invitations).
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{new_token()[:8]}.eml"
        write_private_file(self.folder / name, bytes(_message(self.sender, to, subject, body)))
        # The subject and the file name only: the address and the body (links) stay out of logs.
        log.info("mail written to outbox: %s (%s)", name, subject)

    def batch(self) -> AbstractContextManager[Mailer]:
        return nullcontext(self)  # nothing to share between files


class SmtpMailer:
    """Sends through an SMTP server (STARTTLS when asked): one connection per message, or per `batch`."""

    def __init__(self, host: str, port: int, sender: str, *, username: str = "", password: str = "", tls: bool = True):
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.tls = username, password, tls

    def send(self, to: str, subject: str, body: str) -> None:
        with self.batch() as mailer:
            mailer.send(to, subject, body)

    @contextmanager
    def batch(self) -> Iterator[Mailer]:
        """Connect (and STARTTLS and log in) once for all the batch's messages, at its first message."""
        connection = _SmtpConnection(self)
        try:
            yield connection
        finally:
            connection.close()

    def connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=10)
        try:
            if self.tls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
        except Exception:
            smtp.close()
            raise
        return smtp


class _SmtpConnection:
    """An `SmtpMailer`'s messages over one SMTP connection, opened at the first message."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer
        self.smtp: smtplib.SMTP | None = None

    def send(self, to: str, subject: str, body: str) -> None:
        if self.smtp is None:
            self.smtp = self.mailer.connect()
        self.smtp.send_message(_message(self.mailer.sender, to, subject, body))
        log.info("mail sent by SMTP (%s)", subject)

    def batch(self) -> AbstractContextManager[Mailer]:
        return nullcontext(self)

    def close(self) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()  # the messages went; a failed goodbye loses nothing
        self.smtp = None


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
