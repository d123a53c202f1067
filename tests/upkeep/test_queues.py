"""The queues of problem reports: a center's staff see and resolve their center's, admins everyone's;
nobody else sees or resolves any; resolving is audited and clears the profile's note."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from directory.models import AuditEvent, ListingReport
from directory.models.base import utcnow
from directory.upkeep import reports
from tests.portal.conftest import sign_in
from tests.public.pages import Page


@pytest.fixture
def filed(store, cast) -> dict[str, int]:
    """One open report on each center: {"a": id, "b": id}."""
    with store.session() as session:
        on_a = reports.file_report(session, cast.a.id, "wrong_phone", "Rings a pizzeria", now=utcnow())
        on_b = reports.file_report(session, cast.b.id, "closed", "Boarded up", now=utcnow())
        session.commit()
        return {"a": on_a.id, "b": on_b.id}


def report(store, report_id: int) -> ListingReport:
    with store.session() as session:
        found = session.get(ListingReport, report_id)
        assert found is not None
        return found


def test_staff_see_their_centers_open_reports_and_resolve_one_as_fixed(client, store, cast, filed):
    sign_in(client, cast.staff_a)
    home = Page(client.get("/portal/").data)
    assert f"/portal/centers/{cast.a.id}/reports" in [link.href for link in home.links]
    assert "1 open problem report" in Page(client.get(f"/portal/centers/{cast.a.id}/").data).text
    page = Page(client.get(f"/portal/centers/{cast.a.id}/reports").data)
    assert "The phone number is wrong" in page.text and "Rings a pizzeria" in page.text
    assert "Boarded up" not in page.text  # center B's

    response = client.post(
        f"/portal/centers/{cast.a.id}/reports/{filed['a']}/resolve",
        data={"outcome": "fixed", "note": "Number corrected"},
    )
    assert response.status_code == 302 and response.headers["Location"] == f"/portal/centers/{cast.a.id}/reports"
    resolved = report(store, filed["a"])
    assert (resolved.resolution, resolved.resolution_note, resolved.resolved_by_id) == (
        "fixed",
        "Number corrected",
        cast.staff_a.id,
    )
    assert resolved.resolved_at is not None
    [event] = store.events("listing_report.resolve")
    assert (event.actor_id, event.entity_type, event.entity_id, event.field, event.new_value) == (
        cast.staff_a.id,
        "listing_report",
        str(filed["a"]),
        "resolution",
        "fixed",
    )
    after = Page(client.get(f"/portal/centers/{cast.a.id}/reports").data).text
    assert "is resolved: fixed" in after and "No open problem reports." in after
    assert "Reported as possibly" not in client.get(f"/centers/{cast.a.slug}").get_data(as_text=True)


def test_a_report_resolved_already_or_an_unknown_outcome_changes_nothing(client, store, cast, filed):
    sign_in(client, cast.staff_a)
    url = f"/portal/centers/{cast.a.id}/reports/{filed['a']}/resolve"
    client.post(url, data={"outcome": "deleted"})
    assert report(store, filed["a"]).resolved_at is None
    assert "Choose how it was resolved (got &#39;deleted&#39;): fixed, or not a problem." in client.get(
        f"/portal/centers/{cast.a.id}/reports"
    ).get_data(as_text=True)
    client.post(url, data={"outcome": "not_a_problem"})
    client.post(url, data={"outcome": "fixed"})
    assert report(store, filed["a"]).resolution == "not_a_problem"
    assert len(store.events("listing_report.resolve")) == 1


def test_admins_see_every_open_report_and_resolve_any(client, store, cast, filed):
    sign_in(client, cast.admin)
    index = Page(client.get("/admin/").data)
    assert "2 open problem reports on listings" in index.text
    assert "/admin/stale" in [link.href for link in index.links]
    page = Page(client.get("/admin/reports").data).text
    assert "Rings a pizzeria" in page and "Boarded up" in page
    response = client.post(f"/admin/reports/{filed['b']}/resolve", data={"outcome": "not_a_problem"})
    assert response.status_code == 302
    assert report(store, filed["b"]).resolved_by_id == cast.admin.id
    assert "Boarded up" not in Page(client.get("/admin/reports").data).text
    # And through the portal, as for any center.
    client.post(f"/portal/centers/{cast.a.id}/reports/{filed['a']}/resolve", data={"outcome": "fixed"})
    assert report(store, filed["a"]).resolved_by_id == cast.admin.id


def test_staff_of_another_center_cannot_see_or_resolve_and_the_attempt_is_logged(client, store, cast, filed):
    sign_in(client, cast.staff_b)
    assert client.get(f"/portal/centers/{cast.a.id}/reports").status_code == 404
    url = f"/portal/centers/{cast.a.id}/reports/{filed['a']}/resolve"
    assert client.post(url, data={"outcome": "fixed"}).status_code == 404
    # Center A's report through center B's own address: still not theirs.
    own = f"/portal/centers/{cast.b.id}/reports/{filed['a']}/resolve"
    assert client.post(own, data={"outcome": "fixed"}).status_code == 404
    assert report(store, filed["a"]).resolved_at is None
    denied = [(e.entity_type, e.entity_id) for e in store.events("access.denied")]
    assert denied == [("center", str(cast.a.id)), ("center", str(cast.a.id)), ("listing_report", str(filed["a"]))]
    assert client.get("/admin/reports").status_code == 403
    assert client.post(f"/admin/reports/{filed['a']}/resolve", data={"outcome": "fixed"}).status_code == 403


@pytest.mark.parametrize("who", ["anonymous", "referral"])
def test_anonymous_visitors_sign_in_first_and_referral_staff_are_refused(client, store, cast, filed, who):
    sign_in(client, cast.user(who))
    paths = [
        ("GET", f"/portal/centers/{cast.a.id}/reports"),
        ("POST", f"/portal/centers/{cast.a.id}/reports/{filed['a']}/resolve"),
        ("GET", "/admin/reports"),
        ("POST", f"/admin/reports/{filed['a']}/resolve"),
        ("GET", "/admin/stale"),
    ]
    for method, path in paths:
        response = client.open(path, method=method, data={"outcome": "fixed"} if method == "POST" else None)
        if who == "anonymous":
            assert response.status_code == 302 and response.headers["Location"].startswith("/login?next="), path
        else:
            assert response.status_code == 403, path
    assert report(store, filed["a"]).resolved_at is None
    with store.session() as session:
        assert session.scalars(select(AuditEvent).where(AuditEvent.action == "listing_report.resolve")).all() == []


def test_an_unknown_report_is_404_for_admins(client, cast):
    sign_in(client, cast.admin)
    assert client.post("/admin/reports/999999/resolve", data={"outcome": "fixed"}).status_code == 404
    assert (
        client.post(f"/portal/centers/{cast.a.id}/reports/999999/resolve", data={"outcome": "fixed"}).status_code == 404
    )
