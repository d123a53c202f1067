"""Referral offers in the center portal: who sees them, accept and decline, follow-up, conflicts."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from directory.accounts.service import issue_api_token
from directory.models import Offer, OfferStatus, ReferralStatus, User
from directory.models.base import utcnow
from directory.referrals.presenters import ADMITTING_OFFER_FIELDS, CLOSED_OFFER_FIELDS, SHARED_OFFER_FIELDS
from tests.portal.conftest import sign_in
from tests.public.pages import Page
from tests.staff.scenario import build_scene, offers, referrals, submit


@pytest.fixture
def scene(store):
    return build_scene(store)


@pytest.fixture
def referral(app, store, scene):
    """A referral submitted through the form: its detox step is offered to Lakeside Detox."""
    client = app.test_client()
    sign_in(client, scene.referrer)
    return submit(client, store)


def page(response) -> str:
    return response.get_data(as_text=True)


def detox_offer(store, referral) -> Offer:
    return offers(store, referral.id)[0]


def tomorrow() -> str:
    return (utcnow().date() + timedelta(days=1)).isoformat()


def test_the_portal_home_shows_the_offers_waiting_with_their_expiry_and_a_link(app, client, store, scene, referral):
    offer = detox_offer(store, referral)
    sign_in(client, scene.detox_staff)
    home = Page(client.get("/portal/").data).main()
    assert home.text_of("offers-waiting-title") == "1 referral offer waiting for an answer"
    assert f"It expires on {offer.expires_at:%Y-%m-%d %H:%M} UTC" in home.text
    assert home.link("Answer the offer").path == "/portal/offers"
    assert home.html.index("offers-waiting") < home.html.index("Your centers")  # above everything else

    other = app.test_client()
    sign_in(other, scene.other_staff)
    assert "offers-waiting" not in page(other.get("/portal/"))  # not an offer to their center

    with store.session() as session:
        session.execute(update(Offer).where(Offer.id == offer.id).values(expires_at=utcnow() - timedelta(minutes=1)))
        session.commit()
    assert "offers-waiting" not in page(client.get("/portal/"))  # expired: nothing to answer


def test_the_portal_home_counts_every_waiting_offer_and_gives_the_first_expiry(app, client, store, scene, referral):
    referrer = app.test_client()
    sign_in(referrer, scene.referrer)
    second = submit(referrer, store, client_reference="CASE-2")
    first_expiry = detox_offer(store, referral).expires_at
    with store.session() as session:
        later = first_expiry + timedelta(hours=3)
        session.execute(update(Offer).where(Offer.referral_id == second.id).values(expires_at=later))
        session.commit()
    sign_in(client, scene.detox_staff)
    home = Page(client.get("/portal/").data).main()
    assert home.text_of("offers-waiting-title") == "2 referral offers waiting for an answer"
    assert f"The first expires on {first_expiry:%Y-%m-%d %H:%M} UTC" in home.text
    assert home.link("Answer the offers").path == "/portal/offers"


def test_staff_see_their_centers_open_offers_with_the_plan_summary(client, store, scene, referral):
    sign_in(client, scene.detox_staff)
    text = page(client.get("/portal/offers"))
    offer = detox_offer(store, referral)
    assert f"/portal/offers/{offer.id}" in text
    assert "Medical detox at Lakeside Detox" in text
    assert "Baseline liver tests required" in text and "Interaction: alcohol" in text
    assert "Expires" in text


def test_staff_of_another_center_see_no_offer_and_get_404(client, store, scene, referral):
    offer = detox_offer(store, referral)
    sign_in(client, scene.other_staff)
    assert f"/portal/offers/{offer.id}" not in page(client.get("/portal/offers"))
    assert client.get(f"/portal/offers/{offer.id}").status_code == 404
    assert client.post(f"/portal/offers/{offer.id}/accept", data={"admission_date": tomorrow()}).status_code == 404
    assert client.post(f"/portal/offers/{offer.id}/decline", data={"reason": "no"}).status_code == 404
    assert client.post(f"/portal/offers/{offer.id}/admitted").status_code == 404
    assert [e.entity_id for e in store.events("access.denied")] == [str(offer.id)] * 4
    assert detox_offer(store, referral).status == OfferStatus.OFFERED


def test_anonymous_and_referral_staff_are_kept_out(client, store, scene, referral):
    offer = detox_offer(store, referral)
    for path in ("/portal/offers", f"/portal/offers/{offer.id}"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    sign_in(client, scene.referrer)
    assert client.get("/portal/offers").status_code == 403
    assert client.get(f"/portal/offers/{offer.id}").status_code == 403


def test_opening_an_offer_is_audited_as_a_view_of_the_referral(client, store, scene, referral):
    offer = detox_offer(store, referral)
    sign_in(client, scene.detox_staff)
    text = page(client.get(f"/portal/offers/{offer.id}"))
    assert "not medical advice" in text and "<dt>Payment</dt><dd>Medicaid</dd>" in text  # in words, not the code
    assert "CASE-1042" not in text and "referrer@example.org" not in text  # the case number once accepted; never
    (event,) = store.events("referral.view")
    assert (event.entity_type, event.entity_id, event.actor_id) == ("referral", referral.id, scene.detox_staff.id)


def test_accept_needs_an_admission_date(client, store, scene, referral):
    offer = detox_offer(store, referral)
    sign_in(client, scene.detox_staff)
    response = client.post(f"/portal/offers/{offer.id}/accept", data={"admission_date": ""})
    assert (response.status_code, response.headers["Location"]) == (302, f"/portal/offers/{offer.id}")
    shown = Page(client.get(response.headers["Location"]).data).main()
    assert "The offer was not accepted. Admission date: Give the date the person can be admitted" in shown.text
    assert shown.find("div", class_="flashes").attrs["role"] == "alert"
    assert detox_offer(store, referral).status == OfferStatus.OFFERED


def test_an_admission_date_out_of_bounds_is_refused_saying_which_dates_are_accepted(client, store, scene, referral):
    offer = detox_offer(store, referral)
    sign_in(client, scene.detox_staff)
    too_late = (utcnow() + timedelta(days=91)).date().isoformat()
    response = client.post(f"/portal/offers/{offer.id}/accept", data={"admission_date": too_late})
    assert (response.status_code, response.headers["Location"]) == (302, f"/portal/offers/{offer.id}")
    shown = Page(client.get(response.headers["Location"]).data).main()
    first, last = (utcnow() - timedelta(days=1)).date(), (utcnow() + timedelta(days=90)).date()
    expected = f"The offer was not accepted. Admission date: Give an admission date from {first} to {last}."
    assert expected in shown.text
    assert detox_offer(store, referral).status == OfferStatus.OFFERED


def test_accept_offers_the_naltrexone_program(app, client, store, scene, referral):
    offer = detox_offer(store, referral)
    sign_in(client, scene.detox_staff)
    response = client.post(f"/portal/offers/{offer.id}/accept", data={"admission_date": tomorrow()})
    assert response.status_code == 302
    detox, naltrexone = offers(store, referral.id)
    assert detox.status == OfferStatus.ACCEPTED and detox.admission_date.isoformat() == tomorrow()
    assert naltrexone.center_id == scene.clinic.id and naltrexone.target_start is not None

    clinic = app.test_client()
    sign_in(clinic, scene.clinic_staff)
    listing = page(clinic.get("/portal/offers"))
    assert "Naltrexone program at Naltrexone Clinic" in listing
    assert f"Target start</dt><dd>{naltrexone.target_start.isoformat()}" in listing


def test_decline_with_an_empty_reason_is_refused(client, store, scene, referral):
    offer = detox_offer(store, referral)
    sign_in(client, scene.detox_staff)
    response = client.post(f"/portal/offers/{offer.id}/decline", data={"reason": "  "})
    assert (response.status_code, response.headers["Location"]) == (302, f"/portal/offers/{offer.id}")
    shown = page(client.get(response.headers["Location"]))
    assert "Reason for declining: Give a reason for declining" in shown
    assert 'maxlength="2000"' in shown  # a longer reason cannot be typed, so none is lost to the limit
    assert [o.status for o in offers(store, referral.id)] == [OfferStatus.OFFERED]


def test_decline_sends_the_referral_to_the_next_center(client, store, scene, referral):
    offer = detox_offer(store, referral)
    sign_in(client, scene.detox_staff)
    response = client.post(f"/portal/offers/{offer.id}/decline", data={"reason": "No bed this week."})
    assert response.status_code == 302
    declined, next_offer = offers(store, referral.id)
    assert declined.status == OfferStatus.DECLINED and declined.decline_reason == "No bed this week."
    assert next_offer.center_id == scene.far_detox.id and next_offer.status == OfferStatus.OFFERED
    assert "Declined" in page(client.get("/portal/offers"))


def withdrawn_by_cancelling(app, store, scene, referral) -> Offer:
    """The referral's detox offer, withdrawn by its referrer cancelling the referral."""
    offer = detox_offer(store, referral)
    referrer = app.test_client()
    sign_in(referrer, scene.referrer)
    referrer.post(f"/referrals/{referral.id}/cancel", data={"reason": "Person moved away."})
    return offer


