"""What every command shares: the usage error (exit 2), input validation, the Temporal client, JSON output."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import Client

from recovery.validation import describe_validation_error

M = TypeVar("M", bound=BaseModel)


class UsageError(Exception):
    """Bad input on the command line or in a file: exit 2."""


def _model(cls: type[M], data: dict[str, Any]) -> M:
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise UsageError(describe_validation_error(err)) from None


def _actor(args: argparse.Namespace) -> dict[str, str]:
    return {"id": args.agent, "role": args.role}


async def _client(args: argparse.Namespace) -> Client:
    from recovery.client import connect
    from starter.codec_check import CodecMismatch, require_namespace_keys

    try:
        client = await connect(args.address, args.namespace)
    except Exception as err:  # connection errors come in several types; all mean the same here
        where = args.address or os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
        raise ConnectionError(f"cannot reach Temporal at {where}: {err}") from None
    try:
        await require_namespace_keys(client, args.task_queue)
    except CodecMismatch as err:
        raise UsageError(str(err)) from None
    return client


def _print_json(model: Any) -> None:
    if isinstance(model, list):
        print(json.dumps([m.model_dump(mode="json") for m in model], indent=2))
    else:
        print(model.model_dump_json(indent=2))
