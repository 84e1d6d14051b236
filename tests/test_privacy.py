"""Customer data stays out of what is not encrypted (issue 15.2): with payload encryption on, a
canary planted in the customer's name, e-mail, the subject and the description appears nowhere in
the worker's logs (at DEBUG), the raw history, search attributes, memo or ids."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
from temporalio.client import Client

from recovery.codec import EncryptionCodec, data_converter_with_codec
from starter.cases import open_case, run_step
from tests.helpers import AGENT, WebhookReceiver, eventually, fast_policy
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, FixInput, TicketEvent

ROOT = Path(__file__).resolve().parents[1]
KEY = os.urandom(32)


def canary_ticket(canary: str, customer: str) -> TicketEvent:
    return TicketEvent.model_validate(
        {
            "source": "generic",
            "event_id": f"evt-{uuid.uuid4().hex[:8]}",
            "ticket_id": "T-canary",
            "customer": {"id": customer, "name": f"Name {canary}", "email": f"{canary}@example.com"},
            "order": {"id": "ord-1", "currency": "USD", "total": "88.00", "shipping": "9.00"},
            "subject": f"Subject {canary}",
            "description": f"Description {canary}",
            "occurred_at": "2026-11-20T10:00:00+00:00",
        }
    )


def start_worker(client: Client, queue: str, receiver: WebhookReceiver, database: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "RECOVERY_TASK_QUEUE": queue,
        "RECOVERY_NOTIFY_WEBHOOK": receiver.url,
        "RECOVERY_CODEC_KEYS": f"k1:{base64.b64encode(KEY).decode()}",
        "RECOVERY_LOG_LEVEL": "DEBUG",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "worker"], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


async def test_canary_appears_in_no_log_history_search_attribute_memo_or_id(
    client: Client, task_queue: str, receiver: WebhookReceiver, db_url: str
) -> None:
    canary = f"canary{uuid.uuid4().hex}"
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    encrypted = Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=data_converter_with_codec(EncryptionCodec({"k1": KEY}, current="k1")),
    )
    worker = start_worker(client, task_queue, receiver, db_url)
    try:
        opened = await asyncio.wait_for(
            open_case(encrypted, canary_ticket(canary, customer), fast_policy(), task_queue), 60
        )
        await run_step(
            encrypted,
            opened.case_id,
            ComplaintWorkflow.acknowledge,
            AcknowledgeInput(actor=AGENT, message=f"Sorry {canary}"),
        )
        await run_step(
            encrypted,
            opened.case_id,
            ComplaintWorkflow.record_fix,
            FixInput(actor=AGENT, description=f"Refunded {canary}"),
        )

        async def notified() -> bool:
            templates = {item["template"] for item in receiver.for_case(opened.case_id)}
            return {"new_case", "acknowledgement", "fix_notice"} <= templates

        await eventually(notified, timeout=60)
        # The canary did travel: the notification webhook (the intended channel) got it.
        assert any(canary in item["text"] for item in receiver.for_case(opened.case_id))

        async def stored() -> list[dict]:
            conn = await asyncpg.connect(db_url)
            try:
                rows = await conn.fetch(
                    "SELECT type, data::text, sealed FROM events WHERE workflow_id = $1", opened.workflow_id
                )
            finally:
                await conn.close()
            assert {r["type"] for r in rows} >= {"opened", "acknowledged", "fix_recorded"}
            return [dict(r) for r in rows]

        rows = await eventually(stored, timeout=60)  # the projection runs beside the steps
    finally:
        worker.send_signal(signal.SIGTERM)
        logs, _ = await asyncio.to_thread(worker.communicate, timeout=60)

    assert "case event fix_recorded #" in logs and "notification" in logs, logs[-3000:]
    assert canary not in logs, [line for line in logs.splitlines() if canary in line][:3]

    handle = client.get_workflow_handle(opened.workflow_id)
    history = (await handle.fetch_history()).to_json()
    assert canary not in history
    described = await handle.describe()
    assert not any(canary in str(v) for v in described.search_attributes.values())
    assert not any(canary in str(k) or canary in str(v) for k, v in (await described.memo()).items())
    assert canary not in described.id and canary not in described.run_id and canary not in opened.case_id

    # The event store (issue 15.11): the worker stored the case's texts encrypted with the same keys.
    assert canary not in repr(rows)
    assert any(r["sealed"] for r in rows)


async def test_cli_without_the_keys_refuses_to_open_a_case_in_an_encrypted_namespace(
    client: Client, task_queue: str, receiver: WebhookReceiver, db, tmp_path: Path
) -> None:
    """Issue 15.9: nothing written in plain text, one line, no traceback."""
    import json

    from activities.notifications import Notifier
    from worker import build_worker

    codec = EncryptionCodec({"k1": KEY}, current="k1")
    encrypted = Client(
        client.service_client, namespace=client.namespace, data_converter=data_converter_with_codec(codec)
    )
    first = canary_ticket("first", f"cust-{uuid.uuid4().hex[:8]}")
    second = canary_ticket("second", f"cust-{uuid.uuid4().hex[:8]}")
    ticket_file = tmp_path / "ticket.json"
    ticket_file.write_text(second.model_dump_json())
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOVERY_CODEC")}
    args = [
        sys.executable,
        "-m",
        "starter.cli",
        "open",
        "--file",
        str(ticket_file),
        "--operator",
        "--address",
        client.service_client.config.target_host,
        "--task-queue",
        task_queue,
    ]
    async with build_worker(encrypted, pool=db, queue=task_queue, notifier=Notifier(receiver.url)):
        await open_case(encrypted, first, fast_policy(), task_queue)
        for extra_env in ({}, {"RECOVERY_CODEC_KEYS": f"other:{base64.b64encode(os.urandom(32)).decode()}"}):
            result = await asyncio.to_thread(
                subprocess.run, args, cwd=ROOT, capture_output=True, text=True, timeout=60, env={**env, **extra_env}
            )
            assert result.returncode == 2, result
            assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert "encrypted" in result.stderr and "'k1'" in result.stderr and "nothing was sent" in result.stderr
        listed = [w async for w in client.list_workflows(f"CustomerId = '{second.customer.id}'")]
        assert listed == []
        # With the keys, the same command opens the case.
        ok = await asyncio.to_thread(
            subprocess.run,
            args,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "RECOVERY_CODEC_KEYS": f"k1:{base64.b64encode(KEY).decode()}"},
        )
        assert ok.returncode == 0, ok.stderr
        assert json.loads(second.model_dump_json())["customer"]["id"] in ok.stdout


async def test_api_without_the_keys_refuses_to_write_into_an_encrypted_task_queue(
    client: Client, task_queue: str, receiver: WebhookReceiver, db
) -> None:
    """Issue 15.9 for the API: 503 misconfigured, nothing started."""
    import httpx

    from activities.notifications import Notifier
    from starter.agents import load_agents
    from starter.api import ApiSettings, create_app
    from starter.intake import IntakeConfig
    from worker import build_worker

    encrypted = Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=data_converter_with_codec(EncryptionCodec({"k1": KEY}, current="k1")),
    )
    second = canary_ticket("second", f"cust-{uuid.uuid4().hex[:8]}")

    async def plain_client() -> Client:
        return client  # no codec

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(),
        policy=fast_policy(),
        task_queue=task_queue,
    )
    async with build_worker(encrypted, pool=db, queue=task_queue, notifier=Notifier(receiver.url)):
        await open_case(encrypted, canary_ticket("first", f"cust-{uuid.uuid4().hex[:8]}"), fast_policy(), task_queue)
        app = create_app(settings, plain_client)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
            refused = await http.post(
                "/v1/tickets",
                content=second.model_dump_json(),
                headers={"Authorization": "Bearer dev-intake-012345678", "Content-Type": "application/json"},
            )
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "misconfigured" and "'k1'" in refused.json()["detail"]
        assert [w async for w in client.list_workflows(f"CustomerId = '{second.customer.id}'")] == []
