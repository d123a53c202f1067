"""Test data: centers with sensible defaults, overridable field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy.orm import Session

from directory.sources.loader import import_rows
from directory.sources.records import CenterRecord, ParsedRow

_ids = count(1)


def center_record(**fields: Any) -> CenterRecord:
    """A valid record near downtown Chicago unless told otherwise."""
    n = next(_ids)
    values: dict[str, Any] = {
        "external_id": f"test:{n}",
        "name": f"Test Center {n}",
        "street1": f"{n} Main Street",
        "city": "Chicago",
        "state": "IL",
        "zip": "60601",
        "phone": "(312) 555-0100",
        "latitude": 41.8855,
        "longitude": -87.6217,
        "source": "test",
        "source_vintage": 2026,
        "levels_of_care": ["outpatient"],
        "payment_options": ["self_pay"],
    }
    values.update(fields)
    return CenterRecord(**values)


def add_centers(session: Session, *records: CenterRecord) -> None:
    """Write records through the real loader, as an import would."""
    report = import_rows(session, (ParsedRow(i + 2, r, []) for i, r in enumerate(records)), "test")
    assert report.written, report.issues


PASSWORD = "correct horse battery staple"
_emails = count(1)


def make_user(session: Session, role: str = "referral_staff", centers: Any = (), *, email: str | None = None,
              password: str | None = PASSWORD) -> Any:  # fmt: skip
    """A committed account (center staff get the given centers or center ids)."""
    from directory.accounts.service import create_user

    center_ids = [c if isinstance(c, int) else c.id for c in centers]
    user = create_user(session, email or f"user{next(_emails)}@example.org", role, center_ids, password=password)
    session.commit()
    return user


def login(client: Any, email: str, password: str = PASSWORD, next_url: str | None = None) -> Any:
    """Sign in through the real login form; returns the response."""
    data = {"email": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def hsds_id_for(endpoint: str, center_id: int) -> str:
    """For an HSDS endpoint that takes an id ("hsds.service"...), the id of a real object: the
    center's own, or the taxonomy's, or a taxonomy term's."""
    from directory.sources import hsds

    kind = endpoint.removeprefix("hsds.")
    if kind in hsds.LISTING_KINDS:
        return hsds.listing_uuid(kind, center_id)
    return hsds.TAXONOMY_ID if kind == "taxonomy" else hsds.term_id("medications")


def days_from_today(days: int) -> str:
    """The date (UTC) this many days from today, as YYYY-MM-DD: an admission date or a consent's end
    that the intake and the offers accept whenever the tests run."""
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()
