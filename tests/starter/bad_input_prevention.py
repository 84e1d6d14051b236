"""The bad-input matrix's prevention routes (tests/starter/test_bad_input.py), as a lead: the role
may open actions, so what is refused is the body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

LENA = {"Authorization": "Bearer dev-lena-0123456789a"}


def as_lead(cases: Iterator[Any]) -> Iterator[Any]:
    for case in cases:
        case.headers.update(LENA)
        yield case


def prevention_cases() -> Iterator[Any]:
    from tests.starter.test_bad_input import OUT_OF_RANGE, Case, body_cases, size_cases

    action = {"cause": "wrong-item", "description": "Scan both labels", "owner": "alice", "due": "2030-01-01T00:00:00Z"}
    yield from as_lead(body_cases("/v1/prevention", action, epoch_times=("due",)))
    yield from size_cases("/v1/prevention")
    for bad in [*OUT_OF_RANGE, "2026-12-20T10:00:00", "yesterday", "2026-13-01"]:
        yield Case("out-of-range date", "POST", "/v1/prevention", body={**action, "due": bad}, headers=LENA)
    for key, bad in (("owner", "no body"), ("cause", "<b>"), ("cause", "x" * 101), ("description", "")):
        yield Case("bad field", "POST", "/v1/prevention", body={**action, key: bad}, headers=LENA)
    complete = "/v1/prevention/prevention-matrix-1/complete"
    yield from as_lead(body_cases(complete, {"note": "Labels scanned twice"}))
    yield from size_cases(complete)
    yield Case("blank note", "POST", complete, body={"note": "  "}, headers=LENA)
    for bad_id in ("%00", "complaint-x", "prevention-" + "x" * 80, "prevention-a%07b"):
        yield Case("bad action id", "POST", f"/v1/prevention/{bad_id}/complete", body={"note": "x"}, headers=LENA)
    for params in ({"state": "nope"}, {"weeks": "0"}, {"weeks": "53"}, {"cause": "a\u0000b"}, {"cause": "x" * 101}):
        yield Case("bad query", "GET", "/v1/prevention", params=params)
