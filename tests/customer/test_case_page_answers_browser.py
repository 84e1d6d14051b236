"""The customer takes part, in a real browser on the real stack (the fixtures of
test_case_page_browser.py: dev server, fresh PostgreSQL, worker mailing aiosmtpd, API on uvicorn,
Debian's chromium).

* The follow-up email carries a link per score; a mail scanner opening every one changes no case.
* The "2" link, confirmed on the page, reopens the case at fix (the workflow tells the owner); a
  second tab's answer is then refused with a plain 409 page.
* The "5" link on another case completes the follow-up as satisfied, csat 5, actor customer.
* The reply box resumes a case paused waiting on the customer; the same form sent again adds nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

import asyncpg
import httpx

from starter.cases import open_case, run_step, status, timeline
from tests.customer.test_case_page_browser import Stack, browser, stack  # noqa: F401 (fixtures)
from tests.helpers import AGENT, eventually, ticket
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, CompensateInput, FixInput, PauseInput

SCORE = re.compile(r"^([1-5]): (http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]+\?score=\1)$", re.MULTILINE)


async def at_follow_up(on: Stack, n: str) -> tuple[str, dict[int, str]]:
    """A case whose follow-up question went out; (case id, {score: link from its email})."""
    opened = await open_case(on.client, ticket(n, customer=f"cust-{n}", order=f"ord-{n}"), on.policy, on.queue)
    case = opened.case_id
    await run_step(on.client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="Sorry."))
    await run_step(on.client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Replaced."))
    await run_step(
        on.client, case, ComplaintWorkflow.compensate, CompensateInput(actor=AGENT, kind="none", reason="n/a")
    )

    async def question() -> dict[int, str]:
        mails = [
            m
            for m in on.smtp.to("dana@example.com")
            if m["X-Recovery-Case"] == case and m["Subject"].startswith("Did we make it right?")
        ]
        assert mails, "no follow-up email yet"
        text = mails[0].get_body(("plain",)).get_content().replace("\r\n", "\n")
        found = {int(s): url for s, url in SCORE.findall(text)}
        assert sorted(found) == [1, 2, 3, 4, 5], text
        html = mails[0].get_body(("html",)).get_content()
        assert all(f'href="{url}"' in html for url in found.values())
        return found

    return case, await eventually(question, timeout=60)


async def moves(on: Stack, case: str) -> tuple[Any, ...]:
    """What any answer of the customer's would change: the step, their events, links, opt-outs."""
    s = await status(on.client, case)
    row = await on.db.fetchrow(
        "SELECT (SELECT count(*) FROM events WHERE workflow_id = $1 AND (actor = 'customer' OR type = ANY($2))) AS e, "
        "(SELECT count(*) FROM customer_links) AS l, (SELECT max(created_at) FROM customer_links) AS c, "
        "(SELECT count(*) FROM customer_optouts) AS o",
        f"complaint-{case}",
        ["follow_up_done", "customer_replied", "reopened", "resumed", "contact_added"],
    )
    return (s.step, s.paused, s.contact_count, *tuple(row))


async def events_of(db: asyncpg.Pool, workflow_id: str, type_: str, at_least: int = 0) -> list[dict[str, Any]]:
    """The stored events of a type (waiting, when `at_least`, for the projection to catch up)."""
    if at_least:
        await eventually(lambda: _count(db, workflow_id, type_, at_least))
    rows = await db.fetch(
        "SELECT actor, data FROM events WHERE workflow_id = $1 AND type = $2 ORDER BY seq", workflow_id, type_
    )
    return [{"actor": r["actor"], **json.loads(r["data"])} for r in rows]


async def _count(db: asyncpg.Pool, workflow_id: str, type_: str, at_least: int) -> bool:
    sql = "SELECT count(*) FROM events WHERE workflow_id = $1 AND type = $2"
    return bool(await db.fetchval(sql, workflow_id, type_) >= at_least)


