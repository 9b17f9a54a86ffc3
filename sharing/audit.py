"""Checking the exchange log: its chain, its head, its signed checkpoints and the anchors
published outside it (lgsp.sharing.checkpoints); and a department's export for an audit.
`lgsp audit verify` names the first problem it finds, in the file (its line) or, in the cluster
profile, in the database table (its row: row N holds entry N when nothing is missing).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lgsp.core.settings import Settings
from lgsp.sharing import checkpoints, log_database
from lgsp.sharing.exchange_log import GENESIS, entries, entry_hash, log_paths, read_head


@dataclass(frozen=True)
class Verdict:
    """The result of checking the chain: ok, how many entries, and the first problem."""

    ok: bool
    entries: int
    line: int | None = None  # the line of the file, or the row of the table (in seq order)
    reason: str | None = None
    unit: str = "line"

    def __str__(self) -> str:
        if self.ok:
            return f"exchange log intact: {self.entries:,} entries, chain and head agree"
        where = f"{self.unit} {self.line}: " if self.line else ""
        return f"exchange log TAMPERED: {where}{self.reason}"


def _lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(handle, start=1):
        yield number, line.rstrip("\n")


def verify(
    where: Path | Settings,
    *,
    key: Ed25519PublicKey | list[Ed25519PublicKey] | None = None,
    anchors: list[dict[str, Any]] | None = None,
) -> Verdict:
    """Check every entry's hash, its link to the one before and its sequence number, then the
    head; then the signed checkpoints (with the hub's verifying `key`, which also makes missing
    checkpoints a finding) and any published `anchors`: an entry rewritten since it was signed,
    entries cut off below a signed count, a log deleted whole. `where` is the log's folder, or the
    hub's settings (its table in the cluster profile). Returns the first problem."""
    keys = key if isinstance(key, list) else [key] if key is not None else []
    if isinstance(where, Settings):
        if log_database.in_database(where):
            return _verify_table(where, keys, anchors or [])
        where = where.sharing_dir
    path, head_path = log_paths(where)
    kept = checkpoints.read(checkpoints.checkpoints_path(where))
    signed, problem = _signed_heads(kept, keys, anchors or [])
    if problem is not None:
        return problem
    if not path.exists():
        count, _ = read_head(head_path)
        if signed and max(signed) > 0:
            top = max(signed)
            return Verdict(False, 0, 1, f"the log file is gone, but {top:,} entries were signed ({signed[top][1]})")
        return Verdict(count == 0, 0, 1 if count else None, None if count == 0 else "the log file is gone")
    with path.open(encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)  # a live server appends under LOCK_EX: read a settled log
        try:
            verdict = _verify(_lines(handle), *read_head(head_path), signed)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return _signed_at_all(verdict, keys, kept, "the checkpoint file was deleted")


def _signed_at_all(verdict: Verdict, keys: list[Ed25519PublicKey], kept: list[Any], gone: str) -> Verdict:
    """An intact chain with entries but no checkpoint at all, where the hub signs: the checkpoints
    were removed (`gone` says how, for the file or the table)."""
    if verdict.ok and keys and verdict.entries and not kept:
        return Verdict(False, verdict.entries, None, f"no signed checkpoints, though the hub signs its log: {gone}")
    return verdict


def _verify_table(settings: Settings, keys: list[Ed25519PublicKey], anchors: list[dict[str, Any]]) -> Verdict:
    """The same checks on the cluster profile's table, in one snapshot while the replicas write."""
    with log_database.snapshot(settings) as con:
        kept = log_database.kept_checkpoints(con)
        signed, problem = _signed_heads(kept, keys, anchors)
        if problem is not None:
            return replace(problem, unit="row")
        verdict = _verify(log_database.numbered(con), *log_database.head(con), signed, unit="row")
    return _signed_at_all(verdict, keys, kept, "the checkpoint rows were deleted")


