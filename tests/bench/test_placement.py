"""The placement benchmark: referrals placed through the real service in simulated time, and its report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from bench.placement import Behaviour, Placement, arrivals, next_tick, place_referrals, render
from bench.routing import make_intakes
from directory.extensions import db
from directory.models import Offer, Referral
from directory.models.referrals import OPEN_REFERRAL_STATUSES
from tests.conftest import copy_of_seeded, make_app

START = datetime(2026, 12, 7)
REFERRALS = 20


@pytest.fixture(scope="module")
def placements(seeded_database, tmp_path_factory):
    """The same 20 referrals placed one offer at a time and three at once, each on its own copy of the seed."""
    results = {}
    for at_once in (1, 3):
        tmp_path = tmp_path_factory.mktemp(f"placement-{at_once}")
        app = make_app(copy_of_seeded(seeded_database, tmp_path), MAIL_OUTBOX=str(tmp_path / "outbox"),
                       OFFERS_AT_ONCE=at_once)  # fmt: skip
        intakes = make_intakes(app, REFERRALS, 1, now=START)
        placement = place_referrals(app, intakes, arrivals(REFERRALS, START, 1), Behaviour(), 1)
        with app.app_context():
            open_referrals = db.session.scalar(
                select(func.count()).select_from(Referral).where(Referral.status.in_(OPEN_REFERRAL_STATUSES))
            )
            open_offers = db.session.scalar(select(func.count()).select_from(Offer).where(Offer.status == "offered"))
            db.engine.dispose()
        results[at_once] = (placement, open_referrals, open_offers)
    return results


@pytest.mark.parametrize("at_once", [1, 3])
def test_every_referral_ends_placed_unplaced_or_in_review(placements, at_once):
    placement, open_referrals, open_offers = placements[at_once]
    assert placement.referrals == REFERRALS
    assert open_referrals == 0 and open_offers == 0
    assert placement.placed + placement.unplaced + placement.statuses.get("needs_review", 0) == REFERRALS
    assert placement.placed > 0
    # Every offer the service made was seen, and given its center's answer, reminder and expiry.
    assert placement.offers_seen == placement.offers_in_database > 0
    assert placement.detox_offers_of_placed >= placement.placed
    assert placement.sweeps > 0 and placement.answers > 0
    # Times are simulated: a placement takes minutes to days, never less than nothing.
    assert placement.minutes_to_acceptance.min() > 0
    assert placement.simulated > placement.arriving_over > timedelta(0)
    assert placement.offer_ttl == timedelta(minutes=240)


def test_three_offers_at_once_place_the_same_referrals_sooner(placements):
    one, three = placements[1][0], placements[3][0]
    # Centers answer a referral the same way in both modes: the same referrals end placed.
    assert one.placed == three.placed and one.unplaced == three.unplaced
    assert three.percentile(50) < one.percentile(50)
    assert three.offers_per_placed > one.offers_per_placed


def test_a_center_answers_a_referral_the_same_way_every_time():
    behaviour = Behaviour()
    answers = [behaviour.answer(1, n, center, "detox") for n in range(200) for center in (7, 8)]
    assert answers == [behaviour.answer(1, n, center, "detox") for n in range(200) for center in (7, 8)]
    answered = [a for a in answers if a is not None]
    assert 0.6 < len(answered) / len(answers) < 0.8
    assert 0.3 < sum(accepts for accepts, _ in answered) / len(answered) < 0.5
    assert 30 < np.median([delay.total_seconds() / 60 for _, delay in answered]) < 65


def test_sweeps_run_on_beats_ticks():
    assert next_tick(START + timedelta(seconds=1), START) == START + timedelta(minutes=1)
    assert next_tick(START + timedelta(minutes=2), START) == START + timedelta(minutes=2)


def placement(at_once: int, minutes: list[float], unplaced: int) -> Placement:
    return Placement(at_once, 10, {"accepted": len(minutes), "unplaced": unplaced}, np.array(minutes),
                     2 * len(minutes), unplaced, 0, np.array([]), 3 * len(minutes))  # fmt: skip


def test_report_judges_the_goal_on_the_ratio_of_medians_and_the_unplaced():
    started = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    met = render([placement(1, [300.0] * 8, 2), placement(3, [100.0] * 8, 2)], Behaviour(), command="c",
                 started=started, seconds=60, centers=12170)  # fmt: skip
    assert "at least 3x shorter with 3 offers at once: 3.0x (300 min / 100 min), **met**;" in met
    assert "no larger share unplaced: 20.0% (one at a time: 20.0%), **met**." in met
    missed = render([placement(1, [290.0] * 8, 1), placement(3, [100.0] * 7, 3)], Behaviour(), command="c",
                    started=started, seconds=60, centers=12170)  # fmt: skip
    assert ": 2.9x (290 min / 100 min), **missed**;" in missed
    assert ": 30.0% (one at a time: 10.0%), **missed**." in missed
