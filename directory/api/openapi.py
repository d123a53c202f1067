"""The OpenAPI 3.1 document, generated from the search form's fields and the response models."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from wtforms import BooleanField, FloatField, IntegerField, SelectField, SelectMultipleField

from directory.api.schemas import (
    MAX_PAGE,
    CapacityUpdate,
    CenterDetail,
    CenterEdit,
    CenterHistory,
    Error,
    OfferAccept,
    OfferDecline,
    OfferForCenter,
    OfferList,
    ReferralAccepted,
    ReferralCancel,
    ReferralDetail,
    ReferralForCenter,
    ReferralIntake,
    ReferralList,
    ReferralState,
    SearchResponse,
)
from directory.public.forms import SearchForm
from directory.urls import MAX_ID

REF = "#/components/schemas/{model}"


def _parameter(field: Any) -> dict[str, Any]:
    """An OpenAPI query parameter for one form field."""
    schema: dict[str, Any]
    if isinstance(field, SelectMultipleField):
        schema = {"type": "array", "items": {"type": "string", "enum": [c.value for c in field.choices]}}
    elif isinstance(field, SelectField):
        schema = {"type": "string", "enum": [c.value for c in field.choices]}
    elif isinstance(field, BooleanField):
        schema = {"type": "boolean"}
    elif isinstance(field, IntegerField):
        schema = {"type": "integer"}
    elif isinstance(field, FloatField):
        schema = {"type": "number"}
    else:
        schema = {"type": "string"}
    for validator in field.validators:
        if hasattr(validator, "min") and validator.min is not None:
            schema["minimum"] = validator.min
        if hasattr(validator, "max") and validator.max is not None:
            schema["maximum"] = validator.max
    if field.default not in (None, "") and not isinstance(field, BooleanField):
        schema["default"] = field.default
    parameter = {
        "name": field.name,
        "in": "query",
        "required": bool(field.flags.required),
        "description": field.description or field.label.text,
        "schema": schema,
    }
    if schema["type"] == "array":
        parameter.update(style="form", explode=True)
        parameter["description"] += " Repeat the parameter, or separate codes with commas, for any of several."
    return parameter


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


#: Ids in paths: larger numbers are no record's (404), see directory/urls.py.
ID_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
CENTER_ID = {"name": "center_id", "in": "path", "required": True, "schema": ID_SCHEMA}

#: The answers every write shares: who may call it, and what happens to anyone else.
ACCESS_RESPONSES = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "404": {"$ref": "#/components/responses/NotManaged"},
}
WRITE_ACCESS = (
    " Needs a bearer token of center staff of this center, or of an administrator; "
    "center staff of other centers get 404 (and the attempt is logged)."
)


def _request_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


def _write(operation_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An operation that needs a bearer token of the center's staff or an administrator."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": summary + "." + WRITE_ACCESS,
        "security": [{"bearerAuth": []}],
        "parameters": [CENTER_ID],
        **extra,
        "responses": {**responses, **ACCESS_RESPONSES},
    }


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once per process, inside a request or app context)."""
    form = SearchForm(formdata=None)
    schemas: dict[str, Any] = {}
    for model in (SearchResponse, CenterDetail, CenterEdit, CapacityUpdate, CenterHistory, Error, *REFERRAL_MODELS):
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Treatment-center directory API",
            "version": "1",
            "description": "Find addiction-treatment centers near a place. Listings imported from SAMHSA's 2015 "
            "national directory are not confirmed by the centers: call before going.",
        },
        "paths": {
            "/api/v1/centers/search": {
                "get": {
                    "operationId": "searchCenters",
                    "summary": "Centers near a place, nearest first",
                    "parameters": [_parameter(field) for field in form],
                    "responses": {
                        "200": _json(SearchResponse, "One page of the matching centers."),
                        "400": _json(Error, "A parameter was not understood; `fields` says which."),
                    },
                }
            },
            "/api/v1/centers/{center_id}": {
                "get": {
                    "operationId": "getCenter",
                    "summary": "One center's full listing",
                    "parameters": [CENTER_ID],
                    "responses": {
                        "200": _json(CenterDetail, "The center."),
                        "404": _json(Error, "No center has that id."),
                    },
                },
                "patch": _write(
                    "editCenter",
                    "Change fields of a center's listing",
                    {
                        "200": {
                            **_json(CenterDetail, "The listing after the change; every changed field is audited."),
                            "headers": {
                                "X-Location-Source": {
                                    "description": "How the map point was decided: unchanged, explicit (latitude "
                                    "and longitude sent) or geocoded (the new ZIP code's point).",
                                    "schema": {"type": "string", "enum": ["unchanged", "explicit", "geocoded"]},
                                }
                            },
                        },
                        "400": _json(Error, "Unknown fields or invalid values; `fields` has a message for each."),
                    },
                    requestBody=_request_body(CenterEdit, "Only the fields to change."),
                ),
            },
            "/api/v1/centers/{center_id}/capacity": {
                "put": _write(
                    "updateCenterCapacity",
                    "Set whether a center accepts referrals and how many beds are free",
                    {
                        "200": _json(CenterDetail, "The listing with its new capacity."),
                        "400": _json(Error, "Invalid values; `fields` says which."),
                    },
                    requestBody=_request_body(CapacityUpdate, "Both values; beds_available null when not known."),
                ),
            },
            "/api/v1/centers/{center_id}/confirm": {
                "post": _write(
                    "confirmCenter",
                    "Confirm a center's listing is accurate (it shows as confirmed for 180 days)",
                    {"200": _json(CenterDetail, "The listing, with last_verified_at now and verified true.")},
                ),
            },
            "/api/v1/centers/{center_id}/history": {
                "get": _write(
                    "getCenterHistory",
                    "The audited changes to a center's listing, newest first",
                    {"200": _json(CenterHistory, "One event per changed field.")},
                ),
            },
            **referral_paths(),
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token, created on the account page (`Authorization: Bearer tdk_...`).",
                }
            },
            "responses": {
                "Unauthorized": _json(Error, "No valid bearer token was sent."),
                "Forbidden": _json(Error, "The token's account is not center staff or an administrator."),
                "NotManaged": _json(Error, "No such center, or the token's account does not manage it."),
                "WrongRole": _json(Error, "The token's account does not have a role that may do this."),
                "NoReferral": _json(Error, "No such referral, or the token's account may not see it (logged)."),
                "NoOffer": _json(Error, "No such offer, or the token's account does not staff its center (logged)."),
                "OfferClosed": _json(
                    Error,
                    "The offer is no longer open (answered by someone else, expired or withdrawn), or the person's "
                    "consent has lapsed (the offer is withdrawn).",
                ),
                "BadRequest": _json(Error, "The request was not understood, e.g. it holds a NUL character."),
                "TooLarge": _json(Error, "The body is over the size limit (1 MiB unless configured otherwise)."),
            },
        },
    }
    # Answers any request can get, before it reaches the operation (see directory/security.py).
    for operation in (op for path in document["paths"].values() for op in path.values()):
        operation["responses"].setdefault("400", {"$ref": "#/components/responses/BadRequest"})
        operation["responses"].setdefault("413", {"$ref": "#/components/responses/TooLarge"})
    return document


