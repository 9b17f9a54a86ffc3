"""Point Airflow at this hub (its home, DAG folder, no examples) before Airflow is imported."""

from __future__ import annotations

import os

from lgsp.core.settings import DAGS_DIR, Settings

WAREHOUSE_POOL = "lgsp_warehouse"


def defaults(settings: Settings) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(settings.home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
    }


def apply(settings: Settings) -> None:
    """Set Airflow's variables where the user has not; the user's own settings win."""
    for key, value in defaults(settings).items():
        os.environ.setdefault(key, value)
