"""`recovery demo` end to end: the real Temporal dev server, a worker and the HTTP API (uvicorn on a
free port) in this process, running the demo policy; the demo plays its four cases over HTTP."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import uvicorn
from temporalio.client import Client

from starter import demo
from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.cases import status, timeline
from starter.intake import IntakeConfig
from starter.intake.stripe_events import StripeConfig
from tests.helpers import database_of, free_port
from worker import build_worker
from workflows.policy_files import default_policy_text, parse_policy

ROOT = Path(__file__).resolve().parents[2]
DEMO_POLICY = ROOT / "starter" / "demo_policy.toml"


async def _serve(client: Client, task_queue: str, policy_text: str, *, stripe: bool = False) -> AsyncIterator[str]:
    """The API; with `stripe`, Stripe webhooks signed with the demo secret (as `recovery dev` sets)."""
    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(stripe=StripeConfig(secrets=[demo.DEMO_STRIPE_SECRET])) if stripe else IntakeConfig(),
        policy=parse_policy(policy_text, "policy"),
        task_queue=task_queue,
    )

    async def connect() -> Client:
        return client

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, connect), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert not serving.done(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start within 10s"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def stack(client: Client, task_queue: str, db: asyncpg.Pool) -> AsyncIterator[str]:
    """Worker + API on the demo policy; yields the API's URL."""
    async with build_worker(client, pool=db, queue=task_queue):
        async for url in _serve(client, task_queue, DEMO_POLICY.read_text(), stripe=True):
            yield url


def test_demo_policy_is_valid_and_fast() -> None:
    policy = parse_policy(DEMO_POLICY.read_text(), str(DEMO_POLICY))
    assert policy.name == "demo"
    assert all(d.clock == "wall" for d in policy.severities.values())
    assert max(d.acknowledge.total_seconds() for d in policy.severities.values()) <= 30
    assert policy.escalation.interval.total_seconds() == 10
    assert policy.escalation.ladder == ["team-lead", "manager", "executive"]
    assert policy.repeat_contacts.raise_after == 3
    # The demo keeps the default policy's roles and root causes.
    default = parse_policy(default_policy_text())
    assert policy.roles == default.roles and policy.root_causes == default.root_causes


async def test_demo_plays_the_four_cases_and_the_proactive_one(client: Client, stack: str, db: asyncpg.Pool) -> None:
    out = io.StringIO()
    run_id = f"t{int(time.time()) % 100000}"
    code = await asyncio.to_thread(
        demo.run_demo, stack, "http://127.0.0.1:8233", temporal_address="127.0.0.1:7233", out=out, run_id=run_id
    )
    text = out.getvalue()
    print(text)
    assert code == 0, text
    assert "Traceback" not in text

    keys = demo.case_keys(run_id)
    for key in keys.values():
        assert key in text
        current = await status(client, key)
        assert current.step.value == "closed", (key, current.step)
        assert current.policy.startswith("demo@")

    shipping = await status(client, keys["shipping"])
    assert shipping.severity.value == "critical"
    assert shipping.escalation_level == 3 and shipping.escalation_role == "executive"
    assert shipping.contact_count == 6
    assert shipping.root_cause == "billing-error"
    [refund] = shipping.compensation
    assert (refund.kind.value, str(refund.amount.amount)) == ("refund", "7455.00")
    assert refund.approved_by is not None and refund.approved_by.id == "max"
    assert '"error": "forbidden"' in text  # lena's refused approval, printed as the API's JSON error

    glasses = await status(client, keys["glasses"])
    [refund] = glasses.compensation
    assert refund.kind.value == "refund" and refund.approved_by is not None
    assert (refund.approved_by.id, refund.approved_by.role) == ("lena", "team-lead")
    assert glasses.root_cause == "damaged-in-transit"

    wrong_size = await status(client, keys["wrong-size"])
    assert [c.kind.value for c in wrong_size.compensation] == ["upgrade"]
    assert wrong_size.root_cause == "out-of-stock"
    late = await status(client, keys["late"])
    assert [c.kind.value for c in late.compensation] == ["credit"]
    assert late.root_cause == "late-delivery"

    for key in keys.values():
        events = await timeline(client, key, database_of(db))  # a continued case's early events are stored
        done = next(e for e in events if e.type == "follow_up_done")
        assert done.data["outcome"] == "satisfied" and done.data["csat"] == 5

    assert "EscalationLevel" in text and f"recovery show {keys['shipping']}" in text

    # The proactive case: opened by the Stripe charge, apologised to before any contact, joined by
    # the customer's ticket, fixed by the refund at Stripe.
    proactive = await status(client, keys["proactive"])
    assert proactive.ticket_source == "proactive" and proactive.severity.value == "critical"
    assert proactive.contact_count == 1 and proactive.root_cause == "billing-error"
    assert [(c.kind.value, str(c.amount.amount)) for c in proactive.compensation if c.amount] == [("credit", "10.00")]
    events = await timeline(client, keys["proactive"], database_of(db))
    kinds = [e.type for e in events]
    assert kinds.index("acknowledged") < kinds.index("contact_added") < kinds.index("fix_recorded")
    ack = next(e for e in events if e.type == "acknowledged")
    assert ack.actor == "proactive" and "refunding the overcharged shipping" in ack.data["message"]
    fix = next(e for e in events if e.type == "fix_recorded")
    assert fix.actor == "stripe" and f"re_demo{run_id}" in fix.data["description"]
    apology = await db.fetchval(
        "SELECT text FROM customer_messages WHERE workflow_id = $1 AND template = 'acknowledgement'",
        f"complaint-{keys['proactive']}",
    )
    assert apology is not None and "7455.00 USD for shipping" in apology
    assert "overcharge, case opened" in text and "joined the case (contacts: 1)" in text


