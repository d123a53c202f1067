"""A referral whose client reference its sender already has in progress is refused, unless sent anyway:
most likely the same person sent twice (a double click, a second tab), which would hold a place at
two centers."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.extensions import db
from directory.models import AuditEvent, OutboxMessage, Referral, TimelineEntry, User
from directory.referrals.intake import validate_intake
from directory.referrals.service import DuplicateReferral, cancel_referral, submit_referral
from directory.search.geocoding import OfflineGeocoder
from tests.factories import make_user
from tests.referrals.test_lifecycle import NOW, centers, intake_data, staff, submit  # noqa: F401  (shared fixtures)


def stored(session: Session) -> tuple[int, ...]:
    session.expire_all()
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Referral, OutboxMessage, AuditEvent, TimelineEntry)
    )


def test_a_reference_in_progress_is_refused_naming_the_referral_and_nothing_is_written(session, staff):  # noqa: F811
    first = submit(session, staff)
    before = stored(session)
    with pytest.raises(DuplicateReferral) as refused:
        submit(session, staff)
    assert refused.value.existing_id == first.id
    assert str(refused.value) == (
        "You already have a referral in progress with the reference CASE-1042, sent on 2026-11-20. "
        "If this one is for another person or a new episode of care, send it anyway."
    )
    assert stored(session) == before


def test_another_reference_another_sender_an_ended_referral_or_sending_anyway_goes_through(session, staff):  # noqa: F811
    first = submit(session, staff)
    submit(session, staff, client_reference="CASE-2001")
    submit(session, make_user(session, "referral_staff"))  # the same reference, another sender
    cancel_referral(session, first.id, staff, "Sent by mistake", now=NOW)
    again = submit(session, staff)  # the first one ended
    intake = validate_intake(intake_data(), OfflineGeocoder(), NOW)
    anyway = submit_referral(session, intake, staff, now=NOW, allow_duplicate=True)
    assert again.id != anyway.id
    references = session.scalars(select(Referral.client_reference).where(Referral.created_by_id == staff.id))
    assert sorted(references) == ["CASE-1042", "CASE-1042", "CASE-1042", "CASE-2001"]


def test_two_submissions_at_once_save_one(app, session, staff):  # noqa: F811
    staff_id = staff.id
    intake = validate_intake(intake_data(), OfflineGeocoder(), NOW)
    start = threading.Barrier(2)
    results: list[str] = []

    def send() -> None:
        with app.app_context():
            engine = db.engine
        with Session(engine) as own:
            sender = own.get(User, staff_id)
            own.commit()  # each starts its transaction with the submission itself
            start.wait()
            try:
                submit_referral(own, intake, sender, now=NOW)
                results.append("saved")
            except DuplicateReferral:
                results.append("refused")

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["refused", "saved"]
    assert stored(session)[0] == 1
