"""The SLA report's CSAT section through `GET /v1/reports/sla` and `recovery report`, over the read
model seeded as in tests/activities/test_csat.py (reports read PostgreSQL only)."""

from __future__ import annotations

import asyncio
import json
import os

import asyncpg
import httpx
import pytest

from tests.activities.test_csat import EXPECTED, seed
from tests.starter.test_causes_report import ALICE, api
from tests.starter.test_cli import recovery

__all__ = ["api"]  # the fixture


async def test_api_serves_customers_csat_apart_from_agents(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    await seed(db)
    answer = await api.get("/v1/reports/sla", headers=ALICE)
    assert answer.status_code == 200, answer.text
    assert answer.json()["csat"] == EXPECTED

    window = await api.get("/v1/reports/sla", params={"since": "2024-03-05T00:00:00Z"}, headers=ALICE)
    assert window.status_code == 200, window.text
    customers = window.json()["csat"]["customers"]  # case I alone: the customer's 4
    assert (customers["asked"], customers["answered"], customers["response_rate_pct"], customers["mean"]) == (
        1,
        1,
        100.0,
        4.0,
    )
    assert window.json()["csat"]["agent_entered"] == {"n": 0, "mean": None}


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"since": "last week"}, "since"),
        ({"until": "2024-02-30"}, "until"),
        ({"since": "2024-04-01T00:00:00Z", "until": "2024-03-01T00:00:00Z"}, "is after until"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "outside the range"),
        ({"top": "-1"}, "top"),
    ],
)
async def test_api_refuses_bad_windows_with_a_message(api: httpx.AsyncClient, params: dict, says: str) -> None:
    answer = await api.get("/v1/reports/sla", params=params, headers=ALICE)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "validation" and says in json.dumps(body)


async def test_cli_prints_customers_csat(db: asyncpg.Pool, db_url: str) -> None:
    await seed(db)
    env = {**os.environ, "DATABASE_URL": db_url}
    as_json = await asyncio.to_thread(recovery, "report", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["csat"] == EXPECTED

    text = await asyncio.to_thread(recovery, "report", env=env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    totals = lines[lines.index("Customers' own CSAT (answers from the case page)") + 3]
    assert totals.split() == ["8", "5", "62.5%", "5", "3.40"]
    agents = lines[lines.index("Scores entered by agents (not the customers' own)") + 3]
    assert agents.split() == ["3", "3.67"]

    backwards = await asyncio.to_thread(recovery, "report", "--since", "2024-05-01", "--until", "2024-03-01", env=env)
    assert backwards.returncode == 2 and "is after until" in backwards.stderr
