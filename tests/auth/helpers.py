"""Reading what the app mailed (the outbox folder), and asking who a client is signed in as."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from tests.public.pages import Page


def outbox(app: Flask) -> list[EmailMessage]:
    """Every message the app has written to its outbox, oldest first."""
    folder = Path(app.config["MAIL_OUTBOX"])
    if not folder.exists():
        return []
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for path in sorted(folder.glob("*.eml"))
    ]


def link_in_mail(message: EmailMessage, base_url: str = "http://127.0.0.1:5000") -> str:
    """The path of the one link to this site in a mail."""
    body = message.get_content()
    links = re.findall(rf"{re.escape(base_url)}/\S+", body)
    assert len(links) == 1, body
    return urlsplit(links[0]).path


def signed_in_as(client: Any) -> str | None:
    """The email on the account page, or None when the client is anonymous (sent to sign in)."""
    response = client.get("/account")
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return None
    assert response.status_code == 200
    match = re.search(r"<dt>Email address</dt>\s*<dd>([^<]+)</dd>", response.get_data(as_text=True))
    assert match
    return match.group(1).strip()


def main_text(response: Any) -> str:
    return Page(response.data).main().text
