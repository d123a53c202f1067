"""Notices waiting in Redis for a drain task: one drain at a time, oldest first, nothing lost or mailed twice."""

from __future__ import annotations

import smtplib

import pytest
import redis
from celery.exceptions import Retry

from directory.referrals import notifications
from directory.referrals.notice_queue import RECLAIM_SECONDS, SCHEDULED, NoticeQueue, merge
from directory.referrals.notifications import Notices
from tests.api.test_referrals_api import offer_ids, people, store, submit  # noqa: F401  (shared fixtures)
from tests.referrals.test_notifications import clear, failing_once, mail

pytestmark = pytest.mark.integration


@pytest.fixture
def queue(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield NoticeQueue(client)
    client.close()


def test_a_drain_is_sent_for_the_first_notice_and_not_again_until_it_starts(queue):
    assert queue.push(Notices((1,), ("a",))) is True
    assert queue.push(Notices((2,), ("b",))) is False  # the drain sent for the first takes this too
    assert queue.client.ttl(SCHEDULED) > 0  # a lost drain message does not block drains for ever
    queue.unschedule()  # the drain started
    assert queue.push(Notices((3,), ())) is True
    assert queue.waiting() == 3


def test_nothing_waiting_needs_no_drain(queue):
    assert queue.schedule() is False
    queue.push(Notices((1,), ()))
    assert queue.schedule() is False  # the push claimed it already
    queue.unschedule()
    assert queue.schedule() is True
    assert queue.schedule() is False


def test_a_drain_takes_the_oldest_and_keeps_them_until_mailed(queue):
    for n in range(1, 4):
        queue.push(Notices((n,), (f"r{n}",)))
    taken = queue.take("drain-1", 2)
    assert taken == [Notices((1,), ("r1",)), Notices((2,), ("r2",))]
    assert queue.waiting() == 1
    # A killed drain's task is delivered again with the same id: what it took is still there.
    assert queue.taken("drain-1") == taken
    assert queue.taken("drain-2") == []
    queue.keep_only("drain-1", Notices((), ("r2",)))  # mailed all but one
    assert queue.taken("drain-1") == [Notices((), ("r2",))]
    queue.keep_only("drain-1", Notices())
    assert queue.taken("drain-1") == []
    assert queue.take("drain-2", 10) == [Notices((3,), ("r3",))]
    assert queue.take("drain-3", 10) == []


def test_what_a_drain_that_gave_up_holds_goes_back_to_the_queue_after_an_hour(queue):
    for n in range(1, 4):
        queue.push(Notices((n,), ()))
    queue.take("drain-1", 2, now=1000.0)  # then its retries ran out: nothing more happens to it
    assert queue.reclaim(now=1000.0 + RECLAIM_SECONDS - 1) == 0  # it may still be mailing
    assert queue.reclaim(now=1000.0 + RECLAIM_SECONDS + 1) == 2
    assert queue.taken("drain-1") == []
    assert queue.reclaim(now=1e12) == 0  # once
    # Back at the oldest end, in their order: the next drain takes them first.
    assert queue.take("drain-2", 10) == [Notices((1,), ()), Notices((2,), ()), Notices((3,), ())]


def test_a_drain_that_keeps_what_is_left_for_its_retry_is_not_reclaimed_meanwhile(queue):
    queue.push(Notices((1,), ("a",)))
    queue.take("drain-1", 10, now=0.0)
    queue.keep_only("drain-1", Notices((), ("a",)), now=3000.0)  # a retry after a failure
    assert queue.reclaim(now=RECLAIM_SECONDS + 1) == 0
    queue.keep_only("drain-1", Notices())  # the retry mailed it: the drain holds nothing
    assert queue.reclaim(now=1e12) == 0
    assert queue.waiting() == 0


def test_merge_mails_each_offer_and_each_changed_referral_once():
    merged = merge([Notices((1,), ("a",)), Notices((2,), ("b", "a")), Notices((), ("c", "b"))])
    assert merged == Notices((1, 2), ("a", "b", "c"))
    assert merge([]) == Notices()


def test_the_drain_mails_what_waits_and_a_failure_keeps_only_what_is_left(
    app,
    client,
    store,  # noqa: F811
    people,  # noqa: F811
    queue,
    redis_url,
    monkeypatch,
):
    from tasks.notifications import send_waiting_notices

    referral_id = submit(client, people)  # the embedded app mails at once: clear those
    [offer_id] = offer_ids(store, referral_id)
    clear(app)
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)  # where the drain finds the queue
    queue.push(Notices((offer_id,), (referral_id,)))
    monkeypatch.setattr(notifications, "notify_referrers", failing_once(notifications.notify_referrers))
    with app.app_context(), pytest.raises(Retry):
        send_waiting_notices.apply(task_id="drain-1")
    # The center's mail went out before the failure; the drain's retry (same id) holds the rest.
    assert [to for to, _, _ in mail(app)] == [people.emails["near_staff"]]
    assert queue.taken("drain-1") == [Notices((), (referral_id,))]
    assert queue.waiting() == 0
    with app.app_context():
        send_waiting_notices.apply(task_id="drain-1")
    assert sorted(to for to, _, _ in mail(app)) == sorted([people.emails["near_staff"], people.emails["sender"]])
    assert queue.taken("drain-1") == []