REFERRAL_MODELS = (
    ReferralIntake, ReferralAccepted, ReferralDetail, ReferralForCenter, ReferralList, ReferralCancel, ReferralState,
    OfferList, OfferForCenter, OfferAccept, OfferDecline,
)  # fmt: skip
REFERRAL_ID = {"name": "referral_id", "in": "path", "required": True, "schema": {"type": "string"}}
OFFER_ID = {"name": "offer_id", "in": "path", "required": True, "schema": ID_SCHEMA}
SENDER = " Needs a bearer token of referral staff (their own referrals) or an administrator."
OFFER_STAFF = " Needs a bearer token of staff of the offer's center, or of an administrator."


def _referral_operation(operation_id: str, summary: str, access: str, responses: dict[str, Any],
                        not_found: str | None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    """An operation on referrals or offers: bearer token, a role, and 404 for what the caller may not see."""
    answers = {
        **responses,
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "403": {"$ref": "#/components/responses/WrongRole"},
    }
    if not_found:
        answers["404"] = {"$ref": f"#/components/responses/{not_found}"}
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": summary + "." + access,
        "security": [{"bearerAuth": []}],
        **extra,
        "responses": answers,
    }


def _offer_answer(operation_id: str, summary: str, invalid: str | None = None, **extra: Any) -> dict[str, Any]:
    """An answer to an offer by its center's staff; `invalid` describes a 400 for a bad body."""
    responses = {
        "200": _json(OfferForCenter, "The offer after the answer, as its center sees it."),
        "409": {"$ref": "#/components/responses/OfferClosed"},
    }
    if invalid:
        responses["400"] = _json(Error, invalid)
    return _referral_operation(
        operation_id,
        summary,
        OFFER_STAFF,
        responses,
        "NoOffer",
        parameters=[OFFER_ID],
        **extra,
    )


