"""Sending routing tasks after commit, from the outbox; queueing notices; and the embedded-mode sweep.

The broker only ever sees a task name and a referral id. If the broker is down when a
referral is submitted, the outbox row stays unsent and the periodic `dispatch_outbox`
task (or, in embedded mode, the sweep) sends it later. Notices that cannot be queued when
their change commits are held in the database and handed on by the same rounds.
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

import redis
from flask import Flask, current_app, request
from kombu.transport import redis as kombu_redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import inspect

from directory.extensions import db
from directory.models import Referral, User
from directory.referrals import notifications, service
from directory.referrals.intake import Intake
from directory.referrals.notice_queue import NoticeQueue, merge

log = logging.getLogger(__name__)


def offer_ttl() -> timedelta:
    return timedelta(minutes=current_app.config["OFFER_TTL_MINUTES"])


def publish(task: Any, *args: object) -> None:
    """Send a task without waiting on an unreachable broker: one connection attempt, no reconnect loop.

    (Kombu would otherwise retry the connection for several seconds before giving up.) The
    connection is kept for the next task: opening one per task was most of a routing task's
    time. A kept connection that fails (the broker restarted since) is dropped, and the task
    sent once more on a new one, again with a single attempt.
    """
    celery = current_app.extensions["celery"]
    if celery.conf.task_always_eager:
        task.apply_async(args=list(args))
        return
    for attempt in (1, 2):
        with _publishing_connections(celery).acquire(block=True) as connection:
            kept = connection.connected
            try:
                task.apply_async(args=list(args), retry=False, connection=connection)
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


def send(referral_id: str) -> bool:
    """Send the routing task of one referral to the broker; True if the broker took it."""
    from tasks.routing import route_referral

    try:
        publish(route_referral, referral_id)
    except Exception as error:  # the broker is unreachable: the outbox keeps the message
        log.warning("could not send the routing task of referral %s: %s", referral_id, type(error).__name__)
        return False
    return True


def send_pending(older_than: timedelta = timedelta(0), stale_after: timedelta | None = None) -> int:
    """Send every outbox message not yet sent, or sent but not routed in time; returns how many went.

    Those sent are marked so in one commit at the end (a commit each made the database, whose
    writes are one at a time on SQLite, the bottleneck of a large re-send). A failed send stops
    the round: the broker is down, and the rest stays for the next one.
    """
    if stale_after is None:
        stale_after = timedelta(seconds=current_app.config["ROUTING_REDISPATCH_SECONDS"])
    messages = [
        (message.id, message.referral_id)
        for message in service.pending_outbox(db.session, older_than=older_than, stale_after=stale_after)
    ]
    db.session.rollback()  # end the read: nothing is held while publishing
    sent = []
    for message_id, referral_id in messages:
        if not send(referral_id):
            break
        sent.append(message_id)
    service.mark_dispatched(db.session, sent)
    return len(sent)


def send_notices(notices: notifications.Notices) -> None:
    """Queue one committed change's notices (ids only) for mailing; a failure never undoes the change.

    With a broker they wait in Redis for a drain task (`notice_queue`), sent only if none is
    waiting already; in embedded mode the task runs here and now. If that fails (Redis down or
    not answering; in embedded mode, the mail service failing) they are held in the database
    for the next round (`send_held_notices`): their mail is late, not lost.
    """
    try:
        _queue_or_mail(notices)
    except Exception as error:
        try:
            with db.engine.begin() as connection:
                notifications.hold(connection, notices)
        except Exception as hold_error:  # the database is down too: nothing left to keep them in
            log.error(
                "could not queue %s (%s) nor hold them (%s): not mailed",
                notices,
                type(error).__name__,
                type(hold_error).__name__,
            )
            return
        log.warning("could not queue %s: %s; held for the next round", notices, type(error).__name__)


def _queue_or_mail(notices: notifications.Notices) -> None:
    """Hand notices on for mailing: to the queue in Redis (and send a drain if none waits), or in
    embedded mode mail them here and now; raises if that fails."""
    from tasks.notifications import send_notices as task

    if current_app.extensions["celery"].conf.task_always_eager:
        publish(task, list(notices.new_offer_ids), list(notices.changed_referral_ids))
        return
    queue = notice_queue()
    if queue.push(notices):
        send_drain(queue)


#: Held changes' notices handed on per round, merged into one (a drain mails them in chunks).
HELD_BATCH = 500


def send_held_notices() -> int:
    """Hand on the notices held in the database (`send_notices` could not queue them); returns
    how many changes' worth went. Run by beat's round, and in embedded mode by the sweep.

    They are queued (or mailed) first and forgotten after, so a process that dies in between
    leaves them to be mailed twice rather than never. If handing on fails (Redis still down),
    they stay for the next round.
    """
    held = notifications.held(db.session, HELD_BATCH)
    db.session.rollback()  # end the read: nothing is held while queueing
    if not held:
        return 0
    try:
        _queue_or_mail(merge(notices for _, notices in held))
    except Exception as error:
        log.warning("could not queue %d held changes' notices: %s", len(held), type(error).__name__)
        return 0
    notifications.release(db.session, [row_id for row_id, _ in held])
    return len(held)


def outbox_round(older_than: timedelta = timedelta(0)) -> tuple[int, int, bool]:
    """One round of beat's `dispatch_outbox`: re-send the outbox (`send_pending`), hand on held
    notices (`send_held_notices`), and send a drain for notices left without one
    (`send_drain_if_needed`); returns what each did."""
    return send_pending(older_than=older_than), send_held_notices(), send_drain_if_needed()


def send_drain(queue: NoticeQueue) -> None:
    """Send the task that mails the waiting notices (the caller has claimed it with `schedule` or `push`)."""
    from tasks.notifications import send_waiting_notices

    try:
        publish(send_waiting_notices)
    except Exception:
        queue.unschedule()  # the next change, or beat's round, sends it
        raise


def send_drain_if_needed() -> bool:
    """Send a drain for notices left waiting without one (its message was lost), or held by a
    drain that gave up (put back in the queue first); True if one was sent."""
    if current_app.extensions["celery"].conf.task_always_eager:
        return False
    try:
        queue = notice_queue()
        if reclaimed := queue.reclaim():
            log.warning("put back %d changes' notices held by a drain that gave up", reclaimed)
        if not queue.schedule():
            return False
        send_drain(queue)
    except Exception as error:  # Redis is down: the next round tries again
        log.warning("could not send a drain for waiting notices: %s", type(error).__name__)
        return False
    return True


#: Seconds to wait on Redis for the notice queue: a change is committed already, so a slow or
#: unreachable Redis must not hold up the request or the routing task for long.
NOTICE_QUEUE_TIMEOUT_SECONDS = 1.0
_notice_clients: dict[tuple[int, str], Any] = {}


def notice_queue() -> NoticeQueue:
    """The notice queue on the app's Redis, through a client kept per process (a forked process makes its own)."""
    url = current_app.config["REDIS_URL"]
    key = (os.getpid(), url)
    if key not in _notice_clients:
        _notice_clients[key] = redis.Redis.from_url(
            url,
            socket_connect_timeout=NOTICE_QUEUE_TIMEOUT_SECONDS,
            socket_timeout=NOTICE_QUEUE_TIMEOUT_SECONDS,
            # One more try on a fresh connection (Redis restarted), at once; not after a timeout
            # (Redis hung), which would only double the wait.
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        )
    return NoticeQueue(_notice_clients[key])


