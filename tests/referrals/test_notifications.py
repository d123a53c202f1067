"""Notification emails: center staff hear of new offers, senders of status changes; no personal data in them."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from directory.extensions import db
from directory.mail import OutboxMailer
from directory.models import Offer, OutboxMessage, Referral, User
from directory.models.base import utcnow
from directory.referrals import dispatch, notifications, service
from tests.api.test_referrals_api import intake, offer_ids, people, store, submit  # noqa: F401  (shared fixtures)
from tests.factories import days_from_today, make_user

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
        f"/api/v1/offers/{offer_id}/accept",
        json={"admission_date": days_from_today(3)},
        headers=people.tokens["near_staff"],
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


def notices(session: Session, offers: list[int] = (), referrals: list[str] = ()) -> list[int]:
    """Outbox rows of notices of these new offers and changed referrals, in order; their ids."""
    rows = [
        *(OutboxMessage(task=notifications.NEW_OFFER, referral_id=session.get(Offer, o).referral_id, offer_id=o)
          for o in offers),
        *(OutboxMessage(task=notifications.STATUS_CHANGE, referral_id=r) for r in referrals),
    ]  # fmt: skip
    session.add_all(rows)
    session.commit()
    return [row.id for row in rows]


def left(session: Session) -> list[int]:
    """The ids of the notice rows still in the outbox (not mailed yet)."""
    session.expire_all()
    query = select(OutboxMessage.id).where(OutboxMessage.task != service.ROUTE).order_by(OutboxMessage.id)
    return list(session.scalars(query))


def test_a_change_writes_its_notices_to_the_outbox_in_its_own_commit(app, client, store, people, monkeypatch):  # noqa: F811
    sent, publish = [], dispatch.publish

    def routing_only(name, *args):  # notices are sent, and not mailed: their rows stay
        sent.append((name, *args))
        if name == dispatch.ROUTE_REFERRAL:
            publish(name, *args)

    monkeypatch.setattr(dispatch, "publish", routing_only)
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    with app.app_context():
        rows = db.session.execute(
            select(OutboxMessage.id, OutboxMessage.task, OutboxMessage.referral_id, OutboxMessage.offer_id)
            .where(OutboxMessage.task != service.ROUTE)
            .order_by(OutboxMessage.id)
        ).all()
    assert [tuple(row[1:]) for row in rows] == [
        (notifications.NEW_OFFER, referral_id, offer_id),
        (notifications.STATUS_CHANGE, referral_id, None),
    ]
    # Sent after the commit: the routing task by name, then the routing commit's notices.
    assert sent == [(dispatch.ROUTE_REFERRAL, referral_id), (dispatch.DELIVER_NOTICES, [row.id for row in rows])]


def test_a_closed_offer_or_an_inactive_account_gets_no_mail(app, client, store, own_session, people, tmp_path):  # noqa: F811
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    mailer = OutboxMailer(tmp_path / "direct", "test@localhost")
    assert notifications.deliver(own_session, notices(own_session, [offer_id]), mailer, "http://x") == 1
    own_session.get(Offer, offer_id).status = "withdrawn"
    referral = own_session.get(Referral, referral_id)
    referral.created_by.active = False
    own_session.commit()
    ids = notices(own_session, [offer_id], [referral_id])
    assert notifications.deliver(own_session, ids, mailer, "http://x") == 0
    assert left(own_session) == []  # nothing to mail: done all the same


class Recording:
    """A mailer that keeps (to, subject) and fails at its `fail_at`-th message, if given."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail_at = fail_at

    def send(self, to: str, subject: str, body: str) -> None:
        if self.fail_at is not None and len(self.sent) + 1 == self.fail_at:
            raise OSError("SMTP connection lost")
        self.sent.append((to, subject))


def test_notices_are_read_in_one_query_each_and_mailed_in_order(app, client, store, own_session, people):  # noqa: F811
    from sqlalchemy import event

    first, second = submit(client, people), submit(client, people, client_reference="CASE-2001")
    offers = offer_ids(store, first) + offer_ids(store, second)
    ids = notices(own_session, offers, [second, first])
    statements = []
    event.listen(own_session.get_bind(), "before_cursor_execute", lambda *args: statements.append(args[2]))
    mailer = Recording()
    assert notifications.deliver(own_session, ids, mailer, "http://x") == 4
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 3  # rows, staff, creators
    assert (
        mailer.sent
        == [(people.emails["near_staff"], notifications.OFFER_SUBJECT)] * 2
        + [(people.emails["sender"], notifications.STATUS_SUBJECT)] * 2
    )
    assert left(own_session) == []


