"""With CSRF protection on (as in production), posts without the form's token are refused and change nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask

from directory.extensions import db
from directory.models import User
from tests.auth.helpers import signed_in_as
from tests.conftest import make_app, sqlite_url
from tests.factories import PASSWORD, make_user


@pytest.fixture
def csrf_app(tmp_path) -> Iterator[Flask]:
    app = make_app(sqlite_url(tmp_path, "csrf"), WTF_CSRF_ENABLED=True, MAIL_OUTBOX=str(tmp_path))
    yield app
    with app.app_context():
        db.engine.dispose()


def account(app: Flask) -> tuple[str, int, int]:
    """A new account's email, id and session version."""
    with app.app_context():
        user = make_user(db.session)
        return user.email, user.id, user.session_version


def session_version(app: Flask, user_id: int) -> int:
    with app.app_context():
        return db.session.get(User, user_id).session_version


def csrf_token(client, path: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client, email: str) -> None:
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_login_without_the_token_is_refused(csrf_app):
    email, _, _ = account(csrf_app)
    client = csrf_app.test_client()

    response = client.post("/login", data={"email": email, "password": PASSWORD})

    assert response.status_code == 400
    assert signed_in_as(client) is None


def test_login_with_the_token_works(csrf_app):
    email, _, _ = account(csrf_app)
    client = csrf_app.test_client()

    sign_in(client, email)

    assert signed_in_as(client) == email


def test_logout_without_the_token_is_refused_and_the_session_stays(csrf_app):
    email, user_id, version = account(csrf_app)
    client = csrf_app.test_client()
    sign_in(client, email)

    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400

    assert signed_in_as(client) == email
    assert session_version(csrf_app, user_id) == version


def test_logout_with_the_token_from_the_page_works(csrf_app):
    email, _, _ = account(csrf_app)
    client = csrf_app.test_client()
    sign_in(client, email)

    token = csrf_token(client, "/account")  # the sign-out button in the header carries it
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302

    assert signed_in_as(client) is None


def test_account_changes_without_the_token_are_refused(csrf_app):
    email, user_id, version = account(csrf_app)
    client = csrf_app.test_client()
    sign_in(client, email)

    new_password = {"current_password": PASSWORD, "new_password": "x" * 16, "confirm": "x" * 16}
    assert client.post("/account/password", data=new_password).status_code == 400
    assert client.post("/account/api-tokens", data={"name": "script"}).status_code == 400

    assert session_version(csrf_app, user_id) == version
    assert "script" not in client.get("/account").get_data(as_text=True)
