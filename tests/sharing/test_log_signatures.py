"""Against someone holding the hub's files (issue 14, point 12): the chain and its head can be
rewritten or deleted consistently, so the log's head is signed (Ed25519, with a key kept apart
from the log) into checkpoints, and each day's last checkpoint is published as open data. Every
attack below verifies as intact by the chain alone and is caught by the signatures or anchors."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.sharing import checkpoints, registry
from lgsp.sharing.audit import verify
from lgsp.sharing.exchange_log import GENESIS, HEAD_BYTES, ExchangeLog, canonical, log_paths
from lgsp.sharing.stats import write_open_stats

N = 12


def write_signed(log: Any) -> None:
    """N entries through `log` (the file's or the table's), a checkpoint at each flush: entries 4,
    8 and 12 are signed."""
    for i in range(N):
        log.append({"operation": "rows", "consumer": "TTPVHCC", "dataset": "schools", "rows": i, "outcome": "data"})
        if i in (3, 7):
            assert log.flush()
    log.close()


@pytest.fixture
def log_dir(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    write_signed(ExchangeLog(tmp_path, key))
    return tmp_path


def rechain(directory: Path, entries: list[dict[str, Any]]) -> None:
    """What someone with the files can do: write a new, self-consistent chain and head."""
    previous, lines = GENESIS, []
    for seq, entry in enumerate(entries, 1):
        body = canonical({**{k: v for k, v in entry.items() if k not in ("seq", "prev_hash", "hash")}, "seq": seq,
                          "prev_hash": previous})  # fmt: skip
        previous = hashlib.sha256(body).hexdigest()
        lines.append(body[:-1] + b',"hash":"' + previous.encode() + b'"}\n')
    path, head = log_paths(directory)
    path.write_bytes(b"".join(lines))
    head.write_bytes(json.dumps({"count": len(entries), "hash": previous}).encode().ljust(HEAD_BYTES - 1) + b"\n")


def chain_alone_ok(directory: Path) -> bool:
    """What the chain and its head say without the signatures (a copy without the checkpoints)."""
    bare = directory / "bare"
    bare.mkdir(exist_ok=True)
    for path in log_paths(directory):
        if path.exists():
            shutil.copy(path, bare / path.name)
    return verify(bare).ok


def logged(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_paths(directory)[0].read_text().splitlines()]


def test_an_untouched_signed_log_verifies(log_dir: Path, key: Ed25519PrivateKey) -> None:
    signed = checkpoints.read(checkpoints.checkpoints_path(log_dir))
    assert [c["count"] for c in signed] == [4, 8, 12]  # at each flush (and at most a second apart)
    verdict = verify(log_dir, key=key.public_key())
    assert verdict.ok and verdict.entries == N


def test_cutting_entries_and_rewriting_the_head_is_caught(log_dir: Path, key: Ed25519PrivateKey) -> None:
    rechain(log_dir, logged(log_dir)[:6])
    assert chain_alone_ok(log_dir)  # the chain and head alone agree
    verdict = verify(log_dir, key=key.public_key())
    assert not verdict.ok and "entries 7–12 were signed" in str(verdict) and "cut off" in str(verdict)


def test_rewriting_and_rehashing_the_chain_is_caught(log_dir: Path, key: Ed25519PrivateKey) -> None:
    entries = logged(log_dir)
    entries[2]["consumer"] = "SOMEONE_ELSE"
    rechain(log_dir, entries)
    assert chain_alone_ok(log_dir)
    verdict = verify(log_dir, key=key.public_key())
    assert not verdict.ok and verdict.line == 4 and "rewritten since it was signed" in str(verdict)


def test_deleting_the_log_and_its_head_is_caught(log_dir: Path, key: Ed25519PrivateKey) -> None:
    for path in log_paths(log_dir):
        path.unlink()
    assert chain_alone_ok(log_dir)  # nothing there, nothing wrong: by the chain alone
    verdict = verify(log_dir, key=key.public_key())
    assert not verdict.ok and "the log file is gone, but 12 entries were signed" in str(verdict)


def test_deleting_the_checkpoints_too_is_caught_while_the_key_exists(log_dir: Path, key: Ed25519PrivateKey) -> None:
    rechain(log_dir, logged(log_dir)[:6])
    checkpoints.checkpoints_path(log_dir).unlink()
    verdict = verify(log_dir, key=key.public_key())
    assert not verdict.ok and "checkpoint file was deleted" in str(verdict)


def test_checkpoints_forged_with_another_key_are_caught(log_dir: Path, key: Ed25519PrivateKey) -> None:
    rechain(log_dir, logged(log_dir)[:6])
    forger = Ed25519PrivateKey.generate()
    head = logged(log_dir)[-1]
    checkpoints.checkpoints_path(log_dir).write_text(
        json.dumps(checkpoints.sign(forger, 6, head["hash"], "2026-12-07T00:00:00.000Z")) + "\n"
    )
    verdict = verify(log_dir, key=key.public_key())
    assert not verdict.ok and "not signed by the hub's audit key" in str(verdict)


def test_published_anchors_catch_even_the_holder_of_the_key(log_dir: Path, key: Ed25519PrivateKey) -> None:
    """With root and the key, the chain and every checkpoint can be re-signed; the anchors that
    were published (and copied by others) before cannot be taken back."""
    published = checkpoints.read(checkpoints.checkpoints_path(log_dir))  # as released that day
    entries = logged(log_dir)[:6]
    rechain(log_dir, entries)
    head = logged(log_dir)[-1]
    checkpoints.checkpoints_path(log_dir).write_text(
        json.dumps(checkpoints.sign(key, 6, head["hash"], "2026-12-07T00:00:00.000Z")) + "\n"
    )
    assert verify(log_dir, key=key.public_key()).ok  # the files and the key agree again
    verdict = verify(log_dir, key=key.public_key(), anchors=published[-1:])
    assert not verdict.ok and "anchor" in str(verdict)


def test_the_anchors_dataset_and_lgsp_audit_verify_anchors(
    hub: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's own key signs the server's log; `lgsp audit stats` writes the day's anchor, the
    `exchange_log_anchors` dataset releases it, and `lgsp audit verify --anchors` checks a copy."""
    seed = registry.hub_secret(hub, checkpoints.KEY_NAME)
    log = ExchangeLog(hub.sharing_dir, checkpoints.private_key(seed))
    for i in range(N):
        log.append({"operation": "list", "consumer": "TTPVHCC", "rows": i, "outcome": "data",
                    "at": "2026-12-07T01:00:00.000Z"})  # fmt: skip
    log.close()
    write_open_stats(hub, set())
    run = Pipeline(hub).run("exchange_log_anchors")
    assert run.status == "published" and run.rows_published == 1, run.error
    released = hub.home / "releases" / "exchange_log_anchors" / "v1" / "exchange_log_anchors.csv"
    [anchor] = list(csv.DictReader(released.read_text(encoding="utf-8-sig").splitlines()))
    assert int(anchor["count"]) == N and anchor["public_key"] == checkpoints.public_text(checkpoints.private_key(seed))
    kept = tmp_path / "anchors.csv"
    shutil.copy(released, kept)  # an auditor's copy

    monkeypatch.setenv("LGSP_HOME", str(hub.home))
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--anchors", str(kept)])
    assert ok.exit_code == 0 and "1 published anchors agree" in ok.output, ok.output
    assert runner.invoke(app, ["audit", "verify", "--key", anchor["public_key"]]).exit_code == 0
    rechain(hub.sharing_dir, logged(hub.sharing_dir)[:5])
    checkpoints.checkpoints_path(hub.sharing_dir).unlink()
    bad = runner.invoke(app, ["audit", "verify", "--anchors", str(kept)])
    assert bad.exit_code == 1 and "were signed" in bad.output


