"""The simulator's input: a stored case and its events, as a model or straight from the event store.

Its own module because every other part of the simulator reads these (the replay, the outcome
counting, the report and the store's loader), and none of them should have to import another's
logic to name what it reads. `_iso`, how the simulator writes a moment in notes, reasons and text,
is here for the same reason: one spelling for all three.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel

from workflows.models import DomainEvent


class CaseHistory(BaseModel):
    """One stored case: its workflow id and its domain events in sequence order."""

    workflow_id: str
    events: list[DomainEvent]


class EventLike(Protocol):
    """What the simulator reads of an event: a `DomainEvent`, or a `StoredEvent` straight from the store."""

    @property
    def seq(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...


class StoredEvent(NamedTuple):
    """A stored domain event as the worker processes rebuild it: a tuple, not a model (building 176,000
    pydantic models, even unvalidated, cost more than replaying them). From JSON text, `data` is decoded
    only for the types the simulator reads (`_READ_DATA`), else empty."""

    seq: int
    type: str
    at: datetime
    actor: str
    data: dict[str, Any]


StoredRow = tuple[str, list[tuple[int, str, datetime, str, str | dict[str, Any]]]]
"""One case as read from the event store: workflow id and (seq, type, at, actor, data as JSON text or decoded)."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