async def test_the_customer_answers_the_follow_up_from_the_email(stack: Stack, browser: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    low_case, low = await at_follow_up(stack, "low")
    high_case, high = await at_follow_up(stack, "high")
    low_wf, high_wf = f"complaint-{low_case}", f"complaint-{high_case}"

    # A mail scanner opens every link of both emails, twice: no case changes (the cases' own
    # timers go on: the test policy's follow-up window is one second, so warnings keep coming)
    before = (await moves(stack, low_case), await moves(stack, high_case))
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(2):
            for url in (*low.values(), *high.values()):
                assert (await http.get(url)).status_code == 200
    assert (await moves(stack, low_case), await moves(stack, high_case)) == before
    assert (await status(stack.client, low_case)).step == "follow_up"

    # "2": preselected, confirmed with one POST (a comment), the case reopens at fix
    tab = await browser.new_page(viewport={"width": 390, "height": 844})
    late = await browser.new_page(viewport={"width": 390, "height": 844})
    await tab.goto(low[2])
    await late.goto(low[5])  # a second tab, answered after the first
    await expect(tab.locator("input[name=score][value='2']")).to_be_checked()
    await expect(late.locator("input[name=score][value='5']")).to_be_checked()
    await tab.fill("#answer-comment", "The new one is chipped too.")
    await tab.click("#answer button")
    await expect(tab.locator("#notice")).to_contain_text("We reopened your case")
    assert "?sent=unsatisfied" in tab.url
    await expect(tab.locator("#answer")).to_be_hidden(timeout=30_000)  # the page follows the case

    async def reopened() -> bool:
        s = await status(stack.client, low_case)
        assert s.step == "fix", s.step
        return True

    await eventually(reopened)
    (done,) = await events_of(stack.db, low_wf, "follow_up_done", 1)
    assert (done["actor"], done["outcome"], done["csat"]) == ("customer", "unsatisfied", 2)
    (back,) = await events_of(stack.db, low_wf, "reopened", 1)
    assert back["step"] == "fix"

    # The second answer: refused plainly, nothing recorded
    await late.click("#answer button")
    await expect(late.locator("#answer .error")).to_contain_text("We already have an answer to this question")
    assert len(await events_of(stack.db, low_wf, "follow_up_done")) == 1
    await tab.close()
    await late.close()

    # "5" on the other case: satisfied, csat 5, on to close
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(high[5])
    await page.click("#answer button")
    await expect(page.locator("#notice")).to_contain_text("We noted your score")

    async def satisfied() -> bool:
        return (await status(stack.client, high_case)).step == "close"

    await eventually(satisfied)
    (done,) = await events_of(stack.db, high_wf, "follow_up_done", 1)
    assert (done["actor"], done["outcome"], done["csat"]) == ("customer", "satisfied", 5)
    await page.close()


async def test_a_reply_from_the_box_resumes_a_paused_case_once(stack: Stack, browser: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    opened = await open_case(
        stack.client, ticket("box", customer="cust-box", order="ord-box"), stack.policy, stack.queue
    )
    case, workflow_id = opened.case_id, f"complaint-{opened.case_id}"
    await run_step(stack.client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="Sorry."))
    await run_step(
        stack.client, case, ComplaintWorkflow.pause, PauseInput(actor=AGENT, reason="waiting on the customer")
    )

    async def link() -> str:
        found = re.compile(r"See your case: (http://\S+/c/[A-Za-z0-9_-]+)")
        for mail in stack.smtp.to("dana@example.com"):
            if mail["X-Recovery-Case"] == case and (m := found.search(mail.get_body(("plain",)).get_content())):
                return m.group(1)
        raise AssertionError("no case link yet")

    url = await eventually(link, timeout=60)
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    await page.goto(url)
    await page.fill("#reply-text", "Here is the photo you asked for: the handle is cracked.")
    form = await page.evaluate("Object.fromEntries(new FormData(document.querySelector('#reply form')).entries())")
    await page.click("#reply button")
    await expect(page.locator("#notice")).to_contain_text("your message is on your case")

    async def resumed() -> bool:
        return not (await status(stack.client, case)).paused

    await eventually(resumed)
    (reply,) = await events_of(stack.db, workflow_id, "customer_replied", 1)
    assert reply["actor"] == "customer" and reply["source"] == "case-page"
    assert len(await events_of(stack.db, workflow_id, "resumed", 1)) == 1

    # The same form again (a resubmit, a double tap): the same event id, nothing added
    async with httpx.AsyncClient(timeout=10) as http:
        again = await http.post(f"{url}/message", data=form)
    assert again.status_code == 303
    replies = [e for e in await timeline(stack.client, case) if e.type == "customer_replied"]
    assert len(replies) == 1  # the case's own record: the second was the same event
    status_now = await status(stack.client, case)
    assert status_now.contact_count == opened.contact_count  # the awaited reply is no repeat contact
    await page.close()
