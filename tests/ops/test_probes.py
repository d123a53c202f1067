"""Liveness and readiness probes."""

from __future__ import annotations

from directory import create_app
from tests.conftest import make_app, sqlite_url
from tests.ops.helpers import closed_port


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_healthz_does_not_need_the_database(tmp_path):
    # REDIS_URL set: no embedded sweep (which touches the database on a request now and then).
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3",
                      "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"})  # fmt: skip
    assert app.test_client().get("/healthz").status_code == 200


def test_readyz_is_ready_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "broker": "embedded"},
    }


def test_readyz_is_not_ready_before_migrations(tmp_path):
    # A huge sweep interval keeps the embedded sweep from querying tables that don't exist yet.
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                      "EMBEDDED_SWEEP_SECONDS": 10**12})  # fmt: skip
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "not ready"
    assert response.json["checks"] == {"database": "ok", "migrations": "pending", "broker": "embedded"}


def test_readyz_reports_an_unreachable_database(tmp_path):
    port = closed_port()
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3",
                      "REDIS_URL": f"redis://127.0.0.1:{port}/0"})  # fmt: skip
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "failed"


def test_readyz_reports_an_unreachable_broker_without_naming_it(tmp_path):
    port = closed_port()
    app = make_app(sqlite_url(tmp_path, "test"), REDIS_URL=f"redis://:hunter2@127.0.0.1:{port}/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {
        "status": "not ready",
        "checks": {"database": "ok", "migrations": "ok", "broker": "failed"},
    }
    body = response.get_data(as_text=True)
    assert str(port) not in body and "hunter2" not in body and "redis" not in body
