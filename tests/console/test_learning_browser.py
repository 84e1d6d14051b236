"""A learning organisation, in a real browser (Debian's chromium via Playwright) against the real
stack: a lead reads the causes page (each SVG chart drawn and visible beside the table of its numbers,
from closed cases seeded through the projection as in tests/activities/test_causes.py), follows a
repeat-mistake alert's link to open a prevention action for its cause, and finds it open on the
prevention page and on the causes page.

Screenshots go to the module's output folder like the other browser tests' (`shot`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from activities.cause_alerts import CauseAlerts
from activities.notifications import Notifier
from tests.activities.test_causes import S, seed
from tests.console.conftest import Stack
from tests.console.test_console_browser import close_contexts, shot, sign_in  # noqa: F401 (the fixture)
from workflows.learning import CauseAlert
from workflows.templates import render

WINDOW = "since=2024-03-04&until=2024-04-29"
TITLES = [
    "Cases per root cause",
    "Cases closed per week",
    "Median handling time",
    "Customer satisfaction (CSAT)",
    "Reopened cases",
    "Compensation granted",
]
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
async def seeded(stack: Stack) -> Stack:
    """The stack with the causes report's closed cases projected into its database, once."""
    await seed(stack.db)
    return stack


def alert_text(stack: Stack, cause: str) -> str:
    """The body of the repeat-mistake alert the cause watch would send for `cause` (email)."""
    alert = CauseAlert(
        cause=cause,
        window_start=S,
        within=timedelta(days=7),
        cases=["c1", "c2", "c3"],
        previous=1,
        at=S + timedelta(days=6),
    )
    note = CauseAlerts(Notifier(console_url=stack.url)).note_of(alert, "lena")
    return render(note.audience, note.template, note.params, "email")[1]


async def test_the_causes_page_draws_charts_beside_their_numbers(browser: Browser, seeded: Stack) -> None:
    stack = seeded
    page = await sign_in(browser, stack, "lena")
    await page.goto(f"{stack.url}/reports/causes?{WINDOW}")
    cards = page.locator("section.chart-pair")
    await expect(cards).to_have_count(len(TITLES))
    assert await cards.locator("h2").all_inner_texts() == TITLES
    for i in range(len(TITLES)):
        card = cards.nth(i)
        chart = card.locator(".pair svg")
        table = card.locator(".pair table.numbers")
        await expect(chart).to_have_count(1)
        await expect(chart).to_be_visible()
        await expect(table).to_be_visible()
        assert await chart.locator("rect").count() > 0
        drawn, numbers = await chart.bounding_box(), await table.bounding_box()
        assert drawn and numbers and drawn["width"] > 100 and drawn["height"] > 50
        # beside: the table to the right of the chart, on the same row, at this width
        assert numbers["x"] >= drawn["x"] + drawn["width"], (TITLES[i], drawn, numbers)
        assert numbers["y"] < drawn["y"] + drawn["height"]
    per_cause = cards.nth(0).locator("table.numbers tbody tr")
    assert [" ".join((await r.inner_text()).split()) for r in await per_cause.all()] == [
        "carrier 3 42.9% 1 +2",
        "warehouse 2 28.6% 2 0",
        "product-defect 2 28.6% 0 +2",
        "billing 0 0.0% 2 -2",
    ]
    money = cards.nth(5).locator("table.numbers tbody tr")
    assert [" ".join((await r.inner_text()).split()) for r in await money.all()] == [
        "carrier EUR 20.00",
        "carrier USD 90.00",
        "warehouse EUR 15.50",
        "product-defect USD 12.00",
    ]
    await expect(page.locator("#prevention")).to_contain_text("Prevention actions")
    await shot(page, stack, "causes")


async def test_an_alert_link_opens_an_action_the_prevention_page_lists_open(browser: Browser, seeded: Stack) -> None:
    stack = seeded
    text = alert_text(stack, "carrier")
    links = re.findall(r"https?://\S+", text)
    assert f"{stack.url}/reports/causes" in links
    link = next(u for u in links if "/prevention/new?" in u)
    assert link == f"{stack.url}/prevention/new?cause=carrier"

    page = await sign_in(browser, stack, "lena")
    # The causes page offers the same link for the cause.
    await page.goto(f"{stack.url}/reports/causes?{WINDOW}")
    row = page.locator("#prevention tbody tr").filter(has=page.get_by_role("rowheader", name="carrier", exact=True))
    offered = row.get_by_role("link", name="Open an action")
    assert await offered.get_attribute("href") == "/prevention/new?cause=carrier"

    await page.goto(link)  # as from the alert
    await expect(page.get_by_role("heading", name="Open a prevention action")).to_be_visible()
    assert await page.get_by_label("Root cause").input_value() == "carrier"
    await page.get_by_label("What will be changed").fill("Photograph every parcel at hand-over to the carrier")
    await page.get_by_label("Owner").select_option("bob")
    due = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    await page.get_by_label("Due date").fill(due)
    await shot(page, stack, "prevention-new")
    await page.get_by_role("button", name="Open the action").click()

    notice = page.get_by_role("status")
    await expect(notice).to_contain_text("is open")
    action_id = re.search(r"Prevention action (\S+) is open", await notice.inner_text()).group(1)  # type: ignore[union-attr]
    assert action_id.startswith("prevention-carrier-")
    assert "/prevention?opened=" in page.url
    for heading in ("Overdue", "Due soon (within 2 days)", "Open", "Done"):
        await expect(page.get_by_role("heading", name=re.compile(rf"^{re.escape(heading)} \d+$"))).to_be_visible()
    listed = page.locator("#open tbody tr").filter(has=page.get_by_role("rowheader", name=action_id))
    await expect(listed).to_have_count(1)
    await expect(listed.locator('[data-label="Cause"]')).to_have_text("carrier")
    await expect(listed.locator('[data-label="What"]')).to_have_text(
        "Photograph every parcel at hand-over to the carrier"
    )
    await expect(listed.locator('[data-label="Owner"]')).to_have_text("bob")
    await expect(listed.get_by_role("button", name="Done")).to_be_visible()  # a lead may close it
    await expect(page.locator("#done")).not_to_contain_text(action_id)
    await shot(page, stack, "prevention")

    # The causes page shows it open, per cause.
    await page.goto(f"{stack.url}/reports/causes?{WINDOW}")
    await expect(row.locator('[data-label="Open"]')).to_contain_text(f"{action_id} · bob · due")
