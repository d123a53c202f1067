"""Settings read from the environment: the site's address for links, from BASE_URL or HOST and PORT."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from directory.config import from_environment
from directory.extensions import db
from directory.models import Invitation
from tests.auth.helpers import link_in_mail, outbox
from tests.conftest import database_url, make_app
from tests.factories import make_user


@pytest.mark.parametrize(
    ("environment", "base_url"),
    [
        ({}, "http://127.0.0.1:5000"),
        ({"PORT": "5055"}, "http://127.0.0.1:5055"),
        ({"HOST": "192.168.1.20", "PORT": "5055"}, "http://192.168.1.20:5055"),
        ({"HOST": "0.0.0.0", "PORT": "8080"}, "http://127.0.0.1:8080"),
        ({"HOST": "::1"}, "http://[::1]:5000"),
        (
            {"HOST": "0.0.0.0", "PORT": "5055", "BASE_URL": "https://treatment.example.org/"},
            "https://treatment.example.org",
        ),
    ],
)
def test_base_url_follows_host_and_port_unless_set(monkeypatch, tmp_path, environment, base_url):
    for name in ("HOST", "PORT", "BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert from_environment(str(tmp_path))["BASE_URL"] == base_url


def test_with_port_5055_mailed_and_invitation_links_point_at_port_5055(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("BASE_URL", raising=False)
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.setenv("PORT", "5055")
    app = make_app(database_url(tmp_path), MAIL_OUTBOX=str(tmp_path / "outbox"))
    with app.app_context():
        make_user(db.session, email="forgetful@example.org")

    app.test_client().post("/password/forgot", data={"email": "forgetful@example.org"})
    assert link_in_mail(outbox(app)[0], "http://127.0.0.1:5055").startswith("/password/reset/")

    result = app.test_cli_runner().invoke(args=["users", "create", "new@example.org", "--role", "admin"], input="")
    assert result.exit_code == 0, result.output
    assert re.search(r"^http://127\.0\.0\.1:5055/invitations/\S+$", result.stdout, re.M)
    with app.app_context():
        assert db.session.scalars(select(Invitation)).one().email == "new@example.org"
        db.engine.dispose()
