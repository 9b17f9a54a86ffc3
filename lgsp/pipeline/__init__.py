"""A dataset run in three steps (extract, validate, publish) that pass only the run id between them,
and the stewardship of what they publish (held runs, retracted and corrected rows).

The Airflow tasks, the CLI and the department pages call these same functions, so a DAG holds no
business logic: `runs` (the steps), `stewardship` (decisions on published data), `base` (what
both share: the contract, the stage, one run of a dataset at a time, the release).
"""

from lgsp.pipeline.base import EDIT_WAIT, RUN_WAIT, new_run_id
from lgsp.pipeline.runs import Pipeline

__all__ = ["EDIT_WAIT", "RUN_WAIT", "Pipeline", "new_run_id"]