def test_a_withdrawn_offer_cannot_be_accepted_and_shows_no_details(app, client, store, scene, referral):
    offer = withdrawn_by_cancelling(app, store, scene, referral)

    sign_in(client, scene.detox_staff)
    response = client.post(f"/portal/offers/{offer.id}/accept", data={"admission_date": tomorrow()})
    assert (response.status_code, response.headers["Location"]) == (302, f"/portal/offers/{offer.id}")
    text = page(client.get(response.headers["Location"]))
    assert "This offer can no longer be accepted (it is withdrawn)." in text
    assert "CASE-1042" not in text and "not shared with your center" in text
    assert scene.detox_staff.id not in [e.actor_id for e in store.events("referral.view")]


def test_a_withdrawn_offer_shows_when_it_was_withdrawn_not_an_answer(app, client, store, scene, referral):
    offer = withdrawn_by_cancelling(app, store, scene, referral)

    sign_in(client, scene.detox_staff)
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page(client.get(f"/portal/offers/{offer.id}"))))
    assert "Answered" not in facts
    assert facts["Status"] == "Withdrawn" and facts["Withdrawn"]
    answered = Page(client.get("/portal/offers").data)
    [row] = re.findall(rf'<tr>\s*<td><a href="/portal/offers/{offer.id}">.*?</tr>', answered.html, re.S)
    assert [Page(cell).text for cell in re.findall(r"<td>(.*?)</td>", row, re.S)][2:] == ["Withdrawn", ""]


