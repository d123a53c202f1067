"""Forgotten passwords: the same answer for every address, a single-use link by mail, a new password."""

from __future__ import annotations

from datetime import timedelta

from directory.accounts.service import issue_api_token, start_password_reset
from directory.models.base import utcnow
from tests.auth.helpers import link_in_mail, main_text, outbox, signed_in_as
from tests.factories import PASSWORD, add_centers, center_record, login, make_user

SAME_ANSWER = "If an account exists for that address, we have sent a link"
NEW_PASSWORD = "a brand new passphrase"


def test_reset_end_to_end_through_the_outbox(app, client, session):
    user = make_user(session, email="forgetful@example.org")
    other_device = app.test_client()
    login(other_device, user.email)

    response = client.post("/password/forgot", data={"email": "Forgetful@Example.org"})
    assert SAME_ANSWER in main_text(response)

    [mail] = outbox(app)
    assert mail["To"] == "forgetful@example.org"
    path = link_in_mail(mail)
    assert path.startswith("/password/reset/")

    assert client.get(path).status_code == 200
    response = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Your password has been changed" in main_text(client.get("/login"))

    assert signed_in_as(other_device) is None  # a reset signs out everywhere
    assert login(client, user.email).status_code == 400
    assert login(client, user.email, NEW_PASSWORD).status_code == 302

    again = client.post(path, data={"password": "yet another passphrase", "confirm": "yet another passphrase"})
    assert again.status_code == 410
    assert "not valid any more" in main_text(again)


def test_a_reset_revokes_the_accounts_api_tokens_and_the_form_says_so(app, client, session):
    add_centers(session, center_record())
    user = make_user(session, "center_staff", [1], email="forgetful@example.org")
    _, token = issue_api_token(session, user, "intake")
    session.commit()
    api, history = app.test_client(), "/api/v1/centers/1/history"
    assert api.get(history, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    client.post("/password/forgot", data={"email": user.email})
    path = link_in_mail(outbox(app)[0])
    assert "revokes all your API tokens" in main_text(client.get(path))

    client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert api.get(history, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "your API tokens have been revoked" in main_text(client.get("/login"))


def test_unknown_and_deactivated_addresses_get_the_same_answer_and_no_mail(app, client, session):
    inactive = make_user(session, email="gone@example.org")
    inactive.active = False
    session.commit()

    for email in ("nobody@example.org", "gone@example.org", "not an address"):
        response = client.post("/password/forgot", data={"email": email})
        assert response.status_code == 200
        assert SAME_ANSWER in main_text(response)

    assert outbox(app) == []


def test_the_forgot_password_form_asks_for_an_address(client):
    response = client.post("/password/forgot", data={"email": ""})

    assert response.status_code == 400
    assert "Enter your email address." in main_text(response)


def test_a_new_password_must_be_long_enough_and_typed_twice_alike(client, session):
    user = make_user(session)
    _, token = start_password_reset(session, user.email)
    session.commit()
    path = f"/password/reset/{token}"

    short = client.post(path, data={"password": "short", "confirm": "short"})
    assert short.status_code == 400 and "Use at least 12 characters." in main_text(short)

    different = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"})
    assert different.status_code == 400 and "The passwords do not match." in main_text(different)

    assert client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302


def test_an_expired_reset_link_is_refused(client, session):
    user = make_user(session)
    _, token = start_password_reset(session, user.email, now=utcnow() - timedelta(hours=2))
    session.commit()

    response = client.post(f"/password/reset/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert response.status_code == 410
    assert "Ask for a new one" in main_text(response)
    session.expire_all()
    assert login(client, user.email, PASSWORD).status_code == 302


def test_a_forged_used_or_expired_link_says_so_instead_of_showing_the_form(client, session):
    user = make_user(session)
    _, expired = start_password_reset(session, user.email, now=utcnow() - timedelta(hours=2))
    _, valid = start_password_reset(session, user.email)
    session.commit()
    assert "New password" in main_text(client.get(f"/password/reset/{valid}"))

    for token in ("forged-token", expired):
        response = client.get(f"/password/reset/{token}")
        assert response.status_code == 410
        assert "cannot be used" in main_text(response)
        assert "New password" not in main_text(response)
