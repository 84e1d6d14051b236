"""A customer email is one RFC 5322 addr-spec on every intake (generic JSON, Zendesk, Jira): a list,
a display name, a quoted or broken local part is 422 naming the field, before anything reaches
Temporal or SMTP. The refusals in process (no Temporal: reaching it would be a 503); the good
addresses against the real dev server (202)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from starter.api import ApiSettings, create_app
from tests.starter.test_bad_input import (
    ALICE,
    TICKET,
    down_database,
    jira_body,
    jira_headers,
    no_temporal,
    settings,
    zendesk_body,
    zendesk_headers,
)

BAD_ADDRESSES = [
    "victim,evil4@x.com",  # a list, smuggled as one local part
    "Foo<evil5@x.com>",  # a display name
    'x"@evil7.com',  # a stray quote
    "<evil@x.com>",
    "evil@x.com>",
    "a@x.com;b@y.com",
    '"quoted"@x.com',
    "dana@[127.0.0.1]",
    "dana(comment)@x.com",
    "dana@x..com",
    ".dana@x.com",
    "dana.@x.com",
    "dana@-x.com",
    "dana@x_y.com",
    "group:a@x.com;",
    "dana@x.123",
    "dana@example.invalid",
]
GOOD_ADDRESSES = ["dana@example.com", "Dana.O'Neil+vip@shop.example", "über@bücher.de"]


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(down_database), no_temporal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


def generic(address: str) -> dict[str, Any]:
    body = copy.deepcopy(TICKET)
    body["customer"]["email"] = address
    body["event_id"] = f"evt-{uuid.uuid4().hex[:8]}"
    return body


def zendesk(address: str) -> dict[str, Any]:
    body = zendesk_body(ticket_id=str(uuid.uuid4().int % 10**8))
    body["requester"] = {**body["requester"], "email": address}
    return body


def jira(address: str) -> dict[str, Any]:
    body = jira_body()
    body["issue"]["key"] = f"SUP-{uuid.uuid4().int % 10**6}"
    body["issue"]["fields"]["reporter"]["emailAddress"] = address
    return body


async def post(http: httpx.AsyncClient, source: str, body: dict[str, Any]) -> httpx.Response:
    if source == "generic":
        return await http.post("/v1/tickets", json=body, headers=ALICE)
    raw = json.dumps(body).encode()
    headers = zendesk_headers(raw) if source == "zendesk" else jira_headers(raw)
    return await http.post(f"/v1/webhooks/{source}", content=raw, headers=headers)


BODIES = {"generic": generic, "zendesk": zendesk, "jira": jira}


@pytest.mark.parametrize("source", BODIES)
@pytest.mark.parametrize("address", BAD_ADDRESSES)
async def test_a_customer_email_that_is_not_one_address_is_422_naming_the_field(
    api: httpx.AsyncClient, source: str, address: str
) -> None:
    response = await post(api, source, BODIES[source](address))
    assert response.status_code == 422, (source, address, response.status_code, response.text)
    body = response.json()
    assert body["error"] == "validation" and "customer.email" in body["detail"], body
    assert "not one email address" in body["detail"], body


@pytest.fixture
async def live_api(client: Client, worker: Any, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    live: ApiSettings = settings()
    live.task_queue = task_queue

    async def connect() -> Client:
        return client

    app = create_app(live, connect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


async def test_good_customer_addresses_still_open_cases_on_every_intake(live_api: httpx.AsyncClient) -> None:
    for source, body in BODIES.items():
        for address in GOOD_ADDRESSES:
            response = await post(live_api, source, body(address))
            assert response.status_code == 202, (source, address, response.text)
