"""A referral and its offers as FHIR R4 resources, in the shape of HL7's Gravity SDOH Clinical Care
referral pattern: a ServiceRequest for what is asked, and a Task per offer, owned by the offered center.

Built only from the views in `presenters` that the reader may see (the sender's `referral_view` and
`offer_view`, or a center's `center_offer_view`), so a FHIR reader learns exactly what the JSON API
shows them and no more. Each resource is checked against the R4 models of `fhir.resources` as it is
built. The mapping, field by field: docs/fhir.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from directory.models import Center
from directory.models.referrals import FHIR_TASK_STATUS, OfferStatus, ReferralStatus

CONTENT_TYPE = "application/fhir+json"
SNOMED = "http://snomed.info/sct"
TASK_CODES = "http://hl7.org/fhir/CodeSystem/task-code"
LANGUAGE_TAGS = "urn:ietf:bcp:47"
PATIENT_ID = "patient"
CENTER_ID = "center"

#: ServiceRequest.status for each referral status (the sender's and admins' view).
SERVICE_REQUEST_STATUS = {
    ReferralStatus.RECEIVED: "active",
    ReferralStatus.ROUTING: "active",
    ReferralStatus.OFFERED: "active",
    ReferralStatus.ACCEPTED: "active",
    ReferralStatus.IN_PROGRESS: "active",
    ReferralStatus.UNPLACED: "active",  # still asked for: the sender can call the partial matches
    ReferralStatus.NEEDS_REVIEW: "on-hold",
    ReferralStatus.COMPLETED: "completed",
    ReferralStatus.CANCELLED: "revoked",
}
#: What a center reads: it sees the request only while it is shared with it, which is while it is in force.
CENTER_SERVICE_REQUEST_STATUS = "active"

PATHWAY = {
    "coding": [{"system": SNOMED, "code": "56876005", "display": "Drug rehabilitation and detoxification"}],
    "text": "Medical detox, then a naltrexone program",
}
CATEGORY = {"text": "Substance use disorder treatment"}
#: ServiceRequest.reasonCode of each use disorder a referral is for.
REASONS = {"alcohol": {"text": "Alcohol use disorder"}, "opioids": {"text": "Opioid use disorder"}}
FULFILL = {"coding": [{"system": TASK_CODES, "code": "fulfill", "display": "Fulfill the focal request"}]}
STEPS = {
    "detox": {
        "coding": [{"system": SNOMED, "code": "61480009", "display": "Drug detoxification"}],
        "text": "Medical detox",
    },
    "naltrexone": {"text": "Naltrexone program"},
}
#: Offer states whose admission date is when the person is (to be) admitted.
ADMITTED_OR_ACCEPTED = (OfferStatus.ACCEPTED.value, OfferStatus.ADMITTED.value, OfferStatus.COMPLETED.value)


def service_request_for_sender(view: dict[str, Any]) -> dict[str, Any]:
    """The referral as its sender and admins read it, from `presenters.referral_view`."""
    plan = view["plan"]
    naltrexone = plan.get("naltrexone_program") or {}
    details = _order_details(plan.get("earliest_naltrexone_start"), [naltrexone.get("target_start")], plan["flags"])
    notes = [plan.get("disclaimer"), view.get("status_reason")]
    resource = _service_request(
        view["id"],
        SERVICE_REQUEST_STATUS[view["status"]],
        _patient(client_reference=view["client_reference"]),
        details,
        _admission(view["offers"]),
        notes,
    )
    resource["authoredOn"] = view["created_at"]
    resource["reasonCode"] = [REASONS[name] for name in view["use_disorders"]]
    return _checked(ServiceRequest, resource)


def service_request_for_center(referral_id: str, offer_views: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The referral as staff of an offered center read it, from the `center_offer_view`s of their offers
    that share it (each holding the referral's details): no more than those views hold."""
    first = offer_views[0]
    patient = _patient(
        client_reference=_first(offer_views, "client_reference"),
        contact_phone=_first(offer_views, "contact_phone"),
        language=first.get("language"),
    )
    targets = [v.get("target_start") for v in offer_views if v["step"] == "naltrexone"]
    details = _order_details(first.get("earliest_naltrexone_start"), targets, first.get("flags") or [])
    notes = [
        f"Payment: {first['payment']}" if first.get("payment") else None,
        f"Populations: {', '.join(first['populations'])}" if first.get("populations") else None,
        first.get("disclaimer"),
    ]
    resource = _service_request(
        referral_id, CENTER_SERVICE_REQUEST_STATUS, patient, details, _admission(offer_views), notes
    )
    resource["reasonCode"] = [REASONS[name] for name in first.get("use_disorders") or ()]
    return _checked(ServiceRequest, resource)


