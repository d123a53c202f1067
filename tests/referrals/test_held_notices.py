"""Notices that could not be queued when their change committed are held in the database and
mailed once a later round can hand them on: a Redis outage (or, in embedded mode, a mail service
outage) delays a change's mail instead of dropping it. Real Redis servers and a real SMTP refusal."""

from __future__ import annotations

import logging
import re
import socket
import time

import pytest
from sqlalchemy import select, text

from directory.extensions import db
from directory.mail import OutboxMailer, SmtpMailer
from directory.models import HeldNotice
from directory.referrals import dispatch, notifications
from directory.referrals.notifications import Notices
from tests.api.test_referrals_api import offer_ids, people, store, submit  # noqa: F401  (shared fixtures)
from tests.conftest import make_app
from tests.integration.services import SilentServer, start_redis
from tests.referrals.test_notifications import assert_no_personal_data, clear, mail

pytestmark = pytest.mark.integration


def held_rows(app) -> list[tuple[list[int], list[str]]]:
    with app.app_context():
        return [
            (row.offer_ids, row.referral_ids) for row in db.session.scalars(select(HeldNotice).order_by(HeldNotice.id))
        ]


def accept(client, people, offer_id: int) -> None:  # noqa: F811
    response = client.post(
        f"/api/v1/offers/{offer_id}/accept", json={"admission_date": "2030-01-02"}, headers=people.tokens["near_staff"]
    )
    assert response.status_code == 200, response.get_json()


def as_a_worker(app, monkeypatch, redis_url: str) -> None:
    """The app as deployed with Redis (not embedded): notices go to the queue in Redis."""
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setitem(app.extensions["celery"].conf, "task_always_eager", False)
    monkeypatch.setitem(app.extensions["celery"].conf, "broker_url", redis_url)


def drain(app) -> None:
    """Run the drain task here, as a worker would (its message went to the real broker)."""
    from tasks.notifications import send_waiting_notices

    with app.app_context():
        send_waiting_notices.apply()


def test_with_redis_down_an_accepts_notices_are_held_and_mailed_once_it_is_back(
    app,
    client,
    store,  # noqa: F811
    people,  # noqa: F811
    tmp_path,
    monkeypatch,
    caplog,
):
    from tasks.routing import dispatch_outbox

    referral_id = submit(client, people)  # routed at once (embedded): an offer to the near detox center
    [offer_id] = offer_ids(store, referral_id)
    clear(app)
    redis = start_redis(tmp_path)
    try:
        as_a_worker(app, monkeypatch, redis.url)
        redis.stop()
        with caplog.at_level(logging.WARNING, logger="directory.referrals.dispatch"):
            accept(client, people, offer_id)  # the referrer hears of it; the naltrexone program is offered it
        assert "held for the next round" in caplog.text
        assert mail(app) == []
        [naltrexone_offer] = offer_ids(store, referral_id, step="naltrexone")
        assert held_rows(app) == [([naltrexone_offer], [referral_id])]

        with app.app_context():
            dispatch_outbox.apply()  # Redis still down: they stay
        assert held_rows(app) == [([naltrexone_offer], [referral_id])]

        redis.start()
        with app.app_context():
            dispatch_outbox.apply()  # beat's next round queues them, and sends a drain
        assert held_rows(app) == []
        assert redis.queue_length() == 1  # the drain's message, on the real broker
        drain(app)
        messages = mail(app)
        assert sorted(to for to, _, _ in messages) == sorted(
            [people.emails["sender"], people.emails["naltrexone_staff"]]
        )
        assert_no_personal_data(messages)

        with app.app_context():
            dispatch_outbox.apply()  # nothing held any more: nothing queued or mailed twice
        drain(app)
        assert len(mail(app)) == 2
    finally:
        redis.stop()


def test_with_redis_hung_a_changes_notices_are_held_after_about_a_second(tmp_path, caplog):
    with SilentServer() as server:
        app = make_app(f"sqlite:///{tmp_path / 'hung.sqlite3'}", REDIS_URL=server.url, MAIL_OUTBOX=str(tmp_path))
        with app.app_context(), caplog.at_level(logging.WARNING, logger="directory.referrals.dispatch"):
            started = time.monotonic()
            dispatch.send_notices(Notices(new_offer_ids=(1,), changed_referral_ids=("r1",)))
            took = time.monotonic() - started
    assert took < 1.5, f"waited {took:.2f} s on a hung Redis"
    assert held_rows(app) == [([1], ["r1"])]
    assert "could not queue Notices(new_offer_ids=(1,), changed_referral_ids=('r1',))" in caplog.text


def refused_port() -> int:
    """A local port nothing listens on (a mail service that is down: connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_embedded_with_the_mail_service_down_notices_are_held_and_the_sweep_mails_them(
    app,
    client,
    store,  # noqa: F811
    people,  # noqa: F811
    monkeypatch,
):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    clear(app)
    outbox = app.extensions["mailer"]
    assert isinstance(outbox, OutboxMailer)
    monkeypatch.setitem(app.extensions, "mailer", SmtpMailer("127.0.0.1", refused_port(), "x@localhost", tls=False))

    accept(client, people, offer_id)  # the change stands though its mail cannot go
    [naltrexone_offer] = offer_ids(store, referral_id, step="naltrexone")
    assert held_rows(app) == [([naltrexone_offer], [referral_id])]

    app.extensions["mailer"] = outbox  # the mail service is back
    monkeypatch.setitem(app.config, "EMBEDDED_SWEEP_SECONDS", 0)
    assert client.get("/").status_code == 200  # any page's request runs the sweep
    assert held_rows(app) == []
    assert sorted(to for to, _, _ in mail(app)) == sorted([people.emails["sender"], people.emails["naltrexone_staff"]])
    client.get("/")
    assert len(mail(app)) == 2


def test_if_they_cannot_be_held_either_the_log_says_they_were_not_mailed(app, monkeypatch, caplog):
    with SilentServer() as server:
        as_a_worker(app, monkeypatch, server.url)
        with app.app_context():
            with db.engine.begin() as connection:
                connection.execute(text("DROP TABLE held_notices"))  # the database refuses the row
            with caplog.at_level(logging.WARNING, logger="directory.referrals.dispatch"):
                dispatch.send_notices(Notices(new_offer_ids=(7,)))
    assert "could not queue Notices(new_offer_ids=(7,), changed_referral_ids=()) (TimeoutError)" in caplog.text
    assert re.search(r"nor hold them \((OperationalError|ProgrammingError)\): not mailed", caplog.text)


def test_held_rows_hold_ids_only_and_go_oldest_first(app):
    with app.app_context():
        with db.engine.begin() as connection:
            notifications.hold(connection, Notices((1, 2), ("a",)))
            notifications.hold(connection, Notices((), ("b", "c")))
        held = notifications.held(db.session, 10)
        assert [notices for _, notices in held] == [Notices((1, 2), ("a",)), Notices((), ("b", "c"))]
        assert [notices for _, notices in notifications.held(db.session, 1)] == [Notices((1, 2), ("a",))]
        notifications.release(db.session, [held[0][0]])
        assert [notices for _, notices in notifications.held(db.session, 10)] == [Notices((), ("b", "c"))]
