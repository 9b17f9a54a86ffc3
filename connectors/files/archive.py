"""What the inbox remembers: archive/ holds files whose run published, rejected/ files that could not be ingested."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from lgsp.connectors.files.config import FilesConfig
from lgsp.warehouse.runs import RunRecord, RunStatus

ARCHIVE, REJECTED = "archive", "rejected"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archived_files(inbox: Path) -> dict[str, str]:
    """Checksum → archived file name, from the archive's manifest."""
    manifest = inbox / ARCHIVE / "manifest.jsonl"
    if not manifest.exists():
        return {}
    found = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            found[entry["sha256"]] = entry["archived_as"]
    return found


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    for n in range(2, 10_000):
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(path)


def set_aside(inbox: Path, path: Path, checksum: str, reasons: list[tuple[int | None, str]], dataset: str) -> Path:
    """Move a file that cannot be ingested to rejected/, with a report beside it."""
    folder = inbox / REJECTED
    folder.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = _unique(folder / f"{stamp}__{path.name}")
    lines = [
        f"Tệp / File: {path.name}",
        f"Tập dữ liệu / Dataset: {dataset}",
        f"SHA-256: {checksum}",
        f"Thời điểm / At: {stamp}",
        "Không nạp được vì / Not ingested because:",
    ]
    lines += [f"  - dòng / row {row}: {reason}" if row else f"  - {reason}" for row, reason in reasons]
    lines.append("Sửa tệp và thả lại vào hộp thư / Fix the file and drop it into the inbox again.")
    shutil.move(str(path), target)
    target.with_name(target.name + ".report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def commit(config: FilesConfig, notes: dict[str, Any], run: RunRecord) -> None:
    """After the run: archive what was published (and drop re-sent copies); a rejected run's files
    are set aside with the reason, so the department sees what to fix."""
    inbox = config.inbox
    archive = inbox / ARCHIVE
    archive.mkdir(exist_ok=True)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with (archive / "manifest.jsonl").open("a", encoding="utf-8") as manifest:
        for entry in notes.get("files", []):
            path = inbox / entry["name"]
            if not path.exists() or sha256(path.read_bytes()) != entry["sha256"]:
                continue  # gone, or replaced by a new version since the run read it: the next run takes that
            if run.status != RunStatus.PUBLISHED:
                reason = f"run {run.run_id} was rejected ({run.error or 'error-severity checks failed'})"
                set_aside(inbox, path, entry["sha256"], [(None, reason)], config.dataset)
                continue
            target = _unique(archive / f"{entry['sha256'][:16]}__{entry['name']}")
            shutil.move(str(path), target)
            record = {
                "sha256": entry["sha256"],
                "name": entry["name"],
                "archived_as": target.name,
                "dataset": config.dataset,
                "run_id": run.run_id,
                "rows": entry["rows"],
                "at": now,
            }
            manifest.write(json.dumps(record, ensure_ascii=False) + "\n")
        manifest.flush()
        archived = archived_files(inbox)
        for entry in notes.get("duplicates", []):
            path = inbox / entry["name"]
            if entry["sha256"] in archived and path.exists() and sha256(path.read_bytes()) == entry["sha256"]:
                path.unlink()  # byte-identical to an archived file: nothing in it is new
