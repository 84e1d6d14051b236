"""The one check every request body passes before anything parses it: its size (`max_body_bytes`,
413) and how deep its JSON arrays and objects nest (`max_body_depth`, 400). Python's `json.loads`
recurses once per level and a body nested ~1,000 deep raises RecursionError (a 500); the depth is
found here by a cheap scan of the brackets outside strings, without parsing."""

from __future__ import annotations

import re

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(raw: bytes, stop_above: int | None = None) -> int:
    """How deep the arrays and objects of `raw` nest, brackets inside strings not counted. Stops
    counting once past `stop_above`. Not a validator: malformed JSON gets some depth, then its 400."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        else:
            depth = max(depth - 1, 0)
    return deepest


class BodyRefused(Exception):
    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def check_body(raw: bytes, max_bytes: int, max_depth: int) -> None:
    """Raise BodyRefused (413 too_large, 400 bad_request) for a body no route may parse."""
    if len(raw) > max_bytes:
        raise BodyRefused(413, "too_large", f"body of {len(raw)} bytes is over the {max_bytes}-byte limit")
    if raw.count(b"[") + raw.count(b"{") > max_depth and json_depth(raw, max_depth) > max_depth:
        raise BodyRefused(400, "bad_request", f"body nests deeper than {max_depth} levels of arrays and objects")
