"""The intake's last-use time in the referrer's own time zone: read there, stored in UTC, shown there,
and the plan's dates explained in it."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import inspect, text

from directory import schema
from directory.extensions import db
from tests.portal.conftest import sign_in
from tests.staff.scenario import intake_form, referrals, submit


def page(response) -> str:
    return response.get_data(as_text=True)


def test_a_boston_referrer_types_local_time_it_is_stored_in_utc_and_shown_local(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store, last_opioid_use="2025-12-05T07:51", time_zone="America/New_York")
    assert referral.last_opioid_use == datetime(2025, 12, 5, 12, 51)  # EST is UTC-5 in December
    assert referral.time_zone == "America/New_York"

    text = page(client.get(f"/referrals/{referral.id}"))
    assert "Last opioid use 5 Dec 07:51 + 7 days (short-acting opioid): from 13 Dec" in text
    assert "2025-12-13" in text
    assert "<dt>Times in</dt><dd>America/New York</dd>" in text
    created = referral.created_at
    assert " EST</td>" in text or " EDT</td>" in text  # the timeline, in Boston's time
    assert f"{created:%Y-%m-%d %H:%M} UTC" not in text


def test_the_day_naltrexone_may_start_is_a_day_where_the_referrer_is(client, store, scene):
    """21:00 in Boston is 02:00 the next day in UTC: seven days on is the 13th where they are, not the 14th."""
    sign_in(client, scene.referrer)
    referral = submit(
        client, store, last_opioid_use="2025-12-05T21:00", time_zone="America/New_York", primary_opioid="oxycodone"
    )
    assert referral.last_opioid_use == datetime(2025, 12, 6, 2, 0)
    assert referral.plan["earliest_naltrexone_start"] == "2025-12-13"
    text = page(client.get(f"/referrals/{referral.id}"))
    assert "Last opioid use 5 Dec 21:00 + 7 days (short-acting opioid): from 13 Dec" in text


def test_a_time_the_clocks_skipped_is_refused_beside_the_field(client, store, scene):
    sign_in(client, scene.referrer)
    response = client.post(
        "/referrals/new", data=intake_form(last_opioid_use="2026-03-08T02:30", time_zone="America/New_York")
    )
    assert response.status_code == 400
    text = page(response)
    assert "did not happen in America/New_York: the clocks went forward an hour then" in text
    assert 'id="last_opioid_use-error"' in text
    assert referrals(store) == []


def test_a_time_the_clocks_showed_twice_is_taken_as_the_later(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store, last_opioid_use="2025-11-02T01:30", time_zone="America/New_York")
    assert referral.last_opioid_use == datetime(2025, 11, 2, 6, 30)  # 01:30 EST, after the clocks fell back


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "EST5EDT; DROP TABLE referrals", "../../etc/passwd"])
def test_an_unknown_time_zone_is_a_field_error(client, store, scene, zone):
    sign_in(client, scene.referrer)
    response = client.post("/referrals/new", data=intake_form(time_zone=zone))
    assert response.status_code == 400
    text = page(response)
    assert "Unknown time zone" in text and "give an IANA name, e.g. America/New_York" in text
    assert 'id="time_zone-error"' in text
    assert referrals(store) == []


def test_the_form_lists_us_zones_first_and_fills_in_the_browsers_zone_with_a_script(client, scene):
    sign_in(client, scene.referrer)
    text = page(client.get("/referrals/new"))
    assert text.index('value="America/Chicago"') < text.index('value="Africa/Abidjan"')
    assert "data-browser-time-zone" in text and "/static/time-zone.js" in text
    # Sent back with errors, the form keeps the zone chosen: the script leaves it alone.
    back = page(client.post("/referrals/new", data=intake_form(client_reference="", time_zone="America/Denver")))
    assert "data-browser-time-zone" not in back
    assert '<option selected value="America/Denver">' in back


def test_migration_0018_goes_down_and_up_again(app, client, store, scene):
    sign_in(client, scene.referrer)
    submit(client, store, last_opioid_use="2025-12-05T07:51", time_zone="America/New_York")
    with app.app_context():
        engine = db.engine
        db.session.close()
        schema.downgrade(engine, "0017")
        assert "time_zone" not in {c["name"] for c in inspect(engine).get_columns("referrals")}
        schema.upgrade(engine)
        assert schema.is_current(engine)
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT time_zone FROM referrals")) == "UTC"  # as entered before
    assert (
        submit(client, store, client_reference="CASE-2001", time_zone="America/Chicago").time_zone == "America/Chicago"
    )
