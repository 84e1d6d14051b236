"""Remedies the customer chooses, on the real stack (test_case_page_browser.py's fixtures: dev server,
fresh PostgreSQL, a worker mailing aiosmtpd, the API with the page on uvicorn), without a browser:

* an agent offers three remedies with `POST /v1/complaints/{id}/offer`; the customer's email lists
  them numbered, with the page link; the customer picks on the page (its POST): the ledger has
  exactly one issuance, issued by `customer`, approved by the offering agent; a second pick gets a
  409 with a plain answer and changes nothing; a bad pick form is a 4xx with a message;
* a ticket reply (as the Zendesk/Jira intake sends it, and as a helpdesk turns an email reply into)
  of "2" picks option 2;
* nothing picked by the deadline: the default is issued (the policy's `on_expiry`), and a pick
  after it is refused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from starter.api.ticket_events import apply_ticket_event
from starter.cases import open_case, run_step, status
from starter.intake.events import EventRules, TicketActivity
from tests.customer.test_case_page_browser import Stack, stack  # noqa: F401 (fixtures)
from tests.helpers import AGENT, eventually, ticket
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, FixInput, OfferInput

ALICE = {"Authorization": "Bearer dev-alice-0123456789"}
OPTIONS: list[dict[str, Any]] = [
    {"kind": "refund", "amount": {"amount": "20.00", "currency": "USD"}},
    {"kind": "replacement", "label": "a replacement, shipped today"},
    {"kind": "coupon", "amount": {"amount": "25.00", "currency": "USD"}},
]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def at_compensate(on: Stack, n: str) -> str:
    opened = await open_case(on.client, ticket(n, customer=f"cust-{n}", order=f"ord-{n}"), on.policy, on.queue)
    await run_step(on.client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    await run_step(on.client, opened.case_id, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Ok."))
    return opened.case_id


async def offer_mail(on: Stack, case: str) -> tuple[str, str]:
    """(the offer email's text, the page link in it)."""

    async def mail() -> tuple[str, str]:
        mails = [m for m in on.smtp.to("dana@example.com") if m["X-Recovery-Case"] == case]
        offers = [m for m in mails if "Choose how we make it right" in str(m["Subject"])]
        assert offers, [m["Subject"] for m in mails]
        text = offers[0].get_body(("plain",)).get_content().replace("\r\n", "\n")
        link = re.search(r"See your case: (http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]+)", text)
        assert link, text
        return text, link.group(1)

    return await eventually(mail, timeout=60)


async def ledger(on: Stack, case: str, at_least: int = 0) -> list[dict[str, Any]]:
    async def rows() -> list[dict[str, Any]]:
        found = await on.db.fetch(
            "SELECT kind, amount, status, issued_by, approved_by FROM ledger WHERE workflow_id = $1",
            f"complaint-{case}",
        )
        assert len(found) >= at_least and all(r["status"] == "succeeded" for r in found), found
        return [dict(r) for r in found] or [{}]

    result = await eventually(rows, timeout=30)
    return [r for r in result if r]


async def pick(http: httpx.AsyncClient, link: str, **form: str) -> httpx.Response:
    page = await http.get(link)
    assert page.status_code == 200
    csrf = CSRF.search(page.text)
    assert csrf
    return await http.post(f"{link}/pick", data={"csrf": csrf.group(1), **form})


async def test_an_offer_made_through_the_api_is_picked_on_the_page_and_issued_once(stack: Stack) -> None:  # noqa: F811
    case = await at_compensate(stack, "offer-api")
    async with httpx.AsyncClient(base_url=stack.url, timeout=20) as api:
        refused = await api.post(
            f"/v1/complaints/{case}/offer",
            json={"options": [*OPTIONS[:2], {"kind": "refund", "amount": {"amount": "80.00", "currency": "USD"}}]},
            headers=ALICE,
        )
        assert refused.status_code == 403 and "option 3: 80.00 USD is above your authority" in refused.json()["detail"]
        made = await api.post(
            f"/v1/complaints/{case}/offer", json={"options": OPTIONS, "default": 2, "reason": "sorry"}, headers=ALICE
        )
        assert made.status_code == 200, made.text
        assert made.json()["offer"]["status"] == "open" and "compensate" not in made.json()["accepts"]

    text, link = await offer_mail(stack, case)
    assert "1. a refund of 20.00 USD" in text and "2. a replacement, shipped today" in text
    assert "3. a coupon of 25.00 USD" in text and "Reply with the number" in text

    async with httpx.AsyncClient(timeout=20, follow_redirects=False) as http:
        page = await eventually(lambda: _offer_shown(http, link))
        assert "a coupon of 25.00 USD" in page and "Choose how we make it up to you" in page
        bad = await pick(http, link, option="9")
        assert bad.status_code == 400 and "Please choose one of the options (1 to 3)" in bad.text
        forged = await http.post(f"{link}/pick", data={"csrf": "nope", "option": "1"})
        assert forged.status_code == 403 and "did not come from your page" in forged.text
        assert not await ledger(stack, case)

        chosen = await pick(http, link, option="3")
        assert chosen.status_code == 303 and chosen.headers["location"].endswith("?sent=picked")
        [row] = await ledger(stack, case, at_least=1)
        assert (row["kind"], str(row["amount"]), row["issued_by"], row["approved_by"]) == (
            "coupon",
            "25.000",
            "customer",
            "alice",
        )
        again = await pick(http, link, option="1")
        assert again.status_code == 409 and "You have already made your choice" in again.text
    assert len(await ledger(stack, case, at_least=1)) == 1
    assert (await status(stack.client, case)).step == "follow_up"
    issued = await stack.db.fetchrow(
        "SELECT actor, data->>'offer' AS offer FROM events WHERE workflow_id = $1 AND type = 'compensation_issued'",
        f"complaint-{case}",
    )
    assert issued is not None and issued["actor"] == "customer" and issued["offer"]


async def _offer_shown(http: httpx.AsyncClient, link: str) -> str:
    page = await http.get(link)
    assert 'action="/c/' in page.text and "/pick" in page.text, "the page does not offer the choice yet"
    return page.text


async def test_a_ticket_reply_of_2_picks_option_2(stack: Stack) -> None:  # noqa: F811
    case = await at_compensate(stack, "offer-reply")
    offer = OfferInput.model_validate({"actor": AGENT.model_dump(), "options": OPTIONS})
    await run_step(stack.client, case, ComplaintWorkflow.offer, offer)

    async def projected() -> bool:
        return bool(await stack.db.fetchval("SELECT 1 FROM cases WHERE case_id = $1", case))

    await eventually(projected)
    reply = TicketActivity(source="generic", ticket_id="T-offer-reply", event_id="reply-1", kind="customer_reply")
    applied = await apply_ticket_event(
        stack.client, stack.db, reply.model_copy(update={"text": " 2 "}), EventRules(), "agent"
    )
    assert applied.applied, applied
    [row] = await ledger(stack, case, at_least=1)
    assert (row["kind"], row["issued_by"], row["approved_by"]) == ("replacement", "customer", "alice")
    s = await status(stack.client, case)
    assert s.offer is not None and s.offer.picked == 2 and s.contact_count == 1  # a choice, no repeat contact


async def test_nothing_picked_by_the_deadline_issues_the_default(stack: Stack) -> None:  # noqa: F811
    case = await at_compensate(stack, "offer-late")
    deadline = datetime.now(UTC) + timedelta(seconds=3)
    offer = OfferInput.model_validate(
        {"actor": AGENT.model_dump(), "options": OPTIONS, "default": 1, "choose_by": deadline.isoformat()}
    )
    await run_step(stack.client, case, ComplaintWorkflow.offer, offer)
    _, link = await offer_mail(stack, case)
    [row] = await ledger(stack, case, at_least=1)
    assert (row["kind"], row["issued_by"], row["approved_by"]) == ("refund", "engine", "alice")
    async with httpx.AsyncClient(timeout=20) as http:
        late = await pick(http, link, option="2")
    assert late.status_code == 409 and "we issued the default option" in late.text
    assert len(await ledger(stack, case, at_least=1)) == 1
