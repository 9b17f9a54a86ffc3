"""Signed checkpoints of the exchange log, and the anchors published outside it.

The hash chain alone shows edits by someone without the hub's files; someone with them can
rewrite the chain and its head, or delete both. So the log's writer signs its head (entry count
and last hash) with an Ed25519 key kept apart from the log (`$LGSP_HOME/secrets/audit.key` or
`$LGSP_SECRET_AUDIT`), at most once a second and at every flush, into a checkpoint file beside
it; and each day's last checkpoint is published as open data (the `exchange_log_anchors`
dataset), whose releases are immutable and copied by anyone. `exchange_log.verify` checks the
chain against both: a rewritten line no longer has the signed hash, cut-off entries are missing
below a signed count, and a deleted checkpoint file is noticed while a signing key exists.
"""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lgsp.core.files import append_whole

SIGN_EVERY = 1.0  # seconds between checkpoints under load (and one at every flush)
KEY_NAME = "audit"  # the hub secret holding the signing key's 32-byte seed (base64url)


def checkpoints_path(directory: Path) -> Path:
    return directory / "exchange-log.checkpoints"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def private_key(seed: str) -> Ed25519PrivateKey:
    """The signing key from its seed as the hub keeps it (43 base64url characters)."""
    return Ed25519PrivateKey.from_private_bytes(_unb64(seed)[:32])


def verifying_key(text: str) -> Ed25519PublicKey:
    """A published verifying key (`public_text`), for checking checkpoints and anchors."""
    return Ed25519PublicKey.from_public_bytes(_unb64(text))


def public_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The verifying key as text, to publish beside the anchors."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return _b64(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def _signed_bytes(count: int, last_hash: str, at: str) -> bytes:
    return orjson.dumps({"at": at, "count": count, "hash": last_hash}, option=orjson.OPT_SORT_KEYS)


def sign(key: Ed25519PrivateKey, count: int, last_hash: str, at: str) -> dict[str, Any]:
    return {
        "count": count,
        "hash": last_hash,
        "at": at,
        "signature": _b64(key.sign(_signed_bytes(count, last_hash, at))),
    }


def signed_by(key: Ed25519PublicKey, checkpoint: dict[str, Any]) -> bool:
    try:
        key.verify(_unb64(str(checkpoint["signature"])),
                   _signed_bytes(int(checkpoint["count"]), str(checkpoint["hash"]), str(checkpoint["at"])))  # fmt: skip
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return True


def append(fd: int, checkpoint: dict[str, Any]) -> None:
    """One checkpoint line, appended whole or not at all (the caller holds the log's lock)."""
    append_whole(fd, orjson.dumps(checkpoint) + b"\n")


def read(path: Path) -> list[dict[str, Any]]:
    """Checkpoints or anchors from the checkpoint file, or from a published release (CSV or JSON)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".csv":
        return [dict(row) for row in csv.DictReader(text.splitlines())]
    if path.suffix == ".json":
        found = json.loads(text)
        return list(found) if isinstance(found, list) else []
    out = []
    for line in text.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"unreadable": line})
    return out
