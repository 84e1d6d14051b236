"""The agents file (`RECOVERY_AGENTS`, TOML): bearer tokens → agent id and role.

    [agents.alice]
    role = "agent"
    token_sha256 = "…"      # sha256 hex of the token (preferred), or token = "…" for development

Roles are the policy's roles (they carry compensation authority), plus two restricted ones:
`viewer` may only read cases, `intake` may only post tickets.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from pydantic import BaseModel, ConfigDict, model_validator

from recovery.config import parse_toml_config, read_config_file
from workflows.models import Actor, Identifier

VIEWER, INTAKE = "viewer", "intake"


class AgentEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Identifier
    token: str | None = None
    token_sha256: str | None = None

    @model_validator(mode="after")
    def _one_token(self) -> AgentEntry:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("give exactly one of token or token_sha256")
        if self.token is not None and len(self.token) < 16:
            raise ValueError("token must be at least 16 characters")
        return self

    def digest(self) -> bytes:
        if self.token_sha256 is not None:
            return bytes.fromhex(self.token_sha256)
        assert self.token is not None
        return hashlib.sha256(self.token.encode()).digest()


class AgentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agents: dict[Identifier, AgentEntry] = {}


class AgentsError(ValueError):
    pass


class AgentDirectory:
    def __init__(self, agents: dict[str, AgentEntry]):
        self._digests = [(agent_id, entry.role, entry.digest()) for agent_id, entry in agents.items()]

    def authenticate(self, token: str) -> Actor | None:
        """The agent holding `token`, comparing digests in constant time against every entry."""
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for agent_id, role, expected in self._digests:
            if hmac.compare_digest(digest, expected):
                found = Actor(id=agent_id, role=role)
        return found

    def role_of(self, agent_id: str) -> str | None:
        """The role of agent `agent_id`, None when the file has no such agent."""
        return next((role for known, role, _ in self._digests if known == agent_id), None)

    def members(self) -> list[tuple[str, str]]:
        """(agent id, role) of every agent in the file, by id."""
        return sorted((agent_id, role) for agent_id, role, _ in self._digests)

    def __len__(self) -> int:
        return len(self._digests)


def parse_agents(text: str, source: str) -> AgentDirectory:
    return AgentDirectory(parse_toml_config(text, source, AgentsFile, AgentsError).agents)


def load_agents(path: str | None = None) -> AgentDirectory:
    path = path or os.environ.get("RECOVERY_AGENTS")
    if not path:
        return AgentDirectory({})
    return parse_agents(read_config_file(path, "agents", AgentsError), path)
