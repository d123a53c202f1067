"""Shared helpers for the ops tests."""

from __future__ import annotations

import re
import socket

from flask.testing import FlaskClient

from directory.extensions import db


def closed_port() -> int:
    """A local TCP port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sign_in(client: FlaskClient, user) -> None:
    """Sign `user` in with a session cookie, as the authorization matrix does."""
    with client.application.app_context():
        user_id = db.session.merge(user).get_id()
    with client.session_transaction() as sess:
        sess["_user_id"] = user_id


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None if it is absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}(?:\{{{re.escape(wanted)}\}})? (\S+)$" if wanted else rf"^{re.escape(name)} (\S+)$"
    match = re.search(pattern, exposition, re.MULTILINE)
    return float(match.group(1)) if match else None
