"""A bounded loopback load test of the intake: thousands of requests, duplicates and bad input mixed,
against `recovery api` and a worker as processes on the dev server."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import asyncpg
import httpx

from starter.intake import sign_jira
from tests.helpers import eventually, figure

INTAKE = {"Authorization": "Bearer dev-intake-012345678"}
DISTINCT, COPIES, REPEATS, BAD = 150, 10, 50, 400


def ticket(run: str, n: int, event: str) -> dict:
    return {
        "source": "generic",
        "event_id": event,
        "ticket_id": f"T{n}",
        # tickets DISTINCT.. are second tickets about the first REPEATS customers' orders
        "customer": {"id": f"load-{run}-{n - DISTINCT if n >= DISTINCT else n}", "name": "Load"},
        "order": {"id": "ord-1", "currency": "USD", "total": "10.00"},
        "subject": "Load",
        "occurred_at": "2026-11-20T10:00:00Z",
    }


async def test_intake_under_load_has_no_5xx_and_no_duplicate_case(api_url: str, db_url: str) -> None:
    run = uuid.uuid4().hex[:6]
    rng = random.Random(2026)
    requests: list[tuple[str, dict | bytes, dict, str]] = []  # (path, body, headers, expectation)
    for n in range(DISTINCT):  # each distinct ticket delivered COPIES times
        requests += [("/v1/tickets", ticket(run, n, f"{run}-e{n}"), INTAKE, "ok")] * COPIES
    for n in range(DISTINCT, DISTINCT + REPEATS):  # a second ticket about an existing customer + order
        requests += [("/v1/tickets", ticket(run, n, f"{run}-e{n}"), INTAKE, "ok")] * 2
    for n in range(BAD):
        kind = n % 4
        if kind == 0:
            requests.append(
                ("/v1/tickets", b'{"source": "generic", ', {**INTAKE, "content-type": "application/json"}, "400")
            )
        elif kind == 1:
            bad = ticket(run, n, f"{run}-bad{n}")
            bad["order"]["total"] = "-1.00"
            requests.append(("/v1/tickets", bad, INTAKE, "422"))
        elif kind == 2:
            requests.append(("/v1/tickets", ticket(run, n, f"{run}-x{n}"), {"Authorization": "Bearer nope"}, "401"))
        else:
            raw = b'{"webhookEvent": "jira:issue_created"}'
            requests.append(("/v1/webhooks/jira", raw, {"X-Hub-Signature": sign_jira("wrong", raw)}, "401"))
    rng.shuffle(requests)

    statuses: Counter[int] = Counter()
    mismatched: list[str] = []
    limit = asyncio.Semaphore(16)

    async with httpx.AsyncClient(base_url=api_url, timeout=120) as http:

        async def send(path: str, body: dict | bytes, headers: dict, expect: str) -> None:
            async with limit:
                if isinstance(body, bytes):
                    response = await http.post(path, content=body, headers=headers)
                else:
                    response = await http.post(path, json=body, headers=headers)
            statuses[response.status_code] += 1
            if (expect == "ok") != (response.status_code == 202) or (
                expect != "ok" and str(response.status_code) != expect
            ):
                mismatched.append(f"{expect} → {response.status_code} {response.text[:120]}")

        await asyncio.gather(*(send(*r) for r in requests))

    assert not [code for code in statuses if code >= 500], statuses
    assert mismatched == []
    # Every case once, with exactly its contacts: the same delivery never counted twice.
    conn = await asyncpg.connect(db_url)
    try:

        async def projected() -> list:
            rows = await conn.fetch(
                "SELECT customer_id, contact_count FROM cases WHERE customer_id LIKE $1", f"load-{run}-%"
            )
            return rows if len(rows) == DISTINCT and sum(r["contact_count"] for r in rows) == DISTINCT + REPEATS else []

        rows = await eventually(projected, timeout=180, interval=1)
        opened = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'opened' AND case_id LIKE $1", f"load-{run}-%"
        )
    finally:
        await conn.close()
    assert opened == DISTINCT
    assert Counter(r["contact_count"] for r in rows) == Counter({1: DISTINCT - REPEATS, 2: REPEATS})
    figure(
        f"\nintake load: {sum(statuses.values())} requests {dict(sorted(statuses.items()))}, "
        f"{DISTINCT} cases, 5xx = 0, duplicate cases = 0, duplicate contacts = 0"
    )
