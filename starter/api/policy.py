"""Policy tools over HTTP: simulate a candidate policy against the stored cases (for the console)."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from activities.store.history import load_histories
from recovery.reports import utc_moment
from starter.api.auth import Reader
from starter.api.errors import ApiError
from starter.api.outage import READ_FAILED
from starter.api.settings import settings_of
from workflows.policy import PolicyError
from workflows.policy_files import parse_policy
from workflows.simulation import SimulationReport, simulate

router = APIRouter(tags=["policy"])


class SimulationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: Annotated[str, Field(min_length=1, max_length=200_000)]
    """The candidate policy, as the TOML text of a policy file."""
    since: datetime | None = None
    """Cases opened at or after this instant (default: all)."""
    until: datetime | None = None
    """Cases opened before this instant (default: all)."""


@router.post(
    "/v1/policy/simulations",
    response_model=SimulationReport,
    summary="Replay the stored cases of a period under a candidate policy and compare with what happened",
)
async def post_simulation(body: SimulationRequest, request: Request, _: Reader) -> SimulationReport:
    settings = settings_of(request)
    if settings.database is None:
        raise ApiError(503, "unavailable", "no database configured for simulations")
    try:
        since, until = utc_moment(body.since), utc_moment(body.until)
    except ValueError as err:
        raise ApiError(422, "validation", str(err)) from None
    if since and until and since >= until:
        raise ApiError(422, "validation", "since must be before until")
    try:
        # An uploaded policy may not make the server read files: its holidays are listed as dates.
        candidate = parse_policy(body.policy, "candidate policy", read_files=False)
    except PolicyError as err:
        raise ApiError(422, "validation", str(err)) from None
    try:
        histories = await load_histories(await settings.database(), since, until)
    except READ_FAILED as err:
        raise ApiError(503, "unavailable", f"PostgreSQL is unavailable: {err}") from None
    workers = min(2, os.cpu_count() or 1)
    return await asyncio.to_thread(simulate, histories, candidate, since=body.since, until=body.until, workers=workers)
