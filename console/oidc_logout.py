"""OpenID Connect Back-Channel Logout 1.0: the provider POSTs a signed logout token to
`/login/oidc/backchannel-logout` when a user signs out there or is removed, and every console
session of that user ends in the session store, so every API replica refuses them at their next
request.

The logout token is checked as the specification asks (section 2.6): its RS256 signature against the
provider's JWKS (an unknown `kid` fetches the JWKS again, once), `iss`, `aud`, `iat` (and `exp`
when present), the `events` claim naming the back-channel logout event, no `nonce`, and a `sub` or
`sid`. With a `sub`, every session of that user ends (also those of other provider sessions: the
console has no use for a removed user's other sessions); with only a `sid`, that provider session's.
The answer is 200, or 400 with a JSON error for a token that does not pass (never 500).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.oidc import LEEWAY, OidcClient, OidcRefused
from console.session import SessionKeeper
from starter.api.errors import error_response
from starter.api.ratelimit import BACKCHANNEL_LOGOUT

log = logging.getLogger("recovery.console.oidc")

EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_AGE = 600
"""Seconds after its `iat` a logout token without `exp` is still taken (a replayed old one is not)."""


class BadLogoutToken(ValueError):
    pass


async def subject_of(client: OidcClient, token: str) -> tuple[str | None, str | None]:
    """The `sub` and `sid` a valid logout token names; BadLogoutToken saying why it is not one."""
    try:
        claims = await client.decode(token, "logout token", {"iat": {"essential": True}})
    except OidcRefused as err:
        raise BadLogoutToken(err.reason) from None
    return check_claims(claims, time.time())


def check_claims(claims: Mapping[str, Any], now: float) -> tuple[str | None, str | None]:
    """What the signature check leaves to the logout token's own rules (section 2.4)."""
    iat = claims.get("iat")
    if "exp" not in claims and isinstance(iat, int | float) and iat < now - MAX_AGE - LEEWAY:
        raise BadLogoutToken(f"logout token issued more than {MAX_AGE} s ago")
    events = claims.get("events")
    if not isinstance(events, Mapping) or not isinstance(events.get(EVENT), Mapping):
        raise BadLogoutToken(f"logout token has no events claim with {EVENT}")
    if "nonce" in claims:
        raise BadLogoutToken("logout token holds a nonce (an ID token is not a logout token)")
    sub, sid = claims.get("sub"), claims.get("sid")
    if not isinstance(sub, str | None) or not isinstance(sid, str | None):
        raise BadLogoutToken("logout token's sub or sid is not a string")
    if not sub and not sid:
        raise BadLogoutToken("logout token names neither sub nor sid")
    return sub or None, sid or None


def install_backchannel_logout(router: APIRouter, client: OidcClient, keeper: SessionKeeper) -> None:
    fingerprint = client.config.fingerprint

    def refused(reason: str) -> Response:
        log.warning("OIDC back-channel logout refused: %s", reason)
        response = error_response(400, "invalid_logout_token", reason[:300])
        response.headers["Cache-Control"] = "no-store"
        return response

    @router.post(BACKCHANNEL_LOGOUT)
    async def backchannel_logout(request: Request) -> Response:
        form = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        tokens = [value for name, value in form if name == "logout_token"]
        if len(tokens) != 1 or not tokens[0]:
            return refused("the form must hold exactly one logout_token")
        try:
            sub, sid = await subject_of(client, tokens[0])
        except BadLogoutToken as err:
            return refused(str(err))
        except Exception as err:  # anything a malformed JWS makes the JOSE library raise: still the token's fault
            return refused(f"logout token unreadable: {type(err).__name__}")
        ended = await keeper.store.end_subject(fingerprint, sub, sid)
        log.info("OIDC back-channel logout: sub=%s sid=%s, %d sessions ended", sub, sid, ended)
        return Response(status_code=200, headers={"Cache-Control": "no-store"})
