"""The typed hand-offs between a run's steps: the manifest carries the contract extract loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from lgsp.core.errors import LgspError
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.warehouse.runs import RunManifest, RunRecord, RunStatus, Step


def test_steps_are_registered_explicitly(hub: Settings) -> None:
    pipeline = Pipeline(hub)
    assert [pipeline.step(s).__name__ for s in Step] == ["extract", "validate", "publish"]
    with pytest.raises(KeyError):
        pipeline.step("getattr")  # type: ignore[arg-type]


def test_a_contract_edited_mid_run_does_not_change_the_run(hub: Settings, contracts_dir: Path) -> None:
    pipeline = Pipeline(hub.model_copy(update={"contracts_dir": contracts_dir}))
    manifest = pipeline.extract("schools", "r1")
    assert isinstance(manifest, RunManifest) and manifest.contract.id == "schools"
    # Someone saves a broken contract while the run waits for its next task.
    (contracts_dir / "schools.yaml").write_text("id: schools\ncolumns: [", encoding="utf-8")
    validated = pipeline.validate("schools", "r1")
    assert validated.validated is not None and validated.contract == manifest.contract
    run = pipeline.publish("schools", "r1", release=False)
    assert isinstance(run, RunRecord) and run.status == RunStatus.PUBLISHED
    assert run.rows_extracted == manifest.rows_extracted == run.rows_published + run.rows_quarantined


def test_steps_out_of_order_say_which_step_is_missing(hub: Settings) -> None:
    pipeline = Pipeline(hub)
    with pytest.raises(LgspError, match="has not been extracted"):
        pipeline.validate("schools", "never-extracted")
    pipeline.extract("schools", "r2")
    with pytest.raises(LgspError, match="has not been validated"):
        pipeline.publish("schools", "r2")
    failed = pipeline.fail("schools", "r2", RuntimeError("gave up"))
    assert (
        failed.status == RunStatus.FAILED and failed.rows_extracted == 800 and failed.error == "RuntimeError: gave up"
    )
