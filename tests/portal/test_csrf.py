"""Every portal form carries a CSRF token, and a post without one changes nothing."""

from __future__ import annotations

import pytest

from tests.portal.conftest import edit_data, sign_in
from tests.public.pages import Page


@pytest.fixture
def csrf_client(app, client, cast):
    sign_in(client, cast.staff_b)
    app.config["WTF_CSRF_ENABLED"] = True
    return client


def posts(cast):
    return [
        (f"/portal/centers/{cast.b.id}/edit", edit_data(cast.b, name="Forged")),
        (f"/portal/centers/{cast.b.id}/capacity", {"accepting_referrals": "false", "beds_available": "1"}),
        (f"/portal/centers/{cast.b.id}/confirm", {}),
        (f"/portal/claims/new?center={cast.a.id}", {"message": "forged"}),
    ]


def test_posts_without_a_token_are_refused(csrf_client, store, cast):
    for path, data in posts(cast):
        assert csrf_client.post(path, data=data).status_code == 400, path
    center = store.center(cast.b.id)
    assert (center.name, center.accepting_referrals, center.last_verified_at) == ("Beta House", None, None)
    assert store.claims() == []


def _token(page: Page, action: str) -> str:
    """The CSRF token of the form posting to `action`."""
    start = page.html.index(f'action="{action}"')
    chunk = Page(page.html[start : page.html.index("</form>", start)])
    return chunk.find("input", name="csrf_token").attrs["value"] or ""


def test_the_pages_forms_carry_their_tokens(csrf_client, store, cast):
    home = Page(csrf_client.get("/portal/").data)
    for action, data in [
        (f"/portal/centers/{cast.b.id}/capacity", {"accepting_referrals": "false", "beds_available": "1"}),
        (f"/portal/centers/{cast.b.id}/confirm", {}),
    ]:
        response = csrf_client.post(action, data={**data, "csrf_token": _token(home, action)})
        assert response.status_code == 302, action

    edit = f"/portal/centers/{cast.b.id}/edit"
    token = _token(Page(csrf_client.get(edit).data), edit)
    assert csrf_client.post(edit, data={**edit_data(cast.b, name="Beta"), "csrf_token": token}).status_code == 302

    claim = f"/portal/claims/new?center={cast.a.id}"
    token = _token(Page(csrf_client.get(claim).data), claim)
    assert csrf_client.post(claim, data={"csrf_token": token}).status_code == 302

    center = store.center(cast.b.id)
    assert (center.name, center.accepting_referrals, center.last_verified_at is not None) == ("Beta", False, True)
    assert len(store.claims()) == 1
