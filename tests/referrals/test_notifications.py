"""Notification emails: center staff hear of new offers, senders of status changes; no personal data in them."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from directory.extensions import db
from directory.mail import OutboxMailer
from directory.models import Offer, Referral
from directory.models.base import utcnow
from directory.referrals import notifications, service
from tests.api.test_referrals_api import intake, offer_ids, people, store, submit  # noqa: F401  (shared fixtures)

PERSONAL = ("CASE-1042", "555-0199", "heroin", "alcohol", "liver", "medicaid")


def mail(app) -> list[tuple[str, str, str]]:
    """Every message in the outbox folder as (to, subject, body), oldest first."""
    folder = Path(app.config["MAIL_OUTBOX"])
    messages = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        messages.append((message["To"], message["Subject"], message.get_content()))
    return messages


def clear(app) -> None:
    for path in Path(app.config["MAIL_OUTBOX"]).glob("*.eml"):
        path.unlink()


def assert_no_personal_data(messages) -> None:
    for to, subject, body in messages:
        for text in PERSONAL:
            assert text.lower() not in (subject + body).lower(), (to, subject)


def test_submit_mails_the_offered_center_and_the_sender(app, client, people):  # noqa: F811
    referral_id = submit(client, people)
    messages = mail(app)
    assert sorted((to, subject) for to, subject, _ in messages) == sorted(
        [
            (people.emails["near_staff"], notifications.OFFER_SUBJECT),
            (people.emails["sender"], notifications.STATUS_SUBJECT),
        ]
    )
    bodies = {to: body for to, _, body in messages}
    assert "/portal/offers" in bodies[people.emails["near_staff"]]
    assert f"/referrals/{referral_id}" in bodies[people.emails["sender"]]
    assert bodies[people.emails["sender"]].startswith("A referral you sent has a new status; sign in: http")
    assert_no_personal_data(messages)


def test_decline_mails_the_next_center_and_not_the_one_that_declined(app, client, store, people):  # noqa: F811
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    clear(app)
    client.post(f"/api/v1/offers/{offer_id}/decline", json={"reason": "No beds"}, headers=people.tokens["near_staff"])
    messages = mail(app)
    # Still "offered" (to the next center): the sender's status did not change, so no mail to them.
    assert [(to, subject) for to, subject, _ in messages] == [(people.emails["far_staff"], notifications.OFFER_SUBJECT)]
    assert_no_personal_data(messages)


def test_accept_mails_the_sender_and_the_naltrexone_program(app, client, store, people):  # noqa: F811
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    clear(app)
    client.post(
        f"/api/v1/offers/{offer_id}/accept", json={"admission_date": "2030-01-02"}, headers=people.tokens["near_staff"]
    )
    messages = mail(app)
    assert sorted(to for to, _, _ in messages) == sorted([people.emails["sender"], people.emails["naltrexone_staff"]])
    assert_no_personal_data(messages)


def test_expiry_mails_the_next_center(app, client, store, people):  # noqa: F811
    referral_id = submit(client, people)
    clear(app)
    with app.app_context():
        assert service.expire_offers(db.session, now=utcnow() + timedelta(days=1)) == 1
    assert [to for to, _, _ in mail(app)] == [people.emails["far_staff"]]
    assert offer_ids(store, referral_id) and len(offer_ids(store, referral_id)) == 2


def test_a_rolled_back_change_mails_nobody(app, client, store, people):  # noqa: F811
    referral_id = submit(client, people)
    clear(app)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        referral.status = "unplaced"
        db.session.flush()
        db.session.rollback()
        db.session.commit()
    assert mail(app) == []


def test_cancel_mails_only_the_sender(app, client, people):  # noqa: F811
    referral_id = submit(client, people)
    clear(app)
    client.post(f"/api/v1/referrals/{referral_id}/cancel", json={}, headers=people.tokens["sender"])
    assert [(to, subject) for to, subject, _ in mail(app)] == [(people.emails["sender"], notifications.STATUS_SUBJECT)]


@pytest.fixture
def own_session(app):
    with app.app_context():
        engine = db.engine
    with Session(engine) as session:
        yield session


def test_a_closed_offer_or_an_inactive_account_gets_no_mail(app, client, store, own_session, people, tmp_path):  # noqa: F811
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    mailer = OutboxMailer(tmp_path / "direct", "test@localhost")
    assert notifications.notify_center_staff(own_session, offer_id, mailer, "http://x") == 1
    own_session.get(Offer, offer_id).status = "withdrawn"
    referral = own_session.get(Referral, referral_id)
    referral.created_by.active = False
    own_session.commit()
    assert notifications.notify_center_staff(own_session, offer_id, mailer, "http://x") == 0
    assert notifications.notify_referrer(own_session, referral_id, mailer, "http://x") == 0


def failing_once(function):
    """`function`, except that its first call fails as if the database server had dropped the connection."""
    from sqlalchemy.exc import OperationalError

    calls = []

    def connection_lost_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT ...", {}, Exception("server closed the connection unexpectedly"))
        return function(*args, **kwargs)

    return connection_lost_once


def test_a_database_failure_midway_retries_only_what_was_not_mailed(app, client, store, people, monkeypatch):  # noqa: F811
    from celery.exceptions import Retry

    from tasks.notifications import send_notices

    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    clear(app)
    monkeypatch.setattr(notifications, "notify_referrers", failing_once(notifications.notify_referrers))
    with app.app_context(), pytest.raises(Retry) as retry:
        send_notices.apply(args=[[offer_id], [referral_id]])
    # The center's mail went out before the failure: the retry carries only the sender's.
    assert [to for to, _, _ in mail(app)] == [people.emails["near_staff"]]
    assert list(retry.value.sig.args) == [[], [referral_id]]
    with app.app_context():
        send_notices.apply(args=retry.value.sig.args)
    assert sorted(to for to, _, _ in mail(app)) == sorted([people.emails["near_staff"], people.emails["sender"]])


class Recording:
    """A mailer that keeps (to, subject) and fails at its `fail_at`-th message, if given."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail_at = fail_at

    def send(self, to: str, subject: str, body: str) -> None:
        if self.fail_at is not None and len(self.sent) + 1 == self.fail_at:
            raise OSError("SMTP connection lost")
        self.sent.append((to, subject))


