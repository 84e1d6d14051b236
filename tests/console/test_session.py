"""Console sessions without a browser: signatures, expiry, logout, CSRF binding."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from console.session import SessionKeeper


def test_a_session_cookie_is_signed_names_no_token_and_expires() -> None:
    keeper = SessionKeeper(b"k" * 32, ttl=timedelta(seconds=1))
    session, cookie = keeper.issue("alice", "agent", "Europe/Berlin")
    assert keeper.read(cookie) == session
    body, _, mac = cookie.rpartition(".")
    assert keeper.read(f"{body}.{mac[:-1]}x") is None  # tampered signature
    assert keeper.read(cookie.replace(body, body[:-2] + "AA")) is None  # tampered body
    assert SessionKeeper(b"o" * 32).read(cookie) is None  # another secret
    time.sleep(1.1)
    assert keeper.read(cookie) is None  # expired


def test_logout_ends_the_session_and_csrf_is_bound_to_it() -> None:
    keeper = SessionKeeper(b"k" * 32)
    first, cookie = keeper.issue("alice", "agent", "UTC")
    second, _ = keeper.issue("alice", "agent", "UTC")
    assert keeper.check(keeper.csrf_for(first), keeper.csrf_for(first))
    assert not keeper.check(keeper.csrf_for(first), keeper.csrf_for(second))
    assert not keeper.check(keeper.csrf_for(first), None)
    keeper.end(first)
    assert keeper.read(cookie) is None


@pytest.mark.parametrize("ttl", ["30m", "12h"])
def test_the_session_lifetime_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, ttl: str) -> None:
    monkeypatch.setenv("RECOVERY_SESSION_TTL", ttl)
    monkeypatch.setenv("RECOVERY_CONSOLE_SECRET", "shared-secret")
    keeper = SessionKeeper.from_env()
    assert keeper.ttl == {"30m": timedelta(minutes=30), "12h": timedelta(hours=12)}[ttl]
    _, cookie = keeper.issue("bob", "agent", "UTC")
    assert SessionKeeper.from_env().read(cookie) is not None  # the same secret: valid in another process
