"""schemathesis against /api/v1/openapi.json, in-process, with each role's bearer token.

Every operation gets generated requests (schemathesis's boundary cases, then random valid and
invalid parameters and bodies). Each request goes out as one of the roles in turn (anonymous,
referral staff, other referral staff, staff of center A, staff of B, an admin), once as generated
and, when the path has an id, once more aimed at the world's real center, referral or offer.
No answer may be a server error, and every answer must have a status the document lists for the
operation, with the listed content type and a body matching the listed schema.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import schemathesis
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.hostile.conftest import ACCOUNTS, HOSTILE
from tests.hostile.routes import ROUTE_APP

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CALLERS = ("anonymous", *ACCOUNTS)

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", ROUTE_APP)

#: Each operation's requests go to the callers in turn, so every role sends every kind of request.
#: (A replayed failure may go to another caller: hypothesis then reports it as flaky, still failing.)
_turns: defaultdict[str, itertools.cycle] = defaultdict(lambda: itertools.cycle(CALLERS))
SEEN: defaultdict[str, set[str]] = defaultdict(set)


@schema.parametrize()
@settings(HOSTILE, max_examples=10)
def test_every_answer_is_listed_in_the_openapi_document(world, case):
    """Sent as generated and, when the path has ids, once more at the world's real center, referral or offer."""
    who = next(_turns[case.operation.label])
    SEEN[case.operation.label].add(who)
    generated = dict(case.path_parameters or {})
    real = {"center_id": world.centers["a"], "referral_id": world.referral_id, "offer_id": world.offer_id}
    for path_parameters in [generated, {name: real[name] for name in generated}] if generated else [generated]:
        case.path_parameters = path_parameters
        case.call_and_validate(app=world.app, headers=world.bearer(who), checks=CHECKS)


def test_every_caller_sent_requests_to_every_operation():
    """(Runs after the test above, in the same session; operations it did not run are not asked about.)"""
    for label, seen in SEEN.items():
        assert seen == set(CALLERS), f"{label}: only {sorted(seen)}"
