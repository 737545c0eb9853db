"""Encryption of every payload the project writes to Temporal (AES-256-GCM).

Inputs, step results and status documents hold customers' emails, names, addresses and
card tokens; Temporal stores them in histories that anyone with the UI can read. The codec
encrypts each payload whole (its metadata too, so even the encoding is hidden) under the
current key, and names the key in the new payload's metadata, so old payloads still decode
after a rotation as long as their key stays in the keyring. Payloads of 128 bytes or more
are compressed (zlib) before encryption when that saves bytes; the flag is authenticated.

Keys, first match wins:
- ``SAGA_CODEC_KEYS``: ``id=base64key[,id=base64key…]``, the current key first;
- ``SAGA_CODEC_KEY_FILE``: a file with one ``id=base64key`` per line, the current first
  (``#`` comments);
- otherwise ``data/codec.keys`` in the project, created with a fresh key on first use (a
  development convenience: every process on this machine then shares it).

``python starter.py codec-key`` prints a new key line.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from plumbing.keys import DATA_DIR, development_file

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
COMPRESSION = "encryption-compression"
ZLIB = b"zlib"
COMPRESS_FROM = 128
"""Payloads this long or longer are compressed before encryption when that saves bytes
(JSON status documents and plans shrink by about half; histories are stored and sent)."""
MAX_PLAIN_BYTES = 4 * 1024 * 1024
NONCE_BYTES = 12
KEY_BYTES = 32
KEYS_VAR = "SAGA_CODEC_KEYS"
KEY_FILE_VAR = "SAGA_CODEC_KEY_FILE"
DEFAULT_KEY_FILE = DATA_DIR / "codec.keys"


class CodecError(Exception):
    """A key that cannot be used or a payload that cannot be decrypted; says which."""


def new_key_line() -> str:
    """A fresh key as a keyring line: an id from today's date and a random suffix."""
    key_id = f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"
    return f"{key_id}={base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


@dataclass(frozen=True)
class Keyring:
    """The keys payloads may be encrypted with; new payloads use ``current``."""

    current: str
    keys: Mapping[str, bytes]

    @classmethod
    def parse(cls, entries: Sequence[str], source: str) -> Keyring:
        keys: dict[str, bytes] = {}
        for number, entry in enumerate(entries, 1):
            key_id, sep, encoded = entry.strip().partition("=")
            where = f"{source}, key {number}"
            if not sep or not key_id.strip():
                raise CodecError(f"{where}: expected id=base64key")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error:
                raise CodecError(f"{where} ({key_id.strip()}): not base64") from None
            if len(key) != KEY_BYTES:
                raise CodecError(f"{where} ({key_id.strip()}): {len(key)} bytes, need 32")
            keys.setdefault(key_id.strip(), key)
        if not keys:
            raise CodecError(f"{source}: no keys")
        return cls(current=next(iter(keys)), keys=keys)

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise CodecError(f"{path}: cannot read the key file ({err})") from None
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        return cls.parse(lines, str(path))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Keyring:
        env = os.environ if env is None else env
        if env.get(KEYS_VAR):
            return cls.parse(env[KEYS_VAR].split(","), KEYS_VAR)
        if env.get(KEY_FILE_VAR):
            return cls.from_file(Path(env[KEY_FILE_VAR]))
        return cls.from_file(development_file(DEFAULT_KEY_FILE, new_key_line))


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole serialized payload; the key id travels in the metadata
    (and is authenticated with the ciphertext). Payloads not encrypted pass through, so
    histories written before the codec still read."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key_id = self.keyring.current
        cipher = self._ciphers[key_id]
        encoded = []
        for payload in payloads:
            plain = payload.SerializeToString()
            metadata = {"encoding": ENCODING, KEY_ID: key_id.encode()}
            if len(plain) >= COMPRESS_FROM and len(packed := zlib.compress(plain)) < len(plain):
                plain, metadata[COMPRESSION] = packed, ZLIB
            nonce = secrets.token_bytes(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, plain, _associated(metadata))
            encoded.append(Payload(metadata=metadata, data=nonce + sealed))
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._open(payload) for payload in payloads]

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            known = ", ".join(self._ciphers)
            raise CodecError(f"payload encrypted with key {key_id!r}, not in the keyring ({known})")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, _associated(payload.metadata))
        except InvalidTag:
            raise CodecError(f"payload under key {key_id!r} failed authentication") from None
        if payload.metadata.get(COMPRESSION) == ZLIB:
            plain = _inflate(plain)
        return Payload.FromString(plain)


def _associated(metadata: Mapping[str, bytes]) -> bytes:
    """What the ciphertext authenticates besides itself: the key id and the compression
    flag (a flipped flag fails authentication instead of inflating garbage)."""
    return metadata[KEY_ID] + b"|" + metadata.get(COMPRESSION, b"")


def _inflate(data: bytes) -> bytes:
    """Decompress, refusing anything that would grow past Temporal's own payload limit."""
    inflater = zlib.decompressobj()
    plain = inflater.decompress(data, MAX_PLAIN_BYTES)
    if inflater.unconsumed_tail or not inflater.eof:
        raise CodecError(f"compressed payload larger than {MAX_PLAIN_BYTES} bytes, or truncated")
    return plain