def init_notifications(app: Flask) -> None:
    """Email center staff about new offers and referrers about status changes, after each commit."""
    with app.app_context():
        notifications.watch(db.sessionmaker, send_notices)


def init_embedded_sweep(app: Flask) -> None:
    """Without a broker, stop referrals whose consent expired, expire offers and send leftovers as requests
    come in (at most once a minute)."""
    if app.config.get("REDIS_URL"):
        return
    state = {"last": 0.0}

    @app.before_request
    def _sweep() -> None:
        if request.blueprint == "ops" or request.endpoint == "static":
            return  # health probes and assets never touch the database
        now = time.monotonic()
        if now - state["last"] < app.config["EMBEDDED_SWEEP_SECONDS"]:
            return
        state["last"] = now
        service.stop_lapsed_consents(db.session)
        service.expire_offers(db.session, offer_ttl=offer_ttl())
        send_pending()
        send_held_notices()


def submit_and_send(intake: Intake, actor: User | None) -> Referral:
    """Write the referral (with its outbox row) and then, after commit, try to send the routing task.

    Answers without waiting on the broker's availability: if it is down, the outbox keeps the
    task for the periodic re-send. The outbox row is written as sent, in the referral's own commit,
    and marked unsent again if the broker did not take it (one commit, not two, when all is well); a
    process that dies between the commit and the send leaves a row that looks sent while its
    referral waits, which the re-send of stale rows picks up (ROUTING_REDISPATCH_SECONDS).
    """
    referral = service.submit_referral(db.session, intake, actor, sending=True)
    referral_id = inspect(referral).identity[0]  # the commit expired `referral.id`: no reload to send
    if not send(referral_id):
        service.mark_unsent(db.session, referral_id)
    db.session.refresh(referral)  # as routed meanwhile (in embedded mode, routed already)
    return referral
