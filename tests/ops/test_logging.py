"""Structured logs: one JSON object per line, each with the request's id, and nothing personal."""

from __future__ import annotations

import io
import json
import logging

import pytest

from directory.ops.logging import configure_logging, request_id_from
from tests.conftest import make_app, sqlite_url
from tests.factories import add_centers, center_record


@pytest.fixture
def app(tmp_path):
    return make_app(sqlite_url(tmp_path, "test"), LOG_FORMAT="json")


@pytest.fixture
def log_lines(app):
    """The JSON log lines written while the test runs."""
    buffer = io.StringIO()
    handler = configure_logging("json", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)


def test_each_line_is_a_json_object_with_the_request_id(client, log_lines):
    response = client.get("/medications", headers={"X-Request-ID": "req-42.a_b"})
    assert response.headers["X-Request-ID"] == "req-42.a_b"
    (line,) = [line for line in log_lines() if line["request_id"] == "req-42.a_b"]
    assert {"time", "level", "logger", "message", "request_id"} <= set(line)
    assert line["level"] == "INFO" and line["logger"] == "directory.requests"
    assert line["endpoint"] == "public.medications" and line["status"] == 200


def test_app_log_messages_carry_the_request_id(app, client, log_lines):
    @app.get("/test-only/log")
    def log_something():
        app.logger.warning("something happened")
        return "ok"

    request_id = client.get("/test-only/log").headers["X-Request-ID"]
    warning = next(line for line in log_lines() if line["message"] == "something happened")
    assert warning["request_id"] == request_id and warning["level"] == "WARNING"


@pytest.mark.parametrize("header", [None, "", "has space", "x" * 65, "new\nline", "<script>", "ünï"])
def test_an_unsafe_request_id_is_replaced(header):
    generated = request_id_from(header)
    assert generated != header and len(generated) == 32 and generated.isalnum()


def test_unsafe_incoming_request_id_is_not_echoed(client, log_lines):
    response = client.get("/healthz", headers={"X-Request-ID": "bad id; rm -rf"})
    assert response.headers["X-Request-ID"] != "bad id; rm -rf"
    assert "rm -rf" not in json.dumps(log_lines())


def test_a_search_is_logged_without_its_query_string(app, client, log_lines):
    with app.app_context():
        from directory.extensions import db

        add_centers(db.session, center_record(name="Somewhere Clinic"))
    response = client.get(
        "/search?near=60601&payment=medicaid", headers={"Cookie": "secret-cookie=1", "User-Agent": "agent-x"}
    )
    assert response.status_code == 200
    lines = log_lines()
    search = [line for line in lines if line.get("endpoint") == "public.search"]
    assert search and search[0]["request_id"] == response.headers["X-Request-ID"]
    text = json.dumps(lines)
    for private in ("60601", "medicaid", "near=", "secret-cookie", "agent-x", "/search"):
        assert private not in text


def test_an_unknown_log_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="LOG_FORMAT must be one of text, json"):
        make_app(sqlite_url(tmp_path, "x"), LOG_FORMAT="xml")


def test_text_lines_carry_the_request_id_too(client):
    buffer = io.StringIO()
    handler = configure_logging("text", stream=buffer)
    try:
        client.get("/medications", headers={"X-Request-ID": "text-1"})
        logging.getLogger("directory.test").warning("outside a request")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = buffer.getvalue().splitlines()
    assert any("INFO directory.requests [text-1] GET public.medications 200" in line for line in lines)
    assert any("[-] outside a request" in line for line in lines)


def test_the_development_servers_request_lines_are_dropped(app):
    buffer = io.StringIO()
    handler = configure_logging("json", stream=buffer)
    try:
        werkzeug = logging.getLogger("werkzeug")
        werkzeug.setLevel(logging.INFO)
        werkzeug.info('127.0.0.1 - - [21/Nov/2026 07:00:00] "%s" %s %s', "GET /search?near=60601 HTTP/1.1", "200", "-")
        werkzeug.info(" * Running on %s", "http://127.0.0.1:5000")
    finally:
        logging.getLogger().removeHandler(handler)
    assert "60601" not in buffer.getvalue()
    assert "Running on" in buffer.getvalue()
