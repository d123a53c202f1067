"""Reporting a problem with a listing: the public form, its checks, CSRF, the rate limit, the note on
the profile and in results until the report is resolved, and nothing stored about the person."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import select, text

from directory.extensions import db, limiter
from directory.models import Base, ListingReport
from directory.models.base import utcnow
from directory.upkeep import reports
from tests.conftest import make_app
from tests.factories import add_centers, center_record
from tests.public.pages import Page


def report_url(center) -> str:
    return f"/centers/{center.slug}/report"


def stored_reports(store) -> list[ListingReport]:
    with store.session() as session:
        return list(session.scalars(select(ListingReport).order_by(ListingReport.id)))


def test_the_profile_links_to_the_report_form(client, cast):
    page = Page(client.get(f"/centers/{cast.a.slug}").data)
    assert report_url(cast.a) in [link.href for link in page.links]
    form = Page(client.get(report_url(cast.a)).data)
    assert "Please do not write names, contact details or anything about anyone's health" in form.text
    assert [e.attrs["value"] for e in form.elements if e.attrs.get("name") == "reason"] == [
        "wrong_phone",
        "closed",
        "wrong_services",
        "other",
    ]


def test_a_report_is_stored_and_thanked_for_and_the_profile_says_so_until_resolved(client, store, cast):
    response = client.post(report_url(cast.a), data={"reason": "wrong_phone", "note": "  It is now  (312) 555-0199 "})
    assert response.status_code == 302 and response.headers["Location"] == f"/centers/{cast.a.slug}"
    [report] = stored_reports(store)
    assert (report.center_id, report.reason, report.note, report.resolved_at) == (
        cast.a.id,
        "wrong_phone",
        "It is now (312) 555-0199",
        None,
    )
    profile = Page(client.get(f"/centers/{cast.a.slug}").data).text
    assert "Thank you. Your report went to the center" in profile
    day = f"{report.created_at:%B} {report.created_at.day}, {report.created_at.year}"
    assert f"Reported as possibly out of date on {day}." in profile
    results = client.get("/search?near=60601").get_data(as_text=True)
    assert results.count("Reported as possibly out of date on") == 1  # center A's card, not B's

    with store.session() as session:
        reports.resolve_report(
            session, session.get(ListingReport, report.id), "fixed", "", actor=cast.staff_a, now=utcnow()
        )
        session.commit()
    assert "Reported as possibly" not in client.get(f"/centers/{cast.a.slug}").get_data(as_text=True)
    assert "Reported as possibly" not in client.get("/search?near=60601").get_data(as_text=True)


def test_the_banner_gives_the_date_of_the_oldest_open_report(client, store, cast):
    with store.session() as session:
        first = reports.file_report(session, cast.a.id, "closed", None, now=utcnow().replace(year=2026, month=3, day=3))
        reports.file_report(session, cast.a.id, "other", "Moved", now=utcnow().replace(year=2026, month=5, day=9))
        session.commit()
        assert first.id
    assert "Reported as possibly out of date on March 3, 2026." in client.get(f"/centers/{cast.a.slug}").text


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "reason", "Choose what is wrong: the phone number is wrong, the center has closed"),
        ({"reason": "rude_staff"}, "reason", "Choose what is wrong (got 'rude_staff'): the phone number is wrong"),
        ({"reason": "other"}, "note", "Say in a few words what is wrong (“Something else” needs a note)."),
        ({"reason": "other", "note": "   "}, "note", "Say in a few words what is wrong"),
        ({"reason": "closed", "note": "x" * 501}, "note", "Keep the note to 500 characters (it has 501)."),
    ],
)
def test_each_wrong_answer_is_named_beside_its_field_and_nothing_is_stored(client, store, cast, data, field, message):
    response = client.post(report_url(cast.a), data=data)
    assert response.status_code == 400
    page = Page(response.data)
    errors = page.html[page.html.index(f'id="{field}') :]
    assert message.replace("'", "&#39;") in errors, page.text[:2000]
    assert "The report was not sent" in page.text
    assert stored_reports(store) == []


def test_a_note_of_500_characters_is_accepted(client, store, cast):
    assert client.post(report_url(cast.a), data={"reason": "other", "note": "y" * 500}).status_code == 302
    assert len(stored_reports(store)[0].note) == 500


def test_an_unknown_listing_has_no_report_form(client, cast):
    assert client.get("/centers/no-such-center/report").status_code == 404
    assert client.post("/centers/no-such-center/report", data={"reason": "closed"}).status_code == 404


def test_nothing_about_the_person_is_stored_or_logged(app, client, store, cast, caplog):
    address, agent = "203.0.113.77", "Mozilla/5.0 (Reporter's Phone)"
    with caplog.at_level(logging.DEBUG):
        response = client.post(
            report_url(cast.a),
            data={"reason": "other", "note": "Closed on Sundays now"},
            environ_base={"REMOTE_ADDR": address},
            headers={"User-Agent": agent},
        )
    assert response.status_code == 302
    assert "Closed on Sundays now" not in caplog.text
    with app.app_context():
        dump = []
        for table in Base.metadata.sorted_tables:
            dump += [str(row) for row in db.session.execute(text(f"SELECT * FROM {table.name}"))]
    assert dump and not [row for row in dump if address in row or "Reporter" in row]
    assert {c.name for c in ListingReport.__table__.columns} == {
        "id",
        "center_id",
        "reason",
        "note",
        "created_at",
        "resolved_at",
        "resolved_by_id",
        "resolution",
        "resolution_note",
    }


@pytest.fixture
def protected_app(tmp_path):
    """CSRF protection and rate limits on, as in production (the limiter is shared: reset its counts)."""
    app = make_app(
        f"sqlite:///{tmp_path / 'limits.sqlite3'}",
        WTF_CSRF_ENABLED=True,
        RATELIMIT_ENABLED=True,
        MAIL_OUTBOX=str(tmp_path / "outbox"),
    )
    limiter.reset()
    with app.app_context():
        add_centers(db.session, center_record(name="Gamma Clinic"))
        db.session.commit()
    yield app
    limiter.reset()
    with app.app_context():
        db.engine.dispose()


def _csrf(client, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert match
    return match.group(1)


def _count(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(ListingReport)).all())


def test_a_report_without_the_forms_token_is_refused(protected_app):
    client = protected_app.test_client()
    path = "/centers/gamma-clinic-chicago-il/report"
    assert client.post(path, data={"reason": "closed"}).status_code == 400
    assert _count(protected_app) == 0
    token = _csrf(client, path)
    assert client.post(path, data={"reason": "closed", "csrf_token": token}).status_code == 302
    assert _count(protected_app) == 1


def test_the_sixth_report_in_an_hour_from_one_address_gets_a_page_saying_when_to_try_again(protected_app):
    client = protected_app.test_client()
    path = "/centers/gamma-clinic-chicago-il/report"
    token = _csrf(client, path)
    statuses = [client.post(path, data={"reason": "closed", "csrf_token": token}).status_code for _ in range(5)]
    assert statuses == [302] * 5
    refused = client.post(path, data={"reason": "closed", "csrf_token": token})
    assert refused.status_code == 429
    message = Page(refused.data).main().text
    assert re.search(r"Too many reports from your connection in a short time \(at most 5 an hour and 20 a day\)\. "
                     r"Please try again in (60|59) minutes\.", message), message  # fmt: skip
    assert int(refused.headers["Retry-After"]) > 3000
    assert _count(protected_app) == 5
    # Another address is not held back, and reading the form is never limited.
    other = client.post(path, data={"reason": "closed", "csrf_token": token}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 302
    assert client.get(path).status_code == 200


def test_only_accepted_reports_count_toward_the_limit(protected_app):
    client = protected_app.test_client()
    path = "/centers/gamma-clinic-chicago-il/report"
    token = _csrf(client, path)
    refused = [client.post(path, data={"reason": "lost", "csrf_token": token}).status_code for _ in range(6)]
    assert refused == [400] * 6
    statuses = [client.post(path, data={"reason": "closed", "csrf_token": token}).status_code for _ in range(6)]
    assert statuses == [302] * 5 + [429]
    assert _count(protected_app) == 5
