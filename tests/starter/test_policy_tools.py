"""`recovery policy due | calendar | explain | simulate` as a user runs them, and the simulation API
(`POST /v1/policy/simulations`, viewer role or above)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bench.simulation import candidate_policy, make_histories, store_histories
from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig
from tests.helpers import fast_policy
from workflows.policy_files import default_policy_text, load_policy
from workflows.simulation import SimulationReport, simulate

ROOT = Path(__file__).resolve().parents[2]
VIEWER = {"Authorization": "Bearer dev-viewer-012345678"}
INTAKE = {"Authorization": "Bearer dev-intake-012345678"}

EU_POLICY = (
    default_policy_text()
    .replace(
        "[severities.critical]",
        """[calendars.support-eu]
time_zone = "Europe/Berlin"
week = { mon = ["08:00-12:00", "13:00-18:00"], tue = ["08:00-18:00"], wed = ["08:00-18:00"], thu = ["08:00-18:00"], fri = ["08:00-18:00"], sat = ["10:00-14:00"] }
holidays = [2026-12-25, 2026-12-26]
special_days = { 2026-12-24 = ["08:00-12:00"], 2026-12-27 = ["10:00-14:00"] }

[severities.critical]""",  # noqa: E501 (a TOML inline table is one line)
    )
    .replace('[severities.high]\nclock = "wall"', '[severities.high]\ncalendar = "support-eu"')
)


def recovery(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture
def eu_policy(tmp_path: Path) -> Path:
    path = tmp_path / "eu.toml"
    path.write_text(EU_POLICY)
    return path


def test_due_prints_the_utc_instant(eu_policy: Path) -> None:
    # Thu 24 Dec 10:00 CET + 4h in support-eu: 2h on the short day, the holidays, Sun 27 (a special
    # working day) 10:00 + 2h = 12:00 CET = 11:00Z.
    result = recovery(
        "policy",
        "due",
        str(eu_policy),
        "--from",
        "2026-12-24T10:00:00+01:00",
        "--budget",
        "4h",
        "--calendar",
        "support-eu",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2026-12-27T11:00:00Z\n"
    as_json = recovery(
        "policy",
        "due",
        str(eu_policy),
        "--from",
        "2026-12-24T09:00:00Z",
        "--budget",
        "1h30m",
        "--severity",
        "high",
        "--json",
    )
    assert json.loads(as_json.stdout) == {
        "due": "2026-12-24T10:30:00Z",
        "calendar": "support-eu",
        "working_seconds": 5400,
    }
    wall = recovery(
        "policy",
        "due",
        str(eu_policy),
        "--from",
        "2026-12-24T09:00:00Z",
        "--budget",
        "1h",
        "--severity",
        "critical",
        "--json",
    )
    assert json.loads(wall.stdout)["calendar"] == "wall" and json.loads(wall.stdout)["due"] == "2026-12-24T10:00:00Z"


def test_due_errors_are_one_line(eu_policy: Path) -> None:
    unknown = recovery(
        "policy", "due", str(eu_policy), "--from", "2026-12-24T10:00:00Z", "--budget", "4h", "--calendar", "support-us"
    )
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == ("recovery: error: unknown calendar 'support-us' (defined: default, support-eu)")
    naive = recovery(
        "policy", "due", str(eu_policy), "--from", "2026-12-24T10:00", "--budget", "4h", "--calendar", "support-eu"
    )
    assert naive.returncode == 2 and "has no time zone" in naive.stderr
    bad_budget = recovery("policy", "due", "--from", "2026-12-24T10:00Z", "--budget", "soon", "--severity", "low")
    assert bad_budget.returncode == 2 and "invalid duration 'soon'" in bad_budget.stderr


def test_calendar_lists_windows_in_the_zone(eu_policy: Path) -> None:
    result = recovery(
        "policy", "calendar", str(eu_policy), "--calendar", "support-eu", "--from", "2026-12-21", "--days", "7"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "calendar support-eu (Europe/Berlin)",
        "  Mon 2026-12-21  08:00-12:00 CET, 13:00-18:00 CET",
        "  Tue 2026-12-22  08:00-18:00 CET",
        "  Wed 2026-12-23  08:00-18:00 CET",
        "  Thu 2026-12-24  08:00-12:00 CET  (special day)",
        "  Fri 2026-12-25  closed  (holiday)",
        "  Sat 2026-12-26  closed  (holiday)",
        "  Sun 2026-12-27  10:00-14:00 CET  (special day)",
    ]


def test_check_summarises_calendars_and_a_policy_set(eu_policy: Path, tmp_path: Path) -> None:
    result = recovery("policy", "check", str(eu_policy))
    assert result.returncode == 0, result.stderr
    assert "  high     [business: support-eu] acknowledge 1h" in result.stdout
    assert (
        "  calendar support-eu: Europe/Berlin, mon 08:00-12:00 13:00-18:00; tue 08:00-18:00; wed 08:00-18:00; "
        "thu 08:00-18:00; fri 08:00-18:00; sat 10:00-14:00, 2 holidays, 2 special days"
    ) in result.stdout
    (tmp_path / "rules.toml").write_text(
        'default = "std"\n[policies]\nstd = "eu.toml"\n[[rules]]\nname = "VIP"\npolicy = "std"\ntier = ["gold"]\n'
    )
    result = recovery("policy", "check", str(tmp_path / "rules.toml"))
    assert result.returncode == 0, result.stderr
    assert "ok (1 policies, 1 rules)" in result.stdout and "  1. VIP → std (when tier ['gold'])" in result.stdout


def test_explain_names_the_rule_and_the_deadlines(eu_policy: Path, tmp_path: Path) -> None:
    (tmp_path / "rules.toml").write_text("""default = "standard"
