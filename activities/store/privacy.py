"""Customer data in the event store (issue 15.11): which event fields hold people's words, sealing
them with the payload keys, and erasing a customer.

The read model and the reports need ids, types, amounts and timings only, so only those stay
readable in `events.data` when payload keys are configured; the free text goes into `events.sealed`,
encrypted exactly like a Temporal payload (AES-256-GCM, key id inside, rotation by adding keys).
Without keys the text stays in `data`, in plain text, as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from temporalio.api.common.v1 import Payload

from recovery.codec import EncryptionCodec
from recovery.links import revoke_customer

TEXT_FIELDS = ("subject", "message", "description", "note", "reason", "reference")
"""Event data fields that may carry what a customer or an agent wrote."""
ERASED_ALSO = ("text",)
"""Erased, though not sealed yet: what the customer wrote on the ticket (`customer_replied`)."""
ENGINE_REASONS = frozenset({"escalated", "customer_updated", "reopened"})
"""Events whose `reason` is the engine's own wording (e.g. "deadline missed"); reports group by it."""


def text_fields(event_type: str) -> tuple[str, ...]:
    return tuple(f for f in TEXT_FIELDS if not (f == "reason" and event_type in ENGINE_REASONS))


def split(event_type: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(facts, texts) of an event's data."""
    private = text_fields(event_type)
    facts = {k: v for k, v in data.items() if k not in private}
    texts = {k: v for k, v in data.items() if k in private and v not in (None, "")}
    return facts, texts


def seal(texts: dict[str, Any], codec: EncryptionCodec) -> bytes | None:
    if not texts:
        return None
    return codec.encrypt(Payload(data=json.dumps(texts).encode())).SerializeToString()


def unseal(sealed: bytes, codec: EncryptionCodec | None) -> dict[str, Any]:
    """The texts in `sealed`; {} without a codec (the facts alone still fold into the read model).
    Raises ValueError when the key id is unknown or the ciphertext was tampered with."""
    if codec is None:
        return {}
    payload = Payload()
    payload.ParseFromString(sealed)
    texts: dict[str, Any] = json.loads(codec.decrypt(payload).data)
    return texts


@dataclass(frozen=True)
class Erasure:
    cases: int
    events: int


def customer_digest(customer_id: str) -> str:
    return hashlib.sha256(customer_id.encode()).hexdigest()


async def erase_customer(
    pool: asyncpg.Pool, customer_id: str, erased_by: str, erased_live: Sequence[str] = ()
) -> Erasure:
    """Remove every text of every case of `customer_id` from the event store (sealed or not), in one
        transaction, and log the erasure under the id's hash. The console's copies go too: the messages
        the customer was sent (`customer_messages`), the engine's status snapshots (`case_status`,
        which carry the subject), the delivery log (`deliveries`, which holds their address) and the
        charges the proactive rules remember (`recent_charges`); their case links are revoked. Each case
    is listed in `erased_cases`, so the API never reads it from Temporal again. Ids,
        amounts and the compensation ledger stay: they are the record of what was granted.
    `erased_live`: open cases that erased their own state first (the `erase` update): the status
    snapshot they stored then holds no text, so it stays, and the console and API go on reading it."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT DISTINCT workflow_id FROM events WHERE type = 'opened' AND data->>'customer_id' = $1 "
            "UNION SELECT workflow_id FROM cases WHERE customer_id = $1",
            customer_id,
        )
        workflow_ids = [r["workflow_id"] for r in rows]
        status = await conn.execute(
            """UPDATE events SET sealed = NULL,
                   data = (CASE WHEN type = ANY($3::text[]) THEN data - $4::text[] ELSE data - $2::text[] END)
                          || '{"erased": true}'::jsonb
               WHERE workflow_id = ANY($1::text[])""",
            workflow_ids,
            [*TEXT_FIELDS, *ERASED_ALSO],
            sorted(ENGINE_REASONS),
            [f for f in (*TEXT_FIELDS, *ERASED_ALSO) if f != "reason"],
        )
        events = int(status.split()[-1])
        await conn.execute("DELETE FROM customer_messages WHERE workflow_id = ANY($1::text[])", workflow_ids)
        await conn.execute(
            "DELETE FROM case_status WHERE workflow_id = ANY($1::text[]) AND NOT workflow_id = ANY($2::text[])",
            workflow_ids,
            list(erased_live),
        )
        await conn.execute("DELETE FROM deliveries WHERE workflow_id = ANY($1::text[])", workflow_ids)  # addresses
        await conn.execute("DELETE FROM recent_charges WHERE customer_id = $1", customer_id)  # proactive rules
        await revoke_customer(conn, customer_id, workflow_ids)  # their case links open nothing any more
        await conn.execute(  # the first erasure's time stays
            "INSERT INTO erased_cases (workflow_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", workflow_ids
        )
        await conn.execute(
            "INSERT INTO erasures (customer_sha256, erased_by, cases, events) VALUES ($1, $2, $3, $4)",
            customer_digest(customer_id),
            erased_by,
            len(workflow_ids),
            events,
        )
    return Erasure(cases=len(workflow_ids), events=events)
