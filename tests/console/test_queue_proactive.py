"""The console queue shows proactive cases as such (a badge with the rule, read from the `opened`
event in the event store) and filters on the source; signed in over httpx, the read model seeded
through the projection."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import httpx

from activities.store.projection import ProjectionBatch, project
from tests.activities.test_proactive_report import proactive
from tests.activities.test_reports import T0 as OPENED
from tests.activities.test_reports import Case
from tests.starter.test_causes_report import api  # noqa: F401  (the fixture)
from tests.starter.test_database_outage import HTML, sign_in


async def seed(db: asyncpg.Pool) -> None:
    for case in [
        proactive("pq1", timedelta(0), "critical", "overcharge"),
        proactive("pq2", timedelta(minutes=1), "normal", "late_delivery"),
        Case("rq1", OPENED + timedelta(minutes=2), "high"),
    ]:
        batch = ProjectionBatch(workflow_id=f"complaint-{case.key}", case_id=case.key, events=case.events)
        assert await project(db, batch)


def rows(html: str) -> dict[str, str]:
    """Each queue row's case id and its Source cell."""
    found = re.findall(r'<tr class="[^"]*" data-case="([^"]+)">(.*?)</tr>', html, re.S)
    return {
        case: re.search(r'<td data-label="Source">(.*?)</td>', row, re.S).group(1)  # type: ignore[union-attr]
        for case, row in found
    }


async def test_the_queue_badges_proactive_cases_and_filters_on_the_source(
    api: httpx.AsyncClient,  # noqa: F811
    db: asyncpg.Pool,
) -> None:
    await seed(db)
    await sign_in(api)

    everything = await api.get("/", params={"tab": "unassigned"}, headers=HTML)
    assert everything.status_code == 200, everything.text
    shown = rows(everything.text)
    assert set(shown) == {"pq1", "pq2", "rq1"}
    assert shown["pq1"] == '<span class="badge proactive">proactive · overcharge</span>'
    assert shown["pq2"] == '<span class="badge proactive">proactive · late delivery</span>'
    assert shown["rq1"] == "email"
    assert '<option value="proactive">proactive</option>' in everything.text  # the source filter offers it

    only = await api.get("/", params={"tab": "unassigned", "source": "proactive"}, headers=HTML)
    assert set(rows(only.text)) == {"pq1", "pq2"}
    assert '<option value="proactive" selected>proactive</option>' in only.text
    assert "2 open cases matching the filters" in only.text
    reactive = await api.get("/", params={"tab": "unassigned", "source": "email"}, headers=HTML)
    assert set(rows(reactive.text)) == {"rq1"}
