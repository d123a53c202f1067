"""Confirmation requests in the production shape: beat's task run by a real Celery worker over a
real Redis, the mail sent by the worker's `deliver_notices`, and only ids on the wire."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from directory.extensions import db
from directory.models import Center
from tests.auth.helpers import outbox
from tests.conftest import database_url, make_app
from tests.factories import add_centers, center_record, make_user
from tests.integration.services import Worker, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_app(tmp_path, redis_url):
    app = make_app(database_url(tmp_path), REDIS_URL=redis_url, MAIL_OUTBOX=str(tmp_path / "outbox"))
    with app.app_context():
        add_centers(db.session, center_record(name="Epsilon Care"), center_record(name="Zeta, no staff"))
        center_id = db.session.scalar(select(Center.id).where(Center.name == "Epsilon Care"))
        make_user(db.session, "center_staff", [center_id], email="epsilon@example.org")
        make_user(db.session, "center_staff", [center_id], email="epsilon-es@example.org").language = "es"
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


def succeeded(worker: Worker, task: str) -> int:
    """How many runs of the task the worker finished (from its log)."""
    return len(re.findall(rf"Task {re.escape(task)}\[[^\]]+\] succeeded", worker.log.read_text()))


def test_beats_task_on_a_worker_mails_the_staff_once_each_in_their_language(redis_app, tmp_path):
    worker = Worker(redis_app, tmp_path / "worker.log", CONFIRMATION_REQUESTS="true")
    worker.start()
    try:
        celery = redis_app.extensions["celery"]
        celery.send_task("tasks.upkeep.request_confirmations")
        wait_for(lambda: len(outbox(redis_app)) == 2, 60, "the confirmation requests to be mailed")
        celery.send_task("tasks.upkeep.request_confirmations")  # the same day again: nothing more
        wait_for(lambda: succeeded(worker, "tasks.upkeep.request_confirmations") == 2, 60, "the second run")
        assert succeeded(worker, "tasks.notifications.deliver_notices") == 1
    finally:
        worker.stop()
    mails = {message["To"]: message for message in outbox(redis_app)}
    assert sorted(mails) == ["epsilon-es@example.org", "epsilon@example.org"]
    for message in mails.values():
        assert "Epsilon Care" in message.get_content() and "/confirm" in message.get_content()
    assert mails["epsilon@example.org"]["Subject"] == "Please confirm your listing in the treatment directory"
    assert mails["epsilon-es@example.org"]["Subject"] == "Confirme su ficha en el directorio de tratamiento"
    assert "Revise la ficha y confirme que es correcta" in mails["epsilon-es@example.org"].get_content()
    with redis_app.app_context():
        asked = dict(db.session.execute(select(Center.name, Center.confirmation_requested_at)).all())
    assert asked["Epsilon Care"] is not None and asked["Zeta, no staff"] is None
