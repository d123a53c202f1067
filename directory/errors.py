"""Error pages and JSON errors: say what went wrong, never a bare 500 trace."""

from __future__ import annotations

from flask import Flask, Response, json, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from directory.extensions import db
from directory.referrals.fhir import CONTENT_TYPE as FHIR_JSON
from directory.referrals.fhir import operation_outcome
from directory.translatable import N_

#: Each error's message: English in the APIs, in the person's language on the error page.
MESSAGES = {
    400: N_("The request was not understood."),
    403: N_("You do not have access to this page."),
    404: N_("There is no page at this address."),
    405: N_("This address does not accept that kind of request."),
    413: N_("The request is too large."),
    415: N_("Uploads and this kind of request body are not accepted."),
    429: N_("Too many attempts in a short time. Please wait a minute, then try again."),
    500: N_(
        "Something went wrong on our side. Please try again; if it keeps happening, "
        "call 988 or SAMHSA's helpline at 1-800-662-4357."
    ),
}


#: A form sent without its token, or with one from an old page or another session.
FORM_EXPIRED = N_(
    "This form has expired or was sent from another page. Go back, reload the page, and send the form again."
)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


#: FHIR's issue type for each error status.
FHIR_ISSUE_TYPES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
                    413: "too-costly", 415: "not-supported", 429: "throttled"}  # fmt: skip

#: Where errors are JSON: the JSON API and the HSDS API.
JSON_PREFIXES = ("/api/", "/hsds/")


def wants_json() -> bool:
    """Whether the request is to one of the JSON APIs, which answer errors in JSON."""
    return request.path.startswith(JSON_PREFIXES)


def fhir_error(status: int, message: str) -> Response:
    """An error as a FHIR client reads it: an OperationOutcome."""
    outcome = operation_outcome(message, FHIR_ISSUE_TYPES.get(status, "exception"))
    return Response(json.dumps(outcome), status=status, content_type=FHIR_JSON)


def error_response(status: int, message: str) -> ResponseReturnValue:
    """An error as the client reads it: JSON on the JSON APIs, an OperationOutcome on FHIR, the error page elsewhere."""
    if request.path.startswith("/fhir/"):
        return fhir_error(status, message)
    if wants_json():
        return jsonify({"error": message, "fields": {}}), status
    return render_template("error.html", status=status, message=gettext(message)), status


def _http_error(error: HTTPException) -> ResponseReturnValue:
    if error.response is not None:
        return error.response  # a page of its own (e.g. a rate limit's, saying when to try again)
    status = error.code or 500
    if isinstance(error, CSRFError):
        return error_response(status, FORM_EXPIRED)
    return error_response(status, MESSAGES.get(status, error.description or "Error."))


def _unexpected_error(error: Exception) -> ResponseReturnValue:
    from flask import current_app

    # The endpoint, not the path: reset and invitation links carry tokens in their paths.
    current_app.logger.exception("Unhandled error on %s", request.endpoint)
    # A failed flush leaves the session unusable, and the page below reads the signed-in user.
    db.session.rollback()
    return error_response(500, MESSAGES[500])
