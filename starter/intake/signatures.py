"""Webhook signatures, always checked on the raw request bytes (never on re-serialised JSON) with
`hmac.compare_digest`: Zendesk's timestamped base64 HMAC and Jira's `X-Hub-Signature`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # config imports the order feed's config, which signs with the helpers here
    from starter.intake.config import JiraConfig, ZendeskConfig

ZENDESK_SIGNATURE = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
JIRA_SIGNATURE = "X-Hub-Signature"
JIRA_DELIVERY = "X-Atlassian-Webhook-Identifier"


class SignatureError(Exception):
    """A webhook whose signature does not verify; the message is a short reason (answer 401)."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def sign_zendesk(secret: str, timestamp: str, raw: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), the `X-Zendesk-Webhook-Signature` value."""
    return base64.b64encode(_hmac(secret, timestamp.encode() + bytes(raw))).decode()


def sign_jira(secret: str, raw: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(secret, body)>`, the `X-Hub-Signature` value."""
    return "sha256=" + _hmac(secret, bytes(raw)).hex()


def _verified_by(given: bytes, expected: list[bytes]) -> int:
    """Which secret signed it: 0 for the first (current) one, 1 for the second while rotating."""
    # Compare against every secret (no early exit), each in constant time.
    results = [hmac.compare_digest(given, candidate) for candidate in expected]
    if not any(results):
        raise SignatureError("signature does not match")
    return results.index(True)


def verify_zendesk(headers: Mapping[str, str], raw: bytes, config: ZendeskConfig, now: datetime) -> int:
    """Raise SignatureError unless the body carries a valid, fresh signature by one of the secrets;
    return which one (0 = the first; 1 = the second, i.e. the sender still uses the old secret)."""
    return verify_timestamped(
        headers, raw, config.secrets, config.tolerance_seconds, now, ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP
    )


def verify_timestamped(
    headers: Mapping[str, str],
    raw: bytes,
    secrets: list[str],
    tolerance_seconds: int,
    now: datetime,
    signature_header: str,
    timestamp_header: str,
) -> int:
    """Zendesk's scheme, also the one of the generic order feed (`X-Recovery-Signature`):
    base64(HMAC-SHA256(secret, timestamp + body)) with an ISO 8601 timestamp header, fresh within
    ±`tolerance_seconds`. Returns which secret verified it."""
    signature = _header(headers, signature_header)
    if not signature:
        raise SignatureError(f"missing {signature_header} header")
    timestamp = _header(headers, timestamp_header)
    if not timestamp:
        raise SignatureError(f"missing {timestamp_header} header")
    try:
        sent_at = datetime.fromisoformat(timestamp.strip())
    except ValueError:
        raise SignatureError(f"{timestamp_header} is not an ISO 8601 time") from None
    if sent_at.tzinfo is None:  # Zendesk sends UTC with a Z; a zoneless time is read as UTC
        sent_at = sent_at.replace(tzinfo=timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    try:
        skew = abs(now - sent_at)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00: no UTC time at all
        raise SignatureError(f"{timestamp_header} is outside the range of UTC times") from None
    if skew > timedelta(seconds=tolerance_seconds):
        raise SignatureError(f"timestamp outside the ±{tolerance_seconds} s window")
    expected = [sign_zendesk(secret, timestamp, raw).encode() for secret in secrets]
    return _verified_by(signature.strip().encode(), expected)


_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def verify_jira(headers: Mapping[str, str], raw: bytes, config: JiraConfig) -> int:
    """Raise SignatureError unless `X-Hub-Signature: sha256=<hex>` verifies with one of the secrets;
    return which one (0 = the first; 1 = the second)."""
    signature = _header(headers, JIRA_SIGNATURE)
    if not signature:
        raise SignatureError(f"missing {JIRA_SIGNATURE} header")
    algorithm, sep, digest = signature.strip().partition("=")
    if not sep:
        raise SignatureError(f"malformed {JIRA_SIGNATURE} header (expected sha256=<hex>)")
    if algorithm.strip().lower() != "sha256":
        raise SignatureError(f"unsupported signature algorithm {algorithm.strip()!r} (expected sha256)")
    if not _HEX_SHA256.match(digest):
        raise SignatureError(f"malformed {JIRA_SIGNATURE} header (expected 64 hex digits after sha256=)")
    expected = [sign_jira(secret, raw).encode() for secret in config.secrets]
    return _verified_by(("sha256=" + digest.lower()).encode(), expected)
