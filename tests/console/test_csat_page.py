"""The console's CSAT page (`/reports/csat`): the customers' own answers by severity and by root
cause, and apart from them the agents' scores, from the read model seeded as in
tests/activities/test_csat.py."""

from __future__ import annotations

import re

import asyncpg
import httpx
import pytest

from tests.activities.test_csat import seed
from tests.console.test_causes_page import http
from tests.starter.test_database_outage import HTML, sign_in

__all__ = ["http"]  # the fixture


def rows(html: str, table: str) -> list[list[str]]:
    found = re.search(rf'<table class="small {table}">(.*?)</table>', html, re.S)
    assert found is not None, f"no {table} table"
    body = found.group(1).split("<tbody>", 1)[1]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


async def test_the_csat_page_shows_customers_and_agents_apart(http: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    await seed(db)
    signed_out = await http.get("/reports/csat", headers=HTML)
    assert signed_out.status_code in (302, 303, 307) and "/login" in signed_out.headers["location"]
    await sign_in(http)
    reports = await http.get("/reports", headers=HTML)
    assert reports.status_code == 200 and 'href="/reports/csat"' in reports.text

    page = await http.get("/reports/csat", headers=HTML)
    assert page.status_code == 200, page.text
    assert rows(page.text, "csat-customers") == [["all", "8", "5", "62.5%", "5", "3.40"]]
    assert rows(page.text, "csat-severity") == [
        ["critical", "3", "2", "66.7%", "2", "4.50"],
        ["high", "3", "3", "100.0%", "3", "2.67"],
        ["normal", "2", "0", "0.0%", "0", "-"],
    ]
    assert rows(page.text, "csat-cause") == [
        ["carrier", "3", "2", "66.7%", "2", "4.50"],
        ["warehouse", "3", "3", "100.0%", "3", "2.67"],
        ["open", "2", "0", "0.0%", "0", "-"],
    ]
    assert rows(page.text, "csat-agents") == [["3", "3.67"]]

    window = await http.get("/reports/csat", params={"since": "2024-03-05", "until": "2024-04-01"}, headers=HTML)
    assert window.status_code == 200, window.text
    assert rows(window.text, "csat-customers") == [["all", "1", "1", "100.0%", "1", "4.00"]]
    assert rows(window.text, "csat-agents") == [["0", "-"]]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"since": "yesterday"}, "“yesterday” is not a date"),
        ({"until": "2024-02-30"}, "“2024-02-30” is not a date"),
        ({"since": "2024-04-01", "until": "2024-03-01"}, "is after until"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "outside the range of UTC times"),
    ],
)
async def test_the_csat_page_refuses_a_bad_window_with_a_sentence(
    http: httpx.AsyncClient, params: dict[str, str], says: str
) -> None:
    await sign_in(http)
    page = await http.get("/reports/csat", params=params, headers=HTML)
    assert page.status_code == 422, page.text
    alert = re.search(r'<p class="message" role="alert">(.*?)</p>', page.text, re.S)
    assert alert is not None and says in alert.group(1), page.text
    assert "csat-customers" not in page.text
