"""Point Airflow at this hub (its home, DAG folder, no examples) before Airflow is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lgsp.core.errors import LgspError
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


def prepare(settings: Settings) -> None:
    """Migrate Airflow's metadata database (SQLite by default) and create the warehouse pool, once."""
    apply(settings)
    home = Path(os.environ["AIRFLOW_HOME"])
    marker = home / ".lgsp-ready"
    if marker.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    _airflow("db", "migrate")
    if settings.lake:  # runs of different datasets publish at once; one dataset's wait on its lock
        _airflow("pools", "set", WAREHOUSE_POOL, str(settings.lake_writers), "DuckLake: datasets publish at once")
    else:
        _airflow("pools", "set", WAREHOUSE_POOL, "1", "DuckDB allows one writer")
    marker.write_text("migrated\n")


class AirflowSetupError(LgspError):
    """An Airflow command the set-up needs failed; the message carries what Airflow said."""


def _airflow(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=dict(os.environ), capture_output=True, text=True
    )
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip())[-2000:]
        raise AirflowSetupError(
            f"Lệnh `airflow {' '.join(args)}` thất bại / `airflow {' '.join(args)}` failed "
            f"(exit {done.returncode}):\n{said}"
        )
