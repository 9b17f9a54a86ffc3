"""What one run's steps hand each other, typed: the run manifest and the run record.

Extract, validate and publish may run in three processes (three Airflow tasks), so they pass only
the run id; the manifest, kept beside the staged rows, carries the rest. It holds the contract as
extract loaded it, so a contract edited mid-run cannot make validate and publish disagree with
the rows that were pulled. The run record is the row of `meta.runs` a run ends with.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lgsp.schemas.contract import Contract


class Step(StrEnum):
    """The steps of a run, in order; each is one Airflow task."""

    EXTRACT = "extract"
    VALIDATE = "validate"
    PUBLISH = "publish"


class RunStatus(StrEnum):
    PUBLISHED = "published"
    PARTIAL = "partial"  # published, but a submitted file was rejected whole
    UNCHANGED = "unchanged"  # nothing new arrived (no file in the inbox): nothing to publish
    HELD = "held"  # it would remove too many published rows: kept for review, nothing published yet
    REJECTED = (
        "rejected"  # nothing could be published: an error-severity check failed, or every file or row was refused
    )
    FAILED = "failed"  # the run could not finish: nothing published, the cursor did not move


FINISHED = (RunStatus.PUBLISHED, RunStatus.PARTIAL, RunStatus.UNCHANGED, RunStatus.HELD, RunStatus.REJECTED)
PUBLISHED = (RunStatus.PUBLISHED, RunStatus.PARTIAL)  # the run's rows are what readers see
SUCCEEDED = (RunStatus.PUBLISHED, RunStatus.UNCHANGED)  # exit code 0: nothing sent was refused


class Validated(BaseModel):
    """What validate tells publish."""

    model_config = ConfigDict(extra="forbid")

    report: str = Field(description="The HTML validation report.")
    rejected_by: list[str] = Field(default_factory=list, description="Error-severity checks that failed.")
    rows_warned: int = 0
    rows_failing: int = 0


class RunManifest(BaseModel):
    """What extract tells validate and publish, and (once validated) what validate found."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    run_id: str
    contract: Contract
    started_at: dt.datetime
    mode: Literal["full", "incremental"]
    cursor_from: str | None = None
    rows_extracted: int = Field(default=0, description="Rows the source sent, those of rejected files included.")
    rows_rejected: int = Field(default=0, description="Rows of submitted files that were rejected whole.")
    rows_superseded: int = Field(default=0, description="Rows replaced by a newer submission in the same run.")
    source_notes: dict[str, Any] = Field(
        default_factory=dict, description="What the connector noticed: drift, decisions, files taken in."
    )
    validated: Validated | None = None


class RunRecord(BaseModel):
    """One run in `meta.runs`; `release`, `release_store` and `seconds` are reported, not stored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    run_id: str
    dataset_id: str
    mode: str | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    status: RunStatus | None = None
    rows_extracted: int | None = 0
    rows_published: int | None = None
    rows_quarantined: int | None = None
    rows_warned: int | None = 0
    rows_rejected: int | None = Field(default=0, description="Rows of submitted files that were rejected whole.")
    rows_superseded: int | None = Field(default=0, description="Rows replaced by a newer submission in the same run.")
    rows_deleted: int | None = Field(
        default=0, description="Published rows the run removed because the source deleted them (incremental.deletes)."
    )
    cursor_from: str | None = None
    cursor_to: str | None = None
    report: str | None = None
    error: str | None = None
    release: int | str | None = Field(default=None, description="The open-data release made, or why it failed.")
    release_store: str | None = Field(
        default=None, description="Why the release made is not in the release store yet (the next release uploads it)."
    )
    seconds: float | None = Field(default=None, description="Wall time, as the CLI and the demo report it.")

    @property
    def finished(self) -> bool:
        """Published, held, unchanged or rejected: the run's transaction committed."""
        return self.status in FINISHED

    @property
    def published(self) -> bool:
        """The run's rows are what readers see now."""
        return self.status in PUBLISHED

    @property
    def succeeded(self) -> bool:
        """Nothing sent was refused and nothing waits: what exit code 0 and a green Airflow task mean."""
        return self.status in SUCCEEDED

    @classmethod
    def start(cls, manifest: RunManifest | None, dataset_id: str, run_id: str) -> RunRecord:
        """The record a run starts from: what its manifest says (if extract got that far)."""
        if manifest is None:
            return cls(run_id=run_id, dataset_id=dataset_id)
        validated = manifest.validated
        return cls(
            run_id=manifest.run_id,
            dataset_id=manifest.dataset_id,
            mode=manifest.mode,
            started_at=manifest.started_at,
            rows_extracted=manifest.rows_extracted,
            rows_rejected=manifest.rows_rejected,
            rows_superseded=manifest.rows_superseded,
            rows_warned=validated.rows_warned if validated else 0,
            cursor_from=manifest.cursor_from,
            report=validated.report if validated else None,
        )


STORED = tuple(name for name in RunRecord.model_fields if name not in ("release", "release_store", "seconds"))
