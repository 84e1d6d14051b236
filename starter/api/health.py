"""Liveness, including whether Temporal answers."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from starter.api.errors import ApiError
from starter.api.settings import temporal

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]
    temporal: str


@router.get("/healthz", response_model=Health, summary="Liveness, including Temporal reachability")
async def healthz(request: Request) -> Health:
    client = await temporal(request)
    try:
        await asyncio.wait_for(client.workflow_service.get_system_info(GetSystemInfoRequest()), 5)
    except Exception as err:
        raise ApiError(503, "unavailable", f"Temporal is unreachable: {err}") from None
    return Health(status="ok", temporal=client.service_client.config.target_host)
