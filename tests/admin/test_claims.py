"""Deciding listing claims: approve gives center staff the center, reject does not; each decision is audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from directory.models import AuditEvent, ListingClaim, User
from tests.auth.helpers import main_text
from tests.factories import add_centers, center_record, login, make_user
from tests.public.pages import Page


@pytest.fixture
def admin(client, session):
    add_centers(session, center_record(name="Old Listing"), center_record(name="Staffs Own Center"))
    admin = make_user(session, "admin", email="admin@example.org")
    login(client, admin.email)
    return admin


def claim(session, user, center_id=1, message="I run intake here.") -> int:
    claim = ListingClaim(user_id=user.id, center_id=center_id, message=message)
    session.add(claim)
    session.commit()
    return claim.id


def events(session, entity_type: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.entity_type == entity_type).order_by(AuditEvent.id)
    return list(session.scalars(query))


def test_pending_claims_are_listed_with_who_what_and_when(client, session, admin):
    staff = make_user(session, "center_staff", [2], email="staff@example.org")
    claim(session, staff)

    page = Page(client.get("/admin/claims").data)

    text = page.main().text
    assert "staff@example.org" in text and "I run intake here." in text and "Old Listing" in text
    assert page.main().link("Old Listing").path.startswith("/centers/")
    assert "Approve" in text and "Reject" in text


def test_approving_lets_center_staff_manage_the_center(client, session, admin):
    staff = make_user(session, "center_staff", [2], email="staff@example.org")
    claim_id = claim(session, staff)

    response = client.post(f"/admin/claims/{claim_id}/approve")

    assert response.status_code == 302 and response.headers["Location"] == "/admin/claims"
    assert "staff@example.org now manages Old Listing." in main_text(client.get("/admin/claims"))
    session.expire_all()
    decided = session.get(ListingClaim, claim_id)
    assert decided.status == "approved" and decided.decided_by_id == admin.id and decided.decided_at
    assert sorted(c.id for c in session.get(User, staff.id).centers) == [1, 2]
    [status] = events(session, "listing_claim")
    assert (status.action, status.actor_id, status.field, status.old_value, status.new_value) == (
        "claim.approve",
        admin.id,
        "status",
        "pending",
        "approved",
    )
    [centers] = events(session, "user")[-1:]
    assert (centers.action, centers.old_value, centers.new_value) == ("user.centers", "2", "1;2")
    assert "No claims are waiting" in main_text(client.get("/admin/claims"))


def test_rejecting_leaves_the_centers_as_they_were(client, session, admin):
    staff = make_user(session, "center_staff", [2])
    claim_id = claim(session, staff)

    client.post(f"/admin/claims/{claim_id}/reject")

    session.expire_all()
    assert session.get(ListingClaim, claim_id).status == "rejected"
    assert [c.id for c in session.get(User, staff.id).centers] == [2]
    [status] = events(session, "listing_claim")
    assert (status.action, status.new_value) == ("claim.reject", "rejected")


@pytest.mark.parametrize("role", ["referral_staff", "admin"])
def test_a_claim_by_someone_who_is_not_center_staff_is_refused_with_a_reason(client, session, admin, role):
    claimant = make_user(session, role, email="claimant@example.org")
    claim_id = claim(session, claimant)

    client.post(f"/admin/claims/{claim_id}/approve")

    assert "only center staff manage listings" in main_text(client.get("/admin/claims"))
    session.expire_all()
    assert session.get(ListingClaim, claim_id).status == "pending"
    assert session.get(User, claimant.id).role == role
    assert events(session, "listing_claim") == []

    client.post(f"/admin/claims/{claim_id}/reject")
    session.expire_all()
    assert session.get(ListingClaim, claim_id).status == "rejected"


def test_a_decided_claim_cannot_be_decided_again(client, session, admin):
    claim_id = claim(session, make_user(session, "center_staff", [2]))
    client.post(f"/admin/claims/{claim_id}/reject")

    client.post(f"/admin/claims/{claim_id}/approve")

    assert "This claim was already rejected." in main_text(client.get("/admin/claims"))
    session.expire_all()
    assert session.get(ListingClaim, claim_id).status == "rejected"
    assert len(events(session, "listing_claim")) == 1


def test_an_unknown_claim_is_not_found(client, admin):
    assert client.post("/admin/claims/999/approve").status_code == 404