def test_an_expired_offer_cannot_be_accepted(client, store, scene, referral):
    offer = detox_offer(store, referral)
    with store.session() as session:
        session.execute(update(Offer).where(Offer.id == offer.id).values(expires_at=utcnow() - timedelta(minutes=1)))
        session.commit()
    sign_in(client, scene.detox_staff)
    response = client.post(
        f"/portal/offers/{offer.id}/accept", data={"admission_date": tomorrow()}, follow_redirects=True
    )
    assert response.request.path == f"/portal/offers/{offer.id}"
    assert "(it is expired)" in page(response)


def test_follow_up_admitted_then_no_second_answer(client, store, scene, referral):
    offer = detox_offer(store, referral)
    sign_in(client, scene.detox_staff)
    client.post(f"/portal/offers/{offer.id}/accept", data={"admission_date": tomorrow()})
    assert client.post(f"/portal/offers/{offer.id}/admitted").status_code == 302
    assert detox_offer(store, referral).status == OfferStatus.ADMITTED
    assert referrals(store)[0].status == ReferralStatus.IN_PROGRESS
    again = client.post(f"/portal/offers/{offer.id}/no_show", follow_redirects=True)
    assert again.request.path == f"/portal/offers/{offer.id}"
    assert "Only an offer that is accepted can be marked no_show." in page(again)


