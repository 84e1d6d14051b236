"""The agents' console in a real browser (Debian's chromium via Playwright) against the real stack:
sign-in, the queue, one-click steps, approvals, live escalations, CSRF, offline docs, phone width.

Screenshots of each main page go to the module's output folder (printed at the end; set
RECOVERY_SCREENSHOTS to choose it, and RECOVERY_DOCS_SCREENSHOTS=1 to refresh docs/img/ too)."""

from __future__ import annotations

import os
import re
import shutil
import uuid

import pytest
from playwright.async_api import Browser, Page, expect

from console import readmodel
from starter.cases import open_case, run_step
from tests.console.conftest import ROOT, Stack
from tests.helpers import AGENT, eventually, ticket
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, FixInput

TOKENS = {
    "alice": "dev-alice-0123456789",
    "bob": "dev-bob-0123456789ab",
    "lena": "dev-lena-0123456789a",
    "viewer": "dev-viewer-012345678",
    "intake": "dev-intake-012345678",
}
ZONE = "America/New_York"
pytestmark = pytest.mark.timeout(120)
_open: list = []


@pytest.fixture(autouse=True)
async def close_contexts():
    """Each test's browser contexts close after it, pass or fail (their event streams with them)."""
    yield
    while _open:
        await _open.pop().close()


async def new_page(browser: Browser, width: int = 1280, height: int = 900) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height}, timezone_id=ZONE, locale="en-US")
    context.set_default_timeout(15_000)
    _open.append(context)
    return await context.new_page()


async def sign_in(browser: Browser, stack: Stack, agent: str, width: int = 1280) -> Page:
    page = await new_page(browser, width)
    await page.goto(f"{stack.url}/login")
    await page.get_by_label("Your agent token").fill(TOKENS[agent])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_text(f"Signed in as {agent}")).to_be_visible()
    return page


async def shot(page: Page, stack: Stack, name: str) -> None:
    path = stack.shots / f"console-{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    if os.environ.get("RECOVERY_DOCS_SCREENSHOTS"):
        (ROOT / "docs" / "img").mkdir(exist_ok=True)
        shutil.copy(path, ROOT / "docs" / "img" / path.name)


async def new_case(stack: Stack, **extra) -> str:
    name = uuid.uuid4().hex[:8]
    opened = await open_case(
        stack.client,
        ticket(name, customer=f"cust-{name}", order=f"ord-{name}", subject=f"Parcel {name} arrived crushed", **extra),
        stack.policy,
        stack.task_queue,
    )
    return opened.case_id


