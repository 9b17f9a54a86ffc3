"""File-drop connector: CSV and XLSX files a department drops into its inbox folder.

Departments type numbers the Vietnamese way (`9.748`, `103,97`, `hơn 2.000`), save CSV in
whatever their office suite offers (UTF-8, Windows-1258, or the TCVN3/VNI of older machines)
and send the same file twice. So each file is decoded to NFC Unicode, its numbers and dates are
read by Vietnamese conventions (`connectors.vietnamese`), and every row keeps its origin
(`file:line`). What happens to each file is visible in the inbox itself:

- `archive/` — ingested files, named by checksum, once their run has published
  (`archive/manifest.jsonl` lists them); a file whose checksum is already there changes nothing;
- `rejected/` — files that cannot be ingested (unreadable, missing columns, ragged rows), each
  with a `.report.txt` naming the rows and the reasons. Nothing is deleted.

Rows of an ingested file whose values do not fit their type go to the dataset's quarantine like
any other source's. Each run brings only new files, merged into the dataset by its key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from lgsp.connectors.files.archive import commit, set_aside
from lgsp.connectors.files.config import FilesConfig, configure
from lgsp.connectors.files.inbox import new_files
from lgsp.connectors.files.reading import FileReader
from lgsp.connectors.files.sheets import Unreadable
from lgsp.connectors.registry import register

DECISIONS_KEPT = 200  # rows listed per run in the notes; the count is always complete


def extract(config: FilesConfig, state: dict[str, Any] | None, notes: dict[str, Any]) -> pa.RecordBatchReader:
    """Stream the rows of every new file in the inbox; files that cannot be read are set aside."""
    del state  # the archive is the state: a file is new until its checksum is archived
    reader = FileReader(config)
    notes.update(files=[], duplicates=[], rejected=[], decisions=[], decisions_total=0)

    def batches() -> Iterator[pa.RecordBatch]:
        for path, data, checksum in new_files(config, notes):
            try:
                ingested = reader.read(path, data)
            except Unreadable as exc:
                moved = set_aside(config.inbox, path, checksum, exc.problems, config.dataset)
                notes["rejected"].append(
                    {"name": path.name, "sha256": checksum, "moved_to": str(moved), "reasons": str(exc)}
                )
                continue
            notes["files"].append({**ingested.info, "sha256": checksum})
            notes["decisions_total"] += len(ingested.decisions)
            room = DECISIONS_KEPT - len(notes["decisions"])
            notes["decisions"].extend(ingested.decisions[: max(room, 0)])
            if ingested.batch.num_rows:
                yield ingested.batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


register("files", configure=configure, commit=commit, full_each_run=False)(extract)
