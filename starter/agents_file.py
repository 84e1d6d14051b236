"""Editing the agents file: add an agent or rotate a token, storing only the token's sha256.

The file's format is small (a table per agent with `role` and `token_sha256`, or a deprecated plain
`token`), so a tiny writer renders it back instead of a TOML library: the entries and their order
are kept, and so is the comment block the file starts with; comments between entries are not.
The result is checked by reading it back before it replaces the file (atomically, same mode).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from starter.agents import AgentsError, parse_agents, token_digest

TOKEN_BYTES = 32
"""Random bytes in a new token (256 bits, 43 URL-safe characters)."""
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hashed(role: str, token: str) -> dict[str, str]:
    return {"role": role, "token_sha256": token_digest(token).hex()}


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if not isinstance(value, str):
        raise AgentsError(f"cannot write {value!r}: agents file values are strings")
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def render(agents: dict[str, dict[str, Any]], header: str = "") -> str:
    """The agents file for `agents` (id → its keys), after `header` (comment lines)."""
    parts = [header.rstrip("\n") + "\n"] if header.strip() else []
    for agent_id, entry in agents.items():
        lines = [f"[agents.{_key(agent_id)}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in entry.items()]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def _header(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines).strip("\n")


def _read(path: Path, must_exist: bool) -> tuple[dict[str, dict[str, Any]], str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        if must_exist:
            raise AgentsError(f"{path}: no such agents file") from None
        return {}, "# Agents of the console and the API (`recovery agents add/rotate` edit this file).\n"
    except OSError as err:
        raise AgentsError(f"{path}: cannot read agents file: {err.strerror}") from None
    parse_agents(text, str(path))  # refuse to edit a file that is not valid as it is
    data = tomllib.loads(text)
    if set(data) - {"agents"}:
        raise AgentsError(f"{path}: unexpected top-level keys {sorted(set(data) - {'agents'})}")
    return dict(data.get("agents", {})), _header(text)


def write(path: Path, agents: dict[str, dict[str, Any]], header: str = "") -> None:
    text = render(agents, header)
    if tomllib.loads(text) != {"agents": agents}:  # the writer's own check: what is read back is what was meant
        raise AgentsError(f"{path}: cannot write these entries faithfully")
    parse_agents(text, str(path))
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600  # the file names credentials' hashes
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_agent(path: Path, agent_id: str, role: str) -> str:
    """Add `agent_id` with `role` and a new token; returns the token (its hash is what is stored)."""
    agents, header = _read(path, must_exist=False)
    if agent_id in agents:
        raise AgentsError(
            f"{path}: agent {agent_id!r} already exists (`recovery agents rotate {agent_id}` gives it a new token)"
        )
    token = new_token()
    agents[agent_id] = hashed(role, token)
    write(path, agents, header)
    return token


def rotate_agent(path: Path, agent_id: str) -> str:
    """Give `agent_id` a new token (the old one stops working); returns it."""
    agents, header = _read(path, must_exist=True)
    if agent_id not in agents:
        raise AgentsError(f"{path}: no agent {agent_id!r} (known: {', '.join(sorted(agents)) or 'none'})")
    token = new_token()
    agents[agent_id] = hashed(agents[agent_id]["role"], token)
    write(path, agents, header)
    return token