def test_a_mail_failure_midway_leaves_only_what_was_not_mailed(app, client, store, own_session, people):  # noqa: F811
    referrals = [submit(client, people, client_reference=f"CASE-{n}") for n in range(3)]
    ids = notices(own_session, referrals=referrals)
    with pytest.raises(OSError):
        notifications.deliver(own_session, ids, Recording(fail_at=2), "http://x")
    assert left(own_session) == ids[1:]
    # Sent again (a retry, or beat's round): what went is not mailed again.
    again = Recording()
    assert notifications.deliver(own_session, ids, again, "http://x") == 2
    assert again.sent == [(people.emails["sender"], notifications.STATUS_SUBJECT)] * 2
    assert notifications.deliver(own_session, ids, again, "http://x") == 0


def test_a_database_failure_after_a_mail_retries_from_that_mail(app, client, store, own_session, people, monkeypatch):  # noqa: F811
    from tasks.notifications import deliver_notices

    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    clear(app)
    ids = notices(own_session, [offer_id], [referral_id])
    real_delete, deletes = notifications.delete, []

    def delete_fails_the_second_time(*args):
        deletes.append(args)
        if len(deletes) == 2:
            raise OperationalError("DELETE ...", {}, Exception("server closed the connection unexpectedly"))
        return real_delete(*args)

    monkeypatch.setattr(notifications, "delete", delete_fails_the_second_time)
    with app.app_context(), pytest.raises(OperationalError):  # embedded: raised; a worker retries
        deliver_notices.apply(args=[ids], throw=True)
    assert [to for to, _, _ in mail(app)] == [people.emails["near_staff"], people.emails["sender"]]
    # The sender's mail went but its row could not be deleted: sent again, it is mailed once more
    # (at least once); the center's row was deleted with its mail, so that mail is not repeated.
    assert left(own_session) == ids[1:]
    with app.app_context():
        deliver_notices.apply(args=[ids], throw=True)
    assert sorted(to for to, _, _ in mail(app)) == sorted(
        [people.emails["near_staff"], people.emails["sender"], people.emails["sender"]]
    )
    assert left(own_session) == []


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


def speakers(store, center_id: int) -> dict[str, str]:  # noqa: F811
    """Three more staff of a center: one who picked Spanish, one English, one who never picked; their emails."""
    with store.session() as session:
        users = {language: make_user(session, "center_staff", [center_id], password=None) for language in ("es", "en")}
        users["unknown"] = make_user(session, "center_staff", [center_id], password=None)
        for language in ("es", "en"):
            users[language].language = language
        session.commit()
        return {language: user.email for language, user in users.items()}


def test_center_staff_get_the_offer_and_its_reminder_each_in_their_own_language(app, client, people, store):  # noqa: F811
    staff = speakers(store, people.near)
    submit(client, people)
    offers = {to: (subject, body) for to, subject, body in mail(app) if to in staff.values()}
    spanish = ("Nueva oferta de derivación", "Tiene una nueva oferta de derivación; inicie sesión para verla: ")
    english = ("New referral offer", "You have a new referral offer; sign in to see it: ")
    for language, (subject, body) in (("es", spanish), ("en", english), ("unknown", english)):
        assert offers[staff[language]][0] == subject
        assert offers[staff[language]][1] == f"{body}http://127.0.0.1:5000/portal/offers\n"
    clear(app)
    with app.app_context():  # the round of reminders, as beat runs it: mailed after its commit
        assert service.remind_open_offers(db.session, after=timedelta(minutes=30), now=utcnow() + timedelta(hours=1))
    reminders = {to: (subject, body) for to, subject, body in mail(app)}
    assert reminders[staff["es"]] == (
        "Una oferta de derivación espera su respuesta",
        "Una derivación ofrecida a su centro espera su respuesta; inicie sesión para responder: "
        "http://127.0.0.1:5000/portal/offers\n",
    )
    for language in ("en", "unknown"):
        assert reminders[staff[language]][0] == notifications.REMINDER_SUBJECT
        assert reminders[staff[language]][1].startswith("A referral offered to your center is waiting for your answer")
    assert_no_personal_data([(to, subject, body) for to, (subject, body) in reminders.items()])


def test_the_sender_hears_of_a_new_status_in_their_language(app, client, people, store):  # noqa: F811
    with store.session() as session:
        sender = session.scalars(select(User).where(User.email == people.emails["sender"])).one()
        sender.language = "es"
        session.commit()
    referral_id = submit(client, people)
    [(subject, body)] = [(subject, body) for to, subject, body in mail(app) if to == people.emails["sender"]]
    assert subject == "Una derivación que usted envió tiene un nuevo estado"
    assert body == (
        "Una derivación que usted envió tiene un nuevo estado; inicie sesión: "
        f"http://127.0.0.1:5000/referrals/{referral_id}\n"
    )
