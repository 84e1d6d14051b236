"""Console sessions: a signed, HttpOnly, SameSite=Strict cookie naming the agent (never their token),
a CSRF token bound to the session, and logout that ends the session on the server too.

The cookie only names a session; whether it is still valid is the session store's answer
(PostgreSQL, `console.session_store`), checked on every request together with the current agents
file: an agent removed from it, or whose token was rotated, is signed out at their next request. A
session signed in through the OIDC provider is ended by the provider instead: by a back-channel
logout (console/oidc_logout.py) or at the periodic userinfo re-check (`provider_check`).

Stdlib HMAC-SHA256 instead of a session library: the cookie carries four fields and the rules fit on
a page, so a dependency would add more than it saves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from console.session_store import MemorySessions, ProviderLink, SessionStore, StoredSession
from starter.agents import AgentDirectory
from workflows.durations import parse_duration

SESSION_COOKIE = "recovery_session"
LOGIN_COOKIE = "recovery_login"
"""Before sign-in: a random nonce the login form's CSRF token is bound to."""
OIDC_PREFIX = "oidc:"
"""A session's `token_fp` starting with this was signed in through the OIDC provider (console/oidc.py):
its role came from the provider's claims at sign-in, not from the agents file."""


class ProviderCheck(Protocol):
    async def __call__(self, key: str, stored: StoredSession) -> bool:
        """Whether the provider still vouches for the OIDC session `key` (console/oidc_recheck.py);
        False once it has ended the session."""
        ...


@dataclass(frozen=True)
class Session:
    sid: str
    agent: str
    role: str
    zone: str
    expires: float


class SessionKeeper:
    """Issues and checks session cookies and CSRF tokens with one secret.

    `RECOVERY_CONSOLE_SECRET` (the same for every API process) lets a cookie signed by one replica
    be read by another and after a restart; without it each process draws a random secret. Which
    sessions are still valid is the store's: PostgreSQL when the API has a database."""

    def __init__(
        self,
        secret: bytes | None = None,
        ttl: timedelta = timedelta(hours=8),
        secure: bool = False,
        store: SessionStore | None = None,
    ):
        self._secret = secret or secrets.token_bytes(32)
        self.ttl = ttl
        self.secure = secure
        self.store: SessionStore = store or MemorySessions()
        self.oidc_fp: str | None = None
        """The fingerprint of the configured OIDC provider (console/oidc.py); sessions signed in
        through another one, or while none is configured any more, end at their next request."""
        self.provider_check: ProviderCheck | None = None
        """Asks the provider whether an OIDC session's user is still there (console/oidc_recheck.py)."""

    @classmethod
    def from_env(cls, store: SessionStore | None = None) -> SessionKeeper:
        secret = os.environ.get("RECOVERY_CONSOLE_SECRET")
        ttl = parse_duration(os.environ.get("RECOVERY_SESSION_TTL", "8h"))
        secure = os.environ.get("RECOVERY_CONSOLE_SECURE_COOKIE", "").lower() in ("1", "true", "yes")
        return cls(secret.encode() if secret else None, ttl, secure, store)

    def _sign(self, purpose: str, value: str) -> str:
        mac = hmac.new(self._secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    # ---- sessions

    @staticmethod
    def _key(sid: str) -> str:
        return hashlib.sha256(sid.encode()).hexdigest()

    async def issue(
        self, agent: str, role: str, zone: str, token_fp: str = "", link: ProviderLink | None = None
    ) -> tuple[Session, str]:
        """A new session (stored) and its cookie. `token_fp` is the agent's token fingerprint
        (`AgentDirectory.fingerprint`): a later token ends the session. `link`: the provider's user and
        tokens, for a session signed in through OIDC (kept in the store, never in the cookie)."""
        session = Session(
            sid=secrets.token_urlsafe(16),
            agent=agent,
            role=role,
            zone=zone,
            expires=float(int(time.time() + self.ttl.total_seconds())),
        )
        body = (
            base64.urlsafe_b64encode(
                json.dumps(
                    {"sid": session.sid, "agent": agent, "role": role, "zone": zone, "exp": int(session.expires)},
                    separators=(",", ":"),
                ).encode()
            )
            .decode()
            .rstrip("=")
        )
        await self.store.create(self._key(session.sid), agent, role, token_fp, session.expires, link)
        return session, f"{body}.{self._sign('session', body)}"

    async def read(self, cookie: str | None, agents: AgentDirectory | None = None) -> Session | None:
        """The session `cookie` names while it is valid: signed by us, unexpired, not ended in the store,
        and (given `agents`, the current agents file) its agent still there with the same role and token.
        Database errors propagate (the API answers 503)."""
        if not cookie or "." not in cookie:
            return None
        body, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac, self._sign("session", body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(
                sid=data["sid"], agent=data["agent"], role=data["role"], zone=data["zone"], expires=float(data["exp"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < time.time():
            return None
        key = self._key(session.sid)
        stored = await self.store.lookup(key)
        if stored is None or not stored.live or (stored.agent, stored.role) != (session.agent, session.role):
            return None
        if stored.token_fp.startswith(OIDC_PREFIX):
            # Vouched for by the provider at sign-in. Ends when the provider changes or goes, or when
            # the agents file names the same id (one id is one person's, never two ways in).
            if stored.token_fp != self.oidc_fp or (agents is not None and agents.role_of(session.agent) is not None):
                await self.store.end(key)
                return None
            if self.provider_check is not None and not await self.provider_check(key, stored):
                return None  # the provider no longer knows the user, or no longer maps them to a role
            return session
        if agents is not None:
            if agents.role_of(session.agent) is None:
                await self.store.end_agent(session.agent)  # removed from the file: every session ends
                return None
            if agents.role_of(session.agent) != session.role or agents.fingerprint(session.agent) != stored.token_fp:
                await self.store.end(key)  # a new role or a rotated token: sign in again
                return None
        return session

    async def end(self, session: Session) -> None:
        await self.store.end(self._key(session.sid))

    # ---- short-lived signed values (the OIDC flow's state, nonce and PKCE verifier)

    def seal(self, purpose: str, data: dict, ttl: float) -> str:
        """`data` as a cookie value signed for `purpose`, readable by `unseal` for `ttl` seconds."""
        raw = json.dumps({**data, "exp": int(time.time() + ttl)}, separators=(",", ":")).encode()
        body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return f"{body}.{self._sign(purpose, body)}"

    def unseal(self, purpose: str, value: str | None) -> dict | None:
        """What `seal` signed for `purpose`, or None: missing, not ours, for another purpose, or expired."""
        if not value or "." not in value:
            return None
        body, _, mac = value.rpartition(".")
        if not hmac.compare_digest(mac, self._sign(purpose, body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("exp"), int) or data["exp"] < time.time():
            return None
        return data

    # ---- CSRF

    def csrf_for(self, session: Session) -> str:
        return self._sign("csrf", session.sid)

    def login_csrf(self, nonce: str) -> str:
        return self._sign("login", nonce)

    @staticmethod
    def check(expected: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(expected, given or "")

    def cookie_options(self, max_age: int | None) -> dict:
        return {"httponly": True, "samesite": "strict", "secure": self.secure, "path": "/", "max_age": max_age}
