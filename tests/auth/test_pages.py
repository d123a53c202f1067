"""Every account and admin page: one heading, labelled fields, CSRF-protected posts, nothing inline."""

from __future__ import annotations

import pytest

from directory.accounts.service import create_invitation, start_password_reset
from directory.models import ListingClaim
from tests.conftest import make_app, sqlite_url
from tests.factories import PASSWORD, add_centers, center_record, make_user
from tests.public.pages import Page

PAGES = [
    "/login",
    "/login?idle=1",
    "/password/forgot",
    "/password/reset/{reset}",
    "/invitations/{invitation}",
    "/invitations/used-or-unknown",
    "/account",
    "/admin/",
    "/admin/users",
    "/admin/invitations/new?find=center",
    "/admin/claims",
    "/admin/audit",
]


@pytest.fixture
def pages(tmp_path):
    """An app with CSRF on (as in production), an admin signed in on one client, anonymous on another."""
    from directory.extensions import db

    app = make_app(sqlite_url(tmp_path, "pages"), WTF_CSRF_ENABLED=True, MAIL_OUTBOX=str(tmp_path))
    with app.app_context():
        add_centers(db.session, center_record(name="Test Center Page"))
        make_user(db.session, "admin", email="admin@example.org")
        staff = make_user(db.session, "center_staff", [1])
        db.session.add(ListingClaim(user_id=staff.id, center_id=1, message="mine"))
        _, reset = start_password_reset(db.session, staff.email)
        _, invitation = create_invitation(db.session, "new@example.org", "center_staff", [1])
        db.session.commit()
        tokens = {"reset": reset, "invitation": invitation}
    admin_client, anonymous = app.test_client(), app.test_client()
    page = Page(admin_client.get("/login").data)
    token = page.find("input", name="csrf_token").attrs["value"]
    admin_client.post("/login", data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": token})
    yield tokens, admin_client, anonymous
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_well_formed(pages, path):
    tokens, admin_client, anonymous = pages
    client = admin_client if path.startswith(("/account", "/admin")) else anonymous
    response = client.get(path.format(**tokens))
    assert response.status_code in (200, 410), response.status_code
    page = Page(response.data)

    assert len(page.find_all("h1")) == 1
    assert "<style" not in page.html
    for attrs, body in page.scripts:
        assert attrs.get("src", "").startswith("/static/") and not body.strip()
    for element in page.elements:
        assert "style" not in element.attrs and not [name for name in element.attrs if name.startswith("on")]
    labels = {e.attrs.get("for") for e in page.find_all("label")}
    for field in page.elements:
        if field.tag in ("input", "select", "textarea") and field.attrs.get("type") not in ("hidden", "submit"):
            assert field.attrs.get("id") in labels, field
    for form in page.find_all("form"):
        if form.attrs.get("method") == "post":
            assert 'name="csrf_token"' in page.html


def test_posting_a_form_from_its_page_works_with_csrf_on(pages):
    _, admin_client, _ = pages
    page = Page(admin_client.get("/admin/invitations/new").data)
    token = page.find_all("input", name="csrf_token")[0].attrs["value"]

    response = admin_client.post(
        "/admin/invitations/new",
        data={"email": "x@example.org", "role": "referral_staff", "centers": "", "csrf_token": token},
    )

    assert response.status_code == 302
