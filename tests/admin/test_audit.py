"""The audit log page: newest first, filtered by record and by who acted, a page at a time."""

from __future__ import annotations

from directory.accounts import audit
from tests.auth.helpers import main_text
from tests.factories import login, make_user
from tests.public.pages import Page


def test_the_log_shows_who_when_what_and_old_to_new_newest_first(client, session):
    admin = make_user(session, "admin", email="admin@example.org")
    audit.record(session, admin, "center.edit", "center", 7, changes={"phone": ("(312) 555-0100", "(312) 555-0199")})
    session.commit()
    login(client, admin.email)

    text = main_text(client.get("/admin/audit"))

    assert "admin@example.org center.edit center 7 phone (312) 555-0100 → (312) 555-0199" in text


def test_filters_by_record_and_by_actor(client, session):
    admin = make_user(session, "admin", email="admin@example.org")
    other = make_user(session, "admin", email="other@example.org")
    audit.record(session, admin, "center.edit", "center", 7, changes={"phone": ("a", "b")})
    audit.record(session, other, "center.edit", "center", 8, changes={"phone": ("c", "d")})
    audit.record(session, None, "center.import", "center", 7, detail="seed")
    session.commit()
    login(client, admin.email)

    by_record = main_text(client.get("/admin/audit?entity_type=center&entity_id=7"))
    assert "center 7" in by_record and "center 8" not in by_record
    assert "System center.import" in by_record

    by_actor = main_text(client.get("/admin/audit?actor=OTHER@"))
    assert "center 8" in by_actor and "center 7" not in by_actor
    assert "1 event." in by_actor


def test_the_log_is_paginated_newest_first(client, session):
    admin = make_user(session, "admin")
    for n in range(60):
        audit.record(session, admin, "center.edit", "center", n, changes={"phone": (f"old {n}", f"new {n}")})
    session.commit()
    login(client, admin.email)

    first = client.get("/admin/audit?entity_type=center")
    page = Page(first.data)
    assert "60 events, page 1 of 2." in page.main().text
    assert "center 59" in page.main().text and "center 9 " not in page.main().text
    older = page.main().link("Older")
    assert older.params == {"entity_type": ["center"], "page": ["2"]}

    second = main_text(client.get(older.href))
    assert "page 2 of 2" in second and "center 9 " in second and "center 0 " in second and "center 59" not in second


def test_a_bad_filter_is_explained(client, session):
    login(client, make_user(session, "admin").email)

    response = client.get("/admin/audit?page=0")

    assert response.status_code == 400
    assert "Pages start at 1." in main_text(response)