def test_admin_may_answer_any_offer(app, store, scene, referral):
    admin = app.test_client()
    sign_in(admin, scene.admin)
    offer = detox_offer(store, referral)
    assert f"/portal/offers/{offer.id}" in page(admin.get("/portal/offers"))
    assert admin.post(f"/portal/offers/{offer.id}/decline", data={"reason": "Wrong center."}).status_code == 302


# One minimum-necessary view ---------------------------------------------------------------------

#: What the intake holds that a center never sees (the consent text, the referrer's email, the exact
#: time of last use, the primary opioid), and the other centers of the plan.
NEVER_SHOWN = (
    "referrer@example.org",
    "Treatment centers offered this referral through Treatment Directory",
    "Referral for substance use treatment",
    "Heroin",
    "heroin",
    "Northside Detox",
)


def readme_fields() -> list[set[str]]:
    """The field sets of the README's table "What a center sees", row by row."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### What a center sees", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [set(re.findall(r"`([a-z_]+)`", row.split("|")[1])) for row in rows]


def test_the_readme_lists_the_centers_view_field_by_field():
    closed, shared, admitting = readme_fields()
    assert closed == set(CLOSED_OFFER_FIELDS)
    assert closed | shared == set(SHARED_OFFER_FIELDS)
    assert closed | shared | admitting == set(ADMITTING_OFFER_FIELDS)


@pytest.mark.parametrize("accepted", [False, True], ids=["open", "accepted"])
def test_the_page_and_the_api_show_a_center_the_same_fields(app, client, store, scene, referral, accepted):
    offer = detox_offer(store, referral)
    sign_in(client, scene.detox_staff)
    if accepted:
        assert client.post(f"/portal/offers/{offer.id}/accept", data={"admission_date": tomorrow()}).status_code == 302
    text = page(client.get(f"/portal/offers/{offer.id}"))
    with store.session() as session:
        token = issue_api_token(session, session.get(User, scene.detox_staff.id), "tests")[1]
        session.commit()
    listed = app.test_client().get("/api/v1/offers", headers={"Authorization": f"Bearer {token}"}).get_json()
    view = next(item for item in listed["results"] if item["id"] == offer.id)

    assert set(view) == set(ADMITTING_OFFER_FIELDS if accepted else SHARED_OFFER_FIELDS)
    # Every value the API gives is on the page (in words where the page uses words).
    on_page = {
        "step": "Medical detox",
        "status": "Accepted" if accepted else "Waiting for an answer",
        "center_name": "Lakeside Detox",
        "distance_miles": f"{view['distance_miles']} miles",
        "earliest_naltrexone_start": view["earliest_naltrexone_start"],
        "flags": "Baseline liver tests required",
        "payment": "<dt>Payment</dt><dd>Medicaid</dd>",
        "admission_date": view["admission_date"],
        "client_reference": view.get("client_reference"),
        "contact_phone": view.get("contact_phone"),
    }
    for name, shown in on_page.items():
        if view.get(name) is not None:
            assert shown in text, name
    for reason in view["why"]:
        assert reason in text
    assert ("CASE-1042" in text) == accepted and ("555-0199" in text) == accepted
    for secret in NEVER_SHOWN:
        assert secret not in text and secret not in json.dumps(view), secret
    last_use = referrals(store)[0].last_opioid_use
    assert f"{last_use:%Y-%m-%d %H:%M}" not in text and f"{last_use:%Y-%m-%dT%H:%M}" not in json.dumps(view)
