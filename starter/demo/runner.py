"""Running the demo: check the stack, open the probe case (moving the demo's cases onto the demo
policy when the stack runs another), play the cases concurrently, print the summary."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import tomllib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import httpx

from starter.demo.driver import (
    DEMO_POLICY,
    DEMO_POLICY_NAME,
    DEV_AGENTS,
    PEOPLE,
    Demo,
    DemoCase,
    _Abort,
    _guarded,
    _NotReady,
)
from starter.demo.proactive import proactive
from starter.demo.scenarios import case_keys, glasses, late, open_case, shipping, wrong_size_rest, wrong_size_ticket


def load_tokens(path: str | Path | None = None) -> dict[str, str]:
    """Bearer tokens for alice, lena, max and ops-intake from an agents file with plain `token`
    entries (default: the packaged dev agents). An id that is missing is replaced by another agent
    of the same role."""
    try:
        text = Path(path).read_text() if path else DEV_AGENTS.read_text()
        agents = tomllib.loads(text).get("agents", {})
    except OSError as err:
        raise _NotReady(f"cannot read the tokens file {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise _NotReady(f"the tokens file {path} is not valid TOML: {err}") from None
    source = path or "the packaged dev agents"
    tokens: dict[str, str] = {}
    for person, role in PEOPLE.items():
        entry = agents.get(person)
        if not (isinstance(entry, dict) and entry.get("role") == role and entry.get("token")):
            entry = next(
                (e for e in agents.values() if isinstance(e, dict) and e.get("role") == role and e.get("token")), None
            )
        if entry is None:
            raise _NotReady(
                f"{source} has no agent with role {role!r} and a plain `token` (the demo needs "
                f"the bearer token itself, not token_sha256)"
            )
        tokens[person] = entry["token"]
    return tokens


async def _check_stack(demo: Demo) -> None:
    try:
        response = await demo.http.get("/healthz")
    except httpx.HTTPError as err:
        raise _NotReady(
            f"cannot reach the API at {demo.http.base_url}: {err or type(err).__name__}. "
            f"Start the stack with `recovery dev --demo-policy`."
        ) from None
    if response.status_code != 200:
        try:
            detail = json.dumps(response.json(), ensure_ascii=False)
        except ValueError:
            detail = response.text[:300]
        raise _NotReady(f"the API at {demo.http.base_url} is not healthy: {response.status_code} {detail}")


def _policy_of(data: dict[str, Any]) -> str | None:
    timeline = data.get("timeline") or []
    if timeline and timeline[0].get("type") == "opened":
        return timeline[0].get("data", {}).get("policy")
    return None


async def demo_async(
    api_url: str,
    ui_url: str,
    *,
    temporal_address: str = "127.0.0.1:7233",
    namespace: str = "default",
    token_file: str | Path | None = None,
    out: TextIO | None = None,
    run_id: str | None = None,
) -> int:
    out = out or sys.stdout
    run_id = run_id or datetime.now().strftime("%m%d%H%M%S") + uuid.uuid4().hex[:2]
    keys = case_keys(run_id)
    cases = {
        "wrong-size": DemoCase("wrong-size", keys["wrong-size"], "Wrong size shipped, replacement sold out"),
        "glasses": DemoCase("glasses", keys["glasses"], "One of eight glasses broken"),
        "shipping": DemoCase("shipping", keys["shipping"], "$7,455 shipping on an $88 order, six contacts"),
        "late": DemoCase("late", keys["late"], "Late delivery turned into a win"),
        "proactive": DemoCase("proactive", keys["proactive"], "Overcharge seen at Stripe before the customer wrote"),
    }
    try:
        tokens = load_tokens(token_file)
    except _NotReady as err:
        print(f"recovery demo: {err}", file=out)
        return 1
    # Idle connections are dropped before the server's keep-alive (uvicorn's 5 s, httpx's default too):
    # at equal timeouts a request after ~5 s idle could go out on a connection the server just closed
    # ("Server disconnected without sending a response", seen when the demo waited for its follow-ups).
    limits = httpx.Limits(keepalive_expiry=2.0)
    async with httpx.AsyncClient(
        base_url=api_url.rstrip("/"), timeout=httpx.Timeout(60.0, connect=5.0), limits=limits
    ) as http:
        demo = Demo(http=http, tokens=tokens, out=out, run_id=run_id, width=max(len(c.key) for c in cases.values()))
        try:
            await _check_stack(demo)
        except _NotReady as err:
            print(f"recovery demo: {err}", file=out)
            return 1
        print(f"recovery demo: run {run_id} against {api_url} — {len(cases)} cases, about half a minute", file=out)
        for case in cases.values():
            print(f"  {case.label:<10} {case.key:<{demo.width}}  {case.title}", file=out)
        out.flush()
        demo.started = time.time()

        # The first case doubles as the probe: is the stack running the demo policy?
        first = cases["wrong-size"]
        try:
            data = await open_case(demo, first, wrong_size_ticket(run_id, first.key))
        except _Abort:
            print("recovery demo: could not open the first case (the error is above); stopping", file=out)
            return 1
        policy = _policy_of(data)
        if policy is None or policy.split("@")[0] != DEMO_POLICY_NAME:
            # The stack's policy has deadlines of hours: move the demo's own cases onto the demo
            # policy through Temporal (the `apply_policy` update), which the API does not expose.
            mover = await _policy_mover(temporal_address, namespace)
            if mover is None:
                print(
                    f"\nrecovery demo: the stack runs policy {policy or 'unknown'!r}, not the demo policy, and "
                    f"Temporal at {temporal_address} can't be reached to move the demo cases onto it.\n"
                    f"Start the stack with `recovery dev --demo-policy` (or run the API with "
                    f"RECOVERY_POLICY={DEMO_POLICY}), or pass --address, and run `recovery demo` again.\n"
                    f"(Case {first.key} was opened as the probe and is left open.)",
                    file=out,
                )
                return 1
            demo.move_to_demo_policy = mover
            await mover(first.key)
            demo.say(first, f"the stack runs {policy}; demo cases are moved onto the demo policy")

        await asyncio.gather(
            _guarded(demo, first, wrong_size_rest),
            _guarded(demo, cases["glasses"], glasses),
            _guarded(demo, cases["shipping"], shipping),
            _guarded(demo, cases["late"], late),
            _guarded(demo, cases["proactive"], proactive),
        )
        for case in cases.values():
            if case.skipped:
                continue
            try:
                response = await http.get(
                    f"/v1/complaints/{quote(case.key, safe='')}", headers={"Authorization": f"Bearer {tokens['alice']}"}
                )
                case.final = response.json() if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                case.final = None
        _summary(demo, list(cases.values()), ui_url, temporal_address, namespace)
    closed = all(c.final is not None and c.final.get("step") == "closed" for c in cases.values() if not c.skipped)
    return 0 if closed else 1


async def _policy_mover(temporal_address: str, namespace: str) -> Callable[[str], Awaitable[None]] | None:
    from recovery.client import connect
    from starter.cases import run_step
    from workflows.complaint import ComplaintWorkflow
    from workflows.models import Actor, ApplyPolicyInput
    from workflows.policy_files import parse_policy

    try:
        client = await asyncio.wait_for(connect(temporal_address, namespace), 10)
    except Exception:
        return None
    policy = parse_policy(DEMO_POLICY.read_text(), "demo policy")

    async def move(case_key: str) -> None:
        await run_step(
            client,
            case_key,
            ComplaintWorkflow.apply_policy,
            ApplyPolicyInput(actor=Actor(id="recovery-demo", role="manager"), policy=policy),
        )

    return move


def _summary(demo: Demo, cases: list[DemoCase], ui_url: str, temporal_address: str, namespace: str) -> None:
    out = demo.out
    rows = [("case", "severity", "escalation", "contacts", "compensation", "final step")]
    for case in cases:
        f = case.final
        if case.skipped:
            rows.append((case.key, "-", "-", "-", "-", "skipped"))
            continue
        if f is None:
            rows.append((case.key, "?", "?", "?", "?", "unknown"))
            continue
        level = f"{f['escalation_level']}" + (f" ({f['escalation_role']})" if f.get("escalation_role") else "")
        comps = (
            ", ".join(
                f"{c['kind']} {c['amount']['amount']} {c['amount']['currency']}" if c.get("amount") else c["kind"]
                for c in f.get("compensation") or []
            )
            or "-"
        )
        rows.append((case.key, f["severity"], level, str(f["contact_count"]), comps, f["step"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    elapsed = time.time() - demo.started
    print(f"\nrecovery demo: done in {elapsed:.0f}s", file=out)
    for i, row in enumerate(rows):
        print("  " + "  ".join(v.ljust(widths[j]) for j, v in enumerate(row)).rstrip(), file=out)
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths), file=out)
    not_closed = [c.key for c in cases if not c.skipped and (c.final is None or c.final.get("step") != "closed")]
    if not_closed:
        print(f"\nnot closed: {', '.join(not_closed)} (see the ✗ lines above)", file=out)
    query = "EscalationLevel > 0"
    shipping = next((c.key for c in cases if c.label == "shipping"), cases[0].key)
    print("\nwhere to look:", file=out)
    print(
        f"  Temporal UI, escalated cases:  {ui_url.rstrip('/')}/namespaces/{namespace}/workflows?query={quote(query)}",
        file=out,
    )
    print(
        f"  from a shell:                  temporal workflow list --address {temporal_address} "
        f"--namespace {namespace} --query '{query}'",
        file=out,
    )
    print(f"  one case and its timeline:     recovery show {shipping} --address {temporal_address}", file=out)
    out.flush()


def run_demo(
    api_url: str = "http://127.0.0.1:8080",
    ui_url: str = "http://127.0.0.1:8233",
    *,
    temporal_address: str = "127.0.0.1:7233",
    namespace: str = "default",
    token_file: str | Path | None = None,
    out: TextIO | None = None,
    run_id: str | None = None,
) -> int:
    """Play the four classic cases and the proactive one against the stack whose HTTP API is at
    `api_url`; 0 when all closed (the proactive one skipped on a stack with no Stripe secret).

    `ui_url` and `temporal_address` only feed the "where to look" hints. `token_file` is an agents
    file with plain `token` entries (default: the packaged dev agents). Never raises."""
    out = out or sys.stdout
    try:
        return asyncio.run(
            demo_async(
                api_url,
                ui_url,
                temporal_address=temporal_address,
                namespace=namespace,
                token_file=token_file,
                out=out,
                run_id=run_id,
            )
        )
    except KeyboardInterrupt:
        print("\nrecovery demo: interrupted; the cases stay where they are", file=out)
        return 130
    except Exception as err:
        print(f"recovery demo: unexpected error: {type(err).__name__}: {err}", file=out)
        return 1
