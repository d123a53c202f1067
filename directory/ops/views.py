"""Probes for the orchestrator and the metrics endpoint for Prometheus."""

from __future__ import annotations

import hmac
import logging

import redis
from flask import Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from directory import schema
from directory.extensions import db
from directory.ops import bp

log = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 1.0


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is up and answering (touches nothing else)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready for traffic: the database answers, its schema is at the newest migration, the broker answers."""
    checks = {"database": _check_database(), "migrations": _check_migrations(), "broker": _check_broker()}
    ready = all(result in ("ok", "embedded") for result in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


def _check_database() -> str:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        log.warning("readiness: database check failed: %s", type(error).__name__)
        return "failed"
    return "ok"


def _check_migrations() -> str:
    try:
        current = schema.is_current(db.engine)
    except Exception as error:
        log.warning("readiness: migration check failed: %s", type(error).__name__)
        return "failed"
    return "ok" if current else "pending"


def _check_broker() -> str:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return "embedded"  # tasks run in this process: there is no broker to reach
    client = redis.Redis.from_url(
        url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except Exception as error:
        log.warning("readiness: broker check failed: %s", type(error).__name__)
        return "failed"
    finally:
        client.close()
    return "ok"


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text format, for a bearer token equal to METRICS_TOKEN or a signed-in admin; 404 for anyone else."""
    if not (_has_metrics_token() or (current_user.is_authenticated and current_user.has_role("admin"))):
        abort(404)
    registry = current_app.extensions["metrics"].scrape()
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _has_metrics_token() -> bool:
    expected = current_app.config.get("METRICS_TOKEN")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not token.strip():
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())
