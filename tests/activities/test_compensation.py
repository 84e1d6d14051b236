"""The issue_compensation activity against the ledger (real PostgreSQL) and the loopback Stripe fake,
through the official `stripe` library."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.compensation import Compensator
from activities.payments import PaymentDeclined, PaymentUnavailable, StripePayments
from activities.store import ledger
from tests.fakes.payments import FakePayments
from workflows.effects import IssueInstruction
from workflows.models import Actor, CompensationKind
from workflows.money import Money

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
KEY = "sk_test_fake"
ALICE = Actor(id="alice", role="agent")


@pytest.fixture
def provider() -> Iterator[FakePayments]:
    with FakePayments(api_key=KEY) as fake:
        yield fake


def instruction(
    seq: int = 7,
    *,
    workflow: str = "complaint-cust-1:ord-1",
    customer: str = "cust-1",
    kind: CompensationKind = CompensationKind.REFUND,
    amount: str | None = "25.00",
    currency: str = "USD",
    agent_reference: str | None = None,
    payment: str | None = "pi_order1",
    stripe_customer: str | None = "cus_dana1",
) -> IssueInstruction:
    return IssueInstruction(
        key=f"{workflow}/{seq}",
        case_id=workflow.removeprefix("complaint-"),
        workflow_id=workflow,
        customer_id=customer,
        kind=kind,
        amount=Money(amount=amount, currency=currency) if amount else None,
        reason="wrong size shipped",
        issued_by=ALICE,
        agent_reference=agent_reference,
        payment_reference=payment,
        payment_customer_id=stripe_customer,
    )


def compensator(
    db: asyncpg.Pool, provider: FakePayments | None = None, *, cap: dict[str, str] | None = None, now: datetime = NOW
) -> Compensator:
    return Compensator(
        db,
        provider.url if provider else None,
        provider.api_key if provider else None,
        customer_cap={c: Decimal(v) for c, v in (cap or {}).items()},
        cap_window=timedelta(days=90),
        timeout=5.0,
        max_network_retries=0,
        now=lambda: now,
    )


async def run(comp: Compensator, instr: IssueInstruction, env: ActivityEnvironment | None = None):
    return await (env or ActivityEnvironment()).run(comp.issue_compensation, instr)


async def declined(comp: Compensator, instr: IssueInstruction) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await run(comp, instr)
    assert caught.value.type == "CompensationDeclined" and caught.value.non_retryable
    return caught.value


async def test_refund_calls_provider_once_and_settles_the_ledger(db, provider):
    instr = instruction()
    result = await run(compensator(db, provider), instr)
    assert provider.calls == 1 and provider.refund_count == 1
    refund = provider.refunds[0]
    assert result.reference == refund["id"] and not result.agent_issued
    assert refund["amount"] == 2500 and refund["currency"] == "usd"
    assert refund["metadata"] == {
        **refund["metadata"],
        "case_id": "cust-1:ord-1",
        "workflow_id": "complaint-cust-1:ord-1",
        "customer_id": "cust-1",
    }
    path, key, params = provider.requests[0]
    assert (path, key) == ("/v1/refunds", instr.key) and params["payment_intent"] == "pi_order1"
    assert refund["payment_intent"] == "pi_order1" and "currency" not in params  # the payment's own
    row = await ledger.get(db, instr.key)
    assert row is not None and (row.status, row.mode, row.reference) == ("succeeded", "provider", refund["id"])
    assert row.amount == Decimal("25.00") and row.currency == "USD" and row.created_at == NOW


async def test_credits_and_minor_units(db, provider):
    comp, instr = compensator(db, provider), instruction(kind=CompensationKind.CREDIT, amount="10.00")
    result = await run(comp, instr)
    assert provider.refund_count == 0 and len(provider.credits) == 1
    credit = provider.credits[0]
    # On the Stripe customer named by the ticket, never on our own customer id.
    assert (credit["amount"], credit["currency"], credit["customer"]) == (-1000, "usd", "cus_dana1")
    assert provider.requests[0][0] == "/v1/customers/cus_dana1/balance_transactions"
    assert result.reference == credit["id"]
    provider.add_payment("pi_yen", "jpy")
    provider.add_payment("ch_kwd", "kwd")
    await run(comp, instruction(1, amount="500", currency="JPY", payment="pi_yen"))
    await run(comp, instruction(2, amount="1.250", currency="KWD", payment="ch_kwd"))
    assert [(r["amount"], r["currency"]) for r in provider.refunds] == [(500, "jpy"), (1250, "kwd")]


async def test_a_retry_never_pays_twice(db, provider):
    comp, instr = compensator(db, provider), instruction()
    first = await run(comp, instr)
    second = await run(comp, instr)
    assert second == first and provider.refund_count == 1
    assert provider.calls_by_key[instr.key] == 1  # the settled ledger row answers the retry
    # An attempt that died after the provider answered but before settling: the row is still pending,
    # and the next attempt finds the refund by its idempotency key in the metadata (no new request).
    await db.execute("UPDATE ledger SET status = 'pending', reference = NULL WHERE idempotency_key = $1", instr.key)
    provider.forget_keys()  # even once the provider has forgotten the key (a day later)
    third = await run(comp, instr)
    assert third == first and provider.refund_count == 1 and provider.calls_by_key[instr.key] == 1
    assert provider.requests[-1][0] == "GET /v1/refunds" and provider.requests[-1][2]["payment_intent"] == "pi_order1"
    assert await db.fetchval("SELECT count(*) FROM ledger") == 1


async def test_a_provider_outage_is_retried_with_the_same_key(db, provider):
    comp, instr = compensator(db, provider), instruction()
    provider.fail_next = 1
    with pytest.raises(PaymentUnavailable):  # not CompensationDeclined: Temporal retries it
        await run(comp, instr)
    row = await ledger.get(db, instr.key)
    assert row is not None and row.status == "pending"
    result = await run(comp, instr)
    assert provider.refund_count == 1 and provider.calls_by_key[instr.key] == 2
    assert result.reference == provider.refunds[0]["id"]
    assert (await ledger.get(db, instr.key)).status == "succeeded"


async def test_a_decline_is_final(db, provider):
    comp, instr = compensator(db, provider), instruction()
    provider.decline_next = 1
    err = await declined(comp, instr)
    assert "card_declined" in str(err)
    row = await ledger.get(db, instr.key)
    assert row is not None and row.status == "declined" and "card_declined" in (row.detail or "")
    await declined(comp, instr)  # a retry raises again and calls nothing
    assert provider.calls == 1 and provider.refund_count == 0


async def test_an_over_refund_is_declined(db, provider):
    provider.charge_limit = 8800
    comp, instr = compensator(db, provider), instruction(amount="7455.00")
    err = await declined(comp, instr)
    assert "amount_too_large" in str(err)
    assert provider.refund_count == 0 and (await ledger.get(db, instr.key)).status == "declined"


async def test_agent_issued_and_recorded_kinds_call_no_provider(db, provider):
    comp = compensator(db, provider)
    agent = instruction(1, agent_reference="ZD-REFUND-991")
    result = await run(comp, agent)
    assert (result.reference, result.agent_issued) == ("ZD-REFUND-991", True)
    row = await ledger.get(db, agent.key)
    assert (row.mode, row.status, row.reference) == ("agent", "succeeded", "ZD-REFUND-991")
    gift = instruction(2, kind=CompensationKind.GIFT, amount=None)
    upgrade = instruction(3, kind=CompensationKind.UPGRADE, amount=None)
    assert (await run(compensator(db), gift)).code.startswith("GIFT-")  # a gift card code, in the ledger
    assert (await run(comp, upgrade)).reference == f"instr-{upgrade.key}"
    assert provider.calls == 0
    # Without a provider configured, refunds are recorded too.
    refund = instruction(4)
    result = await run(compensator(db), refund)
    assert (result.reference, result.agent_issued) == (f"instr-{refund.key}", False)
    row = await ledger.get(db, refund.key)
    assert (row.mode, row.status) == ("record", "succeeded")


async def test_the_customer_cap_holds_across_cases(db, provider):
    comp = compensator(db, provider, cap={"USD": "100.00"})
    first = instruction(3, workflow="complaint-cust-1:ord-1", amount="80.00")
    second = instruction(5, workflow="complaint-cust-1:ord-2", amount="30.00")
    other_currency = instruction(6, workflow="complaint-cust-1:ord-2", amount="30.00", currency="EUR")
    other_customer = instruction(3, workflow="complaint-cust-2:ord-9", customer="cust-2", amount="90.00")
    await run(comp, first)
    err = await declined(comp, second)
    assert "cap of 100.00 USD" in str(err) and "80.00 USD already granted" in str(err)
    row = await ledger.get(db, second.key)
    assert row.status == "refused" and "110.00 USD" in row.detail
    await declined(comp, second)  # the retry sees the same refused row
    await run(comp, other_currency)  # no EUR cap configured
    await run(comp, other_customer)
    assert provider.refund_count == 3
    assert await db.fetchval("SELECT count(*) FROM ledger") == 4


async def test_the_cap_counts_only_recent_pending_or_paid_compensation(db, provider):
    cap = {"USD": "100.00"}
    old = instruction(1, workflow="complaint-cust-1:ord-1", amount="80.00")
    await run(compensator(db, provider, cap=cap, now=NOW - timedelta(days=91)), old)  # outside the window
    provider.decline_next = 1
    await declined(
        compensator(db, provider, cap=cap), instruction(2, workflow="complaint-cust-1:ord-2", amount="90.00")
    )
    await declined(
        compensator(db, provider, cap=cap), instruction(3, workflow="complaint-cust-1:ord-3", amount="150.00")
    )  # refused
    await run(compensator(db, provider, cap=cap), instruction(4, workflow="complaint-cust-1:ord-4", amount="99.00"))
    assert provider.refund_count == 2


async def test_concurrent_cases_cannot_both_pass_the_cap(db):
    comp = compensator(db, cap={"USD": "100.00"})
    cases = [instruction(1, workflow=f"complaint-cust-1:ord-{n}", amount="60.00") for n in range(4)]
    results = await asyncio.gather(*(run(comp, i) for i in cases), return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert all(isinstance(r, ApplicationError) for r in results if isinstance(r, BaseException))
    statuses = sorted(r["status"] for r in await db.fetch("SELECT status FROM ledger"))
    assert statuses == ["refused", "refused", "refused", "succeeded"]


async def test_a_cancelled_call_held_at_the_provider_pays_once(db, provider):
    comp, instr = compensator(db, provider), instruction()
    provider.hold_next = True
    env = ActivityEnvironment()
    first = asyncio.create_task(run(comp, instr, env))
    assert await asyncio.to_thread(provider.held.wait, 5)
    env.cancel()  # the attempt times out: the provider has paid, the answer never arrives
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await ledger.get(db, instr.key)).status == "pending"
    provider.release.set()
    result = await run(comp, instr)  # the next attempt looks it up first: found, nothing new asked
    assert provider.refund_count == 1 and result.reference == provider.refunds[0]["id"]
    assert provider.calls_by_key[instr.key] == 1
    assert (await ledger.get(db, instr.key)).status == "succeeded"


async def test_a_second_attempt_while_the_first_is_in_flight_pays_once(db, provider):
    comp, instr = compensator(db, provider), instruction()
    provider.hold_next = True
    first = asyncio.create_task(run(comp, instr))
    assert await asyncio.to_thread(provider.held.wait, 5)
    # A second attempt (the first one's worker presumed dead) while the first is still at the provider:
    # it finds the refund the first one made and settles with it.
    second = await run(comp, instr)
    provider.release.set()
    done = await first
    again = await run(comp, instr)
    assert again == done == second and provider.refund_count == 1 and done.reference == provider.refunds[0]["id"]
    assert provider.calls_by_key[instr.key] == 1
    assert await db.fetchval("SELECT count(*) FROM ledger") == 1


async def test_adapter_errors(provider):
    payments = StripePayments(provider.url, KEY, timeout=5.0, max_network_retries=0)
    usd = Money(amount="5.00", currency="USD")
    await payments.refund("k-1", "pi_a", usd, {"case_id": "c"})
    replay = await payments.refund("k-1", "pi_a", usd, {"case_id": "c"})
    assert replay.replayed and provider.refund_count == 1
    with pytest.raises(PaymentDeclined) as reused:  # same key, other parameters
        await payments.refund("k-1", "pi_a", Money(amount="6.00", currency="USD"), {"case_id": "c"})
    assert reused.value.status == 409 and reused.value.error_type == "idempotency_error"
    provider.decline_next = 1
    with pytest.raises(PaymentDeclined) as card:
        await payments.refund("k-card", "ch_b", usd, {})
    assert (card.value.status, card.value.error_type, card.value.code) == (402, "card_error", "card_declined")
    provider.rate_limit_next = 1
    with pytest.raises(PaymentUnavailable, match="429 rate_limit_error/rate_limit"):
        await payments.refund("k-429", "pi_a", usd, {})
    provider.fail_next = 1
    with pytest.raises(PaymentUnavailable, match="500 api_error"):
        await payments.refund("k-500", "pi_a", usd, {})
    with pytest.raises(PaymentDeclined, match="payment_reference"):  # nothing to refund against
        await payments.refund("k-none", None, usd, {})
    with pytest.raises(PaymentDeclined, match="payment_customer_id"):
        await payments.credit("k-nocus", None, usd, {})
    with pytest.raises(PaymentDeclined, match="resource_missing"):  # our id is no Stripe customer
        await payments.credit("k-ours", "cust-1", usd, {})
    with pytest.raises(PaymentUnavailable, match="401"):  # a wrong key: fix the config, then retry
        await StripePayments(provider.url, "sk_wrong", timeout=5.0, max_network_retries=0).refund(
            "k-2", "pi_a", usd, {}
        )
    with pytest.raises(PaymentUnavailable, match="unreachable"):
        await StripePayments("http://127.0.0.1:9", KEY, timeout=2.0, max_network_retries=0).refund(
            "k-3", "pi_a", usd, {}
        )


async def test_the_library_retries_an_outage_and_a_key_in_flight_with_the_same_key(provider):
    payments = StripePayments(provider.url, KEY, timeout=5.0, max_network_retries=2)
    usd = Money(amount="5.00", currency="USD")
    provider.fail_next = 1  # a 500, then the library's own retry succeeds: one refund, one key
    paid = await payments.refund("k-retry", "pi_a", usd, {"idempotency_key": "k-retry"})
    assert provider.calls_by_key["k-retry"] == 2 and provider.refund_count == 1 and paid.id.startswith("re_")
    provider.hold_next = True
    first = asyncio.create_task(payments.refund("k-held", "pi_a", usd, {}))
    assert await asyncio.to_thread(provider.held.wait, 5)
    once = StripePayments(provider.url, KEY, timeout=5.0, max_network_retries=0)
    with pytest.raises(PaymentUnavailable, match="idempotency_key_in_use"):  # 409, Stripe-Should-Retry: true
        await once.refund("k-held", "pi_a", usd, {})
    provider.release.set()
    assert (await first).id == provider.refunds[-1]["id"] and provider.refund_count == 2


async def test_reserve_keeps_one_row_per_key(db):
    instr = instruction()
    first = await ledger.reserve(db, instr, "record", Decimal("10.00"), timedelta(days=1), NOW)
    assert first.status == "refused"  # 25.00 above a cap of 10.00
    again = await ledger.reserve(db, instr, "provider", None, timedelta(days=1), NOW + timedelta(hours=1))
    assert replace(again, fresh=True) == first and first.fresh and not again.fresh
    settled = await ledger.settle(db, instr.key, "succeeded", "x", None)
    assert settled.status == "refused"  # only a pending row settles
    with pytest.raises(KeyError):
        await ledger.settle(db, "missing", "succeeded", "x", None)


async def test_a_coupon_is_a_code_the_customer_gets_the_same_on_every_attempt(db):
    comp, instr = compensator(db), instruction(kind=CompensationKind.COUPON, amount="15.00")
    first = await run(comp, instr)
    assert first.code is not None and re.fullmatch(r"SORRY-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", first.code)
    assert first.reference == first.code
    row = await ledger.get(db, instr.key)
    assert (row.mode, row.status, row.reference) == ("code", "succeeded", first.code)
    # An attempt that died before settling: the code fixed in the row is the one issued.
    await db.execute("UPDATE ledger SET status = 'pending' WHERE idempotency_key = $1", instr.key)
    assert (await run(comp, instr)).code == first.code


async def test_with_stripe_a_coupon_is_a_promotion_code(db, provider):
    comp, instr = compensator(db, provider), instruction(kind=CompensationKind.COUPON, amount="15.00")
    issued = await run(comp, instr)
    assert len(provider.coupons) == 1 and len(provider.promotion_codes) == 1
    coupon, promo = provider.coupons[0], provider.promotion_codes[0]
    assert (coupon["amount_off"], coupon["currency"], coupon["duration"], coupon["max_redemptions"]) == (
        1500,
        "usd",
        "once",
        1,
    )
    assert promo["code"] == issued.code and promo["promotion"]["coupon"] == coupon["id"]
    assert promo["customer"] == "cus_dana1" and promo["metadata"]["idempotency_key"] == instr.key
    row = await ledger.get(db, instr.key)
    assert row.reference == issued.code and row.detail == f"promotion code {promo['id']}"
    # A retry before settling asks Stripe again under the same keys: replayed, nothing new.
    await db.execute("UPDATE ledger SET status = 'pending' WHERE idempotency_key = $1", instr.key)
    assert (await run(comp, instr)).code == issued.code
    assert len(provider.coupons) == 1 and len(provider.promotion_codes) == 1
