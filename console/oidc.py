"""Console sign-in with the company's OpenID Connect provider: the authorization code flow with PKCE.

Configured from the environment (docs/ops.md, "Signing in with OIDC"):

    RECOVERY_OIDC_ISSUER         https://id.example.com/realms/support   (discovery: <issuer>/.well-known/…)
    RECOVERY_OIDC_CLIENT_ID      the console's client at the provider
    RECOVERY_OIDC_CLIENT_SECRET  its secret (client_secret_basic)
    RECOVERY_OIDC_ROLES          groups:support-leads=team-lead,groups:support=agent   (first match wins)
    RECOVERY_OIDC_AGENT_CLAIM    preferred_username   (the claim that names the agent)
    RECOVERY_OIDC_NAME           the provider's name on the sign-in page (default: the issuer's host)
    RECOVERY_OIDC_SCOPES         openid profile email
    RECOVERY_CONSOLE_URL         https://recovery.example.com   (the redirect URI is <this>/login/oidc/callback)
    RECOVERY_OIDC_RECHECK_SECONDS  300   (how often a session's user is asked for again; 0: every request)

The ID token is checked here, never trusted from the browser: its RS256 signature against the
provider's JWKS (an unknown `kid` fetches the JWKS again, once: the provider rotated its keys),
`iss`, `aud`, `exp` and the `nonce` this console drew for the sign-in. The role comes from the
mapping over the token's claims only.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning  # first: it sets its warning to "always"

from console.session import OIDC_PREFIX
from starter.agents import CUSTOMER_ID

with warnings.catch_warnings():
    # Authlib 1.9 deprecates authlib.jose (for joserfc, kept until Authlib 2.0) and its httpx client's
    # fallback to httpx (for httpx2): both are what this project uses, and work.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.jose import JsonWebKey, JsonWebToken
    from authlib.jose.errors import JoseError

log = logging.getLogger("recovery.console.oidc")

LEEWAY = 60
"""Seconds of clock skew allowed between the provider and the API on `exp`, `iat` and `nbf`."""
_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")
_jwt = JsonWebToken(["RS256"])  # only what the provider signs with; never `none` or HMAC


class OidcConfigError(ValueError):
    pass


class OidcRefused(Exception):
    """A sign-in refused: `status` and a sentence for the agent; `reason` for the log."""

    def __init__(self, status: int, text: str, reason: str):
        super().__init__(reason)
        self.status, self.text, self.reason = status, text, reason


@dataclass(frozen=True)
class RoleRule:
    claim: str
    value: str
    role: str

    def matches(self, claims: Mapping[str, Any]) -> bool:
        found = claims.get(self.claim)
        if isinstance(found, list):  # groups, roles: one of them
            return any(isinstance(v, str) and v == self.value for v in found)
        if isinstance(found, bool):  # e.g. email_verified:true
            return str(found).lower() == self.value.lower()
        return isinstance(found, str | int) and str(found) == self.value


def parse_roles(text: str) -> tuple[RoleRule, ...]:
    """`claim:value=role,…` (the claim name may hold ':', as URL-named claims do; values may not)."""
    rules = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        left, eq, role = part.rpartition("=")
        claim, colon, value = left.rpartition(":")
        if not eq or not colon or not claim.strip() or not value.strip() or not role.strip():
            raise OidcConfigError(f"RECOVERY_OIDC_ROLES: {part!r} is not claim:value=role")
        rules.append(RoleRule(claim.strip(), value.strip(), role.strip()))
    if not rules:
        raise OidcConfigError("RECOVERY_OIDC_ROLES maps no claim to a role: nobody could sign in")
    return tuple(rules)


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    roles: tuple[RoleRule, ...]
    agent_claim: str = "preferred_username"
    name: str = ""
    scopes: str = "openid profile email"
    console_url: str = ""
    """The console's address as browsers reach it (`RECOVERY_CONSOLE_URL`); empty: the request's own."""
    recheck_seconds: float = 300.0
    """How old the provider's last word on a session may be before its userinfo endpoint is asked
    again (console/oidc_recheck.py); 0: on every request."""

    @property
    def label(self) -> str:
        return self.name or urlsplit(self.issuer).hostname or self.issuer

    @property
    def fingerprint(self) -> str:
        """Names this provider and client in the sessions signed in through them (`token_fp`)."""
        return OIDC_PREFIX + hashlib.sha256(f"{self.issuer}\n{self.client_id}".encode()).hexdigest()[:24]

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> OidcConfig | None:
        """The configuration, or None when `RECOVERY_OIDC_ISSUER` is unset (tokens only)."""
        issuer = env.get("RECOVERY_OIDC_ISSUER", "").strip()
        if not issuer:
            return None
        missing = [k for k in ("RECOVERY_OIDC_CLIENT_ID", "RECOVERY_OIDC_CLIENT_SECRET") if not env.get(k)]
        if missing:
            raise OidcConfigError(f"RECOVERY_OIDC_ISSUER is set but {' and '.join(missing)} is not")
        return cls(
            issuer=issuer.rstrip("/"),
            client_id=env["RECOVERY_OIDC_CLIENT_ID"],
            client_secret=env["RECOVERY_OIDC_CLIENT_SECRET"],
            roles=parse_roles(env.get("RECOVERY_OIDC_ROLES", "")),
            agent_claim=env.get("RECOVERY_OIDC_AGENT_CLAIM", "").strip() or "preferred_username",
            name=env.get("RECOVERY_OIDC_NAME", "").strip(),
            scopes=env.get("RECOVERY_OIDC_SCOPES", "").strip() or "openid profile email",
            console_url=env.get("RECOVERY_CONSOLE_URL", "").strip(),
            recheck_seconds=_seconds(env, "RECOVERY_OIDC_RECHECK_SECONDS", 300.0),
        )

    def check_roles(self, allowed: set[str]) -> None:
        """At start: every mapped role is one the console signs in (the policy's roles, `viewer`)."""
        unknown = sorted({r.role for r in self.roles} - allowed)
        if unknown:
            raise OidcConfigError(f"RECOVERY_OIDC_ROLES maps to roles the console does not know: {', '.join(unknown)}")

    def role_for(self, claims: Mapping[str, Any]) -> str | None:
        return next((rule.role for rule in self.roles if rule.matches(claims)), None)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise OidcConfigError(f"{name}={text!r} is not a number of seconds") from None
    if not 0 <= value <= 86400:
        raise OidcConfigError(f"{name}={text!r} must be between 0 and 86400 seconds")
    return value


@dataclass
class Flow:
    """One sign-in under way: what the callback must find again (kept in a signed cookie)."""

    state: str
    nonce: str
    verifier: str
    url: str = ""


@dataclass(frozen=True)
class SignedIn:
    """The code exchanged: the ID token's checked claims and the tokens the provider gave with it."""

    claims: dict[str, Any]
    access_token: str | None
    refresh_token: str | None


class OidcClient:
    """The provider as the console sees it: discovery, the authorization URL, the code exchange and
    the ID token's checks. Metadata and keys are fetched when first needed and kept."""

    def __init__(self, config: OidcConfig, timeout: float = 10.0):
        self.config = config
        self._timeout = timeout
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            async with self._lock:
                if self._metadata is None:
                    url = f"{self.config.issuer}/.well-known/openid-configuration"
                    found = await self._get_json(url)
                    if found.get("issuer", "").rstrip("/") != self.config.issuer:
                        raise OidcRefused(502, _UNREACHABLE, f"discovery names issuer {found.get('issuer')!r}")
                    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                        if not isinstance(found.get(key), str):
                            raise OidcRefused(502, _UNREACHABLE, f"discovery has no {key}")
                    self._metadata = found
        return self._metadata

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                answer = await http.get(url)
                answer.raise_for_status()
                data = answer.json()
        except (httpx.HTTPError, ValueError) as err:
            raise OidcRefused(502, _UNREACHABLE, f"{url}: {err}") from None
        if not isinstance(data, dict):
            raise OidcRefused(502, _UNREACHABLE, f"{url}: not a JSON object")
        return data

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            scope=self.config.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self._timeout,
        )

    async def start(self, redirect_uri: str) -> Flow:
        """A new sign-in: fresh state, nonce and PKCE verifier, and the provider's URL to send the browser to."""
        meta = await self.metadata()
        flow = Flow(state=generate_token(32), nonce=generate_token(32), verifier=generate_token(64))
        async with self._client(redirect_uri) as client:
            flow.url, _ = client.create_authorization_url(
                meta["authorization_endpoint"], state=flow.state, code_verifier=flow.verifier, nonce=flow.nonce
            )
        return flow

    async def finish(self, code: str, redirect_uri: str, flow: Flow) -> SignedIn:
        """The code exchanged (with the PKCE verifier): the ID token's checked claims and the tokens."""
        meta = await self.metadata()
        try:
            async with self._client(redirect_uri) as client:
                token = await client.fetch_token(
                    meta["token_endpoint"], code=code, code_verifier=flow.verifier, redirect_uri=redirect_uri
                )
        except Exception as err:  # authlib's OAuthError, httpx errors, a body that is not a token
            raise OidcRefused(401, _NOT_ACCEPTED, f"token endpoint: {err}") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcRefused(401, _NOT_ACCEPTED, "the token answer holds no id_token")
        claims = await self.verify(id_token, flow.nonce)
        access, refresh = token.get("access_token"), token.get("refresh_token")
        return SignedIn(
            claims, access if isinstance(access, str) else None, refresh if isinstance(refresh, str) else None
        )

    async def _keys(self, refresh: bool = False) -> dict[str, Any]:
        if self._jwks is None or refresh:
            self._jwks = await self._get_json((await self.metadata())["jwks_uri"])
        return self._jwks

    async def decode(self, token: str, what: str, essential: Mapping[str, Any]) -> dict[str, Any]:
        """The claims of the JWS `token` (an ID or logout token, named `what` in errors) if its RS256
        signature holds against the provider's JWKS and so do `iss`, `aud` (with `azp` when there are
        several audiences), `exp` if present and the `essential` claims; else OidcRefused (401)."""
        kid = _header(token, what).get("kid")
        jwks = await self._keys()
        if kid is not None and kid not in _kids(jwks):
            jwks = await self._keys(refresh=True)  # rotated keys: fetched again once, not on every token
            if kid not in _kids(jwks):
                raise OidcRefused(401, _NOT_ACCEPTED, f"{what} signed with unknown key {kid!r}")
        options = {
            "iss": {"essential": True, "value": self.config.issuer},
            "aud": {"essential": True, "value": self.config.client_id},
            **essential,
        }
        try:
            claims = _jwt.decode(token, JsonWebKey.import_key_set(jwks), claims_options=options)
            claims.validate(leeway=LEEWAY)
        except (JoseError, ValueError) as err:
            raise OidcRefused(401, _NOT_ACCEPTED, f"{what} refused: {err}") from None
        audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audience) > 1 and claims.get("azp") != self.config.client_id:
            raise OidcRefused(401, _NOT_ACCEPTED, f"{what} for several audiences without our azp")
        return dict(claims)

    async def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The claims of `id_token` if its signature, issuer, audience, expiry and nonce hold; else OidcRefused."""
        claims = await self.decode(id_token, "ID token", {"exp": {"essential": True}, "sub": {"essential": True}})
        if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcRefused(401, _NOT_ACCEPTED, "ID token nonce is not this sign-in's")
        return claims

    def agent_of(self, claims: Mapping[str, Any]) -> str:
        agent = claims.get(self.config.agent_claim)
        if not isinstance(agent, str) or not _AGENT_ID.match(agent):
            raise OidcRefused(
                403,
                f"Your account at {self.config.label} has no usable {self.config.agent_claim} to sign in with "
                "(1–80 letters, digits, '.', '_', '@' or '-'). Ask your administrator.",
                f"claim {self.config.agent_claim!r} missing or not an agent id",
            )
        if agent == CUSTOMER_ID:  # the case page's actor: the agent's steps would pass for the customer's
            raise OidcRefused(
                403,
                f"Your {self.config.agent_claim} at {self.config.label} is “{agent}”, a name kept for customers. "
                "Ask your administrator for another one.",
                f"claim {self.config.agent_claim!r} is the reserved id {agent!r}",
            )
        return agent


_UNREACHABLE = "The sign-in provider cannot be reached just now. Try again in a minute, or sign in with your token."
_NOT_ACCEPTED = "The sign-in provider's answer was not accepted. Start the sign-in again."


def _header(token: str, what: str) -> dict[str, Any]:
    try:
        head = token.split(".", 1)[0]
        data = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, IndexError):
        raise OidcRefused(401, _NOT_ACCEPTED, f"{what} is not a JWS") from None
    if not isinstance(data, dict):
        raise OidcRefused(401, _NOT_ACCEPTED, f"{what} header is not an object")
    return data


def _kids(jwks: Mapping[str, Any]) -> set[str]:
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        return set()
    return {k["kid"] for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}
