"""What every public page shares: the helpline, landmarks, phone-ready markup, and only our own assets."""

import json
import re

import pytest
from sqlalchemy import select

from directory.models import Center
from tests.factories import add_centers, center_record
from tests.public.pages import Page

PAGES = [
    ("/", 200),
    ("/?medication=naltrexone", 200),
    ("/search?near=60601&language=es", 200),
    ("/search?near=60601&medication=methadone", 200),
    ("/search?near=nowhere", 400),
    ("/medications", 200),
    ("/centers/{slug}", 200),
    ("/centers/{slug}/report", 200),
    ("/centers/missing", 404),
    ("/no/such/page", 404),
]


@pytest.fixture
def center_slug(session) -> str:
    add_centers(
        session,
        center_record(name="Layout Center", languages=["es"], website="https://layout.example.org"),
    )
    return session.scalar(select(Center.slug).where(Center.name == "Layout Center"))


@pytest.fixture(params=PAGES, ids=[path for path, _ in PAGES])
def page(request, client, center_slug) -> Page:
    path, status = request.param
    response = client.get(path.format(slug=center_slug))
    assert response.status_code == status
    assert response.mimetype == "text/html"
    return Page(response.data)


def test_every_page_has_the_helpline_in_its_footer(page):
    footer = re.search(r"<footer\b.*?</footer>", page.html, re.S)[0]
    links = [link.href for link in Page(footer).links]
    assert "tel:+18006624357" in links and "tel:988" in links
    assert "1-800-662-4357" in footer and "24 hours a day, 7 days a week" in footer and "988" in footer


def test_every_page_has_landmarks_one_heading_and_a_phone_viewport(page):
    assert page.find("html", lang="en")
    assert page.find("meta", name="viewport").attrs["content"] == "width=device-width, initial-scale=1"
    for landmark in ("header", "main", "footer", "nav"):
        assert page.find_all(landmark), landmark
    assert len(page.find_all("h1")) == 1
    assert page.find("a", class_="skip-link").attrs["href"] == "#main"
    assert page.find("main").attrs["id"] == "main"


def test_no_page_loads_anything_from_another_site(page):
    for element in page.elements:
        for attr in ("src", "href", "srcset", "data"):
            value = element.attrs.get(attr) or ""
            if element.tag == "a":
                continue  # links to other sites are fine; loading from them is not
            if element.tag == "link" and element.attrs.get("rel") == "alternate" and attr == "href":
                # The page in each language, by its full address (as hreflang wants): never loaded.
                assert value.startswith("http://localhost/"), value
                continue
            assert not re.match(r"\s*(https?:)?//", value), f"<{element.tag} {attr}={value!r}>"
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", page.html)
    assert not re.search(r"<link(?![^>]+rel=\"alternate\")[^>]+href=[\"']?(https?:)?//", page.html)
    assert "@import" not in page.html and "fonts.googleapis" not in page.html


def test_no_page_has_inline_script_handlers_or_styles(page):
    for attrs, body in page.scripts:
        if attrs.get("type") == "application/json":  # data a script reads (a map's markers): never run
            json.loads(body)
            continue
        assert attrs.get("src", "").startswith(("/static/", "/vendor/")), attrs
        assert body.strip() == ""
    for element in page.elements:
        assert not [name for name in element.attrs if name.startswith("on")], element
        assert "style" not in element.attrs, element
        assert not (element.attrs.get("href") or "").lower().startswith("javascript:")
    assert "<style" not in page.html


def test_every_asset_a_page_uses_is_served_by_the_app(page, client):
    assets = [a["src"] for a, _ in page.scripts if "src" in a] + [
        e.attrs["href"] for e in page.find_all("link") if e.attrs.get("rel") in ("stylesheet", "icon")
    ]
    assert "/static/site.css" in assets
    for url in assets:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    ("path", "mimetype", "sample"),
    [
        ("/static/site.css", "text/css", ":focus-visible"),
        ("/static/locate.js", "text/javascript", "navigator.geolocation"),
        ("/static/icon.svg", "image/svg+xml", "<svg"),
    ],
)
def test_static_files_are_served(client, path, mimetype, sample):
    response = client.get(path)

    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert sample in response.get_data(as_text=True)


def test_the_stylesheet_is_small_responsive_and_uses_no_outside_fonts(client):
    css = client.get("/static/site.css").get_data(as_text=True)

    assert len(css) < 20_000
    assert "@media" in css
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
