"""One Airflow DAG per dataset contract in schemas/datasets/: extract → validate → publish.

The DAGs are built by lgsp/dag_factory.py; this file holds no logic and imports nothing heavy.
"""

from airflow.sdk import DAG

from lgsp.core.settings import Settings
from lgsp.dag_factory import build_dags

DAGS: dict[str, DAG] = build_dags(Settings.from_env().contracts_dir)
globals().update(DAGS)
