"""Console sign-in with OIDC against a real provider on loopback (tests/console/oidc_provider.py,
Authlib's AuthorizationServer with PKCE and RS256 ID tokens): in chromium, a support lead is signed
in as `team-lead` and a user in no mapped group is refused; over httpx, a tampered `state`, an
expired ID token, a token signed by a key the JWKS does not hold and key rotation (an unknown
`kid` fetches the JWKS again, once)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, expect

from console.oidc import OidcConfig, parse_roles
from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig
from tests.console.conftest import ROOT, console_policy
from tests.console.oidc_provider import Provider
from tests.helpers import free_port

pytestmark = pytest.mark.timeout(120)
ROLES = "groups:support-leads=team-lead,groups:support=agent"
LEAD = {"sub": "u-1", "preferred_username": "rita.lead", "email": "rita@example.com", "groups": ["support-leads"]}


def provider_config(provider: Provider, recheck_seconds: float = 300.0) -> OidcConfig:
    """The console's OIDC settings for the test provider: its issuer and client, ROLES mapped."""
    return OidcConfig(
        issuer=provider.issuer,
        client_id=provider.client.client_id,
        client_secret=provider.client.client_secret,
        roles=parse_roles(ROLES),
        name="Example ID",
        recheck_seconds=recheck_seconds,
    )


async def _serve(app, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 15
    while not server.started:
        assert not task.done(), "the server did not start"
        assert asyncio.get_running_loop().time() < deadline, "the server did not start in 15 s"
        await asyncio.sleep(0.05)
    return server, task


async def _stop(server: uvicorn.Server, task: asyncio.Task) -> None:
    server.should_exit = True
    server.force_exit = True
    await asyncio.wait_for(task, 15)


@dataclass
class Site:
    url: str
    provider: Provider
    db: asyncpg.Pool


@pytest.fixture
async def site(db_url: str) -> AsyncIterator[Site]:
    db = await asyncpg.create_pool(db_url, min_size=1, max_size=5)
    provider = Provider()
    provider_port, console_port = free_port(), free_port()
    provider.issuer = f"http://127.0.0.1:{provider_port}"
    console_url = f"http://127.0.0.1:{console_port}"
    provider.client.redirect_uris = [f"{console_url}/login/oidc/callback"]
    provider.user = dict(LEAD)

    async def database() -> asyncpg.Pool:
        return db

    async def no_temporal():
        raise RuntimeError("these tests do not reach Temporal")

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(),
        policy=console_policy(),
        task_queue="oidc-tests",
        database=database,
        oidc=provider_config(provider),
    )
    idp = await _serve(provider.app, provider_port)
    console = await _serve(create_app(settings, no_temporal), console_port)
    try:
        yield Site(url=console_url, provider=provider, db=db)
    finally:
        await _stop(*console)
        await _stop(*idp)
        try:
            await asyncio.wait_for(db.close(), 3)  # the console's LISTEN connection stays taken
        except TimeoutError:
            db.terminate()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


async def test_support_lead_signs_in_as_team_lead_in_the_browser(site: Site, browser: Browser) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{site.url}/reports")  # signed out: sent to sign-in, and back here after it
        await expect(page.locator("#token")).to_be_visible()  # the token form stays beside the provider
        await page.get_by_role("button", name="Sign in with Example ID").click()
        await page.wait_for_url(f"{site.url}/reports", timeout=15_000)
        await expect(page.locator(".who")).to_contain_text("Signed in as rita.lead (team-lead)")
        await page.goto(f"{site.url}/")
        await expect(page.locator(".who")).to_contain_text("rita.lead (team-lead)")
        row = await site.db.fetchrow("SELECT agent, role, token_fp FROM console_sessions")
        assert (row["agent"], row["role"]) == ("rita.lead", "team-lead")
        assert row["token_fp"].startswith("oidc:")
        cookies = {c["name"]: c for c in await context.cookies()}
        assert "recovery_oidc" not in cookies  # the flow's state, nonce and verifier are gone
        assert cookies["recovery_session"]["httpOnly"] and cookies["recovery_session"]["sameSite"] == "Strict"
    finally:
        await context.close()


async def test_user_in_no_mapped_group_is_refused_in_the_browser(site: Site, browser: Browser) -> None:
    site.provider.user = {"sub": "u-2", "preferred_username": "sam", "groups": ["marketing"]}
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{site.url}/login")
        await page.get_by_role("button", name="Sign in with Example ID").click()
        refused = page.locator("#oidc-refused")
        await expect(refused).to_contain_text("in no group that may use the console", timeout=15_000)
        await expect(page.get_by_role("heading", name="Sign-in refused")).to_be_visible()
        assert await site.db.fetchval("SELECT count(*) FROM console_sessions") == 0
        await page.goto(f"{site.url}/")
        await expect(page.locator("#token")).to_be_visible()  # still signed out
    finally:
        await context.close()


