"""Console sessions: a signed, HttpOnly, SameSite=Strict cookie naming the agent (never their token),
a CSRF token bound to the session, and logout that ends the session on the server too.

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

from workflows.durations import parse_duration

SESSION_COOKIE = "recovery_session"
LOGIN_COOKIE = "recovery_login"
"""Before sign-in: a random nonce the login form's CSRF token is bound to."""


@dataclass(frozen=True)
class Session:
    sid: str
    agent: str
    role: str
    zone: str
    expires: float


class SessionKeeper:
    """Issues and checks session cookies and CSRF tokens with one secret.

    `RECOVERY_CONSOLE_SECRET` keeps sessions valid across restarts and between API processes;
    without it each process draws a random secret (sessions then end when it restarts)."""

    def __init__(self, secret: bytes | None = None, ttl: timedelta = timedelta(hours=8), secure: bool = False):
        self._secret = secret or secrets.token_bytes(32)
        self.ttl = ttl
        self.secure = secure
        self._ended: dict[str, float] = {}

    @classmethod
    def from_env(cls) -> SessionKeeper:
        secret = os.environ.get("RECOVERY_CONSOLE_SECRET")
        ttl = parse_duration(os.environ.get("RECOVERY_SESSION_TTL", "8h"))
        secure = os.environ.get("RECOVERY_CONSOLE_SECURE_COOKIE", "").lower() in ("1", "true", "yes")
        return cls(secret.encode() if secret else None, ttl, secure)

    def _sign(self, purpose: str, value: str) -> str:
        mac = hmac.new(self._secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    # ---- sessions

    def issue(self, agent: str, role: str, zone: str) -> tuple[Session, str]:
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
        return session, f"{body}.{self._sign('session', body)}"

    def read(self, cookie: str | None) -> Session | None:
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
        if session.expires < time.time() or session.sid in self._ended:
            return None
        return session

    def end(self, session: Session) -> None:
        now = time.time()
        self._ended = {sid: exp for sid, exp in self._ended.items() if exp > now}  # forget expired ones
        self._ended[session.sid] = session.expires

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
