"""Four-eyes approval by a user signed in through OIDC, on the real stack (tests/console/conftest.py:
the dev server, a worker, PostgreSQL, the API with the console and OIDC configured) and a real
provider on loopback (tests/console/oidc_provider.py), in chromium.

alice (a token agent) proposes a refund above her authority; a support lead signs in through the
provider, is mapped to `team-lead`, and approves it on the case page with the policy's team-lead
authority. A user the mapping makes an `agent` is not offered the approval and a forged one (role
fields added to the form) is refused: role and authority come from the mapping, never the browser."""

from __future__ import annotations

import html
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from playwright.async_api import Browser, Page, expect
from temporalio.testing import WorkflowEnvironment

from starter.cases import open_case, run_step, status
from tests.console.conftest import Stack, open_stack
from tests.console.oidc_provider import Provider
from tests.console.test_oidc import LEAD, _serve, _stop, provider_config
from tests.helpers import AGENT, eventually, free_port, ticket
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, Actor, CompensateInput, CompensationKind, FixInput, Money

pytestmark = pytest.mark.timeout(120)
AGENT_USER = {"sub": "u-3", "preferred_username": "olga", "email": "olga@example.com", "groups": ["support"]}
_open: list = []


@pytest.fixture(scope="module")
async def oidc_stack(
    dev_env: WorkflowEnvironment, pg_server: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Stack, Provider]]:
    provider = Provider()
    provider_port, console_port = free_port(), free_port()
    provider.issuer = f"http://127.0.0.1:{provider_port}"
    provider.client.redirect_uris = [f"http://127.0.0.1:{console_port}/login/oidc/callback"]
    config = provider_config(provider)
    idp = await _serve(provider.app, provider_port)
    try:
        async with open_stack(dev_env, pg_server, tmp_path_factory, oidc=config, port=console_port) as stack:
            yield stack, provider
    finally:
        await _stop(*idp)


@pytest.fixture(autouse=True)
async def close_contexts():
    yield
    while _open:
        await _open.pop().close()


async def new_page(browser: Browser) -> Page:
    context = await browser.new_context(locale="en-US")
    context.set_default_timeout(15_000)
    _open.append(context)
    return await context.new_page()


