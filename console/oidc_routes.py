"""The console's OIDC sign-in routes: `GET /login/oidc` starts the code flow (state, nonce and PKCE
verifier sealed in a short-lived signed cookie), `GET /login/oidc/callback` finishes it and signs
the agent in with the role the mapping gives their claims (console/oidc.py). The session records the
provider's `sub` and `sid` and keeps its tokens server-side, so the provider can end it: by a
back-channel logout (console/oidc_logout.py) or at the periodic userinfo re-check
(console/oidc_recheck.py).

The flow cookie is SameSite=Lax, not Strict: the provider's redirect back is a cross-site
navigation, on which a Strict cookie is not sent. For the same reason the callback answers with a
page that moves on to the console itself, so the first signed-in page is requested from this site
and carries the (Strict) session cookie.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from console import views
from console.oidc import Flow, OidcClient, OidcConfig, OidcRefused
from console.oidc_logout import install_backchannel_logout
from console.oidc_recheck import ProviderRecheck
from console.session import SESSION_COOKIE, SessionKeeper
from console.session_store import ProviderLink
from starter.agents import AgentDirectory

log = logging.getLogger("recovery.console.oidc")

FLOW_COOKIE = "recovery_oidc"
FLOW_TTL = 600
"""Seconds a sign-in may take at the provider before it must be started again."""
CALLBACK = "/login/oidc/callback"


def redirect_uri(config: OidcConfig, request: Request) -> str:
    base = config.console_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK


def install_oidc(
    router: APIRouter,
    config: OidcConfig,
    keeper: SessionKeeper,
    page: Callable[..., Response],
    agents: Callable[[], AgentDirectory],
    zone_default: str,
    safe_next: Callable[[str], str],
) -> OidcClient:
    """Add the sign-in routes and the back-channel logout to `router`; sessions signed in through them
    carry the provider's fingerprint and are re-checked with the provider."""
    client = OidcClient(config)
    keeper.oidc_fp = config.fingerprint
    keeper.provider_check = ProviderRecheck(client, keeper.store)
    install_backchannel_logout(router, client, keeper)

    def refused(request: Request, err: OidcRefused) -> Response:
        log.warning("OIDC sign-in refused: %s", err.reason)
        title = "The sign-in provider is unreachable" if err.status == 502 else "Sign-in refused"
        response = page("oidc_refused.html", request, None, err.status, title=title, text=err.text)
        response.delete_cookie(FLOW_COOKIE, path="/")
        return response

    @router.get("/login/oidc")
    async def oidc_start(request: Request, next: str = "/", zone: str = "") -> Response:
        try:
            flow = await client.start(redirect_uri(config, request))
        except OidcRefused as err:
            return refused(request, err)
        sealed = keeper.seal(
            "oidc-flow",
            {
                "state": flow.state,
                "nonce": flow.nonce,
                "verifier": flow.verifier,
                "next": safe_next(next),
                "zone": views.zone_or(zone, zone_default),
            },
            FLOW_TTL,
        )
        response = RedirectResponse(flow.url, status_code=303)
        response.set_cookie(FLOW_COOKIE, sealed, **{**keeper.cookie_options(FLOW_TTL), "samesite": "lax"})
        return response

    @router.get(CALLBACK)
    async def oidc_callback(
        request: Request, code: str = "", state: str = "", error: str = "", error_description: str = ""
    ) -> Response:
        try:
            return await finish(request, code, state, error, error_description)
        except OidcRefused as err:
            return refused(request, err)

    async def finish(request: Request, code: str, state: str, error: str, error_description: str) -> Response:
        flow = keeper.unseal("oidc-flow", request.cookies.get(FLOW_COOKIE))
        if flow is None:
            raise OidcRefused(
                400,
                "This sign-in was not started here, or took longer than ten minutes. Start it again.",
                "no valid flow cookie",
            )
        if not state or not hmac.compare_digest(state, str(flow.get("state", ""))):
            raise OidcRefused(
                400, "This sign-in's answer does not match the one started here. Start it again.", "state mismatch"
            )
        if error:
            raise OidcRefused(
                403,
                f"{config.label} did not sign you in ({error_description[:200] or error[:80]}).",
                f"provider answered {error[:80]}",
            )
        if not code:
            raise OidcRefused(400, "The sign-in provider sent no authorization code. Start it again.", "no code")
        signed = await client.finish(
            code,
            redirect_uri(config, request),
            Flow(state=flow["state"], nonce=str(flow["nonce"]), verifier=str(flow["verifier"])),
        )
        claims = signed.claims
        agent = client.agent_of(claims)
        role = config.role_for(claims)
        if role is None:
            raise OidcRefused(
                403,
                f"You are signed in at {config.label} as {agent}, but your account is in no group that "
                "may use the console. Ask your team lead to add you to the support group.",
                f"{agent}: no mapped claim",
            )
        if agents().role_of(agent) is not None:
            raise OidcRefused(
                403,
                f"The agent id {agent} is also in the agents file: sign in with that agent's token, or ask "
                "your administrator to remove the entry.",
                f"{agent}: also in the agents file",
            )
        sid = claims.get("sid")
        link = ProviderLink(
            sub=str(claims["sub"]),
            sid=sid if isinstance(sid, str) and sid else None,
            access_token=signed.access_token,
            refresh_token=signed.refresh_token,
        )
        _, cookie = await keeper.issue(agent, role, str(flow["zone"]), config.fingerprint, link)
        log.info("OIDC sign-in: %s as %s", agent, role)
        response = page("oidc_continue.html", request, None, next=flow["next"], agent=agent, role=role)
        response.set_cookie(SESSION_COOKIE, cookie, **keeper.cookie_options(int(keeper.ttl.total_seconds())))
        response.delete_cookie(FLOW_COOKIE, path="/")
        return response

    return client


def oidc_from(settings: Any) -> OidcConfig | None:
    """The API settings' OIDC configuration (tests give one), else the environment's."""
    found = getattr(settings, "oidc", None)
    return found if found is not None else OidcConfig.from_env()
