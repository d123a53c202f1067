"""Accepting an invitation: who it is for, a password typed twice, then signed in; one use, 72 hours."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from directory.accounts.service import create_invitation
from directory.models import User
from directory.models.base import utcnow
from tests.auth.helpers import main_text, signed_in_as
from tests.factories import add_centers, center_record, login, make_user
from tests.public.pages import Page

PASSWORD = "my own new passphrase"


def invite(session, email="new@example.org", role="center_staff", centers=(1,), now=None) -> str:
    _, token = create_invitation(session, email, role, centers, now=now)
    session.commit()
    return f"/invitations/{token}"


def test_the_invitation_page_shows_the_address_role_and_centers(client, session):
    add_centers(session, center_record(name="Harbor Light"))
    path = invite(session)

    page = Page(client.get(path).data)

    assert "new@example.org" in page.main().text
    assert "Center staff" in page.main().text and "Harbor Light" in page.main().text
    assert page.find("input", id="password", type="password") and page.find("input", id="confirm", type="password")


def test_accepting_signs_in_with_the_invited_role(client, session):
    add_centers(session, center_record())
    path = invite(session)

    response = client.post(path, data={"password": PASSWORD, "confirm": PASSWORD})

    assert response.status_code == 302 and response.headers["Location"] == "/portal/"
    assert signed_in_as(client) == "new@example.org"
    user = session.scalars(select(User).where(User.email == "new@example.org")).one()
    assert user.role == "center_staff" and [c.id for c in user.centers] == [1]


def test_a_used_invitation_says_so(client, session):
    add_centers(session, center_record())
    path = invite(session)
    client.post(path, data={"password": PASSWORD, "confirm": PASSWORD})
    other = client.application.test_client()

    for response in (other.get(path), other.post(path, data={"password": "x" * 20, "confirm": "x" * 20})):
        assert response.status_code == 410
        assert "already been used" in main_text(response)
    assert login(other, "new@example.org", "x" * 20).status_code == 400


def test_an_expired_invitation_says_so(client, session):
    path = invite(session, role="referral_staff", centers=(), now=utcnow() - timedelta(hours=73))

    response = client.get(path)

    assert response.status_code == 410
    assert "This invitation link has expired. Ask for a new one." in main_text(response)
    assert client.post(path, data={"password": PASSWORD, "confirm": PASSWORD}).status_code == 410


def test_an_unknown_invitation_says_so(client):
    response = client.get("/invitations/not-a-real-token")

    assert response.status_code == 410
    assert "not valid" in main_text(response)


def test_the_password_rules_are_explained_beside_the_field(client, session):
    path = invite(session, role="referral_staff", centers=())

    short = client.post(path, data={"password": "too short", "confirm": "too short"})
    assert short.status_code == 400
    assert "Use at least 12 characters." in Page(short.data).text_of("password-error")

    mismatch = client.post(path, data={"password": PASSWORD, "confirm": "something else entirely"})
    assert "The passwords do not match." in Page(mismatch.data).text_of("confirm-error")
    assert signed_in_as(client) is None


def test_accepting_while_signed_in_as_someone_else_switches_to_the_new_account(client, session):
    someone = make_user(session)
    login(client, someone.email)
    path = invite(session, role="referral_staff", centers=())

    client.post(path, data={"password": PASSWORD, "confirm": PASSWORD})

    assert signed_in_as(client) == "new@example.org"
