"""The proactive report through `GET /v1/reports/proactive`, `recovery report proactive` and the
console's reports page, over the read model seeded as in tests/activities/test_proactive_report.py
(no Temporal: reports read PostgreSQL only)."""

from __future__ import annotations

import asyncio
import json
import os
import re

import asyncpg
import httpx

from tests.activities.test_proactive_report import seed
from tests.starter.test_causes_report import ALICE, INTAKE, api  # noqa: F401  (the fixture)
from tests.starter.test_cli import recovery
from tests.starter.test_database_outage import HTML, sign_in


async def test_api_serves_the_proactive_report(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:  # noqa: F811
    await seed(db)
    assert (await api.get("/v1/reports/proactive")).status_code == 401
    assert (await api.get("/v1/reports/proactive", headers=INTAKE)).status_code == 403

    answer = await api.get("/v1/reports/proactive", headers=ALICE)
    assert answer.status_code == 200, answer.text
    proactive, reactive = answer.json()["origins"]
    assert proactive["origin"] == "proactive" and proactive["cases"] == 3
    assert proactive["first_apology"] == {"count": 3, "p50_seconds": 4.0, "p95_seconds": 5.8}
    assert proactive["csat"] == {"responses": 2, "average": 4.5}
    assert proactive["customer_csat"] == {"n": 1, "mean": 5.0} and proactive["agent_csat"] == {"n": 1, "mean": 4.0}
    assert reactive["customer_csat"] == {"n": 1, "mean": 3.0} and reactive["agent_csat"] == {"n": 2, "mean": 4.0}
    assert proactive["compensation"] == [
        {"currency": "EUR", "count": 1, "amount": "10.00"},
        {"currency": "USD", "count": 1, "amount": "74.55"},
    ]
    assert proactive["rules"] == [{"rule": "overcharge", "cases": 2}, {"rule": "late_delivery", "cases": 1}]
    assert reactive["first_apology"] == {"count": 2, "p50_seconds": 4500.0, "p95_seconds": 6930.0}
    assert reactive["repeat_contacts"] == {"cases": 3, "repeat_cases": 1, "pct": 33.3}

    window = {"since": "2024-03-01T01:00:00Z", "until": "2024-03-01T03:00:00Z"}
    windowed = (await api.get("/v1/reports/proactive", params=window, headers=ALICE)).json()
    assert [o["cases"] for o in windowed["origins"]] == [2, 1]
    refused = await api.get(
        "/v1/reports/proactive", params={"since": window["until"], "until": window["since"]}, headers=ALICE
    )
    assert refused.status_code == 422 and refused.json()["error"] == "validation", refused.text


async def test_cli_prints_the_proactive_report(db: asyncpg.Pool, db_url: str) -> None:
    await seed(db)
    env = {**os.environ, "DATABASE_URL": db_url}
    as_json = await asyncio.to_thread(recovery, "report", "proactive", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert [o["cases"] for o in data["origins"]] == [3, 3]
    assert data["origins"][1]["compensation"] == [{"currency": "USD", "count": 2, "amount": "25.00"}]

    text = await asyncio.to_thread(recovery, "report", "proactive", "--since", "2024-03-01T01:00:00", env=env)
    assert text.returncode == 0, text.stderr
    lines = [line.split() for line in text.stdout.splitlines()]
    assert ["cases", "2", "2"] in lines  # P2, P3 | R2, R3
    assert ["first", "apology", "p50", "5s", "2h", "00m"] in lines
    top = await asyncio.to_thread(recovery, "report", "proactive", "--top", "3", env=env)
    assert top.returncode == 2 and "--top is for the SLA report" in top.stderr


async def test_the_reports_page_compares_proactive_and_reactive(
    api: httpx.AsyncClient,  # noqa: F811
    db: asyncpg.Pool,
) -> None:
    await seed(db)
    await sign_in(api)
    page = await api.get("/reports", headers=HTML)
    assert page.status_code == 200, page.text
    section = page.text.split('<section id="proactive"', 1)[1].split("</section>", 1)[0]
    rows = [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)
    ]
    assert ["first apology p50", "4s", "1h 15m"] in rows
    assert ["CSAT average", "4.50", "4.00"] in rows
    assert ["agent-entered CSAT mean", "4.00", "4.00"] in rows  # apart from the customers' own
    assert [row[1:] for row in rows if row[0].startswith("customers") and row[0].endswith("own CSAT mean")] == [
        ["5.00", "3.00"]
    ]
    assert ["proactive", "USD", "1", "74.55"] in rows and ["reactive", "USD", "2", "25.00"] in rows
    assert "overcharge 2" in section and "late delivery 1" in section
