"""Log lines with a request id, as JSON objects (LOG_FORMAT=json) or plain text.

Nothing personal reaches the log from here: the access line names the endpoint (never the
path, which can hold a password-reset token, nor the query string with a person's location),
and no header or form field is logged. The development server's own request lines, which
carry the client's address and the full URL, are dropped in favour of ours.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import IO, Any

from flask import Flask, Response, g, has_request_context, request
from flask.logging import default_handler

log = logging.getLogger("directory.requests")

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_tag)s] %(message)s"
#: An incoming X-Request-ID is kept only if it is a short token of these characters.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Ops endpoints are polled every few seconds: their lines are DEBUG, so they don't drown the rest.
QUIET_ENDPOINTS = frozenset({"ops.healthz", "ops.readyz", "ops.metrics"})

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_tag",
}


class RequestIdFilter(logging.Filter):
    """Stamp each record with the current request's id (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class DropServerRequestLines(logging.Filter):
    """Drop the development server's request lines (client address, full URL with query string);
    the access line logged by `_finish_request` replaces them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.endswith('"%s" %s %s'))


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, with "-" for the request id outside a request."""

    def format(self, record: logging.LogRecord) -> str:
        record.request_tag = getattr(record, "request_id", None) or "-"
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, then any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger's records through one handler on the root logger (replacing ours from
    an earlier app, so creating many apps in tests doesn't stack handlers)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.directory_ops = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "directory_ops", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    ours = logging.getLogger("directory")  # other libraries keep their levels (WARNING by default)
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, DropServerRequestLines) for f in werkzeug.filters):
        werkzeug.addFilter(DropServerRequestLines())
    return handler


def init_logging(app: Flask) -> None:
    """Configure logging from LOG_FORMAT and give each request an id, echoed as X-Request-ID."""
    configure_logging(app.config["LOG_FORMAT"])
    app.logger.removeHandler(default_handler)  # the root handler prints Flask's messages too
    app.before_request(_start_request)
    app.after_request(_finish_request)


def request_id_from(header: str | None) -> str:
    """The caller's request id if it is a safe short token, else a new one."""
    if header and SAFE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def _start_request() -> None:
    g.request_id = request_id_from(request.headers.get("X-Request-ID"))
    g.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    if "request_id" not in g:  # only if a before_request registered ahead of ours answered
        _start_request()
    response.headers["X-Request-ID"] = g.request_id
    endpoint = request.endpoint or "unmatched"
    duration_ms = round((time.perf_counter() - g.request_started) * 1000, 1)
    level = logging.DEBUG if endpoint in QUIET_ENDPOINTS else logging.INFO
    log.log(
        level,
        "%s %s %d %.1fms",
        request.method,
        endpoint,
        response.status_code,
        duration_ms,
        extra={
            "method": request.method,
            "endpoint": endpoint,
            "status": response.status_code,
            "duration_ms": duration_ms,
        },  # fmt: skip
    )
    return response
