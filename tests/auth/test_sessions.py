"""Signing out ends every copy of the session; idle sessions, and sessions signed in too long ago, end by themselves."""

from __future__ import annotations

import time

from directory.models import User
from tests.auth.helpers import main_text, signed_in_as
from tests.factories import login, make_user


def test_signing_out_ends_a_copied_cookie_too(client, session):
    user = make_user(session)
    login(client, user.email)
    thief = client.application.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert signed_in_as(thief) == user.email

    response = client.post("/logout")

    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "You have signed out." in main_text(client.get("/login"))
    assert signed_in_as(client) is None
    assert signed_in_as(thief) is None


def test_signing_out_signs_out_every_device(client, session):
    user = make_user(session)
    phone = client.application.test_client()
    login(client, user.email)
    login(phone, user.email)
    version = session.get(User, user.id).session_version

    client.post("/logout")

    session.expire_all()
    assert session.get(User, user.id).session_version == version + 1
    assert signed_in_as(phone) is None


def test_signing_out_is_a_post(client, session):
    user = make_user(session)
    login(client, user.email)

    assert client.get("/logout").status_code == 405
    assert signed_in_as(client) == user.email


def test_signing_out_when_already_signed_out_just_goes_to_the_login_page(client):
    response = client.post("/logout")

    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_an_idle_session_ends_and_the_login_page_says_why(client, session):
    user = make_user(session)
    login(client, user.email)
    assert signed_in_as(client) == user.email
    with client.session_transaction() as stored:
        stored["last_seen"] = time.time() - 31 * 60

    response = client.get("/account")

    assert response.status_code == 302
    assert "idle=1" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    assert "signed out after 30 minutes of inactivity" in main_text(page)
    assert signed_in_as(client) is None


def test_a_session_in_use_stays_signed_in(client, session):
    user = make_user(session)
    login(client, user.email)
    with client.session_transaction() as stored:
        stored["last_seen"] = time.time() - 29 * 60

    assert signed_in_as(client) == user.email


def time_passes(client, minutes: float) -> None:
    """Move the client's session back in time, as if `minutes` had passed since its last request."""
    with client.session_transaction() as stored:
        for name in ("signed_in_at", "last_seen"):
            stored[name] -= minutes * 60


def test_a_session_ends_twelve_hours_after_sign_in_however_active_and_the_login_page_says_why(client, session):
    user = make_user(session)
    login(client, user.email)
    assert signed_in_as(client) == user.email  # a request: the session has been seen

    statuses = []
    for _ in range(35):  # a request every 20 minutes, for 11 hours 40 minutes
        time_passes(client, 20)
        statuses.append(client.get("/account").status_code)
    time_passes(client, 25)  # 12 hours 5 minutes after signing in
    response = client.get("/account")

    assert statuses == [200] * 35
    assert response.status_code == 302
    assert "expired=1" in response.headers["Location"] and "idle=1" not in response.headers["Location"]
    page = client.get(response.headers["Location"])
    assert "a sign-in lasts at most 12 hours" in main_text(page)
    assert signed_in_as(client) is None


def test_an_active_session_under_twelve_hours_old_stays_signed_in(client, session):
    user = make_user(session)
    login(client, user.email)
    signed_in_as(client)

    for _ in range(35):  # 11 hours 40 minutes
        time_passes(client, 20)
        assert signed_in_as(client) == user.email


def test_the_longest_session_is_configurable_and_signing_in_again_starts_it_anew(tmp_path):
    from directory.extensions import db
    from tests.conftest import database_url, make_app

    app = make_app(database_url(tmp_path), SESSION_MAX_HOURS=1)
    client = app.test_client()
    with app.app_context():
        email = make_user(db.session).email
    login(client, email)
    signed_in_as(client)
    time_passes(client, 25)
    signed_in_as(client)
    time_passes(client, 25)
    assert signed_in_as(client) == email  # 50 minutes

    login(client, email)  # a fresh sign-in: the hour starts again
    signed_in_as(client)
    time_passes(client, 25)
    signed_in_as(client)
    time_passes(client, 25)
    assert signed_in_as(client) == email
    time_passes(client, 25)
    assert signed_in_as(client) is None  # 75 minutes after the second sign-in
    with app.app_context():
        db.engine.dispose()
