"""The maps of results and profiles, as the server sends them: the markers' data beside the cards it
repeats, the maps' files served from the npm packages, the tile server's settings and the
Content-Security-Policy they open. (tests/browser/test_map.py draws the maps in a real browser.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from directory.public.views import FRONTEND_FILES, NODE_MODULES
from tests.conftest import database_url, make_app, skip_missing_service
from tests.factories import add_centers, center_record
from tests.public.pages import Page

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}


def map_data(page: Page) -> dict:
    (body,) = [body for attrs, body in page.scripts if attrs.get("id") == "map-data"]
    assert [attrs.get("type") for attrs, _ in page.scripts if attrs.get("id") == "map-data"] == ["application/json"]
    return json.loads(body)


def cards(page: Page) -> list[dict]:
    """Each result card as the map repeats it: its number, name, profile link, and what else it says."""
    found = []
    for card in page.results():
        heading = card.html.split("<h2", 1)[1].split("</h2>", 1)[0]
        (link,) = Page("<h2" + heading + "</h2>").links
        number = card.html.split('class="result-number" aria-hidden="true">', 1)[1].split("<", 1)[0]
        found.append({"number": int(number), "name": link.text, "url": link.href, "text": card.text, "card": card})
    return found


def add_three_centers(session) -> None:
    add_centers(
        session,
        center_record(name="Near <One> & Co", street1="211 E Ontario St", zip="60611", **at(41.8932, -87.6213)),
        center_record(
            name="Middle One", street1="400 W Randolph St", street2="Suite 300", zip="60606", **at(41.8846, -87.6386)
        ),
        center_record(name="Far One", street1="2500 N Clybourn Ave", zip="60614", **at(41.9271, -87.6707)),
    )


def at(latitude: float, longitude: float) -> dict[str, float]:
    return {"latitude": latitude, "longitude": longitude}


def test_results_map_has_each_card_numbered_named_and_linked_as_the_list(client, session):
    add_three_centers(session)
    page = Page(client.get("/search?near=60601").data)
    shown = map_data(page)
    listed = cards(page)
    assert [c["name"] for c in listed] == ["Near <One> & Co", "Middle One", "Far One"]
    assert [(m["number"], m["name"], m["url"]) for m in shown["markers"]] == [
        (c["number"], c["name"], c["url"]) for c in listed
    ]
    assert [c["number"] for c in listed] == [1, 2, 3]
    assert [(m["latitude"], m["longitude"]) for m in shown["markers"]] == [
        (41.8932, -87.6213),
        (41.8846, -87.6386),
        (41.9271, -87.6707),
    ]
    assert set(shown["markers"][0]) == {"number", "name", "latitude", "longitude", "url"}
    assert shown["place"] == {"name": "60601 (Chicago, IL)", "latitude": 41.8858, "longitude": -87.6181}
    assert "<One>" not in page.html  # the name is escaped in the JSON as in the card
    region = page.find("div", id="map")
    assert region.attrs["role"] == "region" and region.attrs["aria-label"]
    assert "hidden" in region.attrs  # until static/map.js draws it: without JavaScript the list is the page
    assert region.attrs["data-states-url"] == "/vendor/states-10m.json" and "data-tile-url" not in region.attrs


def test_results_map_numbers_continue_on_later_pages(client, session):
    add_three_centers(session)
    page = Page(client.get("/search?near=60601&per_page=2&page=2").data)
    assert [(m["number"], m["name"]) for m in map_data(page)["markers"]] == [(3, "Far One")]
    assert [(c["number"], c["name"]) for c in cards(page)] == [(3, "Far One")]
    assert page.find("ol", class_="results").attrs["start"] == "3"


def test_result_cards_give_the_street_address_and_directions(client, session):
    add_three_centers(session)
    listed = cards(Page(client.get("/search?near=60601").data))
    middle = listed[1]
    assert "1.1 miles away · 400 W Randolph St, Suite 300, Chicago, IL 60606" in middle["text"]
    directions = middle["card"].link("Directions to Middle One on OpenStreetMap")
    assert directions.href == "https://www.openstreetmap.org/directions?to=41.8846,-87.6386"
    assert "211 E Ontario St, Chicago, IL 60611" in listed[0]["text"]


def test_the_maps_files_come_from_the_site_itself(client, session):
    add_three_centers(session)
    page = Page(client.get("/search?near=60601").data)
    sources = [attrs.get("src") for attrs, _ in page.scripts if attrs.get("src")]
    assert sources == ["/vendor/leaflet.js", "/vendor/topojson-client.js", "/static/map.js"]
    assert "/vendor/leaflet.css" in [e.attrs.get("href") for e in page.find_all("link")]
    assert "unpkg" not in page.html and "cdn" not in page.html.lower()


def test_no_results_no_map(client, session):
    page = Page(client.get("/search?near=60601").data)
    assert "No centers found" in page.text
    assert not page.find_all("div", id="map")
    assert not [attrs for attrs, _ in page.scripts if attrs.get("src")]


def test_profile_map_has_the_center_and_the_place_searched_when_opened_from_results(client, session):
    add_three_centers(session)
    results = cards(Page(client.get("/search?near=60601").data))
    page = Page(client.get(results[1]["url"]).data)
    assert map_data(page) == {
        "markers": [{"name": "Middle One", "latitude": 41.8846, "longitude": -87.6386}],
        "place": {"name": "60601 (Chicago, IL)", "latitude": 41.8858, "longitude": -87.6181},
    }
    assert page.find("div", id="map").attrs["aria-label"] == (
        "Map of Middle One and 60601 (Chicago, IL), the place you searched"
    )
    plain = Page(client.get(results[1]["url"].split("?")[0]).data)
    assert map_data(plain)["place"] is None
    assert plain.find("div", id="map").attrs["aria-label"] == "Map of Middle One"


@pytest.mark.parametrize("name", sorted(FRONTEND_FILES))
def test_the_maps_files_are_served_from_the_installed_packages(client, name):
    installed = NODE_MODULES / FRONTEND_FILES[name]
    if not installed.exists():
        skip_missing_service(f"{installed} is not installed (scripts/run.sh and scripts/test.sh run npm ci)")
    response = client.get(f"/vendor/{name}")
    assert response.status_code == 200
    assert response.mimetype == CONTENT_TYPES[Path(name).suffix]
    assert response.data == installed.read_bytes()


@pytest.mark.parametrize(
    "path", ["/vendor/package.json", "/vendor/leaflet-src.js", "/vendor/..%2Fpackage.json", "/vendor/images/layers.png"]
)
def test_nothing_else_of_the_packages_is_served(client, path):
    assert client.get(path).status_code == 404


def test_the_policy_allows_images_from_the_site_only_without_a_tile_server(client):
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "img-src 'self' data:;" in csp
    assert "style-src 'self';" in csp and "script-src 'self';" in csp and "unsafe" not in csp


@pytest.mark.parametrize(
    ("tile_url", "image_source"),
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png?key=abc", "https://*.tile.example.org"),
        ("http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png", "http://127.0.0.1:8080"),
    ],
)
def test_map_tile_url_opens_the_policy_to_that_servers_images_only(tmp_path, tile_url, image_source):
    app = make_app(database_url(tmp_path), MAP_TILE_URL=tile_url, MAP_ATTRIBUTION='© "Tiles" <Inc>')
    client = app.test_client()
    with app.app_context():
        from directory.extensions import db

        add_centers(db.session, center_record())
    response = client.get("/search?near=60601")
    csp = response.headers["Content-Security-Policy"]
    assert f"img-src 'self' data: {image_source};" in csp
    assert "script-src 'self';" in csp and "connect-src" not in csp  # tiles are images: nothing else opens
    region = Page(response.data).find("div", id="map")
    assert region.attrs["data-tile-url"] == tile_url
    assert region.attrs["data-attribution"] == '© "Tiles" <Inc>'
    assert "&lt;Inc&gt;" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "tile_url",
    [
        "tile.openstreetmap.org/{z}/{x}/{y}.png",
        "ftp://tiles.example.org/{z}/{x}/{y}.png",
        "https://tiles.example.org/{z}/{x}.png",
        "https://tiles.{s}.example.org/{z}/{x}/{y}.png",
        "https://user@tiles.example.org/{z}/{x}/{y}.png",
        "https:///{z}/{x}/{y}.png",
    ],
)
def test_a_tile_url_that_is_not_a_tile_servers_stops_the_app_saying_what_is_accepted(tmp_path, tile_url):
    with pytest.raises(ValueError, match=r"MAP_TILE_URL=.* use an http or https URL with \{z\}, \{x\} and \{y\}"):
        make_app(database_url(tmp_path), MAP_TILE_URL=tile_url, MAP_ATTRIBUTION="Tiles")


def test_a_tile_url_without_its_attribution_stops_the_app(tmp_path):
    with pytest.raises(ValueError, match="MAP_ATTRIBUTION is empty"):
        make_app(database_url(tmp_path), MAP_TILE_URL="https://tile.openstreetmap.org/{z}/{x}/{y}.png")


def test_map_settings_come_from_the_environment(monkeypatch, tmp_path):
    from directory.config import from_environment

    monkeypatch.setenv("MAP_TILE_URL", " https://tile.openstreetmap.org/{z}/{x}/{y}.png ")
    monkeypatch.setenv("MAP_ATTRIBUTION", "© OpenStreetMap contributors")
    settings = from_environment(str(tmp_path))
    assert settings["MAP_TILE_URL"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert settings["MAP_ATTRIBUTION"] == "© OpenStreetMap contributors"
    monkeypatch.setenv("MAP_TILE_URL", "")
    assert from_environment(str(tmp_path))["MAP_TILE_URL"] is None
