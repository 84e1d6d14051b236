"""The console's causes page (`/reports/causes`): signed in, it draws each chart as inline SVG beside
the table of its numbers, from the read model seeded as in tests/activities/test_causes.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from console.cause_charts import PALETTE, cause_charts
from recovery.causes import CauseRow, CausesReport, Csat, Trend, WeekCount
from tests.activities.test_causes import seed
from tests.starter.test_causes_report import ROOT, no_temporal
from tests.starter.test_database_outage import HTML, sign_in

WINDOW = {"since": "2024-03-04", "until": "2024-04-29"}


@pytest.fixture
async def http(db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    from starter.agents import load_agents
    from starter.api import ApiSettings, create_app
    from starter.intake import IntakeConfig
    from tests.helpers import fast_policy

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
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client


def sections(html: str) -> list[str]:
    return re.findall(r'<section class="chart-card chart-pair".*?</section>', html, re.S)


def cells(section: str) -> list[list[str]]:
    body = section.split("<tbody>", 1)[1]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


async def test_the_causes_page_draws_charts_beside_their_numbers(http: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    await seed(db)
    signed_out = await http.get("/reports/causes", headers=HTML)
    assert signed_out.status_code in (302, 303, 307) and "/login" in signed_out.headers["location"]
    await sign_in(http)

    reports = await http.get("/reports", headers=HTML)
    assert reports.status_code == 200 and 'href="/reports/causes"' in reports.text

    page = await http.get("/reports/causes", params=WINDOW, headers=HTML)
    assert page.status_code == 200, page.text
    assert "<script" not in page.text.split("</head>", 1)[1]  # no chart script: server-drawn SVG
    assert "https://" not in page.text and "http://" not in page.text.replace('"http://www.w3.org', "")
    found = sections(page.text)
    titles = [re.search(r"<h2[^>]*>(.*?)</h2>", s).group(1) for s in found]  # type: ignore[union-attr]
    assert titles == [
        "Cases per root cause",
        "Cases closed per week",
        "Median handling time",
        "Customer satisfaction (CSAT)",
        "Reopened cases",
        "Compensation granted",
    ]
    for section in found:  # each chart has its SVG and, beside it, its table
        pair = section.split('<div class="pair">', 1)[1]
        assert pair.index('<svg viewBox="') < pair.index('<table class="small numbers">')
        assert 'role="img"' in pair and "<rect" in pair

    assert cells(found[0]) == [
        ["carrier", "3", "42.9%", "1", "+2"],
        ["warehouse", "2", "28.6%", "2", "0"],
        ["product-defect", "2", "28.6%", "0", "+2"],
        ["billing", "0", "0.0%", "2", "-2"],
    ]
    weekly = cells(found[1])
    assert len(weekly) == 8 and weekly[0] == ["2024-03-04", "1", "1", "0"]  # carrier, product-defect, warehouse
    assert re.findall(r'<th scope="col">(.*?)</th>', found[1]) == ["week", "carrier", "product-defect", "warehouse"]
    assert weekly[3] == ["2024-03-25", "1", "0", "1"]
    assert ["carrier", "2d 1h", "6h 00m"] in cells(found[2])
    assert ["carrier", "3", "3.33", "2", "4.00", "5", "3.60"] in cells(found[3])  # customers', agents', all
    assert ["warehouse", "0", "-", "1", "3.00", "1", "3.00"] in cells(found[3])
    assert ["carrier", "33.3%", "1.00", "1"] in cells(found[4])
    assert cells(found[5]) == [
        ["carrier", "EUR", "20.00"],
        ["carrier", "USD", "90.00"],
        ["warehouse", "EUR", "15.50"],
        ["product-defect", "USD", "12.00"],
    ]
    assert 'aria-current="page">Reports' in page.text


async def test_a_bad_window_is_a_sentence(http: httpx.AsyncClient) -> None:
    await sign_in(http)
    for params, words in [
        ({"since": "soon"}, "is not a date"),
        ({"weeks": "many"}, "is not a number of weeks"),
        ({"since": "2024-05-01", "until": "2024-03-01"}, "is after until"),
        ({"weeks": "0"}, "weeks must be from 1"),
    ]:
        page = await http.get("/reports/causes", params=params, headers=HTML)
        assert page.status_code == 422 and words in page.text, (params, page.text[-800:])
        assert 'value="' + params.get("since", "") + '"' in page.text  # the form keeps what was typed
    empty = await http.get("/reports/causes", headers=HTML)
    assert empty.status_code == 200 and empty.text.count("No data in this window.") == 6


def test_more_causes_than_colours_become_other() -> None:
    from datetime import UTC, date, datetime

    names = [f"cause-{n}" for n in range(10)]
    report = CausesReport(
        since=datetime(2024, 3, 4, tzinfo=UTC),
        until=datetime(2024, 3, 11, tzinfo=UTC),
        causes=[
            CauseRow(
                cause=name,
                cases=10 - n,
                share=0.1,
                repeat_contacts_per_case=0.0,
                reopen_rate=0.0,
                compensation={},
                median_handling_s=60.0,
                median_agent_step_s=30.0,
                csat=Csat(n=0, mean=None),
                breaches=0,
                trend=Trend(previous_cases=0, change=10 - n),
            )
            for n, name in enumerate(names)
        ],
        weeks=[WeekCount(week_start=date(2024, 3, 4), cause=name, cases=10 - n) for n, name in enumerate(names)],
    )
    weekly = cause_charts(report)[1]
    assert weekly.headers == ["week", *names[: len(PALETTE) - 1], "other"]
    assert weekly.rows == [["2024-03-04", "10", "9", "8", "7", "6", "5", "4", "6"]]  # other: 3 + 2 + 1
