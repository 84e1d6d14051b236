"""The agents file stores token hashes: loading (hash, deprecated plain token, both), the constant-time
check, `recovery agents add/rotate`, and the hashed agents file `recovery dev` writes."""

from __future__ import annotations

import hashlib
import hmac
import logging
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from starter import agents as agents_module
from starter.agents import AgentsError, load_agents, parse_agents
from starter.cli import _main
from starter.dev import _dev_tokens, write_dev_agents
from workflows.models import Actor

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "a-long-random-token-0123456789"
HASH = hashlib.sha256(TOKEN.encode()).hexdigest()


def test_a_hashed_entry_authenticates_its_token_only() -> None:
    agents = parse_agents(f'[agents.alice]\nrole = "agent"\ntoken_sha256 = "{HASH.upper()}"\n', "hashed.toml")
    actor = agents.authenticate(TOKEN)
    assert actor is not None and (actor.id, actor.role) == ("alice", "agent")
    assert agents.authenticate(TOKEN + "x") is None and agents.authenticate(HASH) is None


def test_a_plain_token_still_loads_with_a_deprecation_warning_once_per_agent(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    source = str(tmp_path / "plain.toml")
    text = f'[agents.bob]\nrole = "agent"\ntoken = "{TOKEN}"\n[agents.eve]\nrole = "viewer"\ntoken_sha256 = "{HASH}"\n'
    with caplog.at_level(logging.WARNING, logger="recovery.agents"):
        first = parse_agents(text, source)
        parse_agents(text, source)
    assert first.authenticate(TOKEN) is not None
    warnings = [r.getMessage() for r in caplog.records if r.name == "recovery.agents"]
    assert len(warnings) == 1 and "'bob'" in warnings[0] and "deprecated" in warnings[0], warnings


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        (f'token = "{TOKEN}"\ntoken_sha256 = "{HASH}"', "exactly one of token or token_sha256"),
        ("", "exactly one of token or token_sha256"),
        ('token_sha256 = "abc"', "64 hex digits"),
        ('token = "short"', "at least 16"),
    ],
)
def test_an_entry_needs_exactly_one_valid_token_or_hash(entry: str, complaint: str) -> None:
    with pytest.raises(AgentsError, match=complaint):
        parse_agents(f'[agents.alice]\nrole = "agent"\n{entry}\n', "bad.toml")


@pytest.mark.parametrize("token", [TOKEN, "tok-for-the-last-one-0123", "nobody-has-this-token-0000"])
def test_authenticate_compares_the_hash_with_every_entry_in_constant_time(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    lines = [
        f'[agents.a{i}]\nrole = "agent"\ntoken_sha256 = "{hashlib.sha256(f"t{i}".encode()).hexdigest()}"'
        for i in range(5)
    ]
    lines.insert(0, f'[agents.first]\nrole = "agent"\ntoken_sha256 = "{HASH}"')
    lines.append('[agents.last]\nrole = "agent"\ntoken = "tok-for-the-last-one-0123"')
    agents = parse_agents("\n".join(lines), "many.toml")
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(agents_module.hmac, "compare_digest", counting)
    found = agents.authenticate(token)
    assert len(compared) == len(agents) == 7  # whoever holds it, if anyone: no early exit
    assert all(a == hashlib.sha256(token.encode()).digest() for a, _ in compared)  # hashes, not tokens
    assert (found.id if found else None) == {TOKEN: "first", "tok-for-the-last-one-0123": "last"}.get(token)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = _main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_agents_add_prints_a_token_once_and_stores_its_hash(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(f'# Our team.\n# Keep this file private.\n\n[agents.old]\nrole = "viewer"\ntoken = "{TOKEN}"\n')
    code, out, err = run(capsys, "agents", "add", "carol.k@team", "--role", "team-lead", "--file", str(path))
    assert code == 0, err
    token = out.strip()
    assert len(token) >= 40 and "shown only this once" in err
    text = path.read_text()
    assert token not in text and text.startswith("# Our team.\n# Keep this file private.\n")
    data = tomllib.loads(text)["agents"]
    assert data["carol.k@team"] == {"role": "team-lead", "token_sha256": hashlib.sha256(token.encode()).hexdigest()}
    assert data["old"] == {"role": "viewer", "token": TOKEN}  # other entries kept as they were
    agents = load_agents(str(path))
    carol = agents.authenticate(token)
    assert carol is not None and (carol.id, carol.role) == ("carol.k@team", "team-lead")
    assert agents.authenticate(TOKEN) is not None

    code, _, err = run(capsys, "agents", "add", "carol.k@team", "--role", "agent", "--file", str(path))
    assert code == 2 and "already exists" in err
    code, _, err = run(capsys, "agents", "add", "bad name", "--role", "agent", "--file", str(path))
    assert code == 2 and path.read_text() == text


def test_agents_rotate_replaces_the_token(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "team" / "agents.toml"
    monkeypatch.setenv("RECOVERY_AGENTS", str(path))  # the default file
    code, out, err = run(capsys, "agents", "add", "dave", "--role", "agent")
    assert code == 0, err
    first = out.strip()
    code, out, err = run(capsys, "agents", "add", "erin", "--role", "viewer")
    erin = out.strip()
    assert path.stat().st_mode & 0o777 == 0o600

    code, out, err = run(capsys, "agents", "rotate", "dave")
    assert code == 0, err
    second = out.strip()
    agents = load_agents(str(path))
    dave = agents.authenticate(second)
    assert dave is not None and (dave.id, dave.role) == ("dave", "agent")
    assert agents.authenticate(first) is None and agents.authenticate(erin) is not None
    assert second not in path.read_text()

    code, _, err = run(capsys, "agents", "rotate", "nobody")
    assert code == 2 and "no agent 'nobody'" in err
    code, _, err = run(capsys, "agents", "rotate", "dave", "--file", str(tmp_path / "missing.toml"))
    assert code == 2 and "no such agents file" in err


def test_agents_rotate_turns_a_plain_token_into_a_hash_as_a_command(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(f'[agents.bob]\nrole = "agent"\ntoken = "{TOKEN}"\n')
    done = subprocess.run(
        [sys.executable, "-m", "starter.cli", "agents", "rotate", "bob", "--file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert "token =" not in path.read_text() and token not in path.read_text()
    bob = load_agents(str(path)).authenticate(token)
    assert bob is not None and bob.id == "bob"


def test_dev_writes_an_agents_file_of_hashes_for_the_known_dev_tokens(tmp_path: Path) -> None:
    path = write_dev_agents(tmp_path)
    text = path.read_text()
    assert "token =" not in text and "token_sha256" in text
    agents = load_agents(str(path))
    for agent_id, role, token in _dev_tokens():
        assert token not in text
        actor = agents.authenticate(token)
        assert actor is not None and (actor.id, actor.role) == (agent_id, role)
    assert len(agents) == len(_dev_tokens()) and write_dev_agents(tmp_path) == path  # rewritten each start


def test_the_customers_actor_id_is_no_agent() -> None:
    """The case page records the customer's steps as actor `customer`: an agent by that name would pass
    for the customer (and its follow-up scores count as the customers' own in the reports)."""
    with pytest.raises(AgentsError, match="'customer' is reserved for customers"):
        parse_agents(f'[agents.customer]\nrole = "agent"\ntoken_sha256 = "{HASH}"\n', "bad.toml")
    similar = parse_agents(f'[agents.customers]\nrole = "agent"\ntoken_sha256 = "{HASH}"\n', "ok.toml")
    assert similar.authenticate(TOKEN) == Actor(id="customers", role="agent")
