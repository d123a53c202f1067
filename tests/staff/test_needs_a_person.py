"""The "needs a person" queue and the call page: referrals not accepted in time, unplaced or in review,
the centers to call, and call outcomes that move the referral on as a portal answer would."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from directory.models import AuditEvent, Referral, User
from directory.models.base import utcnow
from directory.referrals import service
from tests.factories import days_from_today, login, make_user
from tests.referrals.test_parallel_offers import (  # noqa: F401  (shared fixtures)
    THREE,
    app,
    directory,
    offer_of,
    step_offers,
    submit,
)


def sign_in(client, session, user_id: int) -> None:
    assert login(client, session.get(User, user_id).email).status_code == 302


@pytest.fixture
def waiting(session, directory) -> str:  # noqa: F811
    """A referral sent three hours ago, offered to three detox centers, not accepted."""
    then = utcnow() - timedelta(hours=3)
    referral_id = submit(session, directory, now=then, client_reference="WAITING-1")
    service.route_referral(session, referral_id, now=then, offering=THREE)
    return referral_id


def test_the_queue_lists_late_unplaced_and_review_referrals_with_whom_to_call(client, session, directory, waiting):  # noqa: F811
    fresh = submit(session, directory, client_reference="FRESH-1")
    service.route_referral(session, fresh, offering=THREE)
    unplaced = submit(session, directory, client_reference="UNPLACED-1", payment="private_insurance")
    service.route_referral(session, unplaced, offering=THREE)
    review = submit(session, directory, client_reference="REVIEW-1", on_opioid_pain_therapy=True)
    service.route_referral(session, review, offering=THREE)
    sign_in(client, session, directory.sender)
    page = client.get("/referrals/needs-a-person").get_data(as_text=True)
    assert "WAITING-1" in page and "UNPLACED-1" in page and "REVIEW-1" in page
    assert "FRESH-1" not in page
    waiting_part = page.split("WAITING-1", 1)[1].split("UNPLACED-1")[0]
    for name in ("Detox 1", "Detox 2", "Detox 3", "Detox 4"):
        assert name in waiting_part
    assert "(312) 555-0100" in waiting_part and "Not offered yet" in waiting_part
    unplaced_part = page.split("UNPLACED-1", 1)[1].split("REVIEW-1")[0]
    assert "does not list Private health insurance" in unplaced_part  # partial matches to call
    assert "a clinician should review this referral first" in page.split("REVIEW-1", 1)[1]
    views = session.scalars(
        select(AuditEvent.entity_id).where(AuditEvent.action == "referral.view", AuditEvent.detail == "needs a person")
    ).all()
    assert set(views) == {waiting, unplaced, review}


def test_a_sender_sees_only_their_own_admins_all_center_staff_none(client, session, directory, waiting):  # noqa: F811
    other = make_user(session, "referral_staff")
    sign_in(client, session, other.id)
    assert "WAITING-1" not in client.get("/referrals/needs-a-person").get_data(as_text=True)
    assert client.get(f"/referrals/{waiting}/calls").status_code == 404
    client.post("/logout")
    admin = make_user(session, "admin")
    sign_in(client, session, admin.id)
    assert "WAITING-1" in client.get("/referrals/needs-a-person").get_data(as_text=True)
    client.post("/logout")
    sign_in(client, session, directory.staff["Detox 1"])
    assert client.get("/referrals/needs-a-person").status_code == 403
    assert client.get(f"/referrals/{waiting}/calls").status_code == 403


def test_accepted_by_phone_for_a_center_not_offered_yet_places_the_referral(client, session, directory, waiting):  # noqa: F811
    sign_in(client, session, directory.sender)
    page = client.get(f"/referrals/{waiting}/calls").get_data(as_text=True)
    assert f'value="center:{directory.ids["Detox 4"]}"' in page
    admission = (date.today() + timedelta(days=1)).isoformat()
    response = client.post(
        f"/referrals/{waiting}/calls",
        data={"target": f"center:{directory.ids['Detox 4']}", "outcome": "accepted", "admission_date": admission},
    )
    assert response.status_code == 302
    assert step_offers(session, waiting) == [
        ("Detox 1", "withdrawn"),
        ("Detox 2", "withdrawn"),
        ("Detox 3", "withdrawn"),
        ("Detox 4", "accepted"),
    ]
    referral = session.get(Referral, waiting)
    assert referral.status == "accepted"
    assert len(step_offers(session, waiting, "naltrexone")) == 2  # the naltrexone step started, as in the portal
    accepted = [e for e in referral.timeline if e.status == "offer:detox:accepted"]
    assert accepted[0].reason == f"Admission on {admission}. By phone." and accepted[0].by_id == directory.sender
    call = session.scalars(select(AuditEvent).where(AuditEvent.action == "referral.call")).one()
    assert call.entity_id == waiting and "accepted" in call.detail
    # Now accepted: the referral leaves the queue.
    assert "WAITING-1" not in client.get("/referrals/needs-a-person").get_data(as_text=True)


def test_declined_by_phone_for_an_open_offer_offers_the_next_center(client, session, directory, waiting):  # noqa: F811
    sign_in(client, session, directory.sender)
    first = offer_of(session, waiting, "Detox 1")
    response = client.post(
        f"/referrals/{waiting}/calls", data={"target": f"offer:{first}", "outcome": "declined", "reason": "No bed"}
    )
    assert response.status_code == 302
    assert step_offers(session, waiting) == [
        ("Detox 1", "declined"),
        ("Detox 2", "offered"),
        ("Detox 3", "offered"),
        ("Detox 4", "offered"),
    ]
    referral = session.get(Referral, waiting)
    assert referral.offers[0].decline_reason == "No bed (by phone)"


def test_no_answer_is_only_noted_on_the_timeline(client, session, directory, waiting):  # noqa: F811
    sign_in(client, session, directory.sender)
    before = step_offers(session, waiting)
    first = offer_of(session, waiting, "Detox 1")
    response = client.post(f"/referrals/{waiting}/calls", data={"target": f"offer:{first}", "outcome": "no_answer"})
    assert response.status_code == 302
    assert step_offers(session, waiting) == before
    referral = session.get(Referral, waiting)
    assert referral.timeline[-1].status == "call:detox:no_answer"
    assert referral.timeline[-1].reason == "No answer at Detox 1."
    page = client.get(f"/referrals/{waiting}").get_data(as_text=True)
    assert "Medical detox phone call: no answer" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"outcome": "accepted"}, "Give the admission date"),
        ({"outcome": "accepted", "admission_date": "tomorrow"}, "Not a valid date value"),
        ({"outcome": "accepted", "admission_date": days_from_today(91)}, "Give an admission date from"),
        ({"outcome": "accepted", "admission_date": "9999-12-31"}, "Give an admission date from"),
        ({"outcome": "declined"}, "Give the reason the center gave for declining"),
        ({"outcome": "declined", "reason": "x" * 1901}, "Keep the reason to 1900 characters"),
        ({"outcome": "maybe"}, "Choose what the center said"),
        ({"outcome": "no_answer", "target": "center:99999"}, "Not a valid choice"),
    ],
)
def test_an_incomplete_call_form_is_refused_naming_the_field(client, session, directory, waiting, data, message):  # noqa: F811
    sign_in(client, session, directory.sender)
    data = {"target": f"offer:{offer_of(session, waiting, 'Detox 1')}", **data}
    before = [e.id for e in session.get(Referral, waiting).timeline]
    response = client.post(f"/referrals/{waiting}/calls", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    session.expire_all()
    assert [e.id for e in session.get(Referral, waiting).timeline] == before


def test_a_call_once_consent_expired_is_refused_and_changes_nothing(client, session, directory, waiting):  # noqa: F811
    session.execute(
        update(Referral).where(Referral.id == waiting).values(consent_expires_on=date.today() - timedelta(days=1))
    )
    session.commit()
    sign_in(client, session, directory.sender)
    first = offer_of(session, waiting, "Detox 1")
    response = client.post(f"/referrals/{waiting}/calls", data={"target": f"offer:{first}", "outcome": "no_answer"})
    assert response.status_code in (400, 409)
    session.expire_all()
    assert not session.scalars(select(AuditEvent).where(AuditEvent.action == "referral.call")).all()
    with pytest.raises(service.ReferralError, match="consent"):
        service.record_call(session, waiting, session.get(User, directory.sender), "no_answer", offer_id=first)


def test_an_offer_answered_meanwhile_is_refused_with_a_reason(session, directory, waiting):  # noqa: F811
    first = offer_of(session, waiting, "Detox 1")
    service.decline_offer(session, first, session.get(User, directory.staff["Detox 1"]), "Full", offering=THREE)
    with pytest.raises(service.ReferralError, match="answered or withdrawn meanwhile"):
        service.record_call(
            session, waiting, session.get(User, directory.sender), "accepted", offer_id=first,
            admission_date=date.today(), offering=THREE,
        )  # fmt: skip
