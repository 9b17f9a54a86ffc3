"""The hub's files are its own (issue 14, point 3): created 0600 in folders 0700 under a 0700
home, secrets in 0600 key files (or the environment), never in the registry other users could read."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lgsp.core.errors import ConfigError
from lgsp.core.files import hub_secret, secret_path
from lgsp.core.settings import Settings
from lgsp.sharing import registry


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_file_the_hub_writes_is_private(hub: Settings) -> None:
    hub.home.chmod(0o755)  # as an older version left it: the 0700 home now covers its old files too
    before = set(hub.home.rglob("*"))
    env = {**os.environ, "LGSP_HOME": str(hub.home)}
    code = "from lgsp.app import create_app; create_app()"  # what `lgsp serve` does first
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "lgsp.cli", "run", "schools"], env=env, check=True, timeout=600,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    assert mode(hub.home) == 0o700
    made = set(hub.home.rglob("*")) - before
    assert secret_path(hub, "session") in made and registry.registry_path(hub) in made
    assert any(p.suffix == ".html" for p in made) and any(p.name == "schools.csv" for p in made)
    for path in made:
        if path.is_file() and path.stat().st_nlink > 1:
            continue  # DuckDB's extensions, hard-linked from their wheels: public code, not data
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_an_old_registry_secret_moves_to_its_key_file(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, contracts_dir=tmp_path)  # type: ignore[call-arg]
    registry.connect(settings).close()
    with sqlite3.connect(registry.registry_path(settings)) as con:
        con.execute("INSERT INTO hub_secrets VALUES ('session', 'the-old-key')")
    assert registry.hub_secret(settings, "session") == "the-old-key"  # sessions signed with it stay valid
    with sqlite3.connect(registry.registry_path(settings)) as con:
        assert con.execute("SELECT count(*) FROM hub_secrets").fetchone()[0] == 0
    assert secret_path(settings, "session").read_text().strip() == "the-old-key"
    assert mode(secret_path(settings, "session")) == 0o600


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, contracts_dir=tmp_path)  # type: ignore[call-arg]
    first = hub_secret(settings, "session")
    assert hub_secret(settings, "session") == first and len(first) >= 32
    secret_path(settings, "session").chmod(0o644)
    with pytest.raises(ConfigError, match="can be read by other users"):
        hub_secret(settings, "session")


def test_a_secret_in_the_environment_wins(tmp_path: Path) -> None:
    settings = Settings.from_env({"LGSP_HOME": str(tmp_path), "LGSP_SECRET_SESSION": "from-a-vault"})
    assert hub_secret(settings, "session") == "from-a-vault" and not secret_path(settings, "session").exists()
    assert "from-a-vault" not in repr(settings)