async def test_demo_on_a_default_policy_stack_moves_its_cases_onto_the_demo_policy(
    client: Client, task_queue: str, db: asyncpg.Pool
) -> None:
    """`make dev` runs the default policy: the demo moves its own cases (apply_policy) and still plays."""
    async with build_worker(client, pool=db, queue=task_queue):
        async for url in _serve(client, task_queue, default_policy_text()):
            out = io.StringIO()
            code = await asyncio.to_thread(
                demo.run_demo,
                url,
                "http://127.0.0.1:8233",
                out=out,
                temporal_address=client.service_client.config.target_host,
                run_id=f"p{int(time.time()) % 100000}",
            )
    text = out.getvalue()
    assert code == 0, text
    assert "demo cases are moved onto the demo policy" in text and text.count("moved onto the demo policy") >= 4
    assert "Traceback" not in text
    # No Stripe secret on this stack: the proactive case is skipped, and said so, not failed.
    assert "skipped: the stack has no Stripe webhook secret" in text


async def test_demo_on_a_default_policy_stack_without_temporal_says_what_to_do(
    client: Client, task_queue: str, db: asyncpg.Pool
) -> None:
    async with build_worker(client, pool=db, queue=task_queue):
        async for url in _serve(client, task_queue, default_policy_text()):
            out = io.StringIO()
            code = await asyncio.to_thread(
                demo.run_demo,
                url,
                "http://127.0.0.1:8233",
                out=out,
                temporal_address=f"127.0.0.1:{free_port()}",
                run_id=f"q{int(time.time()) % 100000}",
            )
    text = out.getvalue()
    assert code == 1
    assert "recovery dev --demo-policy" in text and "default@" in text
    assert "Traceback" not in text


def test_demo_without_a_stack_says_so() -> None:
    out = io.StringIO()
    code = demo.run_demo(f"http://127.0.0.1:{free_port()}", "http://127.0.0.1:8233", out=out)
    assert code == 1
    assert "cannot reach the API" in out.getvalue() and "recovery dev --demo-policy" in out.getvalue()


def test_demo_needs_plain_tokens(tmp_path: Path) -> None:
    agents = tmp_path / "agents.toml"
    agents.write_text('[agents.alice]\nrole = "agent"\ntoken_sha256 = "' + "0" * 64 + '"\n')
    out = io.StringIO()
    assert demo.run_demo("http://127.0.0.1:9", "http://ui", token_file=agents, out=out) == 1
    assert "plain `token`" in out.getvalue()
