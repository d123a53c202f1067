"""Parallel offers: each step offered to OFFERS_AT_ONCE centers at once, the first to accept wins, the
others are withdrawn and told; reminders of open offers; on both databases."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory import create_app, schema
from directory.extensions import db
from directory.mail import OutboxMailer
from directory.models import Center, Offer, OutboxMessage, Referral, TimelineEntry, User
from directory.models.base import utcnow
from directory.referrals import notifications, service
from directory.referrals.intake import validate_intake
from directory.referrals.service import Offering, ReferralError
from tests.conftest import database_url, make_app
from tests.factories import add_centers, center_record, login, make_user
from tests.referrals.test_notifications import assert_no_personal_data, mail

THREE = Offering(at_once=3)


def intake_data(**overrides):
    data = {
        "client_reference": "CASE-1042",
        "contact_phone": "(312) 555-0199",
        "location": "60601",
        "max_distance_miles": 50,
        "payment": "medicaid",
        "primary_opioid": "heroin",
        "last_opioid_use": (utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "liver_disease": "no",
        "on_opioid_pain_therapy": False,
        "interacting_medications": [],
        "alcohol_use_disorder": False,
        "consent": {"granted": True, "recipients": "Receiving treatment centers", "purpose": "Treatment referral",
                    "expires_on": (utcnow() + timedelta(days=90)).date().isoformat()},
    }  # fmt: skip
    data.update(overrides)
    return data


@dataclass
class Directory:
    ids: dict[str, int]  # center name: id
    staff: dict[str, int]  # center name: the id of its staff member
    staff_emails: dict[str, str]
    sender: int


@pytest.fixture
def app(tmp_path):
    """The app as configured by default: three offers at once."""
    app = make_app(database_url(tmp_path), MAIL_OUTBOX=str(tmp_path / "outbox"), OFFERS_AT_ONCE=3)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def directory(session) -> Directory:
    """Four detox centers, nearest first, and two naltrexone programs, each with a staff member."""
    detox = {"levels_of_care": ["medical_detox", "residential"], "payment_options": ["medicaid"]}
    add_centers(
        session,
        *(center_record(name=f"Detox {n}", latitude=41.88 + n / 100, **detox) for n in (1, 2, 3, 4)),
        *(center_record(name=f"Clinic {n}", latitude=41.89 + n / 100, levels_of_care=["outpatient"],
                        payment_options=["medicaid"], medications=["naltrexone_injectable"]) for n in (1, 2)),
    )  # fmt: skip
    ids = {c.name: c.id for c in session.scalars(select(Center))}
    staff = {name: make_user(session, "center_staff", [center_id]) for name, center_id in ids.items()}
    return Directory(
        ids,
        {name: user.id for name, user in staff.items()},
        {name: user.email for name, user in staff.items()},
        make_user(session, "referral_staff").id,
    )


def submit(session, directory, now=None, **overrides) -> str:
    now = now or utcnow()
    sender = session.get(User, directory.sender)
    intake = validate_intake(intake_data(**overrides), _geocoder(), now)
    return service.submit_referral(session, intake, sender, now=now).id


def _geocoder():
    from directory.search.geocoding import OfflineGeocoder

    return OfflineGeocoder()


def step_offers(session, referral_id, step="detox") -> list[tuple[str, str]]:
    session.expire_all()
    referral = session.get(Referral, referral_id)
    return [(o.center.name, o.status) for o in referral.offers if o.step == step]


def offer_of(session, referral_id, center_name, step="detox") -> int:
    session.expire_all()
    referral = session.get(Referral, referral_id)
    return next(o.id for o in referral.offers if o.step == step and o.center.name == center_name)


def center_user(session, directory, name) -> User:
    return session.get(User, directory.staff[name])


def test_routing_offers_the_best_three_at_once(session, directory):
    referral_id = submit(session, directory)
    assert service.route_referral(session, referral_id, offering=THREE) == "offered"
    assert step_offers(session, referral_id) == [("Detox 1", "offered"), ("Detox 2", "offered"), ("Detox 3", "offered")]
    referral = session.get(Referral, referral_id)
    assert [o.rank for o in referral.offers] == [1, 2, 3]
    assert referral.plan["detox"]["center_name"] == "Detox 1"
    assert referral.status_reason == "Offered to Detox 1, Detox 2 and Detox 3 (detox)."
    entries = [e.status for e in referral.timeline]
    assert entries.count("offer:detox:offered") == 3 and entries.count("referral:offered") == 1


def test_one_at_a_time_offers_only_the_best(session, directory):
    referral_id = submit(session, directory)
    service.route_referral(session, referral_id, offering=Offering(at_once=1))
    assert step_offers(session, referral_id) == [("Detox 1", "offered")]


def test_a_repeated_routing_makes_no_extra_offer(session, directory):
    referral_id = submit(session, directory)
    assert service.route_referral(session, referral_id, offering=THREE) == "offered"
    assert service.route_referral(session, referral_id, offering=THREE) == "offered"
    assert session.scalar(select(func.count()).select_from(Offer)) == 3


def test_accepting_withdraws_the_others_tells_them_and_starts_the_naltrexone_step(session, directory):
    referral_id = submit(session, directory)
    service.route_referral(session, referral_id, offering=THREE)
    second = offer_of(session, referral_id, "Detox 2")
    service.accept_offer(session, second, center_user(session, directory, "Detox 2"), date.today(), offering=THREE)
    assert step_offers(session, referral_id) == [
        ("Detox 1", "withdrawn"),
        ("Detox 2", "accepted"),
        ("Detox 3", "withdrawn"),
    ]
    referral = session.get(Referral, referral_id)
    assert referral.status == "accepted"
    assert referral.plan["detox"]["center_name"] == "Detox 2" and referral.plan["detox"]["offer_status"] == "accepted"
    assert step_offers(session, referral_id, "naltrexone") == [("Clinic 1", "offered"), ("Clinic 2", "offered")]
    withdrawn = {offer_of(session, referral_id, "Detox 1"), offer_of(session, referral_id, "Detox 3")}
    notices = session.execute(
        select(OutboxMessage.offer_id).where(OutboxMessage.task == notifications.PLACED_ELSEWHERE)
    ).scalars()
    assert set(notices) == withdrawn
    reasons = [e.reason for e in referral.timeline if e.status == "offer:detox:withdrawn"]
    assert reasons == ["Another center accepted.", "Another center accepted."]


def test_a_withdrawn_offer_cannot_be_accepted_or_declined_after_another_won(session, directory):
    referral_id = submit(session, directory)
    service.route_referral(session, referral_id, offering=THREE)
    first, third = offer_of(session, referral_id, "Detox 1"), offer_of(session, referral_id, "Detox 3")
    service.accept_offer(session, first, center_user(session, directory, "Detox 1"), date.today(), offering=THREE)
    with pytest.raises(ReferralError, match="another center accepted this referral"):
        service.accept_offer(session, third, center_user(session, directory, "Detox 3"), date.today(), offering=THREE)
    with pytest.raises(ReferralError, match="another center accepted this referral"):
        service.decline_offer(session, third, center_user(session, directory, "Detox 3"), "No bed", offering=THREE)
    assert step_offers(session, referral_id)[2] == ("Detox 3", "withdrawn")


def test_a_decline_opens_the_next_candidate_and_the_last_one_leaves_it_unplaced(session, directory):
    referral_id = submit(session, directory)
    service.route_referral(session, referral_id, offering=THREE)
    admin = make_user(session, "admin")
    service.decline_offer(session, offer_of(session, referral_id, "Detox 1"), admin, "No bed", offering=THREE)
    assert step_offers(session, referral_id) == [
        ("Detox 1", "declined"),
        ("Detox 2", "offered"),
        ("Detox 3", "offered"),
        ("Detox 4", "offered"),
    ]
    referral = session.get(Referral, referral_id)
    assert referral.status == "offered" and referral.plan["detox"]["center_name"] == "Detox 2"
    assert [o.rank for o in referral.offers] == [1, 2, 3, 4]
    # No candidate left: the open offers stand until each is answered.
    for name in ("Detox 2", "Detox 3"):
        service.decline_offer(session, offer_of(session, referral_id, name), admin, "No bed", offering=THREE)
        assert session.get(Referral, referral_id).status == "offered"
    service.decline_offer(session, offer_of(session, referral_id, "Detox 4"), admin, "No bed", offering=THREE)
    session.expire_all()
    referral = session.get(Referral, referral_id)
    assert referral.status == "unplaced" and referral.status_reason == "No medical detox center accepted."


def test_an_expiry_is_replaced_by_the_next_candidate(session, directory):
    now = utcnow()
    referral_id = submit(session, directory, now=now)
    service.route_referral(session, referral_id, now=now, offering=THREE)
    assert service.expire_offers(session, now=now + timedelta(hours=5), offering=THREE) == 3
    assert step_offers(session, referral_id) == [
        ("Detox 1", "expired"),
        ("Detox 2", "expired"),
        ("Detox 3", "expired"),
        ("Detox 4", "offered"),
    ]
    assert service.expire_offers(session, now=now + timedelta(hours=10), offering=THREE) == 1
    assert session.get(Referral, referral_id).status == "unplaced"


def test_concurrent_accepts_of_one_step_by_different_centers_one_wins(app, session, directory):
    """Threads, each its own session, accept the step's three open offers at once: exactly one wins."""
    referral_id = submit(session, directory)
    service.route_referral(session, referral_id, offering=THREE)
    offers = {name: offer_of(session, referral_id, name) for name in ("Detox 1", "Detox 2", "Detox 3")}
    barrier = threading.Barrier(9)
    results: list[str] = []

    def accept(name: str) -> None:
        with app.app_context():
            own = Session(db.engine)
            try:
                barrier.wait()
                user = own.get(User, directory.staff[name])
                service.accept_offer(own, offers[name], user, date.today(), offering=THREE)
                results.append("won")
            except ReferralError as error:
                results.append(f"refused: {error}")
            except Exception as error:  # reported by the assertion below
                results.append(f"error: {type(error).__name__}: {error}")
            finally:
                own.close()

    threads = [threading.Thread(target=accept, args=(name,)) for name in offers for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("won") == 1, results
    assert all(r.startswith("refused") for r in results if r != "won"), results
    statuses = [status for _, status in step_offers(session, referral_id)]
    assert sorted(statuses) == ["accepted", "withdrawn", "withdrawn"]
    referral = session.get(Referral, referral_id)
    accepted = [e for e in referral.timeline if e.status == "offer:detox:accepted"]
    assert len(accepted) == 1 and referral.status == "accepted"
    assert len(step_offers(session, referral_id, "naltrexone")) == 2


def test_concurrent_deliveries_of_one_routing_make_three_offers(app, session, directory):
    referral_id = submit(session, directory)
    barrier = threading.Barrier(6)
    results: list[str] = []

    def route() -> None:
        with app.app_context():
            own = Session(db.engine)
            try:
                barrier.wait()
                results.append(service.route_referral(own, referral_id, offering=THREE))
            except Exception as error:
                results.append(f"error: {type(error).__name__}")
            finally:
                own.close()

    threads = [threading.Thread(target=route) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["offered"] * 6, results
    assert session.scalar(select(func.count()).select_from(Offer)) == 3
    routed = session.scalar(select(func.count()).where(TimelineEntry.status == "referral:offered"))
    assert routed == 1


# Reminders ---------------------------------------------------------------------------------------


def test_an_open_offer_gets_one_reminder_after_the_set_time(app, session, directory):
    now = utcnow()
    referral_id = submit(session, directory, now=now)
    service.route_referral(session, referral_id, now=now, offering=THREE)
    first = offer_of(session, referral_id, "Detox 1")
    service.accept_offer(
        session, first, center_user(session, directory, "Detox 1"), date.today(), now=now, offering=THREE
    )
    after = timedelta(minutes=30)
    assert service.remind_open_offers(session, after=after, now=now + timedelta(minutes=29)) == 0
    assert service.remind_open_offers(session, after=after, now=now + timedelta(minutes=31)) == 2  # the clinics
    assert service.remind_open_offers(session, after=after, now=now + timedelta(minutes=45)) == 0  # once only
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.offer_id).where(OutboxMessage.task == notifications.REMINDER)
    ).all()
    assert {offer_id for _, offer_id in rows} == {
        offer_of(session, referral_id, "Clinic 1", "naltrexone"),
        offer_of(session, referral_id, "Clinic 2", "naltrexone"),
    }
    # Clinic 2 declines before the reminders go out: only Clinic 1's staff, whose offer is open, are reminded.
    clinic2 = offer_of(session, referral_id, "Clinic 2", "naltrexone")
    service.decline_offer(session, clinic2, center_user(session, directory, "Clinic 2"), "Full", now=now)
    with app.app_context():
        mailer = OutboxMailer(app.config["MAIL_OUTBOX"], app.config["MAIL_FROM"])
        ids = [row_id for row_id, _ in rows]
        notifications.deliver(db.session, ids, mailer, "http://directory.test")
    reminders = [m for m in mail(app) if m[1] == notifications.REMINDER_SUBJECT]
    assert [to for to, _, _ in reminders] == [directory.staff_emails["Clinic 1"]]
    assert "/portal/offers" in reminders[0][2]
    assert_no_personal_data(reminders)


