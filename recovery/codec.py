"""Payload encryption: an AES-256-GCM payload codec with key ids for rotation.

Every payload the SDK sends to Temporal (workflow and activity inputs and results, update and
query arguments, the static summary and details, failure details and — with the failure converter
below — failure messages and stack traces) is replaced by

    metadata: encoding=binary/encrypted, encryption-key-id=<id>
    data:     12-byte random nonce + AES-GCM ciphertext of the serialized original Payload proto

so the original metadata (its encoding, its message type) is protected too. Decoding picks the key
by the payload's key id, so old histories stay readable after a rotation as long as their key is
still configured; payloads that are not encrypted pass through unchanged. Search attributes are
never encrypted (the server indexes them): they must hold ids only.

Keys come from the environment (`codec_from_env`):

    RECOVERY_CODEC_KEYS="2026a:<base64 32 bytes>,2025b:<base64 32 bytes>"
    RECOVERY_CODEC_KEY_ID=2026a          # encodes new payloads; default: the first id

This module does no I/O; it imports the data converter module (`recovery.converter`) to add the
codec to it. `cryptography` is imported when a payload is first encoded or decoded (outside the
workflow sandbox).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_SIZE = 12
KEY_SIZE = 32

KEYS_ENV = "RECOVERY_CODEC_KEYS"
KEY_ID_ENV = "RECOVERY_CODEC_KEY_ID"


class CodecConfigError(ValueError):
    """The codec's keys are misconfigured (bad env, short key, unknown current id)."""


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM payload codec. `keys` maps key id → 32-byte key; `current` encodes."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if not keys:
            raise CodecConfigError("the payload codec needs at least one key")
        for key_id, key in keys.items():
            if not isinstance(key_id, str) or not key_id:
                raise CodecConfigError(f"invalid key id {key_id!r}: must be a non-empty string")
            if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
                size = len(key) if isinstance(key, bytes | bytearray) else type(key).__name__
                raise CodecConfigError(f"key {key_id!r} must be {KEY_SIZE} bytes (AES-256), got {size}")
        if current not in keys:
            raise CodecConfigError(f"current key id {current!r} is not among the keys ({', '.join(keys)})")
        self._keys = {key_id: bytes(key) for key_id, key in keys.items()}
        self._current = current
        self._ciphers: dict[str, object] = {}

    @property
    def current(self) -> str:
        return self._current

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def _cipher(self, key_id: str) -> Any:  # an AESGCM; cryptography is imported lazily
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            cipher = self._ciphers[key_id] = AESGCM(self._keys[key_id])
        return cipher

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_SIZE)
        ciphertext = self._cipher(self._current).encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: self._current.encode()},
            data=nonce + ciphertext,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # not ours: written before encryption was turned on
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise ValueError(f"encrypted payload has no {KEY_ID_METADATA} metadata")
        key_id = raw_id.decode("utf-8", errors="replace")
        if key_id not in self._keys:
            raise ValueError(
                f"payload encrypted with unknown key id {key_id!r} "
                f"(configured: {', '.join(self._keys)}); add it to {KEYS_ENV}"
            )
        if len(payload.data) <= NONCE_SIZE:
            raise ValueError(f"encrypted payload (key id {key_id!r}) is too short to hold a nonce and tag")
        from cryptography.exceptions import InvalidTag

        try:
            plain = self._cipher(key_id).decrypt(payload.data[:NONCE_SIZE], payload.data[NONCE_SIZE:], None)
        except InvalidTag:
            raise ValueError(
                f"encrypted payload (key id {key_id!r}) failed authentication: "
                "tampered with, or encrypted with a different key under that id"
            ) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


def parse_keys(text: str) -> dict[str, bytes]:
    """`id:base64key,id2:base64key2` → {id: key}. Raises CodecConfigError naming the bad entry."""
    keys: dict[str, bytes] = {}
    for n, entry in enumerate(text.split(","), start=1):
        entry = entry.strip()
        if not entry:
            raise CodecConfigError(f"{KEYS_ENV}: entry {n} is empty; write id:base64key pairs separated by commas")
        key_id, sep, encoded = entry.partition(":")
        key_id, encoded = key_id.strip(), encoded.strip()
        if not sep or not key_id or not encoded:
            raise CodecConfigError(f"{KEYS_ENV}: entry {n} is not id:base64key")
        if key_id in keys:
            raise CodecConfigError(f"{KEYS_ENV}: key id {key_id!r} appears twice")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CodecConfigError(f"{KEYS_ENV}: key {key_id!r} is not valid base64") from None
        if len(key) != KEY_SIZE:
            raise CodecConfigError(
                f"{KEYS_ENV}: key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_SIZE} "
                f'(make one with: python -c "import os,base64;'
                f'print(base64.b64encode(os.urandom(32)).decode())")'
            )
        keys[key_id] = key
    return keys


def codec_from_env(env: Mapping[str, str] = os.environ) -> EncryptionCodec | None:
    """The codec configured by RECOVERY_CODEC_KEYS / RECOVERY_CODEC_KEY_ID, or None when unset."""
    text = env.get(KEYS_ENV, "").strip()
    if not text:
        if env.get(KEY_ID_ENV, "").strip():
            raise CodecConfigError(f"{KEY_ID_ENV} is set but {KEYS_ENV} is not")
        return None
    keys = parse_keys(text)
    current = env.get(KEY_ID_ENV, "").strip() or next(iter(keys))
    if current not in keys:
        raise CodecConfigError(f"{KEY_ID_ENV}={current!r} is not among the ids in {KEYS_ENV} ({', '.join(keys)})")
    return EncryptionCodec(keys, current)


def data_converter_with_codec(codec: PayloadCodec | None) -> DataConverter:
    """The recovery data converter with `codec` applied, failure messages and stack traces included
    (moved into the failure's encoded attributes). None → the plain recovery data converter."""
    from recovery.converter import data_converter

    if codec is None:
        return data_converter
    return dataclasses.replace(
        data_converter, payload_codec=codec, failure_converter_class=DefaultFailureConverterWithEncodedAttributes
    )
