"""`flask users create` and `flask api-tokens create`: accounts and tokens from the command line."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from directory.accounts.service import user_for_api_token
from directory.extensions import db
from directory.models import ApiToken, AuditEvent, Invitation, User
from tests.auth.helpers import signed_in_as
from tests.factories import add_centers, center_record, login, make_user

PASSWORD = "a passphrase from stdin"


@pytest.fixture
def centers(app) -> None:
    with app.app_context():
        add_centers(db.session, center_record(), center_record())


def test_a_password_on_stdin_creates_a_ready_account(app, runner, centers):
    result = runner.invoke(
        args=["users", "create", "Ops@Example.org", "--role", "center_staff", "--center", "1", "--center", "2"],
        input=PASSWORD + "\nignored second line\n",
    )

    assert result.exit_code == 0, result.output
    assert "Created the account of ops@example.org (center staff of centers 1, 2)." in result.output
    assert PASSWORD not in result.output
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == "ops@example.org")).one()
        assert user.role == "center_staff" and [c.id for c in user.centers] == [1, 2]
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.create")).one()
        assert event.actor_id is None and event.entity_id == str(user.id)
    client = app.test_client()
    assert login(client, "ops@example.org", PASSWORD).status_code == 302


def test_without_stdin_it_prints_a_one_time_invitation_link(app, runner):
    result = runner.invoke(args=["users", "create", "boss@example.org", "--role", "admin"], input="")

    assert result.exit_code == 0, result.output
    links = re.findall(r"http://127\.0\.0\.1:5000(/invitations/\S+)", result.stdout)
    assert len(links) == 1 and result.stdout.strip().endswith(links[0])
    with app.app_context():
        invitation = db.session.scalars(select(Invitation)).one()
        assert invitation.email == "boss@example.org" and invitation.role == "admin"
        assert invitation.invited_by_id is None
        assert db.session.scalars(select(User)).all() == []
    client = app.test_client()
    response = client.post(links[0], data={"password": PASSWORD, "confirm": PASSWORD})
    assert response.headers["Location"] == "/admin/"
    assert signed_in_as(client) == "boss@example.org"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody@", "--role", "admin"], "Not a valid email address"),
        (["a@example.org", "--role", "superuser"], "Unknown role 'superuser'; accepted: admin, referral_staff"),
        (["a@example.org", "--role", "center_staff", "--center", "99"], "No center has id 99."),
        (["a@example.org", "--role", "center_staff", "--center", "one"], "--center takes a center id"),
        (["a@example.org", "--role", "center_staff"], "Center staff need at least one center."),
        (["a@example.org", "--role", "referral_staff", "--center", "1"], "Only center staff belong to centers."),
    ],
)
def test_bad_input_fails_with_a_clear_message(app, runner, centers, args, message):
    for stdin in ("", PASSWORD + "\n"):
        result = runner.invoke(args=["users", "create", *args], input=stdin)

        assert result.exit_code == 1
        assert message in result.output
    with app.app_context():
        assert db.session.scalars(select(User)).all() == []
        assert db.session.scalars(select(Invitation)).all() == []


def test_a_short_password_on_stdin_is_refused(runner):
    result = runner.invoke(args=["users", "create", "a@example.org", "--role", "admin"], input="short\n")

    assert result.exit_code == 1
    assert "Use at least 12 characters." in result.output


def test_an_existing_account_is_not_created_twice(app, runner):
    with app.app_context():
        make_user(db.session, email="taken@example.org")

    result = runner.invoke(args=["users", "create", "taken@example.org", "--role", "admin"], input=PASSWORD)

    assert result.exit_code == 1
    assert "There is already an account for taken@example.org." in result.output


def test_api_tokens_create_prints_the_token_once_and_stores_its_hash(app, runner):
    with app.app_context():
        user = make_user(db.session, email="robot@example.org")
        user_id = user.id

    result = runner.invoke(args=["api-tokens", "create", "Robot@example.org", "--name", "nightly sync"])

    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("tdk_") and "\n" not in token
    assert "nightly sync" in result.output and "cannot be shown again" in result.output
    with app.app_context():
        stored = db.session.scalars(select(ApiToken)).one()
        assert stored.user_id == user_id and stored.name == "nightly sync" and stored.token_hash != token
        assert user_for_api_token(db.session, token).id == user_id
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "api_token.create")).one()
        assert event.entity_id == str(stored.id)


@pytest.mark.parametrize("email", ["nobody@example.org", "inactive@example.org"])
def test_api_tokens_create_needs_an_active_account(app, runner, email):
    with app.app_context():
        user = make_user(db.session, email="inactive@example.org")
        user.active = False
        db.session.commit()

    result = runner.invoke(args=["api-tokens", "create", email])

    assert result.exit_code == 1
    assert "No account" in result.output or "deactivated" in result.output
    with app.app_context():
        assert db.session.scalars(select(ApiToken)).all() == []
