"""The referral staff pages: the intake form, the referral's plan and timeline, cancel and revoke."""

from __future__ import annotations

from datetime import timedelta

from directory.models import OfferStatus, ReferralStatus
from directory.models.base import utcnow
from directory.routing.rules import earliest_naltrexone_start, target_naltrexone_start
from tests.portal.conftest import sign_in
from tests.public.pages import Page
from tests.staff.scenario import intake_form, offers, referrals, submit

USE_DISORDERS_MISSING = "Choose what the referral is for: alcohol use disorder, opioid use disorder, or both."


def page(response) -> str:
    return response.get_data(as_text=True)


def test_the_form_explains_what_to_give(client, scene):
    sign_in(client, scene.referrer)
    text = page(client.get("/referrals/new"))
    assert "your own case number — not the person&#39;s name" in text.lower()
    assert "not medical advice" in text
    assert "as a clock in the time zone below showed it" in text
    assert '<option selected value="America/New_York">' in text  # without JavaScript
    assert "The person consents to share this referral with receiving treatment centers" in text
    assert "Treatment centers offered this referral through Treatment Directory" in text
    assert "Referral for substance use treatment" in text
    assert (utcnow().date() + timedelta(days=180)).isoformat() in text
    assert "The person can revoke consent at any time: tell us, and we stop routing and withdraw open offers" in text
    assert 'value="50"' in text


def test_referral_from_form_to_accepted_detox_and_naltrexone_offer(app, client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store)
    text = page(client.get(f"/referrals/{referral.id}"))
    earliest = earliest_naltrexone_start(referral.last_opioid_use, "heroin")
    assert "Lakeside Detox" in text and "Naltrexone Clinic" in text
    assert earliest.isoformat() in text
    assert text.count("Earliest naltrexone start") == 1  # in the naltrexone program's step, not again
    assert "Baseline liver tests required" in text and "Interaction: alcohol" in text
    assert "not medical advice" in text
    assert 'href="tel:+1-312-555-0100"' in text

    center_client = app.test_client()
    sign_in(center_client, scene.detox_staff)
    (detox_offer,) = offers(store, referral.id)
    listing = page(center_client.get("/portal/offers"))
    assert f"/portal/offers/{detox_offer.id}" in listing and "Lakeside Detox" in listing
    admission = utcnow().date() + timedelta(days=1)
    response = center_client.post(
        f"/portal/offers/{detox_offer.id}/accept", data={"admission_date": admission.isoformat()}
    )
    assert response.status_code == 302

    text = page(client.get(f"/referrals/{referral.id}"))
    assert "Medical detox offer: accepted" in text
    detox, naltrexone = offers(store, referral.id)
    assert detox.status == OfferStatus.ACCEPTED and naltrexone.center.name == "Naltrexone Clinic"
    target = target_naltrexone_start(earliest, admission, 5)
    assert naltrexone.target_start == target
    assert f"Target start {target.isoformat()}" in text
    assert referrals(store)[0].status == ReferralStatus.ACCEPTED


def test_the_plan_links_each_center_to_its_profile_and_gives_reasons_in_words(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store, language="es")
    plan = Page(client.get(f"/referrals/{referral.id}").data).main()
    assert [link.path for link in plan.links if link.text == "Lakeside Detox"] == [
        f"/centers/{scene.near_detox.slug}",  # the plan's step
        f"/centers/{scene.near_detox.slug}",  # the offers table
    ]
    assert plan.link("Naltrexone Clinic").path == f"/centers/{scene.clinic.slug}"
    assert "takes Medicaid" in plan.text and "no Spanish listed" in plan.text
    assert "takes medicaid" not in plan.text


def test_partial_matches_link_to_the_profiles_and_say_what_does_not_fit_in_words(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store, payment="private_insurance")
    plan = Page(client.get(f"/referrals/{referral.id}").data).main()
    assert "No center fits every need" in plan.text
    assert plan.link("Lakeside Detox").path == f"/centers/{scene.near_detox.slug}"
    assert plan.link("Northside Detox").path == f"/centers/{scene.far_detox.slug}"
    assert "does not list Private health insurance" in plan.text


