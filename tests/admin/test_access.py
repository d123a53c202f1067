"""Every admin page is for admins only: others are refused (and logged), anonymous people sent to sign in."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from directory.models import AuditEvent, ListingClaim, User
from tests.factories import add_centers, center_record, login, make_user

ROUTES = [
    ("GET", "/admin/"),
    ("GET", "/admin/users"),
    ("POST", "/admin/users/{user}/deactivate"),
    ("POST", "/admin/users/{user}/activate"),
    ("GET", "/admin/invitations/new"),
    ("POST", "/admin/invitations/new"),
    ("GET", "/admin/claims"),
    ("POST", "/admin/claims/{claim}/approve"),
    ("POST", "/admin/claims/{claim}/reject"),
    ("GET", "/admin/audit"),
]


@pytest.fixture
def targets(session) -> dict[str, int]:
    add_centers(session, center_record())
    staff = make_user(session, "center_staff", [1], email="target@example.org")
    claim = ListingClaim(user_id=staff.id, center_id=1, message="Please")
    session.add(claim)
    session.commit()
    return {"user": staff.id, "claim": claim.id}


def send(client, method: str, path: str, targets: dict[str, int]):
    url = path.format(**targets)
    if method == "GET":
        return client.get(url)
    return client.post(url, data={"email": "invited@example.org", "role": "referral_staff", "centers": ""})


def assert_nothing_changed(session, targets) -> None:
    session.expire_all()
    assert session.get(User, targets["user"]).active is True
    assert session.get(ListingClaim, targets["claim"]).status == "pending"
    assert session.scalars(select(AuditEvent).where(AuditEvent.action.like("invitation.%"))).all() == []


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_people_are_sent_to_sign_in(client, session, targets, method, path):
    response = send(client, method, path, targets)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert_nothing_changed(session, targets)


@pytest.mark.parametrize("role", ["referral_staff", "center_staff"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_other_roles_are_refused_and_the_attempt_is_logged(client, session, targets, role, method, path):
    user = make_user(session, role, [1] if role == "center_staff" else [])
    login(client, user.email)

    response = send(client, method, path, targets)

    assert response.status_code == 403
    assert_nothing_changed(session, targets)
    denied = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).one()
    assert denied.actor_id == user.id and path.split("{")[0] in (denied.detail or "")


@pytest.mark.parametrize("path", [p for m, p in ROUTES if m == "GET"])
def test_admins_see_every_page(client, session, targets, path):
    login(client, make_user(session, "admin").email)

    response = client.get(path)

    assert response.status_code == 200
    assert b"<h1>" in response.data
