"""Pydantic validation errors for people: where (the dotted field path) and why, one way everywhere —
the data converter, the API, the CLI, ticket mapping and ops config files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError


def problems(
    errors: Iterable[Mapping[str, Any]], *, skip: tuple[object, ...] = (), top: str = "input"
) -> list[tuple[str, str, str]]:
    """(where, message, pydantic error type) per problem; location parts in `skip` are left out
    (e.g. FastAPI's "body"), an empty location is `top`."""
    found = []
    for item in errors:
        where = ".".join(str(part) for part in item.get("loc", ()) if part not in skip) or top
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        found.append((where, message, str(item.get("type", ""))))
    return found


def describe_problems(errors: Iterable[Mapping[str, Any]], *, skip: tuple[object, ...] = (), top: str = "input") -> str:
    """`amount.amount: amount must not be negative; kind: ...` — one line, field first."""
    return "; ".join(f"{where}: {message}" for where, message, _ in problems(errors, skip=skip, top=top))


def describe_validation_error(err: ValidationError) -> str:
    """One line for a pydantic ValidationError (see `describe_problems`)."""
    return describe_problems(err.errors())
