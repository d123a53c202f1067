"""Rate limits kept in Redis, as deployed, and what happens while Redis is down or hangs: people can
still sign in and use API tokens (no 500), the limits still hold, counted in each process's own
memory, and the counting goes back to Redis once it answers again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from flask import Flask

from directory import security
from directory.extensions import db, limiter
from tests.conftest import make_app
from tests.factories import login, make_user
from tests.integration.services import RedisServer, SilentServer, start_redis

EMAIL = "staff@example.org"


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


def limited_app(tmp_path, storage_uri: str) -> Flask:
    app = make_app(
        f"sqlite:///{tmp_path / 'limits.sqlite3'}",
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=storage_uri,
        MAIL_OUTBOX=str(tmp_path),
    )
    with app.app_context():
        make_user(db.session, email=EMAIL)
    return app


@pytest.fixture(autouse=True)
def fresh_limiter() -> Iterator[None]:
    """The limiter is one object for every app of the test run: whether it took its storage for
    dead, its back-off and its fallback counts are its own state, which a new app would inherit
    (a process has only one app); each app's `init_app` gives it a new storage."""
    yield
    limiter._storage_dead = False
    limiter._Limiter__check_backend_count = 0  # its back-off between looks at a dead storage
    limiter._Limiter__last_check_backend = 0.0
    if (fallback := getattr(limiter, "_fallback_storage", None)) is not None:
        fallback.reset()
    security._bad_token_storage["failed_until"] = 0.0
    security._bad_tokens_here.storage.reset()


def limit_keys(url: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return client.keys("LIMITS:*")
    finally:
        client.close()


def failed_sign_ins(client, email: str, count: int) -> list[int]:
    return [login(client, email, "wrong password!!").status_code for _ in range(count)]


def test_sign_in_limits_are_counted_in_redis(tmp_path, redis_server):
    client = limited_app(tmp_path, redis_server.url).test_client()

    assert failed_sign_ins(client, EMAIL, 6) == [400] * 5 + [429]
    assert limit_keys(redis_server.url), "the counts should be in Redis"


def test_an_attackers_address_is_refused_in_redis_while_the_real_user_signs_in_elsewhere(tmp_path, redis_server):
    app = limited_app(tmp_path, redis_server.url)
    attacker, user = app.test_client(), app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    user.environ_base["REMOTE_ADDR"] = "198.51.100.2"

    assert failed_sign_ins(attacker, EMAIL, 6) == [400] * 5 + [429]
    assert login(user, EMAIL).status_code == 302
    keys = b" ".join(limit_keys(redis_server.url))
    assert b"from:203.0.113.7" in keys and b"from:198.51.100.2" not in keys  # only failures count for an account


def test_an_account_gets_a_hundred_failures_an_hour_counted_in_redis(tmp_path, redis_server):
    app = limited_app(tmp_path, redis_server.url)

    statuses = []
    for n in range(1, 26):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"203.0.113.{n}"
        statuses += failed_sign_ins(client, EMAIL, 5)

    assert statuses.count(400) == 100 and statuses[100:] == [429] * 25


def test_with_redis_down_people_still_sign_in_and_the_limits_still_hold(tmp_path, redis_server):
    app = limited_app(tmp_path, redis_server.url)
    client = app.test_client()
    assert login(client, EMAIL).status_code == 302  # counted in Redis
    redis_server.stop()

    started = time.monotonic()
    assert login(app.test_client(), EMAIL).status_code == 302, "sign-in must not depend on Redis"
    assert time.monotonic() - started < 2

    # Counted in this process meanwhile: the sixth failure for one address in a minute is refused.
    assert failed_sign_ins(app.test_client(), "other@example.org", 6) == [400] * 5 + [429]


def test_bad_api_tokens_are_still_limited_with_redis_down(tmp_path, redis_server):
    app = limited_app(tmp_path, redis_server.url)
    redis_server.stop()
    client = app.test_client()

    answers = [
        client.get("/api/v1/referrals", headers={"Authorization": f"Bearer tdk_guess{n}"}).status_code
        for n in range(22)
    ]

    assert answers == [401] * 20 + [429, 429]


def test_counting_goes_back_to_redis_once_it_answers(tmp_path, redis_server):
    app = limited_app(tmp_path, redis_server.url)
    redis_server.stop()
    assert login(app.test_client(), EMAIL).status_code == 302  # the limiter falls back to memory
    redis_server.start()
    assert not limit_keys(redis_server.url)

    # The limiter looks at Redis again after a back-off (1, 2, 4 ... seconds): wait past the first.
    # Each sign-in from an address of its own: this process's own count (10 a minute per address)
    # must not decide how long the wait may be.
    deadline, n = time.monotonic() + 10, 0
    while not limit_keys(redis_server.url) and time.monotonic() < deadline:
        n += 1
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.{n // 250}.{n % 250 + 1}"
        assert login(client, EMAIL).status_code == 302
        time.sleep(0.2)
    assert limit_keys(redis_server.url), "the limiter should count in Redis again"


@pytest.fixture
def silent_server() -> Iterator[str]:
    with SilentServer() as server:
        yield server.url


def test_a_hung_redis_delays_a_sign_in_by_about_a_second_at_most(tmp_path, silent_server):
    app = limited_app(tmp_path, silent_server)

    timings = []
    for _ in range(3):
        started = time.monotonic()
        assert login(app.test_client(), EMAIL).status_code == 302
        timings.append(time.monotonic() - started)

    assert timings[0] < 3, timings  # waited on Redis once, then counted in memory
    assert max(timings[1:]) < 0.5, timings


def test_a_hung_redis_delays_one_bad_token_request_not_each(tmp_path, silent_server):
    app = limited_app(tmp_path, silent_server)
    client = app.test_client()

    timings, answers = [], []
    for n in range(22):
        started = time.monotonic()
        answers.append(client.get("/api/v1/referrals", headers={"Authorization": f"Bearer tdk_guess{n}"}).status_code)
        timings.append(time.monotonic() - started)

    assert answers == [401] * 20 + [429, 429]  # still limited, counted in this process
    assert timings[0] < 3, timings  # waited on Redis once
    assert sum(timings[1:]) < 1.0, timings  # then not again for a while
