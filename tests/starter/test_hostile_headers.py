"""Line breaks and control characters never reach a mail header: intake refuses them in the
customer's name and the subject on every source (generic JSON, Zendesk, Jira) with 422 naming the
field — in process, before anything reaches Temporal (that would be a 503)."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from starter.api import create_app
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

BREAKS = ["\r\n", "\n", "\r", "\u0085", "\u2028", "\u2029", "\t", "\x0b", "\x1b", "\x9b", "\x00"]


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(down_database), no_temporal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


def generic(field: str, text: str) -> dict[str, Any]:
    body = copy.deepcopy(TICKET)
    if field == "customer.name":
        body["customer"]["name"] = text
    else:
        body["subject"] = text
    return body


def zendesk(field: str, text: str) -> dict[str, Any]:
    body = zendesk_body()
    if field == "customer.name":
        body["requester"] = {**body["requester"], "name": text}
    else:
        body["subject"] = text
    return body


def jira(field: str, text: str) -> dict[str, Any]:
    body = jira_body()
    fields = body["issue"]["fields"]
    if field == "customer.name":
        fields["reporter"]["displayName"] = text
    else:
        fields["summary"] = text
    return body


BODIES = {"generic": generic, "zendesk": zendesk, "jira": jira}


async def post(http: httpx.AsyncClient, source: str, body: dict[str, Any]) -> httpx.Response:
    if source == "generic":
        return await http.post("/v1/tickets", json=body, headers=ALICE)
    raw = json.dumps(body).encode()
    headers = zendesk_headers(raw) if source == "zendesk" else jira_headers(raw)
    return await http.post(f"/v1/webhooks/{source}", content=raw, headers=headers)


@pytest.mark.parametrize("source", BODIES)
@pytest.mark.parametrize("field", ["customer.name", "subject"])
@pytest.mark.parametrize("brk", BREAKS, ids=[f"U+{ord(b[-1]):04X}" for b in BREAKS])
async def test_a_line_break_or_control_in_a_header_field_is_422_naming_it(
    api: httpx.AsyncClient, source: str, field: str, brk: str
) -> None:
    response = await post(api, source, BODIES[source](field, f"Dana{brk}Bcc: evil@x.com"))
    assert response.status_code == 422, (source, field, response.status_code, response.text)
    body = response.json()
    assert body["error"] == "validation" and field in body["detail"], body


@pytest.mark.parametrize("source", BODIES)
async def test_one_line_names_and_subjects_are_still_accepted(api: httpx.AsyncClient, source: str) -> None:
    body = BODIES[source]("customer.name", "Dana O'Neil-Ström")
    response = await post(api, source, body)
    assert response.status_code == 503, response.text  # past validation: it reached for Temporal
