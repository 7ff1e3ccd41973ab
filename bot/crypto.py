"""Encryption of the few secrets the bot keeps, with EMPATHY_SECRET_KEY (which never enters the database)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def seal(self, secret: bytes) -> str:
        return self._fernet.encrypt(secret).decode()

    def open(self, token: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise ValueError("this secret was sealed with another EMPATHY_SECRET_KEY") from None
