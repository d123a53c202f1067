"""FHIR R4 views of a referral: every resource parses with fhir.resources' models and round-trips;
who may read which; what a center reads in each state of its offer (minimum necessary); the audit."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task
from sqlalchemy import update

from directory.models import Offer, Referral
from directory.models.base import utcnow
from tests.api.test_referrals_api import offer_ids, submit
from tests.factories import login

#: FHIR R4's required value sets (fhir.resources checks structure, not these codes).
SERVICE_REQUEST_STATUSES = {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
TASK_STATUSES = {"draft", "requested", "received", "accepted", "rejected", "ready", "cancelled", "in-progress",
                 "on-hold", "failed", "completed", "entered-in-error"}  # fmt: skip
INTENTS = {"unknown", "proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
           "instance-order", "option"}  # fmt: skip
SNOMED = "http://snomed.info/sct"


def parsed(response, model):
    """The response's resource, once fhir.resources' R4 model accepts it and writes it back unchanged."""
    assert response.headers["Content-Type"] == "application/fhir+json"
    resource = model.model_validate_json(response.data)
    body = json.loads(response.data)
    assert json.loads(resource.model_dump_json()) == body
    assert body["resourceType"] == model.__name__
    if model is ServiceRequest:
        assert body["status"] in SERVICE_REQUEST_STATUSES and body["intent"] in INTENTS
    if model is Task:
        assert body["status"] in TASK_STATUSES and body["intent"] in INTENTS
    return body


def read(client, people, who, path):
    return client.get(f"/fhir/r4/{path}", headers=people.tokens[who])


def contained(resource, kind):
    return next((r for r in resource.get("contained", []) if r["resourceType"] == kind), None)


def fhir_views(store, referral_id):
    return [e.detail for e in store.events("referral.view") if e.entity_id == referral_id and "FHIR" in e.detail]


def test_the_sender_reads_the_referral_as_a_service_request_and_its_offer_as_a_task(client, store, people):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)

    request = parsed(read(client, people, "sender", f"ServiceRequest/{referral_id}"), ServiceRequest)
    assert request["id"] == referral_id
    assert (request["status"], request["intent"]) == ("active", "order")
    assert request["code"]["coding"] == [
        {"system": SNOMED, "code": "56876005", "display": "Drug rehabilitation and detoxification"}
    ]
    assert request["subject"] == {"reference": "#patient"}
    patient = contained(request, "Patient")
    assert patient["identifier"][0]["value"] == "CASE-1042"
    assert "telecom" not in patient and "name" not in patient and "birthDate" not in patient
    details = [d["text"] for d in request["orderDetail"]]
    assert details[0].startswith("Earliest naltrexone start: 20")
    assert details[-3:] == ["baseline_liver_tests_required", "interaction:alcohol", "overdose_risk_after_detox"]
    assert request["reasonCode"] == [{"text": "Opioid use disorder"}]
    assert request["authoredOn"].endswith("Z")

    task = parsed(read(client, people, "sender", f"Task/{offer_id}"), Task)
    assert (task["id"], task["status"], task["businessStatus"]) == (str(offer_id), "requested", {"text": "offered"})
    assert task["code"]["coding"][0]["code"] == "fulfill"
    assert task["focus"] == {"reference": f"ServiceRequest/{referral_id}"}
    assert task["owner"] == {"reference": "#center", "display": "Near Detox"}
    center = contained(task, "Organization")
    assert center["name"] == "Near Detox" and center["address"][0]["state"]
    inputs = {i["type"]["text"]: i for i in task["input"]}
    assert inputs["step"]["valueCodeableConcept"]["coding"][0]["code"] == "61480009"
    assert inputs["expires_at"]["valueDateTime"].endswith("Z")
    assert task["authoredOn"] == task["lastModified"]
    assert fhir_views(store, referral_id) == ["FHIR ServiceRequest", f"FHIR Task {offer_id}"]


def test_an_admin_reads_both_and_other_referral_staff_get_an_operation_outcome_404(client, store, people):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    for path in (f"ServiceRequest/{referral_id}", f"Task/{offer_id}"):
        assert read(client, people, "admin", path).status_code == 200
        refused = read(client, people, "other_sender", path)
        assert refused.status_code == 404
        outcome = parsed(refused, OperationOutcome)
        assert outcome["issue"][0]["code"] == "not-found"
    denied = [e for e in store.events("access.denied") if e.entity_id in (referral_id, str(offer_id))]
    assert len(denied) == 2
    assert len(fhir_views(store, referral_id)) == 2  # the admin's reads; the refused ones are not views


def test_unknown_ids_and_anonymous_readers_get_operation_outcomes(client, people):
    missing = read(client, people, "sender", "ServiceRequest/0123456789abcdef0123456789abcdef")
    assert missing.status_code == 404 and parsed(missing, OperationOutcome)["issue"][0]["code"] == "not-found"
    assert read(client, people, "sender", "Task/999999").status_code == 404
    anonymous = client.get("/fhir/r4/Task/1")
    assert anonymous.status_code == 401
    assert parsed(anonymous, OperationOutcome)["issue"][0]["code"] == "login"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_session_cookie_does_not_sign_in_to_fhir(client, people):
    """As on /api/v1: bearer tokens only, so no cross-site request rides a signed-in browser."""
    login(client, people.emails["sender"])
    assert client.get("/fhir/r4/Task/1").status_code == 401


def test_an_offered_center_reads_only_what_the_api_shows_it(client, store, people):
    referral_id = submit(client, people, language="es")
    [offer_id] = offer_ids(store, referral_id)

    request = read(client, people, "near_staff", f"ServiceRequest/{referral_id}")
    body = parsed(request, ServiceRequest)
    text = request.get_data(as_text=True)
    for secret in ("CASE-1042", "555-0199", people.emails["sender"], "heroin", "Receiving treatment centers"):
        assert secret not in text, secret
    assert body["status"] == "active"
    assert "authoredOn" not in body
    assert body["reasonCode"] == [{"text": "Opioid use disorder"}]  # what the detox is for
    patient = contained(body, "Patient")
    assert set(patient) == {"resourceType", "id", "communication"}
    assert patient["communication"][0]["language"]["coding"][0] == {"system": "urn:ietf:bcp:47", "code": "es"}
    assert "Payment: medicaid" in [n["text"] for n in body["note"]]
    task = parsed(read(client, people, "near_staff", f"Task/{offer_id}"), Task)
    assert "for" not in task and task["focus"]["reference"] == f"ServiceRequest/{referral_id}"

    admission = (utcnow() + timedelta(days=1)).date().isoformat()
    accepted = client.post(
        f"/api/v1/offers/{offer_id}/accept", json={"admission_date": admission}, headers=people.tokens["near_staff"]
    )
    assert accepted.status_code == 200
    body = parsed(read(client, people, "near_staff", f"ServiceRequest/{referral_id}"), ServiceRequest)
    patient = contained(body, "Patient")
    assert patient["identifier"][0]["value"] == "CASE-1042"
    assert patient["telecom"] == [{"system": "phone", "value": "(312) 555-0199"}]
    assert body["occurrencePeriod"] == {"start": admission}
    task = parsed(read(client, people, "near_staff", f"Task/{offer_id}"), Task)
    assert task["status"] == "accepted" and task["for"] == {"reference": "#patient"}
    assert task["restriction"] == {"period": {"start": admission}}
    assert task["lastModified"] >= task["authoredOn"]

    # A center not offered it reads nothing of it; the naltrexone program, offered the next step, reads
    # the referral as its own open offer shows it, not the detox center's offer.
    assert read(client, people, "far_staff", f"ServiceRequest/{referral_id}").status_code == 404
    assert read(client, people, "far_staff", f"Task/{offer_id}").status_code == 404
    assert read(client, people, "naltrexone_staff", f"Task/{offer_id}").status_code == 404
    program = read(client, people, "naltrexone_staff", f"ServiceRequest/{referral_id}")
    body = parsed(program, ServiceRequest)
    assert "CASE-1042" not in program.get_data(as_text=True) and "occurrencePeriod" not in body
    assert any(d["text"].startswith("Target naltrexone start: ") for d in body["orderDetail"])


def test_a_declined_offer_is_a_rejected_task_the_center_reads_without_the_referral(client, store, people):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    declined = client.post(
        f"/api/v1/offers/{offer_id}/decline", json={"reason": "No beds tonight"}, headers=people.tokens["near_staff"]
    )
    assert declined.status_code == 200
    views_before = len(fhir_views(store, referral_id))

    mine = read(client, people, "near_staff", f"Task/{offer_id}")
    task = parsed(mine, Task)
    assert (task["status"], task["businessStatus"]["text"]) == ("rejected", "declined")
    assert "focus" not in task and "statusReason" not in task and referral_id not in mine.get_data(as_text=True)
    assert len(fhir_views(store, referral_id)) == views_before  # nothing of the referral shown: no view
    assert read(client, people, "near_staff", f"ServiceRequest/{referral_id}").status_code == 404

    senders = parsed(read(client, people, "sender", f"Task/{offer_id}"), Task)
    assert senders["statusReason"] == {"text": "No beds tonight"}
    # The next center was offered it.
    [_, far_offer] = offer_ids(store, referral_id)
    assert parsed(read(client, people, "far_staff", f"Task/{far_offer}"), Task)["status"] == "requested"


def test_an_offer_past_its_time_is_a_failed_task_at_once(client, store, people):
    referral_id = submit(client, people)
    [offer_id] = offer_ids(store, referral_id)
    with store.session() as session:
        session.execute(update(Offer).where(Offer.id == offer_id).values(expires_at=utcnow() - timedelta(minutes=1)))
        session.commit()
    client.application.config["EMBEDDED_SWEEP_SECONDS"] = 10**12
    task = parsed(read(client, people, "near_staff", f"Task/{offer_id}"), Task)
    assert (task["status"], task["businessStatus"]["text"]) == ("failed", "expired")
    assert read(client, people, "near_staff", f"ServiceRequest/{referral_id}").status_code == 404


@pytest.mark.parametrize(
    ("status", "expected"),
    [("needs_review", "on-hold"), ("cancelled", "revoked"), ("completed", "completed"), ("unplaced", "active")],
)
def test_the_service_request_status_follows_the_referral(client, store, people, status, expected):
    referral_id = submit(client, people)
    with store.session() as session:
        session.execute(update(Referral).where(Referral.id == referral_id).values(status=status))
        session.commit()
    body = parsed(read(client, people, "sender", f"ServiceRequest/{referral_id}"), ServiceRequest)
    assert body["status"] == expected
