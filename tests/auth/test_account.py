"""The account page: who you are, changing your password, and API tokens shown once."""

from __future__ import annotations

import logging
import re

import pytest
from flask import jsonify
from flask_login import current_user
from sqlalchemy import select

from directory.models import ApiToken, AuditEvent, User
from tests.auth.helpers import main_text, signed_in_as
from tests.factories import PASSWORD, add_centers, center_record, login, make_user
from tests.public.pages import Page

NEW_PASSWORD = "a different passphrase"


@pytest.fixture
def whoami(app):
    """An API route that says who the request is signed in as (to see bearer tokens at work)."""

    def view():
        return jsonify(email=current_user.email if current_user.is_authenticated else None)

    app.add_url_rule("/api/v1/test-whoami", "test_whoami", view)
    return "/api/v1/test-whoami"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_account_page_shows_email_role_and_centers(client, session):
    add_centers(session, center_record(name="Lakeside Recovery"))
    user = make_user(session, "center_staff", [1], email="staff@example.org")
    login(client, user.email)

    page = Page(client.get("/account").data)

    text = page.main().text
    assert "staff@example.org" in text and "Center staff" in text
    assert page.main().link("Lakeside Recovery").path.startswith("/centers/")


def test_the_account_page_needs_sign_in(client):
    response = client.get("/account")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/account")


def test_changing_the_password_keeps_this_session_and_ends_the_others(client, session):
    user = make_user(session)
    laptop = client.application.test_client()
    login(client, user.email)
    login(laptop, user.email)

    response = client.post(
        "/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )

    assert response.status_code == 302
    assert "Your password has been changed" in main_text(client.get("/account"))
    assert signed_in_as(client) == user.email
    assert signed_in_as(laptop) is None
    assert login(laptop, user.email, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"current_password": "wrong password!!", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
         "current_password", "That is not your current password."),
        ({"current_password": PASSWORD, "new_password": "short", "confirm": "short"},
         "new_password", "Use at least 12 characters."),
        ({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": "not the same at all"},
         "confirm", "The passwords do not match."),
    ],
)  # fmt: skip
def test_a_password_change_that_cannot_be_done_says_why_beside_the_field(client, session, data, field, message):
    user = make_user(session)
    login(client, user.email)

    response = client.post("/account/password", data=data)

    assert response.status_code == 400
    assert message in Page(response.data).text_of(f"{field}-error")
    assert login(client.application.test_client(), user.email, PASSWORD).status_code == 302


def test_a_new_api_token_is_shown_once_and_works_as_a_bearer_token(client, session, whoami, caplog):
    user = make_user(session, email="robot-owner@example.org")
    login(client, user.email)
    caplog.set_level(logging.DEBUG)

    response = client.post("/account/api-tokens", data={"name": "intake spreadsheet"})

    assert response.status_code == 201
    assert "Location" not in response.headers
    token = Page(response.data).find("input", id="new-token").attrs["value"]
    assert token.startswith("tdk_") and len(token) > 40
    assert token not in caplog.text
    account_page = client.get("/account").get_data(as_text=True)
    assert token not in account_page
    assert "intake spreadsheet" in account_page and token[:10] in account_page

    assert client.application.test_client().get(whoami, headers=bearer(token)).json == {"email": user.email}
    stored = session.scalars(select(ApiToken)).one()
    assert stored.last_used_at is not None and stored.token_hash != token
    assert "Never" not in Page(client.get("/account").data).main().text


def test_a_revoked_token_stops_working(client, session, whoami):
    user = make_user(session)
    login(client, user.email)
    token = Page(client.post("/account/api-tokens", data={"name": "script"}).data).find("input", id="new-token")
    token = token.attrs["value"]
    api = client.application.test_client()
    assert api.get(whoami, headers=bearer(token)).json == {"email": user.email}
    token_id = session.scalars(select(ApiToken.id)).one()

    response = client.post(f"/account/api-tokens/{token_id}/revoke")

    assert response.status_code == 302
    assert api.get(whoami, headers=bearer(token)).json == {"email": None}
    assert re.search(r"Revoked \d{4}-\d\d-\d\d", Page(client.get("/account").data).main().text)
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "api_token")).all()
    assert actions == ["api_token.create", "api_token.revoke"]


def test_someone_elses_token_cannot_be_revoked(client, session, whoami):
    from directory.accounts.service import issue_api_token

    owner = make_user(session)
    _, token = issue_api_token(session, owner, "owner's")
    session.commit()
    token_id = session.scalars(select(ApiToken.id)).one()
    intruder = make_user(session, "admin")
    login(client, intruder.email)

    assert client.post(f"/account/api-tokens/{token_id}/revoke").status_code == 404
    assert client.post("/account/api-tokens/9999/revoke").status_code == 404

    api = client.application.test_client()  # no session cookie: the token alone
    assert api.get(whoami, headers=bearer(token)).json == {"email": owner.email}
    denied = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).one()
    assert denied.actor_id == intruder.id and denied.entity_id == str(token_id)


def test_a_token_needs_a_name(client, session):
    login(client, make_user(session).email)

    response = client.post("/account/api-tokens", data={"name": ""})

    assert response.status_code == 400
    assert "Name the token" in Page(response.data).text_of("name-error")
    assert session.scalars(select(ApiToken)).all() == []


