"""Listings with every kind of HSDS object to show, shared by the API and export tests."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select, update

from directory.models import Center
from tests.factories import add_centers, center_record

MILES_PER_DEGREE_LATITUDE = 69.05
CHICAGO_60601 = (41.8855, -87.6217)


def north(miles: float) -> dict[str, float]:
    """Coordinates about this many miles due north of downtown Chicago."""
    return {"latitude": CHICAGO_60601[0] + miles / MILES_PER_DEGREE_LATITUDE, "longitude": CHICAGO_60601[1]}


def ids_of(session, *names: str) -> dict[str, int]:
    return dict(session.execute(select(Center.name, Center.id).where(Center.name.in_(names))).all())


@pytest.fixture
def listings(session) -> dict[str, int]:
    """Four listings: one with every kind of code, a neighbour, a superseded one nearby, one far away."""
    add_centers(
        session,
        center_record(
            name="Lakeshore Recovery",
            alt_name="Lakeshore Detox Unit",
            street2="Suite 400",
            phone="(312) 555-0100 ext. 12",
            intake_phone="(312) 555-0199",
            website="https://lakeshore.example.org/intake",
            levels_of_care=["medical_detox", "outpatient"],
            payment_options=["medicaid", "sliding_scale"],
            medications=["naltrexone_injectable", "buprenorphine"],
            populations=["veterans"],
            languages=["es", "other_languages"],
            **north(0.5),
        ),
        center_record(name="Westside Clinic", street1=None, **north(5)),
        center_record(name="Gone Center", **north(1)),
        center_record(
            name="Milwaukee Place", city="Milwaukee", state="WI", zip="53202", latitude=43.04, longitude=-87.91
        ),
    )
    ids = ids_of(session, "Lakeshore Recovery", "Westside Clinic", "Gone Center", "Milwaukee Place")
    session.execute(
        update(Center)
        .where(Center.id == ids["Gone Center"])
        .values(
            superseded_at=datetime(2025, 8, 20), superseded_by="findtreatment-gov", superseded_by_date=date(2025, 8, 19)
        )
    )
    session.execute(
        update(Center).where(Center.id == ids["Lakeshore Recovery"]).values(last_verified_at=datetime(2026, 2, 3, 10))
    )
    session.commit()
    return ids