async def _to_callback(http: httpx.AsyncClient, site: Site) -> httpx.URL:
    """Start a sign-in at the console and follow it through the provider: the callback URL it sends
    the browser back to (with code and state), not yet visited."""
    start = await http.get(f"{site.url}/login/oidc", params={"next": "/"})
    assert start.status_code == 303, start.text
    at_provider = await http.get(start.headers["location"])
    assert at_provider.status_code == 302, at_provider.text
    return httpx.URL(at_provider.headers["location"])


async def test_good_sign_in_over_http_then_tampered_state_is_refused(site: Site) -> None:
    async with httpx.AsyncClient() as http:
        callback = await _to_callback(http, site)
        answer = await http.get(callback)
        assert answer.status_code == 200 and "recovery_session" in answer.cookies  # the control: it works

    async with httpx.AsyncClient() as http:
        callback = await _to_callback(http, site)
        query = parse_qs(urlsplit(str(callback)).query)
        tampered = callback.copy_set_param("state", query["state"][0][:-2] + "xx")
        answer = await http.get(tampered)
        assert answer.status_code == 400
        assert "does not match the one started here" in answer.text
        assert "recovery_session" not in answer.cookies
    assert await site.db.fetchval("SELECT count(*) FROM console_sessions") == 1


async def test_expired_id_token_is_refused(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    site.provider.id_token_ttl = -600  # expired ten minutes ago, past the minute of leeway
    async with httpx.AsyncClient() as http:
        answer = await http.get(await _to_callback(http, site))
    assert answer.status_code == 401
    assert "expired" in caplog.text  # refused for its expiry, not for something else
    assert "answer was not accepted" in answer.text
    assert "recovery_session" not in answer.cookies
    assert await site.db.fetchval("SELECT count(*) FROM console_sessions") == 0


async def test_id_token_signed_by_an_unpublished_key_is_refused(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    site.provider.rogue_key = Provider._new_key()
    async with httpx.AsyncClient() as http:
        answer = await http.get(await _to_callback(http, site))
    assert answer.status_code == 401 and "recovery_session" not in answer.cookies
    assert "unknown key" in caplog.text
    assert site.provider.jwks_fetches == 2  # the unknown kid fetched the JWKS again, once


async def test_rotated_keys_are_fetched_again_once(site: Site) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(await _to_callback(http, site))).status_code == 200
    assert site.provider.jwks_fetches == 1
    site.provider.rotate()
    async with httpx.AsyncClient() as http:
        answer = await http.get(await _to_callback(http, site))
    assert answer.status_code == 200 and "recovery_session" in answer.cookies
    assert site.provider.jwks_fetches == 2
    async with httpx.AsyncClient() as http:  # the new key is kept: no fetch for the next sign-in
        assert (await http.get(await _to_callback(http, site))).status_code == 200
    assert site.provider.jwks_fetches == 2


async def test_a_tampered_id_token_signature_or_audience_is_refused(site: Site) -> None:
    """The checks themselves, on tokens the provider signs: a flipped signature, another audience,
    another nonce."""
    from console.oidc import OidcClient, OidcRefused
    from tests.console.oidc_provider import Code

    client = OidcClient(OidcConfig(site.provider.issuer, "console", "x", parse_roles(ROLES)))
    code = Code("c", "console", "", "openid", dict(LEAD), "n-1", None, None, 0)
    good = site.provider.sign_id_token(code)
    assert (await client.verify(good, "n-1"))["preferred_username"] == "rita.lead"
    head, body, sig = good.split(".")
    flipped = f"{head}.{body}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
    with pytest.raises(OidcRefused, match="signature"):
        await client.verify(flipped, "n-1")
    with pytest.raises(OidcRefused, match="nonce"):
        await client.verify(good, "n-2")
    other = OidcClient(OidcConfig(site.provider.issuer, "another-client", "x", parse_roles(ROLES)))
    with pytest.raises(OidcRefused, match="claim 'aud'"):
        await other.verify(good, "n-1")
    site.provider.token_issuer = "http://127.0.0.1:1"  # signed with the provider's key, naming another issuer
    with pytest.raises(OidcRefused, match="claim 'iss'"):
        await client.verify(site.provider.sign_id_token(code), "n-1")


async def test_the_user_declining_at_the_provider_is_refused(site: Site) -> None:
    site.provider.deny = True
    async with httpx.AsyncClient() as http:
        answer = await http.get(await _to_callback(http, site))
    assert answer.status_code == 403
    assert "Example ID did not sign you in" in answer.text
    assert await site.db.fetchval("SELECT count(*) FROM console_sessions") == 0