def task(view: dict[str, Any], center: Center) -> dict[str, Any]:
    """One offer as a Task, from the view the reader may see (`offer_view` or `center_offer_view`):
    fulfilling the referral's ServiceRequest, owned by the offered center."""
    status = view["status"]
    contained: list[dict[str, Any]] = [_organization(center)]
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": str(view["id"]),
        "status": FHIR_TASK_STATUS[status],  # type: ignore[index]
        "businessStatus": {"text": status},
        "intent": "order",
        "code": FULFILL,
        "description": STEPS[view["step"]]["text"],
        "authoredOn": view["offered_at"],
        "lastModified": view.get("responded_at") or view["offered_at"],
        "owner": {"reference": f"#{CENTER_ID}", "display": view["center_name"]},
        "input": [
            _input("step", valueCodeableConcept=STEPS[view["step"]]),
            _input("expires_at", valueDateTime=view["expires_at"]),
        ],
    }
    if view.get("referral_id"):
        resource["focus"] = {"reference": f"ServiceRequest/{view['referral_id']}"}
    if view.get("client_reference"):
        contained.append(_patient(client_reference=view["client_reference"], contact_phone=view.get("contact_phone")))
        resource["for"] = {"reference": f"#{PATIENT_ID}"}
    if view.get("decline_reason"):
        resource["statusReason"] = {"text": view["decline_reason"]}
    if start := view.get("admission_date") or view.get("target_start"):
        resource["restriction"] = {"period": {"start": start}}
    if view.get("distance_miles") is not None:
        resource["input"].append(_input("distance_miles", valueDecimal=view["distance_miles"]))
    resource["input"] += [_input("why", valueString=reason) for reason in view.get("why") or []]
    resource["contained"] = contained
    return _checked(Task, resource)


def operation_outcome(message: str, code: str = "not-found") -> dict[str, Any]:
    """An error as FHIR clients read it (issue severity "error", `code` from FHIR's issue-type codes)."""
    resource = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }
    return _checked(OperationOutcome, resource)


def _service_request(referral_id: str, status: str, patient: dict[str, Any], details: list[dict[str, Any]],
                     admission: str | None, notes: Sequence[str | None]) -> dict[str, Any]:  # fmt: skip
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": referral_id,
        "contained": [patient],
        "status": status,
        "intent": "order",
        "category": [CATEGORY],
        "code": PATHWAY,
        "subject": {"reference": f"#{PATIENT_ID}"},
    }
    if details:
        resource["orderDetail"] = details
    if admission:
        resource["occurrencePeriod"] = {"start": admission}
    if texts := [{"text": note} for note in notes if note]:
        resource["note"] = texts
    return resource


def _patient(*, client_reference: str | None = None, contact_phone: str | None = None,
             language: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The person, contained: only the referrer's case number, the contact phone and the language, and
    only those the reader's view holds (never a name or a date of birth: the intake has none)."""
    patient: dict[str, Any] = {"resourceType": "Patient", "id": PATIENT_ID}
    if client_reference:
        patient["identifier"] = [{"type": {"text": "Referrer's case number"}, "value": client_reference}]
    if contact_phone:
        patient["telecom"] = [{"system": "phone", "value": contact_phone}]
    if language:
        tag = {"coding": [{"system": LANGUAGE_TAGS, "code": language}]} if len(language) == 2 else {}
        patient["communication"] = [{"language": {**tag, "text": language}}]
    return patient


def _organization(center: Center) -> dict[str, Any]:
    """The offered center, contained: its public listing's name, address and phone."""
    address: dict[str, Any] = {"city": center.city, "state": center.state, "postalCode": center.zip, "country": "US"}
    if lines := [line for line in (center.street1, center.street2) if line]:
        address = {"line": lines, **address}
    organization: dict[str, Any] = {
        "resourceType": "Organization",
        "id": CENTER_ID,
        "identifier": [{"type": {"text": "Directory center id"}, "value": str(center.id)}],
        "name": center.name,
        "address": [address],
    }
    if center.phone:
        organization["telecom"] = [{"system": "phone", "value": center.phone}]
    return organization


def _order_details(earliest: str | None, targets: Sequence[str | None], flags: Sequence[str]) -> list[dict[str, Any]]:
    details = [{"text": f"Earliest naltrexone start: {earliest}"}] if earliest else []
    details += [{"text": f"Target naltrexone start: {target}"} for target in targets if target]
    return details + [{"text": flag} for flag in flags]


def _admission(offer_views: Sequence[dict[str, Any]]) -> str | None:
    """The detox admission date of an accepted (or admitted, or completed) detox offer: when the pathway starts."""
    for view in offer_views:
        if view["step"] == "detox" and view["status"] in ADMITTED_OR_ACCEPTED and view.get("admission_date"):
            return view["admission_date"]
    return None


def _first(views: Sequence[dict[str, Any]], key: str) -> Any:
    return next((v[key] for v in views if v.get(key)), None)


def _input(name: str, **value: Any) -> dict[str, Any]:
    return {"type": {"text": name}, **value}


def _checked(model: Any, resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, once the R4 model accepts it (a ValueError names what does not fit)."""
    model.model_validate(resource)
    return resource
