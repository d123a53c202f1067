"""Security headers and cookie settings on every kind of response."""

from __future__ import annotations

from tests.conftest import make_app, sqlite_url
from tests.factories import add_centers, center_record, make_user


def test_public_pages_send_the_security_headers(client):
    for path in ("/", "/medications", "/api/v1/openapi.json", "/no-such-page"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP here
        assert response.headers.get("Cache-Control") != "no-store"


def test_hsts_over_https(client):
    response = client.get("/", base_url="https://directory.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_signed_in_pages_are_not_cached(client, session):
    user = make_user(session, "admin")
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
    response = client.get("/")
    assert response.headers["Cache-Control"] == "no-store"


def test_bearer_requests_are_not_cached(client, session):
    from directory.accounts.service import issue_api_token

    user = make_user(session, "referral_staff")
    _, token = issue_api_token(session, user, "test")
    session.commit()
    add_centers(session, center_record())
    response = client.get("/api/v1/centers/search?near=60601", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_session_cookie_flags(tmp_path):
    app = make_app(sqlite_url(tmp_path, "c"), SESSION_COOKIE_SECURE=True)
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    client = app.test_client()
    with app.app_context():
        from directory.extensions import db

        user_id = make_user(db.session, "admin").get_id()
    with client.session_transaction() as sess:
        sess["_user_id"] = user_id
    response = client.get("/")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie


def test_oversized_bodies_are_refused(client):
    response = client.post("/api/v1/centers/search", data=b"x" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert response.get_json()["error"]


def test_uploads_are_refused(client):
    import io

    response = client.post("/login", data={"email": "a@example.org", "file": (io.BytesIO(b"x"), "x.txt")})
    assert response.status_code == 415
    assert b"not accepted" in response.data


def test_pages_with_a_token_in_their_url_are_never_stored_signed_out(client, session):
    """The password-reset and invitation links: every answer, the form, a refused post, a success
    and a link that cannot be used, is `no-store`, though no one is signed in."""
    from directory.accounts.service import create_invitation, start_password_reset

    make_user(session, "referral_staff", email="someone@example.org")
    _, reset = start_password_reset(session, "someone@example.org")
    _, invitation = create_invitation(session, "new@example.org", "referral_staff")
    session.commit()
    new_password = {"password": "a brand new passphrase", "confirm": "a brand new passphrase"}
    for path in (f"/password/reset/{reset}", f"/invitations/{invitation}"):
        answers = [client.get(path), client.post(path, data={"password": "short", "confirm": "other"})]
        answers.append(client.post(path, data=new_password))
        client.post("/logout")  # a successful post may have signed the account in
        answers += [client.get(path), client.get(path + "x")]  # used, and never issued
        assert [a.status_code for a in answers[:2]] == [200, 400], path
        for answer in answers:
            assert answer.headers.get("Cache-Control") == "no-store", (path, answer.status_code)
    assert client.get("/login").headers.get("Cache-Control") != "no-store"
