"""Personal case links (recovery/links.py): the token's signature, expiry, key rotation and
revocation, against a real PostgreSQL for the `customer_links` rows."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from activities.store.privacy import erase_customer
from recovery.links import LinkConfigError, Links, LinkSigner, parse_days, parse_keys

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
NEW = ("k2", b"new-secret-0123456789")
OLD = ("k1", b"old-secret-0123456789")


def flip(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def test_a_token_names_nothing_but_its_link_and_any_change_breaks_it() -> None:
    signer = LinkSigner([NEW])
    link_id = uuid.uuid4()
    token = signer.sign(link_id, NOW + timedelta(days=30))
    claim = signer.check(token, NOW)
    assert claim is not None and claim.link_id == link_id and claim.expires_at == NOW + timedelta(days=30)
    assert all(c.isalnum() or c in "-_" for c in token) and len(token) < 80
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b"cust" not in raw and b"complaint" not in raw  # opaque: no case or customer in it
    for index in range(len(raw)):  # every byte is covered: kid, expiry, id and MAC
        assert signer.check(flip(token, index), NOW) is None, index
    # "+" is outside the URL-safe alphabet (a token with no "-" would be unchanged by a replace)
    for bad in ("", "x", token[:-1], token + "A", "%2e%2e", "a" * 500, "+" + token[1:]):
        assert signer.check(bad, NOW) is None
    assert LinkSigner([("k2", b"another-secret-0123")]).check(token, NOW) is None  # same kid, other secret


def test_a_token_expires() -> None:
    signer = LinkSigner([NEW])
    token = signer.sign(uuid.uuid4(), NOW + timedelta(days=30))
    assert signer.check(token, NOW + timedelta(days=30) - timedelta(seconds=1)) is not None
    assert signer.check(token, NOW + timedelta(days=30)) is None


def test_keys_rotate_the_first_signs_all_verify() -> None:
    link_id, expiry = uuid.uuid4(), NOW + timedelta(days=1)
    old_token = LinkSigner([OLD]).sign(link_id, expiry)
    rotated = LinkSigner([NEW, OLD])
    assert rotated.check(old_token, NOW) is not None  # links already sent keep working
    new_token = rotated.sign(link_id, expiry)
    assert new_token != old_token and LinkSigner([NEW]).check(new_token, NOW) is not None
    assert LinkSigner([NEW]).check(old_token, NOW) is None  # the old key retired: its links end


def test_link_settings_are_checked() -> None:
    assert parse_keys(" k1:secret-0123456789abc , k0:secret-abcdefghijkl ") == [
        ("k1", b"secret-0123456789abc"),
        ("k0", b"secret-abcdefghijkl"),
    ]
    for bad in ("nokey", ":secret-0123456789", "k1:short", "k1:secret-0123456789,k1:secret-abcdefghijk"):
        with pytest.raises(LinkConfigError):
            parse_keys(bad)
    assert parse_days(None) == timedelta(days=30) and parse_days("7") == timedelta(days=7)
    for bad in ("soon", "0", "-1", "99999"):
        with pytest.raises(LinkConfigError):
            parse_days(bad)


async def test_links_resolve_expire_and_are_revoked_by_erasure(db: asyncpg.Pool) -> None:
    clock = [NOW]
    links = Links([NEW, OLD], timedelta(days=30), clock=lambda: clock[0])
    token = await links.issue(db, "complaint-cust-7:ord-1:4:0", "complaint-cust-7:ord-1", "cust-7")
    assert await links.issue(db, "complaint-cust-7:ord-1:4:0", "complaint-cust-7:ord-1", "cust-7") == token  # retry
    other = await links.issue(db, "complaint-cust-8:ord-2:4:0", "complaint-cust-8:ord-2", "cust-8")
    found = await links.resolve(db, token)
    assert found is not None and (found.workflow_id, found.customer_id) == ("complaint-cust-7:ord-1", "cust-7")

    # a genuine signature over an id with no row (or a forged expiry) opens nothing
    assert await links.resolve(db, links.signer.sign(uuid.uuid4(), NOW + timedelta(days=1))) is None
    row_id = await db.fetchval("SELECT id FROM customer_links WHERE note_key = $1", "complaint-cust-7:ord-1:4:0")
    await db.execute("UPDATE customer_links SET expires_at = $2 WHERE id = $1", row_id, NOW + timedelta(hours=1))
    longer = links.signer.sign(row_id, NOW + timedelta(days=30))  # the token says 30 days, the row one hour
    clock[0] = NOW + timedelta(hours=2)
    assert await links.resolve(db, longer) is None
    clock[0] = NOW
    assert await links.resolve(db, longer) is not None

    clock[0] = NOW + timedelta(days=31)
    assert await links.resolve(db, other) is None  # expired
    clock[0] = NOW

    await erase_customer(db, "cust-7", erased_by="dpo@example.com")
    assert await links.resolve(db, token) is None  # revoked
    assert await db.fetchval("SELECT revoked_at FROM customer_links WHERE id = $1", row_id) is not None
    assert await links.resolve(db, other) is not None  # another customer's link is untouched
