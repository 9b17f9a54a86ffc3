"""One Airflow DAG per dataset contract in schemas/datasets/ (extract → validate → publish), one
per report in schemas/reports/ (rebuilt when the datasets it reads publish), and on a DuckLake
warehouse the scheduled upkeep (`lgsp_maintenance`).

The DAGs are built by lgsp/dag_factory.py; this file holds no logic and imports nothing heavy.
"""

from airflow.sdk import DAG

from lgsp.core.settings import Settings
from lgsp.dag_factory import build_dags, build_maintenance_dag, build_report_dags

_settings = Settings.from_env()
DAGS: dict[str, DAG] = build_dags(_settings.contracts_dir)
DAGS.update(build_report_dags(_settings.report_templates_dir, _settings.indicators_dir, _settings.contracts_dir))
if _settings.lake:
    DAGS["lgsp_maintenance"] = build_maintenance_dag(_settings.lake_maintenance, _settings.lake_keep_days)
globals().update(DAGS)
