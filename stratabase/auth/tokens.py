"""Opaque bearer tokens: 256 random bits to the client, only their SHA-256 in the database."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """A fresh bearer token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """A fast hash is right here: the token is random, so there is nothing to brute-force."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
