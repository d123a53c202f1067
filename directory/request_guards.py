"""Guards on every request and response, beside directory/security.py's.

A JSON body is read once, before anything else reads it: one that is not valid JSON, or that
nests objects and arrays deeper than MAX_JSON_DEPTH, gets a 400 saying so, on every URL (the
views, and the checks that read every body, then read Werkzeug's cached copy). Python's parser
recurses once per level, so a body nested a few thousand levels deep would otherwise raise
RecursionError wherever it is first read.

Pages whose URL holds a one-time token (password reset, invitation) are never stored by a
browser or a proxy, signed in or not.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue

from directory.errors import error_response

#: The deepest nesting of objects and arrays accepted in a JSON body (the API's are 2 deep).
MAX_JSON_DEPTH = 32
#: Endpoints whose URL carries a one-time token: their responses are `Cache-Control: no-store`.
TOKEN_IN_URL_ENDPOINTS = frozenset({"auth.reset_password", "auth.accept_invitation"})


def init_request_guards(app: Flask) -> None:
    """Register the guards (before directory/security.py's, whose checks read JSON bodies)."""
    app.before_request(_refuse_unreadable_json)
    app.after_request(_no_store_token_pages)


def _refuse_unreadable_json() -> ResponseReturnValue | None:
    if not request.is_json or not request.get_data(cache=True):
        return None
    try:
        body = request.get_json(silent=True)
        if body is None:  # not JSON, or the JSON `null`: parsed again for what is wrong
            json.loads(request.get_data(cache=True))
    except RecursionError:
        return _too_deep()
    except ValueError as error:
        return error_response(
            400,
            f"The request body is not valid JSON ({_what_is_wrong(error)}): send a JSON object, with "
            "Content-Type: application/json.",
        )
    if json_depth(body) > MAX_JSON_DEPTH:
        return _too_deep()
    return None


def _too_deep() -> ResponseReturnValue:
    return error_response(
        400,
        f"The request body's JSON nests objects and arrays too deeply: at most {MAX_JSON_DEPTH} levels are accepted.",
    )


def _what_is_wrong(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"line {error.lineno}, column {error.colno}: {error.msg}"
    if isinstance(error, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return str(error)


def json_depth(value: Any) -> int:
    """How deeply objects and arrays nest in a parsed JSON value (0 for a string or number),
    counted without recursion, and only as far as one past MAX_JSON_DEPTH."""
    deepest, pending = 0, [(value, 1)]
    while pending and deepest <= MAX_JSON_DEPTH:
        value, depth = pending.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, depth)
        pending.extend((item, depth + 1) for item in value)
    return deepest


def _no_store_token_pages(response: Response) -> Response:
    if request.endpoint in TOKEN_IN_URL_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response
