"""Remedies the customer chooses, in real browsers on the real stack (test_case_page_browser.py's
fixtures): an agent offers three remedies in the console; the customer picks one on their page;
the ledger has exactly one issuance (by the customer); the agent's console page, never reloaded,
shows the pick."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.customer.test_case_page_browser import Stack, browser, stack  # noqa: F401 (fixtures)
from tests.customer.test_offers_stack import at_compensate, ledger, offer_mail

ALICE_TOKEN = "dev-alice-0123456789"


async def test_an_offer_from_the_console_picked_on_the_page(stack: Stack, browser: Any) -> None:  # noqa: F811
    case = await at_compensate(stack, "offer-browser")
    agent = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    agent.set_default_timeout(20_000)
    await agent.goto(f"{stack.url}/login")
    await agent.get_by_label("Your agent token").fill(ALICE_TOKEN)
    await agent.get_by_role("button", name="Sign in").click()
    await expect(agent.get_by_text("Signed in as alice")).to_be_visible()

    await agent.goto(f"{stack.url}/cases/{case}")
    form = agent.locator('form.step[data-step="offer"]')
    await expect(form).to_be_visible()
    await form.locator("#offer-option1_kind").select_option("refund")
    await form.locator("#offer-option1_amount").fill("20.00")
    await form.locator("#offer-option2_kind").select_option("replacement")
    await form.locator("#offer-option2_label").fill("a replacement, shipped today")
    await form.locator("#offer-option3_kind").select_option("coupon")
    await form.locator("#offer-option3_amount").fill("25.00")
    await form.locator("#offer-default").select_option("1")
    await form.get_by_role("button", name="Offer").click()
    await expect(agent.locator("#offer")).to_contain_text("Waiting for the customer's choice")
    await expect(agent.locator("#offer")).to_contain_text("3. a coupon of 25.00 USD")
    await expect(agent.locator('form.step[data-step="compensate"]')).to_have_count(0)
    await agent.evaluate("window.__notReloaded = true")

    _, link = await offer_mail(stack, case)
    customer = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()
    customer.set_default_timeout(20_000)
    await customer.goto(link)
    await expect(customer.locator("#offer")).to_contain_text("2. a replacement, shipped today")
    await customer.get_by_label("2. a replacement, shipped today").check()
    await customer.get_by_role("button", name="This one, please").click()
    await expect(customer.locator("#notice")).to_contain_text("we noted your choice")
    await expect(customer.locator("#offer-picked")).to_contain_text("2. a replacement, shipped today")

    [row] = await ledger(stack, case, at_least=1)
    assert (row["kind"], row["issued_by"], row["approved_by"]) == ("replacement", "customer", "alice")
    await expect(agent.locator("#offer-pick")).to_contain_text("Option 2 chosen by the customer", timeout=30_000)
    await expect(agent.locator("#money")).to_contain_text("customer (approved by alice)")
    assert await agent.evaluate("window.__notReloaded === true"), "the console page was reloaded"
    assert len(await ledger(stack, case, at_least=1)) == 1
