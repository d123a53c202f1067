"""Signing in: one generic failure message, a fresh session, and redirects that stay on this site."""

from __future__ import annotations

import pytest

from directory.accounts.service import authenticate
from directory.models import User
from tests.auth.helpers import main_text, signed_in_as
from tests.factories import PASSWORD, add_centers, center_record, login, make_user
from tests.public.pages import Page

FAILED = "Email or password is incorrect."


def test_the_login_page_has_a_labelled_form_with_a_link_to_reset_the_password(client):
    page = Page(client.get("/login").data)

    assert page.find("label", **{"for": "email"}) and page.find("input", id="email", type="email")
    assert page.find("label", **{"for": "password"}) and page.find("input", id="password", type="password")
    assert page.find("input", id="next", type="hidden")
    assert page.links_to("/password/forgot")
    assert page.nav("Site").link("Sign in").path == "/login"


@pytest.mark.parametrize(
    ("role", "landing"),
    [("admin", "/admin/"), ("center_staff", "/portal/"), ("referral_staff", "/referrals/")],
)
def test_signing_in_lands_on_the_roles_home(client, session, role, landing):
    centers = []
    if role == "center_staff":
        add_centers(session, center_record())
        centers = [1]
    user = make_user(session, role, centers)

    response = login(client, user.email)

    assert response.status_code == 302
    assert response.headers["Location"] == landing
    assert signed_in_as(client) == user.email
    session.expire_all()
    assert session.get(User, user.id).last_login_at is not None


def test_the_email_is_not_case_sensitive(client, session):
    make_user(session, email="casey@example.org")

    assert login(client, "  Casey@Example.ORG ").status_code == 302


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("known@example.org", "not the right password"),
        ("nobody@example.org", PASSWORD),
        ("nobody@example.org", "not the right password"),
        ("not an email", PASSWORD),
    ],
)
def test_a_failed_sign_in_says_the_same_thing_whether_or_not_the_account_exists(client, session, email, password):
    make_user(session, email="known@example.org")

    response = login(client, email, password)

    assert response.status_code == 400
    text = main_text(response)
    assert FAILED in text
    assert "no account" not in text.lower() and "not found" not in text.lower()
    assert signed_in_as(client) is None


def test_failures_for_known_and_unknown_emails_look_identical(client, session):
    make_user(session, email="known@example.org")

    known = login(client, "known@example.org", "wrong password!!")
    unknown = login(client, "unknown@example.org", "wrong password!!")

    assert known.status_code == unknown.status_code
    strip = lambda response, email: main_text(response).replace(email, "")  # noqa: E731
    assert strip(known, "known@example.org") == strip(unknown, "unknown@example.org")


def test_a_deactivated_account_cannot_sign_in_and_gets_the_same_message(client, session):
    user = make_user(session)
    user.active = False
    session.commit()

    response = login(client, user.email)

    assert FAILED in main_text(response)
    assert signed_in_as(client) is None


def test_an_invited_account_without_a_password_cannot_sign_in(client, session):
    user = make_user(session, password=None)

    assert FAILED in main_text(login(client, user.email, "any password at all"))
    assert authenticate(session, user.email, PASSWORD) is None


def test_empty_fields_are_named(client):
    response = client.post("/login", data={"email": "", "password": ""})

    assert response.status_code == 400
    assert "Enter your email address." in main_text(response)
    assert "Enter your password." in main_text(response)


def test_signing_in_starts_a_new_session(client, session):
    user = make_user(session)
    client.get("/login")
    with client.session_transaction() as planted:
        planted["planted_by_attacker"] = "fixation"
        planted["next_step"] = "/evil"
    before = client.get_cookie("session").value

    assert login(client, user.email).status_code == 302

    after = client.get_cookie("session").value
    assert after != before
    with client.session_transaction() as fresh:
        assert "planted_by_attacker" not in fresh and "next_step" not in fresh
        assert fresh["_user_id"] == user.get_id()


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        " //evil.example",
        "/\t/evil.example",
    ],
)
def test_next_never_leads_off_the_site(client, session, next_url):
    user = make_user(session)

    response = login(client, user.email, next_url=next_url)

    assert response.status_code == 302
    assert response.headers["Location"] == "/referrals/"  # the role's home


def test_next_on_this_site_is_honoured(client, session):
    user = make_user(session)

    response = login(client, user.email, next_url="/account")

    assert response.headers["Location"] == "/account"


def test_a_page_that_needs_sign_in_comes_back_after_it(client, session):
    user = make_user(session)

    response = client.get("/account")
    assert response.status_code == 302
    login_page = client.get(response.headers["Location"])
    next_value = Page(login_page.data).find("input", id="next").attrs["value"]
    assert next_value == "/account"
    assert "Please sign in to see that page." in main_text(login_page)

    assert login(client, user.email, next_url=next_value).headers["Location"] == "/account"


def test_the_login_page_sends_signed_in_people_on(client, session):
    user = make_user(session, "admin")
    login(client, user.email)

    response = client.get("/login?next=/account")

    assert response.status_code == 302
    assert response.headers["Location"] == "/account"


def test_the_site_navigation_follows_the_role(client, session):
    add_centers(session, center_record())
    staff = make_user(session, "center_staff", [1])
    admin = make_user(session, "admin")

    assert [link.text for link in Page(client.get("/").data).nav("Site").links][-1] == "Sign in"

    login(client, staff.email)
    nav = Page(client.get("/").data).nav("Site")
    assert nav.link("Portal").path == "/portal/" and nav.link("Account").path == "/account"
    assert not [link for link in nav.links if link.text in ("Admin", "Sign in")]
    assert nav.find("form", method="post", action="/logout")
    assert nav.find("button", type="submit").attrs["class"] == "link-button"

    other = client.application.test_client()
    login(other, admin.email)
    nav = Page(other.get("/").data).nav("Site")
    assert nav.link("Admin").path == "/admin/" and nav.link("Portal").path == "/portal/"
