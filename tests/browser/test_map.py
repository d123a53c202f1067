"""The maps of results and profiles in a real browser, at desktop and phone sizes: a marker per
result, numbered and named as in the list, reached with Tab in the list's order, opening a popup
that links to the profile; the searched place marked; the state outlines served by the app, or a
tile server's tiles where MAP_TILE_URL sets one; no serious accessibility problem."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from directory.extensions import db
from tests.browser.browser import Browser
from tests.browser.conftest import AppSwitch
from tests.conftest import database_url, make_app
from tests.factories import add_centers, center_record

pytestmark = pytest.mark.browser

#: Three Chicago centers, nearest to ZIP 60601 first.
CENTERS = (
    ("Lakeshore Medical Detox", "211 E Ontario St", 41.8932, -87.6213),
    ("Riverside Recovery Clinic", "400 W Randolph St", 41.8846, -87.6386),
    ("North Branch Detox Center", "2500 N Clybourn Ave", 41.9271, -87.6707),
)


def add_chicago_centers(app: Flask) -> None:
    with app.app_context():
        add_centers(
            db.session,
            *(
                center_record(name=name, street1=street, latitude=latitude, longitude=longitude)
                for name, street, latitude, longitude in CENTERS
            ),
        )


def wait_for_map(browser: Browser) -> WebElement:
    """The map, once static/map.js has drawn its markers and its background."""
    WebDriverWait(browser.driver, 15).until(
        lambda driver: driver.execute_script(
            "const map = document.getElementById('map');"
            "return map && !map.hidden && map.querySelector('.map-marker, .map-place') !== null"
            "  && map.querySelector('.leaflet-overlay-pane path, .leaflet-tile-loaded') !== null;"
        ),
        f"the map was not drawn on {browser.path}",
    )
    return browser.driver.find_element(By.ID, "map")


def console_errors(browser: Browser) -> list[str]:
    """The browser console's errors since last asked: a script failing, or the Content-Security-Policy
    refusing something (an inline style, an image from elsewhere)."""
    return [entry["message"] for entry in browser.driver.get_log("browser") if entry["level"] == "SEVERE"]


def markers(browser: Browser) -> list[WebElement]:
    return browser.driver.find_elements(By.CSS_SELECTOR, "#map .map-marker")


def card_names(browser: Browser) -> list[str]:
    """ "1. Name" for each result card: its number as shown, and its heading."""
    return [
        f"{card.find_element(By.CLASS_NAME, 'result-number').text}. {card.find_element(By.TAG_NAME, 'h2').text}"
        for card in browser.driver.find_elements(By.CSS_SELECTOR, "ol.results > li.result")
    ]


def test_results_map_numbers_the_centers_as_the_list_does(browser: Browser, site: Flask) -> None:
    add_chicago_centers(site)
    browser.open("/search?near=60601&per_page=10")
    wait_for_map(browser)
    browser.check("results-with-map")

    cards = card_names(browser)
    assert cards == [f"{n}. {name}" for n, (name, *_) in enumerate(CENTERS, start=1)]
    assert [m.get_attribute("aria-label") for m in markers(browser)] == cards
    assert [m.text for m in markers(browser)] == ["1", "2", "3"]
    assert all(m.get_attribute("role") == "button" and m.get_attribute("tabindex") == "0" for m in markers(browser))
    assert len(browser.driver.find_elements(By.CSS_SELECTOR, "#map .map-place")) == 1  # the searched place
    # The state outlines, from the app itself: no tile server is set.
    assert browser.driver.find_elements(By.CSS_SELECTOR, "#map .leaflet-overlay-pane path")
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "#map img.leaflet-tile")
    assert "State outlines: U.S. Census Bureau" in browser.driver.find_element(By.ID, "map").text
    assert console_errors(browser) == []


def test_tab_moves_through_the_markers_and_enter_opens_the_profile_link(browser: Browser, site: Flask) -> None:
    add_chicago_centers(site)
    browser.open("/search?near=60601")
    wait_for_map(browser)
    driver = browser.driver
    first, *others = markers(browser)
    driver.execute_script("arguments[0].focus()", first)
    focused = [driver.switch_to.active_element.get_attribute("aria-label")]
    for _ in others:
        driver.switch_to.active_element.send_keys(Keys.TAB)
        focused.append(driver.switch_to.active_element.get_attribute("aria-label"))
    assert focused == card_names(browser)

    driver.execute_script("arguments[0].focus()", markers(browser)[1])
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    link = driver.switch_to.active_element
    # Leaflet fades the popup in: its text is shown (to Selenium too) once it is visible.
    WebDriverWait(driver, 5).until(lambda d: link.text)
    assert link.tag_name == "a" and link.text == "Riverside Recovery Clinic"
    card_link = driver.find_element(By.LINK_TEXT, "Riverside Recovery Clinic")
    assert link.get_attribute("href") == card_link.get_attribute("href")
    browser.check("results-map-popup")
    link.send_keys(Keys.ESCAPE)
    WebDriverWait(driver, 5).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#map .leaflet-popup"))
    assert driver.switch_to.active_element.get_attribute("aria-label") == "2. Riverside Recovery Clinic"

    driver.switch_to.active_element.send_keys(Keys.ENTER)  # the popup again, its link focused
    browser.wait_for_next_page(lambda: driver.switch_to.active_element.send_keys(Keys.ENTER))
    assert browser.heading == "Riverside Recovery Clinic"


def test_profile_map_marks_the_center_and_the_place_searched(browser: Browser, site: Flask) -> None:
    add_chicago_centers(site)
    browser.open("/search?near=60601")
    browser.follow("North Branch Detox Center")
    wait_for_map(browser)
    browser.check("profile-with-map")
    assert [m.get_attribute("aria-label") for m in markers(browser)] == ["North Branch Detox Center"]
    assert len(browser.driver.find_elements(By.CSS_SELECTOR, "#map .map-place")) == 1
    label = browser.driver.find_element(By.ID, "map").get_attribute("aria-label")
    assert label == "Map of North Branch Detox Center and 60601 (Chicago, IL), the place you searched"

    # Opened on its own, the profile's map has the center only.
    assert console_errors(browser) == []
    browser.open(browser.path.split("?")[0])
    wait_for_map(browser)
    assert len(markers(browser)) == 1
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "#map .map-place")


def test_no_results_no_map(browser: Browser, site: Flask) -> None:
    browser.open("/search?near=60601")
    assert "No centers found" in browser.text
    assert not browser.driver.find_elements(By.ID, "map")


@pytest.fixture
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """A stand-in tile server on 127.0.0.1: each tile a 1x1 PNG; the paths asked for are kept."""
    paths: list[str] = []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(ONE_PIXEL_PNG)))
            self.end_headers()
            self.wfile.write(ONE_PIXEL_PNG)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", paths
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


#: A 1x1 transparent PNG.
ONE_PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


def test_map_tile_url_puts_the_tile_servers_tiles_behind_the_markers(
    browser: Browser, live_server: tuple[str, AppSwitch], tile_server: tuple[str, list[str]], tmp_path: Path
) -> None:
    tiles_at, asked = tile_server
    _, switch = live_server
    app = make_app(
        database_url(tmp_path, "tiles"),
        MAP_TILE_URL=tiles_at + "/tiles/{z}/{x}/{y}.png",
        MAP_ATTRIBUTION="Tiles © <Example> contributors",
    )
    add_chicago_centers(app)
    switch.app = app
    try:
        browser.open("/search?near=60601")
        wait_for_map(browser)
        tiles = browser.driver.find_elements(By.CSS_SELECTOR, "#map img.leaflet-tile-loaded")
        assert tiles and all(t.get_attribute("src").startswith(tiles_at + "/tiles/") for t in tiles)
        assert all(browser.driver.execute_script("return arguments[0].naturalWidth", t) == 1 for t in tiles)
        assert asked and all(path.startswith("/tiles/") and path.endswith(".png") for path in asked)
        assert not browser.driver.find_elements(By.CSS_SELECTOR, "#map .leaflet-overlay-pane path")
        # The attribution as plain text, never as markup.
        assert "Tiles © <Example> contributors" in browser.driver.find_element(By.ID, "map").text
        assert len(markers(browser)) == 3
        assert console_errors(browser) == []
        browser.check("results-map-with-tiles")
    finally:
        switch.app = None
        with app.app_context():
            db.engine.dispose()