def test_changing_the_password_revokes_every_api_token_and_the_page_says_so(client, session):
    from directory.accounts.service import issue_api_token

    add_centers(session, center_record())
    user = make_user(session, "center_staff", [1])
    tokens = [issue_api_token(session, user, name)[1] for name in ("intake", "nightly export")]
    session.commit()
    api = client.application.test_client()  # the token alone, no session cookie
    history = "/api/v1/centers/1/history"
    assert [api.get(history, headers=bearer(token)).status_code for token in tokens] == [200, 200]
    login(client, user.email)
    hint = Page(client.get("/account").data).main().text
    assert "Changing it signs you out on every other device and revokes all your API tokens" in hint

    client.post(
        "/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )

    assert [api.get(history, headers=bearer(token)).status_code for token in tokens] == [401, 401]
    text = main_text(client.get("/account"))
    assert "your API tokens have been revoked" in text
    assert len(re.findall(r"Revoked \d{4}-\d\d-\d\d", text)) == 2


def test_a_password_change_that_fails_leaves_the_tokens_working(client, session):
    from directory.accounts.service import issue_api_token

    add_centers(session, center_record())
    user = make_user(session, "center_staff", [1])
    _, token = issue_api_token(session, user, "intake")
    session.commit()
    login(client, user.email)

    client.post(
        "/account/password",
        data={"current_password": "wrong password!!", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )

    assert client.application.test_client().get("/api/v1/centers/1/history", headers=bearer(token)).status_code == 200


def test_a_deactivated_users_token_stops_working(client, session, whoami):
    from directory.accounts.service import issue_api_token

    user = make_user(session)
    _, token = issue_api_token(session, user, "script")
    user.active = False
    session.commit()

    assert client.get(whoami, headers=bearer(token)).json == {"email": None}
    assert session.get(User, user.id).active is False


def language_changes(session, user_id: int) -> list[tuple[str | None, str | None]]:
    """The account's language changes in the audit log, oldest first."""
    session.expire_all()
    events = select(AuditEvent).where(AuditEvent.action == "user.language", AuditEvent.entity_id == str(user_id))
    return [(event.old_value, event.new_value) for event in session.scalars(events.order_by(AuditEvent.id))]


def test_following_a_language_link_signed_in_changes_the_page_not_the_account(client, session):
    user = make_user(session, "referral_staff")
    login(client, user.email)
    response = client.get("/referrals/?lang=es")
    assert response.status_code == 200 and '<html lang="es">' in response.text
    session.expire_all()
    assert session.get(User, user.id).language is None  # a GET (a link, a prefetch) writes nothing
    assert language_changes(session, user.id) == []


def test_the_language_switch_signed_in_is_a_form_that_sets_the_account_s_language_once(client, session):
    user = make_user(session, "referral_staff")
    client.get("/?lang=es")  # not signed in yet: a link, and only the cookie keeps it
    assert Page(client.get("/").data).nav("Idioma").links_to("/")
    login(client, user.email)

    switch = Page(client.get("/referrals/?lang=en").data).nav("Language")
    assert switch.find("form").attrs["action"] == "/account/language"
    assert switch.find("input", name="next").attrs["value"] == "/referrals/?lang=es"
    assert switch.find("button", name="language").attrs["value"] == "es"
    assert not switch.links  # no link to follow
    for _ in range(2):  # the same pick again writes nothing
        response = client.post("/account/language", data={"language": "es", "next": "/referrals/?lang=es"})
        assert response.status_code == 302 and response.headers["Location"] == "/referrals/?lang=es"
    assert "El correo electrónico del directorio le llegará en Español." in main_text(client.get("/referrals/?lang=es"))
    session.expire_all()
    assert session.get(User, user.id).language == "es"

    response = client.post("/account/language", data={"language": "en", "next": "https://elsewhere.example/?lang=en"})
    assert response.headers["Location"] == "/account?lang=en"  # never off the site
    session.expire_all()
    assert session.get(User, user.id).language == "en"
    assert language_changes(session, user.id) == [(None, "es"), ("es", "en")]


def test_the_account_page_sets_the_language_of_your_email(client, session):
    user = make_user(session, "referral_staff")
    login(client, user.email)
    page = Page(client.get("/account").data)
    assert "Language of your email" in page.main().text

    response = client.post("/account/language", data={"language": "es"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account?lang=es"  # the page follows in Spanish
    session.expire_all()
    assert session.get(User, user.id).language == "es"
    assert language_changes(session, user.id) == [(None, "es")]
    text = main_text(client.get(response.headers["Location"]))
    assert "El correo electrónico del directorio le llegará en Español." in text
    assert "Idioma de su correo electrónico" in text


def test_an_unknown_language_is_refused_and_changes_nothing(client, session):
    user = make_user(session, "referral_staff")
    login(client, user.email)
    client.post("/account/language", data={"language": "en"})
    response = client.post("/account/language", data={"language": "fr", "next": "/referrals/?lang=fr"})
    assert response.status_code == 400
    assert "Choose English or Español." in main_text(response)
    session.expire_all()
    assert session.get(User, user.id).language == "en"
    assert language_changes(session, user.id) == [(None, "en")]
