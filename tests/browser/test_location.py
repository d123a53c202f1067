"""The "Use my location" button in a real browser: the search it makes carries the point rounded to two
decimals, and the results name the town of the nearest ZIP code."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from selenium.webdriver.common.by import By

from directory.extensions import db
from tests.browser.browser import Browser
from tests.factories import add_centers, center_record

pytestmark = pytest.mark.browser


def test_use_my_location_searches_near_the_rounded_point_and_names_its_town(browser: Browser, site: Flask) -> None:
    with site.app_context():
        add_centers(db.session, center_record(name="Riverside Recovery Clinic", latitude=41.8842, longitude=-87.6388))
    driver = browser.driver
    driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": browser.base_url, "permissions": ["geolocation"]})
    driver.execute_cdp_cmd(
        "Emulation.setGeolocationOverride", {"latitude": 41.886812, "longitude": -87.617301, "accuracy": 20}
    )
    try:
        browser.open("/")
        browser.wait_for_next_page(lambda: driver.find_element(By.ID, "use-location").click())
    finally:
        driver.execute_cdp_cmd("Emulation.clearGeolocationOverride", {})
        driver.execute_cdp_cmd("Browser.resetPermissions", {})

    url = urlsplit(driver.current_url)
    assert url.path == "/search"
    assert parse_qs(url.query)["near"] == ["41.89,-87.62"]
    assert browser.heading == "Treatment centers near Chicago, IL (41.8900, -87.6200)"
    assert "Riverside Recovery Clinic" in browser.text
    assert "41.8868" not in driver.page_source
    browser.check("results-near-my-location")
