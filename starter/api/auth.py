"""Who is calling: bearer-token agents and what each role may do (FastAPI dependencies)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from starter.agents import INTAKE, VIEWER
from starter.api.errors import ApiError
from starter.api.settings import settings_of
from workflows.models import Actor


def agent(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
    actor = settings_of(request).agents.authenticate(token.strip())
    if actor is None:
        raise ApiError(401, "unauthorized", "unknown bearer token")
    return actor


def acting_agent(request: Request, actor: Annotated[Actor, Depends(agent)]) -> Actor:
    if actor.role in (VIEWER, INTAKE) or actor.role not in settings_of(request).policy.roles:
        raise ApiError(403, "forbidden", f"role {actor.role!r} may not act on cases")
    return actor


def reader(actor: Annotated[Actor, Depends(agent)]) -> Actor:
    if actor.role == INTAKE:
        raise ApiError(403, "forbidden", "role 'intake' may only post tickets")
    return actor


def ticket_sender(actor: Annotated[Actor, Depends(agent)]) -> Actor:
    if actor.role == VIEWER:
        raise ApiError(403, "forbidden", "role 'viewer' may not post tickets")
    return actor


Agent = Annotated[Actor, Depends(acting_agent)]
"""An agent who may act on cases (not a viewer or the intake role)."""
Reader = Annotated[Actor, Depends(reader)]
"""Anyone who may read cases (not the intake role)."""
TicketSender = Annotated[Actor, Depends(ticket_sender)]
"""Anyone who may post tickets (not a viewer)."""