async def pending_case(stack: Stack) -> str:
    """A case whose refund of 120.00 USD by alice (authority 50.00 USD) waits for approval."""
    name = uuid.uuid4().hex[:8]
    opened = await open_case(
        stack.client,
        ticket(name, customer=f"cust-{name}", order=f"ord-{name}", subject=f"Parcel {name} arrived crushed"),
        stack.policy,
        stack.task_queue,
    )
    case = opened.case_id
    await run_step(stack.client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    await run_step(stack.client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Replaced."))
    return case


async def propose(stack: Stack, case: str, amount: str) -> None:
    refund = Money(amount=Decimal(amount), currency="USD")
    await run_step(
        stack.client,
        case,
        ComplaintWorkflow.compensate,
        CompensateInput(actor=AGENT, kind=CompensationKind.REFUND, amount=refund, reason="Broken twice"),
    )


async def propose_as_alice(browser: Browser, stack: Stack, case: str) -> None:
    alice = await new_page(browser)
    await alice.goto(f"{stack.url}/login")
    await alice.get_by_label("Your agent token").fill("dev-alice-0123456789")
    await alice.get_by_role("button", name="Sign in", exact=True).click()
    await expect(alice.get_by_text("Signed in as alice")).to_be_visible()
    await alice.goto(f"{stack.url}/cases/{case}")
    form = alice.locator('form.step[data-step="compensate"]')
    await expect(form.get_by_text("Your authority: 50.00 USD without approval")).to_be_visible()
    await form.get_by_label("Kind").select_option("refund")
    await form.get_by_label("Amount").fill("120.00")
    await form.get_by_label("Currency").select_option("USD")
    await form.get_by_label("Reason").fill("Second broken delivery this month")
    await form.get_by_role("button", name="Propose").click()
    await expect(alice.get_by_text("Pending (pending approval): refund 120.00 USD proposed by alice")).to_be_visible()


async def sign_in_with_provider(browser: Browser, stack: Stack, target: str) -> Page:
    page = await new_page(browser)
    await page.goto(f"{stack.url}{target}")  # signed out: the sign-in page, and back here after it
    await page.get_by_role("button", name="Sign in with Example ID").click()
    await page.wait_for_url(f"{stack.url}{target}", timeout=15_000)
    return page


async def test_oidc_lead_approves_above_an_agents_authority(
    browser: Browser, oidc_stack: tuple[Stack, Provider]
) -> None:
    stack, provider = oidc_stack
    case = await pending_case(stack)
    await propose_as_alice(browser, stack, case)

    provider.user = dict(LEAD)  # rita.lead, in support-leads: team-lead; not in the agents file
    lead = await sign_in_with_provider(browser, stack, "/?tab=approval")
    await expect(lead.locator(".who")).to_contain_text("Signed in as rita.lead (team-lead)")
    row = lead.locator(f'tr[data-case="{case}"]')
    await expect(row).to_contain_text("refund 120.00 USD by alice awaits approval")
    await row.get_by_role("link", name=case).click()
    approval = lead.locator('form.step[data-step="approve_compensation"]')
    await expect(approval).to_contain_text("alice (agent) proposes a refund of 120.00 USD")
    await expect(approval).to_contain_text("You may approve up to 1000.00 USD")  # the policy's team-lead authority
    await approval.get_by_label("Note").fill("Approved: repeat failure.")
    await approval.get_by_role("button", name="Approve").click()
    await expect(lead.get_by_role("status")).to_have_text("Decision recorded.")

    async def issued() -> bool:
        await lead.reload()
        return "Issued: refund 120.00 USD" in await lead.locator("#money").inner_text()

    await eventually(issued, timeout=20, interval=0.5)
    await expect(lead.locator("#money")).to_contain_text("proposed by alice, approved by rita.lead")
    await expect(lead.locator("tr.ev-compensation_approved td[data-label=By]")).to_have_text("rita.lead")
    approved = await stack.db.fetchrow(
        "SELECT actor, data FROM events WHERE case_id = $1 AND type = 'compensation_approved'", case
    )
    assert approved is not None and approved["actor"] == "rita.lead"
    found = await status(stack.client, case)
    comp = found.compensation[-1]
    assert comp.approved_by == Actor(id="rita.lead", role="team-lead")  # the role the mapping gave
    assert comp.proposed_by == AGENT and comp.amount == Money(amount=Decimal("120.00"), currency="USD")


async def test_oidc_leads_authority_is_the_policys_team_lead_limit(
    browser: Browser, oidc_stack: tuple[Stack, Provider]
) -> None:
    stack, provider = oidc_stack
    case = await pending_case(stack)
    await propose(stack, case, "1500.00")  # above team-lead's 1000.00 USD: a manager's to approve
    provider.user = dict(LEAD)
    lead = await sign_in_with_provider(browser, stack, f"/cases/{case}")
    approval = lead.locator('form.step[data-step="approve_compensation"]')
    await expect(approval).to_contain_text("You may approve up to 1000.00 USD")
    await approval.get_by_role("button", name="Approve").click()
    await expect(lead.get_by_role("alert")).to_contain_text(
        "1500.00 USD is above what role 'team-lead' may approve (1000.00 USD)"
    )
    found = await status(stack.client, case)
    assert found.pending_compensation is not None and found.pending_compensation.status == "pending_approval"


async def test_oidc_user_mapped_to_agent_cannot_approve(browser: Browser, oidc_stack: tuple[Stack, Provider]) -> None:
    stack, provider = oidc_stack
    case = await pending_case(stack)
    await propose(stack, case, "120.00")
    provider.user = dict(AGENT_USER)  # in support only: agent
    page = await sign_in_with_provider(browser, stack, f"/cases/{case}")
    await expect(page.locator(".who")).to_contain_text("Signed in as olga (agent)")
    await expect(page.get_by_text("Pending (pending approval): refund 120.00 USD proposed by alice")).to_be_visible()
    assert await page.locator('form.step[data-step="approve_compensation"]').count() == 0  # not offered
    await page.goto(f"{stack.url}/?tab=approval")  # no approvals tab for her: her own queue instead
    assert await page.get_by_role("link", name="Awaiting my approval").count() == 0

    # Forged: the approval posted by hand with her valid CSRF token, claiming a lead's role.
    csrf = await page.locator('input[name="csrf"]').first.input_value()
    forged = await page.request.post(
        f"{stack.url}/cases/{case}/steps/approve_compensation",
        form={"csrf": csrf, "decision": "approve", "role": "team-lead", "actor.role": "manager", "actor": "max"},
    )
    assert forged.status == 403
    assert """role="alert">Role 'agent' may not approve compensation.</p>""" in html.unescape(await forged.text())
    found = await status(stack.client, case)
    assert found.pending_compensation is not None and found.pending_compensation.status == "pending_approval"
    decided = (
        "SELECT count(*) FROM events WHERE case_id = $1 AND type IN ('compensation_approved', 'compensation_issued')"
    )
    assert await stack.db.fetchval(decided, case) == 0
