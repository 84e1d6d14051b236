"""Console sessions without a browser: signatures, expiry, logout, CSRF binding, the agents file check
(with the process-local store; the PostgreSQL one is in test_session_replicas)."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest

from console.session import SessionKeeper
from starter.agents import parse_agents
from tests.helpers import eventually

ALICE = "dev-alice-0123456789"
AGENTS = f'[agents.alice]\nrole = "agent"\ntoken = "{ALICE}"\n[agents.bob]\nrole = "agent"\ntoken = "{"b" * 20}"\n'


async def test_a_session_cookie_is_signed_names_no_token_and_expires() -> None:
    keeper = SessionKeeper(b"k" * 32, ttl=timedelta(seconds=1))
    session, cookie = await keeper.issue("alice", "agent", "Europe/Berlin")
    assert await keeper.read(cookie) == session
    body, _, mac = cookie.rpartition(".")
    fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert set(fields) == {"sid", "agent", "role", "zone", "exp"} and ALICE not in cookie
    assert await keeper.read(f"{body}.{mac[:-1]}x") is None  # tampered signature
    assert await keeper.read(cookie.replace(body, body[:-2] + "AA")) is None  # tampered body
    assert await SessionKeeper(b"o" * 32).read(cookie) is None  # another secret

    async def expired() -> bool:
        return await keeper.read(cookie) is None

    await eventually(expired, timeout=5)


async def test_logout_ends_the_session_and_csrf_is_bound_to_it() -> None:
    keeper = SessionKeeper(b"k" * 32)
    first, cookie = await keeper.issue("alice", "agent", "UTC")
    second, _ = await keeper.issue("alice", "agent", "UTC")
    assert keeper.check(keeper.csrf_for(first), keeper.csrf_for(first))
    assert not keeper.check(keeper.csrf_for(first), keeper.csrf_for(second))
    assert not keeper.check(keeper.csrf_for(first), None)
    await keeper.end(first)
    assert await keeper.read(cookie) is None


async def test_a_session_ends_when_its_agent_leaves_the_file_or_changes_role_or_token() -> None:
    agents = parse_agents(AGENTS, "agents.toml")
    keeper = SessionKeeper(b"k" * 32)
    _, alice = await keeper.issue("alice", "agent", "UTC", agents.fingerprint("alice") or "")
    _, bob = await keeper.issue("bob", "agent", "UTC", agents.fingerprint("bob") or "")
    assert await keeper.read(alice, agents) is not None and await keeper.read(bob, agents) is not None

    without_alice = parse_agents(AGENTS.split("[agents.bob]")[0].replace("alice", "carol"), "agents.toml")
    assert await keeper.read(alice, without_alice) is None
    assert await keeper.read(alice, agents) is None  # ended for good, even if alice comes back

    promoted = parse_agents(AGENTS.replace('bob]\nrole = "agent"', 'bob]\nrole = "team-lead"'), "agents.toml")
    assert await keeper.read(bob, promoted) is None
    _, bob = await keeper.issue("bob", "agent", "UTC", agents.fingerprint("bob") or "")
    rotated = parse_agents(AGENTS.replace("b" * 20, "c" * 20), "agents.toml")
    assert await keeper.read(bob, rotated) is None


@pytest.mark.parametrize("ttl", ["30m", "12h"])
async def test_the_session_lifetime_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, ttl: str) -> None:
    monkeypatch.setenv("RECOVERY_SESSION_TTL", ttl)
    monkeypatch.setenv("RECOVERY_CONSOLE_SECRET", "shared-secret")
    keeper = SessionKeeper.from_env()
    assert keeper.ttl == {"30m": timedelta(minutes=30), "12h": timedelta(hours=12)}[ttl]
    session, cookie = await keeper.issue("bob", "agent", "UTC")
    other = SessionKeeper.from_env(keeper.store)  # the same secret and store: valid in another process
    assert await other.read(cookie) == session
    assert session.expires > time.time()


async def test_the_process_local_store_ends_a_provider_users_sessions_and_drops_their_tokens() -> None:
    from console.session_store import MemorySessions, ProviderLink

    store = MemorySessions()
    far = time.time() + 3600
    await store.create("k1", "rita", "team-lead", "oidc:x", far, ProviderLink("u-1", "s-1", "at-1", "rt-1"))
    await store.create("k2", "rita", "team-lead", "oidc:x", far, ProviderLink("u-1", "s-2", "at-2", "rt-2"))
    await store.create("k3", "olga", "agent", "oidc:x", far, ProviderLink("u-3", "s-3", "at-3", "rt-3"))
    assert not await store.claim_check("k1", 300)  # just signed in: checked
    assert await store.claim_check("k1", 0)
    assert not await store.claim_check("k1", 0)  # under way: a concurrent request does not ask too
    await store.release_check("k1")
    assert await store.claim_check("k1", 0)
    await store.save_tokens("k1", "at-new", "rt-new")
    assert (await store.lookup("k1")).link == ProviderLink("u-1", "s-1", "at-new", "rt-new")  # type: ignore[union-attr]
    assert await store.end_subject("oidc:other", "u-1", None) == 0  # another provider's user
    assert await store.end_subject("oidc:x", None, "s-2") == 1
    assert await store.end_subject("oidc:x", "u-1", None) == 1  # the one left
    ended = await store.lookup("k1")
    assert ended is not None and not ended.live and ended.link == ProviderLink("u-1", "s-1", None, None)
    assert (await store.lookup("k3")).live  # type: ignore[union-attr]
