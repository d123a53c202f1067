"""IDOR: every route with an id, slug or token in its path, taken from the URL map (so a new route is
covered as soon as it exists), requested by people who have no business with that record: staff
of another center, another referral sender, other roles. They get 403 or 404, never the record's
data, and nothing changes."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import SECRET_PHONE, SECRET_REFERENCE
from tests.hostile.routes import ROUTE_APP, path_values, routes, rule_named, send, state, url_for_rule

#: Records anyone may read, by design: a center's public listing.
PUBLIC = {
    ("GET", "public.center_profile"),
    ("GET", "api.get_center"),
    ("GET", "public.report_listing"),  # anyone may report a problem with a listing
    ("POST", "public.report_listing"),
    *(
        ("GET", f"hsds.{name}")
        for name in ("service", "organization", "service_at_location", "taxonomy", "taxonomy_term")
    ),
}
#: Routes whose path token is itself the permission (an emailed link): tested with a forged token.
CAPABILITY_LINKS = {"auth.reset_password", "auth.accept_invitation"}

#: Who has no business with the record each path variable names (the world's owner is left out:
#: referral staff sent the referral, staff of A run center A and have its offer, admins run everything).
INTRUDERS = {
    "center_id": ("staff_b", "referral_staff", "other_referral_staff"),
    "referral_id": ("other_referral_staff", "staff_b"),
    "offer_id": ("staff_b", "referral_staff", "other_referral_staff"),
    "claim_id": ("referral_staff", "other_referral_staff", "staff_a", "staff_b"),
    "user_id": ("referral_staff", "other_referral_staff", "staff_a", "staff_b"),
    "token_id": ("other_referral_staff", "staff_a", "staff_b", "admin"),  # one's own tokens only, even for admins
    "report_id": ("staff_b", "referral_staff", "other_referral_staff"),  # a problem report on center A
}
#: Who may use a route although its id's kind names them an intruder: the sender reads its offers as FHIR Tasks.
ALSO_ALLOWED = {"fhir.task": {"referral_staff"}}
#: Path variables that name no record of anyone's.
NOT_A_RECORD = {"outcome"}
#: Path variables that name only what everyone may see (the HSDS API's ids of listings and terms).
PUBLIC_RECORDS = {"hsds_id"}

#: What only the record's owners ever see.
SECRETS = (SECRET_REFERENCE, SECRET_PHONE, "I work there", "referral_staff token", "referral_staff@example.org",
           "Moved to Elm Street")  # fmt: skip

ID_ROUTES = [
    (rule.endpoint, method)
    for rule, method in routes(ROUTE_APP)
    if rule.arguments and (method, rule.endpoint) not in PUBLIC and rule.endpoint not in CAPABILITY_LINKS
]


def test_every_path_variable_is_known():
    """A new kind of id in a path needs its intruders named here (and a value in routes.path_values)."""
    names = {name for rule, _ in routes(ROUTE_APP) for name in rule.arguments}
    known = set(INTRUDERS) | NOT_A_RECORD | PUBLIC_RECORDS | {"slug", "token"}
    assert names <= known, f"say who may not use these path variables: {sorted(names - known)}"
    links = {rule.endpoint: set(rule.arguments) for rule, _ in routes(ROUTE_APP) if rule.endpoint in CAPABILITY_LINKS}
    assert links == dict.fromkeys(CAPABILITY_LINKS, {"token"})


@pytest.mark.parametrize(("endpoint", "method"), ID_ROUTES, ids=[f"{m} {e}" for e, m in ID_ROUTES])
def test_other_people_get_403_or_404_and_nothing(world, endpoint, method):
    rule = rule_named(world.app, endpoint)
    intruders = {who for name in rule.arguments if name not in NOT_A_RECORD for who in INTRUDERS[name]}
    intruders -= ALSO_ALLOWED.get(endpoint, set())
    assert intruders, f"{endpoint}: no intruder to try"
    before = state(world.app)
    for who in ["anonymous", *sorted(intruders)]:
        response = send(world, rule, method, who)
        body = response.get_data(as_text=True)
        if who == "anonymous":
            is_api = rule.rule.startswith(("/api/", "/fhir/"))
            expected = 401 if is_api else 302
            assert response.status_code == expected, f"{method} {rule.rule} anonymous: {response.status_code}"
            assert is_api or "/login" in response.headers["Location"]
        else:
            assert response.status_code in (403, 404), f"{method} {rule.rule} as {who}: {response.status_code}"
        leaked = [secret for secret in SECRETS if secret in body]
        assert not leaked, f"{method} {rule.rule} as {who} shows {leaked}"
        assert state(world.app) == before, f"{method} {rule.rule} as {who} changed something"


@pytest.mark.parametrize("endpoint", sorted(CAPABILITY_LINKS))
@pytest.mark.parametrize("who", ["anonymous", "staff_b", "admin"])
def test_a_forged_link_token_is_refused_and_changes_nothing(world, endpoint, who):
    rule = rule_named(world.app, endpoint)
    real = path_values(world, rule)["token"]
    before = state(world.app)
    for forged in ("not-a-real-token", real[:-1] + ("A" if real[-1] != "A" else "B"), real + "x"):
        url = url_for_rule(world, rule, token=forged)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = send(world, rule, method, who, url=url)
            # The reset page's form may show for any link (it says nothing); using the link must fail.
            allowed = (200, 404, 410) if method == "GET" else (404, 410)
            assert response.status_code in allowed, f"{method} {url} as {who}: {response.status_code}"
            body = response.get_data(as_text=True)
            assert "invited@example.org" not in body and "referral_staff@example.org" not in body
    assert state(world.app) == before
