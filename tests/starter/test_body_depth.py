"""Bodies are checked for size and nesting before anything parses them, on every route that reads
JSON, signed or not: a body nested 1,000 deep is a 400 and an oversized one a 413, both JSON
`{error, detail}` — never the RecursionError 500 of `json.loads`. In process, no servers."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from starter.api import create_app
from starter.api.bodies import json_depth
from tests.starter.test_bad_input import (
    ALICE,
    CASE,
    down_database,
    jira_headers,
    no_temporal,
    settings,
    zendesk_headers,
)

LIMIT = 65536
DEEP = {
    "arrays": b"[" * 1000 + b"]" * 1000,
    "objects": b'{"a":' * 1000 + b"1" + b"}" * 1000,
}


def app_settings() -> Any:
    base = settings(down_database)
    return base.model_copy(update={"intake": base.intake.model_copy(update={"max_body_bytes": LIMIT})})


def json_routes() -> Iterator[str]:
    """Every POST route of the API's schema (all of them read a JSON body), with its path filled in."""
    app = create_app(app_settings(), no_temporal)
    for template, operations in app.openapi()["paths"].items():
        if "post" not in operations:
            continue
        if "{source}" in template:
            yield template.replace("{source}", "zendesk")
            yield template.replace("{source}", "jira")
        else:
            yield re.sub(r"\{[^/]+\}", CASE, template)


ROUTES = sorted(json_routes())


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(app_settings(), no_temporal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


def headers_for(route: str, raw: bytes) -> dict[str, str]:
    """Valid credentials for the route: signed webhooks get a good signature, so only the body is wrong."""
    if route.endswith("/zendesk"):
        return zendesk_headers(raw)
    if route.endswith("/jira"):
        return jira_headers(raw)
    return {**ALICE, "Content-Type": "application/json"}


def test_every_json_route_is_covered() -> None:
    assert {"/v1/tickets", "/v1/webhooks/zendesk", "/v1/webhooks/jira", f"/v1/complaints/{CASE}/pause"} <= set(ROUTES)


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers.get("content-type", "").startswith("application/json"), response.text[:200]
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error", "detail"}, body
    return body


@pytest.mark.parametrize("shape", sorted(DEEP))
@pytest.mark.parametrize("route", ROUTES)
async def test_a_body_nested_1000_deep_is_a_400_on_every_route(api: httpx.AsyncClient, route: str, shape: str) -> None:
    raw = DEEP[shape]
    response = await api.post(route, content=raw, headers=headers_for(route, raw))
    body = error_of(response)
    assert response.status_code == 400 and body["error"] == "bad_request", (response.status_code, body)
    assert "deeper than 64" in body["detail"]


@pytest.mark.parametrize("route", ROUTES)
async def test_an_oversized_body_is_a_413_on_every_route(api: httpx.AsyncClient, route: str) -> None:
    raw = json.dumps({"x": "y" * LIMIT}).encode()
    response = await api.post(route, content=raw, headers=headers_for(route, raw))
    assert response.status_code == 413 and error_of(response)["error"] == "too_large"


async def test_a_body_within_the_depth_is_parsed_as_before(api: httpx.AsyncClient) -> None:
    nested: Any = "x"
    for _ in range(60):
        nested = {"a": nested}
    raw = json.dumps({"ticket_id": "1", "subject": "s", "requester": {"id": "1"}, "deep": nested}).encode()
    response = await api.post("/v1/webhooks/zendesk", content=raw, headers=zendesk_headers(raw))
    assert response.status_code == 503  # past the checks, the signature and the mapping: Temporal is absent


def test_the_depth_scan_skips_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": "[[[[{{\\"{{", "b": [[1]]}') == 3
    assert json_depth(b'"[[[["') == 0
    assert json_depth(b"[" * 1000, stop_above=64) == 65  # stops counting early
    assert json_depth(b"[[]][[[]]]") == 3
