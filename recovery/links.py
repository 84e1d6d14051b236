"""Personal case links: `<RECOVERY_PUBLIC_URL>/c/<token>`, in every customer message, opening the
customer's case page (starter/customer) with no sign-in.

The token is opaque: base64url of `version | kid length | kid | expiry (unix seconds, 8 bytes) |
link id (16 random bytes)` followed by a 16-byte HMAC-SHA256 of all that. Nothing about the customer
or the case is in it; the link id names a row of `customer_links` (workflow id, customer id, expiry,
revocation), so a link can be revoked (`erase-customer` revokes all of a customer's) and the row's
expiry is checked as well as the token's.

Keys rotate like the console's secret (console/session.py): `RECOVERY_LINK_KEYS="kid1:secret1,
kid0:secret0"`, the first signs, all verify; a link signed by a key no longer listed stops working.
The life of a new link is `RECOVERY_LINK_DAYS` (default 30). Its long-term home is a policy key
(`[notifications] link_days`), which needs a workflow release; until then it is this process setting.

Stdlib HMAC, like the console's session cookie: the format fits on a page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg

VERSION = 1
MAC_BYTES = 16
ID_BYTES = 16
DEFAULT_DAYS = 30
_PURPOSE = b"recovery-case-link:"
_CSRF_PURPOSE = b"recovery-case-form:"


class LinkConfigError(ValueError):
    """RECOVERY_LINK_KEYS or RECOVERY_LINK_DAYS is malformed; the message says how to write it."""


def parse_keys(text: str) -> list[tuple[str, bytes]]:
    """`kid1:secret1,kid0:secret0` as [(kid, secret)], the signing key first."""
    keys: list[tuple[str, bytes]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kid, sep, secret = part.partition(":")
        kid = kid.strip()
        if not sep or not kid or len(kid) > 32 or not kid.isascii():
            raise LinkConfigError("RECOVERY_LINK_KEYS: write kid:secret[,kid:secret…] (kid: 1-32 ASCII characters)")
        if len(secret) < 16:
            raise LinkConfigError(f"RECOVERY_LINK_KEYS: the secret of key {kid!r} is shorter than 16 characters")
        if any(k == kid for k, _ in keys):
            raise LinkConfigError(f"RECOVERY_LINK_KEYS: key id {kid!r} is listed twice")
        keys.append((kid, secret.encode()))
    return keys


def parse_days(text: str | None) -> timedelta:
    if not text:
        return timedelta(days=DEFAULT_DAYS)
    try:
        days = float(text)
    except ValueError:
        raise LinkConfigError(f"RECOVERY_LINK_DAYS {text!r}: a number of days, e.g. 30") from None
    if not 0 < days <= 3660:
        raise LinkConfigError(f"RECOVERY_LINK_DAYS {text!r}: between 0 and 3660 days")
    return timedelta(days=days)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes | None:
    if not text or len(text) > 200 or not all(c.isalnum() or c in "-_" for c in text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class Claim:
    """What a genuine token says: its link id and expiry (who and which case are the row's)."""

    link_id: uuid.UUID
    expires_at: datetime


class LinkSigner:
    """Signs and checks tokens with rotatable keys (no database)."""

    def __init__(self, keys: list[tuple[str, bytes]]):
        if not keys:
            raise LinkConfigError("case links need at least one key (RECOVERY_LINK_KEYS)")
        self.keys = keys
        self._by_kid = dict(keys)

    @staticmethod
    def _mac(secret: bytes, body: bytes) -> bytes:
        return hmac.new(secret, _PURPOSE + body, hashlib.sha256).digest()[:MAC_BYTES]

    def sign(self, link_id: uuid.UUID, expires_at: datetime) -> str:
        kid, secret = self.keys[0]
        kid_bytes = kid.encode()
        body = bytes([VERSION, len(kid_bytes)]) + kid_bytes + struct.pack(">Q", int(expires_at.timestamp()))
        body += link_id.bytes
        return _b64(body + self._mac(secret, body))

    def check(self, token: str, now: datetime) -> Claim | None:
        """The token's claim when it is ours (any listed key), well formed and unexpired; else None."""
        raw = _unb64(token)
        if raw is None or len(raw) < 2 + 8 + ID_BYTES + MAC_BYTES or raw[0] != VERSION:
            return None
        kid_len = raw[1]
        if len(raw) != 2 + kid_len + 8 + ID_BYTES + MAC_BYTES:
            return None
        body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        secret = self._by_kid.get(body[2 : 2 + kid_len].decode("ascii", "replace"))
        if secret is None or not hmac.compare_digest(mac, self._mac(secret, body)):
            return None
        (expiry,) = struct.unpack(">Q", body[2 + kid_len : 2 + kid_len + 8])
        expires_at = datetime.fromtimestamp(min(expiry, 253402300799), timezone.utc)
        if expires_at <= now:
            return None
        return Claim(link_id=uuid.UUID(bytes=body[-ID_BYTES:]), expires_at=expires_at)

    @staticmethod
    def _form_mac(secret: bytes, link_id: uuid.UUID) -> str:
        return _b64(hmac.new(secret, _CSRF_PURPOSE + link_id.bytes, hashlib.sha256).digest()[:MAC_BYTES])

    def form_token(self, link_id: uuid.UUID) -> str:
        """The CSRF token of the page's forms: an HMAC of the link id (its own purpose, so it is never
        a valid link MAC), signed with the signing key. Bound to the link: another link's page, or a
        page from anywhere else, has none that fits."""
        return self._form_mac(self.keys[0][1], link_id)

    def check_form_token(self, link_id: uuid.UUID, token: str) -> bool:
        """True when `token` is this link's form token under any listed key (a page rendered just
        before a rotation still posts)."""
        if not token or len(token) > 64:
            return False
        return any(hmac.compare_digest(token, self._form_mac(secret, link_id)) for _, secret in self.keys)


@dataclass(frozen=True)
class CaseLink:
    workflow_id: str
    customer_id: str
    expires_at: datetime
    link_id: uuid.UUID | None = None


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Links:
    """Issues links (a `customer_links` row + its token) and resolves tokens against the table."""

    def __init__(
        self,
        keys: list[tuple[str, bytes]],
        life: timedelta = timedelta(days=DEFAULT_DAYS),
        clock: Callable[[], datetime] = _utcnow,
    ):
        self.signer = LinkSigner(keys)
        self.life = life
        self.clock = clock

    @classmethod
    def from_env(cls) -> Links | None:
        """From RECOVERY_LINK_KEYS and RECOVERY_LINK_DAYS; None without keys (no links are sent)."""
        keys = parse_keys(os.environ.get("RECOVERY_LINK_KEYS", ""))
        return cls(keys, parse_days(os.environ.get("RECOVERY_LINK_DAYS"))) if keys else None

    async def issue(self, pool: asyncpg.Pool, note_key: str, workflow_id: str, customer_id: str) -> str:
        """The token of the link sent with notification `note_key` (made once: a retry gets the same
        link, re-signed with the current signing key)."""
        row = await pool.fetchrow(
            "INSERT INTO customer_links (id, note_key, workflow_id, customer_id, expires_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (note_key) DO NOTHING RETURNING id, expires_at",
            uuid.UUID(bytes=secrets.token_bytes(ID_BYTES)),
            note_key,
            workflow_id,
            customer_id,
            self.clock() + self.life,
        )
        if row is None:
            row = await pool.fetchrow("SELECT id, expires_at FROM customer_links WHERE note_key = $1", note_key)
        assert row is not None
        return self.signer.sign(row["id"], row["expires_at"])

    async def resolve(self, pool: asyncpg.Pool, token: str) -> CaseLink | None:
        """The case and customer of a genuine, unexpired, unrevoked token; None for anything else.
        Reads only."""
        now = self.clock()
        claim = self.signer.check(token, now)
        if claim is None:
            return None
        row = await pool.fetchrow(
            "SELECT id, workflow_id, customer_id, expires_at FROM customer_links "
            "WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
            claim.link_id,
            now,
        )
        if row is None:
            return None
        return CaseLink(
            workflow_id=row["workflow_id"],
            customer_id=row["customer_id"],
            expires_at=row["expires_at"],
            link_id=row["id"],
        )


async def revoke_customer(conn: asyncpg.Connection | asyncpg.Pool, customer_id: str, workflow_ids: list[str]) -> int:
    """Revoke every link of `customer_id` and of the cases `workflow_ids`; returns how many."""
    status = await conn.execute(
        "UPDATE customer_links SET revoked_at = now() "
        "WHERE (customer_id = $1 OR workflow_id = ANY($2::text[])) AND revoked_at IS NULL",
        customer_id,
        workflow_ids,
    )
    return int(status.split()[-1])