def test_a_batch_of_notices_is_read_in_one_query_each_and_mailed_in_order(app, client, store, own_session, people):  # noqa: F811
    from sqlalchemy import event

    first, second = submit(client, people), submit(client, people)
    offers = offer_ids(store, first) + offer_ids(store, second)
    statements = []
    event.listen(own_session.get_bind(), "before_cursor_execute", lambda *args: statements.append(args[2]))
    mailer = Recording()
    offer_list, referral_list = list(offers), [second, "no-such-referral", first]
    assert notifications.notify_center_staffs(own_session, offer_list, mailer, "http://x") == 2
    assert notifications.notify_referrers(own_session, referral_list, mailer, "http://x") == 2
    assert len(statements) == 2
    assert offer_list == [] and referral_list == []
    assert (
        mailer.sent
        == [(people.emails["near_staff"], notifications.OFFER_SUBJECT)] * 2
        + [(people.emails["sender"], notifications.STATUS_SUBJECT)] * 2
    )


def test_a_mail_failure_midway_leaves_only_what_was_not_mailed(app, client, store, own_session, people):  # noqa: F811
    first, second, third = (submit(client, people) for _ in range(3))
    referrals = [first, second, third]
    with pytest.raises(OSError):
        notifications.notify_referrers(own_session, referrals, Recording(fail_at=2), "http://x")
    assert referrals == [second, third]


def test_consent_expiry_stops_routing_and_mails_the_sender(app, client, store, people):  # noqa: F811
    today = utcnow().date()
    consent = {"granted": True, "recipients": "Centers", "purpose": "Referral", "expires_on": today.isoformat()}
    referral_id = submit(client, people, consent=consent)
    clear(app)
    with app.app_context():
        assert service.stop_lapsed_consents(db.session, now=utcnow() + timedelta(days=1)) == 1
        referral = db.session.get(Referral, referral_id)
        assert (referral.status, referral.status_reason) == ("needs_review", service.CONSENT_EXPIRED)
        assert [o.status for o in referral.offers] == ["withdrawn"]
    messages = mail(app)
    assert [(to, subject) for to, subject, _ in messages] == [(people.emails["sender"], notifications.STATUS_SUBJECT)]
    assert_no_personal_data(messages)


@pytest.mark.parametrize("runner", ["embedded sweep", "beat task"])
def test_the_periodic_rounds_stop_referrals_whose_consent_expired(app, client, store, people, monkeypatch, runner):  # noqa: F811
    referral_id = submit(client, people)
    with app.app_context():
        db.session.get(Referral, referral_id).consent_expires_on = utcnow().date() - timedelta(days=1)
        db.session.commit()
    if runner == "embedded sweep":
        monkeypatch.setitem(app.config, "EMBEDDED_SWEEP_SECONDS", 0)
        client.get("/")  # any page request runs the sweep
    else:
        from tasks.routing import expire_offers

        expire_offers.apply()
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert (referral.status, referral.status_reason) == ("needs_review", service.CONSENT_EXPIRED)
        assert [o.status for o in referral.offers] == ["withdrawn"]
