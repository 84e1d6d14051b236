"""The compatibility contract between builds: a `CaseState` a released build carried into a new run
(continue-as-new onto a newer build) must load in today's code with nothing dropped.

`python -m tests.compat.contract` writes today's samples under states/<version>/ (once per released
version: an existing version's folder is never rewritten)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tests.helpers import AGENT, fast_policy, ticket
from workflows.case import Case, CaseState
from workflows.models import AcknowledgeInput, CompensateInput, FixInput, OfferInput, PauseInput

STATES = Path(__file__).parent / "states"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


def problems(model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    """Why `data` (a stored state) does not load in `model` whole: a validation error (a required field
    renamed or retyped), or a stored key the model would silently drop (a field removed or renamed)."""
    try:
        loaded = model.model_validate(data)
    except ValidationError as err:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
    return [f"{path}: dropped on load" for path in _dropped(data, loaded.model_dump(mode="json"), "")]


def _dropped(stored: Any, loaded: Any, path: str) -> list[str]:
    if isinstance(stored, dict) and isinstance(loaded, dict):
        lost = [f"{path}{key}" for key in stored if key not in loaded]
        for key in stored.keys() & loaded.keys():
            lost += _dropped(stored[key], loaded[key], f"{path}{key}.")
        return lost
    if isinstance(stored, list) and isinstance(loaded, list):
        return [p for s, lo in zip(stored, loaded, strict=False) for p in _dropped(s, lo, path)]
    return []


def samples() -> dict[str, CaseState]:
    """States a case carries at the points where runs continue: waiting, escalated, paused, mid-approval,
    and (from 1.2) waiting for the customer's choice among the remedies offered."""
    at = lambda minutes: T0 + timedelta(minutes=minutes)
    policy = fast_policy(ack="1h", fix="2h", interval="30m")
    opened = Case.open(ticket("compat-open"), policy, "complaint-compat-1:ord-1", at(0))
    escalated = Case.open(ticket("compat-ladder"), policy, "complaint-compat-2:ord-1", at(0))
    while (wake := escalated.next_wakeup()) is not None and wake.at <= at(200):
        escalated.tick(wake.at)
    paused = Case.open(ticket("compat-pause"), policy, "complaint-compat-3:ord-1", at(0))
    paused.acknowledge(AcknowledgeInput(actor=AGENT), at(5))
    paused.pause(PauseInput(actor=AGENT, reason="waiting for photos"), at(6))
    approval = Case.open(ticket("compat-approval"), policy, "complaint-compat-4:ord-1", at(0))
    approval.acknowledge(AcknowledgeInput(actor=AGENT), at(1))
    approval.record_fix(FixInput(actor=AGENT, description="replacement sent"), at(2))
    approval.compensate(
        CompensateInput(actor=AGENT, kind="refund", amount={"amount": "500.00", "currency": "USD"}, reason="big"),
        at(3),
    )
    offered = Case.open(ticket("compat-offer"), policy, "complaint-compat-5:ord-1", at(0))
    offered.acknowledge(AcknowledgeInput(actor=AGENT), at(1))
    offered.record_fix(FixInput(actor=AGENT, description="replacement sent"), at(2))
    options = [{"kind": "refund", "amount": {"amount": "20.00", "currency": "USD"}}, {"kind": "replacement"}]
    offered.offer(OfferInput.model_validate({"actor": AGENT.model_dump(), "options": options, "default": 2}), at(3))
    return {
        "opened": opened.state,
        "escalated": escalated.state,
        "paused": paused.state,
        "approval": approval.state,
        "offered": offered.state,
    }


def record() -> int:
    folder = STATES / version("service-recovery")
    if folder.exists():
        print(f"{folder} exists: samples of a released build are never rewritten", file=sys.stderr)
        return 1
    folder.mkdir(parents=True)
    for name, state in samples().items():
        (folder / f"{name}.json").write_text(json.dumps(state.model_dump(mode="json"), indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(samples())} states to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(record())
