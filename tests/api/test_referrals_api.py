"""The referral API: submit (for alcohol, opioids or both), see, cancel; center staff list and answer offers; who may
see what; the audit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jsonschema
import pytest
from sqlalchemy import func, select

from directory.accounts.service import issue_api_token
from directory.models import AuditEvent, Center, Offer, Referral, User
from directory.models.base import utcnow
from tests.factories import add_centers, center_record, make_user
from tests.portal.conftest import Store


def intake(**overrides):
    """A valid intake near downtown Chicago, with dates relative to now."""
    now = utcnow()
    data = {
        "client_reference": "CASE-1042",
        "contact_phone": "(312) 555-0199",
        "location": "60601",
        "max_distance_miles": 50,
        "payment": "medicaid",
        "primary_opioid": "heroin",
        "last_opioid_use": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "liver_disease": "unknown",
        "on_opioid_pain_therapy": False,
        "interacting_medications": ["alcohol"],
        "alcohol_use_disorder": False,
        "consent": {
            "granted": True,
            "recipients": "Receiving treatment centers",
            "purpose": "Treatment referral",
            "expires_on": (now + timedelta(days=180)).date().isoformat(),
        },
    }
    data.update(overrides)
    return data


@dataclass
class People:
    near: int
    far: int
    naltrexone: int
    tokens: dict[str, dict[str, str]]
    emails: dict[str, str]


@pytest.fixture
def store(app) -> Store:
    return Store(app)


@pytest.fixture
def people(store) -> People:
    """Two detox centers and a naltrexone clinic; a sender, another sender, staff of each center, an admin."""
    with store.session() as session:
        detox = dict(levels_of_care=["medical_detox", "residential"], payment_options=["medicaid"])
        add_centers(
            session,
            center_record(name="Near Detox", latitude=41.89, detox_stay_days=5, **detox),
            center_record(name="Far Detox", latitude=41.95, **detox),
            center_record(name="Naltrexone Clinic", latitude=41.90, levels_of_care=["outpatient"],
                          payment_options=["medicaid"], medications=["naltrexone_injectable"]),
        )  # fmt: skip
        ids = {c.name: c.id for c in session.scalars(select(Center))}
        users = {
            "sender": make_user(session, "referral_staff", password=None),
            "other_sender": make_user(session, "referral_staff", password=None),
            "near_staff": make_user(session, "center_staff", [ids["Near Detox"]], password=None),
            "far_staff": make_user(session, "center_staff", [ids["Far Detox"]], password=None),
            "naltrexone_staff": make_user(session, "center_staff", [ids["Naltrexone Clinic"]], password=None),
            "admin": make_user(session, "admin", password=None),
        }
        tokens = {}
        for name, user in users.items():
            _, token = issue_api_token(session, user, "tests")
            tokens[name] = {"Authorization": f"Bearer {token}"}
        session.commit()
        tokens["anonymous"] = {}
        emails = {name: user.email for name, user in users.items()}
        return People(ids["Near Detox"], ids["Far Detox"], ids["Naltrexone Clinic"], tokens, emails)


@pytest.fixture
def openapi(client):
    return client.get("/api/v1/openapi.json").get_json()


def conforms(openapi, body, model: str) -> None:
    jsonschema.validate(body, {"$ref": f"#/components/schemas/{model}", "components": openapi["components"]})


def submit(client, people, who="sender", **overrides) -> str:
    response = client.post("/api/v1/referrals", json=intake(**overrides), headers=people.tokens[who])
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def referral_count(store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Referral))


def views(store, referral_id: str) -> list[AuditEvent]:
    return [e for e in store.events("referral.view") if e.entity_id == referral_id]


def offer_ids(store, referral_id: str, step: str = "detox") -> list[int]:
    with store.session() as session:
        return list(
            session.scalars(
                select(Offer.id).where(Offer.referral_id == referral_id, Offer.step == step).order_by(Offer.id)
            )
        )


def test_submit_routes_at_once_and_the_sender_sees_plan_offers_and_timeline(client, store, people, openapi):
    response = client.post("/api/v1/referrals", json=intake(), headers=people.tokens["sender"])
    assert response.status_code == 202
    body = response.get_json()
    conforms(openapi, body, "ReferralAccepted")
    assert body["status"] == "offered"  # embedded mode: the routing task ran eagerly
    assert response.headers["Location"] == f"/api/v1/referrals/{body['id']}"

    view = client.get(f"/api/v1/referrals/{body['id']}", headers=people.tokens["sender"]).get_json()
    conforms(openapi, view, "ReferralDetail")
    assert view["client_reference"] == "CASE-1042"
    assert view["plan"]["detox"]["center_name"] == "Near Detox"
    assert view["plan"]["naltrexone_program"]["center_name"] == "Naltrexone Clinic"
    assert view["plan"]["naltrexone_program"]["earliest_start"]
    assert view["plan"]["flags"] == [
        "baseline_liver_tests_required",
        "interaction:alcohol",
        "overdose_risk_after_detox",
    ]
    assert [(o["step"], o["center_name"], o["status"]) for o in view["offers"]] == [("detox", "Near Detox", "offered")]
    assert [e["status"] for e in view["timeline"]][:2] == ["referral:received", "referral:routing"]
    assert {"at", "status", "by", "reason"} == set(view["timeline"][0])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"client_reference": ""}, "client_reference"),
        ({"location": "nowhere at all"}, "location"),
        ({"payment": "bitcoin"}, "payment"),
        ({"last_opioid_use": "yesterday"}, "last_opioid_use"),
        ({"consent": None}, "consent"),
        ({"full_name": "Jane Doe"}, "(body)"),
    ],
)
def test_invalid_intakes_get_400_naming_the_field_and_save_nothing(client, store, people, overrides, field):
    response = client.post("/api/v1/referrals", json=intake(**overrides), headers=people.tokens["sender"])
    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"error", "fields"} and body["fields"][field]
    assert referral_count(store) == 0


def test_a_reference_in_progress_gets_409_naming_the_referral_unless_sent_anyway(client, store, people, openapi):
    first = submit(client, people)
    response = client.post("/api/v1/referrals", json=intake(), headers=people.tokens["sender"])
    assert response.status_code == 409
    conforms(openapi, response.get_json(), "Error")
    sent_on = utcnow().date().isoformat()
    assert response.get_json()["fields"]["client_reference"] == [
        f"You already have a referral in progress with the reference CASE-1042, sent on {sent_on}. If this one "
        "is for another person or a new episode of care, send it anyway."
    ]
    assert (
        f"add allow_duplicate: true. The referral in progress: /api/v1/referrals/{first}"
        in (response.get_json()["error"])
    )
    assert referral_count(store) == 1
    bad = client.post("/api/v1/referrals", json=intake(allow_duplicate="yes"), headers=people.tokens["sender"])
    assert bad.status_code == 400 and bad.get_json()["fields"] == {"allow_duplicate": ["Must be true or false."]}
    anyway = client.post("/api/v1/referrals", json=intake(allow_duplicate=True), headers=people.tokens["sender"])
    assert anyway.status_code == 202 and anyway.get_json()["id"] != first
    assert referral_count(store) == 2


def test_a_last_use_without_a_time_of_day_gets_400_rather_than_midnight(client, store, people):
    day = (utcnow() - timedelta(days=3)).date().isoformat()
    response = client.post("/api/v1/referrals", json=intake(last_opioid_use=day), headers=people.tokens["sender"])
    assert response.status_code == 400
    assert response.get_json()["fields"]["last_opioid_use"] == [
        f"{day} has no time of day; give the date and time of the last use, or the latest time it may have "
        f"been that day, e.g. {day}T23:59."
    ]
    assert referral_count(store) == 0


def test_consent_may_run_at_most_a_year(client, store, people):
    today = utcnow().date()
    consent = intake()["consent"] | {"expires_on": (today + timedelta(days=366)).isoformat()}
    response = client.post("/api/v1/referrals", json=intake(consent=consent), headers=people.tokens["sender"])
    assert response.status_code == 400
    last = (today + timedelta(days=365)).isoformat()
    assert response.get_json()["fields"]["consent"] == [
        f"Consent may run at most a year, until {last}; the person can renew it then."
    ]
    assert referral_count(store) == 0
    consent["expires_on"] = last
    assert (
        client.post("/api/v1/referrals", json=intake(consent=consent), headers=people.tokens["sender"]).status_code
        == 202
    )


@pytest.mark.parametrize(
    ("last_use", "zone", "stored_utc", "earliest"),
    [
        ("2025-12-05T21:00:00", "America/New_York", "2025-12-06T02:00:00", "2025-12-13"),  # read in the zone
        ("2025-12-05T21:00:00-05:00", "America/Los_Angeles", "2025-12-06T02:00:00", "2025-12-13"),  # the offset wins
        ("2025-12-06T02:00:00Z", None, "2025-12-06T02:00:00", "2025-12-14"),  # no zone: UTC, as ever
    ],
)
def test_the_api_reads_the_last_use_with_its_offset_or_in_the_time_zone(
    client, store, people, last_use, zone, stored_utc, earliest
):
    overrides = {"last_opioid_use": last_use} | ({"time_zone": zone} if zone else {})
    referral_id = submit(client, people, **overrides)
    with store.session() as session:
        referral = session.get(Referral, referral_id)
        assert referral.last_opioid_use.isoformat() == stored_utc
        assert referral.time_zone == (zone or "UTC")
    view = client.get(f"/api/v1/referrals/{referral_id}", headers=people.tokens["sender"]).get_json()
    assert view["plan"]["earliest_naltrexone_start"] == earliest


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"time_zone": "Eastern"}, "Unknown time zone 'Eastern'"),
        ({"time_zone": 5}, "Unknown time zone 5"),
        ({"time_zone": "localtime"}, "Unknown time zone 'localtime'"),  # the server's, whatever it is
        ({"time_zone": "Factory"}, "Unknown time zone 'Factory'"),
        (
            {"time_zone": "America/New_York", "last_opioid_use": "2026-03-08T02:30"},
            "did not happen in America/New_York",
        ),
    ],
)
def test_an_unknown_zone_or_a_skipped_time_gets_400_saying_so(client, store, people, overrides, message):
    response = client.post("/api/v1/referrals", json=intake(**overrides), headers=people.tokens["sender"])
    assert response.status_code == 400
    fields = response.get_json()["fields"]
    field = "time_zone" if "Unknown" in message else "last_opioid_use"
    assert message in fields[field][0]
    assert referral_count(store) == 0


def test_a_body_that_is_not_json_gets_400(client, store, people):
    response = client.post("/api/v1/referrals", data="client_reference=x", headers=people.tokens["sender"])
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]
    assert referral_count(store) == 0


def test_who_may_see_a_referral(client, store, people, openapi):
    referral_id = submit(client, people)
    url = f"/api/v1/referrals/{referral_id}"
    assert client.get(url).status_code == 401
    for who in ("other_sender", "far_staff", "naltrexone_staff"):  # no offer to them yet
        response = client.get(url, headers=people.tokens[who])
        assert response.status_code == 404, who
    denied = [e for e in store.events("access.denied") if e.entity_id == referral_id]
    assert len(denied) == 3
    assert client.get(url, headers=people.tokens["admin"]).status_code == 200

    seen = client.get(url, headers=people.tokens["near_staff"])
    assert seen.status_code == 200
    body = seen.get_json()
    conforms(openapi, body, "ReferralForCenter")
    assert set(body) == {"id", "offers"}
    assert body["offers"][0]["flags"] == [
        "baseline_liver_tests_required",
        "interaction:alcohol",
        "overdose_risk_after_detox",
    ]
    assert "CASE-1042" not in seen.get_data(as_text=True) and "555-0199" not in seen.get_data(as_text=True)


def test_a_submitted_referral_is_audited_in_its_own_transaction(client, store, people):
    referral_id = submit(client, people)
    (event,) = store.events("referral.create")
    with store.session() as session:
        sender = session.get(User, event.actor_id)
        referral = session.get(Referral, referral_id)
        assert sender is not None and sender.email == people.emails["sender"]
        assert (event.entity_type, event.entity_id) == ("referral", referral_id)
        # Written with the referral (service.submit_referral's one commit), not after it.
        assert referral.created_by_id == sender.id


def test_every_view_is_audited(client, store, people):
    referral_id = submit(client, people)
    for who in ("sender", "admin", "near_staff"):
        client.get(f"/api/v1/referrals/{referral_id}", headers=people.tokens[who])
    client.get("/api/v1/offers", headers=people.tokens["near_staff"])
    client.get("/api/v1/referrals", headers=people.tokens["sender"])
    with store.session() as session:
        actors = {u.id: u.email for u in session.scalars(select(User))}
    events = views(store, referral_id)
    assert [actors[e.actor_id] for e in events] == [
        people.emails["sender"],
        people.emails["admin"],
        people.emails["near_staff"],
        people.emails["near_staff"],  # the offers list shows the plan
        people.emails["sender"],  # the list of one's referrals
    ]
    assert all(e.entity_type == "referral" for e in events)


def test_referral_list_is_own_newest_first_and_paginated(client, store, people, openapi):
    first = submit(client, people, client_reference="FIRST")
    second = submit(client, people, client_reference="SECOND")
    other = submit(client, people, who="other_sender")
    mine = client.get("/api/v1/referrals?per_page=1", headers=people.tokens["sender"]).get_json()
    conforms(openapi, mine, "ReferralList")
    assert mine["total"] == 2 and [r["id"] for r in mine["results"]] == [second]
    page_two = client.get("/api/v1/referrals?per_page=1&page=2", headers=people.tokens["sender"]).get_json()
    assert [r["id"] for r in page_two["results"]] == [first]
    everything = client.get("/api/v1/referrals", headers=people.tokens["admin"]).get_json()
    assert {r["id"] for r in everything["results"]} == {first, second, other}
    assert client.get("/api/v1/referrals?page=0", headers=people.tokens["sender"]).status_code == 400
    assert client.get("/api/v1/referrals", headers=people.tokens["near_staff"]).status_code == 403


def test_offers_list_per_center(client, store, people, openapi):
    referral_id = submit(client, people)
    near = client.get("/api/v1/offers", headers=people.tokens["near_staff"]).get_json()
    conforms(openapi, near, "OfferList")
    [offer] = near["results"]
    assert offer["referral_id"] == referral_id and offer["status"] == "offered"
    assert offer["flags"] == ["baseline_liver_tests_required", "interaction:alcohol", "overdose_risk_after_detox"]
    assert offer["earliest_naltrexone_start"]
    assert client.get("/api/v1/offers", headers=people.tokens["far_staff"]).get_json()["results"] == []
    assert len(client.get("/api/v1/offers", headers=people.tokens["admin"]).get_json()["results"]) == 1
    assert client.get("/api/v1/offers", headers=people.tokens["sender"]).status_code == 403


def test_accept_offers_naltrexone_with_a_target_start(client, store, people, openapi):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    url = f"/api/v1/offers/{offer_id}/accept"
    assert client.post(url, json={}, headers=people.tokens["near_staff"]).status_code == 400
    bad = client.post(url, json={"admission_date": "tomorrow"}, headers=people.tokens["near_staff"])
    assert bad.status_code == 400 and "admission_date" in bad.get_json()["fields"]
    admission = (utcnow() + timedelta(days=3)).date()
    response = client.post(url, json={"admission_date": admission.isoformat()}, headers=people.tokens["near_staff"])
    assert response.status_code == 200
    conforms(openapi, response.get_json(), "OfferForCenter")
    assert response.get_json()["status"] == "accepted"
    assert response.get_json()["contact_phone"] == "(312) 555-0199"  # shared once accepted
    view = client.get(f"/api/v1/referrals/{referral_id}", headers=people.tokens["sender"]).get_json()
    assert view["status"] == "accepted"
    naltrexone = [o for o in view["offers"] if o["step"] == "naltrexone"]
    assert naltrexone[0]["center_name"] == "Naltrexone Clinic" and naltrexone[0]["target_start"]

    again = client.post(url, json={"admission_date": admission.isoformat()}, headers=people.tokens["admin"])
    assert again.status_code == 409
    assert "no longer be accepted" in again.get_json()["error"]


@pytest.mark.parametrize(
    ("days", "given", "message"),
    [
        (-2, None, "Give an admission date from"),  # before the offer was made
        (91, None, "Give an admission date from"),  # beyond 90 days ahead
        (None, "9999-12-31", "Give an admission date from"),  # planning naltrexone from it overflowed once
        (None, 20261210, "Is not a date: use YYYY-MM-DD."),
        (None, "2026-12-10T10:00", "Is not a date: use YYYY-MM-DD."),
    ],
)
def test_an_admission_date_out_of_bounds_gets_400_and_the_offer_stays_open(client, store, people, days, given, message):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    admission = given if days is None else (utcnow() + timedelta(days=days)).date().isoformat()
    url = f"/api/v1/offers/{offer_id}/accept"
    response = client.post(url, json={"admission_date": admission}, headers=people.tokens["near_staff"])
    assert response.status_code == 400
    assert message in " ".join(response.get_json()["fields"]["admission_date"])
    with store.session() as session:
        assert session.get(Offer, offer_id).status == "offered"
        assert session.get(Offer, offer_id).admission_date is None
    first_day = (utcnow() - timedelta(days=1)).date().isoformat()  # the bounds are inclusive
    response = client.post(url, json={"admission_date": first_day}, headers=people.tokens["near_staff"])
    assert response.status_code == 200 and response.get_json()["status"] == "accepted"


def test_a_reason_longer_than_is_kept_gets_400_and_nothing_is_cut(client, store, people):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    url = f"/api/v1/offers/{offer_id}/decline"
    response = client.post(url, json={"reason": "x" * 2001}, headers=people.tokens["near_staff"])
    assert response.status_code == 400
    assert response.get_json()["fields"]["reason"] == ["Keep the reason to 2000 characters."]
    with store.session() as session:
        assert session.get(Offer, offer_id).status == "offered"
    response = client.post(url, json={"reason": "x" * 2000}, headers=people.tokens["near_staff"])
    assert response.status_code == 200
    with store.session() as session:
        assert session.get(Offer, offer_id).decline_reason == "x" * 2000


def test_only_the_offers_center_may_answer(client, store, people):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    body = {"admission_date": utcnow().date().isoformat()}
    response = client.post(f"/api/v1/offers/{offer_id}/accept", json=body, headers=people.tokens["far_staff"])
    assert response.status_code == 404
    assert [e.entity_id for e in store.events("access.denied")] == [str(offer_id)]
    url = f"/api/v1/offers/{offer_id}/accept"
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers=people.tokens["sender"]).status_code == 403
    assert client.post("/api/v1/offers/99999/accept", json=body, headers=people.tokens["admin"]).status_code == 404


def test_decline_needs_a_reason_and_moves_to_the_next_center(client, store, people):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    url = f"/api/v1/offers/{offer_id}/decline"
    for body in ({}, {"reason": "  "}):
        response = client.post(url, json=body, headers=people.tokens["near_staff"])
        assert response.status_code == 400 and "reason" in response.get_json()["fields"]
    response = client.post(url, json={"reason": "No beds tonight"}, headers=people.tokens["near_staff"])
    assert response.status_code == 200 and response.get_json()["status"] == "declined"
    far = client.get("/api/v1/offers", headers=people.tokens["far_staff"]).get_json()["results"]
    assert [o["status"] for o in far] == ["offered"]
    assert client.post(url, json={"reason": "again"}, headers=people.tokens["near_staff"]).status_code == 409


def test_an_expired_offer_cannot_be_accepted(client, store, people):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    with store.session() as session:
        session.get(Offer, offer_id).expires_at = utcnow() - timedelta(minutes=1)
        session.commit()
    body = {"admission_date": utcnow().date().isoformat()}
    response = client.post(f"/api/v1/offers/{offer_id}/accept", json=body, headers=people.tokens["near_staff"])
    assert response.status_code == 409
    assert "expired" in response.get_json()["error"]


@pytest.mark.parametrize("action", ["cancel", "consent/revoke"])
def test_cancel_and_consent_revoke_withdraw_offers(client, store, people, action):
    referral_id = submit(client, people)
    url = f"/api/v1/referrals/{referral_id}/{action}"
    assert client.post(url, json={}, headers=people.tokens["other_sender"]).status_code == 404
    assert client.post(url, json={}, headers=people.tokens["near_staff"]).status_code == 403
    response = client.post(url, json={"reason": "Found a bed elsewhere"}, headers=people.tokens["sender"])
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    [offer] = client.get("/api/v1/offers", headers=people.tokens["near_staff"]).get_json()["results"]
    assert offer["status"] == "withdrawn"
    [offer_id] = offer_ids(store, referral_id)
    body = {"admission_date": utcnow().date().isoformat()}
    answer = client.post(f"/api/v1/offers/{offer_id}/accept", json=body, headers=people.tokens["near_staff"])
    assert answer.status_code == 409 and "withdrawn" in answer.get_json()["error"]
    if action == "consent/revoke":
        assert "referral_id" not in offer and "flags" not in offer  # the centers no longer see the referral
        assert client.get(f"/api/v1/referrals/{referral_id}", headers=people.tokens["near_staff"]).status_code == 404
    else:
        assert client.post(url, json={}, headers=people.tokens["sender"]).status_code == 409


def test_follow_up_admitted_then_completed(client, store, people):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    staff = people.tokens["near_staff"]
    assert client.post(f"/api/v1/offers/{offer_id}/admitted", headers=staff).status_code == 409  # not accepted yet
    client.post(f"/api/v1/offers/{offer_id}/accept", json={"admission_date": utcnow().date().isoformat()},
                headers=staff)  # fmt: skip
    admitted = client.post(f"/api/v1/offers/{offer_id}/admitted", headers=staff)
    assert admitted.status_code == 200 and admitted.get_json()["status"] == "admitted"
    completed = client.post(f"/api/v1/offers/{offer_id}/completed", headers=staff)
    assert completed.status_code == 200 and completed.get_json()["status"] == "completed"
    view = client.get(f"/api/v1/referrals/{referral_id}", headers=people.tokens["sender"]).get_json()
    assert view["status"] == "in_progress"
    assert client.post(f"/api/v1/offers/{offer_id}/no_show", headers=people.tokens["far_staff"]).status_code == 404


def test_no_show_sends_the_referral_to_review(client, store, people):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    staff = people.tokens["near_staff"]
    client.post(f"/api/v1/offers/{offer_id}/accept", json={"admission_date": utcnow().date().isoformat()},
                headers=staff)  # fmt: skip
    assert client.post(f"/api/v1/offers/{offer_id}/no_show", headers=staff).get_json()["status"] == "no_show"
    view = client.get(f"/api/v1/referrals/{referral_id}", headers=people.tokens["sender"]).get_json()
    assert view["status"] == "needs_review"


# Alcohol, opioids or both -------------------------------------------------------------------

ALCOHOL_ONLY = {"use_disorders": ["alcohol"], "recent_opioid_use": "no"}


def alcohol_intake(**overrides):
    """Alcohol alone, as a client of the current API sends it: no opioid facts, no alcohol_use_disorder."""
    data = intake(**{**ALCOHOL_ONLY, **overrides})
    for name in ("primary_opioid", "last_opioid_use", "alcohol_use_disorder"):
        if name not in overrides:
            del data[name]
    return data


def post(client, people, body):
    return client.post("/api/v1/referrals", json=body, headers=people.tokens["sender"])


def stored(store, referral_id) -> Referral:
    with store.session() as session:
        return session.scalars(select(Referral).where(Referral.id == referral_id)).one()


@pytest.mark.parametrize(
    ("body", "use_disorders"),
    [
        (intake(), ["opioids"]),  # no use_disorders: a primary opioid means opioids
        (intake(alcohol_use_disorder=True), ["alcohol", "opioids"]),
        (intake(use_disorders=["opioids", "alcohol"], alcohol_use_disorder=True), ["alcohol", "opioids"]),
        (alcohol_intake(), ["alcohol"]),
    ],
)
def test_what_a_referral_is_for_shows_on_its_view(client, store, people, openapi, body, use_disorders):
    response = post(client, people, body)
    assert response.status_code == 202, response.get_json()
    view = client.get(f"/api/v1/referrals/{response.get_json()['id']}", headers=people.tokens["sender"]).get_json()
    conforms(openapi, view, "ReferralDetail")
    assert view["use_disorders"] == use_disorders
    opioids = "opioids" in use_disorders
    assert ("overdose_risk_after_detox" in view["plan"]["flags"]) is opioids
    assert (view["plan"]["earliest_naltrexone_start"] is not None) is opioids


def test_alcohol_alone_is_routed_and_its_center_sees_what_it_is_for(client, store, people, openapi):
    referral_id = post(client, people, alcohol_intake()).get_json()["id"]
    referral = stored(store, referral_id)
    assert (referral.primary_opioid, referral.last_opioid_use, referral.recent_opioid_use) == (None, None, "no")
    view = client.get(f"/api/v1/referrals/{referral_id}", headers=people.tokens["sender"]).get_json()
    # Neither detox center lists what its detox covers: ranked as before, and the plan says to call.
    assert view["plan"]["detox"]["center_name"] == "Near Detox"
    assert "detox substances not listed: call to confirm" in view["plan"]["detox"]["why"]

    [offer_id] = offer_ids(store, referral_id)
    offers = client.get("/api/v1/offers", headers=people.tokens["near_staff"]).get_json()
    conforms(openapi, offers, "OfferList")
    (offer,) = [o for o in offers["results"] if o["id"] == offer_id]
    assert offer["use_disorders"] == ["alcohol"] and offer["flags"] == ["baseline_liver_tests_required",
                                                                         "interaction:alcohol"]  # fmt: skip
    assert offer["earliest_naltrexone_start"] is None


def test_alcohol_alone_with_opioid_use_lately_and_no_date_is_flagged_for_a_clinician(client, store, people):
    referral_id = post(client, people, alcohol_intake(recent_opioid_use="unknown")).get_json()["id"]
    view = client.get(f"/api/v1/referrals/{referral_id}", headers=people.tokens["sender"]).get_json()
    assert view["status"] == "offered"
    assert view["plan"]["flags"][-2:] == ["overdose_risk_after_detox", "confirm_opioid_free_before_naltrexone"]


def test_alcohol_alone_with_a_recent_last_use_counts_the_window_from_it(client, store, people):
    last_use = (utcnow() - timedelta(days=2)).replace(microsecond=0)
    body = alcohol_intake(recent_opioid_use="yes", last_opioid_use=last_use.strftime("%Y-%m-%dT%H:%M:%SZ"))
    referral_id = post(client, people, body).get_json()["id"]
    view = client.get(f"/api/v1/referrals/{referral_id}", headers=people.tokens["sender"]).get_json()
    expected = (last_use + timedelta(days=10)).date() + timedelta(days=1)  # no opioid named: 10 days, a whole day
    assert view["plan"]["earliest_naltrexone_start"] == expected.isoformat()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (alcohol_intake(recent_opioid_use=None), "recent_opioid_use", "Required when the referral is for alcohol"),
        (alcohol_intake(recent_opioid_use="perhaps"), "recent_opioid_use", "accepted: yes, no, unknown"),
        (alcohol_intake(use_disorders=["alcohol", "opioids"]), "primary_opioid", "Required when the referral is"),
        (alcohol_intake(use_disorders=["gambling"]), "use_disorders", "Unknown 'gambling'; accepted: alcohol"),
        (alcohol_intake(use_disorders=[]), "use_disorders", "Name at least one"),
        (alcohol_intake(use_disorders=None), "use_disorders", "Required: the use disorders"),
        (intake(use_disorders=["opioids"], alcohol_use_disorder=True), "alcohol_use_disorder", "does not name"),
    ],
)
def test_invalid_intakes_get_400_naming_the_field(client, store, people, openapi, body, field, message):
    body = {name: value for name, value in body.items() if value is not None}
    response = post(client, people, body)
    assert response.status_code == 400
    conforms(openapi, response.get_json(), "Error")
    assert message in " ".join(response.get_json()["fields"][field])
    with store.session() as session:
        assert session.scalars(select(Referral)).first() is None


def test_the_openapi_document_describes_the_new_fields(openapi):
    fields = openapi["components"]["schemas"]["ReferralIntake"]["properties"]
    assert fields["use_disorders"]["items"]["enum"] == ["alcohol", "opioids"]
    assert fields["recent_opioid_use"]["enum"] == ["yes", "no", "unknown", None]
    assert "Required when the referral is for opioids" in fields["primary_opioid"]["description"]
    required = openapi["components"]["schemas"]["ReferralIntake"]["required"]
    assert "primary_opioid" not in required and "last_opioid_use" not in required
