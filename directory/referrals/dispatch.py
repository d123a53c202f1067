"""Sending the outbox: routing tasks and notices, after commit and again in beat's rounds; and the
embedded-mode sweep.

The broker only ever sees a task name and ids. Every message is a row of the outbox written in the
transaction that needs it; the committing process sends it right after commit. If the broker is
down (or, in embedded mode, the mail service), the row stays unsent and the periodic
`dispatch_outbox` task (or, in embedded mode, the sweep) sends it later. Tasks are sent by name:
this module never imports `tasks/`, which imports it.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from kombu.transport import redis as kombu_redis
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from directory.extensions import db
from directory.models import Referral, User
from directory.referrals import notifications, service
from directory.referrals.intake import Intake
from directory.upkeep import confirmations

log = logging.getLogger(__name__)

ROUTE_REFERRAL = "tasks.routing.route_referral"
DELIVER_NOTICES = "tasks.notifications.deliver_notices"
#: Notice rows sent per `deliver_notices` message by beat's round.
NOTICES_PER_TASK = 100


#: The settings of offers and escalation, each a whole number of at least 1.
ROUTING_SETTINGS = ("OFFERS_AT_ONCE", "OFFER_TTL_MINUTES", "OFFER_REMINDER_MINUTES", "ESCALATE_AFTER_MINUTES")


def check_routing_settings(app: Flask) -> None:
    """Refuse to start with an offer or escalation setting that is not a whole number of at least 1."""
    for name in ROUTING_SETTINGS:
        value = app.config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}: use a whole number of at least 1.")


def offering() -> service.Offering:
    """How steps are offered: OFFERS_AT_ONCE centers at a time, each for OFFER_TTL_MINUTES."""
    config = current_app.config
    return service.Offering(at_once=config["OFFERS_AT_ONCE"], ttl=timedelta(minutes=config["OFFER_TTL_MINUTES"]))


def reminder_after() -> timedelta:
    return timedelta(minutes=current_app.config["OFFER_REMINDER_MINUTES"])


def escalate_after() -> timedelta:
    return timedelta(minutes=current_app.config["ESCALATE_AFTER_MINUTES"])


def publish(name: str, *args: object) -> None:
    """Send the task named `name` without waiting on an unreachable broker: one connection attempt,
    no reconnect loop; in embedded mode, run it here and now (its errors are raised).

    (Kombu would otherwise retry the connection for several seconds before giving up.) The
    connection is kept for the next task: opening one per task was most of a routing task's
    time. A kept connection that fails (the broker restarted since) is dropped, and the task
    sent once more on a new one, again with a single attempt.
    """
    celery = current_app.extensions["celery"]
    if celery.conf.task_always_eager:
        celery.tasks[name].apply(args=list(args), throw=True)
        return
    for attempt in (1, 2):
        with _publishing_connections(celery).acquire(block=True) as connection:
            kept = connection.connected
            try:
                celery.send_task(name, args=list(args), retry=False, connection=connection)
                return
            except Exception:
                connection.close()  # really closed: the pool opens it anew on its next use
                if not kept or attempt == 2:
                    raise


#: Broker connections kept per process for `publish` (more concurrent senders wait for one).
PUBLISHING_CONNECTIONS = 10
#: Seconds `publish` waits on the broker for each step (connecting, each reply) before giving up:
#: the task's message is in the outbox already, for beat's re-send.
PUBLISH_TIMEOUT_SECONDS = 1.0
_pools: dict[tuple[int, int], Any] = {}


def _publishing_connections(celery: Any) -> Any:
    """This process's pool of broker connections for `publish` (a forked process makes its own)."""
    key = (os.getpid(), id(celery))
    if key not in _pools:
        options = {
            **celery.conf.broker_transport_options,
            "max_retries": 0,
            # A broker that takes the connection but does not answer (hung, or its replies lost)
            # would otherwise hold the sender for ever: a web request past gunicorn's timeout.
            "socket_timeout": PUBLISH_TIMEOUT_SECONDS,
            "socket_connect_timeout": PUBLISH_TIMEOUT_SECONDS,
        }
        redis_broker = urlsplit(celery.conf.broker_url).scheme in ("redis", "rediss")
        connection = celery.connection_for_write(
            transport=PublishingRedisTransport if redis_broker else None, transport_options=options
        )
        # A limit is what makes kombu keep released connections (without one it closes them).
        _pools[key] = connection.Pool(limit=PUBLISHING_CONNECTIONS)
    return _pools[key]


class _PublishingRedisChannel(kombu_redis.Channel):
    """kombu's Redis channel, with one Redis client kept for the commands it sends itself.

    kombu builds a new `redis.Redis` client (over the channel's own connection pool) for every
    message it publishes, and building one copies the table of ~170 response callbacks: about a
    fifth of a publish's CPU time. The client only borrows a connection from the pool for each
    command, so one kept per channel serves every message alike; it goes with its channel (a
    connection closed after a failure makes new channels, and so new clients).
    """

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        yield client or self._kept_client

    @functools.cached_property
    def _kept_client(self) -> Any:
        return self._create_client()


class PublishingRedisTransport(kombu_redis.Transport):
    """kombu's Redis transport with `_PublishingRedisChannel`: what `publish` sends with (a Redis broker only)."""

    Channel = _PublishingRedisChannel


