"""Every route and API endpoint x every role, generated from the app's URL map.

Each endpoint must have a policy below: a new route without one fails `test_every_route_has_a_policy`,
so no route can be forgotten. Each (route, method) is then requested as anonymous, referral
staff, staff of center A, staff of center B and admin, against center A's resources, and the
answer must be "allowed" or the right kind of "denied":

- anonymous: web pages redirect to /login, the API answers 401;
- a role that may never use the route: 403;
- staff of another center: 404 (and the attempt is in the audit log).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from directory.accounts.passwords import hash_password
from directory.accounts.service import create_invitation, issue_api_token
from directory.extensions import db
from directory.models import AuditEvent, Center, ListingClaim, ListingReport, Offer, Referral, User
from directory.models.base import utcnow
from directory.referrals.intake import validate_intake
from directory.referrals.presenters import ADMITTING_OFFER_FIELDS, CLOSED_OFFER_FIELDS, SHARED_OFFER_FIELDS
from directory.referrals.service import route_referral, submit_referral
from tests.conftest import make_app, sqlite_url
from tests.factories import PASSWORD, add_centers, center_record, days_from_today, hsds_id_for

ROLES = ("anonymous", "referral_staff", "staff_a", "staff_b", "admin")
ALLOWED, LOGIN, FORBIDDEN, NOT_FOUND = "allowed", "login", "forbidden", "not found"

# Who may use each endpoint.
EVERYONE = dict.fromkeys(ROLES, ALLOWED)
SIGNED_IN = {**EVERYONE, "anonymous": LOGIN}
ADMIN_ONLY = {"anonymous": LOGIN, "referral_staff": FORBIDDEN, "staff_a": FORBIDDEN, "staff_b": FORBIDDEN,
              "admin": ALLOWED}  # fmt: skip
PORTAL = {"anonymous": LOGIN, "referral_staff": FORBIDDEN, "staff_a": ALLOWED, "staff_b": ALLOWED, "admin": ALLOWED}
REFERRERS = {"anonymous": LOGIN, "referral_staff": ALLOWED, "staff_a": FORBIDDEN, "staff_b": FORBIDDEN,
             "admin": ALLOWED}  # fmt: skip
#: The referral's sender and admins; center staff of an offered center see a reduced view.
REFERRAL_VIEW = {"anonymous": LOGIN, "referral_staff": ALLOWED, "staff_a": ALLOWED, "staff_b": NOT_FOUND,
                 "admin": ALLOWED}  # fmt: skip
REFERRAL_OWNER = REFERRERS  # the sender (other referral staff get 404: tests/api, tests/staff)
OWN_CENTER = {"anonymous": LOGIN, "referral_staff": FORBIDDEN, "staff_a": ALLOWED, "staff_b": NOT_FOUND,
              "admin": ALLOWED}  # fmt: skip

POLICY: dict[str, dict[str, str]] = {
    "static": EVERYONE,
    "public.home": EVERYONE,
    "public.search": EVERYONE,
    "public.center_profile": EVERYONE,
    "public.medications": EVERYONE,
    "public.naltrexone": EVERYONE,  # a redirect to the medications page
    "public.report_listing": EVERYONE,  # reporting a problem needs no account
    "public.frontend_file": EVERYONE,  # the maps' files (Leaflet, state outlines)
    "auth.login": EVERYONE,
    "auth.forgot_password": EVERYONE,
    "auth.reset_password": EVERYONE,
    "auth.accept_invitation": EVERYONE,
    "auth.logout": EVERYONE,  # signing out when signed out just shows the sign-in page
    "auth.account": SIGNED_IN,
    "auth.change_password": SIGNED_IN,
    "auth.change_language": SIGNED_IN,
    "auth.create_api_token": SIGNED_IN,
    "auth.revoke_api_token": SIGNED_IN,  # one's own tokens (others' are 404: tests/auth)
    "admin.index": ADMIN_ONLY,
    "admin.users": ADMIN_ONLY,
    "admin.activate_user": ADMIN_ONLY,
    "admin.deactivate_user": ADMIN_ONLY,
    "admin.invite": ADMIN_ONLY,
    "admin.claims": ADMIN_ONLY,
    "admin.approve_claim": ADMIN_ONLY,
    "admin.reject_claim": ADMIN_ONLY,
    "admin.audit": ADMIN_ONLY,
    "admin.listing_reports": ADMIN_ONLY,
    "admin.resolve_report": ADMIN_ONLY,
    "admin.stale_listings": ADMIN_ONLY,
    "admin.superseded": ADMIN_ONLY,
    "admin.restore_listing": ADMIN_ONLY,
    "portal.index": PORTAL,
    "portal.new_claim": PORTAL,  # an admin is told they manage every center already
    "portal.center": OWN_CENTER,
    "portal.edit_center": OWN_CENTER,
    "portal.update_capacity": OWN_CENTER,
    "portal.confirm_listing": OWN_CENTER,
    "portal.center_history": OWN_CENTER,
    "portal.center_reports": OWN_CENTER,
    "portal.resolve_report": OWN_CENTER,
    "api.search_centers": EVERYONE,
    "api.get_center": EVERYONE,
    "api.openapi": EVERYONE,
    **{
        f"hsds.{name}": EVERYONE
        for name in (
            "about",
            "openapi",
            "services",
            "service",
            "organizations",
            "organization",
            "service_at_locations",
            "service_at_location",
            "taxonomies",
            "taxonomy",
            "taxonomy_terms",
            "taxonomy_term",
        )
    },  # fmt: skip
    "api.edit_center": OWN_CENTER,
    "api.update_capacity": OWN_CENTER,
    "api.confirm_center": OWN_CENTER,
    "api.get_center_history": OWN_CENTER,
    "api.submit_referral": REFERRERS,
    "api.list_referrals": REFERRERS,
    "api.get_referral": REFERRAL_VIEW,
    "api.cancel_referral": REFERRAL_OWNER,
    "api.revoke_consent": REFERRAL_OWNER,
    "api.list_offers": PORTAL,
    "api.accept_offer": OWN_CENTER,
    "api.decline_offer": OWN_CENTER,
    "api.offer_admitted": OWN_CENTER,
    "api.offer_no_show": OWN_CENTER,
    "api.offer_completed": OWN_CENTER,
    "fhir.service_request": REFERRAL_VIEW,
    # The sender (referral_staff here) and admins; staff of the offered center read their offer's Task.
    "fhir.task": REFERRAL_VIEW,
    "staff.new_referral": REFERRERS,
    "staff.referrals": REFERRERS,
    "staff.referral": {**REFERRAL_OWNER, "staff_a": FORBIDDEN},
    "staff.cancel": REFERRAL_OWNER,
    "staff.revoke_consent": REFERRAL_OWNER,
    "staff.needs_a_person": REFERRERS,  # a sender sees only their own referrals there (tests/referrals)
    "staff.referral_outcomes": REFERRERS,  # totals of the sender's own referrals (tests/staff/test_outcomes_page.py)
    "staff.referral_outcomes_csv": REFERRERS,
    "staff.record_call": REFERRAL_OWNER,
    "portal.offers": PORTAL,
    "portal.offer": OWN_CENTER,
    "portal.accept_offer": OWN_CENTER,
    "portal.decline_offer": OWN_CENTER,
    "portal.follow_up_offer": OWN_CENTER,
    "ops.healthz": EVERYONE,
    "ops.readyz": EVERYONE,
    # Not advertised: 404 for all but admins (and Prometheus, with METRICS_TOKEN: tests/ops).
    "ops.metrics": {**dict.fromkeys(ROLES, NOT_FOUND), "admin": ALLOWED},
}

INTAKE = {
    "client_reference": "CASE-1",
    "location": "60601",
    "payment": "medicaid",
    "primary_opioid": "heroin",
    "last_opioid_use": "2026-11-19T22:00:00Z",
    "liver_disease": "no",
    "on_opioid_pain_therapy": False,
    "consent": {"granted": True, "recipients": "Centers", "purpose": "Referral", "expires_on": days_from_today(180)},
}

#: Minimal request bodies, so an allowed request does something real.
FORM_DATA = {
    "portal.accept_offer": {"admission_date": days_from_today(3)},
    "portal.decline_offer": {"reason": "No beds tonight"},
    "staff.cancel": {"reason": "Placed elsewhere"},
    "portal.update_capacity": {"accepting_referrals": "y", "beds_available": "3"},
    "portal.new_claim": {"message": "I run this center."},
    "public.report_listing": {"reason": "closed"},
    "auth.change_language": {"language": "es"},
    "portal.resolve_report": {"outcome": "fixed"},
    "admin.resolve_report": {"outcome": "not_a_problem"},
}
JSON_BODY = {
    "api.submit_referral": INTAKE,
    "api.accept_offer": {"admission_date": days_from_today(3)},
    "api.decline_offer": {"reason": "No beds tonight"},
    "api.cancel_referral": {"reason": "Placed elsewhere"},
    "api.edit_center": {"phone": "(312) 555-0111"},
    "api.update_capacity": {"accepting_referrals": True, "beds_available": 2},
}


@dataclass
class World:
    app: Flask
    center_a: int
    slug_a: str
    users: dict[str, int]
    tokens: dict[str, str]
    token_ids: dict[str, int]
    claim_id: int
    target_user: int
    invitation: str
    referral_id: str
    offer_id: int
    report_id: int


@pytest.fixture
def world(tmp_path) -> World:
    app = make_app(sqlite_url(tmp_path, "matrix"), MAIL_OUTBOX=str(tmp_path / "outbox"))
    with app.app_context():
        session = db.session
        detox = {"levels_of_care": ["medical_detox"], "payment_options": ["medicaid"]}
        add_centers(
            session, center_record(name="Center A", **detox), center_record(name="Center B", latitude=41.95, **detox)
        )
        a, b = session.scalars(select(Center).order_by(Center.name)).all()
        password_hash = hash_password(PASSWORD)
        users = {
            "referral_staff": User(email="ref@example.org", role="referral_staff", password_hash=password_hash),
            "staff_a": User(email="a@example.org", role="center_staff", password_hash=password_hash, centers=[a]),
            "staff_b": User(email="b@example.org", role="center_staff", password_hash=password_hash, centers=[b]),
            "admin": User(email="admin@example.org", role="admin", password_hash=password_hash),
        }
        target = User(email="target@example.org", role="referral_staff", password_hash=password_hash)
        session.add_all([*users.values(), target])
        session.flush()
        tokens, token_ids = {}, {}
        for role, user in users.items():
            api_token, token = issue_api_token(session, user, f"{role} token")
            tokens[role], token_ids[role] = token, api_token.id
        claimant = User(email="claimant@example.org", role="center_staff", password_hash=password_hash, centers=[b])
        session.add(claimant)
        session.flush()
        claim = ListingClaim(user_id=claimant.id, center_id=a.id, message="mine")
        report = ListingReport(center_id=a.id, reason="closed")
        session.add_all([claim, report])
        _, invitation = create_invitation(session, "new@example.org", "referral_staff")
        session.commit()
        intake = validate_intake(INTAKE, app.extensions["geocoder"], utcnow())
        referral = submit_referral(session, intake, users["referral_staff"])
        route_referral(session, referral.id)
        (offer,) = session.get(Referral, referral.id).offers
        assert offer.center_id == a.id
        return World(app, a.id, a.slug, {r: u.id for r, u in users.items()}, tokens, token_ids, claim.id,
                     target.id, invitation, referral.id, offer.id, report.id)  # fmt: skip


def url_for_rule(rule, world: World, role: str) -> str:
    values = {
        "center_id": world.center_a,
        "slug": world.slug_a,
        "claim_id": world.claim_id,
        "user_id": world.target_user,
        "token_id": world.token_ids.get(role, 1),
        "token": world.invitation if "invitation" in rule.endpoint else "not-a-real-token",
        "filename": "site.css",
        "name": "leaflet.css",
        "referral_id": world.referral_id,
        "offer_id": world.offer_id,
        "outcome": "admitted",
        "report_id": world.report_id,
        "hsds_id": hsds_id_for(rule.endpoint, world.center_a),
    }
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[a-z]+(?:\([^)]*\))?:)?{name}>", str(values[name]), path)
    if rule.endpoint in ("public.search", "api.search_centers"):
        path += "?near=60601"
    if rule.endpoint == "portal.new_claim":
        path += f"?center={world.center_a}"
    return path


def outcome(response, is_api: bool) -> str:
    location = response.headers.get("Location", "")
    if response.status_code in (301, 302, 303) and "/login?next=" in location:
        return LOGIN  # sent to sign in first (signing out also ends on /login, without `next`)
    if is_api and response.status_code == 401:
        return LOGIN
    if response.status_code == 403:
        return FORBIDDEN
    if response.status_code == 404:
        return NOT_FOUND
    return ALLOWED


def routes(app: Flask):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


_ROUTE_APP = make_app("sqlite://")
ROUTES = [(rule.endpoint, method) for rule, method in routes(_ROUTE_APP)]


def test_every_route_has_a_policy():
    missing = sorted({endpoint for endpoint, _ in ROUTES} - set(POLICY))
    assert not missing, f"add these endpoints to POLICY: {missing}"
    stale = sorted(set(POLICY) - {endpoint for endpoint, _ in ROUTES})
    assert not stale, f"POLICY names endpoints that no longer exist: {stale}"


@pytest.mark.parametrize(("endpoint", "method"), ROUTES, ids=[f"{m} {e}" for e, m in ROUTES])
def test_route_answers_each_role_as_its_policy_says(world, endpoint, method):
    rule = next(r for r in world.app.url_map.iter_rules() if r.endpoint == endpoint)
    is_api = rule.rule.startswith(("/api/", "/fhir/"))  # bearer tokens only
    for role in ROLES:
        client = world.app.test_client()
        headers = {}
        if role != "anonymous":
            if is_api:
                headers["Authorization"] = f"Bearer {world.tokens[role]}"
            else:
                with world.app.app_context():
                    user_id = db.session.get(User, world.users[role]).get_id()
                with client.session_transaction() as sess:
                    sess["_user_id"] = user_id
        url = url_for_rule(rule, world, role)
        kwargs = {"headers": headers}
        if method in ("POST", "PUT", "PATCH"):
            if is_api:
                kwargs["json"] = JSON_BODY.get(endpoint, {})
            else:
                kwargs["data"] = FORM_DATA.get(endpoint, {})
        response = client.open(url, method=method, **kwargs)
        expected = POLICY[endpoint][role]
        got = outcome(response, is_api)
        assert got == expected, f"{method} {url} as {role}: expected {expected}, got {response.status_code} ({got})"
        assert response.status_code < 500
        if expected == NOT_FOUND and endpoint.startswith(("portal.", "api.", "fhir.")):
            with world.app.app_context():
                denied = db.session.scalars(
                    select(AuditEvent).where(
                        AuditEvent.action == "access.denied",
                        AuditEvent.entity_id.in_([str(world.center_a), world.referral_id, str(world.offer_id)]),
                    )
                ).all()
            assert denied, f"{method} {url} as {role}: the refused attempt is not in the audit log"


# The offer's state ----------------------------------------------------------------------------

#: Each state of center A's offer, set in the database as the router and the centers leave it (an
#: expired offer as the clock leaves it: past its time, before the sweep has run).
OFFER_STATES = {
    "open": {},
    "declined": {"status": "declined", "decline_reason": "No beds"},
    "expired by time": {"expires_at": lambda now: now - timedelta(minutes=1)},
    "withdrawn": {"status": "withdrawn"},
    "accepted": {"status": "accepted", "admission_date": lambda now: now.date()},
    "admitted": {"status": "admitted", "admission_date": lambda now: now.date()},
    "open, consent expired": {"consent_expires_on": lambda now: now.date() - timedelta(days=1)},
}
SHARED = {"open", "accepted", "admitted"}  # the states in which center A sees the referral


def put_offer_in(world: World, state: str) -> None:
    now = utcnow()
    values = {k: v(now) if callable(v) else v for k, v in OFFER_STATES[state].items()}
    consent = {k: values.pop(k) for k in list(values) if k.startswith("consent_")}
    with world.app.app_context():
        if values:
            db.session.execute(update(Offer).where(Offer.id == world.offer_id).values(responded_at=now, **values))
        if consent:
            db.session.execute(update(Referral).where(Referral.id == world.referral_id).values(**consent))
        db.session.commit()


def api_get(world: World, role: str, path: str):
    return world.app.test_client().get(path, headers={"Authorization": f"Bearer {world.tokens[role]}"})


def page_as(world: World, role: str, path: str):
    client = world.app.test_client()
    with world.app.app_context():
        user_id = db.session.get(User, world.users[role]).get_id()
    with client.session_transaction() as sess:
        sess["_user_id"] = user_id
    return client.get(path)


def views_by(world: World, role: str) -> int:
    with world.app.app_context():
        return len(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "referral.view", AuditEvent.actor_id == world.users[role])
            ).all()
        )


@pytest.mark.parametrize("state", OFFER_STATES)
def test_a_center_sees_the_referral_only_while_its_offer_is_open_accepted_or_admitted(world, state):
    world.app.config["EMBEDDED_SWEEP_SECONDS"] = 10**12  # the reads alone decide, before any sweep
    put_offer_in(world, state)
    shared = state in SHARED
    fields = ADMITTING_OFFER_FIELDS if state in ("accepted", "admitted") else SHARED_OFFER_FIELDS
    referral_url, offer_url = f"/api/v1/referrals/{world.referral_id}", f"/portal/offers/{world.offer_id}"

    # Staff of the offered center.
    response = api_get(world, "staff_a", referral_url)
    assert response.status_code == (200 if shared else 404), state
    if shared:
        [offer] = response.get_json()["offers"]
        assert set(offer) == set(fields)
    [listed] = api_get(world, "staff_a", "/api/v1/offers").get_json()["results"]
    assert set(listed) == set(fields if shared else CLOSED_OFFER_FIELDS), state
    if state == "expired by time":
        assert listed["status"] == "expired"
    page = page_as(world, "staff_a", offer_url)
    assert page.status_code == 200
    assert ("Flags for the clinicians" in page.get_data(as_text=True)) == shared
    assert views_by(world, "staff_a") == (3 if shared else 0)  # the referral, the list, the page

    # The same through FHIR: the ServiceRequest only while shared, the Task always, each holding no more
    # than the API's view (the client reference and phone once accepted) and audited when it shows the referral.
    service_request = api_get(world, "staff_a", f"/fhir/r4/ServiceRequest/{world.referral_id}")
    assert service_request.status_code == (200 if shared else 404), state
    task = api_get(world, "staff_a", f"/fhir/r4/Task/{world.offer_id}")
    assert task.status_code == 200
    admitting = state in ("accepted", "admitted")
    for response in (service_request, task) if shared else (task,):
        assert ("CASE-1" in response.get_data(as_text=True)) == admitting, state
    assert ("focus" in task.get_json(force=True)) == shared
    assert views_by(world, "staff_a") == (5 if shared else 0)

    # Staff of another center: nothing, whatever the state.
    assert api_get(world, "staff_b", referral_url).status_code == 404
    assert api_get(world, "staff_b", "/api/v1/offers").get_json()["results"] == []
    assert page_as(world, "staff_b", offer_url).status_code == 404
    assert api_get(world, "staff_b", f"/fhir/r4/ServiceRequest/{world.referral_id}").status_code == 404
    assert api_get(world, "staff_b", f"/fhir/r4/Task/{world.offer_id}").status_code == 404
    assert views_by(world, "staff_b") == 0

    # Only an open offer can be answered.
    answer = world.app.test_client().post(
        f"/api/v1/offers/{world.offer_id}/accept",
        json={"admission_date": utcnow().date().isoformat()},
        headers={"Authorization": f"Bearer {world.tokens['staff_a']}"},
    )
    assert answer.status_code == (200 if state == "open" else 409), state
