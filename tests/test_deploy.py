"""The deployment files (deploy/): systemd units that systemd itself accepts, each starting a
command the hub really has, and a settings file that holds no secret, only where secrets are."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from tests.paths import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
PREFIX = "/opt/lgsp/.venv/bin/"


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def _environment() -> dict[str, str]:
    found = {}
    for line in (DEPLOY / "lgsp.env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            found[key] = value
    return found


def test_every_component_has_a_unit_run_as_the_hub_user_with_the_settings_file() -> None:
    commands = {}
    for path in UNITS:
        service = _unit(path)["Service"]
        assert service["User"] == "lgsp" and service["EnvironmentFile"] == "/etc/lgsp/lgsp.env", path.name
        assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict", path.name
        assert service["ExecStart"].startswith(PREFIX), path.name
        commands[path.stem] = service["ExecStart"].removeprefix(PREFIX)
    assert commands == {
        "lgsp-serve": "lgsp serve --host 0.0.0.0 --port 8000",
        "lgsp-airflow-api-server": "airflow api-server --port 8080",
        "lgsp-airflow-scheduler": "airflow scheduler",
        "lgsp-airflow-dag-processor": "airflow dag-processor",
        "lgsp-airflow-worker": "airflow celery worker",
    }


def test_the_commands_the_units_start_exist_with_those_options() -> None:
    """Each ExecStart's command and options, asked for their help: a renamed option fails here."""
    assert CliRunner().invoke(app, ["serve", "--help"]).exit_code == 0
    bin_dir = Path(sys.executable).parent
    for path in UNITS:
        argv = _unit(path)["Service"]["ExecStart"].removeprefix(PREFIX).split()
        if argv[0] != "airflow":
            continue
        words = [a for a in argv[1:] if not a.startswith("-") and not a.isdigit()]
        done = subprocess.run([str(bin_dir / "airflow"), *words, "--help"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{path.name}: {done.stderr[-1500:]}"
        for option in (a for a in argv if a.startswith("--")):
            assert option in done.stdout, f"{path.name}: airflow {' '.join(words)} has no {option}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """`systemd-analyze verify`, with the paths of this checkout in place of /opt/lgsp and /etc/lgsp
    (it checks that the programs exist and every directive parses)."""
    settings = tmp_path / "lgsp.env"
    settings.write_text((DEPLOY / "lgsp.env.example").read_text(encoding="utf-8"), encoding="utf-8")
    settings.chmod(0o600)
    bin_dir = str(Path(sys.executable).parent) + "/"
    for path in UNITS:
        text = path.read_text(encoding="utf-8").replace(PREFIX, bin_dir).replace("/etc/lgsp/lgsp.env", str(settings))
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / p.name) for p in UNITS)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    # Complaints about units of this machine's own (not ours) are not ours to fix.
    ours = [line for line in (done.stdout + done.stderr).splitlines() if any(p.name in line for p in UNITS)]
    assert done.returncode == 0 and not ours, "\n".join(ours) or done.stderr


def test_the_settings_file_holds_no_secret_and_the_hub_reads_it(tmp_path: Path) -> None:
    env = _environment()
    for key, value in env.items():
        secret = any(word in key for word in ("PASSWORD", "SECRET", "CONN", "BROKER", "BACKEND", "STATE_URL", "KEY"))
        if secret:  # a pointer to a 0600 file, never the value itself
            assert key.endswith(("_FILE", "_CMD")) and "/etc/lgsp/secrets/" in value, key
        assert "://" not in value or key in ("LGSP_BASE_URL", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"), key
    state = tmp_path / "state-url"
    state.write_text("postgresql+psycopg2://lgsp:hemmelig@db.lgsp.internal/lgsp\n")
    state.chmod(0o600)
    settings = Settings.from_env(
        {**env, "LGSP_HOME": str(tmp_path / "home"), "LGSP_STATE_URL_FILE": str(state), "LGSP_CONTRACTS": str(tmp_path)}
    )
    assert settings.profile == "cluster" and settings.registry_url.endswith("@db.lgsp.internal/lgsp")
