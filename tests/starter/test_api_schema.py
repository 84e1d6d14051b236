"""schemathesis over the published OpenAPI schema, against `recovery api` and a worker running as
processes on the real dev server: no 5xx, and every response fits the schema."""

from __future__ import annotations

from collections import Counter

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

ALICE = {"Authorization": "Bearer dev-alice-0123456789"}


def test_api_answers_within_its_schema(api_url: str) -> None:
    """Every operation, with generated valid and invalid input (as the authenticated agent alice)."""
    api = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [result.ok() for result in api.get_all_operations()]
    statuses: Counter[int] = Counter()
    # A real case, so that generated steps also meet an existing workflow (and its step order).
    ticket = {
        "source": "generic",
        "event_id": "schema-1",
        "ticket_id": "S-1",
        "subject": "Broken glass",
        "customer": {"id": "cust-schema", "name": "Ann"},
        "occurred_at": "2026-11-20T10:00:00Z",
    }
    opened = httpx.post(f"{api_url}/v1/tickets", json=ticket, headers=ALICE, timeout=30)
    assert opened.status_code == 202, opened.text
    existing = {"case_id": opened.json()["case_id"]}

    for operation in operations:
        takes_case = "{case_id}" in operation.path
        for mode, path_parameters in (
            (GenerationMode.POSITIVE, None),
            (GenerationMode.NEGATIVE, None),
            *(((GenerationMode.POSITIVE, existing),) if takes_case else ()),
        ):

            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def conforms(case) -> None:
                response = case.call_and_validate(headers=ALICE, timeout=30, checks=checks)
                statuses[response.status_code] += 1

            try:
                conforms()
            except Unsatisfiable:
                # Nothing in the operation can be made invalid (e.g. /healthz takes no input).
                assert mode is GenerationMode.NEGATIVE, operation.label
    # The figures this run proves: every operation exercised both ways, no 5xx, no response off-schema.
    print(
        f"schemathesis: {sum(statuses.values())} calls over {len(operations)} operations, "
        f"statuses {dict(sorted(statuses.items()))}, 0 failures"
    )
    assert len(operations) >= 13
    assert not [code for code in statuses if code >= 500]
    assert {200, 202, 422} <= set(statuses)
