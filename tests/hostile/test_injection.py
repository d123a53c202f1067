"""SQL injection and XSS strings in every text field of every form and JSON body.

Stored: the strings are saved wherever the app keeps text (a center's profile from the portal and
the API, claims, intakes from the API and the form, decline and cancel reasons, API token names),
then every page is fetched as every role: no page may hold a live script, event handler or
javascript: link, the API must give the strings back exactly, and the tables must all still be there.
Reflected: the strings sent to every form and search that shows its input again come back escaped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote_plus

import pytest
from markupsafe import escape
from sqlalchemy import select

from directory.extensions import db
from directory.models import Center, Offer, User
from tests.hostile.conftest import ACCOUNTS, World, intake
from tests.hostile.routes import FORM_DATA, routes, state, url_for_rule

SQLI = ["' OR 1=1 --", "'; DROP TABLE centers; --", '" OR ""="']
XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)"]
PAYLOADS = SQLI + XSS
#: Every payload in one value, for the fields long enough to hold it (140 characters).
ALL = " ".join(PAYLOADS)
ALL_REVERSED = " ".join(reversed(PAYLOADS))
XSS_ONLY = " ".join(XSS)  # 77 characters: for the city (at most 100)
HOSTILE_WEBSITE = 'https://a.example.org/"><script>alert(1)</script>'
NOT_WEB_ADDRESSES = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "javascript://a.example.org/%0Aalert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
]


class _LiveScript(HTMLParser):
    """What a browser would run in a page: inline scripts, on* handlers, javascript: links."""

    URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in self.URL_ATTRIBUTES and re.match(r"\s*(javascript|vbscript|data):", value or "", re.I):
                self.found.append(f"<{tag} {name}={value!r}>")
        # A JSON data block (the maps' markers) is data, not run; a payload breaking out of it would
        # end the block early and show up as live markup after it.
        if tag == "script" and dict(attrs).get("type") != "application/json":
            self._script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = False

    def handle_data(self, data: str) -> None:
        if self._script and data.strip():
            self.found.append(f"<script>{data.strip()[:60]}</script>")


def assert_safe(response: Any, what: str) -> None:
    """No server error; HTML with nothing live from the payloads; JSON served as JSON."""
    assert response.status_code < 500, f"{what}: {response.status_code}"
    body = response.get_data(as_text=True)
    if response.mimetype == "text/html":
        for payload in XSS[:2]:
            assert payload not in body, f"{what}: {payload!r} is in the page unescaped"
        scan = _LiveScript()
        scan.feed(body)
        assert not scan.found, f"{what}: the page would run {scan.found}"
    elif response.mimetype != "application/json" and any(p in body for p in XSS[:2]):
        pytest.fail(f"{what}: a payload is served as {response.mimetype}")


def ok(response: Any, status: int | tuple[int, ...], what: str) -> Any:
    expected = status if isinstance(status, tuple) else (status,)
    assert response.status_code in expected, f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    assert_safe(response, what)
    return response


def _json_ok(response: Any, status: int, what: str) -> dict:
    ok(response, status, what)
    assert response.mimetype == "application/json"
    return response.get_json()


def store_everywhere(world: World) -> dict[str, Any]:
    """Save the payloads in every text the app stores; returns what the API must give back."""
    a, b = world.centers["a"], world.centers["b"]
    staff_a, staff_b, sender, admin = (world.client(w) for w in ("staff_a", "staff_b", "referral_staff", "admin"))

    # An edit's city must be a town of its ZIP code: a payload there is refused, its message escaped.
    profile = {"name": ALL, "alt_name": ALL, "street1": ALL, "street2": ALL_REVERSED, "city": XSS_ONLY,
               "state": "IL", "zip": "60601", "phone": "(312) 555-0100", "website": HOSTILE_WEBSITE}  # fmt: skip
    ok(staff_a.post(f"/portal/centers/{a}/edit", data=profile), 400, "portal edit, a city not of the ZIP code")
    ok(staff_a.post(f"/portal/centers/{a}/edit", data={**profile, "city": "Chicago"}), 302, "portal edit")
    api_profile = {"name": ALL_REVERSED, "alt_name": ALL, "street1": ALL_REVERSED, "street2": ALL,
                   "city": " ".join(SQLI)}  # fmt: skip
    _json_ok(staff_b.patch(f"/api/v1/centers/{b}", json=api_profile, headers=world.bearer("staff_b")), 400,
             "API edit, a city not of the ZIP code")  # fmt: skip
    api_profile["city"] = "Chicago"
    _json_ok(staff_b.patch(f"/api/v1/centers/{b}", json=api_profile, headers=world.bearer("staff_b")), 200, "API edit")
    # An import stores any city, so the pages must still escape one.
    with world.app.app_context():
        db.session.get(Center, a).city = XSS_ONLY
        db.session.get(Center, b).city = " ".join(SQLI)
        db.session.commit()
    api_profile["city"] = " ".join(SQLI)
    ok(staff_a.post(f"/portal/claims/new?center={b}", data={"message": ALL}), 302, "claim")

    referral_ids = []
    for payload in PAYLOADS:
        body = intake(client_reference=payload, consent={**intake()["consent"], "recipients": ALL, "purpose": ALL})
        answer = _json_ok(sender.post("/api/v1/referrals", json=body, headers=world.bearer("referral_staff")), 202,
                          f"intake {payload!r}")  # fmt: skip
        referral_ids.append(answer["id"])
    form = {
        **FORM_DATA["staff.new_referral"],
        "client_reference": XSS[1],
        "consent_recipients": ALL,
        "consent_purpose": ALL,
        "send_anyway": "y",
    }  # fmt: skip  (the API loop sent this reference too)
    ok(sender.post("/referrals/new", data=form), 302, "intake form")

    bearer_a = world.bearer("staff_a")
    _json_ok(staff_a.post(f"/api/v1/offers/{world.offer_id}/decline", json={"reason": ALL}, headers=bearer_a), 200,
             "API decline")  # fmt: skip
    with world.app.app_context():
        open_to_b = db.session.scalars(
            select(Offer.id).where(Offer.center_id == b, Offer.status == "offered").order_by(Offer.id)
        ).all()
    assert open_to_b, "the declined referral went on to center B"
    ok(staff_b.post(f"/portal/offers/{open_to_b[0]}/decline", data={"reason": XSS_ONLY}), 302, "portal decline")
    ok(sender.post(f"/referrals/{referral_ids[0]}/cancel", data={"reason": ALL}), 302, "cancel form")
    _json_ok(sender.post(f"/api/v1/referrals/{referral_ids[1]}/cancel", json={"reason": ALL_REVERSED},
                         headers=world.bearer("referral_staff")), 200, "API cancel")  # fmt: skip
    ok(sender.post("/account/api-tokens", data={"name": ALL[:100]}), 201, "token name")
    ok(admin.post("/admin/invitations/new", data={"email": "new.person@example.org", "role": "center_staff",
                                                  "centers": str(b)}), 302, "invitation")  # fmt: skip
    return {"a": {**profile, "city": XSS_ONLY}, "b": api_profile, "referrals": referral_ids}


def crawl(world: World) -> int:
    """Every page and GET endpoint, as everyone; returns how many answered 200."""
    pages = 0
    for rule, method in routes(world.app):
        if method != "GET":
            continue
        for who in ("anonymous", *ACCOUNTS):
            is_api = rule.rule.startswith("/api/")
            client = world.client("anonymous" if is_api else who)
            headers = world.bearer(who) if is_api else {}
            response = client.get(url_for_rule(world, rule), headers=headers)
            assert_safe(response, f"GET {rule.rule} as {who}")
            pages += response.status_code == 200
    return pages


def test_stored_payloads_come_back_escaped_in_pages_and_exact_in_json(world):
    tables = world.tables()
    stored = store_everywhere(world)
    assert crawl(world) > 60

    # The pages that show the stored text, as those who may see it.
    detail = world.client("referral_staff")
    for referral_id in stored["referrals"]:
        ok(detail.get(f"/referrals/{referral_id}"), 200, "the sender's referral page")
        view = _json_ok(detail.get(f"/api/v1/referrals/{referral_id}", headers=world.bearer("referral_staff")), 200,
                        "the sender's referral JSON")  # fmt: skip
        assert view["client_reference"] in PAYLOADS
    offers = world.client("staff_a").get("/portal/offers")
    ok(offers, 200, "portal offers")
    with world.app.app_context():
        for offer_id in db.session.scalars(select(Offer.id)):
            ok(world.client("admin").get(f"/portal/offers/{offer_id}"), 200, "an offer, as an admin")

    # JSON gives back exactly what was saved; the database holds it as it was typed.
    for key in ("a", "b"):
        center = world.client().get(f"/api/v1/centers/{world.centers[key]}").get_json()
        for name, value in stored[key].items():
            if name not in ("state", "zip", "phone"):
                assert center[name] == value, (name, center[name], value)
        page = world.client().get(f"/centers/{center['slug']}")
        ok(page, 200, "public profile")
        assert str(escape(stored[key]["name"])) in page.get_data(as_text=True)
    results = world.client().get("/api/v1/centers/search", query_string={"near": "60601"}).get_json()
    assert {r["name"] for r in results["results"]} == {ALL, ALL_REVERSED}

    assert world.tables() == tables
    with world.app.app_context():
        assert db.session.scalar(select(Center.name).where(Center.id == world.centers["a"])) == ALL
        assert len(db.session.scalars(select(User.id)).all()) == len(ACCOUNTS)


@pytest.mark.parametrize("website", NOT_WEB_ADDRESSES)
def test_a_website_must_be_a_web_address(world, website):
    a = world.centers["a"]
    form = {**FORM_DATA["portal.edit_center"], "name": "Center A", "website": website}
    page = world.client("staff_a").post(f"/portal/centers/{a}/edit", data=form)
    ok(page, 400, "portal edit")
    assert "web address" in page.get_data(as_text=True)
    api = world.client().patch(f"/api/v1/centers/{a}", json={"website": website}, headers=world.bearer("staff_a"))
    assert _json_ok(api, 400, "API edit")["fields"]["website"]
    assert world.client().get(f"/api/v1/centers/{a}").get_json()["website"] == "https://a.example.org"


@pytest.mark.parametrize("website", NOT_WEB_ADDRESSES)
def test_a_stored_website_that_is_not_a_web_address_is_never_a_link(world, website):
    """Whatever got into the database some other way (an old import, a hand edit) is not linked."""
    with world.app.app_context():
        db.session.get(Center, world.centers["a"]).website = website
        db.session.commit()
    for who in ("anonymous", "staff_a", "admin"):
        for path in (f"/centers/{world.slugs['a']}", f"/portal/centers/{world.centers['a']}/", "/search?near=60601"):
            assert_safe(world.client(who).get(path), f"GET {path} as {who}")


def _reflections(world: World, payload: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(who, method, path, request arguments) for every form and query that may show its input again."""
    a, offer = world.centers["a"], world.offer_id
    intake_fields = ("client_reference", "location", "contact_phone", "max_distance_miles", "last_opioid_use",
                     "consent_expires_on")  # fmt: skip
    long_enough = dict.fromkeys(intake_fields, payload)
    return [
        ("anonymous", "GET", "/", {"query_string": {"near": payload, "radius_miles": payload}}),
        ("anonymous", "GET", "/search", {"query_string": {"near": payload, "page": payload, "sort": payload}}),
        ("anonymous", "GET", "/search", {"query_string": {"near": "60601", "medication": payload}}),
        ("anonymous", "GET", "/api/v1/centers/search", {"query_string": {"near": payload}}),
        ("anonymous", "GET", "/login", {"query_string": {"next": payload}}),
        ("anonymous", "POST", "/login", {"data": {"email": payload, "password": payload, "next": payload}}),
        ("anonymous", "POST", "/password/forgot", {"data": {"email": payload}}),
        ("anonymous", "POST", f"/password/reset/{world.reset_token}", {"data": {"password": payload, "confirm": ""}}),
        ("anonymous", "GET", f"/password/reset/{payload}", {}),
        ("anonymous", "GET", f"/invitations/{payload}", {}),
        ("anonymous", "GET", f"/centers/{payload}", {}),
        ("staff_a", "GET", "/portal/", {"query_string": {"name": payload, "zip": payload}}),
        ("staff_a", "GET", "/portal/", {"query_string": {"name": payload}}),
        ("staff_a", "POST", f"/portal/centers/{a}/edit", {"data": {"name": payload, "zip": payload, "phone": payload,
                                                                   "latitude": payload, "state": payload}}),
        ("staff_a", "POST", f"/portal/centers/{a}/capacity", {"data": {"accepting_referrals": payload,
                                                                       "beds_available": payload}}),
        ("staff_a", "POST", f"/portal/offers/{offer}/accept", {"data": {"admission_date": payload}}),
        ("staff_a", "POST", f"/portal/claims/new?center={payload}", {"data": {"message": payload}}),
        ("staff_a", "PATCH", f"/api/v1/centers/{a}", {"json": {"zip": payload, "phone": payload, "state": payload},
                                                      "headers": world.bearer("staff_a")}),
        ("staff_a", "POST", f"/api/v1/offers/{offer}/accept", {"json": {"admission_date": payload},
                                                               "headers": world.bearer("staff_a")}),
        ("referral_staff", "POST", "/referrals/new", {"data": {**FORM_DATA["staff.new_referral"], **long_enough}}),
        ("referral_staff", "POST", "/api/v1/referrals", {"json": intake(location=payload, payment=payload,
                                                                        language=payload, populations=[payload]),
                                                         "headers": world.bearer("referral_staff")}),
        ("referral_staff", "GET", f"/referrals/{payload}", {}),
        ("referral_staff", "GET", "/api/v1/referrals", {"query_string": {"page": payload},
                                                        "headers": world.bearer("referral_staff")}),
        ("referral_staff", "POST", "/account/api-tokens", {"data": {"name": payload * 20}}),
        ("referral_staff", "POST", "/account/password", {"data": {"current_password": payload,
                                                                  "new_password": payload, "confirm": payload}}),
        ("admin", "GET", "/admin/invitations/new", {"query_string": {"find": payload}}),
        ("admin", "POST", "/admin/invitations/new", {"data": {"email": payload, "role": payload, "centers": payload}}),
        ("admin", "GET", "/admin/audit", {"query_string": {"entity_type": payload, "entity_id": payload,
                                                           "actor": payload, "page": payload}}),
    ]  # fmt: skip


