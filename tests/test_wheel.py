"""The hub as a deployment installs it: the built wheel in a fresh virtual environment, outside
the checkout, with the locked versions of its dependencies and without the sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

pytestmark = pytest.mark.wheel


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO_ROOT)], out)
    shutil.rmtree(REPO_ROOT / "build", ignore_errors=True)
    [built] = out.glob("lgsp_hub-*.whl")
    return built


def test_the_wheel_holds_one_package_and_no_sandbox(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"lgsp", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "lgsp/dags/lgsp_datasets.py" in names and "lgsp/schemas/datasets/schools.yaml" in names
    assert "lgsp/portal/templates/index.html.j2" in names and "lgsp/connectors/sql.py" in names
    assert "lgsp/sharing/migrations/env.py" in names and "lgsp/sharing/migrations/script.py.mako" in names
    assert "lgsp/sharing/migrations/versions/r0001_baseline.py" in names  # the registry's migrations
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not [r for r in requires if "faker" in r.lower() or "sandbox" in r.lower() or "pytest" in r], requires


def test_installed_wheel_runs_the_cli_and_the_dags(wheel: Path, tmp_path: Path) -> None:
    """`lgsp --help`, `lgsp check` and `airflow dags list` from a fresh venv in a folder of its own."""
    uv = [str(Path(sys.executable).with_name("uv"))]
    work = tmp_path / "elsewhere"
    work.mkdir()
    pins = work / "pins.txt"  # the lock's versions of the hub's own dependencies
    _run([*uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-workspace", "-o", str(pins)], REPO_ROOT)
    venv = work / "venv"
    _run([*uv, "venv", "--python", sys.executable, str(venv)], work)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LGSP_", "AIRFLOW", "VIRTUAL_ENV", "PYTHONPATH"))}
    _run([*uv, "pip", "install", "--python", str(python), "-c", str(pins), str(wheel)], work, env, timeout=900)

    env |= {"HOME": str(work), "LGSP_HOME": str(work / "hub")}
    lgsp = str(venv / "bin" / "lgsp")
    assert "airflow-setup" in _run([lgsp, "--help"], work, env)
    checked = _run([lgsp, "check"], work, env).splitlines()  # the example contracts, register and reports
    shipped = [
        *(REPO_ROOT / "schemas" / "datasets").glob("*.yaml"),
        *(REPO_ROOT / "schemas" / "indicators").glob("*.yaml"),
        *(REPO_ROOT / "schemas" / "reports").glob("*.yaml"),
    ]
    assert len(checked) == len(shipped)
    # valid, though nothing is connected in a bare install: warnings say so, not errors
    assert all(line.startswith("ok  ") and str(venv) in line for line in checked), checked
    broken = work / "contracts"
    broken.mkdir()
    (broken / "bad.yaml").write_text("id: bad\ncolumns: [", encoding="utf-8")
    refused = subprocess.run([lgsp, "check"], cwd=work, env={**env, "LGSP_CONTRACTS": str(broken)}, capture_output=True)
    assert refused.returncode == 1 and b"bad.yaml" in refused.stdout + refused.stderr
    located = _run(
        [str(python), "-c", "import lgsp, lgsp.connectors.sql; print(lgsp.connectors.sql.__file__)"], work, env
    )
    assert str(venv) in located and str(REPO_ROOT) not in located
    no_sandbox = subprocess.run([str(python), "-c", "import lgsp_sandbox"], cwd=work, env=env, capture_output=True)
    assert no_sandbox.returncode != 0

    exports = _run([lgsp, "airflow-setup"], work, env, timeout=900)
    for line in exports.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'")
    assert Path(env["AIRFLOW__CORE__DAGS_FOLDER"]).is_relative_to(venv)
    airflow = str(venv / "bin" / "airflow")
    listed = _json(_run([airflow, "dags", "list", "--local", "-o", "json"], work, env, timeout=900))
    dag_ids = {d["dag_id"] for d in listed}
    contracts = {f"lgsp_{p.stem}" for p in (REPO_ROOT / "schemas" / "datasets").glob("*.yaml")}
    assert contracts | {"lgsp_release_schools"} <= dag_ids, dag_ids
    assert _json(_run([airflow, "dags", "list-import-errors", "--local", "-o", "json"], work, env)) == []


def _json(output: str) -> list[dict[str, str]]:
    """The JSON Airflow printed, after whatever log lines came before it."""
    start = output.index("\n[") + 1 if not output.startswith("[") else 0
    return json.loads(output[start:])  # type: ignore[no-any-return]
