"""Every route of the app, from its URL map, filled in with the world's real ids; and a look at
everything a request could change, to compare before and after."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from sqlalchemy import select
from werkzeug.routing import Rule

from directory.extensions import db
from directory.models import (
    ApiToken,
    Center,
    Invitation,
    ListingClaim,
    ListingReport,
    Offer,
    PasswordReset,
    Referral,
    User,
)
from tests.conftest import make_app
from tests.factories import PASSWORD, days_from_today, hsds_id_for
from tests.hostile.conftest import World, intake

#: A request body for each route that takes one, so an unchecked request would really do something.
FORM_DATA: dict[str, dict[str, Any]] = {
    "auth.login": {"email": "staff_a@example.org", "password": PASSWORD},
    "auth.forgot_password": {"email": "staff_a@example.org"},
    "auth.reset_password": {"password": "a brand new passphrase", "confirm": "a brand new passphrase"},
    "auth.accept_invitation": {"password": "a brand new passphrase", "confirm": "a brand new passphrase"},
    "auth.change_password": {"current_password": PASSWORD, "new_password": "x" * 16, "confirm": "x" * 16},
    "auth.create_api_token": {"name": "new token"},
    "auth.change_language": {"language": "es"},
    "admin.invite": {"email": "someone@example.org", "role": "referral_staff"},
    "portal.new_claim": {"message": "I run this center."},
    "portal.edit_center": {"name": "Renamed Center", "city": "Chicago", "state": "IL", "zip": "60601"},
    "portal.update_capacity": {"accepting_referrals": "false", "beds_available": "3"},
    "portal.accept_offer": {"admission_date": days_from_today(3)},
    "portal.decline_offer": {"reason": "No beds tonight"},
    "portal.resolve_report": {"outcome": "fixed"},
    "admin.resolve_report": {"outcome": "fixed"},
    "public.report_listing": {"reason": "closed"},
    "staff.cancel": {"reason": "Placed elsewhere"},
    "staff.new_referral": {
        **{k: v for k, v in intake().items() if k not in ("consent", "on_opioid_pain_therapy")},
        "on_opioid_pain_therapy": "no",
        "consent_granted": "y",
        "consent_recipients": "Centers",
        "consent_purpose": "Referral",
        "consent_expires_on": days_from_today(180),
    },
}
JSON_BODY: dict[str, Any] = {
    "api.submit_referral": intake(),
    "api.accept_offer": {"admission_date": days_from_today(3)},
    "api.decline_offer": {"reason": "No beds tonight"},
    "api.cancel_referral": {"reason": "Placed elsewhere"},
    "api.edit_center": {"name": "Renamed Center"},
    "api.update_capacity": {"accepting_referrals": False, "beds_available": 2},
}


#: An app of its own, only to read the URL map while tests are collected.
ROUTE_APP = make_app("sqlite://")


def rule_named(app: Flask, endpoint: str) -> Rule:
    return next(rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint)


def routes(app: Flask) -> list[tuple[Rule, str]]:
    """Every (rule, method) of the app but static files (its own, and the maps' npm files), in a stable order."""
    return [
        (rule, method)
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
        if rule.endpoint not in ("static", "public.frontend_file")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]


def path_values(world: World, rule: Rule) -> dict[str, Any]:
    """The world's real value for each variable a route's path can have."""
    return {
        "center_id": world.centers["a"],
        "slug": world.slugs["a"],
        "claim_id": world.claim_id,
        "user_id": world.users["referral_staff"],
        "token_id": world.token_ids["referral_staff"],
        "token": world.invitation if rule.endpoint == "auth.accept_invitation" else world.reset_token,
        "referral_id": world.referral_id,
        "offer_id": world.offer_id,
        "outcome": "admitted",
        "report_id": world.report_id,
        "hsds_id": hsds_id_for(rule.endpoint, world.centers["a"]),
    }


def url_for_rule(world: World, rule: Rule, **values: Any) -> str:
    """The rule's path with the world's ids (or the given values); search routes get a place."""
    filled = {**path_values(world, rule), **values}
    missing = set(rule.arguments) - set(filled)
    assert not missing, f"{rule.rule}: no value for {sorted(missing)}; add one to path_values()"
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[a-z]+(?:\([^)]*\))?:)?{name}>", str(filled[name]), path)
    if rule.endpoint in ("public.search", "api.search_centers"):
        path += "?near=60601"
    if rule.endpoint == "portal.new_claim":
        path += f"?center={world.centers['a']}"
    return path


def send(world: World, rule: Rule, method: str, who: str, *, url: str | None = None, **kwargs: Any) -> Any:
    """One request as `who` (signed in with a session on pages, a bearer token on the API)."""
    is_api = rule.rule.startswith(("/api/", "/fhir/"))
    client = world.client("anonymous" if is_api else who)
    headers = {**(world.bearer(who) if is_api else {}), **kwargs.pop("headers", {})}
    if method in ("POST", "PUT", "PATCH") and not {"data", "json", "input_stream"} & set(kwargs):
        if is_api:
            kwargs["json"] = JSON_BODY.get(rule.endpoint, {})
        else:
            kwargs["data"] = FORM_DATA.get(rule.endpoint, {})
    return client.open(url or url_for_rule(world, rule), method=method, headers=headers, **kwargs)


def state(app: Flask) -> dict[str, Any]:
    """Everything a request could change that matters (the audit log aside), to compare before and after."""
    with app.app_context():
        session = db.session

        def rows(model: Any, *columns: str) -> list[tuple]:
            return [tuple(getattr(row, c) for c in columns) for row in session.scalars(select(model).order_by("id"))]

        return {
            "centers": rows(Center, "id", "name", "phone", "city", "zip", "accepting_referrals", "beds_available",
                            "last_verified_at", "center_edited_at"),
            "staff": [(u.id, sorted(c.id for c in u.centers)) for u in session.scalars(select(User).order_by("id"))],
            "users": rows(User, "id", "email", "role", "active", "session_version", "password_hash", "language"),
            "claims": rows(ListingClaim, "id", "status", "message"),
            "reports": rows(ListingReport, "id", "resolved_at", "resolution"),
            "referrals": rows(Referral, "id", "status", "consent_revoked_at"),
            "offers": rows(Offer, "id", "status", "decline_reason", "admission_date"),
            "tokens": rows(ApiToken, "id", "name", "revoked_at"),
            "invitations": rows(Invitation, "id", "used_at"),
            "resets": rows(PasswordReset, "id", "used_at"),
        }  # fmt: skip
