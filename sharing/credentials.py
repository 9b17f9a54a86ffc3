"""Credentials: secrets the hub generates, shows once and stores only as scrypt hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# scrypt cost: about 50 ms per check, so a stolen registry is slow to brute-force; the API caches
# successful checks in memory, so a request does not pay it.
_N, _R, _P = 2**14, 8, 1


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(6)}"


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def fast_hash(secret: str) -> str:
    """SHA-256 of a high-entropy secret: for tokens and in-memory cache keys, never for passwords."""
    return hashlib.sha256(secret.encode()).hexdigest()
