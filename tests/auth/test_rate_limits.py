"""Rate limits on the forms people could hammer: per address and per IP, same answer for unknown addresses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from directory.extensions import db, limiter
from tests.conftest import make_app
from tests.factories import PASSWORD, login, make_user


@pytest.fixture
def limited_app(tmp_path) -> Iterator[Flask]:
    """An app with rate limits on (the limiter is shared, so reset its counts)."""
    app = make_app(f"sqlite:///{tmp_path / 'limits.sqlite3'}", RATELIMIT_ENABLED=True, MAIL_OUTBOX=str(tmp_path))
    limiter.reset()
    yield app
    limiter.reset()
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("email", ["known@example.org", "unknown@example.org"])
def test_the_sixth_failed_sign_in_for_one_address_in_a_minute_is_refused(limited_app, email):
    with limited_app.app_context():
        make_user(db.session, email="known@example.org")
    client = limited_app.test_client()

    statuses = [login(client, email, "wrong password!!").status_code for _ in range(6)]

    assert statuses == [400] * 5 + [429]
    refused = login(client, email.upper(), PASSWORD)  # the same address, however it is written
    assert refused.status_code == 429
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert "Retry-After" in refused.headers


def test_failures_for_one_address_do_not_lock_out_another(limited_app):
    with limited_app.app_context():
        make_user(db.session, email="other@example.org")
    client = limited_app.test_client()
    for _ in range(5):
        login(client, "victim@example.org", "wrong password!!")

    assert login(client, "other@example.org").status_code == 302


def test_successful_sign_ins_do_not_count_against_the_address(limited_app):
    with limited_app.app_context():
        make_user(db.session, email="busy@example.org")
    client = limited_app.test_client()

    statuses = [login(client, "busy@example.org").status_code for _ in range(7)]

    assert statuses == [302] * 7


def test_one_ip_gets_ten_sign_in_attempts_a_minute_across_addresses(limited_app):
    client = limited_app.test_client()

    statuses = [login(client, f"person{n}@example.org", "wrong password!!").status_code for n in range(11)]

    assert statuses == [400] * 10 + [429]


def test_the_login_page_itself_is_not_limited(limited_app):
    client = limited_app.test_client()

    assert {client.get("/login").status_code for _ in range(15)} == {200}


def test_password_reset_requests_are_limited(limited_app):
    client = limited_app.test_client()

    statuses = [client.post("/password/forgot", data={"email": "a@example.org"}).status_code for _ in range(6)]

    assert statuses == [200] * 5 + [429]


def test_invitation_and_reset_posts_are_limited(limited_app):
    client = limited_app.test_client()
    data = {"password": "x" * 12, "confirm": "x" * 12}

    invitations = [client.post("/invitations/nope", data=data).status_code for _ in range(11)]
    resets = [client.post("/password/reset/nope", data=data).status_code for _ in range(11)]

    assert invitations == [410] * 10 + [429]
    assert resets == [410] * 10 + [429]


def test_guessing_bearer_tokens_is_rate_limited(tmp_path):
    from directory.extensions import limiter
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'limits.sqlite3'}", RATELIMIT_ENABLED=True)
    limiter.reset()
    client = app.test_client()
    answers = [
        client.get("/api/v1/referrals", headers={"Authorization": f"Bearer tdk_guess{n}"}).status_code
        for n in range(22)
    ]
    assert answers[:20] == [401] * 20
    assert answers[20:] == [429, 429]
    limiter.reset()
