"""`project_prevention`: a prevention action's state into the read model (`prevention_actions`,
migration 013). Idempotent and order-proof: a row only moves to a newer `version`."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from workflows.prevention_models import PROJECT_PREVENTION, PreventionState

UPSERT = """
INSERT INTO prevention_actions (action_id, cause, description, owner, due_at, opened_by, opened_at, status,
    reminded_at, escalation_level, escalated_to, escalated_at, done_at, done_by, note, version, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, now())
ON CONFLICT (action_id) DO UPDATE SET
    status = EXCLUDED.status, reminded_at = EXCLUDED.reminded_at, escalation_level = EXCLUDED.escalation_level,
    escalated_to = EXCLUDED.escalated_to, escalated_at = EXCLUDED.escalated_at, done_at = EXCLUDED.done_at,
    done_by = EXCLUDED.done_by, note = EXCLUDED.note, version = EXCLUDED.version, updated_at = now()
WHERE prevention_actions.version < EXCLUDED.version
"""


class PreventionStore:
    def __init__(self, pool: Any):
        self.pool = pool

    @activity.defn(name=PROJECT_PREVENTION)
    async def project_prevention(self, state: PreventionState) -> bool:
        """Store the state; False when the row already holds this version or a newer one."""
        result = await self.pool.execute(
            UPSERT,
            state.action_id,
            state.cause,
            state.description,
            state.owner,
            state.due,
            state.opened_by,
            state.opened_at,
            state.status,
            state.reminded_at,
            state.escalation_level,
            state.escalated_to,
            state.escalated_at,
            state.done_at,
            state.done_by,
            state.note,
            state.version,
        )
        return str(result).endswith(" 1")
