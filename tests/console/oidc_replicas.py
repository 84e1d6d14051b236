"""Two console replicas (each its own app and session keeper, on its own loopback port) on one
migrated PostgreSQL database, signing in through one loopback OIDC provider
(tests/console/oidc_provider.py). No Temporal: the pages used read only the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig
from tests.console.conftest import ROOT, console_policy
from tests.console.oidc_provider import Provider
from tests.console.test_oidc import LEAD, _serve, _stop, provider_config
from tests.helpers import free_port

OLGA = {"sub": "u-3", "preferred_username": "olga", "groups": ["support"]}
HTML = {"Accept": "text/html"}


@dataclass
class Replicas:
    urls: list[str]
    provider: Provider
    db: asyncpg.Pool
    provider_server: tuple

    async def stop_provider(self) -> None:
        await _stop(*self.provider_server)


@asynccontextmanager
async def open_replicas(
    db_url: str, monkeypatch: pytest.MonkeyPatch, recheck_seconds: float = 300.0, intake: IntakeConfig | None = None
) -> AsyncIterator[Replicas]:
    monkeypatch.setenv("RECOVERY_CONSOLE_SECRET", "replicas-share-this-secret")
    db = await asyncpg.create_pool(db_url, min_size=1, max_size=6)
    provider = Provider()
    provider_port, ports = free_port(), [free_port(), free_port()]
    provider.issuer = f"http://127.0.0.1:{provider_port}"
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    provider.client.redirect_uris = [f"{url}/login/oidc/callback" for url in urls]
    provider.client.backchannel_logout_uri = f"{urls[0]}/login/oidc/backchannel-logout"
    provider.user = dict(LEAD)

    async def database() -> asyncpg.Pool:
        return db

    async def no_temporal():
        raise RuntimeError("these tests do not reach Temporal")

    config = provider_config(provider, recheck_seconds)
    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=intake or IntakeConfig(),
        policy=console_policy(),
        task_queue="oidc-replicas",
        database=database,
        oidc=config,
    )
    idp = await _serve(provider.app, provider_port)
    consoles = [await _serve(create_app(settings, no_temporal), port) for port in ports]
    try:
        yield Replicas(urls=urls, provider=provider, db=db, provider_server=idp)
    finally:
        for console in consoles:
            await _stop(*console)
        await _stop(*idp)
        try:
            await asyncio.wait_for(db.close(), 3)  # the console's LISTEN connection stays taken
        except TimeoutError:
            db.terminate()


async def sign_in(site: Replicas, url: str, user: dict | None = None) -> str:
    """Sign `user` (default: the provider's current one) in at the replica `url`: the session cookie."""
    if user is not None:
        site.provider.user = dict(user)
    async with httpx.AsyncClient() as http:
        start = await http.get(f"{url}/login/oidc", params={"next": "/"})
        assert start.status_code == 303, start.text
        at_provider = await http.get(start.headers["location"])
        assert at_provider.status_code == 302, at_provider.text
        back = await http.get(at_provider.headers["location"])
        assert back.status_code == 200, back.text
        cookie = back.cookies.get("recovery_session")
        assert cookie
        return cookie


async def page(url: str, cookie: str, path: str = "/") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(f"{url}{path}", headers={**HTML, "Cookie": f"recovery_session={cookie}"})


def signed_out(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


async def live_status(url: str, cookie: str) -> int:
    """The status `/live` answers (its stream, when signed in, is not read)."""
    async with httpx.AsyncClient(timeout=10) as http:
        async with http.stream("GET", f"{url}/live", headers={"Cookie": f"recovery_session={cookie}"}) as answer:
            return answer.status_code
