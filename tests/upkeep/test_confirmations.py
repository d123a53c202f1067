"""Asking centers to confirm their listing: one mail per center to its active staff when the listing
has not been confirmed for 90 days, at most every 30 days, through the outbox; the link confirms in
one click after sign-in; run daily by beat and by the embedded sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from directory.extensions import db
from directory.models import Center, OutboxMessage, User
from directory.models.base import utcnow
from directory.referrals import dispatch, notifications
from directory.upkeep import confirmations
from tests.auth.helpers import link_in_mail, outbox
from tests.conftest import database_url, make_app
from tests.factories import PASSWORD, add_centers, center_record, make_user
from tests.portal.conftest import sign_in
from tests.public.pages import Page

T0 = utcnow().replace(microsecond=0)


def ask(app, now=T0) -> int:
    with app.app_context():
        return confirmations.request_confirmations(db.session, now=now)


def mailed(app) -> list[tuple[str, str]]:
    return sorted((message["To"], message["Subject"]) for message in outbox(app))


def test_staff_of_unconfirmed_listings_get_one_mail_a_center_at_most_every_30_days(app, store, cast):
    with store.session() as session:
        add_centers(session, center_record(external_id="test:c", name="Gamma, no staff"))
        session.commit()
    assert ask(app) == 2
    assert mailed(app) == [
        ("staff-a@example.org", notifications.CONFIRM_SUBJECT),
        ("staff-b@example.org", notifications.CONFIRM_SUBJECT),
    ]
    with store.session() as session:
        asked = dict(session.execute(select(Center.name, Center.confirmation_requested_at)).all())
        assert asked == {"Alpha Recovery": T0, "Beta House": T0, "Gamma, no staff": None}
        assert session.scalars(select(OutboxMessage)).all() == []  # mailed, so gone

    assert ask(app) == 0  # the same day again
    assert ask(app, T0 + timedelta(days=29)) == 0
    assert len(outbox(app)) == 2
    assert ask(app, T0 + timedelta(days=31)) == 2  # still not confirmed a month later: asked again
    assert len(outbox(app)) == 4


def test_the_mail_names_the_listing_and_links_to_its_confirm_page_with_nothing_personal(app, store, cast):
    with store.session() as session:
        session.execute(update(Center).where(Center.id == cast.a.id).values(last_verified_at=T0 - timedelta(days=120)))
        session.commit()
    ask(app)
    message = next(m for m in outbox(app) if m["To"] == "staff-a@example.org")
    body = message.get_content()
    assert "People looking for treatment find Alpha Recovery (Chicago, IL) in the treatment directory." in body
    day = T0 - timedelta(days=120)
    assert f"It was last confirmed by the center on {day:%B} {day.day}, {day.year}." in body
    assert link_in_mail(message) == f"/portal/centers/{cast.a.id}/confirm"
    for other in ("staff-b@example.org", "Beta House", "referral@example.org"):
        assert other not in body
    never = next(m for m in outbox(app) if m["To"] == "staff-b@example.org").get_content()
    assert "It has not been confirmed by the center yet." in never


def test_staff_who_picked_spanish_are_asked_in_spanish_and_the_others_in_english(app, store, cast):
    day = T0 - timedelta(days=120)
    with store.session() as session:
        session.execute(update(Center).where(Center.id == cast.a.id).values(last_verified_at=day))
        session.execute(update(User).where(User.email == "staff-a@example.org").values(language="es"))
        colleague = make_user(session, "center_staff", [cast.a.id], email="colleague-a@example.org")
        session.commit()
        assert colleague.language is None
    ask(app)
    spanish = next(m for m in outbox(app) if m["To"] == "staff-a@example.org")
    assert spanish["Subject"] == "Confirme su ficha en el directorio de tratamiento"
    assert spanish.get_content() == (
        "Las personas que buscan tratamiento encuentran Alpha Recovery (Chicago, IL) en el directorio de "
        f"tratamiento. El centro la confirmó por última vez el {day.day} de {SPANISH_MONTHS[day.month - 1]} de "
        f"{day.year}.\n\n"
        "Revise la ficha y confirme que es correcta (un clic después de iniciar sesión), o corríjala:\n"
        f"http://127.0.0.1:5000/portal/centers/{cast.a.id}/confirm\n"
    )
    english = next(m for m in outbox(app) if m["To"] == "colleague-a@example.org")
    assert english["Subject"] == notifications.CONFIRM_SUBJECT
    assert f"It was last confirmed by the center on {day:%B} {day.day}, {day.year}." in english.get_content()


SPANISH_MONTHS = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]


def test_listings_confirmed_lately_and_centers_without_active_staff_are_not_asked(app, store, cast):
    with store.session() as session:
        session.execute(update(Center).where(Center.id == cast.a.id).values(last_verified_at=T0 - timedelta(days=89)))
        session.execute(update(User).where(User.id == cast.staff_b.id).values(active=False))
        session.commit()
    assert ask(app) == 0
    assert outbox(app) == []
    assert ask(app, T0 + timedelta(days=2)) == 1  # A's confirmation is now 91 days old
    assert mailed(app) == [("staff-a@example.org", notifications.CONFIRM_SUBJECT)]


def test_asking_leaves_the_listings_updated_at_alone(app, store, cast):
    before = store.center(cast.a.id).updated_at
    ask(app, T0 + timedelta(days=1))
    assert store.center(cast.a.id).updated_at == before


class MailServerDown:
    """A mail service that refuses every connection."""

    def batch(self):
        raise ConnectionRefusedError("mail server down")


def test_a_listing_confirmed_between_asking_and_mailing_gets_no_mail(app, store, cast):
    """The notice waits in the outbox (mail down); the center confirms meanwhile; the re-send skips it."""
    mailer = app.extensions["mailer"]
    app.extensions["mailer"] = MailServerDown()  # the rows stay unsent for the next round
    try:
        assert ask(app) == 2
    finally:
        app.extensions["mailer"] = mailer
    with store.session() as session:
        assert [row.dispatched_at for row in session.scalars(select(OutboxMessage))] == [None, None]
        session.execute(update(Center).where(Center.id == cast.a.id).values(last_verified_at=T0 + timedelta(hours=1)))
        session.commit()
    with app.app_context():
        assert dispatch.send_pending() == 2
    assert mailed(app) == [("staff-b@example.org", notifications.CONFIRM_SUBJECT)]
    with store.session() as session:
        assert session.scalars(select(OutboxMessage)).all() == []


def test_the_link_confirms_in_one_click_after_sign_in(client, store, cast):
    link = f"/portal/centers/{cast.a.id}/confirm"
    response = client.get(link)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={link}"
    signed_in = client.post("/login", data={"email": "staff-a@example.org", "password": PASSWORD, "next": link})
    assert signed_in.headers["Location"] == link
    page = Page(client.get(link).data)
    assert "Is this listing correct?" in page.text
    facts = ("Alpha Recovery", "(312) 555-0100", "Outpatient", "Cash or self-payment", "Spanish", "Never confirmed")
    for fact in facts:
        assert fact in page.text, fact
    form = page.find("form", action=link)
    assert form.attrs["method"] == "post"
    assert "Yes, this listing is correct" in page.text

    before = utcnow()
    done = client.post(link, data={"next": f"/portal/centers/{cast.a.id}/"})
    assert done.status_code == 302 and done.headers["Location"] == f"/portal/centers/{cast.a.id}/"
    assert store.center(cast.a.id).last_verified_at >= before.replace(microsecond=0)
    assert [e.field for e in store.events("center.confirm")] == ["last_verified_at"]
    assert "shows as confirmed until" in Page(client.get(f"/portal/centers/{cast.a.id}/").data).text


def test_staff_of_another_center_cannot_open_or_use_the_confirm_link(client, store, cast):
    sign_in(client, cast.staff_b)
    link = f"/portal/centers/{cast.a.id}/confirm"
    assert client.get(link).status_code == 404
    assert client.post(link).status_code == 404
    assert store.center(cast.a.id).last_verified_at is None


def test_the_task_asks_unless_confirmation_requests_are_off(app, cast):
    task = app.extensions["celery"].tasks["tasks.upkeep.request_confirmations"]
    task.apply(throw=True)
    assert outbox(app) == []  # off in the test suite's apps
    app.config["CONFIRMATION_REQUESTS"] = True
    task.apply(throw=True)
    assert len(outbox(app)) == 2


def test_beat_runs_the_task_daily():
    from directory import create_app

    schedule = create_app({"TESTING": True, "SECRET_KEY": "x"}).extensions["celery"].conf.beat_schedule
    entry = schedule["request-confirmations"]
    assert entry["task"] == "tasks.upkeep.request_confirmations"
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({15}, {0})


@pytest.mark.parametrize("enabled", [True, False])
def test_the_embedded_sweep_asks_once_a_day(tmp_path, enabled):
    app = make_app(database_url(tmp_path), MAIL_OUTBOX=str(tmp_path / "outbox"), CONFIRMATION_REQUESTS=enabled)
    with app.app_context():
        add_centers(db.session, center_record(name="Delta"))
        center_id = db.session.scalar(select(Center.id))
        make_user(db.session, "center_staff", [center_id], email="delta@example.org")
    client = app.test_client()
    client.get("/")
    assert len(outbox(app)) == (1 if enabled else 0)
    app.config["EMBEDDED_SWEEP_SECONDS"] = 0  # sweep on every request: still asked once a day at most
    with app.app_context():
        db.session.execute(update(Center).values(confirmation_requested_at=None))
        db.session.commit()
    client.get("/")
    assert len(outbox(app)) == (1 if enabled else 0)
    with app.app_context():
        db.engine.dispose()
