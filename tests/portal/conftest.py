"""Two centers, A and B, and one account of each kind: staff of A, staff of B, referral staff, admin.

These tests never hold an app context open while the test client makes requests: Flask would
reuse it for every request, and with it `g` (the signed-in user) and the database session, so
one client's sign-in would leak into another's requests. `Store` opens a short context instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.accounts.passwords import hash_password
from directory.extensions import db
from directory.models import AuditEvent, Center, ListingClaim, User
from directory.sources.records import MULTI_VALUED
from tests.factories import PASSWORD, add_centers, center_record, login, make_user

#: Hashed once: Argon2 is slow on purpose, and every test here makes four accounts.
_PASSWORD_HASH = hash_password(PASSWORD)


class Store:
    """The test's view of the database, each look in a fresh app context and session."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.app.app_context():
            yield db.session

    def center(self, center_id: int) -> Center:
        with self.session() as session:
            center = session.get(Center, center_id)
            assert center is not None
            return center

    def events(self, action: str | None = None) -> list[AuditEvent]:
        with self.session() as session:
            stmt = select(AuditEvent).order_by(AuditEvent.id)
            if action is not None:
                stmt = stmt.where(AuditEvent.action == action)
            return list(session.scalars(stmt))

    def claims(self) -> list[ListingClaim]:
        with self.session() as session:
            return list(session.scalars(select(ListingClaim).order_by(ListingClaim.id)))


@pytest.fixture
def store(app: Flask) -> Store:
    return Store(app)


@dataclass
class Cast:
    a: Center
    b: Center
    staff_a: User
    staff_b: User
    referral: User
    admin: User

    def user(self, name: str) -> User | None:
        return None if name == "anonymous" else getattr(self, name)


@pytest.fixture
def cast(store: Store) -> Cast:
    with store.session() as session:
        add_centers(
            session,
            center_record(external_id="test:a", name="Alpha Recovery", zip="60601", languages=["es"]),
            center_record(external_id="test:b", name="Beta House", zip="60614", latitude=41.922, longitude=-87.652),
        )
        a = session.scalar(select(Center.id).where(Center.external_id == "test:a"))
        b = session.scalar(select(Center.id).where(Center.external_id == "test:b"))
        emails = {
            "staff_a": account(session, "center_staff", [a], "staff-a@example.org"),
            "staff_b": account(session, "center_staff", [b], "staff-b@example.org"),
            "referral": account(session, "referral_staff", [], "referral@example.org"),
            "admin": account(session, "admin", [], "admin@example.org"),
        }
        users = {name: session.scalar(select(User).where(User.email == email)) for name, email in emails.items()}
        return Cast(a=session.get(Center, a), b=session.get(Center, b), **users)


def account(session: Session, role: str, center_ids: list[int], email: str) -> str:
    """A committed account whose password is tests.factories.PASSWORD."""
    user = make_user(session, role, center_ids, email=email, password=None)
    user.password_hash = _PASSWORD_HASH
    session.commit()
    return email


def sign_in(client: Any, user: User | None) -> None:
    """Sign the test client in as this user through the real login form (None: stay anonymous)."""
    if user is not None:
        response = login(client, user.email)
        assert response.status_code == 302, response.data[:500]


def edit_data(center: Center, **changes: Any) -> dict[str, Any]:
    """The edit form as the page fills it in for this center, with some fields changed."""
    data: dict[str, Any] = {
        "name": center.name,
        "alt_name": center.alt_name or "",
        "phone": center.phone or "",
        "intake_phone": center.intake_phone or "",
        "website": center.website or "",
        "street1": center.street1 or "",
        "street2": center.street2 or "",
        "city": center.city,
        "state": center.state,
        "zip": center.zip,
        "latitude": "",
        "longitude": "",
        "detox_stay_days": "" if center.detox_stay_days is None else str(center.detox_stay_days),
    }
    for kind in MULTI_VALUED:
        data[kind] = center.codes(kind)
    data.update(changes)
    return data
