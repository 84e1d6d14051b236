"""The periodic re-check of OIDC sessions at the provider's userinfo endpoint (for providers without
back-channel logout), with RECOVERY_OIDC_RECHECK_SECONDS=0 (every request), on two console
replicas: a user removed at the provider or left without a mapped group is signed out everywhere;
an expired access token is refreshed; a provider that is down or erroring signs nobody out."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.console.oidc_replicas import OLGA, Replicas, live_status, open_replicas, page, sign_in, signed_out
from tests.console.test_oidc import LEAD

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def site(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Replicas]:
    async with open_replicas(db_url, monkeypatch, recheck_seconds=0) as opened:
        yield opened


async def test_a_user_removed_at_the_provider_is_signed_out_at_the_next_request(site: Replicas) -> None:
    a, b = site.urls
    first, second = await sign_in(site, a), await sign_in(site, b)
    olga = await sign_in(site, a, OLGA)
    assert (await page(b, first)).status_code == 200
    calls = site.provider.userinfo_calls
    assert calls >= 1  # asked on that request (0 s between checks)

    await site.provider.remove_user(LEAD["sub"], notify=False)  # a provider that sends no logout
    assert signed_out(await page(b, first))
    assert signed_out(await page(a, second))  # every session of the user, not only the one checked
    assert await live_status(b, second) == 401
    assert (await page(b, olga)).status_code == 200
    rows = await site.db.fetch(
        "SELECT ended_at, access_token, refresh_token FROM console_sessions WHERE oidc_sub='u-1'"
    )
    assert all(r["ended_at"] is not None and r["access_token"] is None and r["refresh_token"] is None for r in rows)


async def test_a_user_whose_group_no_longer_maps_to_a_role_is_signed_out(site: Replicas) -> None:
    a, b = site.urls
    cookie = await sign_in(site, a)
    assert (await page(b, cookie)).status_code == 200
    site.provider.accounts[LEAD["sub"]]["groups"] = ["marketing"]  # removed from support-leads
    assert signed_out(await page(b, cookie))
    assert signed_out(await page(a, cookie))


async def test_a_user_moved_to_another_mapped_group_signs_in_again(site: Replicas) -> None:
    cookie = await sign_in(site, site.urls[0])
    site.provider.accounts[LEAD["sub"]]["groups"] = ["support"]  # now an agent, no longer a team lead
    assert signed_out(await page(site.urls[1], cookie))


async def test_an_expired_access_token_is_refreshed_and_a_refused_refresh_signs_out(site: Replicas) -> None:
    a, b = site.urls
    cookie = await sign_in(site, a)
    before = await site.db.fetchrow("SELECT access_token, refresh_token FROM console_sessions")
    site.provider.expire_access_tokens()
    assert (await page(b, cookie)).status_code == 200
    assert site.provider.refreshes == 1
    after = await site.db.fetchrow("SELECT access_token, refresh_token FROM console_sessions")
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]  # the provider rotates refresh tokens
    assert (await page(a, cookie)).status_code == 200 and site.provider.refreshes == 1  # the new one works

    site.provider.expire_access_tokens()
    await site.provider.remove_user(LEAD["sub"], notify=False)  # the refresh is refused: invalid_grant
    assert signed_out(await page(a, cookie))


async def test_concurrent_requests_refreshing_at_once_sign_nobody_out(site: Replicas) -> None:
    """The provider rotates refresh tokens: of requests refreshing the same one at once, all but the
    first are refused `invalid_grant`, which must not read as the user being gone."""
    a, b = site.urls
    cookie = await sign_in(site, a)
    for _ in range(3):
        site.provider.expire_access_tokens()
        answers = await asyncio.gather(*(page(url, cookie) for url in (a, b, a, b, a, b)))
        assert [r.status_code for r in answers] == [200] * 6
    assert site.provider.refreshes >= 3
    assert (await page(a, cookie)).status_code == 200


async def test_a_provider_that_is_down_signs_nobody_out(site: Replicas, caplog: pytest.LogCaptureFixture) -> None:
    a, b = site.urls
    cookie = await sign_in(site, a)
    site.provider.outage = True  # 503 from userinfo and the token endpoint
    for url in (a, b):
        assert (await page(url, cookie)).status_code == 200
    assert "re-check of rita.lead skipped" in caplog.text and "503" in caplog.text
    site.provider.expire_access_tokens()
    assert (await page(a, cookie)).status_code == 200  # the refresh got a 503 too

    await site.stop_provider()  # gone altogether: connection refused
    caplog.clear()
    for url in (a, b):
        assert (await page(url, cookie)).status_code == 200
    assert "re-check of rita.lead skipped" in caplog.text and "ConnectError" in caplog.text
    assert await site.db.fetchval("SELECT count(*) FROM console_sessions WHERE ended_at IS NULL") == 1


async def test_sign_out_drops_the_providers_tokens(site: Replicas) -> None:
    a, b = site.urls
    cookie = await sign_in(site, a)
    queue = await page(b, cookie)
    csrf = re.search(r'name="csrf" value="([^"]+)"', queue.text)
    assert csrf is not None
    async with httpx.AsyncClient() as http:
        bye = await http.post(
            f"{b}/logout", data={"csrf": csrf.group(1)}, headers={"Cookie": f"recovery_session={cookie}"}
        )
    assert bye.status_code == 303, bye.text
    row = await site.db.fetchrow("SELECT ended_at, access_token, refresh_token FROM console_sessions")
    assert row["ended_at"] is not None and row["access_token"] is None and row["refresh_token"] is None
    assert signed_out(await page(a, cookie))
