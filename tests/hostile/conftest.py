"""A small world for hostile-input tests, on the test's own database (SQLite or PostgreSQL).

Two detox centers, A and B; a referral made by referral staff and offered to center A; and one
account of each kind, each with an API token: referral staff, other referral staff, staff of A,
staff of B and an administrator. Plus a listing claim (by staff of B, for A), an open invitation
and a password reset link, so every kind of id in a URL has a real value to aim at.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from sqlalchemy import func, inspect, make_url, select

from directory.accounts.passwords import hash_password
from directory.accounts.service import create_invitation, issue_api_token, start_password_reset
from directory.extensions import db
from directory.models import Center, ListingClaim, ListingReport, Referral, User
from directory.models.base import utcnow
from directory.referrals.intake import validate_intake
from directory.referrals.service import route_referral, submit_referral
from tests.conftest import copy_of_seeded, database_url, make_app
from tests.factories import PASSWORD, add_centers, center_record

#: Hypothesis settings for this package: repeatable in CI (derandomized, no example database),
#: few enough examples that the whole package runs in about a minute per database.
HOSTILE = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

ACCOUNTS = ("referral_staff", "other_referral_staff", "staff_a", "staff_b", "admin")
ROLES = {
    "referral_staff": "referral_staff",
    "other_referral_staff": "referral_staff",
    "staff_a": "center_staff",
    "staff_b": "center_staff",
    "admin": "admin",
}
#: Words that only the referral's sender (and admins) may ever see.
SECRET_REFERENCE = "CASE-SECRET-4711"
SECRET_PHONE = "(312) 555-0147"

_PASSWORD_HASH = hash_password(PASSWORD)


def intake(**overrides: Any) -> dict[str, Any]:
    """A valid intake near downtown Chicago, dated relative to now."""
    now = utcnow()
    data: dict[str, Any] = {
        "client_reference": SECRET_REFERENCE,
        "contact_phone": SECRET_PHONE,
        "location": "60601",
        "payment": "medicaid",
        "primary_opioid": "heroin",
        "last_opioid_use": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "liver_disease": "no",
        "on_opioid_pain_therapy": False,
        "consent": {
            "granted": True,
            "recipients": "Receiving centers",
            "purpose": "Referral",
            "expires_on": (now + timedelta(days=90)).date().isoformat(),
        },
    }
    data.update(overrides)
    return data


@dataclass
class World:
    app: Flask
    centers: dict[str, int]
    slugs: dict[str, str]
    users: dict[str, int]
    emails: dict[str, str]
    tokens: dict[str, str]
    token_ids: dict[str, int]
    claim_id: int
    invitation: str
    reset_token: str
    referral_id: str
    offer_id: int
    report_id: int

    def client(self, who: str = "anonymous") -> FlaskClient:
        """A test client signed in as one of ACCOUNTS (or anonymous), without going through the login form."""
        client = self.app.test_client()
        if who != "anonymous":
            with self.app.app_context():
                user_id = db.session.get(User, self.users[who]).get_id()
            with client.session_transaction() as sess:
                sess["_user_id"] = user_id
        return client

    def bearer(self, who: str) -> dict[str, str]:
        """The Authorization header of an account's API token ({} for anonymous)."""
        return {} if who == "anonymous" else {"Authorization": f"Bearer {self.tokens[who]}"}

    def count(self, model: Any) -> int:
        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(model))

    def tables(self) -> set[str]:
        with self.app.app_context():
            return set(inspect(db.engine).get_table_names())


def build_world(app: Flask) -> World:
    """Fill the app's empty database with the world described above."""
    with app.app_context():
        session = db.session
        detox = {"levels_of_care": ["medical_detox"], "payment_options": ["medicaid"]}
        add_centers(
            session,
            center_record(name="Center A", website="https://a.example.org", **detox),
            center_record(name="Center B", latitude=41.95, **detox),
        )
        a, b = session.scalars(select(Center).order_by(Center.name)).all()
        centers = {"staff_a": [a], "staff_b": [b]}
        users = {
            who: User(email=f"{who}@example.org", role=ROLES[who], password_hash=_PASSWORD_HASH,
                      centers=centers.get(who, []))
            for who in ACCOUNTS
        }  # fmt: skip
        session.add_all(users.values())
        session.flush()
        tokens, token_ids = {}, {}
        for who, user in users.items():
            api_token, token = issue_api_token(session, user, f"{who} token")
            tokens[who], token_ids[who] = token, api_token.id
        claim = ListingClaim(user_id=users["staff_b"].id, center_id=a.id, message="I work there")
        report = ListingReport(center_id=a.id, reason="other", note="Moved to Elm Street")
        session.add_all([claim, report])
        _, invitation = create_invitation(session, "invited@example.org", "referral_staff")
        started = start_password_reset(session, "referral_staff@example.org")
        assert started is not None
        session.commit()
        referral = submit_referral(session, validate_intake(intake(), app.extensions["geocoder"], utcnow()),
                                   users["referral_staff"])  # fmt: skip
        route_referral(session, referral.id)
        (offer,) = session.get(Referral, referral.id).offers
        assert offer.center_id == a.id
        return World(
            app=app,
            centers={"a": a.id, "b": b.id},
            slugs={"a": a.slug, "b": b.slug},
            users={who: user.id for who, user in users.items()},
            emails={who: user.email for who, user in users.items()},
            tokens=tokens,
            token_ids=token_ids,
            claim_id=claim.id,
            invitation=invitation,
            reset_token=started[1],
            referral_id=referral.id,
            offer_id=offer.id,
            report_id=report.id,
        )


def world_app(tmp_path: Any, database: str, **config: Any) -> Flask:
    return make_app(database, MAIL_OUTBOX=str(tmp_path / "outbox"), **config)


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, World]:
    """The world, built once per run in a database of its own (a SQLite file's path or a PostgreSQL
    database's name) that each test gets a copy of; and its ids and tokens, the same in every copy."""
    folder = tmp_path_factory.mktemp("world")
    url = database_url(folder, "world")
    app = world_app(folder, url)
    world = build_world(app)
    with app.app_context():
        db.engine.dispose()
    return str(make_url(url).database), world


def copy_of_world(world_template: tuple[str, World], tmp_path: Any, **config: Any) -> World:
    """The world on a private copy of the template database, with the app's settings changed by `config`."""
    name, template = world_template
    return dataclasses.replace(template, app=world_app(tmp_path, copy_of_seeded(name, tmp_path), **config))


@pytest.fixture
def world(world_template, tmp_path) -> Iterator[World]:
    world = copy_of_world(world_template, tmp_path)
    yield world
    with world.app.app_context():
        db.engine.dispose()
