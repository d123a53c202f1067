"""Deactivating and reactivating accounts."""

from __future__ import annotations

from sqlalchemy import select

from directory.models import AuditEvent, User
from tests.auth.helpers import main_text, signed_in_as
from tests.factories import add_centers, center_record, login, make_user
from tests.public.pages import Page


def test_the_user_list_shows_every_account_with_its_role_and_centers(client, session):
    add_centers(session, center_record(name="Northside Clinic"))
    make_user(session, "center_staff", [1], email="staff@example.org")
    make_user(session, "referral_staff", email="referrer@example.org")
    admin = make_user(session, "admin", email="boss@example.org")
    login(client, admin.email)

    text = main_text(client.get("/admin/users"))

    assert "staff@example.org Center staff Northside Clinic" in text
    assert "referrer@example.org Referral staff" in text
    assert "boss@example.org Administrator" in text


def test_deactivating_signs_the_person_out_everywhere_and_keeps_them_out(client, session, app):
    person = make_user(session, email="leaving@example.org")
    admin = make_user(session, "admin")
    their_client = app.test_client()
    login(their_client, person.email)
    login(client, admin.email)

    response = client.post(f"/admin/users/{person.id}/deactivate")

    assert response.status_code == 302 and response.headers["Location"] == "/admin/users"
    assert "leaving@example.org is deactivated and signed out." in main_text(client.get("/admin/users"))
    assert signed_in_as(their_client) is None
    assert login(their_client, person.email).status_code == 400
    session.expire_all()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.deactivate")).one()
    assert (event.actor_id, event.entity_id, event.field, event.old_value, event.new_value) == (
        admin.id,
        str(person.id),
        "active",
        "True",
        "False",
    )

    client.post(f"/admin/users/{person.id}/activate")

    assert login(their_client, person.email).status_code == 302
    session.expire_all()
    assert session.get(User, person.id).active is True
    assert session.scalars(select(AuditEvent.action).where(AuditEvent.action == "user.activate")).all()


def test_admins_cannot_deactivate_themselves(client, session):
    admin = make_user(session, "admin")
    login(client, admin.email)

    page = Page(client.get("/admin/users").data)
    assert not [form for form in page.find_all("form") if form.attrs.get("action", "").endswith("/deactivate")]

    client.post(f"/admin/users/{admin.id}/deactivate")

    assert "You cannot deactivate your own account." in main_text(client.get("/admin/users"))
    assert signed_in_as(client) == admin.email


def test_an_unknown_user_is_not_found(client, session):
    login(client, make_user(session, "admin").email)

    assert client.post("/admin/users/999/deactivate").status_code == 404
