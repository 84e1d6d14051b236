"""OIDC Back-Channel Logout against the loopback provider, on two console replicas sharing one
database: a user removed at the provider is signed out everywhere at their next request; logout
tokens that are tampered with, for another audience, expired or otherwise wrong are refused with 400
and end nothing; refused tokens are rate limited per address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

import console.live
from starter.intake import IntakeConfig
from starter.intake.config import RateLimits
from tests.console.oidc_provider import Provider
from tests.console.oidc_replicas import (
    OLGA,
    Replicas,
    live_status,
    open_replicas,
    page,
    sign_in,
    signed_out,
)
from tests.console.test_oidc import LEAD

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def site(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Replicas]:
    async with open_replicas(db_url, monkeypatch) as opened:
        yield opened


async def test_a_user_removed_at_the_provider_loses_every_session_on_every_replica(site: Replicas) -> None:
    a, b = site.urls
    on_a, on_b = await sign_in(site, a), await sign_in(site, b)
    olga = await sign_in(site, a, OLGA)
    for url in (a, b):
        for cookie in (on_a, on_b, olga):
            assert (await page(url, cookie)).status_code == 200
    rows = await site.db.fetch(
        "SELECT oidc_sub, oidc_sid, access_token FROM console_sessions WHERE agent = 'rita.lead'"
    )
    assert [r["oidc_sub"] for r in rows] == ["u-1", "u-1"]
    assert all(r["oidc_sid"] and r["access_token"] for r in rows)  # recorded at sign-in, server-side only
    assert all(r["access_token"] not in on_a + on_b for r in rows)

    site.provider.rotate()  # the logout token comes signed with a key the console has not seen yet
    answer = await site.provider.remove_user(LEAD["sub"])
    assert answer is not None and answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"

    for url in (a, b):
        for cookie in (on_a, on_b):
            assert signed_out(await page(url, cookie))
            assert await live_status(url, cookie) == 401
        assert (await page(url, olga)).status_code == 200  # another user's session is untouched
        api = await page(url, on_a, "/v1/reports/sla")  # the API takes bearer tokens, never the cookie
        assert api.status_code == 401 and api.json()["error"] == "unauthorized"
    ended = await site.db.fetch(
        "SELECT ended_at, access_token, refresh_token FROM console_sessions WHERE oidc_sub = 'u-1'"
    )
    assert len(ended) == 2 and all(r["ended_at"] is not None for r in ended)
    assert all(r["access_token"] is None and r["refresh_token"] is None for r in ended)  # tokens dropped
    assert site.provider.userinfo_calls == 0  # the back-channel logout did it, not a re-check


async def test_a_logout_token_naming_only_a_provider_session_ends_that_session(site: Replicas) -> None:
    a, b = site.urls
    first, second = await sign_in(site, a), await sign_in(site, b)
    sid = await site.db.fetchval(
        "SELECT oidc_sid FROM console_sessions WHERE agent = 'rita.lead' ORDER BY created_at LIMIT 1"
    )
    answer = await site.provider.send_logout(site.provider.logout_token(sid=sid))
    assert answer.status_code == 200, answer.text
    assert signed_out(await page(b, first))
    assert (await page(a, second)).status_code == 200


def _bad_tokens(provider: Provider) -> dict[str, tuple[str, str]]:
    """What is wrong → (a piece of the refusal's detail, the token)."""
    good = provider.logout_token(sub=LEAD["sub"])
    head, body, signature = good.split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    sub = LEAD["sub"]
    return {
        "a tampered signature": ("bad_signature", f"{head}.{body}.{flipped}"),
        "another audience": ("claim 'aud'", provider.logout_token(sub=sub, aud="another-client")),
        "an expired token": ("expired", provider.logout_token(sub=sub, iat=1_000_000_000, exp=1_000_000_120)),
        "an old token without exp": ("600 s ago", provider.logout_token(sub=sub, iat=1_000_000_000, exp=None)),
        "another issuer": ("claim 'iss'", provider.logout_token(sub=sub, iss="http://127.0.0.1:1")),
        "a key the JWKS does not hold": ("unknown key", provider.logout_token(sub=sub, key=Provider._new_key())),
        "no events claim": ("no events claim", provider.logout_token(sub=sub, events=None)),
        "another event": ("no events claim", provider.logout_token(sub=sub, events={"http://example.com/x": {}})),
        "a nonce (an ID token)": ("holds a nonce", provider.logout_token(sub=sub, nonce="n-1")),
        "neither sub nor sid": ("neither sub nor sid", provider.logout_token()),
        "no iat": ("'iat'", provider.logout_token(sub=sub, iat=None)),
        "not a JWS": ("not a JWS", "not-a-token"),
        "a JWS of junk": ("logout token", "e30.W10.AAAA"),
    }


async def test_bad_logout_tokens_are_refused_with_400_and_end_nothing(site: Replicas) -> None:
    a, b = site.urls
    cookie = await sign_in(site, a)
    async with httpx.AsyncClient() as http:
        for n, (what, (why, token)) in enumerate(_bad_tokens(site.provider).items()):
            url = site.urls[n % 2]  # both replicas; each stays under its limit of refused tokens
            answer = await http.post(f"{url}/login/oidc/backchannel-logout", data={"logout_token": token})
            assert answer.status_code == 400, f"{what}: {answer.status_code} {answer.text}"
            assert answer.json()["error"] == "invalid_logout_token", what
            assert why in answer.json()["detail"], f"{what}: {answer.json()['detail']}"
        missing = await http.post(f"{b}/login/oidc/backchannel-logout", data={"token": "x"})
        assert missing.status_code == 400 and "exactly one logout_token" in missing.json()["detail"]
    assert await site.db.fetchval("SELECT count(*) FROM console_sessions WHERE ended_at IS NOT NULL") == 0
    for url in (a, b):
        assert (await page(url, cookie)).status_code == 200
    answer = await site.provider.send_logout(site.provider.logout_token(sub=LEAD["sub"]))  # the control
    assert answer.status_code == 200 and signed_out(await page(b, cookie))


async def test_refused_logout_tokens_are_rate_limited_per_address(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    limits = RateLimits(logout_token_failures_per_address=3)
    async with open_replicas(db_url, monkeypatch, intake=IntakeConfig(rate_limits=limits)) as site:
        cookie = await sign_in(site, site.urls[0])
        unknown = site.provider.logout_token(sub="nobody")
        for _ in range(5):  # accepted tokens never count
            assert (await site.provider.send_logout(unknown)).status_code == 200
        bad = site.provider.logout_token(sub=LEAD["sub"], aud="another-client")
        for _ in range(3):
            assert (await site.provider.send_logout(bad)).status_code == 400
        good = site.provider.logout_token(sub=LEAD["sub"])
        limited = await site.provider.send_logout(good)
        assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert (await page(site.urls[0], cookie)).status_code == 200  # the limited one ended nothing


async def test_an_open_live_stream_ends_with_the_session(site: Replicas, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console.live, "KEEPALIVE_SECONDS", 0.2)  # the session is asked again at each keepalive
    a, b = site.urls
    cookie = await sign_in(site, a)
    async with httpx.AsyncClient(timeout=10) as http:
        async with http.stream("GET", f"{b}/live", headers={"Cookie": f"recovery_session={cookie}"}) as stream:
            assert stream.status_code == 200
            chunks = stream.aiter_text()
            seen = ""
            while seen.count("keepalive") < 2:  # signed in: the stream goes on
                seen += await asyncio.wait_for(anext(chunks), 5)
            answer = await site.provider.remove_user(LEAD["sub"])
            assert answer is not None and answer.status_code == 200

            async def drain() -> None:
                async for _ in chunks:
                    pass

            await asyncio.wait_for(drain(), 5)  # ended by the server, not left open
    assert await live_status(b, cookie) == 401
