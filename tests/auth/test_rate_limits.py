"""Rate limits on the forms people could hammer: per address and per IP, same answer for unknown addresses;
sign-in failures per account (at most 100 an hour) without locking the real user out from another address."""

from __future__ import annotations

import time
from collections.abc import Iterator

import limits.storage.memory
import pytest
from flask import Flask

from directory.extensions import db, limiter
from tests.conftest import make_app, sqlite_url
from tests.factories import PASSWORD, login, make_user


@pytest.fixture
def limited_app(tmp_path) -> Iterator[Flask]:
    """An app with rate limits on (the limiter is shared, so reset its counts)."""
    app = make_app(sqlite_url(tmp_path, "limits"), RATELIMIT_ENABLED=True, MAIL_OUTBOX=str(tmp_path))
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
    from tests.conftest import make_app, sqlite_url

    app = make_app(sqlite_url(tmp_path, "limits"), RATELIMIT_ENABLED=True)
    limiter.reset()
    client = app.test_client()
    answers = [
        client.get("/api/v1/referrals", headers={"Authorization": f"Bearer tdk_guess{n}"}).status_code
        for n in range(22)
    ]
    assert answers[:20] == [401] * 20
    assert answers[20:] == [429, 429]
    limiter.reset()


VICTIM = "victim@example.org"


def at_address(app: Flask, address: str):
    """A client whose requests come from this address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def failures(client, count: int) -> list[int]:
    return [login(client, VICTIM, "wrong password!!").status_code for _ in range(count)]


class Clock:
    """The time the rate limits' memory storage reads: now, moved on by `minutes_pass`."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def minutes_pass(self, minutes: float) -> None:
        self.offset += minutes * 60


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    return clock


def test_an_attackers_address_is_refused_after_its_budget_and_the_real_user_still_signs_in(limited_app):
    with limited_app.app_context():
        make_user(db.session, email=VICTIM)
    attacker = at_address(limited_app, "203.0.113.7")

    assert failures(attacker, 6) == [400] * 5 + [429]
    assert login(attacker, VICTIM).status_code == 429  # even the right password, from there
    assert login(at_address(limited_app, "198.51.100.2"), VICTIM).status_code == 302


def test_an_address_gets_twenty_failures_an_hour_for_one_account(limited_app, clock):
    with limited_app.app_context():
        make_user(db.session, email=VICTIM)
    attacker = at_address(limited_app, "203.0.113.7")

    statuses = []
    for _ in range(5):
        statuses += failures(attacker, 5)
        clock.minutes_pass(1.1)

    assert statuses == [400] * 20 + [429] * 5
    clock.minutes_pass(60)
    assert failures(attacker, 1) == [400]  # an hour after those failures


def test_failures_from_a_few_addresses_never_use_up_the_real_users_sign_in(limited_app, clock):
    with limited_app.app_context():
        make_user(db.session, email=VICTIM)
    attackers = [at_address(limited_app, f"203.0.113.{n}") for n in range(1, 7)]

    statuses = []
    for _ in range(5):  # each address as fast as it may, for five minutes
        for attacker in attackers:
            statuses += failures(attacker, 5)
        clock.minutes_pass(1.1)

    # Each address's first failure, then 80 from addresses already failing for the account;
    # the other 14 of the 100 are kept for addresses new to it.
    assert statuses.count(400) == 6 + 80
    assert login(at_address(limited_app, "198.51.100.2"), VICTIM).status_code == 302


def test_an_account_never_gets_more_than_a_hundred_failures_an_hour(limited_app, clock):
    with limited_app.app_context():
        make_user(db.session, email=VICTIM)
    attackers = [at_address(limited_app, f"203.0.113.{n}") for n in range(1, 41)]

    statuses = []
    for _ in range(6):  # forty addresses, each as fast as it may, for six minutes
        for attacker in attackers:
            statuses += failures(attacker, 5)
        clock.minutes_pass(1.1)
    clock.minutes_pass(50)  # 56.6 minutes after the first failure
    statuses += failures(at_address(limited_app, "192.0.2.1"), 1)

    assert statuses.count(400) == 100
    assert set(statuses) == {400, 429}
    # Failures from at least 20 addresses within the hour do lock the account, until the hour is up.
    assert login(at_address(limited_app, "198.51.100.2"), VICTIM).status_code == 429
    clock.minutes_pass(5)
    assert login(at_address(limited_app, "198.51.100.2"), VICTIM).status_code == 302