def _signed_heads(
    kept: list[dict[str, Any]], keys: list[Ed25519PublicKey], anchors: list[dict[str, Any]]
) -> tuple[dict[int, tuple[str, str]], Verdict | None]:
    """Count → (hash, where it was signed) from the kept checkpoints and the anchors, or the first
    checkpoint or anchor that is unreadable, not signed by one of `keys`, or contradicts another."""
    signed: dict[int, tuple[str, str]] = {}
    found = [(f"checkpoint {i}", c) for i, c in enumerate(kept, 1)]
    found += [(f"anchor of {a.get('day') or a.get('at', '?')}", a) for a in anchors]
    for label, claim in found:
        try:
            count, last_hash, at = int(claim["count"]), str(claim["hash"]), str(claim["at"])
        except (KeyError, ValueError, TypeError):
            return signed, Verdict(False, 0, None, f"{label} is unreadable (edited)")
        if keys and not any(checkpoints.signed_by(k, claim) for k in keys):  # a rotated key still counts
            return signed, Verdict(
                False, 0, None, f"{label} ({at}) is not signed by the hub's audit key (forged or edited)"
            )
        if count in signed and signed[count][0] != last_hash:
            return signed, Verdict(False, 0, count, f"{label} and {signed[count][1]} disagree on entry {count:,}")
        signed.setdefault(count, (last_hash, f"{label}, {at}"))
    return signed, None


def _verify(
    numbered: Iterable[tuple[int, str]],
    expected_count: int,
    expected_hash: str,
    signed: dict[int, tuple[str, str]],
    unit: str = "line",
) -> Verdict:
    """The chain of `numbered` (line or row number, the entry's JSON) against its head and `signed`."""

    def bad(count: int, number: int | None, reason: str) -> Verdict:
        return Verdict(False, count, number, reason, unit)

    previous, count = GENESIS, 0
    for number, line in numbered:
        try:
            entry = orjson.loads(line)
            if not isinstance(entry, dict):
                raise ValueError
        except ValueError:
            return bad(count, number, "not a JSON entry (edited or corrupted)")
        if entry.get("seq") != number:
            seq = entry.get("seq")
            if isinstance(seq, int) and seq > number:
                missing = f"entry {number}" if seq == number + 1 else f"entries {number}–{seq - 1}"
                return bad(count, number, f"{missing} deleted (this {unit} holds entry {seq})")
            return bad(count, number, f"holds entry {seq!r}, expected {number} ({unit}s moved or inserted)")
        if entry.get("prev_hash") != previous:
            before = f"{unit} {number - 1}"
            return bad(count, number, f"prev_hash does not match {before}'s hash ({before} was edited and re-hashed)")
        if entry.get("hash") != entry_hash(entry):
            return bad(count, number, "content does not match its hash (edited)")
        if number in signed and entry["hash"] != signed[number][0]:
            return bad(count, number, f"rewritten since it was signed ({signed[number][1]}); the chain was re-hashed")
        previous, count = entry["hash"], number
    if signed and max(signed) > count:
        top = max(signed)
        return bad(
            count, count + 1, f"entries {count + 1:,}–{top:,} were signed ({signed[top][1]}) but are gone (cut off)"
        )
    if count < expected_count:
        gone = f"{unit} {count + 1}" if expected_count == count + 1 else f"{unit}s {count + 1}–{expected_count}"
        return bad(count, count + 1, f"{gone} deleted from the end (the head records {expected_count:,} entries)")
    if count > expected_count or previous != expected_hash:
        return bad(count, count or None, f"the head records {expected_count:,} entries ending in "
                   f"{expected_hash[:12]}…, the log has {count:,} ending in {previous[:12]}…")  # fmt: skip
    return Verdict(True, count, unit=unit)


def export(where: Path | Settings, datasets: set[str], out: Any, header: dict[str, Any]) -> int:
    """Write the entries about `datasets` as JSON Lines (each with its seq, prev_hash and hash, so
    an auditor can check every entry's own hash against the full log), after a header line with
    the chain's verdict and head. `where` is the log's folder or the hub's settings (as `verify`).
    Returns the number of entries written."""
    verdict = verify(where)
    if isinstance(where, Settings):
        (count, last), found = log_database.log_head(where), log_database.log_entries(where)
    else:
        (count, last), found = read_head(log_paths(where)[1]), entries(where)
    out.write(orjson.dumps({**header, "datasets": sorted(datasets), "chain_ok": verdict.ok,
                            "chain": str(verdict), "head": {"count": count, "hash": last}}) + b"\n")  # fmt: skip
    written = 0
    for entry in found:
        if entry.get("dataset") in datasets:
            out.write(orjson.dumps(entry) + b"\n")
            written += 1
    return written