[policies]
standard = "eu.toml"
vip = "eu.toml"
[[rules]]
name = "VIP customers"
policy = "vip"
tier = ["gold"]
[[rules]]
name = "High severity in the EU brand"
policy = "vip"
brand = ["eu"]
severity = ["high"]
""")
    ticket = {
        "source": "zendesk",
        "event_id": "e-1",
        "ticket_id": "T-1",
        "brand": "eu",
        "severity": "high",
        "customer": {"id": "c-1", "name": "Dana"},
        "subject": "Broken",
        "occurred_at": "2026-12-24T11:30:00+01:00",
    }
    (tmp_path / "ticket.json").write_text(json.dumps(ticket))
    result = recovery("policy", "explain", str(tmp_path / "ticket.json"), "--policy", str(tmp_path / "rules.toml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        'policy default@2026-11 by rule 2 "High severity in the EU brand"',
        "  because brand is eu",
        "  because severity is high",
        '  rule 1 "VIP customers" did not match: tier: the ticket has none (rule wants gold)',
        "severity high, business time (support-eu calendar): acknowledge 1h, fix 1d, compensate 1d, "
        "follow-up 2d, close 2d",
        # 11:30 CET + 1h on the short day (closes 12:00): 30m, then Sun 27 10:00 + 30m = 10:30 CET.
        "acknowledge due 2026-12-27T09:30:00Z (opened 2026-12-24T10:30:00Z)",
    ]
    bad = recovery("policy", "explain", str(tmp_path / "missing.json"))
    assert bad.returncode == 2 and "cannot read" in bad.stderr


async def store(db: asyncpg.Pool, count: int = 40) -> list[Any]:
    histories = make_histories(count, load_policy(None))
    await store_histories(db, histories)
    return histories


async def test_simulate_command_reads_the_event_store(db: asyncpg.Pool, db_url: str, tmp_path: Path) -> None:
    histories = await store(db)
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(
        default_policy_text()
        .replace('acknowledge = "4h"', 'acknowledge = "30m"')
        .replace('version = "2026-11"', 'version = "fast-ack"')
    )
    env = {**os.environ, "DATABASE_URL": db_url}
    first = recovery("policy", "simulate", str(candidate), env=env)
    second = recovery("policy", "simulate", str(candidate), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout  # byte-identical
    expected = simulate(histories, load_policy(candidate))
    assert (
        f"breaches: {expected.totals.actual_breaches} as recorded → {expected.totals.candidate_breaches}"
        in first.stdout
    )
    as_json = recovery(
        "policy", "simulate", str(candidate), "--json", "--since", "2026-09-01", "--until", "2027-01-01", env=env
    )
    report = SimulationReport.model_validate_json(as_json.stdout)
    assert report.totals.cases == len(histories) and report.totals.changed == expected.totals.changed
    none = recovery("policy", "simulate", str(candidate), "--since", "2030-01-01", env=env)
    assert none.returncode == 0 and "cases: 0" in none.stdout
    wrong = recovery("policy", "simulate", str(candidate), "--since", "2027-01-01", "--until", "2026-01-01", env=env)
    assert wrong.returncode == 2 and wrong.stderr.strip() == "recovery: error: --since must be before --until"


@pytest.fixture
async def api(db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async def database() -> asyncpg.Pool:
        return db

    async def connect() -> Any:
        raise AssertionError("the simulation needs no Temporal")

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(max_body_bytes=256 * 1024),
        policy=fast_policy(),
        database=database,
    )
    app = create_app(settings, connect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


async def test_simulation_api_for_viewers(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    histories = await store(db, 30)
    candidate = candidate_policy(load_policy(None))
    text = default_policy_text().replace('acknowledge = "4h"', 'acknowledge = "30m"')
    response = await api.post("/v1/policy/simulations", json={"policy": text}, headers=VIEWER)
    assert response.status_code == 200, response.text
    again = await api.post("/v1/policy/simulations", json={"policy": text}, headers=VIEWER)
    assert again.content == response.content  # byte-identical
    body = response.json()
    assert body["totals"]["cases"] == 30
    assert SimulationReport.model_validate(body) == simulate(histories, load_policy_text(text))
    assert candidate.name == "candidate"

    assert (await api.post("/v1/policy/simulations", json={"policy": text})).status_code == 401
    forbidden = await api.post("/v1/policy/simulations", json={"policy": text}, headers=INTAKE)
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
    bad = await api.post(
        "/v1/policy/simulations", json={"policy": text.replace('fix = "4h"', 'fix = "4 hours"')}, headers=VIEWER
    )
    assert bad.status_code == 422
    assert (
        bad.json()["detail"]
        == "candidate policy: severities.critical.fix: invalid duration '4 hours': write it as 30s, 15m, 4h or 3d"
    )
    files = await api.post(
        "/v1/policy/simulations",
        headers=VIEWER,
        json={
            "policy": text.replace(
                "[severities.critical]",
                '[calendars.eu]\nweek = { mon = ["09:00-17:00"] }\nholiday_files = ["/etc/passwd"]\n'
                "[severities.critical]",
            )
        },
    )
    assert files.status_code == 422 and "holiday_files: not allowed in an uploaded policy" in files.json()["detail"]
    window = await api.post(
        "/v1/policy/simulations",
        headers=VIEWER,
        json={"policy": text, "since": "2027-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    )
    assert window.status_code == 422 and window.json()["detail"] == "since must be before until"


def load_policy_text(text: str) -> Any:
    from workflows.policy_files import parse_policy

    return parse_policy(text, "candidate policy")
