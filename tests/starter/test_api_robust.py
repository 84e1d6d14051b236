"""The API never answers 500 for a case it cannot read, and refuses control characters at intake."""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.starter.test_api import ALICE, INTAKE, api, assert_error, generic_ticket, unique, workflow_exists

__all__ = ["api"]  # the fixture


@workflow.defn(name="NotAComplaint")
class NotAComplaint:
    """A closed workflow under a case's id that no worker can answer `status` for."""

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(milliseconds=1))
        return "done"


async def test_a_failed_query_on_a_closed_case_is_503(api: httpx.AsyncClient, client: Client) -> None:
    case = unique("closed-q")
    async with Worker(
        client, task_queue=f"{case}-q", workflows=[NotAComplaint], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        await client.execute_workflow(NotAComplaint.run, id=f"complaint-{case}", task_queue=f"{case}-q")
        response = await api.get(f"/v1/complaints/{case}", headers=ALICE)
    # Before: WorkflowQueryFailedError was not caught and the API answered 500.
    assert_error(response, 503, "unavailable", f"complaint-{case}")


async def test_a_nul_in_a_ticket_is_422_naming_the_field(api: httpx.AsyncClient, client: Client) -> None:
    customer = unique("nul")
    bell = generic_ticket(customer)
    bell["customer"]["name"] = "Dana\u0007"
    for field, body in (("subject", generic_ticket(customer, subject="Broken\u0000glass")), ("customer.name", bell)):
        response = await api.post("/v1/tickets", json=body, headers=INTAKE)
        assert_error(response, 422, "validation", f"{field}: control character")
    assert not await workflow_exists(client, f"complaint-{customer}:ord-1")
    # A line break is fine in the description; the subject reaches mail headers (test_hostile_headers.py).
    ok = await api.post("/v1/tickets", json=generic_ticket(customer, description="Broken\nglass"), headers=INTAKE)
    assert ok.status_code == 202, ok.text