def referral_paths() -> dict[str, Any]:
    """Submitting and following referrals; answering offers."""
    viewed = " Every view is written to the audit log."
    return {
        "/api/v1/referrals": {
            "post": _referral_operation(
                "submitReferral",
                "Submit a referral; routing starts at once",
                SENDER,
                {
                    "202": {
                        **_json(ReferralAccepted, "Saved; routing runs in the background (or already ran)."),
                        "headers": {"Location": {"description": "The referral's URL.", "schema": {"type": "string"}}},
                    },
                    "400": _json(Error, "Not a JSON object, or invalid fields (named in `fields`); nothing saved."),
                    "409": _json(
                        Error,
                        "The caller has a referral in progress with the same client_reference (see allow_duplicate); "
                        "nothing saved.",
                    ),
                },
                None,
                requestBody=_request_body(
                    ReferralIntake,
                    "The intake: minimum necessary data, and the consent. For opioids (alone or with alcohol) the "
                    "primary opioid and last use are required; for alcohol alone, recent_opioid_use is.",
                ),
            ),
            "get": _referral_operation(
                "listReferrals",
                "The caller's referrals (an administrator's: all), newest first",
                SENDER + viewed,
                {
                    "200": _json(ReferralList, "One page."),
                    "400": _json(Error, "page or per_page is not understood."),
                },
                None,
                parameters=[
                    {
                        "name": "page",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
                    },
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    },
                ],
            ),
        },
        "/api/v1/referrals/{referral_id}": {
            "get": _referral_operation(
                "getReferral",
                "One referral: status, plan, offers and timeline",
                SENDER + " Staff of an offered center see their offers that share it: while an offer is open, "
                "accepted or admitted and the person's consent is in force (otherwise 404)." + viewed,
                {
                    "200": {
                        "description": "The referral: in full (ReferralDetail) for its sender and administrators; "
                        "ReferralForCenter for center staff.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": REF.format(model="ReferralDetail")},
                                        {"$ref": REF.format(model="ReferralForCenter")},
                                    ]
                                }
                            }
                        },
                    }
                },
                "NoReferral",
                parameters=[REFERRAL_ID],
            ),
        },
        "/api/v1/referrals/{referral_id}/cancel": {
            "post": _referral_operation(
                "cancelReferral",
                "Cancel a referral: routing stops and open offers are withdrawn",
                SENDER,
                {
                    "200": _json(ReferralState, "The referral, now cancelled."),
                    "400": _json(Error, "The body is not a JSON object, or reason is not text."),
                    "409": _json(Error, "The referral is already cancelled or completed."),
                },
                "NoReferral",
                parameters=[REFERRAL_ID],
                requestBody={**_request_body(ReferralCancel, "Optional: why."), "required": False},
            ),
        },
        "/api/v1/referrals/{referral_id}/consent/revoke": {
            "post": _referral_operation(
                "revokeReferralConsent",
                "Record that the person withdrew consent: routing stops, open offers are withdrawn",
                SENDER,
                {"200": _json(ReferralState, "The referral, now cancelled (unless already completed).")},
                "NoReferral",
                parameters=[REFERRAL_ID],
            ),
        },
        "/api/v1/offers": {
            "get": _referral_operation(
                "listOffers",
                "Open offers to the caller's centers, and those of the last 30 days, as each center sees them",
                " Needs a bearer token of center staff (their centers' offers) or an administrator (all)." + viewed,
                {"200": _json(OfferList, "Newest first.")},
                None,
            ),
        },
        "/api/v1/offers/{offer_id}/accept": {
            "post": _offer_answer(
                "acceptOffer",
                "Accept an offer, with the admission date (of concurrent accepts, one wins)",
                "Not a JSON object, or admission_date missing, not YYYY-MM-DD, before the day before the offer "
                "was made or more than 90 days ahead.",
                requestBody=_request_body(OfferAccept, "When the person can be admitted."),
            ),
        },
        "/api/v1/offers/{offer_id}/decline": {
            "post": _offer_answer(
                "declineOffer",
                "Decline an offer, with a reason; the next center is asked",
                "Not a JSON object, or reason missing, empty or longer than 2,000 characters.",
                requestBody=_request_body(OfferDecline, "Why."),
            ),
        },
        "/api/v1/offers/{offer_id}/admitted": {
            "post": _offer_answer("markOfferAdmitted", "Mark an accepted offer admitted: the person arrived"),
        },
        "/api/v1/offers/{offer_id}/no_show": {
            "post": _offer_answer("markOfferNoShow", "Mark an accepted offer no-show; the referral goes to review"),
        },
        "/api/v1/offers/{offer_id}/completed": {
            "post": _offer_answer("markOfferCompleted", "Mark an admitted offer completed"),
        },
    }
