"""The agents file (`RECOVERY_AGENTS`, TOML): bearer tokens → agent id and role.

    [agents.alice]
    role = "agent"
    token_sha256 = "…"      # hex sha256 of the token; `recovery agents add/rotate` write these

A plain `token = "…"` still loads, with a deprecation warning (logged once per agent): the file
then holds a live credential. Roles are the policy's roles (they carry compensation authority),
plus two restricted ones: `viewer` may only read cases, `intake` may only post tickets.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from recovery.config import parse_toml_config, read_config_file
from workflows.models import Actor, Identifier

VIEWER, INTAKE = "viewer", "intake"
CUSTOMER_ID = "customer"
"""The actor id of what customers do from their case page: an agent by that name would pass for the
customer in the event store, and its follow-up scores would count as the customers' own."""
MIN_TOKEN = 16
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
log = logging.getLogger("recovery.agents")
_warned: set[tuple[str, str]] = set()
DEV_AGENTS_FILE = (Path(__file__).parent / "dev_agents.toml").resolve()


def token_digest(token: str) -> bytes:
    """sha256 of a bearer token. Unsalted and fast on purpose: salts and slow hashes (bcrypt, scrypt)
    protect guessable passwords, while these tokens are long random strings (`recovery agents add`
    draws 256 bits) that no dictionary or brute force reaches; a fast hash also lets every request
    be checked against every agent in constant time."""
    return hashlib.sha256(token.encode()).digest()


class AgentEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Identifier
    token: str | None = None
    token_sha256: str | None = None

    @model_validator(mode="after")
    def _one_token(self) -> AgentEntry:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("give exactly one of token or token_sha256")
        if self.token is not None and len(self.token) < MIN_TOKEN:
            raise ValueError(f"token must be at least {MIN_TOKEN} characters")
        if self.token_sha256 is not None and not _HEX64.match(self.token_sha256):
            raise ValueError("token_sha256 must be 64 hex digits (the sha256 of the token)")
        return self

    def digest(self) -> bytes:
        if self.token_sha256 is not None:
            return bytes.fromhex(self.token_sha256)
        assert self.token is not None
        return token_digest(self.token)


class AgentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agents: dict[Identifier, AgentEntry] = {}

    @model_validator(mode="after")
    def _no_customer(self) -> AgentsFile:
        if CUSTOMER_ID in self.agents:
            raise ValueError(f"agent id {CUSTOMER_ID!r} is reserved for customers on their case page; rename the agent")
        return self


class AgentsError(ValueError):
    pass


class AgentDirectory:
    def __init__(self, agents: dict[str, AgentEntry]):
        self._digests = [(agent_id, entry.role, entry.digest()) for agent_id, entry in agents.items()]

    def authenticate(self, token: str) -> Actor | None:
        """The agent holding `token`, comparing digests in constant time against every entry."""
        digest = token_digest(token)
        found = None
        for agent_id, role, expected in self._digests:  # no early exit: the time says nothing about who
            if hmac.compare_digest(digest, expected):
                found = Actor(id=agent_id, role=role)
        return found

    def fingerprint(self, agent_id: str) -> str | None:
        """A short fingerprint of the agent's current token (None for an unknown agent): a console
        session remembers it, so rotating a token or removing the agent ends their sessions."""
        digest = next((d for known, _, d in self._digests if known == agent_id), None)
        return None if digest is None else hashlib.sha256(b"session:" + digest).hexdigest()[:32]

    def role_of(self, agent_id: str) -> str | None:
        """The role of agent `agent_id`, None when the file has no such agent."""
        return next((role for known, role, _ in self._digests if known == agent_id), None)

    def members(self) -> list[tuple[str, str]]:
        """(agent id, role) of every agent in the file, by id."""
        return sorted((agent_id, role) for agent_id, role, _ in self._digests)

    def __len__(self) -> int:
        return len(self._digests)


def parse_agents(text: str, source: str) -> AgentDirectory:
    agents = parse_toml_config(text, source, AgentsFile, AgentsError).agents
    development = Path(source).resolve() == DEV_AGENTS_FILE
    for agent_id, entry in agents.items():
        # The package's development file holds its well-known tokens in plain text on purpose
        # (`recovery dev` prints them and writes their hashes to the stack's own agents file).
        if entry.token is not None and not development and (source, agent_id) not in _warned:
            _warned.add((source, agent_id))
            log.warning(
                "agents file %s: agent %r has a plain `token`; this is deprecated, store its hash instead "
                "(token_sha256, see `recovery agents rotate`)",
                source,
                agent_id,
            )
    return AgentDirectory(agents)


def load_agents(path: str | None = None) -> AgentDirectory:
    path = path or os.environ.get("RECOVERY_AGENTS")
    if not path:
        return AgentDirectory({})
    return parse_agents(read_config_file(path, "agents", AgentsError), path)