@pytest.mark.parametrize("payload", PAYLOADS)
def test_reflected_payloads_are_escaped_and_change_nothing(world, payload):
    tables = world.tables()
    for who, method, path, kwargs in _reflections(world, payload):
        client = world.client("anonymous" if path.startswith("/api/") else who)
        response = client.open(path, method=method, **kwargs)
        assert_safe(response, f"{method} {path} as {who} with {payload!r}")
        if path.startswith("/api/"):
            assert response.mimetype == "application/json", f"{method} {path}: {response.mimetype}"
    assert world.tables() == tables
    with world.app.app_context():
        names = set(db.session.scalars(select(Center.name)))
    assert names == {"Center A", "Center B"}


def _stores(world: World, text: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(who, method, path, request arguments) for every request that saves free text."""
    a, b, offer, referral = world.centers["a"], world.centers["b"], world.offer_id, world.referral_id
    consent = intake()["consent"]
    return [
        ("staff_a", "POST", f"/portal/centers/{a}/edit", {"data": {**FORM_DATA["portal.edit_center"], "name": text}}),
        ("staff_a", "PATCH", f"/api/v1/centers/{a}", {"json": {"street2": text}, "headers": world.bearer("staff_a")}),
        ("staff_a", "POST", f"/portal/claims/new?center={b}", {"data": {"message": text}}),
        ("staff_a", "POST", f"/portal/offers/{offer}/decline", {"data": {"reason": text}}),
        ("staff_a", "POST", f"/api/v1/offers/{offer}/decline", {"json": {"reason": text},
                                                                "headers": world.bearer("staff_a")}),
        ("referral_staff", "POST", f"/referrals/{referral}/cancel", {"data": {"reason": text}}),
        ("referral_staff", "POST", f"/api/v1/referrals/{referral}/cancel", {"json": {"reason": text},
                                                                            "headers": world.bearer("referral_staff")}),
        ("referral_staff", "POST", "/api/v1/referrals", {"json": intake(consent={**consent, "purpose": text}),
                                                         "headers": world.bearer("referral_staff")}),
        ("referral_staff", "POST", "/account/api-tokens", {"data": {"name": text}}),
        ("admin", "POST", "/admin/invitations/new", {"data": {"email": f"{text}@example.org", "role": "admin"}}),
        ("anonymous", "POST", "/password/forgot", {"data": {"email": f"{text}@example.org"}}),
    ]  # fmt: skip


def test_nul_characters_are_refused_everywhere(world):
    """PostgreSQL cannot hold or compare text with a NUL in it: every request carrying one is refused (400)."""
    nul = "a\x00b"
    before, tables = state(world.app), world.tables()
    for who, method, path, kwargs in [*_reflections(world, nul), *_stores(world, nul)]:
        client = world.client("anonymous" if path.startswith("/api/") else who)
        response = client.open(path, method=method, **kwargs)
        assert response.status_code == 400, f"{method} {path!r} as {who}: {response.status_code}"
    assert state(world.app) == before
    assert world.tables() == tables


def _page_without(response: Any, value: str) -> str:
    """A page with every echo of the searched value taken out, to compare with another search's page."""
    text = response.get_data(as_text=True)
    for shown in {value, str(escape(value)), value.replace(" ", "+"), quote_plus(value)}:  # quoted: language links
        text = text.replace(shown, "")
    return re.sub(r'<input[^>]*name="csrf_token"[^>]*>', "", text)  # signed with the time


@pytest.mark.parametrize("payload", SQLI)
def test_sql_in_a_search_matches_nothing(world, payload):
    """A search for SQL finds what a search for gibberish finds: nothing (not every row)."""
    searches = [
        ("staff_a", "/portal/", "name"),
        ("admin", "/admin/invitations/new", "find"),
        ("admin", "/admin/audit", "actor"),
    ]
    for who, path, parameter in searches:
        client = world.client(who)
        injected = client.get(path, query_string={parameter: payload})
        gibberish = client.get(path, query_string={parameter: "qqqzzz"})
        assert injected.status_code == gibberish.status_code == 200, path
        assert _page_without(injected, payload) == _page_without(gibberish, "qqqzzz"), path
    api = world.client().get("/api/v1/centers/search", query_string={"near": payload})
    assert api.status_code == 400
