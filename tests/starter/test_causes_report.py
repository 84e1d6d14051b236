"""The causes report through `GET /v1/reports/causes` and `recovery report causes`, over the read
model seeded as in tests/activities/test_causes.py (no Temporal: reports read PostgreSQL only)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig
from tests.activities.test_causes import EXPECTED, seed
from tests.helpers import fast_policy
from tests.starter.test_cli import recovery

ROOT = Path(__file__).resolve().parents[2]
ALICE = {"Authorization": "Bearer dev-alice-0123456789"}
INTAKE = {"Authorization": "Bearer dev-intake-012345678"}
WINDOW = {"since": "2024-03-04T00:00:00Z", "until": "2024-04-29T00:00:00Z"}


def without_prevention(row: dict) -> dict:
    assert row.pop("prevention") == {"open": [], "done": []}
    return row


async def no_temporal() -> Client:
    raise ConnectionError("reports never ask Temporal")


@pytest.fixture
async def api(db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async def database() -> asyncpg.Pool:
        return db

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(),
        policy=fast_policy(),
        task_queue="no-worker-on-this-queue",
        database=database,
    )
    app = create_app(settings, no_temporal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


async def test_api_serves_the_causes_report(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    await seed(db)
    unauthorised = await api.get("/v1/reports/causes", params=WINDOW)
    assert unauthorised.status_code == 401, unauthorised.text
    assert (await api.get("/v1/reports/causes", params=WINDOW, headers=INTAKE)).status_code == 403

    answer = await api.get("/v1/reports/causes", params=WINDOW, headers=ALICE)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert set(data) == {"since", "until", "causes", "weeks", "effect_weeks"}
    assert {row["cause"]: without_prevention(row) for row in data["causes"]} == EXPECTED
    assert [row["cause"] for row in data["causes"]] == ["carrier", "warehouse", "product-defect", "billing"]
    assert data["causes"][0]["compensation"] == {"EUR": "20.00", "USD": "90.00"}
    assert len(data["weeks"]) == 24
    assert set(data["weeks"][0]) == {"week_start", "cause", "cases"}

    longer = (await api.get("/v1/reports/causes", params={**WINDOW, "weeks": 10}, headers=ALICE)).json()
    assert longer["weeks"][0]["week_start"] == "2024-02-19" and len(longer["weeks"]) == 30


@pytest.mark.parametrize(
    "params",
    [
        {"since": "tomorrow"},
        {"until": "2024-13-01"},
        {"since": "2024-04-29T00:00:00Z", "until": "2024-03-04T00:00:00Z"},
        {**WINDOW, "weeks": "0"},
        {**WINDOW, "weeks": "521"},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"since": "0001-01-02T00:00:00Z", "until": "9999-01-01T00:00:00Z"},
    ],
)
async def test_api_refuses_bad_windows_with_422(api: httpx.AsyncClient, params: dict[str, str]) -> None:
    answer = await api.get("/v1/reports/causes", params=params, headers=ALICE)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "validation"


def test_cli_rejects_options_of_the_other_report() -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://127.0.0.1:1/none"}  # refused before connecting
    top = recovery("report", "causes", "--top", "3", env=env)
    assert top.returncode == 2 and "--top is for the SLA report" in top.stderr
    weeks = recovery("report", "--weeks", "3", env=env)
    assert weeks.returncode == 2 and "--weeks is for `recovery report causes`" in weeks.stderr


async def test_cli_prints_the_causes_report(db: asyncpg.Pool, db_url: str) -> None:
    await seed(db)
    env = {**os.environ, "DATABASE_URL": db_url}
    args = ["report", "causes", "--since", "2024-03-04", "--until", "2024-04-29"]

    as_json = await asyncio.to_thread(recovery, *args, "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert {row["cause"]: without_prevention(row) for row in data["causes"]} == EXPECTED
    assert data["since"] == "2024-03-04T00:00:00Z" and len(data["weeks"]) == 24

    text = await asyncio.to_thread(recovery, *args, "--weeks", "10", env=env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    header = next(line for line in lines if line.split()[:3] == ["root", "cause", "cases"])
    assert lines[lines.index(header) + 1].lstrip().startswith("----")
    assert next(line.split()[:5] for line in lines if line.split()[:1] == ["carrier"]) == [
        "carrier",
        "3",
        "42.9%",
        "1",
        "+2",
    ]
    assert "customers' n" in header and "agents' n" in header
    carrier = next(line.split() for line in lines if line.split()[:1] == ["carrier"])
    assert carrier[11:17] == ["5", "3.60", "3", "3.33", "2", "4.00"]  # CSAT: all, customers' own, agents'
    weekly = lines[lines.index("Cases closed per week (weeks from Monday, UTC)") + 1 :]
    assert len([line for line in weekly if line.strip()]) == 2 + 10
    assert weekly[2].split() == ["2024-02-19", "1", "0", "0"]  # carrier's close 10 days before since

    bad = await asyncio.to_thread(
        recovery, "report", "causes", "--since", "2024-05-01", "--until", "2024-03-01", env=env
    )
    assert bad.returncode == 2 and "is after until" in bad.stderr

    sla = await asyncio.to_thread(recovery, "report", "--since", "2024-03-04", "--json", env=env)
    assert sla.returncode == 0 and "top_root_causes" in json.loads(sla.stdout)  # the SLA report as before