def test_invalid_form_is_refused_with_messages_and_nothing_saved(client, store, scene):
    sign_in(client, scene.referrer)
    data = intake_form(
        client_reference="",
        location="Nowhere At All",
        payment="",
        on_opioid_pain_therapy=None,
        consent_granted=None,
        consent_expires_on="2001-01-01",
        last_opioid_use=(utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
    )
    response = client.post("/referrals/new", data=data)
    assert response.status_code == 400
    text = page(response)
    assert "Required: your own reference for this person (not their name)." in text
    assert "Choose how the person pays." in text
    assert "Choose whether the person needs opioid pain medication: yes or no." in text
    assert "Consent must be granted" in text
    assert "Consent expired on 2001-01-01" in text
    assert "Is in the future" in text
    assert 'aria-invalid="true"' in text
    assert referrals(store) == []


def test_a_reference_in_progress_is_refused_with_a_link_to_it_and_can_be_sent_anyway(client, store, scene):
    sign_in(client, scene.referrer)
    first = submit(client, store)
    response = client.post("/referrals/new", data=intake_form())
    assert response.status_code == 400
    shown = Page(response.data).main()
    assert "You already have a referral in progress with the reference CASE-1042" in shown.text
    assert shown.link("Open the referral in progress").href == f"/referrals/{first.id}"
    assert shown.find("input", name="send_anyway").attrs["type"] == "checkbox"
    assert shown.find("input", name="client_reference").attrs["aria-invalid"] == "true"
    assert [r.id for r in referrals(store)] == [first.id]

    second = submit(client, store, send_anyway="y")
    assert [r.id for r in referrals(store)] == [first.id, second.id]
    assert "send_anyway" not in page(client.get("/referrals/new"))  # only once a reference is in progress


def test_the_empty_form_s_summary_names_each_field_and_links_to_it(client, store, scene):
    sign_in(client, scene.referrer)
    blank = {"max_distance_miles": "50", "consent_recipients": "", "consent_purpose": "", "consent_expires_on": ""}
    response = client.post("/referrals/new", data=blank)
    assert response.status_code == 400
    summary = Page(response.data).main()
    problems = {link.text: link.href for link in summary.links if link.href.startswith("#")}
    assert problems["Choose how the person pays."] == "#payment"
    assert problems[USE_DISORDERS_MISSING] == "#use_disorders"
    assert "#primary_opioid" not in problems.values()  # asked only once opioids are named
    assert problems["Choose whether the person has liver disease: yes, no or not known."] == "#liver_disease"
    assert problems["Choose whether the person needs opioid pain medication: yes or no."] == "#on_opioid_pain_therapy"
    assert problems["Give the date the consent ends."] == "#consent_expires_on"
    assert len(set(problems)) == len([link for link in summary.links if link.href.startswith("#")])
    assert "Choose one." not in summary.text and "expires_on" not in summary.text
    assert referrals(store) == []


def test_the_consent_date_s_hint_names_no_format_the_date_picker_does_not_show(client, scene):
    sign_in(client, scene.referrer)
    form = Page(client.get("/referrals/new").data)
    assert form.find("input", name="consent_expires_on").attrs["type"] == "date"
    assert "YYYY-MM-DD" not in form.text_of("consent_expires_on-hint")
    assert form.text_of("consent_expires_on-hint") == "The last day the person's consent covers."


def test_unknown_choice_is_reported_by_the_shared_checks(client, store, scene):
    sign_in(client, scene.referrer)
    response = client.post("/referrals/new", data=intake_form(primary_opioid="kratom", max_distance_miles="9000"))
    assert response.status_code == 400
    assert "Unknown value &#39;kratom&#39;" in page(response)
    assert "A number of miles from 1 to 500." in page(response)
    assert referrals(store) == []


def test_list_shows_own_referrals_and_admin_sees_all(app, client, store, scene):
    sign_in(client, scene.referrer)
    submit(client, store, client_reference="MINE-1")
    other = app.test_client()
    sign_in(other, scene.other_referrer)
    submit(other, store, client_reference="THEIRS-2")

    mine = page(client.get("/referrals/"))
    assert "MINE-1" in mine and "THEIRS-2" not in mine
    assert "Offered to a detox center" in mine and "Wait for the detox center to answer." in mine
    admin = app.test_client()
    sign_in(admin, scene.admin)
    everything = page(admin.get("/referrals/"))
    assert "MINE-1" in everything and "THEIRS-2" in everything


def test_other_referral_staff_get_404_and_the_attempt_is_logged(app, client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store)
    other = app.test_client()
    sign_in(other, scene.other_referrer)
    assert other.get(f"/referrals/{referral.id}").status_code == 404
    assert other.post(f"/referrals/{referral.id}/cancel", data={"reason": "x"}).status_code == 404
    assert other.post(f"/referrals/{referral.id}/consent/revoke").status_code == 404
    denied = store.events("access.denied")
    assert [e.entity_id for e in denied] == [referral.id] * 3
    assert referrals(store)[0].status == ReferralStatus.OFFERED
    admin = app.test_client()
    sign_in(admin, scene.admin)
    assert admin.get(f"/referrals/{referral.id}").status_code == 200


def test_anonymous_is_sent_to_sign_in_and_other_roles_refused(app, client, scene):
    for path in ("/referrals/", "/referrals/new", "/referrals/abc"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    sign_in(client, scene.detox_staff)
    assert client.get("/referrals/").status_code == 403
    assert client.get("/referrals/new").status_code == 403


def test_every_view_is_audited(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store)
    client.get(f"/referrals/{referral.id}")
    client.get(f"/referrals/{referral.id}")
    views = store.events("referral.view")
    assert [(e.entity_type, e.entity_id, e.actor_id) for e in views] == [
        ("referral", referral.id, scene.referrer.id)
    ] * 2
    assert [e.entity_id for e in store.events("referral.create")] == [referral.id]


def test_cancel_withdraws_open_offers(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store)
    response = client.post(f"/referrals/{referral.id}/cancel", data={"reason": "Person moved away."})
    assert response.status_code == 302
    (cancelled,) = referrals(store)
    assert cancelled.status == ReferralStatus.CANCELLED and cancelled.status_reason == "Person moved away."
    assert [o.status for o in offers(store, referral.id)] == [OfferStatus.WITHDRAWN]
    text = page(client.get(f"/referrals/{referral.id}"))
    assert "Medical detox offer: withdrawn" in text and "Cancel this referral" not in text

    again = client.post(f"/referrals/{referral.id}/cancel", data={"reason": ""})
    assert again.status_code == 409
    assert "already cancelled" in page(again)


def test_revoking_consent_stops_routing(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store)
    assert client.post(f"/referrals/{referral.id}/consent/revoke").status_code == 302
    (revoked,) = referrals(store)
    assert revoked.consent_revoked_at is not None and revoked.status == ReferralStatus.CANCELLED
    assert [o.status for o in offers(store, referral.id)] == [OfferStatus.WITHDRAWN]
    assert "Revoked" in page(client.get(f"/referrals/{referral.id}"))
    assert client.post(f"/referrals/{referral.id}/consent/revoke").status_code == 409


def test_pain_therapy_goes_to_review_without_offers(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store, on_opioid_pain_therapy="yes")
    text = page(client.get(f"/referrals/{referral.id}"))
    assert "Needs review" in text and "A clinician should review" in text
    assert offers(store, referral.id) == []


def test_unplaced_referral_shows_partial_matches(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store, payment="private_insurance")
    text = page(client.get(f"/referrals/{referral.id}"))
    assert "Not placed" in text and "Partial matches" in text and "Lakeside Detox" in text
    assert "<dt>Next step</dt><dd>Call the partial matches, or refer again with a wider distance.</dd>" in text
    # No naltrexone program planned: when naltrexone could start is still on the page.
    earliest = earliest_naltrexone_start(referral.last_opioid_use, "heroin")
    assert "No center planned for this step." in text
    assert f"<dt>Earliest naltrexone start</dt><dd>{earliest.isoformat()}<br>" in text


def test_an_unplaced_referral_without_partial_matches_is_not_told_to_call_them(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store, location="99950", max_distance_miles="10")
    text = page(client.get(f"/referrals/{referral.id}"))
    assert "Not placed" in text and "Partial matches" not in text
    step = "No center comes close within this distance: refer again with a wider distance."
    assert f"<dt>Next step</dt><dd>{step}</dd>" in text
    listed = Page(client.get("/referrals/").data).main()
    assert step in listed.text and "Call the partial matches" not in listed.text


def test_the_form_needs_its_csrf_token(app, client, store, scene):
    sign_in(client, scene.referrer)
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/referrals/new", data=intake_form()).status_code == 400
    assert referrals(store) == []
    html = page(client.get("/referrals/new"))
    form = html[html.index('action="/referrals/new"') :]
    token = Page(form[: form.index("</form>")]).find("input", name="csrf_token").attrs["value"]
    assert client.post("/referrals/new", data={**intake_form(), "csrf_token": token}).status_code == 302
    assert len(referrals(store)) == 1