async def test_sign_in_wrong_token_roles_and_sign_out(browser: Browser, stack: Stack) -> None:
    page = await new_page(browser)
    await page.goto(f"{stack.url}/cases/anything")
    assert "/login" in page.url  # pages need a session
    await shot(page, stack, "login")
    await page.get_by_label("Your agent token").fill("dev-alice-0123456789-wrong")
    await page.keyboard.press("Enter")  # the keyboard alone signs in
    await expect(page.get_by_role("alert")).to_have_text("That token was not accepted. Check it and try again.")
    assert not [c for c in await page.context.cookies() if c["name"] == "recovery_session"]

    await page.get_by_label("Your agent token").fill(TOKENS["intake"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("cannot sign in")

    await page.get_by_label("Your agent token").fill(TOKENS["alice"])
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("Signed in as alice")).to_be_visible()
    assert page.url.endswith("/cases/anything")  # back where the agent was going
    cookie = next(c for c in await page.context.cookies() if c["name"] == "recovery_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert TOKENS["alice"] not in cookie["value"] and "alice" not in cookie["value"].split(".")[-1]
    await expect(page.get_by_text(f"Times in {ZONE}")).to_be_visible()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    # The ended session's cookie, replayed, no longer works.
    await page.context.add_cookies([{**cookie}])
    await page.goto(f"{stack.url}/")
    assert "/login" in page.url


async def test_new_case_unassigned_claimed_acknowledged_fixed(
    browser: Browser, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = await sign_in(browser, stack, "alice")
    await page.goto(f"{stack.url}/?tab=unassigned")
    await expect(page.locator("body[data-live-open]")).to_have_count(1)
    unassigned = page.locator('[data-count="unassigned"]')
    before = int(await unassigned.inner_text())
    await page.evaluate("window.__sameDocument = true")

    case = await new_case(stack)
    row = page.locator(f'tr[data-case="{case}"]')
    await expect(row).to_be_visible(timeout=10_000)  # appears live, and the count moves
    await expect(unassigned).to_have_text(str(before + 1))
    assert await page.evaluate("window.__sameDocument === true")
    await shot(page, stack, "queue")
    other = await new_case(stack)
    await expect(page.locator(f'tr[data-case="{other}"]')).to_be_visible(timeout=10_000)
    # Filters: a customer-id prefix keeps only that customer's case.
    await page.get_by_label("Customer id").fill(case.split(":")[0])
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.get_by_role("table")).to_contain_text("matching the filters")
    await page.get_by_label("Severity").select_option("critical")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No open cases in Unassigned matching the filters.")).to_be_visible()
    await page.get_by_role("link", name="Clear").click()
    # Pages: one row a page here, so the two new cases are on pages of their own.
    monkeypatch.setattr(readmodel, "PAGE_SIZE", 1)
    await page.reload()
    first = await page.locator("tbody tr").get_attribute("data-case")
    await page.get_by_role("link", name="Next →").click()
    await expect(page.get_by_text("Page 2")).to_be_visible()
    assert await page.locator("tbody tr").count() == 1
    assert await page.locator("tbody tr").get_attribute("data-case") != first
    await expect(page.get_by_role("link", name="← Previous")).to_be_visible()
    monkeypatch.undo()
    await page.goto(f"{stack.url}/?tab=unassigned")

    await row.get_by_role("link", name=case).click()
    steps = page.locator("form.step")
    # Only what the engine accepts now: acknowledging, pausing, ownership — no fix, no close.
    assert sorted(await steps.evaluate_all("fs => fs.map(f => f.dataset.step)")) == ["acknowledge", "assign", "pause"]
    await expect(page.get_by_role("heading", name="Record the fix")).to_have_count(0)

    await page.get_by_role("button", name="Claim for me").click()
    assert (await page.locator("[data-owner]").inner_text()) == "alice"  # read your write, no waiting
    await expect(page.get_by_role("status")).to_have_text("Owner changed.")

    await page.get_by_label("Personal note to the customer").fill("We are so sorry about the parcel.")
    await page.get_by_role("button", name="Acknowledge").click()
    progress = page.get_by_role("list", name="Steps")
    assert "done" in await progress.locator("li").nth(0).inner_text()
    assert "by alice" in await progress.locator("li").nth(0).inner_text()
    assert re.search(r"E[SD]T", await progress.locator("li").nth(0).inner_text())  # the agent's zone, named
    await expect(page.get_by_text("We are so sorry about the parcel.").first).to_be_visible()

    await page.get_by_label("What was done to fix it").fill("A new parcel left today.")
    await page.get_by_role("button", name="Record fix").click()
    await expect(page.get_by_role("status")).to_have_text("Fix recorded.")
    assert "fix_recorded" not in await page.locator("#steps").inner_text()
    assert await page.locator('form.step[data-step="compensate"]').count() == 1
    await expect(page.get_by_role("heading", name="We've fixed it")).to_be_visible()  # what the customer saw
    await shot(page, stack, "case")

    await page.goto(f"{stack.url}/?tab=mine")
    await expect(page.locator(f'tr[data-case="{case}"]')).to_be_visible()
    # Someone else's case is not offered to another agent for taking (the engine's own rule decides).
    bob = await sign_in(browser, stack, "bob")
    await bob.goto(f"{stack.url}/cases/{case}")
    await expect(bob.locator('form.step[data-step="compensate"]')).to_have_count(1)
    assert await bob.locator('form.step[data-step="assign"]').count() == 0


async def test_compensation_above_authority_goes_to_a_lead_and_self_approval_is_refused(
    browser: Browser, stack: Stack
) -> None:
    case = await new_case(stack)
    await run_step(stack.client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    await run_step(stack.client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Replaced."))
    alice = await sign_in(browser, stack, "alice")
    await alice.goto(f"{stack.url}/cases/{case}")
    form = alice.locator('form.step[data-step="compensate"]')
    await expect(form.get_by_text("Your authority: 50.00 USD without approval")).to_be_visible()
    await expect(form.get_by_text("left under this customer's cap: 10000.00 USD")).to_be_visible()
    # Over the customer's cap: the engine's refusal appears in the form, in words, with what was typed kept.
    await form.get_by_label("Kind").select_option("refund")
    await form.get_by_label("Amount").fill("20000.00")
    await form.get_by_label("Reason").fill("Everything, twice")
    await form.get_by_role("button", name="Propose").click()
    form = alice.locator('form.step[data-step="compensate"]')
    await expect(form.get_by_role("alert")).to_contain_text("above the cap of 10000.00")
    assert await form.get_by_label("Amount").input_value() == "20000.00"
    assert await form.get_by_label("Reason").input_value() == "Everything, twice"
    await form.get_by_label("Kind").select_option("refund")
    await form.get_by_label("Amount").fill("120.00")
    await form.get_by_label("Currency").select_option("USD")
    await form.get_by_label("Reason").fill("Second broken delivery this month")
    await form.get_by_role("button", name="Propose").click()
    await expect(alice.get_by_role("status")).to_have_text("Compensation proposed.")
    await expect(alice.get_by_text("Pending (pending approval): refund 120.00 USD proposed by alice")).to_be_visible()
    assert await alice.locator('form.step[data-step="approve_compensation"]').count() == 0  # not offered to her

    # Forged: the approval posted by hand with her valid CSRF token is refused by the engine.
    csrf = await alice.locator('input[name="csrf"]').first.input_value()
    forged = await alice.request.post(
        f"{stack.url}/cases/{case}/steps/approve_compensation",
        form={"csrf": csrf, "decision": "approve", "note": "fine by me"},
    )
    assert forged.status == 403
    assert "self-approval: a different person must approve" in (await forged.text()).lower()

    lena = await sign_in(browser, stack, "lena")
    await lena.goto(f"{stack.url}/?tab=approval")
    row = lena.locator(f'tr[data-case="{case}"]')
    await expect(row).to_contain_text("refund 120.00 USD by alice awaits approval")
    await shot(lena, stack, "approvals")
    await row.get_by_role("link", name=case).click()
    approval = lena.locator('form.step[data-step="approve_compensation"]')
    await expect(approval).to_contain_text(
        "alice (agent) proposes a refund of 120.00 USD: “Second broken delivery this month”"
    )
    await approval.get_by_label("Note").fill("Approved: repeat failure.")
    await approval.get_by_role("button", name="Approve").click()
    await expect(lena.get_by_role("status")).to_have_text("Decision recorded.")

    async def issued() -> bool:
        await lena.reload()
        return "Issued: refund 120.00 USD" in await lena.locator("#money").inner_text()

    await eventually(issued, timeout=20, interval=0.5)
    await expect(lena.locator("#money")).to_contain_text("approved by lena")
    await expect(lena.locator("#money table")).to_contain_text("succeeded")  # the ledger's state


async def test_escalation_shows_on_an_open_page_without_reload(browser: Browser, stack: Stack) -> None:
    case = await new_case(stack, severity="critical")  # acknowledge within 8 s or it escalates
    page = await sign_in(browser, stack, "bob")
    await page.goto(f"{stack.url}/cases/{case}")
    await expect(page.locator("body[data-live-open]")).to_have_count(1)
    await expect(page.locator("[data-escalation]")).to_have_text("Not escalated")
    await page.evaluate("window.__sameDocument = true")
    await expect(page.locator("[data-escalation]")).to_have_text("Escalated: level 1 (team-lead)", timeout=30_000)
    assert await page.evaluate("window.__sameDocument === true")
    await expect(page.locator("#timeline")).to_contain_text("escalated")
    await shot(page, stack, "case-escalated")
    # A repeat contact shows the same way.
    customer, order = case.split(":")
    await open_case(
        stack.client, ticket(f"{order}-again", customer=customer, order=order), stack.policy, stack.task_queue
    )
    await expect(page.locator("#timeline")).to_contain_text("contact added", timeout=10_000)
    assert await page.evaluate("window.__sameDocument === true")


async def test_posts_without_csrf_are_refused_and_change_nothing(browser: Browser, stack: Stack) -> None:
    case = await new_case(stack)
    page = await sign_in(browser, stack, "alice")
    await page.goto(f"{stack.url}/cases/{case}")
    seq = await stack.db.fetchval("SELECT last_seq FROM case_status WHERE workflow_id = $1", f"complaint-{case}")
    for body in ({}, {"csrf": "forged-token"}):
        refused = await page.request.post(f"{stack.url}/cases/{case}/steps/acknowledge", form={**body, "message": "x"})
        assert refused.status == 403
        assert "security token" in await refused.text()
    logout = await page.request.post(f"{stack.url}/logout", form={})
    assert logout.status == 403  # a forged sign-out is refused too
    assert (
        await stack.db.fetchval("SELECT last_seq FROM case_status WHERE workflow_id = $1", f"complaint-{case}") == seq
    )
    await page.goto(f"{stack.url}/")
    await expect(page.get_by_text("Signed in as alice")).to_be_visible()


async def test_viewer_reads_only_and_the_reports_page_draws_charts(browser: Browser, stack: Stack) -> None:
    case = await new_case(stack)
    page = await sign_in(browser, stack, "viewer")
    await page.goto(f"{stack.url}/cases/{case}")
    await expect(page.get_by_text("may read cases but not act on them")).to_be_visible()
    assert await page.locator("form.step").count() == 0
    await page.goto(f"{stack.url}/reports")
    assert await page.locator("svg.chart").count() >= 3
    await expect(page.get_by_role("heading", name="SLA attainment per step and severity")).to_be_visible()
    await shot(page, stack, "reports")


async def test_phone_width_labels_and_keyboard(browser: Browser, stack: Stack) -> None:
    case = await new_case(stack)
    page = await sign_in(browser, stack, "alice", width=390)
    for path in ("/", f"/cases/{case}", "/reports"):
        await page.goto(f"{stack.url}{path}")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 390px"
        unlabelled = await page.evaluate("""() => [...document.querySelectorAll(
                'input:not([type=hidden]),select,textarea')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.name)""")
        assert unlabelled == [], f"{path}: controls without a label: {unlabelled}"
    await page.goto(f"{stack.url}/cases/{case}")
    await shot(page, stack, "case-phone")
    # The skip link is the first stop of the keyboard, and it leads to the content.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"


async def test_docs_render_with_the_network_cut_off(browser: Browser, stack: Stack) -> None:
    page = await new_page(browser)
    outside: list[str] = []

    async def only_local(route) -> None:
        if route.request.url.startswith(stack.url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.context.route("**/*", only_local)
    await page.goto(f"{stack.url}/docs")
    await expect(page.locator(".opblock").first).to_be_visible()
    assert await page.locator(".opblock").count() > 10
    await expect(page.get_by_text("/v1/complaints/{case_id}/assignment").first).to_be_visible()
    assert outside == []
    await shot(page, stack, "docs")
