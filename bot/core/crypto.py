"""Encryption of the few secrets the bot keeps, with EMPATHY_SECRET_KEY (which never enters the database).

Two forms:
- `SecretBox.seal`/`open`: Fernet, for values whose creation time may be known (answer keys of an
  open round). A Fernet token carries the second it was made, in clear.
- `SecretBox.seal_untimed`/`open_untimed` and `Aead`: AES-256-GCM with a random 96-bit nonce and
  nothing else in clear, for values that must not reveal when they were made (suggestion reply
  handles) and for data sealed under short-lived keys that are destroyed later (a pulse round's
  answers). `pad` makes every sealed value of one kind the same length, so sizes say nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
UNTIMED_PREFIX = "v2."


class Aead:
    """AES-256-GCM under one key; ciphertexts are nonce + sealed bytes, with no timestamp."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("an AEAD key is 32 bytes")
        self._aead = AESGCM(key)

    @staticmethod
    def new_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)

    def seal(self, plaintext: bytes, associated: bytes = b"") -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated)

    def open(self, sealed: bytes, associated: bytes = b"") -> bytes:
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
        except (InvalidTag, ValueError):
            raise ValueError("this value was sealed with another key") from None


def pad(data: bytes, size: int) -> bytes:
    """`data` with its length in front, filled with zeros to exactly `size` bytes."""
    if len(data) + 4 > size:
        raise ValueError(f"{len(data)} bytes do not fit a padded size of {size}")
    return struct.pack(">I", len(data)) + data + bytes(size - 4 - len(data))


def unpad(padded: bytes) -> bytes:
    (length,) = struct.unpack(">I", padded[:4])
    return padded[4 : 4 + length]


class SecretBox:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())
        raw = base64.urlsafe_b64decode(key.encode())
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"empathy-bot untimed v2").derive(raw)
        self._untimed = Aead(derived)
        self._bucket_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"empathy-bot buckets v1").derive(
            raw
        )

    def seal(self, secret: bytes) -> str:
        return self._fernet.encrypt(secret).decode()

    def open(self, token: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise ValueError("this secret was sealed with another EMPATHY_SECRET_KEY") from None

    def seal_untimed(self, secret: bytes) -> str:
        """Like `seal`, but the token carries no creation time (and is randomised like Fernet's)."""
        return UNTIMED_PREFIX + base64.urlsafe_b64encode(self._untimed.seal(secret)).decode()

    def open_untimed(self, token: str) -> bytes:
        """Opens `seal_untimed` tokens, and Fernet tokens made before them."""
        if not token.startswith(UNTIMED_PREFIX):
            return self.open(token)
        try:
            sealed = base64.urlsafe_b64decode(token[len(UNTIMED_PREFIX) :].encode())
        except ValueError:
            raise ValueError("this secret was sealed with another EMPATHY_SECRET_KEY") from None
        try:
            return self._untimed.open(sealed)
        except ValueError:
            raise ValueError("this secret was sealed with another EMPATHY_SECRET_KEY") from None

    def bucket(self, value: str, size: int) -> int:
        """A keyed hash of `value` cut to one of `size` buckets: equal values share a bucket, and without
        the key nobody can tell which value a bucket came from (for a small `size`, many values share each)."""
        digest = hmac.new(self._bucket_key, value.encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") % size

    def digest(self, value: str) -> str:
        """A keyed hash of `value` (hex): equal values match, and without the key nobody can test a guess
        (a plain hash of a conversation id and a millisecond timestamp could be found by trying them)."""
        return hmac.new(self._bucket_key, value.encode(), hashlib.sha256).hexdigest()

    def seal_bytes(self, secret: bytes, associated: bytes = b"") -> bytes:
        """Untimed, as raw bytes (for binary columns)."""
        return self._untimed.seal(secret, associated)

    def open_bytes(self, sealed: bytes, associated: bytes = b"") -> bytes:
        try:
            return self._untimed.open(sealed, associated)
        except ValueError:
            raise ValueError("this secret was sealed with another EMPATHY_SECRET_KEY") from None
