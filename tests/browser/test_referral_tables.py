"""The referral page's wide tables in a real browser: on a phone they scroll sideways inside a labelled
region and say so ("Scroll sideways ..."); on a desktop, where they fit, no cue shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from selenium.webdriver.common.by import By

from directory.extensions import db
from directory.models import User
from directory.models.base import utcnow
from directory.referrals import service
from directory.referrals.dispatch import submit_and_send
from directory.referrals.intake import validate_intake
from tests.browser.browser import Browser
from tests.portal.conftest import Store
from tests.staff.scenario import build_scene

pytestmark = pytest.mark.browser


def referral_offered_and_declined(site: Flask) -> tuple[str, str]:
    """A referral whose first detox offer was declined (two offers, several timeline rows); its
    sender's email and its id."""
    scene = build_scene(Store(site))
    now = utcnow()
    intake = {
        "client_reference": "ER-77",
        "location": "60601",
        "payment": "medicaid",
        "primary_opioid": "heroin",
        "last_opioid_use": (now - timedelta(days=1)).isoformat(),
        "liver_disease": "no",
        "on_opioid_pain_therapy": "no",
        "consent": {"granted": True, "recipients": "Treatment centers", "purpose": "Referral",
                    "expires_on": now.date().replace(year=now.year + 1).isoformat()},
    }  # fmt: skip
    with site.app_context():
        referrer = db.session.get(User, scene.referrer.id)
        referral = submit_and_send(validate_intake(intake, site.extensions["geocoder"], now), referrer)
        (offer,) = referral.offers
        service.decline_offer(db.session, offer.id, db.session.get(User, scene.detox_staff.id), "No bed tonight")
        return scene.referrer.email, referral.id


def test_on_a_phone_the_offers_and_timeline_scroll_sideways_with_a_cue(browser: Browser, site: Flask) -> None:
    email, referral_id = referral_offered_and_declined(site)
    browser.open("/")
    browser.sign_in(email)
    browser.open(f"/referrals/{referral_id}")
    assert browser.heading == "Referral ER-77"

    for name, label in (("offers", "Offers"), ("timeline", "Timeline")):
        region = browser.main.find_element(By.CSS_SELECTOR, f".table-scroll[aria-label='{label}']")
        cue = browser.driver.find_element(By.ID, f"{name}-scroll-cue")
        overflows = browser.driver.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", region)
        if browser.viewport_name == "phone":
            assert overflows, f"the {label} table fits a phone: nothing to scroll"
            assert cue.is_displayed() and cue.text.startswith("Scroll sideways to see every column")
            assert region.get_attribute("aria-describedby") == cue.get_attribute("id")
            assert region.get_attribute("tabindex") == "0"  # reachable, and so scrollable, by keyboard
            assert region.rect["width"] <= browser.driver.execute_script("return window.innerWidth")
        else:
            assert not overflows and not cue.is_displayed()
            assert region.get_attribute("aria-describedby") is None
    browser.check("referral-tables")
