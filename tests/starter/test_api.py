"""The HTTP API against the real Temporal dev server: signed webhooks, idempotent intake, agents' steps,
and every error as JSON `{error, detail}`."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig, JiraConfig, ZendeskConfig, sign_jira, sign_zendesk
from tests.helpers import eventually, fast_policy

ROOT = Path(__file__).resolve().parents[2]
OLD_SECRET, NEW_SECRET, JIRA_SECRET = "zd-old-secret", "zd-new-secret", "jira-secret"
ALICE = {"Authorization": "Bearer dev-alice-0123456789"}
BOB = {"Authorization": "Bearer dev-bob-0123456789ab"}
LENA = {"Authorization": "Bearer dev-lena-0123456789a"}
VIEWER = {"Authorization": "Bearer dev-viewer-012345678"}
INTAKE = {"Authorization": "Bearer dev-intake-012345678"}
BODY_LIMIT = 64 * 1024


@pytest.fixture
async def api(client: Client, worker, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(
            max_body_bytes=BODY_LIMIT,
            zendesk=ZendeskConfig(secrets=[OLD_SECRET, NEW_SECRET], order_field="360001"),
            jira=JiraConfig(
                secrets=[JIRA_SECRET],
                customer_id_field="customfield_10050",
                order_id_field="customfield_10051",
                order_total_field="customfield_10052",
                shipping_field="customfield_10053",
            ),
        ),
        policy=fast_policy(),
        task_queue=task_queue,
    )

    async def connect() -> Client:
        return client

    app = create_app(settings, connect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def generic_ticket(customer: str, order: str | None = "ord-1", event: str | None = None, **extra: Any) -> dict:
    body: dict[str, Any] = {
        "source": "generic",
        "event_id": event or unique("evt"),
        "ticket_id": unique("T"),
        "customer": {"id": customer, "name": "Dana Example", "email": "dana@example.com"},
        "subject": "Glass arrived broken",
        "occurred_at": "2026-11-20T10:00:00+00:00",
    }
    if order:
        body["order"] = {"id": order, "currency": "USD", "total": "120.00", "shipping": "10.00"}
    body.update(extra)
    return body


def zendesk_trigger(ticket_id: str, requester: str) -> bytes:
    return json.dumps(
        {
            "ticket_id": ticket_id,
            "subject": "One of eight glasses arrived broken",
            "description": "Box crushed.",
            "priority": "high",
            "url": f"https://example.zendesk.com/agent/tickets/{ticket_id}",
            "updated_at": "2026-11-20T10:00:00Z",
            "requester": {"id": requester, "name": "Ann Gift", "email": "ann@example.com"},
            "order": {"id": "ord-glass", "total": "96.00", "shipping": "8.00", "currency": "USD"},
        },
        separators=(",", ":"),
    ).encode()


def zendesk_headers(raw: bytes, secret: str = NEW_SECRET, skew: float = 0) -> dict[str, str]:
    stamp = (datetime.now(timezone.utc) + timedelta(seconds=skew)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "X-Zendesk-Webhook-Signature": sign_zendesk(secret, stamp, raw),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def jira_issue(
    key: str, customer: str, *, shipping: str = "5.00", total: str = "88.00", event: str = "jira:issue_created"
) -> bytes:
    return json.dumps(
        {
            "webhookEvent": event,
            "timestamp": 1763632800000,
            "issue": {
                "key": key,
                "fields": {
                    "summary": "Charged $7,455 shipping",
                    "description": "Please refund.",
                    "priority": {"name": "Medium"},
                    "status": {"name": "Open"},
                    "reporter": {
                        "accountId": "acc-1",
                        "displayName": "Dana Example",
                        "emailAddress": "dana@example.com",
                    },
                    "customfield_10050": customer,
                    "customfield_10051": "ord-7455",
                    "customfield_10052": total,
                    "customfield_10053": shipping,
                },
            },
        }
    ).encode()


def jira_headers(raw: bytes, secret: str = JIRA_SECRET, delivery: str | None = None) -> dict[str, str]:
    return {
        "X-Hub-Signature": sign_jira(secret, raw),
        "Content-Type": "application/json",
        "X-Atlassian-Webhook-Identifier": delivery or unique("delivery"),
    }


async def workflow_exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def assert_error(response: httpx.Response, status: int, error: str | None = None, *needles: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    if error:
        assert body["error"] == error, body
    for needle in needles:
        assert needle in body["detail"], body
    return body


# ---- 1. Zendesk signatures -----------------------------------------------------------------------


async def test_zendesk_valid_signature_opens_a_case(api: httpx.AsyncClient, client: Client) -> None:
    requester = unique("zd")
    raw = zendesk_trigger("9001", requester)
    response = await api.post("/v1/webhooks/zendesk", content=raw, headers=zendesk_headers(raw))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["created"] and body["contact_count"] == 1
    assert body["case_id"] == f"zd-user-{requester}:ord-glass"
    assert await workflow_exists(client, body["workflow_id"])


@pytest.mark.parametrize(
    "tamper",
    ["byte_changed", "wrong_secret", "missing_signature", "missing_timestamp", "stale", "future", "reserialised"],
)
async def test_zendesk_bad_signature_is_401_and_opens_nothing(
    api: httpx.AsyncClient, client: Client, tamper: str
) -> None:
    requester = unique("zdbad")
    raw = zendesk_trigger("9002", requester)
    headers = zendesk_headers(raw)
    body = raw
    if tamper == "byte_changed":
        body = raw.replace(b"Box crushed.", b"Box crushed!")
    elif tamper == "wrong_secret":
        headers = zendesk_headers(raw, secret="not-the-secret")
    elif tamper == "missing_signature":
        del headers["X-Zendesk-Webhook-Signature"]
    elif tamper == "missing_timestamp":
        del headers["X-Zendesk-Webhook-Signature-Timestamp"]
    elif tamper == "stale":
        headers = zendesk_headers(raw, skew=-301)
    elif tamper == "future":
        headers = zendesk_headers(raw, skew=301)
    elif tamper == "reserialised":
        body = json.dumps(json.loads(raw), indent=1).encode()
    response = await api.post("/v1/webhooks/zendesk", content=body, headers=headers)
    assert_error(response, 401, "bad_signature")
    assert not await workflow_exists(client, f"complaint-zd-user-{requester}:ord-glass")


async def test_zendesk_rotation_accepts_old_and_new_secret(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="recovery.api")
    for n, secret in enumerate([OLD_SECRET, NEW_SECRET]):
        raw = zendesk_trigger(f"930{n}", unique("rot"))
        response = await api.post("/v1/webhooks/zendesk", content=raw, headers=zendesk_headers(raw, secret=secret))
        assert response.status_code == 202, (secret, response.text)
    # Deliveries signed with the second listed secret (the one being retired) are logged, so ops can
    # tell when it is safe to remove it; the fixture lists OLD_SECRET first, so NEW_SECRET is second here.
    logged = [r for r in caplog.records if r.getMessage() == "webhook signed with the old secret"]
    assert [getattr(r, "source", None) for r in logged] == ["zendesk"]


async def test_zendesk_event_envelope_opens_a_case(api: httpx.AsyncClient) -> None:
    requester = unique("99")
    raw = json.dumps(
        {
            "type": "zen:event-type:ticket.created",
            "account_id": 1,
            "id": str(uuid.uuid4()),
            "time": "2026-11-20T10:00:00Z",
            "zendesk_event_version": "2022-11-06",
            "subject": "zen:ticket:9400",
            "detail": {
                "id": "9400",
                "subject": "Late delivery",
                "description": "Arrived a week late.",
                "priority": "NORMAL",
                "requester_id": requester,
                "custom_fields": [{"id": "360001", "value": "ord-late"}],
            },
            "event": {},
        }
    ).encode()
    response = await api.post("/v1/webhooks/zendesk", content=raw, headers=zendesk_headers(raw))
    assert response.status_code == 202, response.text
    assert response.json()["case_id"] == f"zd-user-{requester}:ord-late"


# ---- 2. Jira signatures and delivery dedupe ---------------------------------------------------------


@pytest.mark.parametrize("tamper", ["byte_changed", "wrong_secret", "missing_signature", "sha1", "reserialised"])
async def test_jira_bad_signature_is_401_and_opens_nothing(api: httpx.AsyncClient, client: Client, tamper: str) -> None:
    customer = unique("jbad")
    raw = jira_issue("SR-1", customer)
    headers = jira_headers(raw)
    body = raw
    if tamper == "byte_changed":
        body = raw.replace(b"Please refund.", b"Please refund!")
    elif tamper == "wrong_secret":
        headers = jira_headers(raw, secret="nope")
    elif tamper == "missing_signature":
        del headers["X-Hub-Signature"]
    elif tamper == "sha1":
        headers["X-Hub-Signature"] = headers["X-Hub-Signature"].replace("sha256=", "sha1=")
    elif tamper == "reserialised":
        body = json.dumps(json.loads(raw), indent=2).encode()
    assert_error(await api.post("/v1/webhooks/jira", content=body, headers=headers), 401, "bad_signature")
    assert not await workflow_exists(client, f"complaint-{customer}:ord-7455")


async def test_jira_duplicate_delivery_adds_no_second_contact(api: httpx.AsyncClient) -> None:
    customer = unique("jira")
    raw = jira_issue("SR-2", customer)
    first = await api.post("/v1/webhooks/jira", content=raw, headers=jira_headers(raw, delivery="d-1"))
    again = await api.post("/v1/webhooks/jira", content=raw, headers=jira_headers(raw, delivery="d-1"))
    updated_raw = jira_issue("SR-2", customer, event="jira:issue_updated")
    updated = await api.post("/v1/webhooks/jira", content=updated_raw, headers=jira_headers(updated_raw))
    assert [r.status_code for r in (first, again, updated)] == [202, 202, 202]
    assert first.json()["created"] and again.json()["duplicate"] and updated.json()["duplicate"]
    view = await api.get(f"/v1/complaints/{first.json()['case_id']}", headers=ALICE)
    assert view.json()["contact_count"] == 1
    # A second Jira issue about the same customer and order is a repeat contact on the same case.
    other = jira_issue("SR-3", customer)
    repeat = await api.post("/v1/webhooks/jira", content=other, headers=jira_headers(other))
    assert repeat.json()["case_id"] == first.json()["case_id"] and repeat.json()["contact_count"] == 2


# ---- 3. concurrent deliveries -------------------------------------------------------------------------


async def test_ten_concurrent_deliveries_make_one_case_and_one_contact(api: httpx.AsyncClient, client: Client) -> None:
    ticket = generic_ticket(unique("conc"), event=unique("same-event"))
    responses = await asyncio.gather(*(api.post("/v1/tickets", json=ticket, headers=INTAKE) for _ in range(10)))
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert sum(b["created"] for b in bodies) == 1
    assert {b["contact_count"] for b in bodies} == {1}
    workflow_id = bodies[0]["workflow_id"]
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert len(runs) == 1
    timeline = (await api.get(f"/v1/complaints/{bodies[0]['case_id']}", headers=ALICE)).json()["timeline"]
    assert [e["type"] for e in timeline] == ["opened"]


# ---- 4. every error row ----------------------------------------------------------------------------


async def test_400_malformed_json(api: httpx.AsyncClient) -> None:
    assert_error(
        await api.post("/v1/tickets", content=b'{"source": ', headers={**INTAKE, "Content-Type": "application/json"}),
        400,
        "bad_request",
        "not valid JSON",
    )
    raw = b"{not json"
    assert_error(await api.post("/v1/webhooks/jira", content=raw, headers=jira_headers(raw)), 400, "bad_request")


async def test_401_missing_or_unknown_token(api: httpx.AsyncClient) -> None:
    ticket = generic_ticket(unique("auth"))
    assert_error(await api.post("/v1/tickets", json=ticket), 401, "unauthorized", "missing bearer token")
    assert_error(
        await api.post("/v1/tickets", json=ticket, headers={"Authorization": "Bearer wrong-token-000000"}),
        401,
        "unauthorized",
        "unknown bearer token",
    )
    assert_error(await api.get("/v1/complaints/x:y", headers={"Authorization": "Basic abc"}), 401, "unauthorized")


async def test_403_roles_self_approval_and_authority(api: httpx.AsyncClient) -> None:
    case = await open_at_compensate(api)
    assert_error(
        await api.post(f"/v1/complaints/{case}/acknowledge", json={}, headers=VIEWER), 403, "forbidden", "may not act"
    )
    assert_error(await api.get(f"/v1/complaints/{case}", headers=INTAKE), 403, "forbidden")
    assert_error(await api.post("/v1/tickets", json=generic_ticket(unique("v")), headers=VIEWER), 403, "forbidden")

    proposed = await api.post(
        f"/v1/complaints/{case}/compensation",
        headers=ALICE,
        json={"kind": "refund", "amount": {"amount": "1500.00", "currency": "USD"}},
    )
    assert proposed.status_code == 200 and proposed.json()["pending_compensation"]["status"] == "pending_approval"
    assert_error(
        await api.post(f"/v1/complaints/{case}/approval", json={"approve": True}, headers=ALICE),
        403,
        "forbidden",
        "self-approval",
    )
    assert_error(
        await api.post(f"/v1/complaints/{case}/approval", json={"approve": True}, headers=BOB),
        403,
        "forbidden",
        "may not approve",
    )
    assert_error(
        await api.post(f"/v1/complaints/{case}/approval", json={"approve": True}, headers=LENA),
        403,
        "forbidden",
        "above what role 'team-lead' may approve",
    )


async def test_404_unknown_case_and_webhook_source(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/v1/complaints/nobody:nothing", headers=ALICE), 404, "not_found", "no case")
    assert_error(await api.post("/v1/complaints/nobody:nothing/acknowledge", json={}, headers=ALICE), 404, "not_found")
    assert_error(
        await api.post("/v1/webhooks/freshdesk", content=b"{}"), 404, "not_found", "unknown webhook source 'freshdesk'"
    )


async def test_409_out_of_order_names_the_step_and_closed_case(api: httpx.AsyncClient) -> None:
    opened = (await api.post("/v1/tickets", json=generic_ticket(unique("ooo")), headers=INTAKE)).json()
    case = opened["case_id"]
    assert_error(
        await api.post(f"/v1/complaints/{case}/close", json={"root_cause": "other", "note": "x"}, headers=ALICE),
        409,
        "out_of_order",
        "step 'acknowledge'",
    )
    await close_case(api, case)
    assert_error(await api.post(f"/v1/complaints/{case}/pause", json={"reason": "x"}, headers=ALICE), 409, "closed")


async def test_413_body_over_the_limit(api: httpx.AsyncClient) -> None:
    big = generic_ticket(unique("big"), description="x" * (BODY_LIMIT + 10))
    assert_error(await api.post("/v1/tickets", json=big, headers=INTAKE), 413, "too_large")

    async def streamed():  # no Content-Length: the limit applies as the body arrives
        for _ in range(10):
            yield b"x" * (BODY_LIMIT // 4)

    assert_error(await api.post("/v1/webhooks/zendesk", content=streamed()), 413, "too_large")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"occurred_at": "2026-11-20T10:00:00"}, "occurred_at"),
        ({"order": {"id": "o", "currency": "USD", "total": "-5.00"}}, "must not be negative"),
        ({"order": {"id": "o", "currency": "USD", "total": 88.5}}, "not a float"),
        ({"order": {"id": "o", "currency": "USD", "total": "99999999999"}}, "above the maximum"),
        ({"order": {"id": "o", "currency": "XYZ", "total": "5.00"}}, "unknown currency"),
    ],
)
async def test_422_ticket_validation(api: httpx.AsyncClient, change: dict, needle: str) -> None:
    assert_error(
        await api.post("/v1/tickets", json={**generic_ticket(unique("val")), **change}, headers=INTAKE),
        422,
        "validation",
        needle,
    )


async def test_422_step_validation_and_unknown_root_cause(api: httpx.AsyncClient) -> None:
    case = await open_at_compensate(api)
    for amount, needle in ((-5, "must not be negative"), (12.5, "not a float")):
        body = {
            "kind": "refund",
            "amount": {"amount": amount if isinstance(amount, float) else str(amount), "currency": "USD"},
        }
        assert_error(
            await api.post(f"/v1/complaints/{case}/compensation", json=body, headers=ALICE), 422, "validation", needle
        )
    assert_error(
        await api.post(
            f"/v1/complaints/{case}/compensation",
            headers=ALICE,
            json={"kind": "refund", "amount": {"amount": "5.00", "currency": "ABC"}},
        ),
        422,
        "validation",
        "unknown currency",
    )
    await api.post(f"/v1/complaints/{case}/compensation", json={"kind": "none", "reason": "n/a"}, headers=ALICE)
    await wait_asked(api, case)
    await api.post(f"/v1/complaints/{case}/follow-up", json={"outcome": "satisfied"}, headers=ALICE)
    assert_error(
        await api.post(f"/v1/complaints/{case}/close", json={"root_cause": "gremlins", "note": "?"}, headers=ALICE),
        422,
        "invalid",
        "unknown root cause",
    )


# ---- 5. who acts -------------------------------------------------------------------------------------


async def test_actor_is_the_authenticated_agent_and_a_lead_approves(api: httpx.AsyncClient) -> None:
    opened = (await api.post("/v1/tickets", json=generic_ticket(unique("actor")), headers=INTAKE)).json()
    case = opened["case_id"]
    # An `actor` in a body is refused (it never names who acts): only the token does.
    assert_error(
        await api.post(
            f"/v1/complaints/{case}/acknowledge",
            headers=ALICE,
            json={"message": "Sorry!", "actor": {"id": "lena", "role": "team-lead"}},
        ),
        422,
        "validation",
        "actor",
    )
    acked = await api.post(f"/v1/complaints/{case}/acknowledge", headers=ALICE, json={"message": "Sorry!"})
    assert acked.status_code == 200, acked.text
    await api.post(f"/v1/complaints/{case}/fix", json={"description": "Replacement glass sent."}, headers=ALICE)
    await api.post(
        f"/v1/complaints/{case}/compensation",
        headers=ALICE,
        json={"kind": "refund", "amount": {"amount": "120.00", "currency": "USD"}},
    )
    approved = await api.post(f"/v1/complaints/{case}/approval", json={"approve": True}, headers=LENA)
    assert approved.status_code == 200, approved.text
    assert approved.json()["step"] == "follow_up"
    timeline = (await api.get(f"/v1/complaints/{case}", headers=ALICE)).json()["timeline"]
    actors = {e["type"]: e["actor"] for e in timeline}
    assert actors["acknowledged"] == "alice"
    assert actors["compensation_proposed"] == "alice"
    assert actors["compensation_approved"] == "lena"


# ---- 6. triage --------------------------------------------------------------------------------------


async def test_7455_shipping_on_88_order_arrives_critical_with_the_anomaly_named(api: httpx.AsyncClient) -> None:
    customer = unique("ship")
    raw = jira_issue("SR-7455", customer, shipping="7455.00", total="88.00")
    response = await api.post("/v1/webhooks/jira", content=raw, headers=jira_headers(raw))
    assert response.status_code == 202, response.text
    view = (await api.get(f"/v1/complaints/{response.json()['case_id']}", headers=ALICE)).json()
    assert view["severity"] == "critical"
    opened = view["timeline"][0]
    assert opened["type"] == "opened" and opened["data"]["severity"] == "critical"
    assert any(
        "shipping charge 7455.00 USD is 84.7x the order total 88.00 USD" in a for a in opened["data"]["anomalies"]
    )


# ---- list and health ----------------------------------------------------------------------------------


async def test_list_filters_by_search_attributes_and_pages(api: httpx.AsyncClient) -> None:
    customer = unique("list")
    for order in ("o-1", "o-2", "o-3"):
        await api.post("/v1/tickets", json=generic_ticket(customer, order=order), headers=INTAKE)
    await api.post(f"/v1/complaints/{customer}:o-1/acknowledge", json={}, headers=ALICE)

    async def listed() -> dict:
        page = (await api.get("/v1/complaints", params={"customer": customer, "step": "fix"}, headers=ALICE)).json()
        return page if [c["case_id"] for c in page["complaints"]] == [f"{customer}:o-1"] else {}

    await eventually(listed)

    async def all_three() -> list:
        seen, token = [], None
        while True:
            params = {"customer": customer, "page_size": 2, **({"page_token": token} if token else {})}
            page = (await api.get("/v1/complaints", params=params, headers=VIEWER)).json()
            seen += [c["case_id"] for c in page["complaints"]]
            token = page["next_page_token"]
            if not token:
                return seen if len(seen) == 3 else []

    assert sorted(await eventually(all_three)) == [f"{customer}:o-{n}" for n in (1, 2, 3)]
    assert_error(await api.get("/v1/complaints", params={"step": "bogus"}, headers=ALICE), 422, "validation")
    assert_error(await api.get("/v1/complaints", params={"customer": "x' OR 1=1"}, headers=ALICE), 422)


async def test_healthz_reports_temporal(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


async def test_openapi_is_published(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    assert "/v1/tickets" in schema["paths"] and "/v1/complaints/{case_id}/compensation" in schema["paths"]


# ---- helpers -------------------------------------------------------------------------------------------


async def open_at_compensate(api: httpx.AsyncClient) -> str:
    opened = (await api.post("/v1/tickets", json=generic_ticket(unique("c")), headers=INTAKE)).json()
    case = opened["case_id"]
    assert (await api.post(f"/v1/complaints/{case}/acknowledge", json={}, headers=ALICE)).status_code == 200
    assert (
        await api.post(f"/v1/complaints/{case}/fix", json={"description": "done"}, headers=ALICE)
    ).status_code == 200
    return case


async def wait_asked(api: httpx.AsyncClient, case: str) -> None:
    async def asked() -> bool:
        view = (await api.get(f"/v1/complaints/{case}", headers=ALICE)).json()
        return any(e["type"] == "follow_up_asked" for e in view["timeline"])

    await eventually(asked)


async def close_case(api: httpx.AsyncClient, case: str) -> None:
    for path, body in (
        ("acknowledge", {}),
        ("fix", {"description": "done"}),
        ("compensation", {"kind": "none", "reason": "not needed"}),
    ):
        assert (await api.post(f"/v1/complaints/{case}/{path}", json=body, headers=ALICE)).status_code == 200
    await wait_asked(api, case)
    assert (
        await api.post(f"/v1/complaints/{case}/follow-up", json={"outcome": "satisfied"}, headers=ALICE)
    ).status_code == 200
    closed = await api.post(f"/v1/complaints/{case}/close", json={"root_cause": "other", "note": "ok"}, headers=ALICE)
    assert closed.status_code == 200, closed.text
