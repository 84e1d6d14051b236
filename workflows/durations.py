"""Durations as ops write them in policy files (`30s`, `15m`, `4h`, `3d`, `1h30m`) and as the
policy snapshot, the timeline and the console show them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """`30s`, `15m`, `4h`, `3d`, or combinations such as `1h30m`."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"invalid duration {value!r}: write it as 30s, 15m, 4h or 3d")
    text = value.strip().replace(" ", "")
    pos, seconds = 0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"invalid duration {value!r}: write it as 30s, 15m, 4h or 3d")
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