def test_a_mail_server_failure_midway_retries_only_what_was_not_mailed(
    app,
    client,
    store,  # noqa: F811
    people,  # noqa: F811
    queue,
    redis_url,
    monkeypatch,
):
    from tasks.notifications import send_waiting_notices

    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    clear(app)
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    queue.push(Notices((offer_id,), (referral_id,)))
    calls = []
    real = notifications.notify_referrers

    def server_gone_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return real(*args, **kwargs)

    monkeypatch.setattr(notifications, "notify_referrers", server_gone_once)
    with app.app_context(), pytest.raises(Retry):
        send_waiting_notices.apply(task_id="drain-1")
    assert [to for to, _, _ in mail(app)] == [people.emails["near_staff"]]
    assert queue.taken("drain-1") == [Notices((), (referral_id,))]
    with app.app_context():
        send_waiting_notices.apply(task_id="drain-1")
    assert sorted(to for to, _, _ in mail(app)) == sorted([people.emails["near_staff"], people.emails["sender"]])
    assert queue.taken("drain-1") == []


def test_a_drain_leaves_the_rest_to_a_fresh_one_after_a_batch(
    app,
    client,
    store,  # noqa: F811
    people,  # noqa: F811
    queue,
    redis_url,
    monkeypatch,
):
    import tasks.notifications

    first, second = submit(client, people), submit(client, people)
    clear(app)
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setattr(tasks.notifications, "DRAIN_BATCH", 1)
    queue.push(Notices((), (first,)))
    queue.push(Notices((), (second,)))
    sent = []
    real_send_drain = tasks.notifications.dispatch.send_drain
    monkeypatch.setattr(tasks.notifications.dispatch, "send_drain", lambda q: sent.append(1) or real_send_drain(q))
    with app.app_context():
        tasks.notifications.send_waiting_notices.apply(task_id="drain-1")
    # The first drain mailed one and sent a fresh drain for the other (run here: the app is embedded).
    assert sent == [1]
    assert sorted(to for to, _, _ in mail(app)) == [people.emails["sender"]] * 2
    assert queue.waiting() == 0


def test_beats_round_sends_a_drain_for_notices_left_without_one(
    app,
    client,
    people,  # noqa: F811
    queue,
    redis_url,
    monkeypatch,
):
    from tasks.routing import dispatch_outbox

    referral_id = submit(client, people)
    clear(app)
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setitem(app.extensions["celery"].conf, "task_always_eager", False)  # as in a worker: not embedded
    queue.push(Notices((), (referral_id,)))
    queue.unschedule()  # as if the drain sent for it was lost with its message
    sent = []
    monkeypatch.setattr("directory.referrals.dispatch.publish", lambda task, *args: sent.append(task.name))
    with app.app_context():
        dispatch_outbox.apply()
        dispatch_outbox.apply()  # the drain it sent has not started yet: not sent twice
    assert sent == ["tasks.notifications.send_waiting_notices"]
    assert queue.waiting() == 1


def test_beats_round_puts_back_what_a_drain_that_gave_up_holds_and_sends_a_drain(
    app,
    client,
    people,  # noqa: F811
    queue,
    redis_url,
    monkeypatch,
):
    from tasks.routing import dispatch_outbox

    referral_id = submit(client, people)
    clear(app)
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setitem(app.extensions["celery"].conf, "task_always_eager", False)
    queue.push(Notices((), (referral_id,)))
    queue.take("drain-1", 10, now=0.0)  # a drain that gave up long ago
    queue.unschedule()
    sent = []
    monkeypatch.setattr("directory.referrals.dispatch.publish", lambda task, *args: sent.append(task.name))
    with app.app_context():
        dispatch_outbox.apply()
    assert sent == ["tasks.notifications.send_waiting_notices"]
    assert queue.taken("drain-1") == []
    assert queue.waiting() == 1
