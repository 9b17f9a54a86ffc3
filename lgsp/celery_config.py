"""Celery configuration for the cluster profile's Airflow workers: Airflow's own, plus Great
Expectations imported once per worker instead of once per validate task.

`AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=lgsp.celery_config.CONFIG` selects it. A Celery worker
imports GX when it starts (`worker_init`, in the worker's main process only: the scheduler, which
reads the same configuration, does not pay for it); its pool processes and the task processes
Airflow forks from them inherit the loaded module, so a validate task starts warm (its report
says `great_expectations_import_seconds: 0`) instead of spending 1.5 s or more importing GX.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)


@worker_init.connect
def _warm(**_: Any) -> None:
    from lgsp.validation.gx import load

    load()
