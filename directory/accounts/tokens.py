"""Secret tokens (invitations, password resets, API tokens): random, shown once, stored hashed."""

from __future__ import annotations

import hashlib
import secrets


def new_token(prefix: str = "") -> str:
    """A fresh 256-bit token, URL-safe, with an optional readable prefix."""
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token (SHA-256; tokens are random, so no salt or stretching is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
