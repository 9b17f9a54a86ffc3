"""Resolve a contract's connection name to a URL: environment, then Airflow, then the hub's own
databases, then the sandbox."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pydantic import SecretStr

from lgsp.core.errors import ConfigError

# Databases the hub itself writes under $LGSP_HOME and publishes like any source.
HUB_DATABASES = {
    "exchange_stats": "sharing/exchange_stats.sqlite",
    "download_stats": "portal/download_stats.sqlite",  # counted by the portal (lgsp.publishing.counts)
}


def env_var(name: str) -> str:
    return f"LGSP_CONN_{name.upper()}"


def _from_airflow(name: str) -> str | None:
    # Only when running inside Airflow: importing it elsewhere costs seconds and needs its database.
    if "airflow" not in sys.modules:
        return None
    try:
        from airflow.sdk import Connection

        conn = Connection.get(f"lgsp_{name}")
    except Exception:
        return None
    uri = conn.get_uri()
    return "postgresql" + uri[len("postgres") :] if uri.startswith("postgres://") else uri


def resolve(
    name: str, sandbox_dir: Path | None = None, environ: dict[str, str] | None = None, home: Path | None = None
) -> SecretStr:
    """The SQLAlchemy URL of a named connection; raises ConfigError saying where it looked."""
    env = os.environ if environ is None else environ
    if env.get(env_var(name)):
        return SecretStr(env[env_var(name)])
    from_airflow = _from_airflow(name)
    if from_airflow:
        return SecretStr(from_airflow)
    if home is not None and name in HUB_DATABASES:
        return SecretStr(f"sqlite:///{(home / HUB_DATABASES[name]).resolve()}")
    if sandbox_dir is not None:
        registry = sandbox_dir / "connections.json"
        if registry.exists():
            known = json.loads(registry.read_text(encoding="utf-8"))
            if name in known:
                return SecretStr(known[name])
    raise ConfigError(
        f"connection '{name}' is not configured: set {env_var(name)} to a SQLAlchemy URL, "
        f"add the Airflow Connection 'lgsp_{name}', or build the sandbox (lgsp demo)",
        connector=name,
    )
