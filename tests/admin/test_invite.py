"""Inviting people: the form's messages, and the whole way from invitation to a signed-in account."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from directory.models import AuditEvent, Invitation, User
from tests.auth.helpers import link_in_mail, main_text, outbox, signed_in_as
from tests.factories import add_centers, center_record, login, make_user
from tests.public.pages import Page

PASSWORD = "the invitees own passphrase"


@pytest.fixture
def admin(client, session):
    add_centers(session, center_record(name="Riverside Recovery"), center_record(name="Hilltop Detox"))
    admin = make_user(session, "admin", email="admin@example.org")
    login(client, admin.email)
    return admin


def test_invited_center_staff_end_to_end(app, client, session, admin):
    response = client.post(
        "/admin/invitations/new", data={"email": "New.Staff@Example.org", "role": "center_staff", "centers": "1, 2"}
    )

    assert response.status_code == 302
    confirmation = main_text(client.get(response.headers["Location"]))
    assert "Invitation sent to new.staff@example.org as center staff" in confirmation
    assert "Hilltop Detox" in confirmation and "Riverside Recovery" in confirmation

    [mail] = outbox(app)
    assert mail["To"] == "new.staff@example.org"
    path = link_in_mail(mail)
    assert path.startswith("/invitations/")
    assert "72 hours" in mail.get_content()

    invitee = app.test_client()
    page = invitee.get(path)
    assert "new.staff@example.org" in main_text(page) and "Center staff" in main_text(page)
    accepted = invitee.post(path, data={"password": PASSWORD, "confirm": PASSWORD})

    assert accepted.status_code == 302 and accepted.headers["Location"] == "/portal/"
    assert signed_in_as(invitee) == "new.staff@example.org"
    user = session.scalars(select(User).where(User.email == "new.staff@example.org")).one()
    assert user.role == "center_staff" and sorted(c.id for c in user.centers) == [1, 2]
    invitation = session.scalars(select(Invitation)).one()
    assert invitation.invited_by_id == admin.id and invitation.used_at is not None
    assert path.rsplit("/", 1)[1] not in invitation.token_hash
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["invitation.create", "invitation.accept"]


def test_invited_referral_staff_need_no_centers(app, client, admin):
    client.post("/admin/invitations/new", data={"email": "ref@example.org", "role": "referral_staff", "centers": ""})

    invitee = app.test_client()
    path = link_in_mail(outbox(app)[0])
    response = invitee.post(path, data={"password": PASSWORD, "confirm": PASSWORD})

    assert response.headers["Location"] == "/referrals/"
    assert signed_in_as(invitee) == "ref@example.org"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "x@example.org", "role": "center_staff", "centers": "1, two"}, "centers",
         "'two' is not a center id"),
        ({"email": "x@example.org", "role": "center_staff", "centers": "1, 99"}, "centers", "No center has id 99."),
        ({"email": "x@example.org", "role": "center_staff", "centers": ""}, "centers",
         "Center staff need at least one center."),
        ({"email": "x@example.org", "role": "referral_staff", "centers": "1"}, "centers",
         "Only center staff belong to centers."),
        ({"email": "not an address", "role": "admin", "centers": ""}, "email", "Not a valid email address"),
        ({"email": "ÜNICODE@exämple.org", "role": "admin", "centers": ""}, "email",
         "Not every mail server can deliver to ÜNICODE@exämple.org: before the @, use only unaccented letters (a-z), "
         "digits and punctuation such as . _ + - (after the @, accents are fine, e.g. maria@exämple.org)."),
        ({"email": "", "role": "admin", "centers": ""}, "email", "Enter the address"),
        ({"email": "admin@example.org", "role": "admin", "centers": ""}, "email", "already has an account"),
        ({"email": "x@example.org", "role": "superuser", "centers": ""}, "role", "Not a valid choice"),
    ],
)  # fmt: skip
def test_the_form_says_what_is_wrong_beside_the_field(app, client, session, admin, data, field, message):
    response = client.post("/admin/invitations/new", data=data)

    assert response.status_code == 400
    assert message in Page(response.data).text_of(f"{field}-error")
    assert outbox(app) == []
    assert session.scalars(select(Invitation)).all() == []


def test_an_invitation_to_a_domain_with_accents_is_mailed_to_its_idna_form(app, client, session, admin):
    client.post("/admin/invitations/new", data={"email": "Staff@Exämple.org", "role": "referral_staff", "centers": ""})

    [mail] = outbox(app)
    assert mail["To"] == "staff@xn--exmple-cua.org"
    assert session.scalars(select(Invitation.email)).one() == "staff@exämple.org"
    invitee = app.test_client()
    invitee.post(link_in_mail(mail), data={"password": PASSWORD, "confirm": PASSWORD})
    assert signed_in_as(invitee) == "staff@exämple.org"


def test_the_form_names_the_centers_it_found(client, admin):
    response = client.post("/admin/invitations/new", data={"email": "", "role": "center_staff", "centers": "2"})

    assert "Hilltop Detox, Chicago, IL (id 2)" in main_text(response)


def test_finding_a_centers_id_by_name(client, admin):
    page = Page(client.get("/admin/invitations/new?find=hill").data)

    assert "Hilltop Detox" in page.main().text and "Riverside" not in page.main().text
    assert "No center's name contains “zzz”." in main_text(client.get("/admin/invitations/new?find=zzz"))
