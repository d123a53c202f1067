"""A change's notices while Redis does not answer: the request gives up on them quickly (the
change is committed already and stands), saying so in the log."""

from __future__ import annotations

import logging
import time

from directory.referrals import dispatch
from directory.referrals.notifications import Notices
from tests.conftest import make_app
from tests.integration.services import SilentServer


def test_with_redis_hung_a_changes_notices_are_given_up_within_about_a_second(tmp_path, caplog):
    with SilentServer() as server:
        app = make_app(f"sqlite:///{tmp_path / 'hung.sqlite3'}", REDIS_URL=server.url, MAIL_OUTBOX=str(tmp_path))
        with app.app_context(), caplog.at_level(logging.WARNING, logger="directory.referrals.dispatch"):
            started = time.monotonic()
            dispatch.send_notices(Notices(new_offer_ids=(1,), changed_referral_ids=("r1",)))
            took = time.monotonic() - started

    assert took < 1.5, f"waited {took:.2f} s on a hung Redis"
    assert "could not queue Notices(new_offer_ids=(1,)" in caplog.text