def test_no_reminder_for_an_expired_offer(session, directory):
    now = utcnow()
    referral_id = submit(session, directory, now=now)
    service.route_referral(session, referral_id, now=now, offering=Offering(at_once=1, ttl=timedelta(minutes=20)))
    assert service.remind_open_offers(session, after=timedelta(minutes=30), now=now + timedelta(minutes=31)) == 0


def test_the_beat_task_and_the_embedded_sweep_send_reminders(app, session, directory, tmp_path):
    """The real round: an offer older than OFFER_REMINDER_MINUTES gets its reminder mailed."""
    referral_id = submit(session, directory, now=utcnow() - timedelta(hours=1))
    service.route_referral(session, referral_id, now=utcnow() - timedelta(minutes=40), offering=THREE)
    with app.app_context():
        from tasks.routing import expire_offers

        expire_offers.apply(throw=True)  # embedded mode: the notices are mailed after the commit
    reminders = [m for m in mail(app) if m[1] == notifications.REMINDER_SUBJECT]
    assert sorted(to for to, _, _ in reminders) == sorted(directory.staff_emails[f"Detox {n}"] for n in (1, 2, 3))
    session.expire_all()
    assert all(o.reminded_at is not None for o in session.get(Referral, referral_id).offers)


def test_placed_elsewhere_mails_the_withdrawn_centers_only(app, client, session, directory):
    referral_id = submit(session, directory)
    service.route_referral(session, referral_id, offering=THREE)
    offer_id = offer_of(session, referral_id, "Detox 3")
    login(client, directory.staff_emails["Detox 3"])
    response = client.post(f"/portal/offers/{offer_id}/accept", data={"admission_date": date.today().isoformat()})
    assert response.status_code == 302
    placed = [m for m in mail(app) if m[1] == notifications.PLACED_SUBJECT]
    assert sorted(to for to, _, _ in placed) == sorted(directory.staff_emails[f"Detox {n}"] for n in (1, 2))
    assert "accepted by another center" in placed[0][2]
    assert_no_personal_data(placed)


