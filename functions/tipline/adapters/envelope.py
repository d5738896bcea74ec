"""Envelope encryption: a KMS data key per sealed value (or per context within one webhook event,
:class:`EventKeys`), AES-256-GCM, versioned format.

Stored format, version 1::

    0x01 | len(encrypted data key) as 2 bytes | encrypted data key | 12-byte nonce | ciphertext+tag

The encryption context (for example ``{"oa_id": ..., "tip_id": ...}``) is passed to KMS and is also
the AES-GCM associated data, so a value copied onto another record fails to open twice over.
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tipline.adapters import aws
from tipline.errors import DecryptionFailed, DependencyUnavailable

VERSION_1 = 1
_NONCE_BYTES = 12
_HEADER = struct.Struct(">BH")


def _aad(context: Mapping[str, str]) -> bytes:
    return json.dumps(dict(sorted(context.items())), separators=(",", ":"), ensure_ascii=False).encode()


def _aesgcm(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


@dataclass(frozen=True)
class DataKey:
    plaintext: bytes
    encrypted: bytes


def generate_data_key(key_id: str, context: Mapping[str, str]) -> DataKey:
    try:
        response = aws.kms().generate_data_key(
            KeyId=key_id, KeySpec="AES_256", EncryptionContext=dict(context)
        )
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("kms generate_data_key failed") from exc
    return DataKey(plaintext=response["Plaintext"], encrypted=response["CiphertextBlob"])


def seal_with(data_key: DataKey, plaintext: bytes, context: Mapping[str, str]) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = _aesgcm(data_key.plaintext).encrypt(nonce, plaintext, _aad(context))
    return _HEADER.pack(VERSION_1, len(data_key.encrypted)) + data_key.encrypted + nonce + bytes(ciphertext)


def seal(key_id: str, plaintext: bytes, context: Mapping[str, str]) -> bytes:
    """Seal ``plaintext`` under a fresh data key bound to ``context`` (one KMS call)."""
    return seal_with(generate_data_key(key_id, context), plaintext, context)


class EventKeys:
    """The data keys of one webhook event: one KMS call per encryption context the event seals in.

    Every value sealed in an event under the same context (a citizen's message and its
    acknowledgement, both ``{oa_id, tip_id}``) shares one data key, each value with its own random
    nonce and the context as its associated data; values of different contexts never share one (a
    citizen's Zalo id, ``{oa_id, contact}``, opens for fewer roles than a tip's thread). The stored
    format is version 1 unchanged, so every reader opens these as before. Lives for one event only:
    nothing keeps the keys after it.
    """

    def __init__(self, key_id: str) -> None:
        self._key_id = key_id
        self._keys: dict[tuple[tuple[str, str], ...], DataKey] = {}

    def seal(self, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        name = tuple(sorted(context.items()))
        data_key = self._keys.get(name)
        if data_key is None:
            data_key = self._keys[name] = generate_data_key(self._key_id, context)
        return seal_with(data_key, plaintext, context)


def _split(blob: bytes) -> tuple[bytes, bytes, bytes]:
    if len(blob) < _HEADER.size:
        raise DecryptionFailed("sealed value too short")
    version, key_len = _HEADER.unpack_from(blob)
    if version != VERSION_1:
        raise DecryptionFailed(f"unknown sealed format version {version}")
    start = _HEADER.size
    encrypted_key = blob[start : start + key_len]
    nonce = blob[start + key_len : start + key_len + _NONCE_BYTES]
    ciphertext = blob[start + key_len + _NONCE_BYTES :]
    if len(encrypted_key) != key_len or len(nonce) != _NONCE_BYTES or not ciphertext:
        raise DecryptionFailed("sealed value truncated")
    return encrypted_key, nonce, ciphertext


def open_sealed(key_id: str, blob: bytes, context: Mapping[str, str]) -> bytes:
    """Open a sealed value; raises DecryptionFailed when it was tampered with or moved."""
    from cryptography.exceptions import InvalidTag

    encrypted_key, nonce, ciphertext = _split(blob)
    try:
        response = aws.kms().decrypt(
            KeyId=key_id, CiphertextBlob=encrypted_key, EncryptionContext=dict(context)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {
            "InvalidCiphertextException",
            "IncorrectKeyException",
        }:
            raise DecryptionFailed("data key does not open under this context") from exc
        raise DependencyUnavailable("kms decrypt failed") from exc
    except BotoCoreError as exc:
        raise DependencyUnavailable("kms decrypt failed") from exc
    try:
        return bytes(_aesgcm(response["Plaintext"]).decrypt(nonce, ciphertext, _aad(context)))
    except InvalidTag as exc:
        raise DecryptionFailed("authentication tag mismatch") from exc


class CachedKeySealer:
    """Seals with one data key reused for ``max_age`` seconds.

    Only for the spill path: when KMS throttles or fails, a webhook container that already holds
    a key can still keep an accepted event encrypted instead of losing it.
    """

    def __init__(self, key_id: str, context: Mapping[str, str], max_age: float = 3600.0) -> None:
        self._key_id = key_id
        self._context = dict(context)
        self._max_age = max_age
        self._key: DataKey | None = None
        self._born = 0.0

    def warm(self) -> None:
        if self._key is None or time.monotonic() - self._born > self._max_age:
            self._key = generate_data_key(self._key_id, self._context)
            self._born = time.monotonic()

    def seal(self, plaintext: bytes) -> bytes:
        try:
            self.warm()
        except DependencyUnavailable:
            if self._key is None:
                raise
        if self._key is None:  # warm() either set a key or raised
            raise DependencyUnavailable("no spill key")
        return seal_with(self._key, plaintext, self._context)

    def open(self, blob: bytes) -> bytes:
        return open_sealed(self._key_id, blob, self._context)
