"""Notices go through the outbox: written with their change, sent after commit, and sent again by
beat's round (embedded: the sweep) when sending failed, so a Redis outage (or, in embedded mode, a
mail service outage) delays a change's mail instead of dropping it, and nothing is mailed twice.
Real Redis servers and a real SMTP refusal."""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
from datetime import timedelta

import pytest
import redis as redis_client
from sqlalchemy import select, text

from directory import schema
from directory.extensions import db
from directory.mail import OutboxMailer, SmtpMailer
from directory.models import OutboxMessage
from directory.referrals import dispatch, notifications, service
from tests.api.test_referrals_api import offer_ids, people, store, submit  # noqa: F401  (shared fixtures)
from tests.factories import days_from_today
from tests.integration.services import SilentServer, start_redis
from tests.referrals.test_notifications import assert_no_personal_data, clear, mail

pytestmark = pytest.mark.integration


def notice_rows(app) -> list[tuple[str, str, int | None, bool]]:
    """The outbox's notice rows, oldest first, as (task, referral id, offer id, sent)."""
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.task != service.ROUTE).order_by(OutboxMessage.id)
        )
        return [(row.task, row.referral_id, row.offer_id, row.dispatched_at is not None) for row in rows]


def accept(client, people, offer_id: int) -> None:  # noqa: F811
    response = client.post(
        f"/api/v1/offers/{offer_id}/accept",
        json={"admission_date": days_from_today(3)},
        headers=people.tokens["near_staff"],
    )
    assert response.status_code == 200, response.get_json()


def as_a_worker(app, monkeypatch, redis_url: str) -> None:
    """The app as deployed with Redis (not embedded): notices are sent to the broker."""
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setitem(app.extensions["celery"].conf, "task_always_eager", False)
    monkeypatch.setitem(app.extensions["celery"].conf, "broker_url", redis_url)


def run_sent_tasks(app, redis) -> None:
    """Run here, as a worker would, the tasks waiting on the real broker (deliveries of notices)."""
    from tasks.notifications import deliver_notices

    client = redis_client.Redis.from_url(redis.url)
    try:
        while (raw := client.rpop("celery")) is not None:
            message = json.loads(raw)
            assert message["headers"]["task"] == dispatch.DELIVER_NOTICES
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            with app.app_context():
                deliver_notices.apply(args=args, throw=True)
    finally:
        client.close()


def test_with_redis_down_an_accepts_notices_wait_in_the_outbox_and_are_mailed_once_it_is_back(
    app,
    client,
    store,  # noqa: F811
    people,  # noqa: F811
    tmp_path,
    monkeypatch,
    caplog,
):
    referral_id = submit(client, people)  # routed at once (embedded): an offer to the near detox center
    [offer_id] = offer_ids(store, referral_id)
    clear(app)
    redis = start_redis(tmp_path)
    try:
        as_a_worker(app, monkeypatch, redis.url)
        redis.stop()
        with caplog.at_level(logging.WARNING, logger="directory.referrals.dispatch"):
            accept(client, people, offer_id)  # the referrer hears of it; the naltrexone program is offered it
        assert f"could not send {dispatch.DELIVER_NOTICES}" in caplog.text
        assert mail(app) == []
        [naltrexone_offer] = offer_ids(store, referral_id, step="naltrexone")
        waiting = [
            (notifications.NEW_OFFER, referral_id, naltrexone_offer, False),
            (notifications.STATUS_CHANGE, referral_id, None, False),
        ]
        assert notice_rows(app) == waiting

        with app.app_context():
            assert dispatch.send_pending() == 0  # what beat's round does; Redis still down: they stay
        assert notice_rows(app) == waiting

        redis.start()
        with app.app_context():
            assert dispatch.send_pending() == 2  # beat's next round sends them, in one message
        assert redis.queue_length() == 1
        assert [sent for *_, sent in notice_rows(app)] == [True, True]
        run_sent_tasks(app, redis)
        messages = mail(app)
        assert sorted(to for to, _, _ in messages) == sorted(
            [people.emails["sender"], people.emails["naltrexone_staff"]]
        )
        assert_no_personal_data(messages)
        assert notice_rows(app) == []

        with app.app_context():
            assert dispatch.send_pending(stale_after=timedelta(0)) == 0  # nothing waits: nothing sent twice
        assert redis.queue_length() == 0
        assert len(mail(app)) == 2
    finally:
        redis.stop()


def test_with_redis_hung_a_changes_notices_are_left_unsent_after_about_a_second(
    app,
    client,
    store,  # noqa: F811
    people,  # noqa: F811
    monkeypatch,
    caplog,
):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    with SilentServer() as server:
        as_a_worker(app, monkeypatch, server.url)
        with caplog.at_level(logging.WARNING, logger="directory.referrals.dispatch"):
            started = time.monotonic()
            accept(client, people, offer_id)
            took = time.monotonic() - started
    # The broker's one-second timeout, and room for a loaded machine (without it: for ever).
    assert took < dispatch.PUBLISH_TIMEOUT_SECONDS + 2.0, f"waited {took:.2f} s on a hung Redis"
    assert [sent for *_, sent in notice_rows(app)] == [False, False]
    assert f"could not send {dispatch.DELIVER_NOTICES}" in caplog.text


