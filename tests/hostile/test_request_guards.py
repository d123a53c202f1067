"""Posts without a CSRF token, and bodies over MAX_CONTENT_LENGTH, on every route that takes them
(from the URL map): refused (400, 413) before anything is written.

The API takes no CSRF token because it never takes the session cookie: a forged cross-site post
to it carries no bearer token, so it is refused as anonymous (401)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest

from directory.errors import JSON_PREFIXES
from directory.extensions import db
from directory.request_guards import MAX_JSON_DEPTH
from tests.hostile.conftest import World, copy_of_world
from tests.hostile.routes import FORM_DATA, JSON_BODY, ROUTE_APP, routes, rule_named, send, state, url_for_rule

WRITES = [(rule.endpoint, method) for rule, method in routes(ROUTE_APP) if method in ("POST", "PUT", "PATCH", "DELETE")]
FORM_WRITES = [(endpoint, method) for endpoint, method in WRITES if not endpoint.startswith("api.")]
API_WRITES = [(endpoint, method) for endpoint, method in WRITES if endpoint.startswith("api.")]

#: Who may use each form route, so the only thing wrong with the post is the missing token.
OWNER = {"staff.": "referral_staff", "portal.": "staff_a", "admin.": "admin"}


def owner(endpoint: str) -> str:
    if endpoint in ("auth.login", "auth.forgot_password", "auth.reset_password", "auth.accept_invitation"):
        return "anonymous"
    return next((who for prefix, who in OWNER.items() if endpoint.startswith(prefix)), "referral_staff")


@pytest.fixture
def csrf_world(world_template, tmp_path) -> Iterator[World]:
    """The world, with CSRF protection on as in production."""
    world = copy_of_world(world_template, tmp_path, WTF_CSRF_ENABLED=True)
    yield world
    with world.app.app_context():
        db.engine.dispose()


def test_form_and_api_writes_are_all_known():
    assert FORM_WRITES and API_WRITES
    assert len(FORM_WRITES) + len(API_WRITES) == len(WRITES)


@pytest.mark.parametrize(("endpoint", "method"), FORM_WRITES, ids=[f"{m} {e}" for e, m in FORM_WRITES])
def test_a_form_post_without_its_csrf_token_is_refused(csrf_world, endpoint, method):
    rule = rule_named(csrf_world.app, endpoint)
    who = owner(endpoint)
    client = csrf_world.client(who)
    # A page with a form first, so the session holds a token: only the post lacks it.
    page = client.get("/login" if who == "anonymous" else "/account").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    url = url_for_rule(csrf_world, rule)
    before = state(csrf_world.app)
    for sent in (None, "forged", "", token[:-2]):
        extra = {} if sent is None else {"csrf_token": sent}
        response = client.open(url, method=method, data={**FORM_DATA.get(endpoint, {}), **extra})
        assert response.status_code == 400, f"{method} {rule.rule} as {who} with token {sent!r}"
        assert state(csrf_world.app) == before, f"{method} {rule.rule} changed something without a CSRF token"
    # And with the token, the same post gets past the check (so the 400s above were the token's).
    response = client.open(url, method=method, data={**FORM_DATA.get(endpoint, {}), "csrf_token": token})
    assert response.status_code != 400 or "CSRF" not in response.get_data(as_text=True), f"{method} {rule.rule}"


# The tests below change nothing when the app is right, so each goes through every route on one
# world (a copy per route would be slow on PostgreSQL) and names every route that got it wrong.


def test_the_api_ignores_the_session_cookie(csrf_world):
    """What a cross-site post to the API would carry: the cookie, not the token."""
    client = csrf_world.client("admin")
    before, wrong = state(csrf_world.app), []
    for endpoint, method in API_WRITES:
        rule = rule_named(csrf_world.app, endpoint)
        url = url_for_rule(csrf_world, rule)
        for body in ({"json": JSON_BODY.get(endpoint, {})}, {"data": {"reason": "x"}}):
            response = client.open(url, method=method, headers={}, **body)
            if response.status_code != 401:
                wrong.append(f"{method} {rule.rule} with an admin's cookie: {response.status_code}")
        if state(csrf_world.app) != before:
            wrong.append(f"{method} {rule.rule} changed something")
    assert not wrong, "\n".join(wrong)


def test_a_body_over_the_limit_is_refused_with_413(world):
    limit = world.app.config["MAX_CONTENT_LENGTH"]
    big_text = "x" * (limit + 1)
    before, wrong = state(world.app), []
    for endpoint, method in WRITES:
        rule = rule_named(world.app, endpoint)
        is_api = endpoint.startswith("api.")
        bodies = {
            "form or JSON": {"json": {"reason": big_text, "name": big_text}}
            if is_api
            else {"data": {**FORM_DATA.get(endpoint, {}), "x": big_text}},
            "raw": {"data": b"{" + b" " * limit + b"}", "content_type": "application/json"},
            # In chunks, without a Content-Length: counted as it is read.
            "chunked": {
                "input_stream": io.BytesIO(b"x=" + b"y" * (limit + 10)),
                "content_type": "application/x-www-form-urlencoded",
                "headers": {"Transfer-Encoding": "chunked"},
                "environ_overrides": {"wsgi.input_terminated": True},
            },
        }
        for kind, body in bodies.items():
            response = send(world, rule, method, "admin" if is_api else owner(endpoint), **body)
            if response.status_code != 413:
                wrong.append(f"{method} {rule.rule}, {kind}: {response.status_code}")
        if state(world.app) != before:
            wrong.append(f"{method} {rule.rule} wrote something from an oversized body")
            before = state(world.app)
    assert not wrong, "\n".join(wrong)


#: Numbers no id, page or count can be: past 32 and 64 bits, other scripts' digits, signs, exponents.
BAD_NUMBERS = ["2147483648", "9999999999", "9223372036854775808", "9" * 30, "²", "١٢", "-1", "1e3", " 1", "0x10"]
ID_ROUTES = [(rule.endpoint, method) for rule, method in routes(ROUTE_APP) if "<int:" in rule.rule]


def test_an_id_no_record_can_have_is_not_found(world):
    assert ID_ROUTES
    wrong = []
    for endpoint, method in ID_ROUTES:
        rule = rule_named(world.app, endpoint)
        for number in BAD_NUMBERS:
            url = url_for_rule(world, rule, **{name: number for name in rule.arguments if name.endswith("_id")})
            response = send(world, rule, method, "admin", url=url)
            if response.status_code not in (404, 405):
                wrong.append(f"{method} {url}: {response.status_code}")
    assert not wrong, "\n".join(wrong)


def test_numbers_in_query_strings_and_forms_are_checked(world):
    checks = [
        ("admin", "/api/v1/referrals", "page", (400,)),
        ("admin", "/api/v1/referrals", "per_page", (400,)),
        ("anonymous", "/api/v1/centers/search", "page", (400,)),
        ("anonymous", "/api/v1/centers/search", "per_page", (400,)),
        ("anonymous", "/api/v1/centers/search", "radius_miles", (200, 400)),
        ("anonymous", "/search", "page", (400,)),
        ("admin", "/admin/audit", "page", (200, 400)),
        ("admin", "/admin/audit", "entity_id", (200,)),
        ("staff_a", "/portal/claims/new", "center", (404,)),
    ]
    for who, path, parameter, expected in checks:
        for number in BAD_NUMBERS:
            is_api = path.startswith(("/api/", "/fhir/"))
            client = world.client("anonymous" if is_api else who)
            query = {"near": "60601", parameter: number} if "search" in path else {parameter: number}
            response = client.get(path, query_string=query, headers=world.bearer(who) if is_api else {})
            # The search form reads a number as Python does: "١٢" (other digits) and " 1" are fine.
            allowed = (*expected, 200) if "search" in path and 1 <= _as_int(number) <= 100 else expected
            assert response.status_code in allowed, f"{path} {parameter}={number!r}: {response.status_code}"
    admin = world.client("admin")
    for number in [n for n in BAD_NUMBERS if n == n.strip()]:  # " 1" is a fine list of ids
        form = {"email": "someone@example.org", "role": "center_staff", "centers": number}
        response = admin.post("/admin/invitations/new", data=form)
        assert response.status_code == 400, f"invite centers={number!r}: {response.status_code}"
        assert "not a center id" in response.get_data(as_text=True)


def _as_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1


#: Bodies declared as JSON that no route may take: too deep for Python's parser (which recurses once
#: per level), past MAX_JSON_DEPTH, and not JSON at all.
BAD_JSON_BODIES = {
    "arrays 3,000 deep": b"[" * 3000 + b"]" * 3000,
    "objects 3,000 deep": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    f"arrays {MAX_JSON_DEPTH + 1} deep": b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
    "a trailing comma": b'{"name": "x",}',
    "cut short": b'{"reason": "No beds',
    "not UTF-8": b'{"reason": "\xff\xfe"}',
}


def test_a_json_body_too_deep_or_not_json_is_refused_with_400_on_every_route(world):
    before, wrong = state(world.app), []
    for rule, method in routes(world.app):
        is_api = rule.rule.startswith(("/api/", "/fhir/"))
        for who in ("anonymous", "admin" if is_api else owner(rule.endpoint)):
            for kind, body in BAD_JSON_BODIES.items():
                response = send(world, rule, method, who, data=body, content_type="application/json")
                where = f"{method} {rule.rule} as {who}, {kind}"
                if response.status_code != 400:
                    wrong.append(f"{where}: {response.status_code}")
                    continue
                if rule.rule.startswith("/fhir/"):  # an OperationOutcome
                    assert response.mimetype == "application/fhir+json", where
                    message = response.get_json()["issue"][0]["diagnostics"]
                elif rule.rule.startswith(JSON_PREFIXES):
                    message = response.get_json()["error"]
                else:
                    assert response.mimetype == "text/html", where
                    message = response.get_data(as_text=True)
                expected = "nests objects and arrays too deeply" if "deep" in kind else "is not valid JSON"
                if expected not in message:
                    wrong.append(f"{where}: the message does not say what was wrong")
    assert state(world.app) == before
    assert not wrong, "\n".join(wrong)


def test_the_json_message_says_where_and_what_is_accepted(world):
    client = world.client()
    response = client.post("/api/v1/referrals", data=b'{"reason": "x",}', content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == (
        "The request body is not valid JSON (line 1, column 16: Expecting property name enclosed in double "
        "quotes): send a JSON object, with Content-Type: application/json."
    )
    response = client.post("/api/v1/referrals", data=b"[" * 40 + b"]" * 40, content_type="application/json")
    assert response.get_json()["error"] == (
        f"The request body's JSON nests objects and arrays too deeply: at most {MAX_JSON_DEPTH} levels are accepted."
    )


def test_json_as_deep_as_accepted_and_bodiless_requests_pass(world):
    client = world.client()
    deepest = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    for body in (deepest, b"null", b""):
        response = client.get("/api/v1/centers/search?near=60601", data=body, content_type="application/json")
        assert response.status_code == 200, body[:40]