def test_a_deleted_key_does_not_turn_the_signature_check_off(hub: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review of issue 14: deleting secrets/audit.key made `lgsp audit verify` skip signatures."""
    from lgsp.core.files import secret_path

    seed = registry.hub_secret(hub, checkpoints.KEY_NAME)
    old_public = checkpoints.public_text(checkpoints.private_key(seed))
    log = ExchangeLog(hub.sharing_dir, checkpoints.private_key(seed))
    log.append({"operation": "list", "outcome": "data"})
    log.close()
    secret_path(hub, checkpoints.KEY_NAME).unlink()
    monkeypatch.setenv("LGSP_HOME", str(hub.home))
    runner = CliRunner()
    refused = runner.invoke(app, ["audit", "verify"])
    assert refused.exit_code == 1 and "no key to check them" in refused.output
    assert runner.invoke(app, ["audit", "verify", "--key", old_public]).exit_code == 0
    # After a rotation the old key's checkpoints still verify, given its published key.
    new_seed = registry.hub_secret(hub, checkpoints.KEY_NAME)
    log = ExchangeLog(hub.sharing_dir, checkpoints.private_key(new_seed))
    log.append({"operation": "list", "outcome": "data"})
    log.close()
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 1  # the old checkpoint: another key
    ok = runner.invoke(app, ["audit", "verify", "--key", old_public])
    assert ok.exit_code == 0, ok.output