def refused_port() -> int:
    """A local port nothing listens on (a mail service that is down: connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_embedded_with_the_mail_service_down_notices_wait_and_the_sweep_mails_them(
    app,
    client,
    store,  # noqa: F811
    people,  # noqa: F811
    monkeypatch,
    caplog,
):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    clear(app)
    outbox = app.extensions["mailer"]
    assert isinstance(outbox, OutboxMailer)
    monkeypatch.setitem(app.extensions, "mailer", SmtpMailer("127.0.0.1", refused_port(), "x@localhost", tls=False))

    with caplog.at_level(logging.WARNING, logger="directory.referrals.dispatch"):
        accept(client, people, offer_id)  # the change stands though its mail cannot go
    # No broker is involved: the warning says the task failed here, not that a broker was unreachable.
    assert f"{dispatch.DELIVER_NOTICES} [" in caplog.text and "failed in this process (embedded mode" in caplog.text
    assert "broker:" not in caplog.text and "could not send" not in caplog.text
    [naltrexone_offer] = offer_ids(store, referral_id, step="naltrexone")
    assert notice_rows(app) == [
        (notifications.NEW_OFFER, referral_id, naltrexone_offer, False),
        (notifications.STATUS_CHANGE, referral_id, None, False),
    ]

    app.extensions["mailer"] = outbox  # the mail service is back
    monkeypatch.setitem(app.config, "EMBEDDED_SWEEP_SECONDS", 0)
    assert client.get("/").status_code == 200  # any page's request runs the sweep
    assert notice_rows(app) == []
    assert sorted(to for to, _, _ in mail(app)) == sorted([people.emails["sender"], people.emails["naltrexone_staff"]])
    client.get("/")
    assert len(mail(app)) == 2


def test_notices_that_cannot_be_marked_unsent_either_are_sent_again_once_stale(
    app,
    client,
    store,  # noqa: F811
    people,  # noqa: F811
    monkeypatch,
    caplog,
):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    clear(app)

    def broken(*_args):
        raise OSError("mail service down")

    def database_down(*_args):
        raise OSError("database down")

    monkeypatch.setattr(notifications, "deliver", broken)
    monkeypatch.setattr(service, "mark_unsent", database_down)
    with caplog.at_level(logging.WARNING, logger="directory.referrals.dispatch"):
        accept(client, people, offer_id)
    assert "re-sent when stale" in caplog.text
    assert [sent for *_, sent in notice_rows(app)] == [True, True]  # they look sent
    monkeypatch.undo()
    with app.app_context():
        assert dispatch.send_pending() == 0  # not stale yet
        assert dispatch.send_pending(stale_after=timedelta(0)) == 2  # both rows, in one delivery
    assert notice_rows(app) == []
    assert sorted(to for to, _, _ in mail(app)) == sorted([people.emails["sender"], people.emails["naltrexone_staff"]])


def test_a_rolled_back_change_writes_no_notice(app, client, store, people):  # noqa: F811
    referral_id = submit(client, people)
    with app.app_context():
        referral = db.session.get(service.Referral, referral_id)
        referral.status = "unplaced"
        db.session.flush()
        db.session.rollback()
        db.session.commit()
    assert notice_rows(app) == []


def test_migration_0012_turns_held_notices_into_outbox_rows_and_back(app, client, store, people):  # noqa: F811
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    with app.app_context():
        schema.downgrade(db.engine, "0011")
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO held_notices (offer_ids, referral_ids, created_at)"
                    " VALUES (:offers, :referrals, CURRENT_TIMESTAMP)"
                ),
                [
                    {"offers": f"[{offer_id}, 999999]", "referrals": f'["{referral_id}"]'},
                    {"offers": "[]", "referrals": '["no-such-referral"]'},
                ],
            )
        schema.upgrade(db.engine)
    # Never sent: beat's next round sends them. Ids of rows since deleted are dropped.
    assert notice_rows(app) == [
        (notifications.NEW_OFFER, referral_id, offer_id, False),
        (notifications.STATUS_CHANGE, referral_id, None, False),
    ]
    with app.app_context():
        schema.downgrade(db.engine, "0011")
        with db.engine.connect() as connection:
            held = connection.execute(text("SELECT offer_ids, referral_ids FROM held_notices")).all()
            tasks = connection.execute(text("SELECT DISTINCT task FROM outbox")).scalars().all()
        schema.upgrade(db.engine)
    assert [(list(map(int, _json(o))), _json(r)) for o, r in held] == [([offer_id], [referral_id])]
    assert tasks == [service.ROUTE]


def _json(value):
    return json.loads(value) if isinstance(value, str) else value
