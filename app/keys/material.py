"""Key material: ``sk_`` + 32 random bytes, and the only thing ever stored, its SHA-256.

A plain (fast) hash is enough here, unlike for passwords: a key carries 256 bits of entropy,
so there is nothing for a slow hash to protect against, and every request pays for it.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "sk_"
SHOWN_CHARS = 8  # how much of a key lists show, to tell keys apart without revealing them


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_hint(key: str) -> str:
    return key[: len(PREFIX) + SHOWN_CHARS]


def looks_like_key(value: str) -> bool:
    return value.startswith(PREFIX) and 20 <= len(value) <= 200 and value.isascii()