def send(name: str, *args: object) -> bool:
    """Send one task; True if the broker took it (in embedded mode: if it ran without an error)."""
    try:
        publish(name, *args)
    except Exception as error:  # the broker is unreachable (embedded: the task failed): the outbox keeps it
        if current_app.extensions["celery"].conf.task_always_eager:
            failed = "%s %s failed in this process (embedded mode, no broker): %s; the sweep runs it again"
            log.warning(failed, name, list(args), type(error).__name__)
        else:
            log.warning("could not send %s %s to the broker: %s", name, list(args), type(error).__name__)
        return False
    return True


def send_pending(older_than: timedelta = timedelta(0), stale_after: timedelta | None = None) -> int:
    """Send every outbox message not yet sent, or sent but not done in time; returns how many went.

    Each routing task goes as a message of its own, notices up to NOTICES_PER_TASK to a message.
    Those sent are marked so in one commit at the end (a commit each made the database, whose
    writes are one at a time on SQLite, the bottleneck of a large re-send). A failed send stops
    the round: the broker is down, and the rest stays for the next one.
    """
    if stale_after is None:
        stale_after = timedelta(seconds=current_app.config["ROUTING_REDISPATCH_SECONDS"])
    messages = service.pending_outbox(db.session, older_than=older_than, stale_after=stale_after)
    routing = [(message.id, message.referral_id) for message in messages if message.task == service.ROUTE]
    notices = [message.id for message in messages if message.task in notifications.NOTICE_TASKS]
    db.session.rollback()  # end the read: nothing is held while publishing
    sent: list[int] = []
    for message_id, referral_id in routing:
        if not send(ROUTE_REFERRAL, referral_id):
            break
        sent.append(message_id)
    else:
        for start in range(0, len(notices), NOTICES_PER_TASK):
            chunk = notices[start : start + NOTICES_PER_TASK]
            if not send(DELIVER_NOTICES, chunk):
                break
            sent += chunk
    service.mark_dispatched(db.session, sent)  # (embedded mode: notices mailed are gone already)
    return len(sent)


def send_notices(session: Session, message_ids: list[int]) -> None:
    """Send the notices a commit wrote to the outbox (written as sent); a failure never undoes the change.

    If the broker (in embedded mode, the mail service) fails, the rows are marked unsent for the
    next round; if even that fails (the database is down too), they still look sent, and the round
    sends them again once they are ROUTING_REDISPATCH_SECONDS old: their mail is late, not lost.
    """
    if send(DELIVER_NOTICES, message_ids):
        return
    try:
        with session.get_bind().connect() as connection:
            service.mark_unsent(connection, message_ids)
            connection.commit()
    except Exception as error:
        log.warning("could not mark notices %s unsent (%s): re-sent when stale", message_ids, type(error).__name__)


def init_notifications(app: Flask) -> None:
    """Write notices of new offers and status changes to the outbox in each commit, and send them after."""
    with app.app_context():
        notifications.watch(db.sessionmaker, send_notices)


#: How often the embedded sweep asks centers to confirm stale listings (beat's daily job).
CONFIRMATION_REQUEST_SECONDS = 24 * 3600


def init_embedded_sweep(app: Flask) -> None:
    """Without a broker, stop referrals whose consent expired, expire offers, remind centers of open ones
    and send leftovers as requests come in (at most once a minute), and ask centers to confirm stale
    listings (once a day)."""
    if app.config.get("REDIS_URL"):
        return
    state = {"last": 0.0, "asked": -float(CONFIRMATION_REQUEST_SECONDS)}

    @app.before_request
    def _sweep() -> None:
        if request.blueprint == "ops" or request.endpoint == "static":
            return  # health probes and assets never touch the database
        now = time.monotonic()
        if now - state["last"] < app.config["EMBEDDED_SWEEP_SECONDS"]:
            return
        state["last"] = now
        service.stop_lapsed_consents(db.session)
        service.expire_offers(db.session, offering=offering())
        service.remind_open_offers(db.session, after=reminder_after())
        send_pending()
        if app.config["CONFIRMATION_REQUESTS"] and now - state["asked"] >= CONFIRMATION_REQUEST_SECONDS:
            state["asked"] = now
            confirmations.request_confirmations(db.session)


def submit_and_send(intake: Intake, actor: User | None, *, allow_duplicate: bool = False) -> Referral:
    """Write the referral (with its outbox row) and then, after commit, try to send the routing task.

    Answers without waiting on the broker's availability: if it is down, the outbox keeps the
    task for the periodic re-send. The outbox row is written as sent, in the referral's own commit,
    and marked unsent again if the broker did not take it (one commit, not two, when all is well); a
    process that dies between the commit and the send leaves a row that looks sent while its
    referral waits, which the re-send of stale rows picks up (ROUTING_REDISPATCH_SECONDS).
    Raises service.DuplicateReferral as `service.submit_referral` does.
    """
    referral = service.submit_referral(db.session, intake, actor, sending=True, allow_duplicate=allow_duplicate)
    referral_id = inspect(referral).identity[0]  # the commit expired `referral.id`: no reload to send
    if not send(ROUTE_REFERRAL, referral_id):
        service.mark_unsent(db.session, [service.routing_message_id(db.session, referral_id)])
        db.session.commit()
    db.session.refresh(referral)  # as routed meanwhile (in embedded mode, routed already)
    return referral
