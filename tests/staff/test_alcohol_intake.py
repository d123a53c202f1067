"""The intake form for alcohol, opioids or both: the questions it asks (every one without JavaScript,
the server deciding which are required), its messages, and the referral page saying what it is for."""

from __future__ import annotations

from directory.models.base import utcnow
from tests.portal.conftest import sign_in
from tests.public.pages import Page
from tests.staff.scenario import intake_form, offers, referrals, submit

#: Alcohol alone, no opioid use lately: the opioid questions left empty, as a person would leave them.
ALCOHOL_ONLY = {"use_disorders": ["alcohol"], "recent_opioid_use": "no", "primary_opioid": "", "last_opioid_use": ""}


def test_the_form_asks_what_the_referral_is_for_and_every_question_is_there_without_javascript(client, scene):
    sign_in(client, scene.referrer)
    form = Page(client.get("/referrals/new").data)
    assert [i.attrs["value"] for i in form.find_all("input", name="use_disorders")] == ["alcohol", "opioids"]
    assert [i.attrs["value"] for i in form.find_all("input", name="recent_opioid_use")] == ["yes", "no", "unknown"]
    assert form.find("select", name="primary_opioid") and form.find("input", name="last_opioid_use")
    assert "Alcohol alone: any opioid use in the last 10 days?" in form.text
    assert "Required for opioid use disorder." in form.text
    assert form.find_all("input", name="alcohol_use_disorder") == []
    html = client.get("/referrals/new").get_data(as_text=True)
    assert "/static/intake.js" in html and " hidden" not in html  # JavaScript hides; the server never does


def test_alcohol_alone_from_the_form_to_a_plan_that_says_so(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store, **ALCOHOL_ONLY)
    assert referral.use_disorders == ["alcohol"] and referral.primary_opioid is None
    main = Page(client.get(f"/referrals/{referral.id}").data).main()
    assert "Alcohol use disorder" in main.text and "Opioid use disorder" not in main.text
    assert "detox substances not listed: call to confirm" in main.text
    assert "Overdose risk after detox" not in main.text
    (offer,) = offers(store, referral.id)
    assert offer.center.name == "Lakeside Detox"


def test_both_from_the_form(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store, use_disorders=["alcohol", "opioids"])
    assert referral.use_disorders == ["alcohol", "opioids"] and referral.primary_opioid == "heroin"
    text = Page(client.get(f"/referrals/{referral.id}").data).main().text
    assert "Alcohol use disorder and opioid use disorder" in text and "Overdose risk after detox" in text


def test_alcohol_alone_with_opioid_use_of_unknown_date_is_flagged_in_words(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store, **{**ALCOHOL_ONLY, "recent_opioid_use": "unknown"})
    text = Page(client.get(f"/referrals/{referral.id}").data).main().text
    assert "confirm the person is opioid-free before starting naltrexone" in text
    assert "Overdose risk after detox" in text


def test_the_form_names_the_missing_answers(client, store, scene):
    sign_in(client, scene.referrer)
    response = client.post("/referrals/new", data=intake_form(**{**ALCOHOL_ONLY, "recent_opioid_use": None}))
    assert response.status_code == 400
    page = Page(response.data)
    problems = {link.text: link.href for link in page.main().links if link.href.startswith("#")}
    assert problems["Choose whether the person used opioids in the last 10 days: yes, no or not known "
                    "(asked when the referral is for alcohol alone)."] == "#recent_opioid_use"  # fmt: skip

    response = client.post("/referrals/new", data=intake_form(use_disorders=["opioids"], primary_opioid=""))
    problems = {link.text: link.href for link in Page(response.data).main().links if link.href.startswith("#")}
    assert problems["Choose the primary opioid (required for opioid use disorder)."] == "#primary_opioid"

    last_use = utcnow().strftime("%Y-%m-%dT%H:%M")
    response = client.post("/referrals/new", data=intake_form(**{**ALCOHOL_ONLY, "last_opioid_use": last_use}))
    assert "Is no, but the last opioid use given is within the last 10 days" in Page(response.data).text
    assert referrals(store) == []
