"""The periodic re-check of OIDC sessions, for providers that do not send back-channel logouts: on a
request whose session was last vouched for more than `RECOVERY_OIDC_RECHECK_SECONDS` ago, the
provider's userinfo endpoint is asked with the session's access token (refreshed with its refresh
token when the provider no longer takes it).

* The provider refuses (401/403 at userinfo, `invalid_grant` at the token endpoint), or the claims
  it answers no longer map to the session's role or agent id: every session of that user ends.
* The provider cannot be reached or answers 5xx (or anything else unexpected): the session goes on
  and the failure is logged. An outage of the provider must not sign the whole team out; the next
  check comes one interval later (so a down provider is not asked on every request).

The tokens stay in the session store (never in the cookie) and are cleared when the session ends.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from console.oidc import OidcClient, OidcRefused
from console.session_store import ProviderLink, SessionStore, StoredSession

log = logging.getLogger("recovery.console.oidc")

TIMEOUT = 5.0
"""Seconds a re-check waits for the provider: the request it runs in waits as long."""


@dataclass(frozen=True)
class Vouched:
    claims: dict[str, Any]
    access_token: str
    refresh_token: str | None


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class Unreachable:
    reason: str


Answer = Vouched | Refused | Unreachable


class ProviderRecheck:
    """`SessionKeeper.provider_check` for sessions signed in through `client`'s provider."""

    def __init__(self, client: OidcClient, store: SessionStore, timeout: float = TIMEOUT):
        self.client = client
        self.store = store
        self._timeout = timeout

    async def __call__(self, key: str, stored: StoredSession) -> bool:
        config = self.client.config
        link = stored.link
        if link is None:  # signed in before the provider's user was recorded: nothing to check it with
            await self.store.end(key)
            log.info("OIDC session of %s ended: it was signed in before subjects were recorded", stored.agent)
            return False
        if stored.checked_age is not None and stored.checked_age < config.recheck_seconds:
            return True
        if not await self.store.claim_check(key, config.recheck_seconds):
            return True  # another request is asking the provider for this session right now
        try:
            return await self._recheck(key, stored, link)
        finally:
            await self.store.release_check(key)

    async def _recheck(self, key: str, stored: StoredSession, link: ProviderLink) -> bool:
        answer = await self.ask(link)
        if isinstance(answer, Unreachable):
            log.warning("OIDC re-check of %s skipped, the session goes on: %s", stored.agent, answer.reason)
            return True
        if isinstance(answer, Vouched):
            problem = self._mismatch(answer.claims, stored, link)
            if problem is None:
                if (answer.access_token, answer.refresh_token) != (link.access_token, link.refresh_token):
                    await self.store.save_tokens(key, answer.access_token, answer.refresh_token)
                return True
            answer = Refused(problem)
        elif await self._refreshed_meanwhile(key, link):
            return True  # a concurrent request refreshed first, and the provider rotated the token we used
        ended = await self.store.end_subject(stored.token_fp, link.sub, None)
        log.info("OIDC re-check: %s signed out (%d sessions): %s", stored.agent, ended, answer.reason)
        return False

    async def _refreshed_meanwhile(self, key: str, link: ProviderLink) -> bool:
        now = await self.store.lookup(key)
        fresh = now.link.refresh_token if now is not None and now.live and now.link is not None else None
        return fresh is not None and fresh != link.refresh_token

    def _mismatch(self, claims: Mapping[str, Any], stored: StoredSession, link: ProviderLink) -> str | None:
        config = self.client.config
        if claims.get("sub") != link.sub:
            return "userinfo names another subject"
        agent = claims.get(config.agent_claim)
        if agent is not None and agent != stored.agent:
            return f"the provider now names the user {str(agent)[:80]!r}"
        role = config.role_for(claims)
        if role is None:
            return "the user is in no group that maps to a role any more"
        if role != stored.role:
            return f"the user's groups now map to {role!r}, not {stored.role!r}"
        return None

    async def ask(self, link: ProviderLink) -> Answer:
        """What the provider says of `link`'s user now: userinfo with the access token, refreshed once
        if the provider no longer takes it."""
        try:
            meta = await self.client.metadata()
        except OidcRefused as err:
            return Unreachable(err.reason)
        userinfo = meta.get("userinfo_endpoint")
        if not isinstance(userinfo, str):
            return Unreachable("the provider's discovery document has no userinfo_endpoint")
        async with httpx.AsyncClient(timeout=self._timeout) as http:
            if link.access_token:
                answer = await self._userinfo(http, userinfo, link.access_token, link.refresh_token)
                if not isinstance(answer, Refused) or not link.refresh_token:
                    return answer
            if not link.refresh_token:
                return Unreachable("the session holds neither an access nor a refresh token")
            refreshed = await self._refresh(http, meta["token_endpoint"], link.refresh_token)
            if not isinstance(refreshed, tuple):
                return refreshed
            return await self._userinfo(http, userinfo, *refreshed)

    async def _userinfo(self, http: httpx.AsyncClient, url: str, access: str, refresh: str | None) -> Answer:
        try:
            answer = await http.get(url, headers={"Authorization": f"Bearer {access}", "Accept": "application/json"})
        except httpx.HTTPError as err:
            return Unreachable(f"userinfo: {err!r}")
        if answer.status_code in (401, 403):
            return Refused(f"userinfo answered {answer.status_code}")
        if answer.status_code != 200:
            return Unreachable(f"userinfo answered {answer.status_code}")
        try:
            claims = answer.json()
        except ValueError:
            claims = None
        if not isinstance(claims, dict):
            return Unreachable("userinfo answered something other than a JSON object")
        return Vouched(claims, access, refresh)

    async def _refresh(self, http: httpx.AsyncClient, url: str, refresh: str) -> tuple[str, str | None] | Answer:
        config = self.client.config
        try:
            answer = await http.post(
                url,
                data={"grant_type": "refresh_token", "refresh_token": refresh},
                auth=(quote(config.client_id, safe=""), quote(config.client_secret, safe="")),  # RFC 6749 2.3.1
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as err:
            return Unreachable(f"token endpoint: {err!r}")
        try:
            body = answer.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if answer.status_code == 200 and isinstance(body.get("access_token"), str):
            new_refresh = body.get("refresh_token")
            return body["access_token"], new_refresh if isinstance(new_refresh, str) else refresh
        if answer.status_code in (400, 401) and body.get("error") == "invalid_grant":
            return Refused("the refresh token was refused (invalid_grant)")
        # invalid_client and the like are the console's configuration, not the user's standing
        return Unreachable(f"token endpoint answered {answer.status_code} {str(body.get('error', ''))[:80]}")
