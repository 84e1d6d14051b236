"""Ops-owned TOML config files (policy, intake, agents): read, validate against a pydantic model,
and report every problem as `file: key.path: why`. Pure apart from reading the file, so the
workflow sandbox may pass it through (`workflows.policy_files` parses policies with it)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from recovery.validation import problems

_NAMES_KEY = re.compile(r"^[a-z_][\w-]*(\.[\w-]+)*: ")


def describe_config_error(error: ValidationError, source: str) -> str:
    """One line per problem in an ops-owned config file: `file: key.path: why`."""
    plain = {"extra_forbidden": "unknown key (check the spelling)", "missing": "required key is missing"}
    lines = []
    for key, message, kind in problems(error.errors(), top="(top level)"):
        if key == "(top level)" and _NAMES_KEY.match(message):
            lines.append(f"{source}: {message}")  # a check across keys names its own key
        else:
            lines.append(f"{source}: {key}: {plain.get(kind, message)}")
    return "\n".join(lines)


M = TypeVar("M", bound=BaseModel)


def parse_toml_config(text: str, source: str, model: type[M], error: type[ValueError]) -> M:
    """An ops-owned TOML file validated as `model`; any problem raises `error` naming file and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: not valid TOML: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(describe_config_error(exc, source)) from None


def read_config_file(path: str | os.PathLike[str], kind: str, error: type[ValueError]) -> str:
    """The text of an ops-owned config file; an unreadable one raises `error` naming file and kind."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise error(f"{path}: cannot read {kind} file: {exc.strerror}") from None