# The portal and the API ----------------------------------------------------------------------------


def test_a_losing_accept_in_the_portal_is_told_another_center_accepted(app, client, session, directory):
    referral_id = submit(session, directory)
    service.route_referral(session, referral_id, offering=THREE)
    first, second = offer_of(session, referral_id, "Detox 1"), offer_of(session, referral_id, "Detox 2")
    service.accept_offer(session, first, center_user(session, directory, "Detox 1"), date.today(), offering=THREE)
    login(client, directory.staff_emails["Detox 2"])
    response = client.post(f"/portal/offers/{second}/accept", data={"admission_date": date.today().isoformat()})
    assert (response.status_code, response.headers["Location"]) == (302, f"/portal/offers/{second}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "another center accepted this referral" in page
    assert "CASE-1042" not in page


def test_a_losing_accept_in_the_api_gets_409(app, client, session, directory):
    from directory.accounts.service import issue_api_token

    referral_id = submit(session, directory)
    service.route_referral(session, referral_id, offering=THREE)
    first, second = offer_of(session, referral_id, "Detox 1"), offer_of(session, referral_id, "Detox 2")
    _, token = issue_api_token(session, center_user(session, directory, "Detox 2"), "api")
    session.commit()
    service.accept_offer(session, first, center_user(session, directory, "Detox 1"), date.today(), offering=THREE)
    response = client.post(
        f"/api/v1/offers/{second}/accept",
        json={"admission_date": date.today().isoformat()},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 409
    assert "another center accepted this referral" in response.get_json()["error"]


# Settings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["OFFERS_AT_ONCE", "OFFER_REMINDER_MINUTES", "ESCALATE_AFTER_MINUTES"])
@pytest.mark.parametrize("value", [0, -2])
def test_a_setting_below_one_stops_the_app_at_start_up(tmp_path, name, value):
    with pytest.raises(ValueError, match=f"{name}={value}: use a whole number of at least 1"):
        create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite://", name: value})


def test_the_defaults_are_three_offers_30_minutes_and_2_hours(tmp_path, monkeypatch):
    for name in ("OFFERS_AT_ONCE", "OFFER_REMINDER_MINUTES", "ESCALATE_AFTER_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite://"})
    assert (
        app.config["OFFERS_AT_ONCE"],
        app.config["OFFER_REMINDER_MINUTES"],
        app.config["ESCALATE_AFTER_MINUTES"],
    ) == (
        3,
        30,
        120,
    )
    with app.app_context():
        from directory.referrals import dispatch

        assert dispatch.offering() == Offering(at_once=3, ttl=timedelta(hours=4))


def test_migration_0019_goes_down_and_up_again(app, session, directory):
    referral_id = submit(session, directory)
    service.route_referral(session, referral_id, offering=THREE)
    session.close()
    with app.app_context():
        engine = db.engine
        db.session.close()
        schema.downgrade(engine, "0018")
        from sqlalchemy import inspect

        assert "reminded_at" not in {c["name"] for c in inspect(engine).get_columns("offers")}
        schema.upgrade(engine)
        assert schema.is_current(engine)
        assert "reminded_at" in {c["name"] for c in inspect(engine).get_columns("offers")}
    assert service.remind_open_offers(session, after=timedelta(0), now=utcnow() + timedelta(seconds=1)) == 3
